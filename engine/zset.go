package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"iter"
	"math"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Zset is a sorted set: distinct members (byte strings) ordered by
// (score, member), as in Redis. Members live in pages of encoded entries
// (score as 8 bytes, member length as a uvarint, member bytes), so a set
// is a handful of byte slices however many members it holds: the garbage
// collector sees one pointer per page, never one per member. A set above
// zsetIndexAbove members also keeps a pointer-free hash index from member
// to score, so every operation stays logarithmic or better in the set's
// size; ranks cost a walk over the page directory (one add per page).
//
// The zero value is an empty set. A Zset is not safe for concurrent use:
// the store's shard lock guards the sets it holds. Member slices returned
// by its methods alias its pages and are valid until the next change.
type Zset struct {
	pages []zpage
	n     int
	// idx is an open-addressing table (linear probing, load at most 3/4)
	// of (member hash, score bits) pairs; hash 0 marks an empty slot. nil
	// while the set is small.
	idx  []uint64
	idxN int
	// mem is the set's logical size (see Bytes); accounted is the part of
	// it already added to the owning shard's byte count.
	mem, accounted int64
}

type zpage struct {
	b []byte
	n int
}

const (
	zpageMaxEntries = 128
	zpageMaxBytes   = 4096
	zsetIndexAbove  = 128 // build the member index above this many members
	zsetIndexBelow  = 64  // and drop it below this many
	zsetBaseBytes   = 96  // the Zset struct and its side-table slot
	zpageBytes      = 32  // one page directory entry
)

// ErrBadZset: an encoded sorted set is malformed.
var ErrBadZset = errors.New("malformed sorted set encoding")

func zentrySize(member []byte) int {
	return 8 + uvarintLen(uint64(len(member))) + len(member)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// zdecode reads the entry at off, returning it and the next offset.
func zdecode(b []byte, off int) (score float64, member []byte, next int) {
	score = math.Float64frombits(binary.LittleEndian.Uint64(b[off:]))
	l, m := binary.Uvarint(b[off+8:])
	start := off + 8 + m
	end := start + int(l)
	return score, b[start:end:end], end
}

func zappend(b []byte, score float64, member []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(score))
	b = binary.AppendUvarint(b, uint64(len(member)))
	return append(b, member...)
}

// zless orders entries by score, then member bytes.
func zless(s1 float64, m1 []byte, s2 float64, m2 []byte) bool {
	if s1 != s2 {
		return s1 < s2
	}
	return bytes.Compare(m1, m2) < 0
}

func memberHash(member []byte) uint64 {
	h := xxhash.Sum64(member)
	if h == 0 {
		h = 1
	}
	return h
}

// Len returns the number of members.
func (z *Zset) Len() int { return z.n }

// Bytes returns the set's logical size: page capacities, the page
// directory, the index and a fixed overhead. It is what the store counts
// against maxmemory.
func (z *Zset) Bytes() int64 { return z.mem }

func (z *Zset) remeasure() {
	m := int64(zsetBaseBytes) + int64(cap(z.pages))*zpageBytes + int64(cap(z.idx))*8
	for i := range z.pages {
		m += int64(cap(z.pages[i].b))
	}
	z.mem = m
}

// Score returns member's score.
func (z *Zset) Score(member []byte) (float64, bool) {
	if z.idx != nil {
		return z.idxFind(memberHash(member), member)
	}
	for i := range z.pages {
		b := z.pages[i].b
		for off := 0; off < len(b); {
			s, m, next := zdecode(b, off)
			if bytes.Equal(m, member) {
				return s, true
			}
			off = next
		}
	}
	return 0, false
}

// locate finds where (score, member) is or would be: the page, the byte
// offset of the first entry not less than it, that entry's position in
// the page, and whether it is the entry itself.
func (z *Zset) locate(score float64, member []byte) (p, off, pos int, found bool) {
	if len(z.pages) == 0 {
		return 0, 0, 0, false
	}
	// The last page whose first entry is not greater than the target.
	p = searchFirst(len(z.pages), func(i int) bool {
		s, m, _ := zdecode(z.pages[i].b, 0)
		return zless(score, member, s, m)
	}) - 1
	if p < 0 {
		return 0, 0, 0, false
	}
	b := z.pages[p].b
	for off < len(b) {
		s, m, next := zdecode(b, off)
		if !zless(s, m, score, member) {
			return p, off, pos, s == score && bytes.Equal(m, member)
		}
		off = next
		pos++
	}
	return p, off, pos, false
}

