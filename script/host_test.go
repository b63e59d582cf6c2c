package script

import (
	"strconv"
	"strings"
	"testing"
)

// fakeHost is a tiny command table for the package's own tests: a string
// keyspace with GET, SET, INCR, DEL, TIME, PING, and Redis's errors for
// unknown commands. The server's real table is exercised end to end in tests/.
type fakeHost struct {
	data   map[string]string
	calls  int
	ticks  int
	onTick func()
}

func newFakeHost() *fakeHost { return &fakeHost{data: map[string]string{}} }

func bulk(b []byte, s string) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, "\r\n"...)
	b = append(b, s...)
	return append(b, "\r\n"...)
}

func (h *fakeHost) Tick() {
	h.ticks++
	if h.onTick != nil {
		h.onTick()
	}
}

// ACLCheck allows everything but "flushall"; "nosuch" is unknown.
func (h *fakeHost) ACLCheck(args [][]byte) (allowed, known bool) {
	switch strings.ToLower(string(args[0])) {
	case "nosuch":
		return false, false
	case "flushall":
		return false, true
	}
	return true, true
}

func (h *fakeHost) Call(args [][]byte, resp int, out []byte) []byte {
	h.calls++
	switch strings.ToLower(string(args[0])) {
	case "get":
		if len(args) != 2 {
			return append(out, "-ERR Wrong number of args calling Redis command from script\r\n"...)
		}
		v, ok := h.data[string(args[1])]
		if !ok {
			if resp == 3 {
				return append(out, "_\r\n"...)
			}
			return append(out, "$-1\r\n"...)
		}
		return bulk(out, v)
	case "set":
		h.data[string(args[1])] = string(args[2])
		return append(out, "+OK\r\n"...)
	case "incr":
		n, err := strconv.ParseInt(h.data[string(args[1])], 10, 64)
		if err != nil && h.data[string(args[1])] != "" {
			return append(out, "-ERR value is not an integer or out of range\r\n"...)
		}
		n++
		h.data[string(args[1])] = strconv.FormatInt(n, 10)
		return append(append(append(out, ':'), strconv.FormatInt(n, 10)...), "\r\n"...)
	case "time":
		return append(out, "*2\r\n$10\r\n1700000000\r\n$6\r\n123456\r\n"...)
	case "ping":
		return append(out, "+PONG\r\n"...)
	case "hmap":
		if resp == 3 {
			return append(out, "%1\r\n$1\r\na\r\n:1\r\n"...)
		}
		return append(out, "*2\r\n$1\r\na\r\n:1\r\n"...)
	}
	return append(out, "-ERR Unknown Redis command called from script\r\n"...)
}

func evalT(t testing.TB, e *Engine, h Host, script string, keys, args []string) string {
	t.Helper()
	req := &Request{Body: []byte(script), Resp: 2, Host: h}
	for _, k := range keys {
		req.Keys = append(req.Keys, []byte(k))
	}
	for _, a := range args {
		req.Args = append(req.Args, []byte(a))
	}
	return string(e.Eval(req, nil))
}

