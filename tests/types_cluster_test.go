package tests

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// Lists and hashes move with their slots: written through one node of a
// two-node cluster (forwarded to their owners), they read back the same
// from the remaining node after the other leaves gracefully and hands its
// slots off.
func TestClusterHandoffListsAndHashes(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2, "--forward-timeout", underLoadForwardTimeout)
	rc := newRaw(dial(t, nodes[0].Addr))
	var writes, reads [][]string
	for k := range 200 {
		l, h := fmt.Sprint("hl:", k), fmt.Sprint("hh:", k)
		push, hset := []string{"RPUSH", l}, []string{"HSET", h}
		for i := range 1 + k%150 { // small and large forms, several pages
			push = append(push, fmt.Sprint("e", i))
			hset = append(hset, fmt.Sprint("f", i*7%150), fmt.Sprint(i))
		}
		writes = append(writes, push, hset, []string{"PEXPIREAT", h, "99999999999777"})
		reads = append(reads, []string{"LRANGE", l, "0", "-1"}, []string{"HLEN", h}, []string{"HGET", h, "f7"},
			[]string{"TYPE", l}, []string{"PEXPIRETIME", h})
	}
	if _, err := rc.pipeline(writes...); err != nil {
		t.Fatal(err)
	}
	before, err := rc.pipeline(reads...)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range before {
		if e, ok := r.(respError); ok {
			t.Fatalf("%v: %v", reads[i], e)
		}
	}
	leaver := nodes[1]
	leaver.cmd.Process.Signal(syscall.SIGTERM)
	if err := leaver.cmd.Wait(); err != nil {
		t.Fatalf("leaver exited with %v", err)
	}
	if !strings.Contains(leaver.logs.String(), "every slot handed off") {
		t.Fatalf("the leaver did not hand everything off:\n%s", leaver.logs.String())
	}
	waitSettled(t, nodes[:1])
	after, err := newRaw(dial(t, nodes[0].Addr)).pipeline(reads...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range reads {
		if !equalReply(before[i], after[i]) {
			t.Fatalf("%v: %v before the handoff, %v after", reads[i], before[i], after[i])
		}
	}
}