// searchFirst returns the smallest i in [0, n) for which f is true (n if none),
// f being false then true.
func searchFirst(n int, f func(int) bool) int {
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if !f(mid) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// Insert adds a member that is not in the set. A -0 score is stored as 0
// (Redis prints it so); NaN must not be passed.
func (z *Zset) Insert(score float64, member []byte) {
	if score == 0 {
		score = 0
	}
	size := zentrySize(member)
	p, off, _, _ := z.locate(score, member)
	if len(z.pages) == 0 {
		z.pages = append(z.pages, zpage{})
	}
	pg := &z.pages[p]
	if need := len(pg.b) + size; need > cap(pg.b) {
		grown := make([]byte, len(pg.b), need+need/8)
		copy(grown, pg.b)
		pg.b = grown
	}
	pg.b = pg.b[:len(pg.b)+size]
	copy(pg.b[off+size:], pg.b[off:])
	zappend(pg.b[off:off], score, member)
	pg.n++
	z.n++
	if pg.n > zpageMaxEntries || (len(pg.b) > zpageMaxBytes && pg.n > 1) {
		z.split(p)
	}
	if z.idx != nil {
		z.idxInsert(memberHash(member), math.Float64bits(score))
	} else if z.n > zsetIndexAbove {
		z.buildIndex(false)
	}
	z.remeasure()
}

// split cuts page p in two halves by entry count.
func (z *Zset) split(p int) {
	pg := z.pages[p]
	off := 0
	for i := 0; i < pg.n/2; i++ {
		_, _, off = zdecode(pg.b, off)
	}
	left := zpage{b: slices.Clip(append([]byte(nil), pg.b[:off]...)), n: pg.n / 2}
	right := zpage{b: slices.Clip(append([]byte(nil), pg.b[off:]...)), n: pg.n - pg.n/2}
	z.pages[p] = left
	z.pages = slices.Insert(z.pages, p+1, right)
}

// Delete removes member, reporting whether it was there.
func (z *Zset) Delete(member []byte) bool {
	score, ok := z.Score(member)
	if !ok {
		return false
	}
	p, off, _, found := z.locate(score, member)
	if !found {
		return false // unreachable: Score found it
	}
	z.removeBytes(p, off, off+zentrySize(member), 1)
	if z.idx != nil {
		z.idxDelete(memberHash(member), math.Float64bits(score))
	}
	z.afterRemove()
	return true
}

// removeBytes cuts [from, to) holding count entries out of page p and
// drops or merges the page when it gets small.
func (z *Zset) removeBytes(p, from, to, count int) {
	pg := &z.pages[p]
	pg.b = append(pg.b[:from], pg.b[to:]...)
	pg.n -= count
	z.n -= count
	switch {
	case pg.n == 0:
		z.pages = slices.Delete(z.pages, p, p+1)
		return
	case len(pg.b) < cap(pg.b)/4:
		pg.b = slices.Clip(append([]byte(nil), pg.b...))
	}
	if pg.n < zpageMaxEntries/4 {
		for _, q := range []int{p + 1, p - 1} {
			if q < 0 || q >= len(z.pages) {
				continue
			}
			a, b := min(p, q), max(p, q)
			if z.pages[a].n+z.pages[b].n <= zpageMaxEntries/2 && len(z.pages[a].b)+len(z.pages[b].b) <= zpageMaxBytes/2 {
				merged := make([]byte, 0, len(z.pages[a].b)+len(z.pages[b].b))
				merged = append(append(merged, z.pages[a].b...), z.pages[b].b...)
				z.pages[a] = zpage{b: merged, n: z.pages[a].n + z.pages[b].n}
				z.pages = slices.Delete(z.pages, b, b+1)
				return
			}
		}
	}
}

func (z *Zset) afterRemove() {
	if z.idx != nil && z.n < zsetIndexBelow {
		z.idx, z.idxN = nil, 0
	}
	if cap(z.pages) > 4 && len(z.pages) < cap(z.pages)/4 {
		z.pages = slices.Clip(z.pages)
	}
	z.remeasure()
}

// Rank returns member's 0-based rank in ascending order.
func (z *Zset) Rank(member []byte) (int, bool) {
	score, ok := z.Score(member)
	if !ok {
		return 0, false
	}
	p, _, pos, found := z.locate(score, member)
	if !found {
		return 0, false
	}
	return z.pagesBefore(p) + pos, true
}

// pagesBefore counts the members in pages [0, p).
func (z *Zset) pagesBefore(p int) int {
	n := 0
	for i := range p {
		n += z.pages[i].n
	}
	return n
}

// Search returns the first rank whose entry is not below the boundary
// that less describes: less must be true for a prefix of the set and
// false after it (a score or member bound).
func (z *Zset) Search(less func(score float64, member []byte) bool) int {
	q := searchFirst(len(z.pages), func(i int) bool {
		s, m, _ := zdecode(z.pages[i].b, 0)
		return !less(s, m)
	})
	if q == 0 {
		return 0
	}
	p := q - 1
	rank := z.pagesBefore(p)
	b := z.pages[p].b
	for off := 0; off < len(b); rank++ {
		s, m, next := zdecode(b, off)
		if !less(s, m) {
			return rank
		}
		off = next
	}
	return rank
}

// seek returns the page and byte offset of rank r (0 <= r < Len).
func (z *Zset) seek(r int) (p, off int) {
	for p = 0; r >= z.pages[p].n; p++ {
		r -= z.pages[p].n
	}
	b := z.pages[p].b
	for ; r > 0; r-- {
		_, _, off = zdecode(b, off)
	}
	return p, off
}

// Range yields the entries of ranks [lo, hi) in ascending order (bounds
// are clamped). The set must not change during the iteration.
func (z *Zset) Range(lo, hi int) iter.Seq2[float64, []byte] {
	return func(yield func(float64, []byte) bool) {
		lo, hi := max(lo, 0), min(hi, z.n)
		if lo >= hi {
			return
		}
		p, off := z.seek(lo)
		for left := hi - lo; left > 0; p, off = p+1, 0 {
			b := z.pages[p].b
			for ; off < len(b) && left > 0; left-- {
				s, m, next := zdecode(b, off)
				if !yield(s, m) {
					return
				}
				off = next
			}
		}
	}
}

// RemoveRange deletes the entries of ranks [lo, hi) (clamped) and returns
// how many it removed.
func (z *Zset) RemoveRange(lo, hi int) int {
	lo, hi = max(lo, 0), min(hi, z.n)
	if lo >= hi {
		return 0
	}
	removed := 0
	for removed < hi-lo {
		p, off := z.seek(lo)
		b := z.pages[p].b
		end, count := off, 0
		for end < len(b) && removed+count < hi-lo {
			s, m, next := zdecode(b, end)
			if z.idx != nil {
				z.idxDelete(memberHash(m), math.Float64bits(s))
			}
			end = next
			count++
		}
		z.removeBytes(p, off, end, count)
		removed += count
	}
	z.afterRemove()
	return removed
}

// AppendBinary appends the set's portable encoding: a uvarint member
// count, then each entry in order as 8 bytes of little-endian float64
// score bits, a uvarint member length and the member. Snapshots and
// cluster handoff carry sets in this form.
func (z *Zset) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(z.n))
	for i := range z.pages {
		b = append(b, z.pages[i].b...)
	}
	return b
}

