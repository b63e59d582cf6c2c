package server

import (
	"bytes"
	"math"

	"github.com/rlserver/rlserver/engine"
	"github.com/tidwall/redcon"
)

// Sorted-set commands with Redis 7.0's replies and errors. The set itself
// is engine.Zset; these handlers parse, pick ranks and write replies.
// Scores are parsed as Redis parses them (string2d for ZADD, plain strtod
// for ranges) and printed with "%.17g", as RESP3 doubles under HELLO 3.

const (
	errRangeNotFloat = "ERR min or max is not a float"
	errLexRange      = "ERR min or max not valid string range item"
	errNaNScore      = "ERR resulting score is not a number (NaN)"
)

// zsetRead locks key's shard and returns its set (nil if missing). On a
// key of another kind it writes WRONGTYPE and returns ok false. The caller
// defers unlock(sh).
func (s *Server) zsetRead(c *Client, key []byte, now int64) (sh *engine.Shard, h uint64, z *engine.Zset, ok bool) {
	sh, h = s.lockKey(c, key)
	z, err := sh.ZsetOf(h, key, now/1e6)
	if err != nil {
		c.out = appendError(c.out, errWrongType)
		return sh, h, nil, false
	}
	return sh, h, z, true
}

// zsetLookup is zsetRead for read commands: the lookup counts as a
// keyspace hit (a set, or a key of another kind) or miss.
func (s *Server) zsetLookup(c *Client, key []byte, now int64) (sh *engine.Shard, h uint64, z *engine.Zset, ok bool) {
	sh, h, z, ok = s.zsetRead(c, key, now)
	c.keyspace(!ok || z != nil)
	return sh, h, z, ok
}

// cmdZAdd is ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...].
func cmdZAdd(s *Server, c *Client, args [][]byte, now int64) { zadd(s, c, args, now, false) }

// cmdZIncrBy is ZINCRBY key increment member: ZADD INCR without options.
func cmdZIncrBy(s *Server, c *Client, args [][]byte, now int64) { zadd(s, c, args, now, true) }

