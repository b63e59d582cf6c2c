package tests

import (
	"strconv"
	"strings"
	"testing"
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
	if got, _ := rc.do("CL.THROTTLE", "mm:0", "5", "1", "60"); !equalReply(got, []any{int64(0), int64(6), int64(4), int64(-1), int64(120)}) {
		t.Fatalf("an existing key at maxmemory: %#v", got)
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
	if got := infoField(t, rc, "keyspace", "db0"); got != "keys=3,expires=1,avg_ttl=0" {
		t.Fatalf("INFO keyspace db0 = %q", got)
	}
}
