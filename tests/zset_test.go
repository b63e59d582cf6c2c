package tests

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestZsetRandomDifferential drives sorted sets of up to ~1500 members
// (past the member-index threshold and across many pages) with random
// commands against rlserver and Redis 7, comparing every reply byte for
// byte.
func TestZsetRandomDifferential(t *testing.T) {
	t.Parallel()
	ref := startRedis(t)
	srv := startServer(t)
	rng := rand.New(rand.NewPCG(14, 2026))
	score := func() string {
		switch rng.IntN(12) {
		case 0:
			return "-inf"
		case 1:
			return "+inf"
		case 2:
			return fmt.Sprintf("%d.%d", rng.IntN(100), rng.IntN(10))
		}
		return fmt.Sprint(rng.IntN(400) - 50)
	}
	bound := func() string {
		s := score()
		if rng.IntN(3) == 0 {
			return "(" + s
		}
		return s
	}
	member := func() string { return fmt.Sprintf("m%04d", rng.IntN(1500)) }
	lex := func() string {
		switch rng.IntN(8) {
		case 0:
			return "-"
		case 1:
			return "+"
		}
		return string("[("[rng.IntN(2)]) + member()
	}
	var script strings.Builder
	keys := []string{"small", "mid", "big"}
	sizes := map[string]int{"small": 20, "mid": 200, "big": 1500}
	for _, k := range keys {
		// Fill each set to its size first, in batches.
		for i := 0; i < sizes[k]; i += 50 {
			script.WriteString("ZADD " + k)
			for j := 0; j < 50; j++ {
				fmt.Fprintf(&script, " %s m%04d", score(), rng.IntN(sizes[k]))
			}
			script.WriteString("\n")
		}
	}
	for range 3000 {
		k := keys[rng.IntN(len(keys))]
		switch rng.IntN(16) {
		case 0, 1, 2:
			fmt.Fprintf(&script, "ZADD %s %s %s %s %s\n", k, score(), member(), score(), member())
		case 3:
			fmt.Fprintf(&script, "ZADD %s %s CH %s %s\n", k, []string{"GT", "LT", "XX", "NX"}[rng.IntN(4)], score(), member())
		case 4:
			fmt.Fprintf(&script, "ZINCRBY %s %d %s\n", k, rng.IntN(20)-10, member())
		case 5:
			fmt.Fprintf(&script, "ZREM %s %s %s\n", k, member(), member())
		case 6:
			fmt.Fprintf(&script, "ZSCORE %s %s\nZRANK %s %s\nZREVRANK %s %s\n", k, member(), k, member(), k, member())
		case 7:
			fmt.Fprintf(&script, "ZCOUNT %s %s %s\nZCARD %s\n", k, bound(), bound(), k)
		case 8:
			fmt.Fprintf(&script, "ZRANGE %s %d %d WITHSCORES\n", k, rng.IntN(60)-30, rng.IntN(60)-10)
		case 9:
			fmt.Fprintf(&script, "ZRANGE %s %s %s BYSCORE LIMIT %d %d WITHSCORES\n", k, bound(), bound(), rng.IntN(10), rng.IntN(30)-1)
		case 10:
			fmt.Fprintf(&script, "ZREVRANGEBYSCORE %s %s %s WITHSCORES LIMIT %d %d\n", k, bound(), bound(), rng.IntN(10), rng.IntN(20))
		case 11:
			fmt.Fprintf(&script, "ZREMRANGEBYSCORE %s %s %s\n", k, bound(), bound())
		case 12:
			fmt.Fprintf(&script, "ZREMRANGEBYRANK %s %d %d\n", k, rng.IntN(20)-10, rng.IntN(20)-5)
		case 13:
			// Lex ranges are defined for equal scores only: use a set of its own.
			fmt.Fprintf(&script, "ZADD lex 0 %s 0 %s\nZRANGEBYLEX lex %s %s LIMIT %d %d\nZLEXCOUNT lex %s %s\n",
				member(), member(), lex(), lex(), rng.IntN(5), rng.IntN(30)-1, lex(), lex())
		case 14:
			fmt.Fprintf(&script, "ZMSCORE %s %s %s\nZRANGE %s -5 -1 REV\n", k, member(), member(), k)
		case 15:
			if rng.IntN(20) == 0 {
				fmt.Fprintf(&script, "ZPOPMIN %s %d\nZPOPMAX %s\n", k, rng.IntN(5), k)
			} else {
				fmt.Fprintf(&script, "ZREMRANGEBYLEX lex %s %s\n", lex(), lex())
			}
		}
	}
	for _, k := range append(keys, "lex") {
		fmt.Fprintf(&script, "ZRANGE %s 0 -1 WITHSCORES\n", k)
	}
	diffScript(t, "random", "FLUSHALL\n"+script.String(), srv.Addr, ref.Addr)
}

