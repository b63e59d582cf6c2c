package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"iter"
	"slices"
)

// Hmap is a Redis hash: fields mapped to values, both byte strings. Each
// field-value pair is one entry of a List's pages (a uvarint field
// length, the field, then the value), so a hash costs a few bytes per
// pair beyond its data and the garbage collector sees one pointer per
// page of up to 128 pairs.
//
// Like Redis 7.0 it has two forms. A small hash (at most HashMaxListpack
// pairs, every field and value at most HashMaxListpackValue bytes) keeps
// its pairs in insertion order and is searched by a scan, as a listpack
// is, so HGETALL answers in Redis's order. A hash that outgrows either
// limit becomes large for good (Redis converts to a hash table and never
// back): its pairs are kept sorted by field and searched by bisecting the
// page directory, so every operation stays logarithmic in pages plus one
// page scan. A large hash lists its pairs in field order, where Redis's
// order is its hash table's (unspecified).
//
// The zero value is an empty small hash. An Hmap is not safe for
// concurrent use: the store's shard lock guards the hashes it holds.
// Slices returned by its methods alias its pages and are valid until the
// next change.
type Hmap struct {
	l     List
	large bool
}

const (
	// HashMaxListpack is Redis's hash-max-listpack-entries default.
	HashMaxListpack = 128
	// HashMaxListpackValue is Redis's hash-max-listpack-value default.
	HashMaxListpackValue = 64
)

// ErrBadHash: an encoded hash is malformed.
var ErrBadHash = errors.New("malformed hash encoding")

// hsplit splits a pair entry into field and value.
func hsplit(e []byte) (field, value []byte) {
	fl, m := binary.Uvarint(e)
	end := m + int(fl)
	return e[m:end:end], e[end:]
}

func hpair(field, value []byte) []byte {
	e := make([]byte, 0, uvarintLen(uint64(len(field)))+len(field)+len(value))
	e = binary.AppendUvarint(e, uint64(len(field)))
	return append(append(e, field...), value...)
}

// Len returns the number of fields.
func (h *Hmap) Len() int { return h.l.n }

// Bytes returns the hash's logical size, counted against maxmemory.
func (h *Hmap) Bytes() int64 { return h.l.mem }

// Large reports whether the hash has taken its large form (Redis's
// "hashtable" encoding; small is "listpack").
func (h *Hmap) Large() bool { return h.large }

// find returns the page, byte offset and in-page position of field's
// pair, or where it would go (large form) with found false.
func (h *Hmap) find(field []byte) (p, off, pos int, found bool) {
	pages := h.l.pages
	if !h.large {
		for p := range pages {
			b := pages[p].b
			pos := 0
			for off := 0; off < len(b); pos++ {
				e, next := ldecode(b, off)
				if f, _ := hsplit(e); bytes.Equal(f, field) {
					return p, off, pos, true
				}
				off = next
			}
		}
		return 0, 0, 0, false
	}
	if len(pages) == 0 {
		return 0, 0, 0, false
	}
	// The last page whose first field is not greater than field.
	p = searchFirst(len(pages), func(i int) bool {
		e, _ := ldecode(pages[i].b, 0)
		f, _ := hsplit(e)
		return bytes.Compare(field, f) < 0
	}) - 1
	if p < 0 {
		return 0, 0, 0, false
	}
	b := pages[p].b
	for off < len(b) {
		e, next := ldecode(b, off)
		f, _ := hsplit(e)
		if c := bytes.Compare(f, field); c >= 0 {
			return p, off, pos, c == 0
		}
		off = next
		pos++
	}
	return p, off, pos, false
}

// Get returns field's value.
func (h *Hmap) Get(field []byte) ([]byte, bool) {
	p, off, _, found := h.find(field)
	if !found {
		return nil, false
	}
	e, _ := ldecode(h.l.pages[p].b, off)
	_, v := hsplit(e)
	return v, true
}