// DecodeZset reads a set written by AppendBinary from the start of p and
// returns it with the number of bytes it used. It rejects NaN scores,
// entries out of order and repeated members, so a decoded set keeps every
// invariant.
func DecodeZset(p []byte) (*Zset, int, error) {
	cnt, n := binary.Uvarint(p)
	if n <= 0 || cnt > uint64(len(p)-n)/9 {
		return nil, 0, ErrBadZset
	}
	z := &Zset{}
	var prevScore float64
	var prevMember []byte
	for i := uint64(0); i < cnt; i++ {
		if len(p)-n < 9 {
			return nil, 0, ErrBadZset
		}
		score := math.Float64frombits(binary.LittleEndian.Uint64(p[n:]))
		l, m := binary.Uvarint(p[n+8:])
		if m <= 0 || l > uint64(len(p)-n-8-m) || math.IsNaN(score) {
			return nil, 0, ErrBadZset
		}
		start := n + 8 + m
		member := p[start : start+int(l)]
		if i > 0 && !zless(prevScore, prevMember, score, member) {
			return nil, 0, ErrBadZset
		}
		if score == 0 && math.Signbit(score) {
			score = 0
		}
		z.appendLast(score, member)
		prevScore, prevMember = score, member
		n = start + int(l)
	}
	// Order alone does not rule out one member under two scores.
	if z.n > zsetIndexAbove {
		if !z.buildIndex(true) {
			return nil, 0, ErrBadZset
		}
	} else {
		seen := make(map[string]struct{}, z.n)
		for _, m := range z.Range(0, z.n) {
			if _, dup := seen[string(m)]; dup {
				return nil, 0, ErrBadZset
			}
			seen[string(m)] = struct{}{}
		}
	}
	z.remeasure()
	return z, n, nil
}

