package script

import (
	"strings"
	"testing"
)

// FuzzEval runs arbitrary scripts and arguments: no panic escapes, every
// reply is one well-formed RESP value, and the memory budget holds (the
// fuzzer's own memory limit catches a runaway). A host tick kills scripts
// that run long, as SCRIPT KILL would.
func FuzzEval(f *testing.F) {
	for _, s := range []string{
		"return 1", "return {1,2,{3}}", "return redis.call('get', KEYS[1])", "error('x')", "error({err='y'})",
		"local t = {} t[1] = t return t", "return cjson.encode(cjson.decode(ARGV[1]))", "while true do end",
		"local s = 'x' while true do s = s .. s end", "return string.format('%99d', 1)", "return loadstring(ARGV[1])()",
		"return {pcall(redis.call)}", "return string.rep('ab', 1e9)", "return coroutine.wrap(function() while true do end end)()",
		"setmetatable({}, {__index = function(t, k) return t[k] end}).x = 1", "return redis.setresp(3), {map={a={set={1,2}}}}",
		"return string.gsub(string.rep('a', 1000), 'a', '%0%0%0')", "return {double=0/0}", "return #ARGV",
		"local t = {} for i = 1, 1e7 do t[i] = {} end", "return bit.tohex(ARGV[1] + 0)",
	} {
		f.Add(s, "k", `[1,"a",{"b":null}]`)
	}
	e := New(Config{MemoryLimit: 16 << 20})
	f.Fuzz(func(t *testing.T, body, key, arg string) {
		h := newFakeHost()
		run := &Run{}
		h.onTick = func() {
			if h.ticks > 50 {
				run.Kill()
			}
		}
		out := e.Eval(&Request{Body: []byte(body), Keys: [][]byte{[]byte(key)}, Args: [][]byte{[]byte(arg)}, Resp: 3, Host: h, Run: run}, nil)
		rest, ok := oneValue(out)
		if !ok || len(rest) != 0 {
			t.Fatalf("%q: malformed reply %q", body, out)
		}
	})
}

// oneValue checks that p starts with one complete RESP value and returns
// what follows it.
func oneValue(p []byte) ([]byte, bool) {
	i := strings.Index(string(p), "\r\n")
	if len(p) < 3 || i < 1 {
		return nil, false
	}
	line, rest := string(p[1:i]), p[i+2:]
	n, neg := 0, strings.HasPrefix(line, "-")
	for _, c := range strings.TrimPrefix(line, "-") {
		if c < '0' || c > '9' {
			n = -1
			break
		}
		n = n*10 + int(c-'0')
	}
	switch p[0] {
	case '+', '-', ':', ',', '(', '#', '_':
		return rest, true
	case '$', '=':
		if neg {
			return rest, true
		}
		if n < 0 || len(rest) < n+2 {
			return nil, false
		}
		return rest[n+2:], true
	case '*', '~', '%':
		if neg {
			return rest, true
		}
		if n < 0 {
			return nil, false
		}
		if p[0] == '%' {
			n *= 2
		}
		for range n {
			var ok bool
			if rest, ok = oneValue(rest); !ok {
				return nil, false
			}
		}
		return rest, true
	}
	return nil, false
}
