package shard

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func members(ids ...string) []Member {
	ms := make([]Member, len(ids))
	for i, id := range ids {
		ms[i] = Member{ID: id, Addr: "127.0.0.1:" + fmt.Sprint(7000+i)}
	}
	return ms
}

func hexID(c byte) string { return strings.Repeat(string(c), 40) }

func counts(t *Table) []int {
	c := make([]int, t.Len())
	for s := range NumSlots {
		c[t.Owner(uint16(s))]++
	}
	return c
}

// The slot→owner map of a fixed member set is pinned: every node of every
// version must compute the same one, or nodes would disagree on owners.
func TestTableGolden(t *testing.T) {
	tb := NewTable(members(hexID('c'), hexID('a'), hexID('b')), hexID('a'), 0, 1)
	got := counts(tb)
	want := []int{5696, 5280, 5408}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("slots per member = %v, want %v", got, want)
	}
	for _, g := range []struct {
		slot  uint16
		owner byte
	}{{0, 'c'}, {1, 'c'}, {12182, 'b'}, {3443, 'a'}, {16383, 'a'}} {
		if id := tb.Member(tb.Owner(g.slot)).ID; id != hexID(g.owner) {
			t.Errorf("owner of slot %d = %s…, want %c…", g.slot, id[:4], g.owner)
		}
	}
	// Input order and duplicates do not matter.
	tb2 := NewTable(members(hexID('b'), hexID('c'), hexID('a'), hexID('b')), hexID('c'), 0, 1)
	for s := range NumSlots {
		if tb.Member(tb.Owner(uint16(s))).ID != tb2.Member(tb2.Owner(uint16(s))).ID {
			t.Fatalf("slot %d: owner depends on input order", s)
		}
	}
	if tb.Self() != 0 || tb2.Self() != 2 || !tb.Local(3443) || tb2.Local(3443) {
		t.Errorf("self: %d %d", tb.Self(), tb2.Self())
	}
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%040x", uint64(i+1)*0x9e3779b97f4a7c15)
	}
	return out
}

// within reports whether x slots are within 5 standard deviations of a
// binomial count over the slot groups with probability p.
func within(x int, p float64) bool {
	mean := numGroups * p
	sd := math.Sqrt(numGroups * p * (1 - p))
	return math.Abs(float64(x)/GroupSlots-mean) <= 5*sd
}

func TestBalance(t *testing.T) {
	for n := 1; n <= 10; n++ {
		tb := NewTable(members(ids(n)...), "", 0, 1)
		for i, c := range counts(tb) {
			if !within(c, 1/float64(n)) {
				t.Errorf("n=%d: member %d owns %d slots", n, i, c)
			}
		}
	}
}

// When a member joins, only the slots it now owns move, about 1/(N+1) of
// them; when one leaves, only its own move, spread over the others.
func TestMinimalMovement(t *testing.T) {
	for n := 1; n <= 8; n++ {
		all := ids(n + 1)
		before := NewTable(members(all[:n]...), "", 0, 1)
		after := NewTable(members(all...), "", 0, 2)
		newcomer := after.Index(all[n])
		moved := 0
		for s := range NumSlots {
			was := before.Member(before.Owner(uint16(s))).ID
			now := after.Member(after.Owner(uint16(s))).ID
			if was == now {
				continue
			}
			moved++
			if now != all[n] {
				t.Fatalf("n=%d: slot %d moved %s→%s, not to the newcomer", n, s, was[:6], now[:6])
			}
		}
		if !within(moved, 1/float64(n+1)) {
			t.Errorf("join %d→%d: %d slots moved, want about %d", n, n+1, moved, NumSlots/(n+1))
		}
		if moved != len(after.Owned(newcomer)) {
			t.Errorf("moved %d but the newcomer owns %d", moved, len(after.Owned(newcomer)))
		}
		// Leave: the reverse, for every member in turn.
		for gone := range n + 1 {
			var rest []string
			for i, id := range all {
				if i != gone {
					rest = append(rest, id)
				}
			}
			smaller := NewTable(members(rest...), "", 0, 3)
			for s := range NumSlots {
				was := after.Member(after.Owner(uint16(s))).ID
				now := smaller.Member(smaller.Owner(uint16(s))).ID
				if was != now && was != all[gone] {
					t.Fatalf("leave of %d: slot %d moved from a member that stayed", gone, s)
				}
			}
		}
	}
}

