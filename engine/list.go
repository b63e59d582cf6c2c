package engine

import (
	"encoding/binary"
	"errors"
	"iter"
	"slices"
)

// List is a Redis list: a sequence of byte strings indexed from either
// end. Elements live in pages of encoded entries (a uvarint length, then
// the bytes), as a quicklist keeps them in listpack nodes: a list is a
// handful of byte slices however many elements it holds, so the garbage
// collector sees one pointer per page, never one per element. Pushing or
// popping at either end touches one page; an index walks the page
// directory (one add per page) and then one page.
//
// The zero value is an empty list. A List is not safe for concurrent use:
// the store's shard lock guards the lists it holds. Element slices
// returned by its methods alias its pages and are valid until the next
// change.
type List struct {
	pages []lpage
	n     int
	// mem is the list's logical size (see Bytes); accounted is the part of
	// it already added to the owning shard's byte count.
	mem, accounted int64
}

type lpage struct {
	b []byte
	n int
}

const (
	lpageMaxEntries = 128
	lpageMaxBytes   = 4096
	listBaseBytes   = 64 // the List struct and its side-table slot
	lpageBytes      = 32 // one page directory entry
)

// ErrBadList: an encoded list is malformed.
var ErrBadList = errors.New("malformed list encoding")

func lentrySize(v []byte) int { return uvarintLen(uint64(len(v))) + len(v) }

// ldecode reads the entry at off, returning it and the next offset.
func ldecode(b []byte, off int) (v []byte, next int) {
	l, m := binary.Uvarint(b[off:])
	start := off + m
	end := start + int(l)
	return b[start:end:end], end
}

// Len returns the number of elements.
func (l *List) Len() int { return l.n }

// Bytes returns the list's logical size: page capacities, the page
// directory and a fixed overhead. It is what the store counts against
// maxmemory.
func (l *List) Bytes() int64 { return l.mem }

func (l *List) remeasure() {
	m := int64(listBaseBytes) + int64(cap(l.pages))*lpageBytes
	for i := range l.pages {
		m += int64(cap(l.pages[i].b))
	}
	l.mem = m
}

// seek returns the page and byte offset of index i (0 <= i < Len), and
// i's position in that page.
func (l *List) seek(i int) (p, off, pos int) {
	if i >= l.n/2 { // nearer the tail: walk the directory backwards
		before := l.n
		for p = len(l.pages) - 1; ; p-- {
			before -= l.pages[p].n
			if before <= i {
				break
			}
		}
		i -= before
	} else {
		for p = 0; i >= l.pages[p].n; p++ {
			i -= l.pages[p].n
		}
	}
	b := l.pages[p].b
	for pos = 0; pos < i; pos++ {
		_, off = ldecode(b, off)
	}
	return p, off, i
}

// Index returns element i, counting from 0 at the head (0 <= i < Len).
func (l *List) Index(i int) []byte {
	p, off, _ := l.seek(i)
	v, _ := ldecode(l.pages[p].b, off)
	return v
}

// Range yields the elements of indexes [lo, hi) from head to tail (bounds
// are clamped). The list must not change during the iteration.
func (l *List) Range(lo, hi int) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		lo, hi := max(lo, 0), min(hi, l.n)
		if lo >= hi {
			return
		}
		p, off, _ := l.seek(lo)
		for left := hi - lo; left > 0; p, off = p+1, 0 {
			b := l.pages[p].b
			for ; off < len(b) && left > 0; left-- {
				v, next := ldecode(b, off)
				if !yield(v) {
					return
				}
				off = next
			}
		}
	}
}

// Backward yields every element with its index, from the tail to the
// head. The list must not change during the iteration.
func (l *List) Backward() iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		i := l.n
		var offs [lpageMaxEntries + 1]int
		for p := len(l.pages) - 1; p >= 0; p-- {
			b := l.pages[p].b
			k := 0
			for off := 0; off < len(b) && k < len(offs); k++ {
				offs[k] = off
				_, off = ldecode(b, off)
			}
			for k--; k >= 0; k-- {
				i--
				v, _ := ldecode(b, offs[k])
				if !yield(i, v) {
					return
				}
			}
		}
	}
}