// Set sets field to value (both copied) and reports whether the field is
// new. A small hash keeps an updated field in its place, as a listpack
// does, and takes its large form when a field or value is longer than
// HashMaxListpackValue or it passes HashMaxListpack fields.
func (h *Hmap) Set(field, value []byte) (added bool) {
	if !h.large && (len(field) > HashMaxListpackValue || len(value) > HashMaxListpackValue) {
		h.convert()
	}
	p, off, pos, found := h.find(field)
	pair := hpair(field, value)
	if found {
		h.l.replaceAt(p, off, pair)
		return false
	}
	if h.large {
		h.l.insertAt(p, off, pos, pair)
	} else {
		h.l.Insert(h.l.n, pair)
		if h.l.n > HashMaxListpack {
			h.convert()
		}
	}
	return true
}

// Delete removes field, reporting whether it was there.
func (h *Hmap) Delete(field []byte) bool {
	p, off, _, found := h.find(field)
	if !found {
		return false
	}
	_, end := ldecode(h.l.pages[p].b, off)
	h.l.removeBytes(p, off, end, 1)
	if cap(h.l.pages) > 4 && len(h.l.pages) < cap(h.l.pages)/4 {
		h.l.pages = slices.Clip(h.l.pages)
	}
	h.l.remeasure()
	return true
}

// All yields every field and value: insertion order in a small hash,
// field order in a large one. The hash must not change meanwhile.
func (h *Hmap) All() iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		for e := range h.l.Range(0, h.l.n) {
			if !yield(hsplit(e)) {
				return
			}
		}
	}
}

// convert turns a small hash into its large form: pairs sorted by field.
func (h *Hmap) convert() {
	pairs := make([][]byte, 0, h.l.n)
	for e := range h.l.Range(0, h.l.n) {
		pairs = append(pairs, e)
	}
	slices.SortFunc(pairs, func(a, b []byte) int {
		fa, _ := hsplit(a)
		fb, _ := hsplit(b)
		return bytes.Compare(fa, fb)
	})
	var l List
	for _, e := range pairs {
		l.appendEntry(e)
	}
	l.clip()
	l.accounted = h.l.accounted // what the store has counted so far
	h.l, h.large = l, true
}

// AppendBinary appends the hash's portable encoding: one byte (1 for the
// large form, else 0), a uvarint pair count, then each pair in the hash's
// order as a uvarint field length, the field, a uvarint value length and
// the value. Snapshots and cluster handoff carry hashes in this form.
func (h *Hmap) AppendBinary(b []byte) []byte {
	if h.large {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(h.l.n))
	for f, v := range h.All() {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	return b
}

// DecodeHash reads a hash written by AppendBinary from the start of p and
// returns it with the number of bytes it used. It rejects a repeated
// field, a large hash out of field order and a small one past the small
// form's limits, so a decoded hash keeps every invariant.
func DecodeHash(p []byte) (*Hmap, int, error) {
	if len(p) < 1 || p[0] > 1 {
		return nil, 0, ErrBadHash
	}
	h := &Hmap{large: p[0] == 1}
	cnt, m := binary.Uvarint(p[1:])
	n := 1 + m
	if m <= 0 || cnt > uint64(len(p)-n)/2 || (!h.large && cnt > HashMaxListpack) {
		return nil, 0, ErrBadHash
	}
	field := func() ([]byte, bool) {
		l, m := binary.Uvarint(p[n:])
		if m <= 0 || l > uint64(len(p)-n-m) {
			return nil, false
		}
		s := p[n+m : n+m+int(l)]
		n += m + int(l)
		return s, true
	}
	var prev []byte
	seen := map[string]struct{}{}
	for i := range cnt {
		f, ok1 := field()
		if !ok1 {
			return nil, 0, ErrBadHash
		}
		v, ok2 := field()
		if !ok2 {
			return nil, 0, ErrBadHash
		}
		if h.large {
			if i > 0 && bytes.Compare(prev, f) >= 0 {
				return nil, 0, ErrBadHash
			}
			prev = f
		} else {
			if _, dup := seen[string(f)]; dup || len(f) > HashMaxListpackValue || len(v) > HashMaxListpackValue {
				return nil, 0, ErrBadHash
			}
			seen[string(f)] = struct{}{}
		}
		h.l.appendEntry(hpair(f, v))
	}
	h.l.clip()
	return h, n, nil
}
