package tests

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestListRandomDifferential drives lists of up to ~3000 elements (many
// pages, pushes and pops at both ends, inserts and removals in the middle)
// with random commands against rlserver and Redis 7, comparing every reply
// byte for byte.
func TestListRandomDifferential(t *testing.T) {
	t.Parallel()
	ref := startRedis(t)
	srv := startServer(t)
	rng := rand.New(rand.NewPCG(7, 2026))
	elem := func() string {
		if rng.IntN(40) == 0 {
			return strings.Repeat("x", 100+rng.IntN(5000)) // larger than a page
		}
		return fmt.Sprintf("e%d", rng.IntN(30))
	}
	idx := func() int { return rng.IntN(80) - 40 }
	var script strings.Builder
	keys := []string{"small", "mid", "big"}
	sizes := map[string]int{"small": 10, "mid": 300, "big": 3000}
	for _, k := range keys {
		for i := 0; i < sizes[k]; i += 50 {
			script.WriteString("RPUSH " + k)
			for range 50 {
				fmt.Fprintf(&script, " e%d", rng.IntN(30))
			}
			script.WriteString("\n")
		}
	}
	for range 3000 {
		k := keys[rng.IntN(len(keys))]
		switch rng.IntN(14) {
		case 0, 1:
			fmt.Fprintf(&script, "LPUSH %s %s %s\n", k, elem(), elem())
		case 2, 3:
			fmt.Fprintf(&script, "RPUSH %s %s\n", k, elem())
		case 4:
			fmt.Fprintf(&script, "LPOP %s\nRPOP %s %d\n", k, k, rng.IntN(4))
		case 5:
			fmt.Fprintf(&script, "LINDEX %s %d\nLLEN %s\n", k, idx(), k)
		case 6:
			fmt.Fprintf(&script, "LRANGE %s %d %d\n", k, idx(), idx())
		case 7:
			fmt.Fprintf(&script, "LSET %s %d %s\n", k, idx(), elem())
		case 8:
			fmt.Fprintf(&script, "LREM %s %d %s\n", k, rng.IntN(7)-3, elem())
		case 9:
			fmt.Fprintf(&script, "LINSERT %s %s %s %s\n", k, []string{"BEFORE", "AFTER"}[rng.IntN(2)], elem(), elem())
		case 10:
			fmt.Fprintf(&script, "LPOS %s %s RANK %d COUNT %d MAXLEN %d\n", k, elem(), rng.IntN(7)-3|1, rng.IntN(4), rng.IntN(200))
		case 11:
			if rng.IntN(10) == 0 {
				fmt.Fprintf(&script, "LTRIM %s %d %d\n", k, rng.IntN(5), -1-rng.IntN(5))
			} else {
				fmt.Fprintf(&script, "LPUSHX %s %s\nRPUSHX %s %s\n", k, elem(), k, elem())
			}
		case 12:
			// The limits library's moving window: push, trim to the limit.
			fmt.Fprintf(&script, "LPUSH w %d %d\nLTRIM w 0 9\nLINDEX w 9\nLRANGE w 0 10\n", rng.IntN(100), rng.IntN(100))
		case 13:
			fmt.Fprintf(&script, "RPOP %s\nLPOP %s 2\n", k, k)
		}
	}
	for _, k := range append(keys, "w") {
		fmt.Fprintf(&script, "LRANGE %s 0 -1\n", k)
	}
	diffScript(t, "random", "FLUSHALL\n"+script.String(), srv.Addr, ref.Addr)
}

// TestHashRandomDifferential drives small hashes (Redis's listpack form:
// replies in insertion order, compared byte for byte) and large ones (past
// 128 fields or 64-byte values, where Redis's order is its hash table's:
// compared after sorting) with random commands against rlserver and Redis 7.
func TestHashRandomDifferential(t *testing.T) {
	t.Parallel()
	ref := startRedis(t)
	srv := startServer(t)
	rng := rand.New(rand.NewPCG(8, 2026))
	var k string
	value := func() string {
		switch rng.IntN(20) {
		case 0:
			if k == "small" { // up to the 64-byte limit: it stays small
				return strings.Repeat("v", 60+rng.IntN(5))
			}
			return strings.Repeat("v", 60+rng.IntN(10)) // around the limit
		case 1, 2, 3:
			return fmt.Sprint(rng.IntN(200) - 100)
		case 4:
			return fmt.Sprintf("%d.%d", rng.IntN(10), rng.IntN(100))
		}
		return fmt.Sprintf("v%d", rng.IntN(50))
	}
	sizes := map[string]int{"small": 20, "edge": 130, "big": 1500}
	keys := []string{"small", "edge", "big"}
	var script strings.Builder
	for range 4000 {
		k = keys[rng.IntN(len(keys))]
		field := func() string { return fmt.Sprintf("f%d", rng.IntN(sizes[k])) }
		switch rng.IntN(12) {
		case 0, 1, 2:
			fmt.Fprintf(&script, "HSET %s %s %s %s %s\n", k, field(), value(), field(), value())
		case 3:
			fmt.Fprintf(&script, "HSETNX %s %s %s\n", k, field(), value())
		case 4:
			fmt.Fprintf(&script, "HDEL %s %s %s\n", k, field(), field())
		case 5:
			fmt.Fprintf(&script, "HGET %s %s\nHMGET %s %s %s\n", k, field(), k, field(), field())
		case 6:
			fmt.Fprintf(&script, "HINCRBY %s %s %d\n", k, field(), rng.IntN(20)-10)
		case 7:
			fmt.Fprintf(&script, "HINCRBYFLOAT %s %s %d.%d\n", k, field(), rng.IntN(20)-10, rng.IntN(10))
		case 8:
			fmt.Fprintf(&script, "HEXISTS %s %s\nHSTRLEN %s %s\nHLEN %s\n", k, field(), k, field(), k)
		case 9:
			fmt.Fprintf(&script, "HMSET %s %s %s\n", k, field(), value())
		case 10:
			// Order-dependent replies only where Redis's order is defined.
			fmt.Fprintf(&script, "HGETALL small\nHKEYS small\nHVALS small\n")
		case 11:
			// A token bucket as hash-based limiters keep it.
			fmt.Fprintf(&script, "HINCRBY tb tokens -1\nHSET tb ts %d\nHMGET tb tokens ts\nHGETALL tb\n", rng.IntN(1000))
		}
	}
	diffScript(t, "random", "FLUSHALL\n"+script.String(), srv.Addr, ref.Addr)
	// The large hashes hold the same pairs in some order.
	for _, k := range keys {
		var got [2][]string
		for i, addr := range []string{srv.Addr, ref.Addr} {
			v, err := newRaw(dial(t, addr)).do("HGETALL", k)
			if err != nil {
				t.Fatal(err)
			}
			items, _ := v.([]any)
			for j := 0; j+1 < len(items); j += 2 {
				got[i] = append(got[i], fmt.Sprint(items[j], "=", items[j+1]))
			}
			slices.Sort(got[i])
		}
		if !slices.Equal(got[0], got[1]) || len(got[0]) == 0 {
			t.Errorf("HGETALL %s: %d pairs on rlserver, %d on Redis, or they differ", k, len(got[0]), len(got[1]))
		}
	}
}

// Lists and hashes, small and large, survive SAVE and a hard kill with
// their elements, fields, order and expiry.
func TestListHashSnapshotRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, "--data-dir", dir, "--snapshot-interval", "0")
	rc := newRaw(dial(t, srv.Addr))
	var cmds [][]string
	for k := range 20 {
		l, h := fmt.Sprint("l:", k), fmt.Sprint("h:", k)
		push, hset := []string{"RPUSH", l}, []string{"HSET", h}
		for i := range 1 + k*k*3 { // up to 1,084: many pages, and hashes past 128 fields
			push = append(push, fmt.Sprint("element-", i))
			hset = append(hset, fmt.Sprint("field-", i*7%1000), fmt.Sprint(i))
		}
		cmds = append(cmds, push, hset, []string{"LPUSH", l, "head"}, []string{"PEXPIREAT", l, "99999999999123"},
			[]string{"PEXPIREAT", h, "99999999999456"})
	}
	if _, err := rc.pipeline(cmds...); err != nil {
		t.Fatal(err)
	}
	read := func(rc *rawConn) []any {
		var q [][]string
		for k := range 20 {
			l, h := fmt.Sprint("l:", k), fmt.Sprint("h:", k)
			q = append(q, []string{"LRANGE", l, "0", "-1"}, []string{"PEXPIRETIME", l}, []string{"TYPE", l},
				[]string{"HGETALL", h}, []string{"PEXPIRETIME", h}, []string{"TYPE", h}, []string{"HGET", h, "field-7"})
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
		t.Fatalf("lists or hashes differ after restart")
	}
	if n := len(before[7*19].([]any)); n != 2+19*19*3 {
		t.Fatalf("largest list has %d elements", n)
	}
	if before[2] != status("list") || before[5] != status("hash") {
		t.Fatalf("TYPE = %v, %v", before[2], before[5])
	}
}

