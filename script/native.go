package script

import (
	"math"
	"strconv"
	"sync"
)

// Native fast paths.
//
// The rate-limiting libraries most used with Redis each send one fixed
// script, so its SHA1 names it exactly. For those scripts Eval runs a Go
// function instead of the VM: it issues the same commands, with the same
// arguments, through the same Host, and builds the reply the script would,
// with no Lua values, tables or interpretation in between.
//
// A native function must answer exactly what the VM answers and leave the
// same state. To keep that checkable it only handles what it recognises:
// arguments in plain decimal form (where Lua's string coercion, tonumber
// and Go's parsers agree), and replies of the types the commands give.
// Anything else makes it give up (ok false) before it has issued a write,
// and the VM runs the script from the start; the reads it had issued are
// issued again, which changes nothing but command statistics. Once it has
// written, a command's error reply is answered as the VM answers it:
// redis.call raises it, decorated with the script's SHA1 and line.
// native_test.go runs every native function and the VM side by side over
// random arguments, stored values and failing commands, and requires the
// same replies, the same writes and the same final state.

// nativeFunc runs one script natively for req, appending the reply to out.
// ok false means it wrote nothing (to out or through the host): run the VM.
type nativeFunc func(n *nativeRun, req *Request, out []byte) (_ []byte, ok bool)

// nativeScripts maps a script's SHA1 to its native function. Each is the
// library's script byte for byte (bench/lua holds copies, and the tests
// check these sums against them).
var nativeScripts = map[string]nativeFunc{
	// go-redis/redis_rate v10's allowN, behind Limiter.Allow and AllowN.
	"f52a5b566060d79fd321d695df55bc918339c4aa": nativeRedisRateAllowN,
	// rate-limiter-flexible 11's RateLimiterRedis consume/penalty/reward.
	"a1de965f42e177aa339706bd580f049065eca79a": nativeFlexibleIncrTTL,
	// rate-limit-redis 4-6's increment (express-rate-limit's Redis store).
	"895b92e1712734e1b464999be23953485475357b": nativeRateLimitRedisIncrement,
}

// nativeRun is the scratch space of one native run; runs reuse it.
type nativeRun struct {
	h     Host
	sha   string
	args  [][]byte
	num   []byte
	keep  []byte
	reply []byte
}

var nativeRunPool = sync.Pool{New: func() any { return new(nativeRun) }}

// Command names and constant arguments, as the scripts spell them.
var (
	bTime   = []byte("TIME")
	bGET    = []byte("GET")
	bSET    = []byte("SET")
	bEX     = []byte("EX")
	bPX     = []byte("PX")
	bPTTL   = []byte("PTTL")
	bINCR   = []byte("INCR")
	bset    = []byte("set")
	bincrby = []byte("incrby")
	bpttl   = []byte("pttl")
	bexpire = []byte("expire")
	bEXNX   = [2][]byte{[]byte("EX"), []byte("NX")}
	b0      = []byte("0")
	b1      = []byte("1")
)

// call runs one command as redis.call would (RESP2, the protocol a script
// starts in). The reply is valid until the next call.
func (n *nativeRun) call(args ...[]byte) []byte {
	n.args = append(n.args[:0], args...)
	n.reply = n.h.Call(n.args, 2, n.reply[:0])
	clear(n.args)
	r := n.reply
	if cap(n.reply) > 64<<10 {
		n.reply = nil
	}
	return r
}

// raise answers an error reply r as redis.call raising it at line does.
func (n *nativeRun) raise(out, r []byte, line int) []byte {
	text, _, _ := cutCRLF(r)
	return appendErrorLine(out, decorate(errorReplyText(string(text)), n.sha, line))
}

// replyInt reads an integer reply.
func replyInt(r []byte) (int64, bool) {
	if len(r) < 4 || r[0] != ':' {
		return 0, false
	}
	line, rest, ok := cutCRLF(r[1:])
	if !ok || len(rest) != 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(line), 10, 64)
	return v, err == nil
}

