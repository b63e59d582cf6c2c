package tests

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestLimiterFamilyGoRedis drives every native limiter command through
// go-redis: plain, pipelined and inside MULTI/EXEC.
func TestLimiterFamilyGoRedis(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	ints := func(args ...any) []int64 {
		t.Helper()
		v, err := rdb.Do(ctx, args...).Int64Slice()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return v
	}
	for _, cmd := range []string{"SW", "SWLOG", "FW"} {
		key := "family:" + cmd
		first := ints(cmd+".THROTTLE", key, 3, 60)
		if first[0] != 0 || first[1] != 3 || first[2] != 2 || first[3] != -1 || first[4] < 1 || first[4] > 120 {
			t.Fatalf("%s first call = %v", cmd, first)
		}
		// PEEK answers what THROTTLE would (remaining after the take)
		// and takes nothing: asking twice gives the same answer.
		peek := ints(cmd+".PEEK", key, 3, 60)
		if again := ints(cmd+".PEEK", key, 3, 60); peek[2] != 1 || !slices.Equal(peek, again) {
			t.Fatalf("%s.PEEK = %v then %v, want remaining 1 twice", cmd, peek, again)
		}
		pipe := rdb.Pipeline()
		var cmds []*redis.Cmd
		for range 3 {
			cmds = append(cmds, pipe.Do(ctx, cmd+".THROTTLE", key, 3, 60))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		var limited []int64
		for _, c := range cmds {
			v, _ := c.Int64Slice()
			limited = append(limited, v[0])
		}
		if !slices.Equal(limited, []int64{0, 0, 1}) {
			t.Fatalf("%s pipelined limited flags = %v", cmd, limited)
		}
		typ := rdb.Type(ctx, key).Val()
		if want := map[string]string{"SW": "sliding-window", "SWLOG": "sliding-log", "FW": "fixed-window"}[cmd]; typ != want {
			t.Fatalf("TYPE %s = %q, want %q", key, typ, want)
		}
		if err := rdb.Get(ctx, key).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
			t.Fatalf("GET on a %s key: %v", cmd, err)
		}
		if err := rdb.Do(ctx, "CL.THROTTLE", key, 1, 1, 60).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
			t.Fatalf("CL.THROTTLE on a %s key: %v", cmd, err)
		}
		if ttl := rdb.TTL(ctx, key).Val(); ttl <= 0 {
			t.Fatalf("%s key has no TTL: %v", cmd, ttl)
		}
		keys, _, err := rdb.ScanType(ctx, 0, "family:*", 1000, typ).Result()
		if err != nil || !slices.Contains(keys, key) {
			t.Fatalf("SCAN TYPE %s = %v, %v", typ, keys, err)
		}
	}
	// Inside MULTI/EXEC: one transaction per window algorithm.
	for _, cmd := range []string{"SW", "SWLOG", "FW"} {
		tx := rdb.TxPipeline()
		first := tx.Do(ctx, cmd+".THROTTLE", "family:tx:"+cmd, 1, 60)
		second := tx.Do(ctx, cmd+".THROTTLE", "family:tx:"+cmd, 1, 60)
		if _, err := tx.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		f, _ := first.Int64Slice()
		g, _ := second.Int64Slice()
		if f[0] != 0 || g[0] != 1 || g[3] < 1 {
			t.Fatalf("%s in MULTI: %v then %v", cmd, f, g)
		}
	}
	tx := rdb.TxPipeline()
	a := tx.Do(ctx, "GCRA", "family:gcra", 1, 2, 0.5)
	b := tx.Do(ctx, "GCRA", "family:gcra", 1, 2, 0.5, "TOKENS", 5)
	c := tx.Do(ctx, "CL.PEEK", "family:gcra", 1, 2, 1)
	if _, err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	av, _ := a.Int64Slice()
	bv, _ := b.Int64Slice()
	cv, _ := c.Int64Slice()
	if av[0] != 0 || av[1] != 2 || bv[0] != 1 || bv[3] != -1 || cv[1] != 2 {
		t.Fatalf("GCRA in MULTI: %v %v %v", av, bv, cv)
	}
	if rdb.Exists(ctx, "family:peek-only").Val() != 0 {
		t.Fatal("precondition")
	}
	ints("CL.PEEK", "family:peek-only", 1, 1, 60)
	ints("SW.PEEK", "family:peek-only", 1, 60)
	if rdb.Exists(ctx, "family:peek-only").Val() != 0 {
		t.Fatal("PEEK created a key")
	}
}