// Insert puts v before index i (0 <= i <= Len; Len appends at the tail).
// v is copied.
func (l *List) Insert(i int, v []byte) {
	var p, off, pos int
	switch {
	case len(l.pages) == 0:
	case i == l.n:
		p = len(l.pages) - 1
		off, pos = len(l.pages[p].b), l.pages[p].n
	default:
		p, off, pos = l.seek(i)
	}
	l.insertAt(p, off, pos, v)
}

// insertAt puts v at byte offset off of page p, before the page's entry
// pos (off and pos may be the page's end; p may be 0 in an empty list).
func (l *List) insertAt(p, off, pos int, v []byte) {
	size := lentrySize(v)
	if len(l.pages) == 0 {
		l.pages = append(l.pages, lpage{})
	}
	pg := &l.pages[p]
	if pg.n >= lpageMaxEntries || (pg.n > 0 && len(pg.b)+size > lpageMaxBytes) {
		// A full page: pushes at either end start a page of their own (as
		// a quicklist adds a node), so a list grown from one end keeps its
		// pages full; an insert in the middle splits the page.
		switch {
		case pos == 0:
			l.pages = slices.Insert(l.pages, p, lpage{})
			pg, off = &l.pages[p], 0
		case pos == pg.n:
			l.pages = slices.Insert(l.pages, p+1, lpage{})
			pg, off = &l.pages[p+1], 0
		default:
			l.split(p)
			if pos >= l.pages[p].n {
				off -= len(l.pages[p].b)
				p++
			}
			pg = &l.pages[p]
		}
	}
	if need := len(pg.b) + size; need > cap(pg.b) {
		grown := make([]byte, len(pg.b), need+need/8)
		copy(grown, pg.b)
		pg.b = grown
	}
	pg.b = pg.b[:len(pg.b)+size]
	copy(pg.b[off+size:], pg.b[off:])
	n := binary.PutUvarint(pg.b[off:], uint64(len(v)))
	copy(pg.b[off+n:], v)
	pg.n++
	l.n++
	l.remeasure()
}

// split cuts page p in two halves by entry count.
func (l *List) split(p int) {
	pg := l.pages[p]
	off := 0
	for range pg.n / 2 {
		_, off = ldecode(pg.b, off)
	}
	left := lpage{b: slices.Clip(append([]byte(nil), pg.b[:off]...)), n: pg.n / 2}
	right := lpage{b: slices.Clip(append([]byte(nil), pg.b[off:]...)), n: pg.n - pg.n/2}
	l.pages[p] = left
	l.pages = slices.Insert(l.pages, p+1, right)
}

// Set replaces element i (0 <= i < Len) with v (copied).
func (l *List) Set(i int, v []byte) {
	p, off, _ := l.seek(i)
	l.replaceAt(p, off, v)
}

// replaceAt replaces the entry at byte offset off of page p with v.
func (l *List) replaceAt(p, off int, v []byte) {
	pg := &l.pages[p]
	old, end := ldecode(pg.b, off)
	if len(old) == len(v) {
		copy(old, v)
		return
	}
	entry := binary.AppendUvarint(make([]byte, 0, lentrySize(v)), uint64(len(v)))
	entry = append(entry, v...)
	pg.b = slices.Replace(pg.b, off, end, entry...)
	if len(pg.b) < cap(pg.b)/4 {
		pg.b = slices.Clip(append([]byte(nil), pg.b...))
	}
	l.remeasure()
}

// RemoveRange deletes the elements of indexes [lo, hi) (clamped) and
// returns how many it removed.
func (l *List) RemoveRange(lo, hi int) int {
	lo, hi = max(lo, 0), min(hi, l.n)
	if lo >= hi {
		return 0
	}
	removed := 0
	for removed < hi-lo {
		p, off, _ := l.seek(lo)
		b := l.pages[p].b
		end, count := off, 0
		for end < len(b) && removed+count < hi-lo {
			_, end = ldecode(b, end)
			count++
		}
		l.removeBytes(p, off, end, count)
		removed += count
	}
	if cap(l.pages) > 4 && len(l.pages) < cap(l.pages)/4 {
		l.pages = slices.Clip(l.pages)
	}
	l.remeasure()
	return removed
}

