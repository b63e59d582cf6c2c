package server

import (
	"math"
	"strconv"

	"github.com/rlserver/rlserver/engine"
	"github.com/tidwall/redcon"
)

// String and counter commands with Redis 7.0's replies and errors. An
// integer value is kept unboxed in the key's record (engine.KindGCRA, the
// kind a GCRA TAT has): to a client it is the decimal string Redis would
// hold, so INCR works on a CL.THROTTLE key exactly as it does on the
// string redis-cell leaves in Redis, and CL.THROTTLE reads a counter as a
// TAT.

const (
	errOverflow = "ERR increment or decrement would overflow"
	errNotFloat = "ERR value is not a valid float"
)

// stringValue returns the bytes of a string-like entry (a GCRA or counter
// value formatted into num). ok is false for other kinds.
func stringValue(e engine.Entry, num *[20]byte) ([]byte, bool) {
	switch e.Kind {
	case engine.KindString:
		return e.Bytes, true
	case engine.KindGCRA:
		return strconv.AppendInt(num[:0], e.Int, 10), true
	}
	return nil, false
}

// The handlers of commands flagged flagDenyOOM start with refuseOOM: over
// maxmemory Redis refuses them before looking at their arguments, whether
// or not the key exists (see memory.go).

func cmdIncr(s *Server, c *Client, args [][]byte, now int64) {
	if !s.refuseOOM(c) {
		incrBy(s, c, args[1], 1, now)
	}
}

func cmdDecr(s *Server, c *Client, args [][]byte, now int64) {
	if !s.refuseOOM(c) {
		incrBy(s, c, args[1], -1, now)
	}
}