func TestSmoke(t *testing.T) {
	e := New(Config{})
	h := newFakeHost()
	for _, c := range []struct{ script, want string }{
		{"return 1", ":1\r\n"},
		{"return 3.99", ":3\r\n"},
		{"return {1,2,3.7,'x',false,nil,5}", "*5\r\n:1\r\n:2\r\n:3\r\n$1\r\nx\r\n$-1\r\n"},
		{"return tostring(0.1+0.2)", "$3\r\n0.3\r\n"},
		{"return 0.1+0.2 .. ''", "$3\r\n0.3\r\n"},
		{"x = 1", "-ERR user_script:1: Attempt to modify a readonly table script: 34bce5f775de97f557a34088509c8bfe1ea17e52, on @user_script:1.\r\n"},
		{"return x", "-ERR user_script:1: Script attempted to access nonexistent global variable 'x' script: 03c387736bb5cc009ff35151572cee04677aa374, on @user_script:1.\r\n"},
		{"return redis.call('nosuch')", "-ERR Unknown Redis command called from script script: SHA, on @user_script:1.\r\n"},
		{"return error('boom')", "-ERR user_script:1: boom script: SHA, on @user_script:1.\r\n"},
		{"local ok, e = pcall(redis.call, 'nosuch'); return e", "$44\r\nERR Unknown Redis command called from script\r\n"},
		{"return redis.error_reply('-bad thing')", "-bad thing\r\n"},
		{"return cjson.encode({1,2,{a=1}})", "$13\r\n[1,2,{\"a\":1}]\r\n"},
		{"return bit.tohex(-1)", "$8\r\nffffffff\r\n"},
		{"return redis.sha1hex('')", "$40\r\nda39a3ee5e6b4b0d3255bfef95601890afd80709\r\n"},
		{"rawset(_G, 'x', 1); return 1", "-ERR Attempt to modify a readonly table script: 76735966bd59eaf0fae356abcc6b1c8eba37a04f, on @user_script:1.\r\n"},
		{"return string.format('%d %s %5.2f %q', 3.7, 1.5, 2.345, 'a\\nb')", "$18\r\n3 1.5  2.35 \"a\\\nb\"\r\n"},
		{"return loadstring('return 1+1')()", ":2\r\n"},
		{"return {redis.acl_check_cmd('get', 'k'), redis.acl_check_cmd('flushall')}", "*2\r\n:1\r\n$-1\r\n"},
		{"return redis.acl_check_cmd('nosuch')", "-ERR Invalid command passed to redis.acl_check_cmd() script: SHA, on @user_script:1.\r\n"},
		{"return redis.acl_check_cmd()", "-ERR Please specify at least one argument for this redis lib call script: SHA, on @user_script:1.\r\n"},
		{"return redis.acl_check_cmd('set', {})", "-ERR Lua redis lib command arguments must be strings or integers script: SHA, on @user_script:1.\r\n"},
	} {
		want := strings.ReplaceAll(c.want, "SHA", SHA1Hex([]byte(c.script)))
		if got := evalT(t, e, h, c.script, nil, nil); got != want {
			t.Errorf("%s:\n got %q\nwant %q", c.script, got, want)
		}
	}
}

const redisRateScript = `
redis.replicate_commands()
local rate_limit_key = KEYS[1]
local burst = ARGV[1]
local rate = ARGV[2]
local period = ARGV[3]
local cost = tonumber(ARGV[4])
local emission_interval = period / rate
local increment = emission_interval * cost
local burst_offset = emission_interval * burst
local jan_1_2017 = 1483228800
local now = redis.call("TIME")
now = (now[1] - jan_1_2017) + (now[2] / 1000000)
local tat = redis.call("GET", rate_limit_key)
if not tat then
  tat = now
else
  tat = tonumber(tat)
end
tat = math.max(tat, now)
local new_tat = tat + increment
local allow_at = new_tat - burst_offset
local diff = now - allow_at
local remaining = diff / emission_interval
if remaining < 0 then
  local reset_after = tat - now
  local retry_after = diff * -1
  return {0, 0, tostring(retry_after), tostring(reset_after)}
end
local reset_after = new_tat - now
if reset_after > 0 then
  redis.call("SET", rate_limit_key, new_tat, "EX", math.ceil(reset_after))
end
local retry_after = -1
return {cost, remaining, tostring(retry_after), tostring(reset_after)}
`

func BenchmarkRedisRateScript(b *testing.B) {
	e := New(Config{})
	h := newFakeHost()
	sha, err := e.Load([]byte(redisRateScript))
	if err != nil {
		b.Fatal(err)
	}
	req := &Request{SHA: []byte(sha), Keys: [][]byte{[]byte("k")}, Args: [][]byte{[]byte("10"), []byte("10"), []byte("1"), []byte("1")}, Resp: 2, Host: h}
	var out []byte
	b.ReportAllocs()
	for b.Loop() {
		h.data["k"] = "216771200.5"
		out = e.Eval(req, out[:0])
	}
	b.Log(string(out))
}
