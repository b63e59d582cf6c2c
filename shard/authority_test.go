package shard

import (
	"slices"
	"testing"
)

// sim drives the Authority of several nodes through joins, leaves, deaths
// and handoffs, as the cluster goroutines would, without gossip or network:
// every node sees the same member list, and a transfer is instantaneous
// unless a test interleaves steps by hand.
type sim struct {
	t       *testing.T
	nodes   map[string]*Authority
	live    []string
	leaving map[string]bool
	moved   int
	replica int // replicas per slot for new nodes
}

func newSim(t *testing.T) *sim {
	return &sim{t: t, nodes: map[string]*Authority{}, leaving: map[string]bool{}}
}

func (s *sim) members() []Member {
	var ms []Member
	for _, id := range s.live {
		ms = append(ms, Member{ID: id, Settled: s.nodes[id].Settled(), Leaving: s.leaving[id]})
	}
	return ms
}

func (s *sim) rebuild(ids ...string) {
	ms := s.members()
	for _, id := range ids {
		s.nodes[id].Rebuild(ms)
	}
}

func (s *sim) rebuildAll() { s.rebuild(s.live...) }

// start adds a node: it starts, joins and builds its first table from the
// members it sees (itself unsettled), then everyone rebuilds.
func (s *sim) start(id string) {
	s.nodes[id] = NewAuthority(id, s.replica)
	s.live = append(s.live, id)
	s.rebuild(id)
	s.rebuildAll()
}

func (s *sim) remove(id string) {
	s.live = slices.DeleteFunc(s.live, func(x string) bool { return x == id })
	s.rebuildAll()
}

// transfer runs one planned transfer to completion, successfully or not.
func (s *sim) transfer(from string, tr Transfer, ok bool) {
	s.nodes[from].BeginHandoff(tr.Slots)
	if ok {
		s.nodes[tr.To].Import(tr.Slots)
		s.moved += len(tr.Slots)
	}
	s.nodes[from].EndHandoff(tr.Slots, tr.To, ok)
}

// settle runs handoffs and rebuilds until no node plans anything.
func (s *sim) settle() {
	for range 10 {
		busy := false
		for _, id := range s.live {
			for _, tr := range s.nodes[id].Plan(1000) {
				busy = true
				s.transfer(id, tr, true)
			}
		}
		s.rebuildAll()
		if !busy {
			return
		}
	}
	s.t.Fatal("handoffs did not settle")
}

// check asserts that every slot is held by exactly one live node and that
// a command for it reaches that node from any node within maxHops hops
// (or is parked at the node handing it).
func (s *sim) check(maxHops int) {
	s.t.Helper()
	for slot := range uint16(NumSlots) {
		holders := 0
		for _, id := range s.live {
			if s.nodes[id].Holds(slot) {
				holders++
			}
		}
		if holders != 1 {
			s.t.Fatalf("slot %d held by %d nodes", slot, holders)
		}
		for _, start := range s.live {
			at := start
			for hop := 0; ; hop++ {
				tb := s.nodes[at].Table()
				if hop > maxHops {
					s.t.Fatalf("slot %d from %s: more than %d hops (at %s: owner %s holder %d)", slot, start[:4], maxHops, at[:4], tb.Member(tb.Owner(slot)).ID[:4], tb.Holder(slot))
				}
				if tb.Local(slot) {
					if !s.nodes[at].Holds(slot) {
						s.t.Fatalf("slot %d served by %s which does not hold it", slot, at[:4])
					}
					break
				}
				h := tb.Holder(slot)
				if h == Handing {
					break
				}
				if h < 0 || h == NoHolder {
					s.t.Fatalf("slot %d from %s: no holder at %s", slot, start[:4], at[:4])
				}
				at = tb.Member(h).ID
			}
		}
	}
}

// settledOnOwners asserts the steady state: every node routes every slot
// straight to its owner, which holds it, and every node is settled.
func (s *sim) settledOnOwners() {
	s.t.Helper()
	for _, id := range s.live {
		a := s.nodes[id]
		if !a.Settled() {
			s.t.Fatalf("%s not settled", id[:4])
		}
		tb := a.Table()
		for slot := range uint16(NumSlots) {
			if tb.Holder(slot) != tb.Owner(slot) {
				s.t.Fatalf("%s: slot %d routes to %d, owner %d", id[:4], slot, tb.Holder(slot), tb.Owner(slot))
			}
		}
	}
	s.check(1)
}

func TestJoinsHandOffAQuarterOfTheSlots(t *testing.T) {
	s := newSim(t)
	n := ids(5)
	s.start(n[0])
	if !s.nodes[n[0]].Settled() || s.nodes[n[0]].HeldCount() != NumSlots {
		t.Fatal("a lone first node does not hold every slot")
	}
	s.settledOnOwners()
	for k := 1; k < 4; k++ {
		s.start(n[k])
		if s.nodes[n[k]].Settled() || s.nodes[n[k]].HeldCount() != 0 {
			t.Fatalf("joiner %d holds slots before any handoff", k)
		}
		s.check(3)
		s.moved = 0
		s.settle()
		s.settledOnOwners()
		if !within(s.moved, 1/float64(k+1)) {
			t.Errorf("join of node %d moved %d slots", k+1, s.moved)
		}
		for _, id := range s.live {
			if s.nodes[id].Claimed() != 0 {
				t.Fatalf("%s claimed slots during a join", id[:4])
			}
		}
	}
}

