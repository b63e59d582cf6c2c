package shard

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lww is a Replicated for tests: named values, last writer (highest
// version) wins. A change is "name=version=value\n"; a state is every
// change.
type lww struct {
	mu     sync.Mutex
	vals   map[string]lwwVal
	merges int
	gate   chan struct{} // when set, Merge waits for it
	// lose, while set, makes Merge drop what it is given (a lost message);
	// lost counts the batches dropped.
	lose, lost int
}

type lwwVal struct {
	version int
	value   string
}

func newLWW() *lww { return &lww{vals: map[string]lwwVal{}} }

func lwwChange(name string, version int, value string) []byte {
	return fmt.Appendf(nil, "%s=%d=%s\n", name, version, value)
}

// set makes a local change and returns it.
func (l *lww) set(name, value string) []byte {
	l.mu.Lock()
	v := l.vals[name].version + 1
	l.vals[name] = lwwVal{v, value}
	l.mu.Unlock()
	return lwwChange(name, v, value)
}

func (l *lww) get(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.vals[name].value
}

func (l *lww) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.vals)
}

func (l *lww) State() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, 0, len(l.vals))
	for n := range l.vals {
		names = append(names, n)
	}
	slices.Sort(names)
	var b []byte
	for _, n := range names {
		b = append(b, lwwChange(n, l.vals[n].version, l.vals[n].value)...)
	}
	return b
}

func (l *lww) Merge(batches ...[]byte) (int, error) {
	if l.gate != nil {
		<-l.gate
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.merges++
	if l.lose > 0 {
		l.lost++
		return 0, nil
	}
	n := 0
	for _, b := range batches {
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			parts := strings.SplitN(line, "=", 3)
			if len(parts) != 3 {
				return n, fmt.Errorf("bad change %q", line)
			}
			v, _ := strconv.Atoi(parts[1])
			if cur, ok := l.vals[parts[0]]; !ok || v > cur.version {
				l.vals[parts[0]] = lwwVal{v, parts[2]}
				n++
			}
		}
	}
	return n, nil
}

type replNode struct {
	g   *Gossip
	x   *Replicator
	lww *lww
}

func startReplNode(t *testing.T, key []byte, name string, state *lww) *replNode {
	t.Helper()
	return startReplNodeTiming(t, key, name, state, FastTiming())
}

func startReplNodeTiming(t *testing.T, key []byte, name string, state *lww, tm Timing) *replNode {
	t.Helper()
	if state == nil {
		state = newLWW()
	}
	x := NewReplicator(state, nil)
	self := Member{ID: NewID(), Name: name, Addr: "127.0.0.1:1" + name}
	g, err := NewGossip(GossipConfig{Self: self, BindAddr: "127.0.0.1", Key: key, Timing: tm, Replicator: x})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return &replNode{g: g, x: x, lww: state}
}

func (n *replNode) set(name, value string) { n.x.Broadcast(name, n.lww.set(name, value)) }

func (n *replNode) join(t *testing.T, to *replNode) {
	t.Helper()
	if k, err := n.g.Join([]string{fmt.Sprintf("127.0.0.1:%d", to.g.Port())}); k != 1 || err != nil {
		t.Fatalf("join: %d %v", k, err)
	}
}

// eventually polls cond (bounded) until it holds.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var testKey = bytes.Repeat([]byte{7}, 32)

