package server

import (
	"bytes"
	"encoding/binary"
)

// The request parser: Redis 7's multibulk and inline request grammar, with
// its error texts, parsed incrementally. A connection keeps one reqParser
// between reads, so a command that arrives in many pieces has every byte
// examined a bounded number of times however slowly it trickles in.
//
// Redis's own rules, kept here because clients and attackers rely on them
// (each was checked against redis-server 7.0.15):
//   - A request starting with '*' is multibulk; anything else is inline.
//   - Header lines end at the first '\r', and the byte after it is skipped
//     unchecked; inline lines end at '\n' (a '\r' before it is dropped).
//     Redis searches with strchr, so a NUL byte before the delimiter hides
//     it: the request then waits until it passes the 64 KiB line limit.
//   - Counts and lengths are strict decimals (no '+', no leading zeros).
//     A multibulk count of zero or less is consumed silently; a count above
//     2^31-1 is invalid.
//   - After a bulk's payload the next two bytes are skipped unchecked.
//   - Clients that must authenticate first may send at most 10 arguments
//     and 16 KiB per bulk.

// Fixed protocol limits, Redis's constants.
const (
	inlineMax    = 64 << 10 // PROTO_INLINE_MAX_SIZE: longest inline request or header line
	bigArg       = 32 << 10 // PROTO_MBULK_BIG_ARG: bulks from here on get a buffer of their size
	unauthArgs   = 10       // arguments an unauthenticated client may send
	unauthBulk   = 16 << 10 // bytes per bulk an unauthenticated client may send
	unauthQuery  = 1 << 20  // bytes an unauthenticated client may have buffered
	maxMultibulk = 1<<31 - 1
	// argOverhead is what one argument costs beyond its bytes once the
	// command runs (its slice header). It counts toward the query buffer
	// limit so that a multibulk of millions of empty arguments is bounded
	// like one of large ones.
	argOverhead = 32
	// keptSpans is how many argument positions the parser keeps while a
	// command is incomplete (see reqParser.spans).
	keptSpans = 16
)

// errQueryLimit is next's verdict when a client's pending command outgrew
// the query buffer limit: Redis closes such a client without a reply.
const errQueryLimit = "\x00query buffer limit"

// parseLimits are the per-client bounds next enforces.
type parseLimits struct {
	maxArgs  int  // most arguments in one command
	maxBulk  int  // longest bulk
	maxQuery int  // most bytes (and argOverhead per argument) of one pending command
	unauth   bool // the client must still authenticate: Redis's small limits apply
}

// span locates one argument relative to the start of its command (8
// bytes: a pending command is at most client-query-buffer-limit, < 4 GiB).
type span struct{ off, n uint32 }

// reqParser is one connection's request parser. Its zero value is ready.
// Positions are relative to the start of the pending command, so the
// caller may move the pending bytes between calls (compact or grow its
// buffer) as long as it passes them again from their first byte.
type reqParser struct {
	multi bool // a multibulk header has been read; left arguments remain
	left  int  // arguments of the multibulk still to read
	bulk  int  // length of the bulk being read; -1 while its header is awaited
	pos   int  // parse position
	scan  int  // bytes after pos a line search has already looked at
	stuck bool // a NUL hid the line's end: Redis never finds it (see above)

	// The first keptSpans arguments are located in spans; the position
	// after the last of them is rest, from where the others are found
	// again when the command completes (each header is read twice).
	spans    [keptSpans]span
	nspans   int // arguments parsed so far
	rest     int
	argBytes int // bytes of the arguments parsed so far (argv-mem)
	// A command still incomplete after arenaFrom bytes moves the
	// arguments parsed so far to arena (each a uvarint length and its
	// bytes) and lets the caller drop their input, and so do the
	// arguments parsed after them: a multibulk of a million empty
	// arguments trickling in holds a million bytes, not its whole input.
	inArena bool
	arena   []byte
	argv    [][]byte // reused argument slices handed to the caller
	quote   []byte   // inline arguments after unquoting
}

// arenaFrom is how far into an incomplete multibulk the parser moves its
// arguments to the arena.
const arenaFrom = 16 << 10

