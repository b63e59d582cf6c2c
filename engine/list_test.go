package engine

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

func lcheck(t *testing.T, l *List, model [][]byte) {
	t.Helper()
	if l.Len() != len(model) {
		t.Fatalf("Len = %d, want %d", l.Len(), len(model))
	}
	i := 0
	for v := range l.Range(0, l.Len()) {
		if !bytes.Equal(v, model[i]) {
			t.Fatalf("element %d = %q, want %q", i, v, model[i])
		}
		i++
	}
	total := 0
	for _, p := range l.pages {
		if p.n == 0 || p.n > lpageMaxEntries {
			t.Fatalf("page holds %d entries", p.n)
		}
		total += p.n
	}
	if total != l.n {
		t.Fatalf("pages hold %d, n = %d", total, l.n)
	}
	if len(model) > 0 {
		k := rand.IntN(len(model))
		if !bytes.Equal(l.Index(k), model[k]) {
			t.Fatalf("Index(%d) = %q, want %q", k, l.Index(k), model[k])
		}
	}
}

// TestListModel drives a list through random operations against a slice
// and checks every invariant, across page splits and merges.
func TestListModel(t *testing.T) {
	t.Parallel()
	for _, size := range []int{10, 300, 3000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(size), 9))
			l := &List{}
			var model [][]byte
			elem := func() []byte {
				b := make([]byte, rng.IntN(40))
				if rng.IntN(50) == 0 {
					b = make([]byte, 5000) // a page of its own
				}
				for i := range b {
					b[i] = byte('a' + rng.IntN(3))
				}
				return b
			}
			for step := range 6 * size {
				switch op := rng.IntN(10); {
				case op < 4 && len(model) < size:
					v := elem()
					var i int
					switch rng.IntN(3) {
					case 0:
						i = 0
					case 1:
						i = len(model)
					default:
						i = rng.IntN(len(model) + 1)
					}
					l.Insert(i, v)
					model = slices.Insert(model, i, v)
				case op < 6 && len(model) > 0:
					lo := rng.IntN(len(model))
					hi := lo + rng.IntN(min(len(model)-lo, 20)+1)
					if rng.IntN(2) == 0 {
						lo, hi = 0, rng.IntN(3)
					}
					if got := l.RemoveRange(lo, hi); got != min(hi, len(model))-lo && got != 0 {
						t.Fatalf("RemoveRange(%d, %d) = %d", lo, hi, got)
					}
					model = slices.Delete(model, lo, min(hi, len(model)))
				case op < 7 && len(model) > 0:
					i, v := rng.IntN(len(model)), elem()
					l.Set(i, v)
					model[i] = v
				case op < 8:
					c := byte('a' + rng.IntN(3))
					keep := func(v []byte) bool { return len(v) == 0 || v[0] != c || len(v)%2 == 0 }
					want := len(model)
					model = slices.DeleteFunc(model, func(v []byte) bool { return !keep(v) })
					if got := l.Filter(keep); got != want-len(model) {
						t.Fatalf("Filter removed %d, want %d", got, want-len(model))
					}
				default:
					lo, hi := rng.IntN(len(model)+2)-1, rng.IntN(len(model)+2)
					var got [][]byte
					for v := range l.Range(lo, hi) {
						got = append(got, v)
					}
					var want [][]byte
					if a, b := max(lo, 0), min(hi, len(model)); a < b {
						want = model[a:b]
					}
					if !slices.EqualFunc(got, want, bytes.Equal) {
						t.Fatalf("Range(%d, %d) = %q, want %q", lo, hi, got, want)
					}
				}
				if size <= 300 || step%64 == 0 {
					lcheck(t, l, model)
				}
			}
			lcheck(t, l, model)
			enc := l.AppendBinary(nil)
			back, n, err := DecodeList(enc)
			if err != nil || n != len(enc) {
				t.Fatalf("DecodeList: %v (%d of %d bytes)", err, n, len(enc))
			}
			lcheck(t, back, model)
		})
	}
}

// Pushing at either end fills whole pages (a list grown from one end
// costs about its data, not twice it) and popping shrinks it back.
func TestListPagesStayFull(t *testing.T) {
	t.Parallel()
	for _, front := range []bool{true, false} {
		l := &List{}
		for i := range 10_000 {
			at := l.Len()
			if front {
				at = 0
			}
			l.Insert(at, []byte(fmt.Sprintf("%08d", i)))
		}
		if len(l.pages) > 10_000/lpageMaxEntries+2 {
			t.Fatalf("front=%v: %d pages for 10,000 elements", front, len(l.pages))
		}
		if per := float64(l.Bytes()) / 10_000; per > 13 {
			t.Fatalf("front=%v: %.1f bytes per 8-byte element", front, per)
		}
		l.RemoveRange(0, 9_990)
		if l.Bytes() > 1024 {
			t.Fatalf("front=%v: %d bytes left for 10 elements", front, l.Bytes())
		}
	}
}

func TestDecodeListRejects(t *testing.T) {
	t.Parallel()
	for _, b := range [][]byte{nil, {2, 1, 'a'}, {1, 5, 'a'}, {0xff}} {
		if _, _, err := DecodeList(b); err == nil {
			t.Fatalf("DecodeList(%q) accepted", b)
		}
	}
}