func TestGracefulLeaveHandsEverythingOff(t *testing.T) {
	s := newSim(t)
	n := ids(4)
	for _, id := range n {
		s.start(id)
		s.settle()
	}
	gone := n[2]
	had := s.nodes[gone].HeldCount()
	s.leaving[gone] = true
	s.rebuildAll()
	s.check(3)
	s.moved = 0
	s.settle()
	if s.nodes[gone].HeldCount() != 0 || s.moved != had {
		t.Fatalf("leaver still holds %d slots; %d of %d moved", s.nodes[gone].HeldCount(), s.moved, had)
	}
	s.check(2)
	s.remove(gone)
	s.settledOnOwners()
	for _, id := range s.live {
		if s.nodes[id].Claimed() != 0 {
			t.Fatal("slots were claimed after a graceful leave")
		}
	}
}

func TestDeathClaimsTheDeadNodesSlots(t *testing.T) {
	s := newSim(t)
	n := ids(3)
	for _, id := range n {
		s.start(id)
		s.settle()
	}
	dead := s.nodes[n[1]].HeldCount()
	s.remove(n[1])
	var claimed int64
	for _, id := range s.live {
		claimed += s.nodes[id].Claimed()
	}
	if claimed != int64(dead) {
		t.Fatalf("claimed %d slots, the dead node held %d", claimed, dead)
	}
	s.settledOnOwners()
}

// Issue 10's failover: with one replica per slot, every slot of a node
// that dies is claimed by the node that was its first replica (the next
// in its rendezvous order), which lists it in TakeClaims exactly once; no
// other node claims anything.
func TestDeathHandsSlotsToTheFirstReplica(t *testing.T) {
	s := newSim(t)
	s.replica = 1
	n := ids(4)
	for _, id := range n {
		s.start(id)
		s.settle()
	}
	for _, id := range n {
		s.nodes[id].TakeClaims()
	}
	before := s.nodes[n[0]].Table()
	victim := before.Index(n[2])
	s.remove(n[2])
	want := map[string][]uint16{}
	for sl := range uint16(NumSlots) {
		if nodes := before.Nodes(sl); int(nodes[0]) == victim {
			if len(nodes) != 2 {
				t.Fatalf("slot %d has %d nodes, want 2", sl, len(nodes))
			}
			id := before.Member(int(nodes[1])).ID
			want[id] = append(want[id], sl)
		}
	}
	total := 0
	for _, id := range s.live {
		got := s.nodes[id].TakeClaims()
		if !slices.Equal(got, want[id]) {
			t.Fatalf("%s claimed %d slots, want the %d it was first replica of", id[:4], len(got), len(want[id]))
		}
		if again := s.nodes[id].TakeClaims(); len(again) != 0 {
			t.Fatal("TakeClaims did not forget")
		}
		total += len(got)
	}
	if total == 0 {
		t.Fatal("the dead node owned nothing")
	}
	s.settledOnOwners()
}

// Issue 10's rejoin: a node that comes back with the same ID imports its
// slots from whoever holds them now, never trusting what it had.
func TestRejoinImportsFromTheCurrentHolders(t *testing.T) {
	s := newSim(t)
	n := ids(3)
	for _, id := range n {
		s.start(id)
		s.settle()
	}
	s.remove(n[2])
	s.settledOnOwners()
	s.start(n[2])
	if s.nodes[n[2]].HeldCount() != 0 {
		t.Fatal("the rejoining node claimed slots")
	}
	s.check(3)
	s.settle()
	s.settledOnOwners()
}

func TestFailedTransferKeepsServingLocally(t *testing.T) {
	s := newSim(t)
	n := ids(2)
	s.start(n[0])
	s.start(n[1])
	plan := s.nodes[n[0]].Plan(100)
	if len(plan) == 0 {
		t.Fatal("no plan")
	}
	tr := plan[0]
	tb := s.nodes[n[0]].BeginHandoff(tr.Slots)
	for _, sl := range tr.Slots {
		if tb.Holder(sl) != Handing {
			t.Fatal("slot in transit is not parked")
		}
	}
	tb = s.nodes[n[0]].EndHandoff(tr.Slots, tr.To, false)
	for _, sl := range tr.Slots {
		if !tb.Local(sl) || !s.nodes[n[0]].Holds(sl) {
			t.Fatal("a failed transfer did not return the slot to local service")
		}
	}
	s.check(3)
	s.settle()
	s.settledOnOwners()
}

// A second membership change in the middle of a transfer: node 3 joins
// while node 1 hands slots to node 2. Every slot still has one holder, and
// the cluster settles on the newest owners.
func TestChangeDuringHandoff(t *testing.T) {
	s := newSim(t)
	n := ids(3)
	s.start(n[0])
	s.start(n[1])
	tr := s.nodes[n[0]].Plan(100000)[0]
	s.nodes[n[0]].BeginHandoff(tr.Slots)
	s.start(n[2]) // arrives mid-transfer
	s.check(4)
	s.nodes[n[1]].Import(tr.Slots)
	s.nodes[n[0]].EndHandoff(tr.Slots, tr.To, true)
	s.rebuildAll()
	s.check(4)
	s.settle()
	s.settledOnOwners()
}

// Nodes that all start at once with nobody settled bootstrap: each owner
// claims its slots, and no slot is held twice.
func TestSimultaneousStart(t *testing.T) {
	s := newSim(t)
	n := ids(3)
	for _, id := range n {
		s.nodes[id] = NewAuthority(id, 0)
		s.live = append(s.live, id)
	}
	s.rebuildAll()
	s.settledOnOwners()
}

func TestImportConflicts(t *testing.T) {
	a := NewAuthority(hexID('a'), 0)
	a.Rebuild([]Member{{ID: hexID('a')}})
	if got := a.Conflicts([]uint16{1, 2}); len(got) != 2 {
		t.Fatalf("conflicts %v", got)
	}
}