// Small changes travel by gossip, one larger than a packet and a burst of
// many over the reliable stream; every node gets all of them.
func TestReplicatedChangesReachEveryNode(t *testing.T) {
	t.Parallel()
	a := startReplNode(t, testKey, "1", nil)
	b := startReplNode(t, testKey, "2", nil)
	c := startReplNode(t, testKey, "3", nil)
	b.join(t, a)
	c.join(t, a)
	for _, n := range []*replNode{a, b, c} {
		waitFor(t, n.g, "three members", func() bool { return len(n.g.Members()) == 3 })
	}
	nodes := []*replNode{a, b, c}
	all := func(name, value string) func() bool {
		return func() bool {
			for _, n := range nodes {
				if n.lww.get(name) != value {
					return false
				}
			}
			return true
		}
	}
	a.set("small", "one")
	eventually(t, 5*time.Second, "a small change everywhere", all("small", "one"))
	if a.x.Stats().Broadcasts != 1 || a.x.Stats().ReliableSends != 0 {
		t.Fatalf("small change: %d gossiped, %d streamed", a.x.Stats().Broadcasts, a.x.Stats().ReliableSends)
	}
	c.set("small", "two") // a newer version, from another node
	eventually(t, 5*time.Second, "the newer value everywhere", all("small", "two"))

	big := strings.Repeat("x", 200_000)
	b.set("big", big)
	eventually(t, 5*time.Second, "a 200 kB change everywhere", all("big", big))
	// A send is counted after SendReliable returns, which may be after the
	// other node merged it.
	eventually(t, 5*time.Second, "both stream sends counted", func() bool { return b.x.Stats().ReliableSends >= 2 })
	if got := b.x.Stats().ReliableSends; got != 2 {
		t.Fatalf("big change sent %d times over the stream, want 2", got)
	}

	for i := range 2000 {
		a.set("burst"+strconv.Itoa(i), strings.Repeat("v", 100))
	}
	eventually(t, 10*time.Second, "a burst of 2000 changes everywhere", func() bool { return b.lww.len() == 2002 && c.lww.len() == 2002 })
	if got := a.x.Stats().Broadcasts; got > 200 {
		t.Fatalf("%d changes of the burst were gossiped one by one", got)
	}
}

// A node joining gets the whole state by push/pull and its own state
// reaches the node it joined: state set without any broadcast travels at
// join, and a node restarted with older and newer values converges with
// the cluster (the newer version wins on both sides).
func TestReplicatedStateOnJoin(t *testing.T) {
	t.Parallel()
	restored := newLWW() // as a node starts with what it had on disk
	for i := range 500 {
		restored.set("a"+strconv.Itoa(i), "va") // never broadcast
	}
	a := startReplNode(t, testKey, "1", restored)
	b := startReplNode(t, testKey, "2", nil)
	b.join(t, a)
	eventually(t, 5*time.Second, "a's state at b", func() bool { return b.lww.len() == 500 })
	a.set("shared", "new") // version 1
	a.set("a0", "va2")     // version 2
	eventually(t, 5*time.Second, "the broadcasts at b", func() bool { return b.lww.get("shared") == "new" && b.lww.get("a0") == "va2" })

	stale := newLWW() // a node that was down: one value older, one newer
	stale.set("a0", "old")
	for range 3 {
		stale.set("shared", "newest") // version 3
	}
	stale.set("d-only", "vd")
	d := startReplNode(t, testKey, "4", stale)
	d.join(t, b)
	eventually(t, 10*time.Second, "states merged both ways", func() bool {
		return d.lww.len() == 502 && b.lww.len() == 502 &&
			d.lww.get("a499") == "va" && d.lww.get("a0") == "va2" && d.lww.get("shared") == "newest" &&
			b.lww.get("d-only") == "vd" && b.lww.get("shared") == "newest" && b.lww.get("a0") == "va2"
	})
}