// next parses the command at the start of in. It returns how many bytes
// the command used (0: incomplete, call again with more input) and its
// arguments, which alias in (or the parser's own storage) and are valid
// until the next call. A consumed request with no arguments (a blank
// inline line, a multibulk count <= 0) returns used > 0 and nil args, and
// so does a long incomplete multibulk whose parsed arguments the parser
// has moved to its own storage (inMulti then reports true): the caller
// drops used bytes either way and calls again with the rest. A protocol error returns its message, as Redis words it
// after "ERR Protocol error: ", or errQueryLimit.
func (p *reqParser) next(in []byte, lim *parseLimits) (used int, args [][]byte, perr string) {
	if len(in) == 0 {
		return 0, nil, ""
	}
	if !p.multi {
		if in[0] != '*' {
			return p.inline(in)
		}
		cr, ok := p.findLine(in, 0, '\r')
		if !ok {
			if len(in) > inlineMax {
				return 0, nil, "too big mbulk count string"
			}
			return 0, nil, ""
		}
		if cr > inlineMax {
			return 0, nil, "too big mbulk count string"
		}
		if cr > len(in)-2 {
			return 0, nil, ""
		}
		n, ok := parseRedisInt(in[1:cr])
		switch {
		case !ok || n > maxMultibulk || n > int64(lim.maxArgs):
			return 0, nil, "invalid multibulk length"
		case n > unauthArgs && lim.unauth:
			return 0, nil, "unauthenticated multibulk length"
		}
		p.pos, p.scan = cr+2, 0
		if n <= 0 {
			used = p.pos
			p.reset()
			return used, nil, ""
		}
		p.multi, p.left, p.bulk = true, int(n), -1
		p.nspans, p.argBytes = 0, 0
	}
	for p.left > 0 {
		if p.bulk < 0 {
			cr, ok := p.findLine(in, p.pos, '\r')
			if !ok {
				if len(in)-p.pos > inlineMax {
					return 0, nil, "too big bulk count string"
				}
				return p.incomplete(in, lim)
			}
			if cr-p.pos > inlineMax {
				return 0, nil, "too big bulk count string"
			}
			if cr > len(in)-2 {
				return p.incomplete(in, lim)
			}
			if in[p.pos] != '$' {
				return 0, nil, "expected '$', got '" + string(in[p.pos:p.pos+1]) + "'"
			}
			n, ok := parseRedisInt(in[p.pos+1 : cr])
			switch {
			case !ok || n < 0 || n > int64(lim.maxBulk):
				return 0, nil, "invalid bulk length"
			case n > unauthBulk && lim.unauth:
				return 0, nil, "unauthenticated bulk length"
			}
			p.pos, p.scan, p.bulk = cr+2, 0, int(n)
		}
		if len(in)-p.pos < p.bulk+2 {
			return p.incomplete(in, lim)
		}
		if p.inArena {
			p.arena = binary.AppendUvarint(p.arena, uint64(p.bulk))
			p.arena = append(p.arena, in[p.pos:p.pos+p.bulk]...)
		} else if p.nspans < keptSpans {
			p.spans[p.nspans] = span{uint32(p.pos), uint32(p.bulk)}
		}
		p.nspans++
		p.argBytes += p.bulk
		p.pos += p.bulk + 2
		if p.nspans == keptSpans {
			p.rest = p.pos
		}
		p.bulk = -1
		p.left--
	}
	if p.inArena {
		args = p.argv[:0]
		for off := 0; off < len(p.arena); {
			n, k := binary.Uvarint(p.arena[off:])
			off += k
			end := off + int(n)
			args = append(args, p.arena[off:end:end])
			off = end
		}
	} else {
		args = p.collect(in)
	}
	p.argv = args
	used = p.pos
	p.reset()
	return used, args, ""
}

// collect returns the arguments parsed so far, aliasing in (not in arena
// mode).
func (p *reqParser) collect(in []byte) [][]byte {
	args := p.argv[:0]
	for _, sp := range p.spans[:min(p.nspans, keptSpans)] {
		end := int(sp.off + sp.n)
		args = append(args, in[sp.off:end:end])
	}
	for pos := p.rest; len(args) < p.nspans; {
		// Validated when first parsed: '$', a length, CR and one byte.
		cr := pos + bytes.IndexByte(in[pos:], '\r')
		n, _ := parseRedisInt(in[pos+1 : cr])
		start := cr + 2
		end := start + int(n)
		args = append(args, in[start:end:end])
		pos = end + 2
	}
	p.argv = args
	return args
}

// incomplete is next's answer when the multibulk needs more input: the
// query limit's verdict, or, past arenaFrom, the bytes the caller may drop
// now that the arguments before pos are in the arena.
func (p *reqParser) incomplete(in []byte, lim *parseLimits) (int, [][]byte, string) {
	if perr := p.checkQuery(in, lim); perr != "" {
		return 0, nil, perr
	}
	if p.pos < arenaFrom {
		return 0, nil, ""
	}
	if !p.inArena {
		for _, a := range p.collect(in) {
			p.arena = binary.AppendUvarint(p.arena, uint64(len(a)))
			p.arena = append(p.arena, a...)
		}
		p.inArena = true
	}
	drop := p.pos
	p.pos = 0 // scan is relative to pos and stays
	return drop, nil, ""
}

// inMulti reports whether a multibulk command is in progress.
func (p *reqParser) inMulti() bool { return p.multi }

// checkQuery bounds what an incomplete command holds: its bytes so far and
// its parsed arguments.
func (p *reqParser) checkQuery(in []byte, lim *parseLimits) string {
	limit := lim.maxQuery
	if lim.unauth {
		limit = min(limit, unauthQuery)
	}
	if len(in)+len(p.arena)+argOverhead*p.nspans > limit {
		return errQueryLimit
	}
	return ""
}

// want is how many bytes, from the start of the pending command, the
// caller's buffer should be able to hold: the end of a big bulk being
// read, so that it is read into a buffer of its size rather than one grown
// repeatedly; 0 when no big bulk is pending.
func (p *reqParser) want() int {
	if p.multi && p.bulk >= bigArg {
		return p.pos + p.bulk + 2
	}
	return 0
}

