package tests

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func infoField(t *testing.T, rc *rawConn, section, field string) string {
	t.Helper()
	v, err := rc.do("INFO", section)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(v.(bulk)), "\r\n") {
		if k, val, ok := strings.Cut(line, ":"); ok && k == field {
			return val
		}
	}
	t.Fatalf("INFO %s has no %s", section, field)
	return ""
}

// noeviction: at maxmemory new keys get Redis's OOM error; existing keys
// keep being limited; deleting keys makes room again.
func TestMaxMemoryNoEviction(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--maxmemory", "64kb")
	rc := newRaw(dial(t, srv.Addr))
	var oomAt int
	first := time.Now() // before mm:0's first call
	for i := range 5000 {
		got, err := rc.do("CL.THROTTLE", "mm:"+strconv.Itoa(i), "5", "1", "60")
		if err != nil {
			t.Fatal(err)
		}
		if got == respError("OOM command not allowed when used memory > 'maxmemory'.") {
			oomAt = i
			break
		}
	}
	if oomAt == 0 || oomAt > 2000 {
		t.Fatalf("OOM after %d keys with a 64 KiB limit", oomAt)
	}
	// mm:0's second call: one token left of the first call's five, and
	// full again two periods after the first call, i.e. 120 s less the
	// time since it (whole seconds; filling memory under -race on a loaded
	// machine can take more than one).
	got, _ := rc.do("CL.THROTTLE", "mm:0", "5", "1", "60")
	since := int64(math.Ceil(time.Since(first).Seconds()))
	r, _ := got.([]any)
	if len(r) != 5 || !equalReply(r[:4], []any{int64(0), int64(6), int64(4), int64(-1)}) {
		t.Fatalf("an existing key at maxmemory: %#v", got)
	}
	if reset, ok := r[4].(int64); !ok || reset > 120 || reset < 120-since {
		t.Fatalf("an existing key at maxmemory, %d s after its first call: %#v", since, got)
	}
	if got, _ := rc.do("SET", "mm:new", "x"); got != respError("OOM command not allowed when used memory > 'maxmemory'.") {
		t.Fatalf("SET of a new key at maxmemory: %#v", got)
	}
	for i := range 100 {
		rc.do("DEL", "mm:"+strconv.Itoa(i))
	}
	if got, _ := rc.do("CL.THROTTLE", "mm:again", "5", "1", "60"); !equalReply(got, []any{int64(0), int64(6), int64(5), int64(-1), int64(60)}) {
		t.Fatalf("after freeing room: %#v", got)
	}
	if used, _ := strconv.Atoi(infoField(t, rc, "memory", "used_memory")); used > 64<<10+200 {
		t.Fatalf("used_memory %d above maxmemory", used)
	}
}

// volatile-ttl: keys nearest to expiry make room; persistent keys stay.
func TestMaxMemoryVolatileTTL(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--maxmemory", "64kb", "--maxmemory-policy", "volatile-ttl")
	rc := newRaw(dial(t, srv.Addr))
	for i := range 100 {
		if got, _ := rc.do("SET", "keep:"+strconv.Itoa(i), "1"); got != status("OK") {
			t.Fatalf("SET = %v", got)
		}
	}
	for i := range 5000 {
		got, err := rc.do("CL.THROTTLE", "vt:"+strconv.Itoa(i), "5", "1", "60")
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got.([]any); !ok {
			t.Fatalf("key %d: %#v (volatile-ttl must evict instead)", i, got)
		}
	}
	if n, _ := strconv.Atoi(infoField(t, rc, "stats", "evicted_keys")); n < 3000 {
		t.Fatalf("evicted_keys = %d", n)
	}
	for i := range 100 {
		if got, _ := rc.do("EXISTS", "keep:"+strconv.Itoa(i)); got != int64(1) {
			t.Fatalf("persistent key keep:%d was evicted", i)
		}
	}
	if got, _ := rc.do("CONFIG", "GET", "maxmemory*"); !equalReply(got, []any{bulk("maxmemory"), bulk("65536"), bulk("maxmemory-policy"), bulk("volatile-ttl")}) {
		t.Fatalf("CONFIG GET maxmemory* = %#v", got)
	}
}

func TestInfoKeyspaceCountsExpires(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	rc.do("CL.THROTTLE", "ks:a", "1", "1", "60")
	rc.do("SET", "ks:b", "v")
	rc.do("SET", "ks:c", "v", "EX", "100")
	rc.do("PERSIST", "ks:c")
	// avg_ttl: the limiter key is full again 60 s after its call.
	got := infoField(t, rc, "keyspace", "db0")
	ttl, ok := strings.CutPrefix(got, "keys=3,expires=1,avg_ttl=")
	if n := atoi(ttl); !ok || n > 60000 || n < 50000 {
		t.Fatalf("INFO keyspace db0 = %q", got)
	}
}

