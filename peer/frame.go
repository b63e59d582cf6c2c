package peer

import "errors"

// ErrProtocol means a peer sent bytes that are not a RESP reply.
var ErrProtocol = errors.New("peer: malformed reply")

// maxDepth bounds nesting so a hostile peer cannot make FrameLen recurse
// without end.
const maxDepth = 64

// FrameLen returns the length of the complete RESP2 or RESP3 frame at the
// start of b, 0 when b holds only part of one, or ErrProtocol. It does not
// allocate and never reads past b.
func FrameLen(b []byte) (int, error) { return frameLen(b, 0) }

func frameLen(b []byte, depth int) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if depth > maxDepth {
		return 0, ErrProtocol
	}
	line := lineEnd(b)
	if line == -1 {
		return 0, nil
	}
	if line < 0 {
		return 0, ErrProtocol
	}
	switch b[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return line + 2, nil
	case '$', '=', '!':
		n, ok := atoi(b[1:line])
		if !ok || n < -1 {
			return 0, ErrProtocol
		}
		if n == -1 {
			return line + 2, nil
		}
		end := line + 2 + n + 2
		if end < 0 {
			return 0, ErrProtocol
		}
		if len(b) < end {
			return 0, nil
		}
		if b[end-2] != '\r' || b[end-1] != '\n' {
			return 0, ErrProtocol
		}
		return end, nil
	case '*', '~', '>', '%', '|':
		n, ok := atoi(b[1:line])
		if !ok || n < -1 {
			return 0, ErrProtocol
		}
		if b[0] == '%' || b[0] == '|' {
			n *= 2
		}
		pos := line + 2
		for ; n > 0; n-- {
			m, err := frameLen(b[pos:], depth+1)
			if m == 0 || err != nil {
				return 0, err
			}
			pos += m
		}
		if b[0] == '|' {
			// An attribute precedes the frame it describes.
			m, err := frameLen(b[pos:], depth+1)
			if m == 0 || err != nil {
				return 0, err
			}
			pos += m
		}
		return pos, nil
	}
	return 0, ErrProtocol
}

// lineEnd returns the index of the CR ending b's first line, -1 when the
// line is incomplete, -2 when a CR is not followed by LF.
func lineEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] == '\r' {
			if i+1 == len(b) {
				return -1
			}
			if b[i+1] != '\n' {
				return -2
			}
			return i
		}
	}
	return -1
}

// atoi parses a decimal integer (an optional minus sign, at most 18
// digits: lengths, not values).
func atoi(b []byte) (int, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