func zadd(s *Server, c *Client, args [][]byte, now int64, zincrby bool) {
	var nx, xx, gt, lt, ch bool
	incr := zincrby
	i := 2
	for ; !zincrby && i < len(args); i++ {
		switch a := args[i]; {
		case eqFold(a, "nx"):
			nx = true
		case eqFold(a, "xx"):
			xx = true
		case eqFold(a, "gt"):
			gt = true
		case eqFold(a, "lt"):
			lt = true
		case eqFold(a, "ch"):
			ch = true
		case eqFold(a, "incr"):
			incr = true
		default:
			goto pairs
		}
	}
pairs:
	elements := len(args) - i
	if elements == 0 || elements%2 != 0 {
		c.out = appendError(c.out, errSyntax)
		return
	}
	if nx && xx {
		c.out = appendError(c.out, "ERR XX and NX options at the same time are not compatible")
		return
	}
	if (gt && nx) || (lt && nx) || (gt && lt) {
		c.out = appendError(c.out, "ERR GT, LT, and/or NX options at the same time are not compatible")
		return
	}
	if incr && elements > 2 {
		c.out = appendError(c.out, "ERR INCR option supports a single increment-element pair")
		return
	}
	scores := make([]float64, 0, elements/2)
	for j := i; j < len(args); j += 2 {
		v, ok := parseStrictFloat(args[j])
		if !ok {
			c.out = appendError(c.out, errNotFloat)
			return
		}
		scores = append(scores, v)
	}
	if c.overLimit {
		c.out = appendError(c.out, errOOM)
		return
	}
	nowMs := now / 1e6
	key := args[1]
	sh, h, z, ok := s.zsetRead(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	var added, updated int64
	processed := false
	var newScore float64
	if z == nil && !xx {
		z = sh.NewZset(h, key, nowMs)
	}
	if z != nil {
		for k, score := range scores {
			member := args[i+2*k+1]
			cur, exists := z.Score(member)
			if exists {
				if nx {
					continue
				}
				if incr {
					score += cur
					if math.IsNaN(score) {
						sh.ZsetChanged(h, key, z, nowMs)
						c.out = appendError(c.out, errNaNScore)
						return
					}
				}
				if (lt && score >= cur) || (gt && score <= cur) {
					continue
				}
				processed, newScore = true, score
				if score != cur {
					z.Delete(member)
					z.Insert(score, member)
					updated++
				}
				continue
			}
			if xx {
				continue
			}
			z.Insert(score, member)
			processed, newScore = true, score
			added++
		}
		sh.ZsetChanged(h, key, z, nowMs)
	}
	switch {
	case incr && processed:
		c.out = appendDouble(c.out, c.resp, newScore)
	case incr:
		c.out = appendNull(c.out, c.resp)
	case ch:
		c.out = redcon.AppendInt(c.out, added+updated)
	default:
		c.out = redcon.AppendInt(c.out, added)
	}
}

func cmdZRem(s *Server, c *Client, args [][]byte, now int64) {
	key := args[1]
	sh, h, z, ok := s.zsetRead(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	var n int64
	if z != nil {
		for _, m := range args[2:] {
			if z.Delete(m) {
				n++
			}
		}
		sh.ZsetChanged(h, key, z, now/1e6)
	}
	c.out = redcon.AppendInt(c.out, n)
}

func cmdZCard(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, z, ok := s.zsetLookup(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	n := 0
	if z != nil {
		n = z.Len()
	}
	c.out = redcon.AppendInt(c.out, int64(n))
}

func cmdZScore(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, z, ok := s.zsetLookup(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	if z != nil {
		if v, ok := z.Score(args[2]); ok {
			c.out = appendDouble(c.out, c.resp, v)
			return
		}
	}
	c.out = appendNull(c.out, c.resp)
}

func cmdZMScore(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, z, ok := s.zsetLookup(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	c.out = redcon.AppendArray(c.out, len(args)-2)
	for _, m := range args[2:] {
		if z != nil {
			if v, ok := z.Score(m); ok {
				c.out = appendDouble(c.out, c.resp, v)
				continue
			}
		}
		c.out = appendNull(c.out, c.resp)
	}
}

func zrankCommand(rev bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		sh, _, z, ok := s.zsetLookup(c, args[1], now)
		defer s.unlock(c, sh)
		if !ok {
			return
		}
		if z != nil {
			if r, ok := z.Rank(args[2]); ok {
				if rev {
					r = z.Len() - 1 - r
				}
				c.out = redcon.AppendInt(c.out, int64(r))
				return
			}
		}
		c.out = appendNull(c.out, c.resp)
	}
}

// zrange describes a range request: which kind of bounds, their parsed
// values, the direction and the LIMIT.
type zrange struct {
	by             int // zbyRank, zbyScore, zbyLex
	rev            bool
	start, stop    int64 // ranks
	minS, maxS     float64
	minExS, maxExS bool
	minL, maxL     lexBound
	offset, count  int64 // LIMIT; count < 0 = all
	withScores     bool
}

const (
	zbyRank = iota
	zbyScore
	zbyLex
)

// lexBound is one end of a BYLEX range: "-" (inf -1), "+" (inf 1), or a
// member with '[' (inclusive) or '(' (exclusive).
type lexBound struct {
	inf   int
	v     []byte
	exclu bool
}

func parseLexBound(b []byte) (lexBound, bool) {
	switch {
	case len(b) == 1 && b[0] == '-':
		return lexBound{inf: -1}, true
	case len(b) == 1 && b[0] == '+':
		return lexBound{inf: 1}, true
	case len(b) >= 1 && b[0] == '[':
		return lexBound{v: b[1:]}, true
	case len(b) >= 1 && b[0] == '(':
		return lexBound{v: b[1:], exclu: true}, true
	}
	return lexBound{}, false
}

// parseScoreBound is zslParseRange's half: '(' makes it exclusive, the
// rest is plain strtod.
func parseScoreBound(b []byte) (float64, bool, bool) {
	excl := len(b) > 0 && b[0] == '('
	if excl {
		b = b[1:]
	}
	v, ok := parseLenientFloat(b)
	return v, excl, ok
}

// parseRangeBounds parses lo and hi as bounds of r.by (swapped for
// a reverse score or lex range, which names max first) and writes Redis's
// error if one is bad.
func parseRangeBounds(c *Client, r *zrange, lo, hi []byte) bool {
	if r.rev && r.by != zbyRank {
		lo, hi = hi, lo
	}
	switch r.by {
	case zbyRank:
		a, ok1 := parseRedisInt(lo)
		b, ok2 := parseRedisInt(hi)
		if !ok1 || !ok2 {
			c.out = appendError(c.out, errNotInteger)
			return false
		}
		r.start, r.stop = a, b
	case zbyScore:
		var ok1, ok2 bool
		r.minS, r.minExS, ok1 = parseScoreBound(lo)
		r.maxS, r.maxExS, ok2 = parseScoreBound(hi)
		if !ok1 || !ok2 {
			c.out = appendError(c.out, errRangeNotFloat)
			return false
		}
	case zbyLex:
		var ok1, ok2 bool
		r.minL, ok1 = parseLexBound(lo)
		r.maxL, ok2 = parseLexBound(hi)
		if !ok1 || !ok2 {
			c.out = appendError(c.out, errLexRange)
			return false
		}
	}
	return true
}

// ranks returns the ascending ranks [lo, hi) that r's bounds select in z.
func (r *zrange) ranks(z *engine.Zset) (lo, hi int) {
	n := z.Len()
	switch r.by {
	case zbyRank:
		start, stop := r.start, r.stop
		if start < 0 {
			start += int64(n)
		}
		if stop < 0 {
			stop += int64(n)
		}
		start = max(start, 0)
		if start > stop || start >= int64(n) {
			return 0, 0
		}
		stop = min(stop, int64(n)-1)
		if r.rev {
			return n - 1 - int(stop), n - int(start)
		}
		return int(start), int(stop) + 1
	case zbyScore:
		return scoreRanks(z, r.minS, r.minExS, r.maxS, r.maxExS)
	default:
		return lexRanks(z, r.minL, r.maxL)
	}
}

func scoreRanks(z *engine.Zset, from float64, fromEx bool, to float64, toEx bool) (int, int) {
	lo := z.Search(func(s float64, _ []byte) bool { return s < from || (fromEx && s == from) })
	hi := z.Search(func(s float64, _ []byte) bool { return s < to || (!toEx && s == to) })
	return lo, hi
}

// lexRanks orders by member only, which is the set's order when all
// scores are equal; Redis leaves other sets' lex ranges unspecified.
func lexRanks(z *engine.Zset, from, to lexBound) (int, int) {
	bound := func(b lexBound, upper bool) int {
		switch {
		case b.inf < 0:
			return 0
		case b.inf > 0:
			return z.Len()
		}
		// An inclusive lower bound starts at the first member >= v; an
		// exclusive one after it; an upper bound ends the same way.
		after := b.exclu != upper
		return z.Search(func(_ float64, m []byte) bool {
			c := bytes.Compare(m, b.v)
			return c < 0 || (after && c == 0)
		})
	}
	return bound(from, false), bound(to, true)
}

// zrangeCommand makes ZRANGE (by and rev chosen by options), or one of the
// fixed forms: ZRANGEBYSCORE, ZREVRANGE, ZREVRANGEBYSCORE, ZRANGEBYLEX,
// ZREVRANGEBYLEX.
func zrangeCommand(fixed bool, by int, rev bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		r := zrange{by: by, rev: rev, count: -1}
		auto, autoDir := !fixed, !fixed
		limitSet := false
		for j := 4; j < len(args); j++ {
			a := args[j]
			switch {
			case eqFold(a, "withscores"):
				r.withScores = true
			case eqFold(a, "limit") && len(args)-j-1 >= 2:
				off, ok1 := parseRedisInt(args[j+1])
				cnt, ok2 := parseRedisInt(args[j+2])
				if !ok1 || !ok2 {
					c.out = appendError(c.out, errNotInteger)
					return
				}
				r.offset, r.count = off, cnt
				limitSet = cnt != -1 // Redis's own sentinel for "no LIMIT"
				j += 2
			case autoDir && eqFold(a, "rev"):
				r.rev, autoDir = true, false
			case auto && eqFold(a, "bylex"):
				r.by, auto = zbyLex, false
			case auto && eqFold(a, "byscore"):
				r.by, auto = zbyScore, false
			default:
				c.out = appendError(c.out, errSyntax)
				return
			}
		}
		if limitSet && r.by == zbyRank {
			c.out = appendError(c.out, "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
			return
		}
		if r.withScores && r.by == zbyLex {
			c.out = appendError(c.out, "ERR syntax error, WITHSCORES not supported in combination with BYLEX")
			return
		}
		if !parseRangeBounds(c, &r, args[2], args[3]) {
			return
		}
		sh, _, z, ok := s.zsetLookup(c, args[1], now)
		defer s.unlock(c, sh)
		if !ok {
			return
		}
		if z == nil {
			c.out = redcon.AppendArray(c.out, 0)
			return
		}
		lo, hi := r.ranks(z)
		if r.by != zbyRank {
			lo, hi = applyLimit(lo, hi, r.offset, r.count, r.rev)
		}
		c.out = appendRange(c.out, c.resp, z, lo, hi, r.rev, r.withScores)
	}
}

// applyLimit narrows ascending ranks [lo, hi) to LIMIT offset count taken
// in the reply's direction. A negative offset selects nothing, a negative
// count everything after the offset (Redis's behaviour).
func applyLimit(lo, hi int, offset, count int64, rev bool) (int, int) {
	if hi <= lo || offset < 0 || offset >= int64(hi-lo) {
		return 0, 0
	}
	n := int64(hi-lo) - offset
	if count >= 0 && count < n {
		n = count
	}
	if rev {
		return hi - int(offset) - int(n), hi - int(offset)
	}
	return lo + int(offset), lo + int(offset) + int(n)
}

// appendRange writes the members of ranks [lo, hi), descending with rev;
// with scores as pairs under RESP3 and flat under RESP2, as Redis 7 does.
func appendRange(b []byte, resp int, z *engine.Zset, lo, hi int, rev, withScores bool) []byte {
	n := max(hi-lo, 0)
	switch {
	case withScores && resp == 3:
		b = redcon.AppendArray(b, n)
	case withScores:
		b = redcon.AppendArray(b, 2*n)
	default:
		b = redcon.AppendArray(b, n)
	}
	if n == 0 {
		return b
	}
	emit := func(score float64, member []byte) {
		if withScores && resp == 3 {
			b = redcon.AppendArray(b, 2)
		}
		b = redcon.AppendBulk(b, member)
		if withScores {
			b = appendDouble(b, resp, score)
		}
	}
	if !rev {
		for score, member := range z.Range(lo, hi) {
			emit(score, member)
		}
		return b
	}
	// Pages read forward only: collect the range, then write it backwards.
	type entry struct {
		score  float64
		member []byte
	}
	entries := make([]entry, 0, n)
	for score, member := range z.Range(lo, hi) {
		entries = append(entries, entry{score, member})
	}
	for i := len(entries) - 1; i >= 0; i-- {
		emit(entries[i].score, entries[i].member)
	}
	return b
}

func cmdZCount(s *Server, c *Client, args [][]byte, now int64) {
	r := zrange{by: zbyScore}
	if !parseRangeBounds(c, &r, args[2], args[3]) {
		return
	}
	zcount(s, c, args[1], &r, now)
}

func cmdZLexCount(s *Server, c *Client, args [][]byte, now int64) {
	r := zrange{by: zbyLex}
	if !parseRangeBounds(c, &r, args[2], args[3]) {
		return
	}
	zcount(s, c, args[1], &r, now)
}

func zcount(s *Server, c *Client, key []byte, r *zrange, now int64) {
	sh, _, z, ok := s.zsetLookup(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	n := 0
	if z != nil {
		lo, hi := r.ranks(z)
		n = max(hi-lo, 0)
	}
	c.out = redcon.AppendInt(c.out, int64(n))
}

// zremRangeCommand makes ZREMRANGEBYRANK, ZREMRANGEBYSCORE or
// ZREMRANGEBYLEX.
func zremRangeCommand(by int) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		r := zrange{by: by}
		if !parseRangeBounds(c, &r, args[2], args[3]) {
			return
		}
		key := args[1]
		sh, h, z, ok := s.zsetRead(c, key, now)
		defer s.unlock(c, sh)
		if !ok {
			return
		}
		n := 0
		if z != nil {
			lo, hi := r.ranks(z)
			n = z.RemoveRange(lo, hi)
			sh.ZsetChanged(h, key, z, now/1e6)
		}
		c.out = redcon.AppendInt(c.out, int64(n))
	}
}

// zpopCommand makes ZPOPMIN or ZPOPMAX key [count].
func zpopCommand(fromMax bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		if len(args) > 3 {
			c.out = appendError(c.out, errSyntax)
			return
		}
		count := int64(1)
		if len(args) == 3 {
			n, ok := parseRedisInt(args[2])
			if !ok || n < 0 {
				c.out = appendError(c.out, "ERR value is out of range, must be positive")
				return
			}
			count = n
		}
		key := args[1]
		sh, h, z, ok := s.zsetRead(c, key, now)
		defer s.unlock(c, sh)
		if !ok {
			return
		}
		if z == nil || count == 0 {
			c.out = redcon.AppendArray(c.out, 0)
			return
		}
		n := int(min(count, int64(z.Len())))
		lo, hi := 0, n
		if fromMax {
			lo, hi = z.Len()-n, z.Len()
		}
		if len(args) == 3 {
			c.out = appendRange(c.out, c.resp, z, lo, hi, fromMax, true)
		} else {
			// Without a count the reply is one flat pair in both protocols.
			c.out = redcon.AppendArray(c.out, 2)
			for score, member := range z.Range(lo, hi) {
				c.out = redcon.AppendBulk(c.out, member)
				c.out = appendDouble(c.out, c.resp, score)
			}
		}
		z.RemoveRange(lo, hi)
		sh.ZsetChanged(h, key, z, now/1e6)
	}
}
