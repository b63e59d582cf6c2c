package server

import (
	"math"
	"strconv"

	"github.com/rlserver/rlserver/engine"
	"github.com/tidwall/redcon"
)

// typeName is what TYPE answers for each kind; limiter state created by
// CL.THROTTLE is a string, as in Redis with redis-cell.
func typeName(k engine.Kind) string { return k.String() }

// appendValue writes a string-like value: the bytes of a string, the
// decimal TAT of a GCRA key. ok is false for kinds GET cannot read.
func appendValue(b []byte, e engine.Entry) ([]byte, bool) {
	switch e.Kind {
	case engine.KindString:
		return redcon.AppendBulk(b, e.Bytes), true
	case engine.KindGCRA:
		var num [20]byte
		return redcon.AppendBulk(b, strconv.AppendInt(num[:0], e.Int, 10)), true
	}
	return b, false
}

func cmdGet(s *Server, c *Client, args [][]byte, now int64) {
	sh, h := s.lockKey(c, args[1])
	defer s.unlock(c, sh)
	e, ok := sh.Get(h, args[1], now/1e6)
	c.keyspace(ok)
	if !ok {
		c.out = appendNull(c.out, c.resp)
		return
	}
	var good bool
	if c.out, good = appendValue(c.out, e); !good {
		c.out = appendError(c.out, errWrongType)
	}
}

func cmdStrlen(s *Server, c *Client, args [][]byte, now int64) {
	sh, h := s.lockKey(c, args[1])
	defer s.unlock(c, sh)
	e, ok := sh.Get(h, args[1], now/1e6)
	c.keyspace(ok)
	switch {
	case !ok:
		c.out = redcon.AppendInt(c.out, 0)
	case e.Kind == engine.KindString:
		c.out = redcon.AppendInt(c.out, int64(len(e.Bytes)))
	case e.Kind == engine.KindGCRA:
		var num [20]byte
		c.out = redcon.AppendInt(c.out, int64(len(strconv.AppendInt(num[:0], e.Int, 10))))
	default:
		c.out = appendError(c.out, errWrongType)
	}
}

func cmdType(s *Server, c *Client, args [][]byte, now int64) {
	sh, h := s.lockKey(c, args[1])
	defer s.unlock(c, sh)
	e, ok := sh.Get(h, args[1], now/1e6)
	c.keyspace(ok)
	c.out = redcon.AppendString(c.out, typeName(e.Kind))
}

// cmdSet is SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL].
func cmdSet(s *Server, c *Client, args [][]byte, now int64) {
	if s.refuseOOM(c) {
		return
	}
	nowMs := now / 1e6
	o, ok := parseStringOptions(args[3:], false)
	if !ok {
		c.out = appendError(c.out, errSyntax)
		return
	}
	var expireMs int64
	if o.unit != nil {
		if expireMs, ok = expireArg(c, o.unit, o.amount, nowMs, "set"); !ok {
			return
		}
	}
	nx, xx, get := o.nx, o.xx, o.get
	key := args[1]
	sh, h := s.lockKey(c, key)
	defer s.unlock(c, sh)
	old, exists := sh.Get(h, key, nowMs)
	start := len(c.out)
	if get {
		c.keyspace(exists) // SET ... GET reads first, as GET does
		if !exists {
			c.out = appendNull(c.out, c.resp)
		} else {
			var good bool
			if c.out, good = appendValue(c.out, old); !good {
				c.out = appendError(c.out[:start], errWrongType)
				return
			}
		}
	}
	if (nx && exists) || (xx && !exists) {
		if !get {
			c.out = appendNull(c.out, c.resp)
		}
		return
	}
	if o.keepTTL && exists {
		expireMs = old.ExpireMs
	}
	if o.unit != nil && expireMs <= nowMs {
		sh.Delete(h, key, nowMs)
	} else {
		sh.SetString(h, key, args[2], expireMs, nowMs)
	}
	if !get {
		c.out = redcon.AppendOK(c.out)
	}
}

