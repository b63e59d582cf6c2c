package script

import (
	"fmt"
	"strings"
	"testing"
)

// TestCompileLimits: scripts whose compiling gopher-lua makes slow
// (deep nesting, operator chains, many distinct constants) or wrong (a
// constructor past 25550 positional fields) are refused with a compile
// error; before, they compiled for seconds to minutes on the event loop,
// or ran with their fields at the wrong indices. Redis refuses the nested
// ones too (tests/ compares the boundaries with it).
func TestCompileLimits(t *testing.T) {
	t.Parallel()
	var consts strings.Builder
	consts.WriteString("local x = 0 ")
	for i := range 20000 {
		fmt.Fprintf(&consts, "x = x + %d ", i)
	}
	consts.WriteString("return x")
	for _, c := range []struct{ name, body, want string }{
		{"blocks", strings.Repeat("do ", 300) + strings.Repeat(" end", 300), "chunk has too many syntax levels"},
		{"not", "return " + strings.Repeat("not ", 300) + "1", "chunk has too many syntax levels"},
		{"minus", "return " + strings.Repeat("- ", 300) + "1", "chunk has too many syntax levels"},
		{"pow", "return 2" + strings.Repeat("^2", 300), "chunk has too many syntax levels"},
		{"concat", "return 'a'" + strings.Repeat("..'a'", 300), "chunk has too many syntax levels"},
		{"calls", "local function f(x) return x end return " + strings.Repeat("f(", 300) + "1" + strings.Repeat(")", 300), "chunk has too many syntax levels"},
		{"constants", consts.String(), "constant table overflow"},
		{"constructor", "return #{" + strings.Repeat("1,", 30000) + "}", "table constructor with more than 25550 positional fields"},
	} {
		_, err := compile([]byte(c.body))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "ERR Error compiling script (new function): user_script:") {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	// What real scripts do stays well within.
	for _, body := range []string{
		"local a = {" + strings.Repeat("1,", 25550) + "} return #a",
		"return 'a'" + strings.Repeat("..'a'", 150),
		"local t = {} for i = 1, 10 do t[i] = -(-(#t)) ^ 2 end return t",
		"local x = [==[ (((( ]] ]==] -- [[ ((((\nreturn x",
	} {
		if _, err := compile([]byte(body)); err != nil {
			t.Errorf("%.40q: %v", body, err)
		}
	}
}

// TestReplyWithinMemoryLimit: a reply that repeats one string many times
// (cheap to build in Lua) is refused once it outgrows the script's memory
// limit, instead of being built in full in the client's output buffer.
func TestReplyWithinMemoryLimit(t *testing.T) {
	t.Parallel()
	e := New(Config{MemoryLimit: 1 << 20})
	h := newFakeHost()
	got := evalT(t, e, h, "local s = string.rep('x', 1000) local t = {} for i = 1, 5000 do t[i] = s end return t", nil, nil)
	if !strings.HasPrefix(got, "-"+errMemory+" script: ") {
		t.Fatalf("5 MB reply under a 1 MB limit: %.80q", got)
	}
	got = evalT(t, e, h, "local s = string.rep('x', 1000) local t = {} for i = 1, 500 do t[i] = s end return #t, t", nil, nil)
	if got != ":500\r\n" {
		t.Fatalf("within the limit: %.80q", got)
	}
	got = evalT(t, e, h, "local s = string.rep('x', 1000) local t = {} for i = 1, 500 do t[i] = s end return t", nil, nil)
	if len(got) < 500*1000 || !strings.HasPrefix(got, "*500\r\n$1000\r\n") {
		t.Fatalf("within the limit: %.80q", got)
	}
}

// TestRedisCallTrafficChecksHeap: a loop storing a long string is stopped
// by the memory limit after a few calls, not after the next few thousand
// instructions (which can store gigabytes).
func TestRedisCallTrafficChecksHeap(t *testing.T) {
	t.Parallel()
	e := New(Config{MemoryLimit: 8 << 20})
	h := newFakeHost()
	got := evalT(t, e, h, "local s = string.rep('x', 1e6) for i = 1, 200 do redis.call('set', 'k' .. i, s) end return 'done'", nil, nil)
	if !strings.HasPrefix(got, "-"+errMemory+" script: ") {
		t.Fatalf("200 MB stored under an 8 MB limit: %.80q", got)
	}
	if len(h.data) >= 100 {
		t.Fatalf("%d values of 1 MB stored before the script was stopped", len(h.data))
	}
}

// TestStackOverflowIsAScriptError: a stack gopher-lua cannot grow further
// fails the script with an error reply; the error used to escape Eval as
// a panic (its handler needs a stack slot too).
func TestStackOverflowIsAScriptError(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	h := newFakeHost()
	got := evalT(t, e, h, "local function f(n, ...) if n == 0 then return 0 end return 1 + f(n - 1, ...) end return f(190, unpack({}, 1, 7990))", nil, nil)
	if !strings.HasPrefix(got, "-ERR user_script:1: registry overflow script: ") {
		t.Fatalf("reply: %.120q", got)
	}
	if got := evalT(t, e, h, "return 1", nil, nil); got != ":1\r\n" {
		t.Fatalf("next script: %q", got)
	}
}

// TestEvalCacheBoundedByBytes: scripts cached because EVAL ran them are
// evicted by total source size too, not only by count (a compiled script
// takes about ten times its source).
func TestEvalCacheBoundedByBytes(t *testing.T) {
	t.Parallel()
	e := New(Config{MaxEvalBytes: 1000})
	h := newFakeHost()
	for i := range 10 {
		body := fmt.Sprintf("return %d --%s", i, strings.Repeat("x", 290))
		if got := evalT(t, e, h, body, nil, nil); got != fmt.Sprintf(":%d\r\n", i) {
			t.Fatalf("script %d: %q", i, got)
		}
	}
	if n := e.Len(); n > 3 {
		t.Fatalf("%d scripts of 300 bytes cached under a 1000-byte bound", n)
	}
	// SCRIPT LOAD'ed scripts are not evicted by it.
	for i := range 5 {
		if _, err := e.Load([]byte(fmt.Sprintf("return %d --%s", 100+i, strings.Repeat("x", 290)))); err != nil {
			t.Fatal(err)
		}
	}
	evalT(t, e, h, "return 1", nil, nil)
	if n := e.Len(); n < 6 {
		t.Fatalf("loaded scripts evicted: %d cached", n)
	}
}