// replyBulk reads a bulk string reply; null is true for a null reply.
func replyBulk(r []byte) (s []byte, null, ok bool) {
	if string(r) == "$-1\r\n" {
		return nil, true, true
	}
	if len(r) < 4 || r[0] != '$' {
		return nil, false, false
	}
	line, rest, ok := cutCRLF(r[1:])
	if !ok {
		return nil, false, false
	}
	l, err := strconv.Atoi(string(line))
	if err != nil || l < 0 || len(rest) != l+2 || rest[l] != '\r' || rest[l+1] != '\n' {
		return nil, false, false
	}
	return rest[:l], false, true
}

func isError(r []byte) bool { return len(r) > 0 && r[0] == '-' }

// appendAsLua appends a command's RESP2 reply r the way a script that
// returns it unchanged answers: converted to a Lua value as redis.call
// does, and back as the script's reply (see parseReply and appendReply).
// Native functions use it for replies of a type their commands never give.
func appendAsLua(out, r []byte, resp int) []byte {
	out, _ = appendAsLuaValue(out, r, resp, 0)
	return out
}

func appendAsLuaValue(out, p []byte, resp, depth int) ([]byte, []byte) {
	if len(p) < 3 || depth > maxReplyDepth {
		return appendNull(out, resp), nil
	}
	kind := p[0]
	line, rest, ok := cutCRLF(p[1:])
	if !ok {
		return appendNull(out, resp), nil
	}
	switch kind {
	case '+':
		out = append(out, '+')
		out = appendFolded(out, string(line))
		return append(out, '\r', '\n'), rest
	case '-':
		return appendErrorLine(out, string(line)), rest
	case ':':
		v, _ := strconv.ParseInt(string(line), 10, 64)
		return appendIntReply(out, luaToInteger(float64(v))), rest
	case '$':
		l, err := strconv.Atoi(string(line))
		if err != nil || l < 0 {
			return appendNull(out, resp), rest
		}
		if len(rest) < l+2 {
			return appendNull(out, resp), nil
		}
		out = appendHeader(out, '$', l)
		out = append(out, rest[:l]...)
		return append(out, '\r', '\n'), rest[l+2:]
	case '*':
		l, err := strconv.Atoi(string(line))
		if err != nil || l < 0 {
			return appendNull(out, resp), rest
		}
		// Elements are never nil in RESP2 (a null is false), so the
		// array keeps them all, unless the reply is cut short.
		var elems [][]byte
		for i := 0; i < l && rest != nil; i++ {
			var e []byte
			e, rest = appendAsLuaValue(nil, rest, resp, depth+1)
			elems = append(elems, e)
		}
		out = appendHeader(out, '*', len(elems))
		for _, e := range elems {
			out = append(out, e...)
		}
		return out, rest
	}
	return appendNull(out, resp), nil
}

// plainNumber parses s if it is -?(0|[1-9][0-9]*)(\.[0-9]+)? in at most 24
// bytes and not a negative zero. For such a string Lua's arithmetic
// coercion (gopher-lua: ParseInt with base 0, else ParseFloat), tonumber
// (ParseFloat) and the integer it spells all give the same float64;
// leading zeros (octal for ParseInt), signs, spaces, exponents, hex and
// negative zero are where they part.
func plainNumber(s []byte) (float64, bool) {
	if len(s) == 0 || len(s) > 24 {
		return 0, false
	}
	i := 0
	if s[0] == '-' {
		i++
	}
	start := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == start || (s[start] == '0' && i-start > 1) {
		return 0, false
	}
	if i < len(s) {
		if s[i] != '.' || i+1 == len(s) {
			return 0, false
		}
		for i++; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
		}
	}
	f, err := strconv.ParseFloat(string(s), 64)
	if err != nil || (f == 0 && s[0] == '-') {
		return 0, false
	}
	return f, true
}

