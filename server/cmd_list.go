package server

import (
	"bytes"
	"math"

	"github.com/rlserver/rlserver/engine"
	"github.com/tidwall/redcon"
)

// List commands with Redis 7.0's replies and errors, in Redis's order of
// checks (which argument errors come before the key is looked at, and
// which after). The list itself is engine.List.

// listRead locks key's shard and returns its list (nil if missing). On a
// key of another kind it writes WRONGTYPE and returns ok false. The caller
// defers unlock(sh).
func (s *Server) listRead(c *Client, key []byte, now int64) (sh *engine.Shard, h uint64, l *engine.List, ok bool) {
	sh, h = s.lockKey(c, key)
	l, err := sh.ListOf(h, key, now/1e6)
	if err != nil {
		c.out = appendError(c.out, errWrongType)
		return sh, h, nil, false
	}
	return sh, h, l, true
}

// pushCommand makes LPUSH, RPUSH (create the list) and LPUSHX, RPUSHX
// (only an existing list).
func pushCommand(tail, onlyExisting bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		if s.refuseOOM(c) {
			return
		}
		key := args[1]
		sh, h, l, ok := s.listRead(c, key, now)
		defer s.unlock(c, sh)
		if !ok {
			return
		}
		if l == nil {
			if onlyExisting {
				c.out = redcon.AppendInt(c.out, 0)
				return
			}
			l = sh.NewList(h, key, now/1e6)
		}
		for _, v := range args[2:] {
			if tail {
				l.Insert(l.Len(), v)
			} else {
				l.Insert(0, v)
			}
		}
		sh.ListChanged(h, key, l, now/1e6)
		c.out = redcon.AppendInt(c.out, int64(l.Len()))
	}
}

// popCommand makes LPOP or RPOP key [count].
func popCommand(tail bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		if len(args) > 3 {
			c.out = appendError(c.out, "ERR wrong number of arguments for '"+lower(args[0])+"' command")
			return
		}
		count, hasCount := int64(0), len(args) == 3
		if hasCount {
			n, ok := parseRedisInt(args[2])
			if !ok || n < 0 {
				c.out = appendError(c.out, "ERR value is out of range, must be positive")
				return
			}
			count = n
		}
		key := args[1]
		sh, h, l, ok := s.listRead(c, key, now)
		defer s.unlock(c, sh)
		if !ok {
			return
		}
		switch {
		case l == nil && hasCount:
			c.out = appendNullArray(c.out, c.resp)
			return
		case l == nil:
			c.out = appendNull(c.out, c.resp)
			return
		case hasCount && count == 0:
			c.out = redcon.AppendArray(c.out, 0)
			return
		}
		n := 1
		if hasCount {
			n = int(min(count, int64(l.Len())))
			c.out = redcon.AppendArray(c.out, n)
		}
		lo, hi := 0, n
		if tail {
			lo, hi = l.Len()-n, l.Len()
			for i, v := range l.Backward() {
				if i < lo {
					break
				}
				c.out = redcon.AppendBulk(c.out, v)
			}
		} else {
			for v := range l.Range(lo, hi) {
				c.out = redcon.AppendBulk(c.out, v)
			}
		}
		l.RemoveRange(lo, hi)
		sh.ListChanged(h, key, l, now/1e6)
	}
}

