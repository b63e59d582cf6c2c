package shard

import (
	"encoding/binary"
	"slices"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Member is one node as the ownership map sees it. The zero value is not a
// member.
type Member struct {
	// ID is the node's 40-hex identity, stable across restarts (LoadID).
	// Ownership hashes it, so a node that restarts owns the same slots.
	ID string
	// Name is the operator's --node-name; informational.
	Name string
	// Addr is the RESP address clients and peers reach the node at.
	Addr string
	// HTTPAddr is the node's HTTP API address, empty when it has none.
	HTTPAddr string
	// GossipPort is the node's --cluster-port as memberlist knows it (the
	// bus port CLUSTER NODES shows); 0 when unknown.
	GossipPort int
	// Settled is true once the node holds every slot it owns (it has no
	// import pending). A joining node waits for handoffs from settled
	// nodes; a cluster with no settled member bootstraps: every owner
	// claims its slots at once.
	Settled bool
	// Leaving is true while the node hands its slots off before a
	// graceful exit: it stays reachable but owns nothing.
	Leaving bool
}

// Table is an immutable snapshot of slot ownership for one member set: for
// every slot, the members in rendezvous order (highest score first). The
// first is the slot's owner; issue 10's replicas are the next ones, from
// the same function, so ownership and replica placement can never
// disagree.
//
// Slots are ranked in groups of GroupSlots consecutive slots:
// Score(member, group) = xxhash64(member.ID || group as 2 bytes, big
// endian), and a group's slots belong to the member with the highest score.
// When a member joins, only the groups it now wins move (to it), and when
// one leaves only its own move: about 1/N either way, never a reshuffle.
// Groups keep the slot space in a few hundred ranges, so CLUSTER SLOTS
// stays tens of kilobytes (per-slot ranking would make ~11,000 ranges of
// one or two slots for 3 nodes), at a balance that is still within a few
// percent.
//
// Beside ownership, a Table carries each slot's holder: the member that
// has the slot's authoritative state and serves it. It equals the owner in
// a settled cluster and differs while a handoff is under way (see the
// package doc).
//
// Build with NewTable; never modify one. Safe for concurrent use.
type Table struct {
	members []Member // sorted by ID
	self    int      // index of this node, -1 if it is not a member
	width   int      // nodes per slot in order: min(replicas+1, len(members))
	order   []uint16 // NumSlots*width member indices
	holder  []uint16 // per slot: member index holding its state
	epoch   uint64
}

// GroupSlots is how many consecutive slots are ranked together.
const GroupSlots = 16

// numGroups is the number of slot groups.
const numGroups = NumSlots / GroupSlots

// Holder values beside member indices.
const (
	// NoHolder marks a slot whose state no live member is known to hold.
	NoHolder = 0xFFFF
	// Handing marks a slot this node is handing off right now: commands
	// for it wait (the server parks them) until the new holder has
	// acknowledged the state, then go there.
	Handing = 0xFFFE
)

// NewTable computes ownership for members (any order; duplicates by ID are
// dropped) as seen from the member whose ID is selfID. replicas is how
// many nodes follow the owner in each slot's order (0 for ownership only).
// Every slot's holder starts as its owner. epoch numbers the table (it
// only grows on a node).
func NewTable(members []Member, selfID string, replicas int, epoch uint64) *Table {
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b Member) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	ms = slices.CompactFunc(ms, func(a, b Member) bool { return a.ID == b.ID })
	t := &Table{members: ms, self: -1, epoch: epoch}
	for i := range ms {
		if ms[i].ID == selfID {
			t.self = i
		}
	}
	n := len(ms)
	if n == 0 {
		return t
	}
	// Leaving members own nothing (unless every member is leaving).
	var eligible []int
	for i := range ms {
		if !ms[i].Leaving {
			eligible = append(eligible, i)
		}
	}
	if len(eligible) == 0 {
		for i := range ms {
			eligible = append(eligible, i)
		}
	}
	t.width = min(replicas+1, len(eligible))
	t.order = make([]uint16, numGroups*t.width)
	t.holder = make([]uint16, NumSlots)
	bufs := make([][]byte, n)
	for _, i := range eligible {
		bufs[i] = append([]byte(ms[i].ID), 0, 0)
	}
	scores := make([]uint64, n)
	for g := range numGroups {
		for _, i := range eligible {
			b := bufs[i]
			binary.BigEndian.PutUint16(b[len(b)-2:], uint16(g))
			scores[i] = xxhash.Sum64(b)
		}
		row := t.order[g*t.width : (g+1)*t.width]
		// Partial selection of the top width scores; ties go to the lower
		// ID so every node agrees even then.
		for k := range row {
			best := -1
			for _, i := range eligible {
				if slices.Contains(row[:k], uint16(i)) {
					continue
				}
				if best < 0 || scores[i] > scores[best] {
					best = i
				}
			}
			row[k] = uint16(best)
		}
		for s := g * GroupSlots; s < (g+1)*GroupSlots; s++ {
			t.holder[s] = row[0]
		}
	}
	return t
}

