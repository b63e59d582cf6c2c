package shard

import (
	"slices"
)

// Authority decides, on one node, which slots this node holds (serves from
// its own store) and where every other slot's commands go. It applies the
// handoff rules of the package doc to each new member set and to each
// handoff step, and returns the Table the hot path routes with.
//
// Not safe for concurrent use: one goroutine (the cluster's) owns it. The
// Tables it returns are immutable and safe to share.
type Authority struct {
	self     string
	replicas int
	epoch    uint64
	cur      *Table
	held     slotSet           // slots whose state this node holds
	handing  slotSet           // held slots in the middle of a transfer
	source   map[uint16]string // owned, not yet held: who holds them
	gave     map[uint16]string // handed to a member that did not own them (yet)
	claimed  int64             // slots taken without a handoff (their holder was gone)
	claims   []uint16          // those slots, since the last TakeClaims
}

// Transfer is a group of slots to hand to one member.
type Transfer struct {
	To    string // member ID
	Slots []uint16
}

type slotSet [NumSlots / 64]uint64

func (s *slotSet) has(i uint16) bool { return s[i>>6]&(1<<(i&63)) != 0 }
func (s *slotSet) add(i uint16)      { s[i>>6] |= 1 << (i & 63) }
func (s *slotSet) del(i uint16)      { s[i>>6] &^= 1 << (i & 63) }

// NewAuthority returns the authority of the node selfID, holding nothing.
// replicas is passed to every Table (the length of each slot's node list
// minus one).
func NewAuthority(selfID string, replicas int) *Authority {
	return &Authority{self: selfID, replicas: replicas, source: map[uint16]string{}, gave: map[uint16]string{}}
}

// Table returns the current table (nil before the first Rebuild).
func (a *Authority) Table() *Table { return a.cur }

// Holds reports whether this node holds slot's state.
func (a *Authority) Holds(slot uint16) bool { return a.held.has(slot) }

// Claimed returns how many slots this node took without a handoff because
// the member holding them had gone (died). Their state is what this node
// has of them: a replica's copy (see TakeClaims), or nothing.
func (a *Authority) Claimed() int64 { return a.claimed }

// TakeClaims returns the slots this node took without a handoff since the
// last call (ascending within each Rebuild), and forgets them. The caller
// promotes its replica copies of them into its store before it publishes
// the table that serves them: with replicas, the new owner of a dead
// owner's slot is its first live replica (the next node of the slot's
// rendezvous order), so the state it serves is the one it was streamed.
func (a *Authority) TakeClaims() []uint16 {
	c := a.claims
	a.claims = nil
	return c
}

// Settled reports whether this node holds every slot it owns.
func (a *Authority) Settled() bool { return len(a.source) == 0 && a.cur != nil }

// Rebuild computes the table for a new member set (self included; members
// carry their Settled flags) and returns it. The rules:
//   - a slot this node holds stays held (if another member now owns it,
//     Plan hands it over);
//   - a slot this node owns but does not hold is imported from its source:
//     the member that owned it in this node's previous table, or, for a
//     node without one (it just started), the owner among the other
//     settled members. With no settled member at all the cluster is new
//     and the owner claims the slot at once; a source that is gone (dead
//     or left without handing off) makes the owner claim it too, counted
//     in Claimed and listed by TakeClaims (the owner is then the slot's
//     first live replica, which promotes its copy);
//   - every other slot routes to its owner, which forwards to its source
//     while it imports; except a slot this node handed to a member that
//     does not own it (ownership changed during the transfer): that one
//     routes to where it went, which hands it on to the owner in turn,
//     until the owner says it is settled.
func (a *Authority) Rebuild(members []Member) *Table {
	a.epoch++
	prev := a.cur
	t := NewTable(members, a.self, a.replicas, a.epoch)
	self := t.Self()
	var others []Member
	for _, m := range t.Members() {
		if m.Settled && m.ID != a.self {
			others = append(others, m)
		}
	}
	var settledOthers *Table
	if prev == nil && len(others) > 0 {
		settledOthers = NewTable(others, "", 0, 0)
	}
	for s := range uint16(NumSlots) {
		owner := t.Owner(s)
		switch {
		case self < 0:
			// Not a member (yet, or any more): route to owners.
			t.holder[s] = uint16(owner)
		case a.handing.has(s):
			t.holder[s] = Handing
		case a.held.has(s):
			t.holder[s] = uint16(self)
		case owner != self:
			delete(a.source, s)
			if to, ok := a.gave[s]; ok {
				// Once the owner is settled it holds the slot: go there.
				if i := t.Index(to); i >= 0 && i != owner && !t.Member(owner).Settled {
					t.holder[s] = uint16(i)
					continue
				}
				delete(a.gave, s)
			}
			t.holder[s] = uint16(owner)
		default:
			src, ok := a.source[s]
			if !ok {
				src, ok = a.gave[s]
				delete(a.gave, s)
			}
			if !ok {
				switch {
				case prev != nil && prev.Len() > 0:
					src = prev.Member(prev.Owner(s)).ID
				case settledOthers != nil:
					src = settledOthers.Member(settledOthers.Owner(s)).ID
				}
			}
			if i := t.Index(src); src != "" && src != a.self && i >= 0 {
				a.source[s] = src
				t.holder[s] = uint16(i)
				continue
			}
			if src != "" && src != a.self {
				// Its holder is gone: the state is what this node has
				// of it (a replica's copy, promoted by the caller).
				a.claimed++
				a.claims = append(a.claims, s)
			}
			delete(a.source, s)
			a.held.add(s)
			t.holder[s] = uint16(self)
		}
	}
	a.cur = t
	return t
}