// plainFloat parses s if it is -?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)? in at
// most 32 bytes and in float64's range: there tonumber is ParseFloat.
func plainFloat(s []byte) (float64, bool) {
	if len(s) == 0 || len(s) > 32 {
		return 0, false
	}
	i := 0
	if s[0] == '-' {
		i++
	}
	digits := func() bool {
		start := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if !digits() {
		return 0, false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return 0, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(s), 64)
	return f, err == nil
}

func appendIntReply(b []byte, n int64) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, n, 10)
	return append(b, '\r', '\n')
}

// appendLuaNumberBulk appends tostring(f) as a bulk string.
func appendLuaNumberBulk(b []byte, f float64) []byte {
	var buf [32]byte
	s := appendLuaNumber(buf[:0], f)
	b = appendHeader(b, '$', len(s))
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// nativeRedisRateAllowN is redis_rate's GCRA script: TIME, GET the TAT,
// and SET the new one when the request is allowed. Its only write is its
// last command, so every surprise falls back to the VM. Products are
// converted explicitly so that no compiler fuses them into a
// multiply-add, which the interpreter never does.
func nativeRedisRateAllowN(n *nativeRun, req *Request, out []byte) ([]byte, bool) {
	if len(req.Keys) < 1 || len(req.Args) < 4 {
		return out, false
	}
	burst, ok1 := plainNumber(req.Args[0])
	rate, ok2 := plainNumber(req.Args[1])
	period, ok3 := plainNumber(req.Args[2])
	cost, ok4 := plainNumber(req.Args[3])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return out, false
	}
	key := req.Keys[0]
	emission := period / rate
	increment := float64(emission * cost)
	burstOffset := float64(emission * burst)

	r := n.call(bTime)
	if len(r) < 4 || string(r[:4]) != "*2\r\n" {
		return out, false
	}
	secs, rest, ok := replyBulkPrefix(r[4:])
	if !ok {
		return out, false
	}
	usecs, rest, ok := replyBulkPrefix(rest)
	if !ok || len(rest) != 0 {
		return out, false
	}
	sec, ok1 := plainNumber(secs)
	usec, ok2 := plainNumber(usecs)
	if !ok1 || !ok2 || sec != math.Trunc(sec) || usec != math.Trunc(usec) {
		return out, false
	}
	now := (sec - 1483228800) + (usec / 1000000)

	r = n.call(bGET, key)
	s, null, ok := replyBulk(r)
	if !ok {
		return out, false
	}
	tat := now
	if !null {
		if tat, ok = plainFloat(s); !ok {
			return out, false
		}
	}
	if now > tat { // math.max(tat, now)
		tat = now
	}
	newTAT := tat + increment
	allowAt := newTAT - burstOffset
	diff := now - allowAt
	remaining := diff / emission
	if remaining < 0 {
		resetAfter := tat - now
		retryAfter := float64(diff * -1)
		out = append(out, "*4\r\n:0\r\n:0\r\n"...)
		out = appendLuaNumberBulk(out, retryAfter)
		return appendLuaNumberBulk(out, resetAfter), true
	}
	resetAfter := newTAT - now
	if resetAfter > 0 {
		n.num = appendG(n.num[:0], newTAT, 17)
		mid := len(n.num)
		n.num = appendG(n.num, math.Ceil(resetAfter), 17)
		if r = n.call(bSET, key, n.num[:mid], bEX, n.num[mid:]); isError(r) {
			return out, false // refused: nothing was written
		}
	}
	out = append(out, "*4\r\n"...)
	out = appendIntReply(out, luaToInteger(cost))
	out = appendIntReply(out, luaToInteger(remaining))
	out = append(out, "$2\r\n-1\r\n"...)
	return appendLuaNumberBulk(out, resetAfter), true
}

