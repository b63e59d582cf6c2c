package tests

import (
	"strconv"
	"testing"
)

// Counters and sorted sets meet limiter keys as they would in Redis with
// redis-cell: a CL.THROTTLE key is a string holding the TAT, so INCR adds
// to it and CL.THROTTLE reads a counter as a TAT; the window limiters'
// keys and sorted sets are other kinds, answered with WRONGTYPE.
func TestCountersAndSetsMeetLimiterKeys(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	wrong := respError("WRONGTYPE Operation against a key holding the wrong kind of value")
	if _, err := rc.do("CL.THROTTLE", "cell", "5", "1", "60"); err != nil {
		t.Fatal(err)
	}
	tat, _ := rc.do("GET", "cell")
	before, err := strconv.ParseInt(string(tat.(bulk)), 10, 64)
	if err != nil {
		t.Fatalf("GET on a limiter key = %v", tat)
	}
	if got, _ := rc.do("INCRBY", "cell", "1000"); got != before+1000 {
		t.Fatalf("INCRBY on a limiter key = %v, TAT was %d", got, before)
	}
	if got, _ := rc.do("TTL", "cell"); got.(int64) < 50 {
		t.Fatalf("INCRBY dropped the limiter key's TTL: %v", got)
	}
	if got, _ := rc.do("SET", "counter", "0"); got != status("OK") {
		t.Fatal(got)
	}
	rc.do("INCR", "counter")
	// A TAT of 1 ns since the epoch is long past: a fresh allowance.
	if got, _ := rc.do("CL.THROTTLE", "counter", "5", "1", "60"); !equalReply(got, []any{int64(0), int64(6), int64(5), int64(-1), int64(60)}) {
		t.Fatalf("CL.THROTTLE on a counter = %v", got)
	}
	rc.do("FW.THROTTLE", "fw", "5", "60")
	rc.do("ZADD", "zs", "1", "a")
	for _, cmd := range [][]string{
		{"INCR", "fw"}, {"INCRBYFLOAT", "fw", "1"}, {"GETDEL", "fw"}, {"ZADD", "fw", "1", "a"}, {"ZCARD", "cell"},
		{"ZRANGE", "counter", "0", "-1"}, {"CL.THROTTLE", "zs", "5", "1", "60"}, {"SW.THROTTLE", "zs", "5", "60"},
		{"SWLOG.THROTTLE", "zs", "5", "60"}, {"GCRA", "zs", "5", "1", "1"}, {"INCR", "zs"}, {"GET", "zs"},
	} {
		if got, _ := rc.do(cmd...); got != wrong {
			t.Errorf("%v = %v, want WRONGTYPE", cmd, got)
		}
	}
	if got, _ := rc.do("TYPE", "zs"); got != status("zset") {
		t.Errorf("TYPE of a sorted set = %v", got)
	}
	if got, _ := rc.do("SCAN", "0", "TYPE", "zset", "COUNT", "1000"); !equalReply(got, []any{bulk("0"), []any{bulk("zs")}}) {
		t.Errorf("SCAN TYPE zset = %v", got)
	}
	// MGET answers nil for keys that are not strings, as Redis does.
	if got, _ := rc.do("MGET", "cell", "fw", "zs", "missing"); !equalReply(got, []any{bulk(strconv.FormatInt(before+1000, 10)), null{}, null{}, null{}}) {
		t.Errorf("MGET across kinds = %v", got)
	}
}