func cmdIncrBy(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	n, ok := parseRedisInt(args[2])
	if !ok {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	incrBy(s, c, args[1], n, now)
}

func cmdDecrBy(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	n, ok := parseRedisInt(args[2])
	if !ok {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	if n == math.MinInt64 {
		c.out = appendError(c.out, "ERR decrement would overflow")
		return
	}
	incrBy(s, c, args[1], -n, now)
}

// incrBy adds delta to key's integer value (0 when missing), keeping its
// expiry as Redis does.
func incrBy(s *Server, c *Client, key []byte, delta, now int64) {
	nowMs := now / 1e6
	sh, h := s.lockKey(c, key)
	defer s.unlock(c, sh)
	e, exists := sh.Get(h, key, nowMs)
	var cur int64
	switch {
	case !exists:
		if !s.admitKey(c, sh, h, key, now) {
			return
		}
	case e.Kind == engine.KindGCRA:
		cur = e.Int
	case e.Kind == engine.KindString:
		v, ok := parseRedisInt(e.Bytes)
		if !ok {
			c.out = appendError(c.out, errNotInteger)
			return
		}
		cur = v
	default:
		c.out = appendError(c.out, errWrongType)
		return
	}
	if (delta < 0 && cur < 0 && delta < math.MinInt64-cur) || (delta > 0 && cur > 0 && delta > math.MaxInt64-cur) {
		c.out = appendError(c.out, errOverflow)
		return
	}
	sh.SetInt(h, key, engine.KindGCRA, cur+delta, e.ExpireMs, nowMs)
	c.out = redcon.AppendInt(c.out, cur+delta)
}

// cmdIncrByFloat is INCRBYFLOAT key increment, computed in x87 long double
// precision and formatted as Redis does, so the stored text matches Redis
// digit for digit.
func cmdIncrByFloat(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	nowMs := now / 1e6
	key := args[1]
	sh, h := s.lockKey(c, key)
	defer s.unlock(c, sh)
	e, exists := sh.Get(h, key, nowMs)
	value := newLD()
	if exists {
		var num [20]byte
		text, ok := stringValue(e, &num)
		if !ok {
			c.out = appendError(c.out, errWrongType)
			return
		}
		if value, ok = parseLongDouble(text); !ok {
			c.out = appendError(c.out, errNotFloat)
			return
		}
	}
	incr, ok := parseLongDouble(args[2])
	if !ok {
		c.out = appendError(c.out, errNotFloat)
		return
	}
	if value.IsInf() || incr.IsInf() {
		c.out = appendError(c.out, "ERR increment would produce NaN or Infinity")
		return
	}
	sum := newLD().Add(value, incr)
	if longDoubleOverflows(sum) {
		c.out = appendError(c.out, "ERR increment would produce NaN or Infinity")
		return
	}
	if !exists && !s.admitKey(c, sh, h, key, now) {
		return
	}
	text := []byte(formatLongDouble(sum))
	sh.SetString(h, key, text, e.ExpireMs, nowMs)
	c.out = redcon.AppendBulk(c.out, text)
}

// expireArg parses a SET-style expiry amount (EX/PX/EXAT/PXAT, by unit)
// into absolute Unix ms with Redis's checks; cmd names the command in the
// error.
func expireArg(c *Client, unit, arg []byte, nowMs int64, cmd string) (int64, bool) {
	n, ok := parseRedisInt(arg)
	if !ok {
		c.out = appendError(c.out, errNotInteger)
		return 0, false
	}
	at, ok := absoluteExpiry(unit, n, nowMs)
	if !ok || n <= 0 || at <= 0 {
		c.out = appendError(c.out, "ERR invalid expire time in '"+cmd+"' command")
		return 0, false
	}
	return at, true
}

func cmdSetEx(s *Server, c *Client, args [][]byte, now int64) {
	setWithExpiry(s, c, args, now, "ex", "setex")
}

func cmdPSetEx(s *Server, c *Client, args [][]byte, now int64) {
	setWithExpiry(s, c, args, now, "px", "psetex")
}

// setWithExpiry is SETEX/PSETEX key amount value.
func setWithExpiry(s *Server, c *Client, args [][]byte, now int64, unit, name string) {
	if s.refuseOOM(c) {
		return
	}
	nowMs := now / 1e6
	at, ok := expireArg(c, []byte(unit), args[2], nowMs, name)
	if !ok {
		return
	}
	key := args[1]
	sh, h := s.lockKey(c, key)
	defer s.unlock(c, sh)
	if !s.admitKey(c, sh, h, key, now) {
		return
	}
	sh.SetString(h, key, args[3], at, nowMs)
	c.out = redcon.AppendOK(c.out)
}

func cmdSetNX(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	nowMs := now / 1e6
	key := args[1]
	sh, h := s.lockKey(c, key)
	defer s.unlock(c, sh)
	if sh.Exists(h, key, nowMs) {
		c.out = redcon.AppendInt(c.out, 0)
		return
	}
	if !s.admitKey(c, sh, h, key, now) {
		return
	}
	sh.SetString(h, key, args[2], 0, nowMs)
	c.out = redcon.AppendInt(c.out, 1)
}

func cmdGetDel(s *Server, c *Client, args [][]byte, now int64) {
	nowMs := now / 1e6
	key := args[1]
	sh, h := s.lockKey(c, key)
	defer s.unlock(c, sh)
	e, ok := sh.Get(h, key, nowMs)
	c.keyspace(ok)
	if !ok {
		c.out = appendNull(c.out, c.resp)
		return
	}
	var good bool
	if c.out, good = appendValue(c.out, e); !good {
		c.out = appendError(c.out, errWrongType)
		return
	}
	sh.Delete(h, key, nowMs)
}

// stringOptions are SET's and GETEX's options.
type stringOptions struct {
	nx, xx, get, keepTTL, persist bool
	unit, amount                  []byte // EX/PX/EXAT/PXAT and its argument; nil if none
}

// parseStringOptions parses SET's options (getex false) or GETEX's, with
// Redis 7.0's rules: an option may repeat (the last expiry wins) but not
// combine with a conflicting one. Amounts are checked later, as Redis
// does, so a syntax error wins over a bad number.
func parseStringOptions(args [][]byte, getex bool) (stringOptions, bool) {
	var o stringOptions
	for i := 0; i < len(args); i++ {
		a := args[i]
		hasNext := i+1 < len(args)
		isUnit := func(name string) bool {
			return eqFold(a, name) && !o.keepTTL && !o.persist && hasNext && (o.unit == nil || eqFold(o.unit, name))
		}
		switch {
		case eqFold(a, "nx") && !o.xx && !getex:
			o.nx = true
		case eqFold(a, "xx") && !o.nx && !getex:
			o.xx = true
		case eqFold(a, "get") && !getex:
			o.get = true
		case eqFold(a, "keepttl") && !o.persist && o.unit == nil && !getex:
			o.keepTTL = true
		case eqFold(a, "persist") && getex && o.unit == nil && !o.keepTTL:
			o.persist = true
		case isUnit("ex"), isUnit("px"), isUnit("exat"), isUnit("pxat"):
			o.unit, o.amount = a, args[i+1]
			i++
		default:
			return o, false
		}
	}
	return o, true
}

// cmdGetEx is GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST].
func cmdGetEx(s *Server, c *Client, args [][]byte, now int64) {
	nowMs := now / 1e6
	o, ok := parseStringOptions(args[2:], true)
	if !ok {
		c.out = appendError(c.out, errSyntax)
		return
	}
	var at int64
	if o.unit != nil {
		if at, ok = expireArg(c, o.unit, o.amount, nowMs, "getex"); !ok {
			return
		}
	}
	key := args[1]
	sh, h := s.lockKey(c, key)
	defer s.unlock(c, sh)
	e, ok := sh.Get(h, key, nowMs)
	c.keyspace(ok)
	if !ok {
		c.out = appendNull(c.out, c.resp)
		return
	}
	var good bool
	if c.out, good = appendValue(c.out, e); !good {
		c.out = appendError(c.out, errWrongType)
		return
	}
	switch {
	case o.unit != nil && at <= nowMs:
		sh.Delete(h, key, nowMs)
	case o.unit != nil:
		sh.SetExpire(h, key, at, nowMs)
	case o.persist && e.ExpireMs != 0:
		sh.SetExpire(h, key, 0, nowMs)
	}
}

// cmdMGet answers nil for missing keys and for keys that are not strings,
// as Redis does.
func cmdMGet(s *Server, c *Client, args [][]byte, now int64) {
	nowMs := now / 1e6
	defer s.lockKeys(c, args, 1, 1)()
	c.out = redcon.AppendArray(c.out, len(args)-1)
	for _, key := range args[1:] {
		h := engine.Hash(key)
		e, ok := s.store.ShardOf(h).Get(h, key, nowMs)
		c.keyspace(ok)
		if ok {
			var good bool
			if c.out, good = appendValue(c.out, e); good {
				continue
			}
		}
		c.out = appendNull(c.out, c.resp)
	}
}

func cmdMSet(s *Server, c *Client, args [][]byte, now int64) { mset(s, c, args, now, false) }

func cmdMSetNX(s *Server, c *Client, args [][]byte, now int64) { mset(s, c, args, now, true) }

// mset sets every pair atomically (all shards involved are held), removing
// expiries; with nx nothing is set if any key exists. At maxmemory the
// whole command is refused if it would create a key.
func mset(s *Server, c *Client, args [][]byte, now int64, nx bool) {
	if s.refuseOOM(c) {
		return
	}
	name := "mset"
	if nx {
		name = "msetnx"
	}
	if len(args)%2 == 0 {
		c.out = appendError(c.out, "ERR wrong number of arguments for '"+name+"' command")
		return
	}
	nowMs := now / 1e6
	defer s.lockKeys(c, args, 1, 2)()
	for i := 1; i < len(args); i += 2 {
		h := engine.Hash(args[i])
		if nx && s.store.ShardOf(h).Exists(h, args[i], nowMs) {
			c.out = redcon.AppendInt(c.out, 0)
			return
		}
	}
	for i := 1; i < len(args); i += 2 {
		h := engine.Hash(args[i])
		s.store.ShardOf(h).SetString(h, args[i], args[i+1], 0, nowMs)
	}
	if nx {
		c.out = redcon.AppendInt(c.out, 1)
		return
	}
	c.out = redcon.AppendOK(c.out)
}

// expireTimeCommand makes EXPIRETIME (seconds, rounded as Redis does) or
// PEXPIRETIME (ms): the absolute expiry, -1 without one, -2 if missing.
func expireTimeCommand(ms bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		sh, h := s.lockKey(c, args[1])
		defer s.unlock(c, sh)
		e, ok := sh.Get(h, args[1], now/1e6)
		c.keyspace(ok)
		switch {
		case !ok:
			c.out = redcon.AppendInt(c.out, -2)
		case e.ExpireMs == 0:
			c.out = redcon.AppendInt(c.out, -1)
		case ms:
			c.out = redcon.AppendInt(c.out, e.ExpireMs)
		default:
			c.out = redcon.AppendInt(c.out, (e.ExpireMs+500)/1000)
		}
	}
}
