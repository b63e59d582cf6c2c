package server

import (
	"strconv"

	"github.com/tidwall/redcon"
)

// Reply encoders for the shapes where RESP2 and RESP3 differ. Everything
// else uses redcon's Append* functions directly.

func appendNull(b []byte, resp int) []byte {
	if resp == 3 {
		return append(b, "_\r\n"...)
	}
	return append(b, "$-1\r\n"...)
}

func appendNullArray(b []byte, resp int) []byte {
	if resp == 3 {
		return append(b, "_\r\n"...)
	}
	return append(b, "*-1\r\n"...)
}

// appendMap writes a map header of n pairs; in RESP2 a flat array of 2n.
func appendMap(b []byte, resp, n int) []byte {
	if resp == 3 {
		b = append(b, '%')
		b = strconv.AppendInt(b, int64(n), 10)
		return append(b, '\r', '\n')
	}
	return redcon.AppendArray(b, 2*n)
}

// appendSet writes a set header; in RESP2 an array.
func appendSet(b []byte, resp, n int) []byte {
	if resp == 3 {
		b = append(b, '~')
		b = strconv.AppendInt(b, int64(n), 10)
		return append(b, '\r', '\n')
	}
	return redcon.AppendArray(b, n)
}

// appendVerbatim writes text as RESP3 verbatim text, or a bulk in RESP2.
func appendVerbatim(b []byte, resp int, text []byte) []byte {
	if resp != 3 {
		return redcon.AppendBulk(b, text)
	}
	b = append(b, '=')
	b = strconv.AppendInt(b, int64(len(text)+4), 10)
	b = append(b, "\r\ntxt:"...)
	b = append(b, text...)
	return append(b, '\r', '\n')
}

// appendResult writes a limiter's five-integer reply.
func appendResult(b []byte, limited, limit, remaining, retry, reset int64) []byte {
	b = append(b, "*5\r\n:"...)
	b = strconv.AppendInt(b, limited, 10)
	b = append(b, "\r\n:"...)
	b = strconv.AppendInt(b, limit, 10)
	b = append(b, "\r\n:"...)
	b = strconv.AppendInt(b, remaining, 10)
	b = append(b, "\r\n:"...)
	b = strconv.AppendInt(b, retry, 10)
	b = append(b, "\r\n:"...)
	b = strconv.AppendInt(b, reset, 10)
	return append(b, '\r', '\n')
}

// appendError writes an error line, folding CR and LF into spaces as Redis
// does so the reply stays one line.
func appendError(b []byte, msg string) []byte {
	b = append(b, '-')
	for i := 0; i < len(msg); i++ {
		ch := msg[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	return append(b, '\r', '\n')
}

const (
	errSyntax      = "ERR syntax error"
	errNotInteger  = "ERR value is not an integer or out of range"
	errWrongType   = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errNoAuth      = "NOAUTH Authentication required."
	errWrongPass   = "WRONGPASS invalid username-password pair or user is disabled."
	errNoCluster   = "ERR This instance has cluster support disabled"
	errKeyTooLarge = "ERR key is too large (see max-key-bytes)"
)