// TestMaxMemoryRefusesGrowth: over maxmemory every write that may grow
// memory is refused with Redis's OOM error, also on existing keys (SET of
// 32 KB values; a sliding log that would get longer), while limiter keys
// whose state is updated in place keep working (issue 8, item 11). Redis 7
// answers the same SETs the same way.
func TestMaxMemoryRefusesGrowth(t *testing.T) {
	t.Parallel()
	const oom = respError("OOM command not allowed when used memory > 'maxmemory'.")
	srv := startServer(t, "--maxmemory", "1mb")
	rc := newRaw(dial(t, srv.Addr))
	ref := startRedisRef(t)
	big := strings.Repeat("v", 32<<10)
	limiters := [][]string{
		{"CL.THROTTLE", "lim:gcra", "100", "1", "60"},
		{"GCRA", "lim:gcra", "100", "1", "60"},
		{"FW.THROTTLE", "lim:fw", "100", "3600"},
		{"SW.THROTTLE", "lim:sw", "100", "3600"},
		{"SWLOG.THROTTLE", "lim:log", "100", "3600"},
	}
	for _, cmd := range limiters {
		if got, _ := rc.do(cmd...); !isReply5(got) {
			t.Fatalf("%v = %#v", cmd, got)
		}
	}
	for _, c := range []*rawConn{rc, ref} {
		if got, _ := c.do("INCR", "ctr"); got != int64(1) {
			t.Fatalf("INCR = %#v", got)
		}
	}
	// Fill rlserver with new keys until it refuses one.
	fill := func(rc *rawConn, name string) {
		t.Helper()
		for i := range 100 {
			got, err := rc.do("SET", "big:"+strconv.Itoa(i), big)
			if err != nil {
				t.Fatal(err)
			}
			if got == oom {
				if i < 4 {
					t.Fatalf("%s: OOM after only %d values", name, i)
				}
				return
			}
			if got != status("OK") {
				t.Fatalf("%s: SET = %#v", name, got)
			}
		}
		t.Fatalf("%s: 3 MB of values under a 1 MB maxmemory", name)
	}
	fill(rc, "rlserver")
	// Redis counts client buffers in used_memory, so right at the limit its
	// answer flips with them: fill it first, then set a limit well below.
	for i := range 4 {
		if got, _ := ref.do("SET", "big:"+strconv.Itoa(i), big); got != status("OK") {
			t.Fatalf("redis: SET = %#v", got)
		}
	}
	if got, _ := ref.do("CONFIG", "SET", "maxmemory", "1mb"); got != status("OK") {
		t.Fatalf("redis: CONFIG SET maxmemory = %#v", got)
	}
	// Overwrites of existing keys: refused by both, whatever the size.
	for i := range 30 {
		key := "big:" + strconv.Itoa(i%3)
		for name, c := range map[string]*rawConn{"rlserver": rc, "redis": ref} {
			if got, _ := c.do("SET", key, big); got != oom {
				t.Fatalf("%s: SET of an existing key over maxmemory = %#v", name, got)
			}
		}
	}
	// Every other write Redis flags deny-oom is refused as well on keys that
	// exist (counters, SETEX, SETNX, MSET ...), by both servers.
	for _, cmd := range [][]string{{"INCR", "ctr"}, {"INCRBY", "ctr", "5"}, {"DECR", "ctr"}, {"DECRBY", "ctr", "x"},
		{"INCRBYFLOAT", "ctr", "1.5"}, {"SETEX", "big:0", "100", big}, {"PSETEX", "big:0", "100000", "x"},
		{"SETNX", "big:0", "x"}, {"MSET", "big:0", "x", "big:1", "y"}, {"MSETNX", "big:0", "x"}} {
		for name, c := range map[string]*rawConn{"rlserver": rc, "redis": ref} {
			if got, _ := c.do(cmd...); got != oom {
				t.Errorf("%s: %.30q over maxmemory = %#v", name, cmd, got)
			}
		}
	}
	if got, _ := rc.do("SET", "big:0", "x", "BADOPTION"); got != oom {
		t.Fatalf("SET is refused before its arguments are parsed, as in Redis: %#v", got)
	}
	if used, _ := strconv.Atoi(infoField(t, rc, "memory", "used_memory")); used > 1<<20+40<<10 {
		t.Fatalf("used_memory %d: writes grew memory past maxmemory", used)
	}
	// Limiter keys that exist keep working where their state does not grow.
	for _, cmd := range limiters[:4] {
		if got, _ := rc.do(cmd...); !isReply5(got) {
			t.Fatalf("%v over maxmemory = %#v", cmd, got)
		}
	}
	if got, _ := rc.do("SWLOG.THROTTLE", "lim:log", "100", "3600"); got != oom {
		t.Fatalf("SWLOG growth over maxmemory = %#v", got)
	}
	for _, cmd := range [][]string{{"SWLOG.THROTTLE", "lim:log", "100", "3600", "0"}, {"SWLOG.PEEK", "lim:log", "100", "3600"}, {"SWLOG.THROTTLE", "lim:log", "1", "3600"}} {
		if got, _ := rc.do(cmd...); !isReply5(got) {
			t.Fatalf("%v (no growth) over maxmemory = %#v", cmd, got)
		}
	}
	for _, cmd := range [][]string{{"FW.THROTTLE", "new:fw", "1", "60"}, {"SWLOG.THROTTLE", "new:log", "1", "60"}, {"CL.THROTTLE", "new:g", "1", "1", "60"}} {
		if got, _ := rc.do(cmd...); got != oom {
			t.Fatalf("%v creating a key over maxmemory = %#v", cmd, got)
		}
	}
	if got, _ := rc.do("EXPIRE", "big:0", "100"); got != int64(1) {
		t.Fatalf("EXPIRE over maxmemory = %#v", got)
	}
	for i := range 4 {
		rc.do("DEL", "big:"+strconv.Itoa(i))
	}
	if got, _ := rc.do("SET", "big:0", "small"); got != status("OK") {
		t.Fatalf("SET after DEL made room = %#v", got)
	}
}

func isReply5(v any) bool {
	arr, ok := v.([]any)
	return ok && len(arr) == 5
}