// removeBytes cuts [from, to) holding count entries out of page p and
// drops or merges the page when it gets small.
func (l *List) removeBytes(p, from, to, count int) {
	pg := &l.pages[p]
	pg.b = append(pg.b[:from], pg.b[to:]...)
	pg.n -= count
	l.n -= count
	switch {
	case pg.n == 0:
		l.pages = slices.Delete(l.pages, p, p+1)
		return
	case len(pg.b) < cap(pg.b)/4:
		pg.b = slices.Clip(append([]byte(nil), pg.b...))
	}
	if pg.n < lpageMaxEntries/4 {
		for _, q := range []int{p + 1, p - 1} {
			if q < 0 || q >= len(l.pages) {
				continue
			}
			a, b := min(p, q), max(p, q)
			if l.pages[a].n+l.pages[b].n <= lpageMaxEntries/2 && len(l.pages[a].b)+len(l.pages[b].b) <= lpageMaxBytes/2 {
				merged := make([]byte, 0, len(l.pages[a].b)+len(l.pages[b].b))
				merged = append(append(merged, l.pages[a].b...), l.pages[b].b...)
				l.pages[a] = lpage{b: merged, n: l.pages[a].n + l.pages[b].n}
				l.pages = slices.Delete(l.pages, b, b+1)
				return
			}
		}
	}
}

// Filter keeps the elements for which keep returns true, in order, and
// returns how many it removed. keep sees each element once, head to tail.
func (l *List) Filter(keep func(v []byte) bool) int {
	removed := 0
	for p := 0; p < len(l.pages); p++ {
		pg := &l.pages[p]
		w, n := 0, 0
		for off := 0; off < len(pg.b); {
			v, next := ldecode(pg.b, off)
			if keep(v) {
				w += copy(pg.b[w:], pg.b[off:next])
				n++
			}
			off = next
		}
		if gone := pg.n - n; gone > 0 {
			removed += gone
			l.n -= gone
			pg.b, pg.n = pg.b[:w], n
			if n == 0 {
				l.pages = slices.Delete(l.pages, p, p+1)
				p--
			} else if len(pg.b) < cap(pg.b)/4 {
				pg.b = slices.Clip(append([]byte(nil), pg.b...))
			}
		}
	}
	if removed > 0 {
		l.remeasure()
	}
	return removed
}

// AppendBinary appends the list's portable encoding: a uvarint element
// count, then each element from head to tail as a uvarint length and its
// bytes. Snapshots and cluster handoff carry lists in this form.
func (l *List) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(l.n))
	for i := range l.pages {
		b = append(b, l.pages[i].b...)
	}
	return b
}

// DecodeList reads a list written by AppendBinary from the start of p and
// returns it with the number of bytes it used.
func DecodeList(p []byte) (*List, int, error) {
	cnt, n := binary.Uvarint(p)
	if n <= 0 || cnt > uint64(len(p)-n) {
		return nil, 0, ErrBadList
	}
	l := &List{}
	for range cnt {
		vl, m := binary.Uvarint(p[n:])
		if m <= 0 || vl > uint64(len(p)-n-m) {
			return nil, 0, ErrBadList
		}
		start := n + m
		l.appendEntry(p[start : start+int(vl)])
		n = start + int(vl)
	}
	l.clip()
	return l, n, nil
}

// appendEntry adds v at the tail while building a list, filling pages to
// their limits; clip ends the building.
func (l *List) appendEntry(v []byte) {
	size := lentrySize(v)
	if k := len(l.pages); k == 0 || l.pages[k-1].n >= lpageMaxEntries || (l.pages[k-1].n > 0 && len(l.pages[k-1].b)+size > lpageMaxBytes) {
		l.pages = append(l.pages, lpage{})
	}
	pg := &l.pages[len(l.pages)-1]
	pg.b = append(binary.AppendUvarint(pg.b, uint64(len(v))), v...)
	pg.n++
	l.n++
}

func (l *List) clip() {
	for i := range l.pages {
		l.pages[i].b = slices.Clip(l.pages[i].b)
	}
	l.pages = slices.Clip(l.pages)
	l.remeasure()
}