// pendingArgs is how many arguments of the incomplete command have been
// parsed and the bytes they hold (CLIENT LIST's argv-mem).
func (p *reqParser) pendingArgs() (n, argBytes int) {
	if !p.multi {
		return 0, 0
	}
	return p.nspans, p.argBytes
}

func (p *reqParser) reset() {
	p.multi, p.left, p.bulk, p.pos, p.scan, p.stuck = false, 0, -1, 0, 0, false
	p.nspans, p.argBytes, p.rest, p.inArena = 0, 0, 0, false
	p.arena = p.arena[:0]
	if cap(p.arena) > 64<<10 {
		p.arena = nil
	}
	if cap(p.argv) > 4096 {
		p.argv = nil
	}
}

// findLine looks for delim from in[from+p.scan:], resuming the search the
// previous call left. Like Redis's strchr it gives up at a NUL byte, and
// from then on never finds the line.
func (p *reqParser) findLine(in []byte, from int, delim byte) (int, bool) {
	if p.stuck {
		return -1, false
	}
	start := from + p.scan
	rest := in[start:]
	i := bytes.IndexByte(rest, delim)
	end := i
	if i < 0 {
		end = len(rest)
	}
	if bytes.IndexByte(rest[:end], 0) >= 0 {
		p.stuck = true
		return -1, false
	}
	if i < 0 {
		p.scan = len(in) - from
		return -1, false
	}
	p.scan = start + i - from
	return start + i, true
}

// inline parses an inline request: one line split as redis-cli and Redis's
// sdssplitargs split it.
func (p *reqParser) inline(in []byte) (int, [][]byte, string) {
	nl, ok := p.findLine(in, 0, '\n')
	if !ok {
		if len(in) > inlineMax {
			return 0, nil, "too big inline request"
		}
		return 0, nil, ""
	}
	if nl > inlineMax {
		return 0, nil, "too big inline request"
	}
	end := nl
	if end > 0 && in[end-1] == '\r' {
		end--
	}
	args, quote, ok := splitArgs(in[:end], p.argv[:0], p.quote[:0])
	p.argv, p.quote = args, quote
	p.reset()
	if !ok {
		return 0, nil, "unbalanced quotes in request"
	}
	if len(args) == 0 {
		return nl + 1, nil, ""
	}
	return nl + 1, args, ""
}

// isSpace is C's isspace in the C locale.
func isSpace(ch byte) bool {
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r'
}

func isHex(ch byte) bool {
	return '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F'
}

func hexVal(ch byte) byte {
	switch {
	case ch <= '9':
		return ch - '0'
	case ch >= 'a':
		return ch - 'a' + 10
	}
	return ch - 'A' + 10
}

// splitArgs splits an inline line into arguments by Redis's rules:
// arguments are separated by whitespace; "double quotes" take the escapes
// \n \r \t \b \a, \xHH and a backslash before any other byte; 'single
// quotes' take only \'; a closing quote must be followed by whitespace or
// the end. The unquoted bytes are appended to buf, and args slice it. ok
// is false for unbalanced quotes.
func splitArgs(line []byte, args [][]byte, buf []byte) (_ [][]byte, _ []byte, ok bool) {
	// Record argument bounds first: buf may move while it grows.
	type bound struct{ start, end int }
	var bounds [16]bound
	bs := bounds[:0]
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i == len(line) {
			break
		}
		start := len(buf)
		inq, insq := false, false
	token:
		for ; ; i++ {
			var ch byte
			if i < len(line) {
				ch = line[i]
			}
			switch {
			case inq:
				switch {
				case i == len(line):
					return args, buf, false
				case ch == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					buf = append(buf, hexVal(line[i+2])<<4|hexVal(line[i+3]))
					i += 3
				case ch == '\\' && i+1 < len(line):
					i++
					switch e := line[i]; e {
					case 'n':
						buf = append(buf, '\n')
					case 'r':
						buf = append(buf, '\r')
					case 't':
						buf = append(buf, '\t')
					case 'b':
						buf = append(buf, '\b')
					case 'a':
						buf = append(buf, '\a')
					default:
						buf = append(buf, e)
					}
				case ch == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return args, buf, false
					}
					i++
					break token
				default:
					buf = append(buf, ch)
				}
			case insq:
				switch {
				case i == len(line):
					return args, buf, false
				case ch == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					buf = append(buf, '\'')
				case ch == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return args, buf, false
					}
					i++
					break token
				default:
					buf = append(buf, ch)
				}
			default:
				switch {
				case i == len(line), ch == ' ', ch == '\n', ch == '\r', ch == '\t', ch == 0:
					break token
				case ch == '"':
					inq = true
				case ch == '\'':
					insq = true
				default:
					buf = append(buf, ch)
				}
			}
		}
		bs = append(bs, bound{start, len(buf)})
		if i < len(line) {
			i++ // the separator that ended the token (always a space)
		}
	}
	for _, b := range bs {
		args = append(args, buf[b.start:b.end:b.end])
	}
	return args, buf, true
}