// LPUSH and HSET grow memory, so at maxmemory they are refused even on an
// existing key (as Redis refuses them); removing still works and gives
// every byte back.
func TestListHashMaxMemory(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--maxmemory", "64kb")
	rc := newRaw(dial(t, srv.Addr))
	oom := respError("OOM command not allowed when used memory > 'maxmemory'.")
	for _, grow := range []func(i int) []string{
		func(i int) []string { return []string{"RPUSH", "lm", fmt.Sprint("element-number-", i)} },
		func(i int) []string { return []string{"HSET", "hm", fmt.Sprint("field-number-", i), "value"} },
	} {
		refused := -1
		for i := range 10_000 {
			got, err := rc.do(grow(i)...)
			if err != nil {
				t.Fatal(err)
			}
			if got == oom {
				refused = i
				break
			}
		}
		if refused < 100 {
			t.Fatalf("%s refused after %d with a 64 KiB limit", grow(0)[0], refused)
		}
		used := infoField(t, rc, "memory", "used_memory")
		for i := range 20 {
			if got, _ := rc.do(grow(refused + i)...); got != oom {
				t.Fatalf("%s after the refusal = %v", grow(0)[0], got)
			}
		}
		if again := infoField(t, rc, "memory", "used_memory"); again != used {
			t.Fatalf("used_memory moved from %s to %s while refused", used, again)
		}
		for _, cmd := range [][]string{{"LSET", "lm", "0", "x"}, {"LINSERT", "lm", "BEFORE", "x", "y"}, {"HSETNX", "hm", "new", "v"}, {"HINCRBY", "hm", "n", "1"}} {
			if got, _ := rc.do(cmd...); got != oom {
				t.Fatalf("%v over maxmemory = %v", cmd, got)
			}
		}
		if got, _ := rc.do("DEL", "lm", "hm"); got != int64(1) {
			t.Fatalf("DEL = %v", got)
		}
	}
	if used := infoField(t, rc, "memory", "used_memory"); used != "0" {
		t.Fatalf("used_memory %s after deleting every key", used)
	}
	// Popping and deleting fields give memory back too.
	for i := range 500 {
		rc.do("RPUSH", "l2", fmt.Sprint("element-number-", i))
		rc.do("HSET", "h2", fmt.Sprint("field-number-", i), "v")
	}
	if got, _ := rc.do("LPOP", "l2", "1000"); len(got.([]any)) != 500 {
		t.Fatalf("LPOP 1000 returned %d elements", len(got.([]any)))
	}
	for i := range 500 {
		rc.do("HDEL", "h2", fmt.Sprint("field-number-", i))
	}
	if used := infoField(t, rc, "memory", "used_memory"); used != "0" {
		t.Fatalf("used_memory %s after popping and deleting everything", used)
	}
}

