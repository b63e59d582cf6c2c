package shard

import (
	"fmt"
	"testing"
	"time"
)

func stateOf(g *Gossip, id string) (NodeState, bool) {
	for _, m := range g.States() {
		if m.ID == id {
			return m.State, true
		}
	}
	return 0, false
}

// A member that stops answering is seen suspect, then dead (and stays
// listed as dead); one that leaves gracefully is seen as left.
func TestMemberStates(t *testing.T) {
	key := make([]byte, 16)
	a, am := startGossip(t, key, "1")
	b, bm := startGossip(t, key, "2")
	c, cm := startGossip(t, key, "3")
	seed := fmt.Sprintf("127.0.0.1:%d", a.Port())
	for _, g := range []*Gossip{b, c} {
		if _, err := g.Join([]string{seed}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, a, "three members", func() bool { return len(a.Members()) == 3 })
	st := a.States()
	if len(st) != 3 {
		t.Fatalf("states %+v", st)
	}
	for _, m := range st {
		if m.State != StateAlive || (m.ID == bm.ID && m.Addr != bm.Addr) {
			t.Fatalf("state %+v", m)
		}
	}

	// c stops without a word, as a killed process does.
	killed := time.Now()
	c.Close()
	var sawSuspect bool
	bound := FastTiming().DeadWithin(3)
	deadline := time.Now().Add(bound + 2*time.Second)
	for {
		s, ok := stateOf(a, cm.ID)
		if !ok {
			t.Fatal("the failed member vanished")
		}
		if s == StateSuspect {
			sawSuspect = true
		}
		if s == StateDead {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c is %v %v after it stopped (bound %v)", s, time.Since(killed), bound)
		}
		time.Sleep(5 * time.Millisecond) // polling a state, bounded above
	}
	t.Logf("dead after %v (bound %v), suspect seen: %v", time.Since(killed), bound, sawSuspect)
	if !sawSuspect {
		t.Error("a never saw c suspect before it was declared dead")
	}
	if len(a.Members()) != 2 {
		t.Errorf("a dead member is still live: %v", a.Members())
	}

	// b leaves gracefully.
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, "b left", func() bool { s, _ := stateOf(a, bm.ID); return s == StateLeft })
	if s, _ := stateOf(a, cm.ID); s != StateDead {
		t.Errorf("c is %v, want still dead", s)
	}
	if s, _ := stateOf(a, am.ID); s != StateAlive {
		t.Errorf("self is %v", s)
	}
	// Forgotten ForgetAfter after they went.
	a.nodesMu.Lock()
	a.states[cm.ID].since = time.Now().Add(-ForgetAfter - time.Second)
	a.nodesMu.Unlock()
	if _, ok := stateOf(a, cm.ID); ok {
		t.Error("a member dead for longer than ForgetAfter is still listed")
	}
	if s, ok := stateOf(a, bm.ID); !ok || s != StateLeft {
		t.Error("the member that left recently is no longer listed")
	}
}

func TestSuspectLine(t *testing.T) {
	for line, want := range map[string]string{
		"[INFO] memberlist: Suspect 0123abcd has failed, no acks received\n": "0123abcd",
		"[INFO] memberlist: Marking x as failed, suspect timeout reached":    "",
		"[INFO] memberlist: Suspect  has failed":                             "",
	} {
		got, ok := suspectIn([]byte(line))
		if got != want || ok != (want != "") {
			t.Errorf("%q: %q %v", line, got, ok)
		}
	}
}

func TestDeadWithin(t *testing.T) {
	// Fast, 3 nodes: 3 probe intervals, 6 × 3 × 250 ms of suspicion, one
	// gossip interval.
	if got := FastTiming().DeadWithin(3); got != 750*time.Millisecond+4500*time.Millisecond+50*time.Millisecond {
		t.Errorf("fast: %v", got)
	}
	if (Timing{}).DeadWithin(3) != LANTiming().DeadWithin(3) {
		t.Error("zero timing is not LAN")
	}
}
