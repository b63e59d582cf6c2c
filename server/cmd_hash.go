package server

import (
	"math"
	"strconv"

	"github.com/rlserver/rlserver/engine"
	"github.com/tidwall/redcon"
)

// Hash commands with Redis 7.0's replies and errors, in Redis's order of
// checks. The hash itself is engine.Hmap.

// hashRead locks key's shard and returns its hash (nil if missing). On a
// key of another kind it writes WRONGTYPE and returns ok false. The caller
// defers unlock(sh).
func (s *Server) hashRead(c *Client, key []byte, now int64) (sh *engine.Shard, h uint64, m *engine.Hmap, ok bool) {
	sh, h = s.lockKey(c, key)
	m, err := sh.HmapOf(h, key, now/1e6)
	if err != nil {
		c.out = appendError(c.out, errWrongType)
		return sh, h, nil, false
	}
	return sh, h, m, true
}

// hashWrite is hashRead that creates an empty hash when the key is
// missing; the caller must call HmapChanged before unlocking.
func (s *Server) hashWrite(c *Client, key []byte, now int64) (sh *engine.Shard, h uint64, m *engine.Hmap, ok bool) {
	sh, h, m, ok = s.hashRead(c, key, now)
	if ok && m == nil {
		m = sh.NewHmap(h, key, now/1e6)
	}
	return sh, h, m, ok
}

// hsetCommand makes HSET (replies the number of new fields) and HMSET
// (replies OK).
func hsetCommand(hmset bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		if len(args)%2 == 1 {
			c.out = appendError(c.out, "ERR wrong number of arguments for '"+lower(args[0])+"' command")
			return
		}
		if s.refuseOOM(c) {
			return
		}
		key := args[1]
		sh, h, m, ok := s.hashWrite(c, key, now)
		defer s.unlock(c, sh)
		if !ok {
			return
		}
		added := 0
		for i := 2; i < len(args); i += 2 {
			if m.Set(args[i], args[i+1]) {
				added++
			}
		}
		sh.HmapChanged(h, key, m, now/1e6)
		if hmset {
			c.out = redcon.AppendString(c.out, "OK")
			return
		}
		c.out = redcon.AppendInt(c.out, int64(added))
	}
}

func cmdHSetNX(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	key := args[1]
	sh, h, m, ok := s.hashWrite(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	set := int64(0)
	if _, exists := m.Get(args[2]); !exists {
		m.Set(args[2], args[3])
		set = 1
	}
	sh.HmapChanged(h, key, m, now/1e6)
	c.out = redcon.AppendInt(c.out, set)
}

func cmdHGet(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, m, ok := s.hashRead(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	if m != nil {
		if v, ok := m.Get(args[2]); ok {
			c.out = redcon.AppendBulk(c.out, v)
			return
		}
	}
	c.out = appendNull(c.out, c.resp)
}

func cmdHMGet(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, m, ok := s.hashRead(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	c.out = redcon.AppendArray(c.out, len(args)-2)
	for _, f := range args[2:] {
		if m != nil {
			if v, ok := m.Get(f); ok {
				c.out = redcon.AppendBulk(c.out, v)
				continue
			}
		}
		c.out = appendNull(c.out, c.resp)
	}
}

func cmdHDel(s *Server, c *Client, args [][]byte, now int64) {
	key := args[1]
	sh, h, m, ok := s.hashRead(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	n := 0
	if m != nil {
		for _, f := range args[2:] {
			if m.Delete(f) {
				n++
			}
		}
		sh.HmapChanged(h, key, m, now/1e6)
	}
	c.out = redcon.AppendInt(c.out, int64(n))
}

func cmdHLen(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, m, ok := s.hashRead(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	n := 0
	if m != nil {
		n = m.Len()
	}
	c.out = redcon.AppendInt(c.out, int64(n))
}

func cmdHExists(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, m, ok := s.hashRead(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	n := int64(0)
	if m != nil {
		if _, ok := m.Get(args[2]); ok {
			n = 1
		}
	}
	c.out = redcon.AppendInt(c.out, n)
}

func cmdHStrlen(s *Server, c *Client, args [][]byte, now int64) {
	sh, _, m, ok := s.hashRead(c, args[1], now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	n := 0
	if m != nil {
		v, _ := m.Get(args[2])
		n = len(v)
	}
	c.out = redcon.AppendInt(c.out, int64(n))
}

const (
	hashFields = 1 << iota
	hashValues
)

// hgetallCommand makes HGETALL (fields and values: a map under RESP3),
// HKEYS and HVALS.
func hgetallCommand(what int) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		sh, _, m, ok := s.hashRead(c, args[1], now)
		defer s.unlock(c, sh)
		if !ok {
			return
		}
		n := 0
		if m != nil {
			n = m.Len()
		}
		if what == hashFields|hashValues {
			c.out = appendMap(c.out, c.resp, n)
		} else {
			c.out = redcon.AppendArray(c.out, n)
		}
		if m == nil {
			return
		}
		for f, v := range m.All() {
			if what&hashFields != 0 {
				c.out = redcon.AppendBulk(c.out, f)
			}
			if what&hashValues != 0 {
				c.out = redcon.AppendBulk(c.out, v)
			}
		}
	}
}

// cmdHIncrBy is HINCRBY key field increment.
func cmdHIncrBy(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	incr, ok := parseRedisInt(args[3])
	if !ok {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	key := args[1]
	sh, h, m, ok := s.hashWrite(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	defer sh.HmapChanged(h, key, m, now/1e6)
	var cur int64
	if v, exists := m.Get(args[2]); exists {
		if cur, ok = parseRedisInt(v); !ok {
			c.out = appendError(c.out, "ERR hash value is not an integer")
			return
		}
	}
	if (incr < 0 && cur < 0 && incr < math.MinInt64-cur) || (incr > 0 && cur > 0 && incr > math.MaxInt64-cur) {
		c.out = appendError(c.out, errOverflow)
		return
	}
	var num [20]byte
	m.Set(args[2], strconv.AppendInt(num[:0], cur+incr, 10))
	c.out = redcon.AppendInt(c.out, cur+incr)
}

// cmdHIncrByFloat is HINCRBYFLOAT key field increment, in long double
// precision and formatted as INCRBYFLOAT formats.
func cmdHIncrByFloat(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	incr, ok := parseLongDouble(args[3])
	if !ok {
		c.out = appendError(c.out, errNotFloat)
		return
	}
	if incr.IsInf() {
		c.out = appendError(c.out, "ERR value is NaN or Infinity")
		return
	}
	key := args[1]
	sh, h, m, ok := s.hashWrite(c, key, now)
	defer s.unlock(c, sh)
	if !ok {
		return
	}
	defer sh.HmapChanged(h, key, m, now/1e6)
	value := newLD()
	if v, exists := m.Get(args[2]); exists {
		if value, ok = parseLongDouble(v); !ok {
			c.out = appendError(c.out, "ERR hash value is not a float")
			return
		}
	}
	if value.IsInf() {
		c.out = appendError(c.out, "ERR increment would produce NaN or Infinity")
		return
	}
	sum := newLD().Add(value, incr)
	if longDoubleOverflows(sum) {
		c.out = appendError(c.out, "ERR increment would produce NaN or Infinity")
		return
	}
	text := []byte(formatLongDouble(sum))
	m.Set(args[2], text)
	c.out = redcon.AppendBulk(c.out, text)
}