func TestLimiterFamilyBadInput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--max-log-limit", "100")
	rc := newRaw(dial(t, srv.Addr))
	cases := []struct {
		cmd  []string
		want string
	}{
		{[]string{"SW.THROTTLE", "k", "10"}, "ERR wrong number of arguments for 'sw.throttle' command"},
		{[]string{"SW.THROTTLE", "k", "10", "60", "1", "2"}, "ERR wrong number of arguments for 'sw.throttle' command"},
		{[]string{"FW.PEEK", "k", "ten", "60"}, "ERR value is not an integer or out of range"},
		{[]string{"FW.THROTTLE", "k", "0", "60"}, "ERR limit must be a positive integer"},
		{[]string{"FW.THROTTLE", "k", "-3", "60"}, "ERR limit must be a positive integer"},
		{[]string{"SW.THROTTLE", "k", "10", "0"}, "ERR period must be a positive integer number of seconds"},
		{[]string{"SW.THROTTLE", "k", "10", "99999999999999"}, "ERR period must be a positive integer number of seconds"},
		{[]string{"SWLOG.THROTTLE", "k", "10", "60", "-1"}, "ERR quantity must be a non-negative integer"},
		{[]string{"SWLOG.THROTTLE", "k", "101", "60"}, "ERR limit is above the maximum for this algorithm (100)"},
		{[]string{"SW.THROTTLE", "k", "9223372036854775808", "60"}, "ERR value is not an integer or out of range"},
		{[]string{"FW.THROTTLE", "k", "99999999999999999999", "60"}, "ERR value is not an integer or out of range"},
		{[]string{"GCRA", "k", "1", "2"}, "ERR wrong number of arguments for 'gcra' command"},
		{[]string{"GCRA", "k", "1", "2", "0"}, "ERR period must be a positive number of seconds (at most 4611686018)"},
		{[]string{"GCRA", "k", "1", "2", "abc"}, "ERR period is not a valid float"},
		{[]string{"GCRA", "k", "1", "2", "1", "TOKENS"}, "ERR syntax error"},
		{[]string{"GCRA", "k", "-1", "2", "1"}, "ERR max_burst must be a non-negative integer"},
		{[]string{"GCRA", "k", "1", "0", "1"}, "ERR tokens_per_period must be a positive integer"},
		{[]string{"CL.PEEK", "k", "1", "1"}, "ERR wrong number of arguments for 'cl.peek' command"},
		{[]string{"CL.PEEK", "k", "x", "1", "60"}, "Cell error: Store error: Couldn't parse as integer: x"},
	}
	for _, tc := range cases {
		got, err := rc.do(tc.cmd...)
		if err != nil {
			t.Fatal(err)
		}
		if got != respError(tc.want) {
			t.Errorf("%q: got %#v, want error %q", tc.cmd, got, tc.want)
		}
	}
	if got, _ := rc.do("PING"); got != status("PONG") {
		t.Fatalf("connection unusable after errors: %v", got)
	}
}

func TestLimiterFamilyRedisCLI(t *testing.T) {
	t.Parallel()
	cli := requireTool(t, "redis-cli")
	srv := startServer(t)
	cmd := exec.Command(cli, "-h", "127.0.0.1", "-p", srv.Port)
	cmd.Stdin = strings.NewReader("FW.THROTTLE api:user1 2 3600\nFW.THROTTLE api:user1 2 3600\nFW.THROTTLE api:user1 2 3600 1\nTYPE api:user1\n" +
		"SW.THROTTLE sw 1 60\nSW.PEEK sw 1 60\nSWLOG.THROTTLE log 1 60\nSWLOG.PEEK log 1 60\nFW.PEEK api:user1 2 3600\n" +
		"GCRA g 0 1 0.5\nGCRA g 0 1 0.5 TOKENS 1\nCL.PEEK g 0 1 1\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	// Five lines per limiter reply; the first of each is the limited flag.
	want := map[int]string{0: "0", 5: "0", 10: "1", 15: "fixed-window", 16: "0", 21: "1", 26: "0", 31: "1", 36: "1", 41: "0", 46: "1", 51: "1"}
	if len(lines) != 56 {
		t.Fatalf("redis-cli printed %d lines:\n%s", len(lines), out)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Fatalf("line %d = %q, want %q; output:\n%s", i, lines[i], w, out)
		}
	}
}