// A node that lost a change (gossip is UDP) gets it within seconds: nodes
// gossip their state's hash and send their state to a node whose hash
// stays different, long before the next push/pull (30 s here).
func TestReplicatedLossRepairedByDigests(t *testing.T) {
	t.Parallel()
	a := startReplNodeTiming(t, testKey, "1", nil, LANTiming())
	b := startReplNodeTiming(t, testKey, "2", nil, LANTiming())
	c := startReplNodeTiming(t, testKey, "3", nil, LANTiming())
	b.join(t, a)
	c.join(t, a)
	for _, n := range []*replNode{a, b, c} {
		waitFor(t, n.g, "three members", func() bool { return len(n.g.Members()) == 3 })
	}
	c.lww.mu.Lock()
	c.lww.lose = 1
	c.lww.mu.Unlock()
	// Too large for gossip: sent once over the stream, which c loses.
	big := strings.Repeat("v", 5000)
	a.set("lost", big)
	eventually(t, 5*time.Second, "the change at b", func() bool { return b.lww.get("lost") == big })
	eventually(t, 5*time.Second, "c losing it", func() bool {
		c.lww.mu.Lock()
		defer c.lww.mu.Unlock()
		return c.lww.lost > 0
	})
	c.lww.mu.Lock()
	c.lww.lose = 0
	c.lww.mu.Unlock()
	start := time.Now()
	eventually(t, 8*time.Second, "the lost change at c", func() bool { return c.lww.get("lost") == big })
	if a.x.Stats().Repairs+b.x.Stats().Repairs == 0 {
		t.Fatal("repaired without a digest repair")
	}
	t.Logf("repaired %v after c stopped losing messages", time.Since(start))
}

// memberlist's callbacks return at once while Merge is stuck (on a disk
// commit, say); received frames wait in a bounded backlog.
func TestReplicatorCallbacksNeverBlock(t *testing.T) {
	t.Parallel()
	l := newLWW()
	l.gate = make(chan struct{})
	n := startReplNode(t, testKey, "1", l)
	var open sync.Once
	release := func() { open.Do(func() { close(l.gate) }) }
	t.Cleanup(release) // before Close (cleanups run last first): a failure must not hang
	n.x.mu.Lock()
	n.x.backlog = 4 << 20
	n.x.mu.Unlock()
	d := (*gossipDelegate)(n.g)
	done := make(chan struct{})
	go func() {
		defer close(done)
		frame := appendChange(nil, "k", lwwChange("k", 1, "v"))
		for range 1000 {
			d.NotifyMsg(frame)
			d.MergeRemoteState(frame, false)
			d.LocalState(false)
			d.GetBroadcasts(3, 1400)
		}
		huge := make([]byte, 1<<20)
		huge[0] = frameChange
		for range 20 {
			d.NotifyMsg(huge)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a delegate callback blocked while Merge was stuck")
	}
	if n.x.Stats().Dropped == 0 {
		t.Fatal("20 MiB were buffered while Merge was stuck (backlog of 4 MiB not bounded)")
	}
	release()
	eventually(t, 5*time.Second, "the backlog merged", func() bool { return n.lww.get("k") == "v" })
}

// Replicated changes travel only over encrypted gossip: NewGossip refuses
// a Replicator without a key, and an unencrypted message sent to a node's
// gossip port is dropped by memberlist before it reaches the Replicator.
func TestReplicatedMessagesNeedTheClusterKey(t *testing.T) {
	t.Parallel()
	x := NewReplicator(newLWW(), nil)
	if _, err := NewGossip(GossipConfig{Self: Member{ID: NewID(), Addr: "127.0.0.1:1"}, BindAddr: "127.0.0.1", Replicator: x}); err != errNoKey {
		t.Fatalf("a Replicator without a key: %v", err)
	}
	a := startReplNode(t, testKey, "1", nil)
	b := startReplNode(t, testKey, "2", nil)
	b.join(t, a)
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", a.g.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const userMsg = 8 // memberlist's message type for delegate messages
	forged := append([]byte{userMsg}, appendChange(nil, "forged", lwwChange("forged", 99, "evil"))...)
	if _, err := conn.Write(forged); err != nil {
		t.Fatal(err)
	}
	// A's single UDP listener handles packets in order: once b's change
	// (sent after the forged one) is merged, the forged one was seen.
	b.set("legit", "ok")
	eventually(t, 5*time.Second, "the legitimate change", func() bool { return a.lww.get("legit") == "ok" })
	if a.lww.get("forged") != "" {
		t.Fatal("an unencrypted message was applied")
	}
}
