package server

import (
	"bytes"
	"strconv"
	"testing"
)

// gen turns fuzz bytes into RESP request streams: mostly valid framing,
// with lengths, counts, types and line ends mutated. Byte-level fuzzing
// almost never produces a well-framed command with one wrong length; this
// generator produces little else.
type gen struct {
	p []byte
	i int
}

func (g *gen) next() byte {
	if g.i >= len(g.p) {
		return 0
	}
	b := g.p[g.i]
	g.i++
	return b
}

func (g *gen) done() bool { return g.i >= len(g.p) }

// count writes a multibulk count or bulk length near n in one of the forms
// Redis accepts or rejects.
func (g *gen) count(out []byte, n int) []byte {
	switch g.next() % 16 {
	case 0:
		return append(out, "-"+strconv.Itoa(n)...)
	case 1:
		return append(out, "+"+strconv.Itoa(n)...)
	case 2:
		return append(out, "0"+strconv.Itoa(n)...)
	case 3:
		return strconv.AppendInt(out, int64(n+1), 10)
	case 4:
		return strconv.AppendInt(out, int64(n-1), 10)
	case 5:
		return out
	case 6:
		return append(out, "99999999999"...)
	case 7:
		return append(out, "-9223372036854775808"...)
	case 8:
		return append(out, "abc"...)
	case 9:
		return append(strconv.AppendInt(out, int64(n), 10), 0)
	case 10:
		return append(out, "-2"...)
	case 11:
		return append(out, "2147483648"...)
	}
	return strconv.AppendInt(out, int64(n), 10)
}

// eol writes a line end, usually CRLF.
func (g *gen) eol(out []byte) []byte {
	switch g.next() % 12 {
	case 0:
		return append(out, '\n')
	case 1:
		return append(out, '\r')
	case 2:
		return append(out, '\r', 'X')
	case 3:
		return out
	case 4:
		return append(out, '\r', '\r', '\n')
	}
	return append(out, '\r', '\n')
}

// payload returns a short argument drawn from the program, sometimes a
// command name so that commands run.
func (g *gen) payload() []byte {
	names := []string{"PING", "ECHO", "SET", "GET", "CL.THROTTLE", "MULTI", "EXEC", "DEL", "k", "1", "60", "AUTH", "HELLO", "CLIENT", "LIST"}
	if b := g.next(); b%2 == 0 {
		return []byte(names[int(b/2)%len(names)])
	}
	n := int(g.next() % 12)
	p := make([]byte, 0, n)
	for range n {
		p = append(p, g.next())
	}
	return p
}

var inlineTokens = []string{"PING", "ECHO", "a", "\"a b\"", "'c\\'d'", "\"\\x41\\n\"", "\"unterminated", "'x'y", "\\", "\t", "\x0b", "\"\"", " ", "\x00", "SET", "k", "v"}

// generate builds a request stream (at most ~200 KiB) from prog.
func generate(prog []byte) []byte {
	g := gen{p: prog}
	var out []byte
	for !g.done() && len(out) < 200<<10 {
		switch g.next() % 11 {
		case 0, 1, 2, 3:
			b := g.next()
			n := int(b % 6)
			if b >= 224 {
				n = keptSpans - 2 + int(b%8)*2 // around the kept spans
			}
			out = append(out, '*')
			out = g.count(out, n)
			out = g.eol(out)
			for range n {
				p := g.payload()
				if g.next()%10 == 0 {
					out = append(out, g.next())
				} else {
					out = append(out, '$')
				}
				out = g.count(out, len(p))
				out = g.eol(out)
				out = append(out, p...)
				out = g.eol(out)
			}
		case 4:
			for n := int(g.next() % 5); n >= 0; n-- {
				out = append(out, inlineTokens[int(g.next())%len(inlineTokens)]...)
				out = append(out, ' ')
			}
			out = g.eol(out)
		case 5:
			for n := int(g.next() % 4); n >= 0; n-- {
				out = append(out, g.next())
			}
		case 6:
			// A big bulk: read into a buffer of its size.
			sizes := []int{bigArg - 1, bigArg, bigArg + 1, 70000}
			n := sizes[int(g.next())%len(sizes)]
			out = append(out, "*2\r\n$4\r\nECHO\r\n$"...)
			out = g.count(out, n)
			out = append(out, "\r\n"...)
			out = append(out, bytes.Repeat([]byte{'x'}, n)...)
			out = g.eol(out)
		case 7:
			// A line near the 64 KiB limit, without its end.
			starts := []string{"*", "$", "x", "*1\r\n$"}
			out = append(out, starts[int(g.next())%len(starts)]...)
			out = append(out, bytes.Repeat([]byte{'1'}, inlineMax-8+int(g.next()%16))...)
		case 8:
			// Thousands of small arguments: past arenaFrom when cut.
			n := 2000 + int(g.next())*8
			out = append(out, '*')
			out = g.count(out, n+1)
			out = append(out, "\r\n$4\r\nECHO\r\n"...)
			for i := range n {
				if i%500 == 0 {
					p := g.payload()
					out = append(out, '$')
					out = g.count(out, len(p))
					out = append(out, "\r\n"...)
					out = append(out, p...)
					out = append(out, "\r\n"...)
					continue
				}
				out = append(out, "$1\r\nx\r\n"...)
			}
		default:
			out = append(out, "PING\r\n"...)
		}
	}
	return out
}