// Lists and hashes are kinds of their own next to limiter state: each
// answers WRONGTYPE to the other's commands, and SCAN filters them by TYPE.
func TestListHashMeetLimiterKeys(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	wrong := respError("WRONGTYPE Operation against a key holding the wrong kind of value")
	steps := []struct {
		cmd  []string
		want any
	}{
		{[]string{"RPUSH", "l", "a"}, int64(1)},
		{[]string{"HSET", "h", "f", "v"}, int64(1)},
		{[]string{"CL.THROTTLE", "g", "5", "1", "60"}, nil},
		{[]string{"SW.THROTTLE", "s", "5", "60"}, nil},
		{[]string{"CL.THROTTLE", "l", "5", "1", "60"}, wrong},
		{[]string{"GCRA", "h", "5", "1", "60"}, wrong},
		{[]string{"FW.THROTTLE", "l", "5", "60"}, wrong},
		{[]string{"SWLOG.THROTTLE", "h", "5", "60"}, wrong},
		{[]string{"LPUSH", "g", "a"}, wrong},
		{[]string{"HSET", "s", "f", "v"}, wrong},
		{[]string{"LRANGE", "h", "0", "-1"}, wrong},
		{[]string{"HGET", "l", "f"}, wrong},
		{[]string{"INCR", "l"}, wrong},
		{[]string{"GET", "h"}, wrong},
		{[]string{"TYPE", "l"}, status("list")},
		{[]string{"TYPE", "h"}, status("hash")},
	}
	for _, st := range steps {
		got, err := rc.do(st.cmd...)
		if err != nil {
			t.Fatal(err)
		}
		if st.want != nil && !equalReply(got, st.want) {
			t.Fatalf("%v = %v, want %v", st.cmd, got, st.want)
		}
	}
	for typ, key := range map[string]string{"list": "l", "hash": "h"} {
		got, _ := rc.do("SCAN", "0", "COUNT", "1000", "TYPE", typ)
		parts, _ := got.([]any)
		if len(parts) != 2 || !equalReply(parts[1], []any{bulk(key)}) {
			t.Fatalf("SCAN TYPE %s = %v", typ, got)
		}
	}
}