// TestHmapModel drives hashes against a map plus an insertion order,
// through the small form and the conversion to the large one.
func TestHmapModel(t *testing.T) {
	t.Parallel()
	for _, size := range []int{20, 129, 2000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(size), 11))
			m := &Hmap{}
			model := map[string]string{}
			var order []string // insertion order while small
			for range 5 * size {
				f := fmt.Sprintf("f%d", rng.IntN(size))
				switch rng.IntN(4) {
				case 0, 1:
					v := fmt.Sprint(rng.IntN(1000))
					if rng.IntN(200) == 0 {
						v = string(make([]byte, 65)) // past the small form's value limit
					}
					_, had := model[f]
					if added := m.Set([]byte(f), []byte(v)); added == had {
						t.Fatalf("Set(%s) added=%v, field existed=%v", f, added, had)
					}
					if !had && !m.Large() {
						order = append(order, f)
					}
					model[f] = v
				case 2:
					_, had := model[f]
					if m.Delete([]byte(f)) != had {
						t.Fatalf("Delete(%s) != %v", f, had)
					}
					delete(model, f)
					if !m.Large() {
						order = slices.DeleteFunc(order, func(s string) bool { return s == f })
					}
				default:
					v, ok := m.Get([]byte(f))
					if want, had := model[f]; ok != had || string(v) != want {
						t.Fatalf("Get(%s) = %q %v, want %q %v", f, v, ok, want, had)
					}
				}
				if m.Len() != len(model) {
					t.Fatalf("Len = %d, want %d", m.Len(), len(model))
				}
			}
			var fields []string
			for f, v := range m.All() {
				if model[string(f)] != string(v) {
					t.Fatalf("All: %s = %q, want %q", f, v, model[string(f)])
				}
				fields = append(fields, string(f))
			}
			switch {
			case !m.Large():
				if !slices.Equal(fields, order) {
					t.Fatalf("small hash order %v, want %v", fields, order)
				}
			case !slices.IsSorted(fields):
				t.Fatalf("large hash out of field order")
			}
			if size > HashMaxListpack && !m.Large() {
				t.Fatalf("%d fields and still small", len(model))
			}
			enc := m.AppendBinary(nil)
			back, n, err := DecodeHash(enc)
			if err != nil || n != len(enc) || back.Large() != m.Large() {
				t.Fatalf("DecodeHash: %v (%d of %d bytes)", err, n, len(enc))
			}
			got := map[string]string{}
			for f, v := range back.All() {
				got[string(f)] = string(v)
			}
			if !maps.Equal(got, model) {
				t.Fatalf("decoded hash differs")
			}
		})
	}
}

func TestDecodeHashRejects(t *testing.T) {
	t.Parallel()
	for _, b := range [][]byte{
		nil,
		{2, 0},                                 // unknown form
		{0, 2, 1, 'a', 1, 'x', 1, 'a', 1, 'y'}, // repeated field
		{1, 2, 1, 'b', 1, 'x', 1, 'a', 1, 'y'}, // large form out of order
		{0, 1, 1, 'a', 5, 'x'},                 // value runs past the end
	} {
		if _, _, err := DecodeHash(b); err == nil {
			t.Fatalf("DecodeHash(%q) accepted", b)
		}
	}
}

// The store's byte count follows lists and hashes through every change,
// the conversion of a hash to its large form included, and returns to
// zero when they are gone.
func TestListHashAccounting(t *testing.T) {
	t.Parallel()
	st := NewStore(1)
	sh := st.Shard(0)
	lk, hk := []byte("list"), []byte("hash")
	lh, hh := Hash(lk), Hash(hk)
	l := sh.NewList(lh, lk, 0)
	m := sh.NewHmap(hh, hk, 0)
	for i := range 1000 {
		l.Insert(l.Len(), []byte(fmt.Sprint("element-", i)))
		sh.ListChanged(lh, lk, l, 0)
		m.Set([]byte(fmt.Sprint("field-", i)), []byte("v"))
		sh.HmapChanged(hh, hk, m, 0)
		if i%100 == 0 {
			want := 2*keyBytes(4) + l.Bytes() + m.Bytes()
			if got := st.Bytes(); got != want {
				t.Fatalf("after %d: store counts %d bytes, its keys hold %d", i, got, want)
			}
		}
	}
	if !m.Large() {
		t.Fatal("1,000 fields and still small")
	}
	l.RemoveRange(0, 500)
	sh.ListChanged(lh, lk, l, 0)
	sh.Delete(hh, hk, 0)
	if got, want := st.Bytes(), keyBytes(4)+l.Bytes(); got != want {
		t.Fatalf("store counts %d bytes, the list holds %d", got, want)
	}
	l.RemoveRange(0, l.Len())
	sh.ListChanged(lh, lk, l, 0)
	if st.Bytes() != 0 || sh.Len() != 0 {
		t.Fatalf("%d bytes, %d keys left", st.Bytes(), sh.Len())
	}
}