type parseEvent struct {
	args [][]byte
	err  string
}

// parseStream runs the parser over stream as a connection would receive it
// in pieces ending at cuts (offsets; none: all at once). It returns what
// it parsed: commands, empty requests (nil args), and a final error.
func parseStream(stream []byte, cuts []int, lim parseLimits) []parseEvent {
	var p reqParser
	p.bulk = -1
	var events []parseEvent
	var pending []byte
	feed := func(chunk []byte) bool {
		pending = append(pending, chunk...)
		for {
			n, args, perr := p.next(pending, &lim)
			if perr != "" {
				events = append(events, parseEvent{err: perr})
				return false
			}
			if n == 0 {
				return true
			}
			if args == nil && p.inMulti() {
				pending = pending[n:] // arguments moved to the arena
				continue
			}
			var copied [][]byte
			for _, a := range args {
				copied = append(copied, append([]byte{}, a...))
			}
			if args != nil && copied == nil {
				copied = [][]byte{}
			}
			events = append(events, parseEvent{args: copied})
			pending = pending[n:]
		}
	}
	prev := 0
	for _, c := range cuts {
		if c <= prev || c >= len(stream) {
			continue
		}
		if !feed(stream[prev:c]) {
			return events
		}
		prev = c
	}
	feed(stream[prev:])
	return events
}

func sameEvents(a, b []parseEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].err != b[i].err || len(a[i].args) != len(b[i].args) || (a[i].args == nil) != (b[i].args == nil) {
			return false
		}
		for j := range a[i].args {
			if !bytes.Equal(a[i].args[j], b[i].args[j]) {
				return false
			}
		}
	}
	return true
}

// FuzzRequestGrammar generates mutated RESP framing and checks that the
// parser never panics, that it parses a stream the same whether it
// arrives at once or in any pieces (the incremental state is exact), and
// that the dispatcher answers the stream with well-formed replies.
func FuzzRequestGrammar(f *testing.F) {
	// Seeds: every length form for counts and bulks, line ends, inline
	// quoting, big bulks and long lines.
	for form := range 16 {
		f.Add([]byte{0, 2, byte(form), 0, 0, 4, byte(form), 0, 0}, []byte{3, 9})
		f.Add([]byte{1, 1, 0, 0, 1, 2, byte(form), 0, 5}, []byte{1})
	}
	for e := range 12 {
		f.Add([]byte{0, 1, 0, byte(e), 0, 0, 0, byte(e)}, []byte{2, 4, 6})
	}
	f.Add([]byte{4, 3, 3, 4, 5, 6, 0}, []byte{5})
	f.Add([]byte{6, 3, 15, 0}, []byte{200, 100, 50})
	f.Add([]byte{7, 1, 5}, []byte{255, 255})
	f.Add([]byte{5, 3, 0, '\r', '\n', 0}, []byte{})
	f.Add([]byte{9, 9, 0, 2, 13, 0, 10, 2, 0, 0, 0, 0}, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	f.Add([]byte{8, 3, 15, 0, 0, 7, 2}, []byte{40, 90, 130})
	f.Add([]byte{0, 230, 15, 0, 0, 2, 15, 0, 2, 15, 0, 2, 15, 0, 2, 15, 0, 2, 15, 0, 2, 15, 0, 2, 15, 0, 2, 15, 0, 2, 15, 0}, []byte{7, 3})
	s, c := testServer(f)
	lim := parseLimits{maxArgs: maxMultibulk, maxBulk: 1 << 20, maxQuery: 1 << 30}
	f.Fuzz(func(t *testing.T, prog, cutBytes []byte) {
		stream := generate(prog)
		cuts := make([]int, 0, len(cutBytes))
		at := 0
		for _, b := range cutBytes {
			at += int(b)*int(b) + 1
			cuts = append(cuts, at)
		}
		whole := parseStream(stream, nil, lim)
		pieces := parseStream(stream, cuts, lim)
		if !sameEvents(whole, pieces) {
			t.Fatalf("stream %q parsed differently in pieces %v:\nwhole  %q\npieces %q", stream, cuts, whole, pieces)
		}
		byteWise := parseStream(stream, everyByte(len(stream), 4096), lim)
		if !sameEvents(whole, byteWise) {
			t.Fatalf("stream %q parsed differently byte by byte:\nwhole %q\nbytes %q", stream, whole, byteWise)
		}
		c.out, c.quit, c.multi, c.queued, c.queuedSize = c.out[:0], false, false, nil, 0
		c.req = reqParser{bulk: -1}
		c.authed = len(prog) == 0 || prog[0]%4 != 0
		used, _, _ := s.consume(c, stream)
		if s.stats.recoveredPanics.Load() != 0 {
			t.Fatalf("panic on %q", stream)
		}
		if used < 0 || used > len(stream) {
			t.Fatalf("used %d of %d bytes", used, len(stream))
		}
		for out := c.out; len(out) > 0; {
			n := respLen(out)
			if n <= 0 {
				t.Fatalf("malformed reply to %q: %q", stream, out)
			}
			out = out[n:]
		}
	})
}

// everyByte cuts the first n bytes (at most limit) one by one.
func everyByte(n, limit int) []int {
	cuts := make([]int, 0, min(n, limit))
	for i := 1; i < n && i <= limit; i++ {
		cuts = append(cuts, i)
	}
	return cuts
}