// replyBulkPrefix reads one non-null bulk string at the start of p.
func replyBulkPrefix(p []byte) (s, rest []byte, ok bool) {
	if len(p) < 4 || p[0] != '$' {
		return nil, nil, false
	}
	line, rest, ok := cutCRLF(p[1:])
	if !ok {
		return nil, nil, false
	}
	l, err := strconv.Atoi(string(line))
	if err != nil || l < 0 || len(rest) < l+2 || rest[l] != '\r' || rest[l+1] != '\n' {
		return nil, nil, false
	}
	return rest[:l], rest[l+2:], true
}

// nativeFlexibleIncrTTL is rate-limiter-flexible's script: SET the key to
// 0 with the TTL if it is absent, INCRBY the points, read its PTTL and
// give it the TTL if it has none; reply {consumed, ttl}. All on line 1.
func nativeFlexibleIncrTTL(n *nativeRun, req *Request, out []byte) ([]byte, bool) {
	if len(req.Keys) < 1 || len(req.Args) < 2 {
		return out, false
	}
	key, points, secs := req.Keys[0], req.Args[0], req.Args[1]
	// 1000 * ARGV[2] coerces the string: keep to where that is exact.
	ttlSecs, ok := plainNumber(secs)
	if !ok || ttlSecs != math.Trunc(ttlSecs) {
		return out, false
	}
	// Every command's error is raised at line 1, as the VM raises it;
	// the replies are kept as Lua would keep them.
	r := n.call(bset, key, b0, bEXNX[0], secs, bEXNX[1])
	if isError(r) {
		return n.raise(out, r, 1), true
	}
	r = n.call(bincrby, key, points)
	if isError(r) {
		return n.raise(out, r, 1), true
	}
	consumed, ok := replyInt(r)
	if !ok {
		// Not what INCRBY answers; keep it for the reply as it is.
		n.keep = append(n.keep[:0], r...)
	}
	r = n.call(bpttl, key)
	if isError(r) {
		return n.raise(out, r, 1), true
	}
	pttl, ttlOK := replyInt(r)
	ttl := float64(pttl)
	if ttlOK && ttl == -1 {
		r = n.call(bexpire, key, secs)
		if isError(r) {
			return n.raise(out, r, 1), true
		}
		ttl = 1000 * ttlSecs
	}
	out = append(out, "*2\r\n"...)
	if ok {
		out = appendIntReply(out, luaToInteger(float64(consumed)))
	} else {
		out = appendAsLua(out, n.keep, req.Resp)
	}
	if !ttlOK {
		return appendAsLua(out, r, req.Resp), true
	}
	return appendIntReply(out, luaToInteger(ttl)), true
}

// nativeRateLimitRedisIncrement is rate-limit-redis's increment script:
// PTTL the key; if it has expired (or has no TTL) SET it to 1 with the
// window, else INCR it. Its one write is its last command.
func nativeRateLimitRedisIncrement(n *nativeRun, req *Request, out []byte) ([]byte, bool) {
	if len(req.Keys) < 1 || len(req.Args) < 1 {
		return out, false
	}
	key := req.Keys[0]
	windowMs, ok := plainNumber(req.Args[0]) // tonumber(ARGV[1])
	if !ok {
		return out, false
	}
	r := n.call(bPTTL, key)
	pttl, ok := replyInt(r)
	if !ok {
		return out, false
	}
	if float64(pttl) <= 0 {
		n.num = appendG(n.num[:0], windowMs, 17)
		if r = n.call(bSET, key, b1, bPX, n.num); isError(r) {
			return out, false
		}
		out = append(out, "*2\r\n:1\r\n"...)
		return appendIntReply(out, luaToInteger(windowMs)), true
	}
	r = n.call(bINCR, key)
	if isError(r) {
		return out, false // refused: nothing was written
	}
	out = append(out, "*2\r\n"...)
	if hits, ok := replyInt(r); ok {
		out = appendIntReply(out, luaToInteger(float64(hits)))
	} else {
		out = appendAsLua(out, r, req.Resp)
	}
	return appendIntReply(out, luaToInteger(float64(pttl))), true
}
