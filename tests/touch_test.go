package tests

import (
	"fmt"
	"testing"
)

// TOUCH answers as Redis 7 does: the number of named keys that exist
// (a key named twice counts twice), arity and ACL errors in its words. No
// access time is kept here (no LRU eviction), so that is all it does.
func TestTouchLikeRedis(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ours := newRaw(dial(t, srv.Addr))
	ref := startRedisRef(t)
	script := [][]string{
		{"TOUCH"},
		{"TOUCH", "missing"},
		{"SET", "a", "1"},
		{"ZADD", "z", "1", "m"},
		{"TOUCH", "a"},
		{"TOUCH", "a", "a", "missing", "z"},
		{"PEXPIRE", "a", "1000"},
		{"TOUCH", "a"},
		{"PTTL", "a"}, // TOUCH leaves the expiry alone (answer within a second)
		{"EVAL", "return redis.call('TOUCH', KEYS[1], KEYS[2])", "2", "a", "nope"},
		{"COMMAND", "COUNT"},
	}
	for _, cmd := range script {
		want, werr := ref.do(cmd...)
		got, gerr := ours.do(cmd...)
		w, g := fmt.Sprint(want, werr), fmt.Sprint(got, gerr)
		switch cmd[0] {
		case "PTTL":
			if n, ok := got.(int64); !ok || n <= 0 || n > 1000 {
				t.Fatalf("PTTL after TOUCH: %s", g)
			}
			continue
		case "COMMAND":
			continue // the command sets differ; COMMAND INFO below
		}
		if w != g {
			t.Fatalf("%q: redis %s, ours %s", cmd, w, g)
		}
	}
	// COMMAND INFO: name, arity, first key, last key, step. (Redis also
	// flags it fast, as it does EXISTS; this server counts every command
	// with open-ended keys as slow.)
	want, _ := ref.do("COMMAND", "INFO", "touch")
	got, _ := ours.do("COMMAND", "INFO", "touch")
	wi, gi := want.([]any)[0].([]any), got.([]any)[0].([]any)
	if fmt.Sprint(wi[:2], wi[3:6]) != fmt.Sprint(gi[:2], gi[3:6]) || fmt.Sprint(gi[2]) != "[readonly]" {
		t.Fatalf("COMMAND INFO touch: redis %v, ours %v", wi[:6], gi[:6])
	}
	// ACL: a user that may only write keys may TOUCH them (it reads
	// nothing of their value), as in Redis.
	for _, rc := range []*rawConn{ref, ours} {
		if r, err := rc.do("ACL", "SETUSER", "w", "on", ">pw", "%W~*", "+@all"); err != nil {
			t.Fatal(r, err)
		}
	}
	wa, _ := ref.do("ACL", "DRYRUN", "w", "TOUCH", "a")
	ga, _ := ours.do("ACL", "DRYRUN", "w", "TOUCH", "a")
	if fmt.Sprint(wa) != fmt.Sprint(ga) {
		t.Fatalf("ACL DRYRUN w TOUCH a: redis %v, ours %v", wa, ga)
	}
}