// absoluteExpiry turns an EX/PX/EXAT/PXAT amount into absolute Unix ms,
// reporting false on overflow.
func absoluteExpiry(unit []byte, n, nowMs int64) (int64, bool) {
	switch {
	case eqFold(unit, "ex"):
		if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
			return 0, false
		}
		return addMs(nowMs, n*1000)
	case eqFold(unit, "px"):
		return addMs(nowMs, n)
	case eqFold(unit, "exat"):
		if n > math.MaxInt64/1000 || n < math.MinInt64/1000 {
			return 0, false
		}
		return n * 1000, true
	}
	return n, true // pxat
}

func addMs(a, b int64) (int64, bool) {
	if (b > 0 && a > math.MaxInt64-b) || (b < 0 && a < math.MinInt64-b) {
		return 0, false
	}
	return a + b, true
}

func cmdDel(s *Server, c *Client, args [][]byte, now int64) {
	var n int64
	for _, k := range args[1:] {
		sh, h := s.lockKey(c, k)
		if sh.Delete(h, k, now/1e6) {
			n++
		}
		s.unlock(c, sh)
	}
	c.out = redcon.AppendInt(c.out, n)
}

func cmdExists(s *Server, c *Client, args [][]byte, now int64) {
	var n int64
	for _, k := range args[1:] {
		sh, h := s.lockKey(c, k)
		_, ok := sh.Get(h, k, now/1e6)
		c.keyspace(ok)
		if ok {
			n++
		}
		s.unlock(c, sh)
	}
	c.out = redcon.AppendInt(c.out, n)
}

// ttlCommand makes TTL (seconds, rounded as Redis does) or PTTL (ms).
func ttlCommand(ms bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) { replyTTL(s, c, args, now, ms) }
}

func replyTTL(s *Server, c *Client, args [][]byte, now int64, ms bool) {
	nowMs := now / 1e6
	sh, h := s.lockKey(c, args[1])
	defer s.unlock(c, sh)
	e, ok := sh.Get(h, args[1], nowMs)
	c.keyspace(ok)
	switch {
	case !ok:
		c.out = redcon.AppendInt(c.out, -2)
	case e.ExpireMs == 0:
		c.out = redcon.AppendInt(c.out, -1)
	case ms:
		c.out = redcon.AppendInt(c.out, e.ExpireMs-nowMs)
	default:
		c.out = redcon.AppendInt(c.out, (e.ExpireMs-nowMs+500)/1000)
	}
}

// expireCommand makes EXPIRE, PEXPIRE, EXPIREAT or PEXPIREAT (by name):
// key n [NX|XX|GT|LT].
func expireCommand(name string) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) { setExpire(s, c, args, now, name) }
}

