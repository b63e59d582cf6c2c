package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// A minimal RESP2/RESP3 client for tests that must see the exact reply
// types (status vs bulk, error text), which high-level clients hide.

type status string
type respError string
type bulk string
type null struct{}

type rawConn struct {
	c net.Conn
	r *bufio.Reader
}

func newRaw(c net.Conn) *rawConn { return &rawConn{c: c, r: bufio.NewReader(c)} }

func encode(args ...string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"...)
		b = append(b, a...)
		b = append(b, "\r\n"...)
	}
	return b
}

// pipeline sends all commands in one write and reads one reply each.
func (rc *rawConn) pipeline(cmds ...[]string) ([]any, error) {
	var out []byte
	for _, c := range cmds {
		out = append(out, encode(c...)...)
	}
	rc.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := rc.c.Write(out); err != nil {
		return nil, err
	}
	replies := make([]any, 0, len(cmds))
	for range cmds {
		v, err := readReply(rc.r)
		if err != nil {
			return replies, err
		}
		replies = append(replies, v)
	}
	return replies, nil
}

func (rc *rawConn) do(args ...string) (any, error) {
	r, err := rc.pipeline(args)
	if err != nil {
		return nil, err
	}
	return r[0], nil
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || !strings.HasSuffix(line, "\r\n") {
		return nil, fmt.Errorf("bad reply line %q", line)
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+':
		return status(body), nil
	case '-':
		return respError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '_':
		return null{}, nil
	case '$', '=':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return null{}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return bulk(buf[:n]), nil
	case '*', '%', '~', '>':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return null{}, nil
		}
		if line[0] == '%' {
			n *= 2
		}
		arr := make([]any, n)
		for i := range arr {
			if arr[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return arr, nil
	}
	return nil, fmt.Errorf("unknown reply type %q", line)
}
