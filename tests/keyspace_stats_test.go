package tests

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func keyspaceStats(t *testing.T, rc *rawConn) (hits, misses int64) {
	t.Helper()
	return atoi(infoField(t, rc, "stats", "keyspace_hits")), atoi(infoField(t, rc, "stats", "keyspace_misses"))
}

// INFO keyspace_hits and keyspace_misses move as Redis 7's do: reads count
// each key they look up, found or not (a key of another kind is found);
// writes, SCAN, KEYS and DBSIZE count nothing; scripts' commands count;
// CONFIG RESETSTAT zeroes both.
func TestKeyspaceHitsMissesLikeRedis(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ours := newRaw(dial(t, srv.Addr))
	ref := startRedisRef(t)
	script := [][]string{
		{"GET", "a"}, {"SET", "a", "1"}, {"GET", "a"}, {"STRLEN", "a"}, {"STRLEN", "nope"},
		{"TYPE", "a"}, {"TYPE", "nope"}, {"TTL", "a"}, {"PTTL", "nope"}, {"EXPIRETIME", "a"}, {"PEXPIRETIME", "nope"},
		{"EXISTS", "a", "nope", "a"}, {"MGET", "a", "nope"}, {"GETEX", "a"}, {"GETEX", "nope"},
		{"GETDEL", "a"}, {"GETDEL", "a"}, {"SET", "b", "1", "GET"}, {"SET", "b", "2", "GET"},
		{"SET", "b", "3", "NX"}, {"INCR", "c"}, {"INCRBY", "c", "2"}, {"INCRBYFLOAT", "c", "1.5"}, {"SETNX", "d", "1"},
		{"EXPIRE", "c", "100"}, {"PERSIST", "c"}, {"DEL", "d", "nope"}, {"MSET", "e", "1", "f", "2"},
		{"ZADD", "z", "1", "m", "2", "n"}, {"ZSCORE", "z", "m"}, {"ZSCORE", "nz", "m"}, {"ZCARD", "z"}, {"ZCARD", "nz"},
		{"ZRANGE", "z", "0", "-1"}, {"ZRANGEBYSCORE", "nz", "0", "1"}, {"ZCOUNT", "z", "0", "1"}, {"ZLEXCOUNT", "nz", "-", "+"},
		{"ZRANK", "z", "n"}, {"ZMSCORE", "z", "m", "x"}, {"ZREM", "z", "n"}, {"ZPOPMIN", "nz"}, {"ZREMRANGEBYRANK", "z", "5", "6"},
		{"GET", "z"}, {"ZSCORE", "b", "m"}, // another kind: found, then WRONGTYPE
		{"SCAN", "0"}, {"KEYS", "*"}, {"DBSIZE"},
		{"EVAL", "return redis.call('GET', KEYS[1])", "1", "b"},
		{"EVAL", "return redis.call('EXISTS', KEYS[1], KEYS[2])", "2", "b", "nope"},
	}
	var want [2]int64
	for i, cmd := range script {
		a, aerr := ours.do(cmd...)
		b, berr := ref.do(cmd...)
		if (aerr == nil) != (berr == nil) {
			t.Fatalf("%v: %v %v / %v %v", cmd, a, aerr, b, berr)
		}
		h1, m1 := keyspaceStats(t, ours)
		h2, m2 := keyspaceStats(t, ref)
		if h1 != h2 || m1 != m2 {
			t.Fatalf("after %d %v: hits/misses %d/%d here, %d/%d in Redis", i, cmd, h1, m1, h2, m2)
		}
		want = [2]int64{h2, m2}
	}
	if want[0] < 20 || want[1] < 10 {
		t.Fatalf("the script hardly counts: %v", want)
	}
	for _, rc := range []*rawConn{ours, ref} {
		if _, err := rc.do("CONFIG", "RESETSTAT"); err != nil {
			t.Fatal(err)
		}
		if h, m := keyspaceStats(t, rc); h != 0 || m != 0 {
			t.Errorf("after CONFIG RESETSTAT: %d/%d", h, m)
		}
	}
}

// Limiter checks count their key as redis-cell's CL.THROTTLE does (it
// reads the key first): a new key misses, an existing one hits; a call
// refused before the lookup counts nothing.
func TestKeyspaceHitsMissesLimiters(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	for i, s := range []struct {
		cmd          []string
		hits, misses int64
	}{
		{[]string{"CL.THROTTLE", "g", "5", "5", "60"}, 0, 1},
		{[]string{"CL.THROTTLE", "g", "5", "5", "60"}, 1, 0},
		{[]string{"CL.PEEK", "g", "5", "5", "60"}, 1, 0},
		{[]string{"CL.PEEK", "new", "5", "5", "60"}, 0, 1},
		{[]string{"GCRA", "g2", "5", "5", "60"}, 0, 1},
		{[]string{"SW.THROTTLE", "w", "5", "60"}, 0, 1},
		{[]string{"SW.THROTTLE", "w", "5", "60"}, 1, 0},
		{[]string{"SWLOG.THROTTLE", "l", "5", "60"}, 0, 1},
		{[]string{"FW.PEEK", "f", "5", "60"}, 0, 1},
		{[]string{"FW.THROTTLE", "g", "5", "60"}, 1, 0},      // WRONGTYPE: found
		{[]string{"CL.THROTTLE", "g", "x", "5", "60"}, 0, 0}, // refused before the lookup
		{[]string{"CL.THROTTLE", "g", "5", "0", "60"}, 0, 0}, // zero rate
		{[]string{"SW.THROTTLE", "w", "0", "60"}, 0, 0},
	} {
		h0, m0 := keyspaceStats(t, rc)
		if _, err := rc.do(s.cmd...); err != nil {
			t.Fatal(err)
		}
		h1, m1 := keyspaceStats(t, rc)
		if h1-h0 != s.hits || m1-m0 != s.misses {
			t.Errorf("step %d %v: +%d hits +%d misses, want +%d +%d", i, s.cmd, h1-h0, m1-m0, s.hits, s.misses)
		}
	}
}

// INFO keyspace's avg_ttl is the mean time to live, in ms, of the keys
// with an expiry (was always 0).
func TestKeyspaceAvgTTL(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	if _, err := rc.do("SET", "persistent", "1"); err != nil {
		t.Fatal(err)
	}
	var cmds [][]string
	var sum int64
	for i := range 100 {
		ttl := int64(100_000 + 1000*i) // 100 s to 199 s
		sum += ttl
		cmds = append(cmds, []string{"SET", "k" + strconv.Itoa(i), "v", "PX", strconv.FormatInt(ttl, 10)})
	}
	// Limiter keys expire too (when their state is back to full).
	cmds = append(cmds, []string{"CL.THROTTLE", "g", "0", "1", "300"}) // full again in 300 s
	sum += 300_000
	start := time.Now()
	if _, err := rc.pipeline(cmds...); err != nil {
		t.Fatal(err)
	}
	db0 := infoField(t, rc, "keyspace", "db0")
	elapsed := time.Since(start).Milliseconds() + 1
	_, avgField, ok := strings.Cut(db0, "avg_ttl=")
	if !ok || !strings.HasPrefix(db0, "keys=102,expires=101,") {
		t.Fatalf("db0:%s", db0)
	}
	// Fewer keys than the per-shard sample: every key is summed.
	mean := sum / 101
	if avg := atoi(avgField); avg > mean || avg < mean-elapsed-1 {
		t.Errorf("avg_ttl %d, want the mean %d less at most %d ms elapsed", avg, mean, elapsed)
	}
}