// Plan returns the held slots that another member owns, grouped by that
// member (sorted by ID, slots ascending), at most max slots per transfer.
// Slots being handed now are left out.
func (a *Authority) Plan(max int) []Transfer {
	t := a.cur
	if t == nil || t.Self() < 0 {
		return nil
	}
	by := map[int][]uint16{}
	for s := range uint16(NumSlots) {
		if a.held.has(s) && !a.handing.has(s) {
			if o := t.Owner(s); o != t.Self() {
				by[o] = append(by[o], s)
			}
		}
	}
	var out []Transfer
	for _, o := range slices.Sorted(mapKeys(by)) {
		slots := by[o]
		for len(slots) > 0 {
			n := min(max, len(slots))
			out = append(out, Transfer{To: t.Member(o).ID, Slots: slots[:n:n]})
			slots = slots[n:]
		}
	}
	return out
}

func mapKeys(m map[int][]uint16) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// BeginHandoff marks held slots as being handed: the returned table routes
// them to Handing, so the server parks their commands while the state is
// in transit. Slots not held are ignored.
func (a *Authority) BeginHandoff(slots []uint16) *Table {
	var mark []uint16
	for _, s := range slots {
		if a.held.has(s) {
			a.handing.add(s)
			mark = append(mark, s)
		}
	}
	a.epoch++
	a.cur = a.cur.WithHolders(mark, Handing, a.epoch)
	return a.cur
}

// EndHandoff finishes a handoff of slots to member to. When ok (the new
// holder acknowledged the whole transfer) the slots are no longer held and
// route to it; otherwise they stay held and local, to be planned again.
func (a *Authority) EndHandoff(slots []uint16, to string, ok bool) *Table {
	a.epoch++
	t := a.cur
	i := t.Index(to)
	if i < 0 {
		ok = false // gone meanwhile: keep serving the slots here
	}
	for _, s := range slots {
		a.handing.del(s)
		if ok {
			a.held.del(s)
			a.gave[s] = to
		}
	}
	if ok {
		a.cur = t.WithHolders(slots, i, a.epoch)
	} else {
		a.cur = t.WithHolders(slots, t.Self(), a.epoch)
	}
	return a.cur
}

// Import records that this node now holds slots, whose state it has
// received in full from from, and returns the table that serves them
// here. A slot this node already held was held twice (two nodes claimed
// it, see the package doc): the caller merges the received state instead
// of replacing its own, as Conflicts reports.
func (a *Authority) Import(slots []uint16) *Table {
	a.epoch++
	for _, s := range slots {
		a.held.add(s)
		delete(a.source, s)
		delete(a.gave, s)
	}
	a.cur = a.cur.WithHolders(slots, a.cur.Self(), a.epoch)
	return a.cur
}

// Conflicts returns which of slots this node holds already (an import of
// them must merge, not replace).
func (a *Authority) Conflicts(slots []uint16) []uint16 {
	var out []uint16
	for _, s := range slots {
		if a.held.has(s) {
			out = append(out, s)
		}
	}
	return out
}

// HeldCount returns how many slots this node holds.
func (a *Authority) HeldCount() int {
	n := 0
	for s := range uint16(NumSlots) {
		if a.held.has(s) {
			n++
		}
	}
	return n
}