// Sorted sets survive SAVE and a hard kill with their members, scores and
// expiry; a set past the member-index threshold comes back indexed (ZSCORE
// on it answers).
func TestZsetSnapshotRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, "--data-dir", dir, "--snapshot-interval", "0")
	rc := newRaw(dial(t, srv.Addr))
	var cmds [][]string
	for k := range 50 {
		key := fmt.Sprint("zs:", k)
		args := []string{"ZADD", key}
		for m := range 3 + k*7 {
			args = append(args, fmt.Sprintf("%d.25", m%11), fmt.Sprint("member-", m))
		}
		cmds = append(cmds, args, []string{"PEXPIREAT", key, "99999999999123"})
	}
	if _, err := rc.pipeline(cmds...); err != nil {
		t.Fatal(err)
	}
	read := func(rc *rawConn) []any {
		var q [][]string
		for k := range 50 {
			key := fmt.Sprint("zs:", k)
			q = append(q, []string{"ZRANGE", key, "0", "-1", "WITHSCORES"}, []string{"PEXPIRETIME", key},
				[]string{"ZSCORE", key, "member-2"}, []string{"TYPE", key})
		}
		got, err := rc.pipeline(q...)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	before := read(rc)
	if got, _ := rc.do("SAVE"); got != status("OK") {
		t.Fatalf("SAVE = %v", got)
	}
	killHard(t, srv)
	srv2 := startServer(t, "--data-dir", dir)
	after := read(newRaw(dial(t, srv2.Addr)))
	if !equalReply(before, after) {
		t.Fatalf("sorted sets differ after restart")
	}
	if n := len(before[4*49].([]any)); n != 2*(3+49*7) {
		t.Fatalf("largest set has %d reply items", n)
	}
}

// ZADD grows memory, so at maxmemory it is refused even on an existing
// set (as Redis refuses it); removing members still works.
func TestZsetMaxMemory(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--maxmemory", "64kb")
	rc := newRaw(dial(t, srv.Addr))
	oom := respError("OOM command not allowed when used memory > 'maxmemory'.")
	refused := -1
	for i := range 10_000 {
		got, err := rc.do("ZADD", "zm", strconv.Itoa(i), fmt.Sprint("member-number-", i))
		if err != nil {
			t.Fatal(err)
		}
		if got == oom {
			refused = i
			break
		}
	}
	if refused < 100 || refused > 5000 {
		t.Fatalf("ZADD refused after %d members with a 64 KiB limit", refused)
	}
	// One ZADD may double the set's member index past the limit, as a
	// rehash does in Redis; after the refusal nothing grows.
	used, _ := strconv.Atoi(infoField(t, rc, "memory", "used_memory"))
	if used > 2*64<<10 {
		t.Fatalf("used_memory %d far above maxmemory", used)
	}
	for i := range 50 {
		if got, _ := rc.do("ZADD", "zm", "1", fmt.Sprint("more-", i)); got != oom {
			t.Fatalf("ZADD after the refusal = %v", got)
		}
	}
	if again, _ := strconv.Atoi(infoField(t, rc, "memory", "used_memory")); again != used {
		t.Fatalf("used_memory moved from %d to %d while ZADD was refused", used, again)
	}
	if got, _ := rc.do("ZREMRANGEBYRANK", "zm", "0", "-1"); got != int64(refused) {
		t.Fatalf("ZREMRANGEBYRANK = %v", got)
	}
	if used, _ := strconv.Atoi(infoField(t, rc, "memory", "used_memory")); used != 0 {
		t.Fatalf("used_memory %d after emptying the only set", used)
	}
	if got, _ := rc.do("ZADD", "zm", "1", "a"); got != int64(1) {
		t.Fatalf("ZADD after freeing room = %v", got)
	}
}