func cmdLLen(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, l, ok := s.listRead(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	n := 0
	if l != nil {
		n = l.Len()
	}
	c.out = redcon.AppendInt(c.out, int64(n))
}

// listIndex turns a possibly negative index into one from the head; ok is
// false when it falls outside the list.
func listIndex(i int64, n int) (int, bool) {
	if i < 0 {
		i += int64(n)
	}
	if i < 0 || i >= int64(n) {
		return 0, false
	}
	return int(i), true
}

func cmdLIndex(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, l, ok := s.listRead(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	if l == nil {
		c.out = appendNull(c.out, c.resp)
		return
	}
	i, ok := parseRedisInt(args[2])
	if !ok {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	if j, ok := listIndex(i, l.Len()); ok {
		c.out = redcon.AppendBulk(c.out, l.Index(j))
		return
	}
	c.out = appendNull(c.out, c.resp)
}

func cmdLSet(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	key := args[1]
	sh, h, l, ok := s.listRead(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	if l == nil {
		c.out = appendError(c.out, "ERR no such key")
		return
	}
	i, ok := parseRedisInt(args[2])
	if !ok {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	j, ok := listIndex(i, l.Len())
	if !ok {
		c.out = appendError(c.out, "ERR index out of range")
		return
	}
	l.Set(j, args[3])
	sh.ListChanged(h, key, l, now/1e6)
	c.out = redcon.AppendString(c.out, "OK")
}

// listRange clamps [start, stop] (inclusive, negative from the tail) as
// LRANGE and LTRIM do; empty is true when nothing is selected.
func listRange(start, stop int64, n int) (lo, hi int, empty bool) {
	ln := int64(n)
	if start < 0 {
		start += ln
	}
	if stop < 0 {
		stop += ln
	}
	if start < 0 {
		start = 0
	}
	if start > stop || start >= ln {
		return 0, 0, true
	}
	if stop >= ln {
		stop = ln - 1
	}
	return int(start), int(stop) + 1, false
}

func cmdLRange(s *Server, c *Client, args [][]byte, now int64) {
	start, ok1 := parseRedisInt(args[2])
	stop, ok2 := parseRedisInt(args[3])
	if !ok1 || !ok2 {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	sh, _, l, ok := s.listRead(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	if l == nil {
		c.out = redcon.AppendArray(c.out, 0)
		return
	}
	lo, hi, empty := listRange(start, stop, l.Len())
	if empty {
		c.out = redcon.AppendArray(c.out, 0)
		return
	}
	c.out = redcon.AppendArray(c.out, hi-lo)
	for v := range l.Range(lo, hi) {
		c.out = redcon.AppendBulk(c.out, v)
	}
}

func cmdLTrim(s *Server, c *Client, args [][]byte, now int64) {
	start, ok1 := parseRedisInt(args[2])
	stop, ok2 := parseRedisInt(args[3])
	if !ok1 || !ok2 {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	key := args[1]
	sh, h, l, ok := s.listRead(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	if l != nil {
		lo, hi, empty := listRange(start, stop, l.Len())
		if empty {
			l.RemoveRange(0, l.Len())
		} else {
			l.RemoveRange(hi, l.Len())
			l.RemoveRange(0, lo)
		}
		sh.ListChanged(h, key, l, now/1e6)
	}
	c.out = redcon.AppendString(c.out, "OK")
}

// cmdLRem is LREM key count element: count > 0 removes that many matches
// from the head, count < 0 from the tail, 0 every match.
func cmdLRem(s *Server, c *Client, args [][]byte, now int64) {
	count, ok := parseRedisInt(args[2])
	if !ok {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	key := args[1]
	sh, h, l, ok := s.listRead(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	removed := 0
	if l != nil {
		elem := args[3]
		switch {
		case count >= 0:
			left := uint64(count)
			if count == 0 {
				left = math.MaxUint64
			}
			removed = l.Filter(func(v []byte) bool {
				if left > 0 && bytes.Equal(v, elem) {
					left--
					return false
				}
				return true
			})
		default:
			// From the tail: find the matches to skip from the head first.
			matches := 0
			for v := range l.Range(0, l.Len()) {
				if bytes.Equal(v, elem) {
					matches++
				}
			}
			skip := max(int64(matches)+count, 0) // count < 0
			removed = l.Filter(func(v []byte) bool {
				if !bytes.Equal(v, elem) {
					return true
				}
				if skip > 0 {
					skip--
					return true
				}
				return false
			})
		}
		sh.ListChanged(h, key, l, now/1e6)
	}
	c.out = redcon.AppendInt(c.out, int64(removed))
}

// cmdLInsert is LINSERT key BEFORE|AFTER pivot element.
func cmdLInsert(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	var after bool
	switch {
	case eqFold(args[2], "after"):
		after = true
	case eqFold(args[2], "before"):
	default:
		c.out = appendError(c.out, errSyntax)
		return
	}
	key := args[1]
	sh, h, l, ok := s.listRead(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	if l == nil {
		c.out = redcon.AppendInt(c.out, 0)
		return
	}
	at, i := -1, 0
	for v := range l.Range(0, l.Len()) {
		if bytes.Equal(v, args[3]) {
			at = i
			break
		}
		i++
	}
	if at < 0 {
		c.out = redcon.AppendInt(c.out, -1)
		return
	}
	if after {
		at++
	}
	l.Insert(at, args[4])
	sh.ListChanged(h, key, l, now/1e6)
	c.out = redcon.AppendInt(c.out, int64(l.Len()))
}

// cmdLPos is LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
func cmdLPos(s *Server, c *Client, args [][]byte, now int64) {
	rank, count, maxLen := int64(1), int64(-1), int64(0)
	for j := 3; j < len(args); j++ {
		more := j+1 < len(args)
		switch {
		case eqFold(args[j], "rank") && more:
			j++
			v, ok := parseRedisInt(args[j])
			if !ok {
				c.out = appendError(c.out, errNotInteger)
				return
			}
			if v == 0 {
				c.out = appendError(c.out, "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
				return
			}
			rank = v
		case eqFold(args[j], "count") && more:
			j++
			v, ok := parseRedisInt(args[j])
			if !ok || v < 0 {
				c.out = appendError(c.out, "ERR COUNT can't be negative")
				return
			}
			count = v
		case eqFold(args[j], "maxlen") && more:
			j++
			v, ok := parseRedisInt(args[j])
			if !ok || v < 0 {
				c.out = appendError(c.out, "ERR MAXLEN can't be negative")
				return
			}
			maxLen = v
		default:
			c.out = appendError(c.out, errSyntax)
			return
		}
	}
	sh, _, l, ok := s.listRead(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	if l == nil {
		if count != -1 {
			c.out = redcon.AppendArray(c.out, 0)
		} else {
			c.out = appendNull(c.out, c.resp)
		}
		return
	}
	skip := rank - 1
	if rank < 0 {
		skip = -(rank + 1)
	}
	if rank == math.MinInt64 {
		skip = 0 // Redis 7.0 negates it in place and it stays negative: it acts as -1
	}
	var found []int
	want := count
	if want == -1 {
		want = 1
	}
	match := func(i int, v []byte) bool { // reports whether to stop
		if !bytes.Equal(v, args[2]) {
			return false
		}
		if skip > 0 {
			skip--
			return false
		}
		found = append(found, i)
		return want != 0 && int64(len(found)) >= want
	}
	compared := int64(0)
	if rank > 0 {
		i := 0
		for v := range l.Range(0, l.Len()) {
			if maxLen != 0 && compared >= maxLen {
				break
			}
			compared++
			if match(i, v) {
				break
			}
			i++
		}
	} else {
		for i, v := range l.Backward() {
			if maxLen != 0 && compared >= maxLen {
				break
			}
			compared++
			if match(i, v) {
				break
			}
		}
	}
	if count != -1 {
		c.out = redcon.AppendArray(c.out, len(found))
		for _, i := range found {
			c.out = redcon.AppendInt(c.out, int64(i))
		}
		return
	}
	if len(found) == 0 {
		c.out = appendNull(c.out, c.resp)
		return
	}
	c.out = redcon.AppendInt(c.out, int64(found[0]))
}