// Replica order is the same function: the owner is the first of each
// slot's nodes, and the list is the owner order of shrinking member sets.
func TestNodesOrder(t *testing.T) {
	all := ids(5)
	tb := NewTable(members(all...), "", 2, 1)
	for s := range NumSlots {
		nodes := tb.Nodes(uint16(s))
		if len(nodes) != 3 || int(nodes[0]) != tb.Owner(uint16(s)) {
			t.Fatalf("slot %d: nodes %v owner %d", s, nodes, tb.Owner(uint16(s)))
		}
		if nodes[0] == nodes[1] || nodes[1] == nodes[2] || nodes[0] == nodes[2] {
			t.Fatalf("slot %d: repeated node in %v", s, nodes)
		}
	}
	// Without its owner, a slot goes to its first replica: the failover
	// target of issue 10 is the rendezvous successor.
	for s := uint16(0); s < NumSlots; s += 997 {
		nodes := tb.Nodes(s)
		var rest []string
		for _, id := range all {
			if id != tb.Member(int(nodes[0])).ID {
				rest = append(rest, id)
			}
		}
		smaller := NewTable(members(rest...), "", 0, 2)
		if smaller.Member(smaller.Owner(s)).ID != tb.Member(int(nodes[1])).ID {
			t.Fatalf("slot %d: without its owner it goes elsewhere than its first replica", s)
		}
	}
	// Fewer members than replicas+1: every member, once.
	if got := NewTable(members(all[:2]...), "", 3, 1).Nodes(5); len(got) != 2 {
		t.Fatalf("2 members, 3 replicas: %v", got)
	}
}

// Ranking slots in groups keeps the map in a few hundred ranges, which is
// what CLUSTER SLOTS and CLUSTER NODES list.
func TestFewRanges(t *testing.T) {
	tb := NewTable(members(ids(3)...), "", 0, 1)
	ranges := 1
	for s := 1; s < NumSlots; s++ {
		if tb.Owner(uint16(s)) != tb.Owner(uint16(s-1)) {
			ranges++
		}
	}
	if ranges > numGroups {
		t.Fatalf("%d ranges", ranges)
	}
	t.Logf("3 members: %d ranges", ranges)
}

func TestHolders(t *testing.T) {
	tb := NewTable(members(ids(3)...), ids(3)[0], 0, 1)
	self := tb.Self()
	var mine, theirs []uint16
	for s := range NumSlots {
		if tb.Owner(uint16(s)) == self {
			mine = append(mine, uint16(s))
		} else if len(theirs) < 3 {
			theirs = append(theirs, uint16(s))
		}
	}
	for _, s := range mine {
		if !tb.Local(s) {
			t.Fatalf("own slot %d not local", s)
		}
	}
	moved := tb.WithHolders(theirs, self, 2)
	for _, s := range theirs {
		if tb.Local(s) || !moved.Local(s) {
			t.Fatalf("slot %d: holder change not applied to the copy only", s)
		}
		if moved.Owner(s) == self {
			t.Fatalf("holder change changed the owner")
		}
	}
	if moved.Epoch() != 2 || tb.Epoch() != 1 {
		t.Fatal("epochs")
	}
	none := moved.WithHolders(mine[:1], NoHolder, 3)
	if none.Local(mine[0]) || none.Holder(mine[0]) != NoHolder {
		t.Fatal("NoHolder")
	}
}

func TestEmptyTable(t *testing.T) {
	tb := NewTable(nil, "x", 1, 0)
	if tb.Owner(1) != -1 || tb.Holder(1) != -1 || tb.Local(1) || tb.Nodes(1) != nil {
		t.Fatal("empty table answers as if it had members")
	}
	var r Router
	if r.Load() != nil {
		t.Fatal("zero router has a table")
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	var r Router
	r.Store(NewTable(members(ids(3)...), ids(3)[1], 1, 1))
	key := []byte("user:12345")
	n := testing.AllocsPerRun(1000, func() {
		tb := r.Load()
		s := Slot(key)
		if !tb.Local(s) {
			_ = tb.Member(tb.Holder(s)).Addr
		}
	})
	if n != 0 {
		t.Fatalf("lookup allocates %v times", n)
	}
}

func BenchmarkRoute(b *testing.B) {
	var r Router
	r.Store(NewTable(members(ids(3)...), ids(3)[1], 1, 1))
	key := []byte("ratelimit:user:12345")
	b.ReportAllocs()
	for b.Loop() {
		tb := r.Load()
		_ = tb.Local(Slot(key))
	}
}

func BenchmarkNewTable(b *testing.B) {
	ms := members(ids(10)...)
	b.ReportAllocs()
	for b.Loop() {
		NewTable(ms, "", 1, 1)
	}
}