func setExpire(s *Server, c *Client, args [][]byte, now int64, name string) {
	nowMs := now / 1e6
	n, ok := parseRedisInt(args[2])
	if !ok {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	var nx, xx, gt, lt bool
	for _, a := range args[3:] {
		switch {
		case eqFold(a, "nx"):
			nx = true
		case eqFold(a, "xx"):
			xx = true
		case eqFold(a, "gt"):
			gt = true
		case eqFold(a, "lt"):
			lt = true
		default:
			c.out = appendError(c.out, "ERR Unsupported option "+string(a))
			return
		}
	}
	if nx && (xx || gt || lt) {
		c.out = appendError(c.out, "ERR NX and XX, GT or LT options at the same time are not compatible")
		return
	}
	if gt && lt {
		c.out = appendError(c.out, "ERR GT and LT options at the same time are not compatible")
		return
	}
	var at int64
	switch name {
	case "expire":
		at, ok = absoluteExpiry([]byte("ex"), n, nowMs)
	case "pexpire":
		at, ok = addMs(nowMs, n)
	case "expireat":
		at, ok = absoluteExpiry([]byte("exat"), n, nowMs)
	default:
		at = n
	}
	if !ok {
		c.out = appendError(c.out, "ERR invalid expire time in '"+name+"' command")
		return
	}
	sh, h := s.lockKey(c, args[1])
	defer s.unlock(c, sh)
	e, exists := sh.Get(h, args[1], nowMs)
	if !exists {
		c.out = redcon.AppendInt(c.out, 0)
		return
	}
	cur := e.ExpireMs
	switch {
	case nx && cur != 0, xx && cur == 0,
		gt && (cur == 0 || at <= cur),
		lt && cur != 0 && at >= cur:
		c.out = redcon.AppendInt(c.out, 0)
		return
	}
	if at <= nowMs {
		sh.Delete(h, args[1], nowMs)
	} else {
		sh.SetExpire(h, args[1], at, nowMs)
	}
	c.out = redcon.AppendInt(c.out, 1)
}

func cmdPersist(s *Server, c *Client, args [][]byte, now int64) {
	nowMs := now / 1e6
	sh, h := s.lockKey(c, args[1])
	defer s.unlock(c, sh)
	e, ok := sh.Get(h, args[1], nowMs)
	if !ok || e.ExpireMs == 0 {
		c.out = redcon.AppendInt(c.out, 0)
		return
	}
	sh.SetExpire(h, args[1], 0, nowMs)
	c.out = redcon.AppendInt(c.out, 1)
}

func cmdDBSize(s *Server, c *Client, args [][]byte, now int64) {
	n := 0
	s.eachShard(c, func(_ int, sh *engine.Shard) { n += sh.Len() })
	c.out = redcon.AppendInt(c.out, int64(n))
}

func cmdFlush(s *Server, c *Client, args [][]byte, now int64) {
	if len(args) > 2 || (len(args) == 2 && !eqFold(args[1], "async") && !eqFold(args[1], "sync")) {
		c.out = appendError(c.out, errSyntax)
		return
	}
	s.eachShard(c, func(_ int, sh *engine.Shard) { sh.Clear() })
	if s.cl != nil && s.cl.repl != nil {
		s.cl.repl.flushed() // replicas get full (empty) copies
	}
	c.inval.all = true // sent once no shard is held
	c.out = redcon.AppendOK(c.out)
}

func cmdKeys(s *Server, c *Client, args [][]byte, now int64) {
	pattern := args[1]
	var keys [][]byte
	s.eachShard(c, func(_ int, sh *engine.Shard) {
		for k := range sh.Keys(now / 1e6) {
			if globMatch(pattern, k) {
				keys = append(keys, append([]byte(nil), k...))
			}
		}
	})
	c.out = redcon.AppendArray(c.out, len(keys))
	for _, k := range keys {
		c.out = redcon.AppendBulk(c.out, k)
	}
}

// cmdScan is SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]. The cursor
// is shard<<32 | record index; records never move while their key lives,
// so a key present for the whole scan is returned.
func cmdScan(s *Server, c *Client, args [][]byte, now int64) {
	cursor, err := strconv.ParseUint(string(args[1]), 10, 64)
	if err != nil {
		c.out = appendError(c.out, "ERR invalid cursor")
		return
	}
	var pattern, typ []byte
	count := int64(10)
	for i := 2; i < len(args); i += 2 {
		if i+1 >= len(args) {
			c.out = appendError(c.out, errSyntax)
			return
		}
		switch v := args[i+1]; {
		case eqFold(args[i], "match"):
			pattern = v
		case eqFold(args[i], "count"):
			n, ok := parseRedisInt(v)
			if !ok {
				c.out = appendError(c.out, errNotInteger)
				return
			}
			if n < 1 {
				c.out = appendError(c.out, errSyntax)
				return
			}
			count = n
		case eqFold(args[i], "type"):
			typ = v
		default:
			c.out = appendError(c.out, errSyntax)
			return
		}
	}
	shard := int(cursor >> 32)
	rec := uint32(cursor)
	var keys [][]byte
	budget := int(min(count, 1<<20))
	for shard < s.store.NumShards() && budget > 0 {
		s.withShard(c, shard, func(sh *engine.Shard) {
			var examined int
			rec, examined = sh.ScanFrom(rec, budget, now/1e6, func(k []byte, e engine.Entry) {
				if pattern != nil && !globMatch(pattern, k) {
					return
				}
				if typ != nil && !eqFold(typ, typeName(e.Kind)) {
					return
				}
				keys = append(keys, append([]byte(nil), k...))
			})
			budget -= max(1, examined)
		})
		if rec == 0 {
			shard++
		}
	}
	next := uint64(0)
	if shard < s.store.NumShards() {
		next = uint64(shard)<<32 | uint64(rec)
	}
	c.out = redcon.AppendArray(c.out, 2)
	c.out = redcon.AppendBulkString(c.out, strconv.FormatUint(next, 10))
	c.out = redcon.AppendArray(c.out, len(keys))
	for _, k := range keys {
		c.out = redcon.AppendBulk(c.out, k)
	}
}