// appendLast adds an entry known to sort after every member.
func (z *Zset) appendLast(score float64, member []byte) {
	size := zentrySize(member)
	if k := len(z.pages); k == 0 || z.pages[k-1].n >= zpageMaxEntries*3/4 || len(z.pages[k-1].b)+size > zpageMaxBytes*3/4 {
		z.pages = append(z.pages, zpage{})
	}
	pg := &z.pages[len(z.pages)-1]
	pg.b = zappend(pg.b, score, member)
	pg.n++
	z.n++
}

// buildIndex indexes every member. With check it reports false when a
// member appears twice (under two scores: the order rules out one score).
func (z *Zset) buildIndex(check bool) bool {
	slots := 16
	for slots*3 < z.n*4 {
		slots *= 2
	}
	z.idx, z.idxN = make([]uint64, 2*slots), 0
	for s, m := range z.Range(0, z.n) {
		h, bits := memberHash(m), math.Float64bits(s)
		if check && z.idxHasOther(h, m, bits) {
			return false
		}
		z.idxInsert(h, bits)
	}
	return true
}

// idxHasOther reports whether member is indexed under a score other than
// bits.
func (z *Zset) idxHasOther(h uint64, member []byte, bits uint64) bool {
	mask := len(z.idx)/2 - 1
	for i := int(h) & mask; z.idx[2*i] != 0; i = (i + 1) & mask {
		if z.idx[2*i] == h && z.idx[2*i+1] != bits {
			if _, _, _, found := z.locate(math.Float64frombits(z.idx[2*i+1]), member); found {
				return true
			}
		}
	}
	return false
}

func (z *Zset) idxFind(h uint64, member []byte) (float64, bool) {
	mask := len(z.idx)/2 - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		e := z.idx[2*i]
		if e == 0 {
			return 0, false
		}
		if e == h {
			s := math.Float64frombits(z.idx[2*i+1])
			if _, _, _, found := z.locate(s, member); found {
				return s, true
			}
		}
	}
}

func (z *Zset) idxInsert(h, scoreBits uint64) {
	if (z.idxN+1)*4 > len(z.idx)/2*3 { // load above 3/4: double
		old := z.idx
		z.idx = make([]uint64, 2*len(old))
		z.idxN = 0
		for i := 0; i < len(old); i += 2 {
			if old[i] != 0 {
				z.idxInsert(old[i], old[i+1])
			}
		}
	}
	mask := len(z.idx)/2 - 1
	i := int(h) & mask
	for z.idx[2*i] != 0 {
		i = (i + 1) & mask
	}
	z.idx[2*i], z.idx[2*i+1] = h, scoreBits
	z.idxN++
}

// idxDelete removes one (h, scoreBits) pair. Two members sharing both hash
// and score leave identical pairs, so removing either is right.
func (z *Zset) idxDelete(h, scoreBits uint64) {
	mask := len(z.idx)/2 - 1
	i := int(h) & mask
	for {
		e := z.idx[2*i]
		if e == 0 {
			return
		}
		if e == h && z.idx[2*i+1] == scoreBits {
			break
		}
		i = (i + 1) & mask
	}
	z.idxN--
	// Backward-shift deletion keeps probe runs intact without tombstones.
	j := i
	for {
		z.idx[2*i], z.idx[2*i+1] = 0, 0
		for {
			j = (j + 1) & mask
			e := z.idx[2*j]
			if e == 0 {
				return
			}
			home := int(e) & mask
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				z.idx[2*i], z.idx[2*i+1] = e, z.idx[2*j+1]
				i = j
				break
			}
		}
	}
}
