package shard

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func startGossip(t *testing.T, key []byte, name string) (*Gossip, Member) {
	t.Helper()
	self := Member{ID: NewID(), Name: name, Addr: "127.0.0.1:1" + name}
	g, err := NewGossip(GossipConfig{Self: self, BindAddr: "127.0.0.1", Key: key, Timing: FastTiming()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g, self
}

// waitFor waits (bounded) until cond holds, re-checking on every change
// signal of g and at least every 50 ms.
func waitFor(t *testing.T, g *Gossip, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-g.Changes():
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func memberIDs(g *Gossip) []string {
	var out []string
	for _, m := range g.Members() {
		out = append(out, m.ID)
	}
	slices.Sort(out)
	return out
}

func TestGossipJoinUpdateLeave(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	a, am := startGossip(t, key, "1")
	b, _ := startGossip(t, key, "2")
	c, cm := startGossip(t, key, "3")
	seed := fmt.Sprintf("127.0.0.1:%d", a.Port())
	for _, g := range []*Gossip{b, c} {
		if n, err := g.Join([]string{seed}); n != 1 || err != nil {
			t.Fatalf("join: %d %v", n, err)
		}
	}
	for _, g := range []*Gossip{a, b, c} {
		waitFor(t, g, "three members", func() bool { return len(g.Members()) == 3 })
	}
	if fmt.Sprint(memberIDs(a)) != fmt.Sprint(memberIDs(c)) {
		t.Fatal("members differ between nodes")
	}
	for _, m := range b.Members() {
		if m.ID == am.ID && (m.Addr != am.Addr || m.Name != "1" || m.Settled) {
			t.Fatalf("metadata of a as seen by b: %+v", m)
		}
	}
	am.Settled = true
	if err := a.Update(am); err != nil {
		t.Fatal(err)
	}
	waitFor(t, c, "a settled", func() bool {
		for _, m := range c.Members() {
			if m.ID == am.ID {
				return m.Settled
			}
		}
		return false
	})
	if err := c.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, a, "c gone", func() bool { return !slices.Contains(memberIDs(a), cm.ID) })
}

func TestGossipWithAnotherKeyCannotJoin(t *testing.T) {
	k1 := make([]byte, 16)
	k2 := make([]byte, 16)
	k2[0] = 1
	a, _ := startGossip(t, k1, "1")
	b, _ := startGossip(t, k2, "2")
	if n, err := b.Join([]string{fmt.Sprintf("127.0.0.1:%d", a.Port())}); n != 0 || err == nil {
		t.Fatalf("a node with another key joined: %d %v", n, err)
	}
	if len(a.Members()) != 1 {
		t.Fatal("a sees the intruder")
	}
}

func TestParseKey(t *testing.T) {
	for _, n := range []int{16, 24, 32} {
		if k, err := ParseKey(base64.StdEncoding.EncodeToString(make([]byte, n))); err != nil || len(k) != n {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	for _, s := range []string{base64.StdEncoding.EncodeToString(make([]byte, 15)), "not base64!"} {
		if _, err := ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) accepted", s)
		}
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := Member{ID: NewID(), Name: strings.Repeat("n", 1000), Addr: "10.1.2.3:6379", HTTPAddr: "10.1.2.3:8080", Settled: true, Leaving: true}
	b, err := encodeMeta(m)
	if err != nil || len(b) > 512 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	got, err := decodeMeta(b)
	if err != nil || got.ID != m.ID || got.Addr != m.Addr || got.HTTPAddr != m.HTTPAddr || !got.Settled || !got.Leaving || !strings.HasPrefix(m.Name, got.Name) {
		t.Fatalf("%+v %v", got, err)
	}
	for i := range b {
		decodeMeta(b[:i]) // never panics on a truncated record
	}
}

// A member declared dead is asked back: b crashes (closes without
// leaving), a declares it dead, and b comes back on the same address
// without joining anyone, as the isolated side of a healed partition
// would be. a's reconnection brings it in. Also: a member that comes back
// with its ID on another port takes its name back once its old self is
// dead.
func TestGossipAsksDeadMembersBack(t *testing.T) {
	key := make([]byte, 16)
	a, _ := startGossip(t, key, "1")
	self := Member{ID: NewID(), Name: "2", Addr: "127.0.0.1:12"}
	newB := func(port int) *Gossip {
		g, err := NewGossip(GossipConfig{Self: self, BindAddr: "127.0.0.1", BindPort: port, Key: key, Timing: FastTiming()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { g.Close() })
		return g
	}
	b := newB(0)
	port := b.Port()
	if n, err := b.Join([]string{fmt.Sprintf("127.0.0.1:%d", a.Port())}); n != 1 || err != nil {
		t.Fatalf("join: %d %v", n, err)
	}
	waitFor(t, a, "b", func() bool { return len(a.Members()) == 2 })
	b.Close()
	waitFor(t, a, "b dead", func() bool { return len(a.Members()) == 1 })
	b = newB(port) // no Join: only a's reconnection can bring it in
	t0 := time.Now()
	waitFor(t, a, "b back", func() bool { return len(a.Members()) == 2 })
	t.Log("back after", time.Since(t0))
	waitFor(t, b, "b sees a", func() bool { return len(b.Members()) == 2 })

	// Another port, joining a itself.
	b.Close()
	waitFor(t, a, "b dead again", func() bool { return len(a.Members()) == 1 })
	b = newB(0)
	if n, err := b.Join([]string{fmt.Sprintf("127.0.0.1:%d", a.Port())}); n != 1 || err != nil {
		t.Fatalf("rejoin: %d %v", n, err)
	}
	t0 = time.Now()
	waitFor(t, a, "b back on another port", func() bool { return len(a.Members()) == 2 })
	t.Log("back on another port after", time.Since(t0))
}