// Epoch returns the number the table was built with.
func (t *Table) Epoch() uint64 { return t.epoch }

// Len returns the number of members.
func (t *Table) Len() int { return len(t.members) }

// Members returns the members sorted by ID. The slice is shared: do not
// modify it.
func (t *Table) Members() []Member { return t.members }

// Member returns member i.
func (t *Table) Member(i int) *Member { return &t.members[i] }

// Self returns this node's member index, or -1.
func (t *Table) Self() int { return t.self }

// Index returns the member index of id, or -1.
func (t *Table) Index(id string) int {
	i, ok := slices.BinarySearchFunc(t.members, id, func(m Member, id string) int {
		switch {
		case m.ID < id:
			return -1
		case m.ID > id:
			return 1
		}
		return 0
	})
	if !ok {
		return -1
	}
	return i
}

// Owner returns the member index owning slot; -1 when there are no members.
func (t *Table) Owner(slot uint16) int {
	if t.width == 0 {
		return -1
	}
	return int(t.order[int(slot/GroupSlots)*t.width])
}

// Nodes returns slot's members in rendezvous order: the owner, then up to
// replicas more. The slice is shared: do not modify it.
func (t *Table) Nodes(slot uint16) []uint16 {
	if t.width == 0 {
		return nil
	}
	g := int(slot / GroupSlots)
	return t.order[g*t.width : (g+1)*t.width]
}

// Holder returns where commands for slot go: the member index that holds
// its state (this node's own index when it serves the slot), Handing,
// NoHolder, or -1 when there are no members.
func (t *Table) Holder(slot uint16) int {
	if t.width == 0 {
		return -1
	}
	return int(t.holder[slot])
}

// Local reports whether this node holds slot and serves it itself. It is
// the hot path's question: no lock, no allocation.
func (t *Table) Local(slot uint16) bool {
	return t.width != 0 && int(t.holder[slot]) == t.self
}

// WithHolders returns a copy of t whose holder is h for every slot in
// slots (h a member index or NoHolder), with the given epoch. Members and
// order are shared with t.
func (t *Table) WithHolders(slots []uint16, h int, epoch uint64) *Table {
	nt := *t
	nt.epoch = epoch
	if t.width == 0 {
		return &nt
	}
	nt.holder = slices.Clone(t.holder)
	for _, s := range slots {
		nt.holder[s] = uint16(h)
	}
	return &nt
}

// Owned returns the slots member i owns, ascending.
func (t *Table) Owned(i int) []uint16 {
	var out []uint16
	for s := range NumSlots {
		if t.Owner(uint16(s)) == i {
			out = append(out, uint16(s))
		}
	}
	return out
}

// Router holds the current Table. Readers Load it without locks or
// allocation; the cluster's single writer Stores a new one when membership
// or a handoff changes it. The zero value holds no table (Load returns
// nil). Safe for concurrent use.
type Router struct {
	cur atomic.Pointer[Table]
}

// Load returns the current table (nil before the first Store).
func (r *Router) Load() *Table { return r.cur.Load() }

// Store makes t current.
func (r *Router) Store(t *Table) { r.cur.Store(t) }
