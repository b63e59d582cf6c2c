package engine

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

type zref struct {
	score  float64
	member string
}

func zrefSorted(m map[string]float64) []zref {
	out := make([]zref, 0, len(m))
	for k, v := range m {
		out = append(out, zref{v, k})
	}
	slices.SortFunc(out, func(a, b zref) int {
		if c := cmp.Compare(a.score, b.score); c != 0 {
			return c
		}
		return cmp.Compare(a.member, b.member)
	})
	return out
}

func zcheck(t *testing.T, z *Zset, model map[string]float64) {
	t.Helper()
	want := zrefSorted(model)
	if z.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", z.Len(), len(want))
	}
	i := 0
	for s, m := range z.Range(0, z.Len()) {
		if s != want[i].score || string(m) != want[i].member {
			t.Fatalf("rank %d = (%v, %q), want %v", i, s, m, want[i])
		}
		i++
	}
	total := 0
	for _, p := range z.pages {
		if p.n == 0 || p.n > zpageMaxEntries {
			t.Fatalf("page holds %d entries", p.n)
		}
		total += p.n
	}
	if total != z.n {
		t.Fatalf("pages hold %d, n = %d", total, z.n)
	}
	if (z.idx != nil) != (z.idxN > 0 || z.n > zsetIndexAbove) && z.n > zsetIndexAbove {
		t.Fatalf("index missing at %d members", z.n)
	}
	if z.idx != nil && z.idxN != z.n {
		t.Fatalf("index holds %d, n = %d", z.idxN, z.n)
	}
}

// TestZsetModel drives a set through random operations against a map and
// checks every invariant, across page splits and the index threshold.
func TestZsetModel(t *testing.T) {
	t.Parallel()
	for _, size := range []int{10, 200, 3000} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(size), 7))
			z := &Zset{}
			model := map[string]float64{}
			member := func() string { return fmt.Sprintf("m%d", rng.IntN(size)) }
			score := func() float64 {
				switch rng.IntN(10) {
				case 0:
					return math.Inf(1)
				case 1:
					return math.Inf(-1)
				case 2:
					return 0
				}
				return float64(rng.IntN(size/2)) / 4
			}
			for step := range size * 20 {
				m := member()
				switch op := rng.IntN(10); {
				case op < 6:
					s := score()
					if old, ok := model[m]; ok {
						if got, ok := z.Score([]byte(m)); !ok || got != old {
							t.Fatalf("Score(%s) = %v %v, want %v", m, got, ok, old)
						}
						z.Delete([]byte(m))
					}
					z.Insert(s, []byte(m))
					model[m] = s
				case op < 8:
					_, ok := model[m]
					if z.Delete([]byte(m)) != ok {
						t.Fatalf("Delete(%s) disagrees", m)
					}
					delete(model, m)
				case op < 9 && z.Len() > 0:
					lo := rng.IntN(z.Len())
					hi := lo + rng.IntN(40)
					want := zrefSorted(model)
					n := z.RemoveRange(lo, hi)
					if n != min(hi, len(want))-lo {
						t.Fatalf("RemoveRange(%d,%d) = %d", lo, hi, n)
					}
					for _, e := range want[lo:min(hi, len(want))] {
						delete(model, e.member)
					}
				default:
					want := zrefSorted(model)
					if r, ok := z.Rank([]byte(m)); ok {
						if want[r].member != m {
							t.Fatalf("Rank(%s) = %d", m, r)
						}
					} else if _, in := model[m]; in {
						t.Fatalf("Rank(%s) missing", m)
					}
					bound := score()
					got := z.Search(func(s float64, _ []byte) bool { return s < bound })
					exp := 0
					for exp < len(want) && want[exp].score < bound {
						exp++
					}
					if got != exp {
						t.Fatalf("Search(< %v) = %d, want %d", bound, got, exp)
					}
				}
				if step%97 == 0 {
					zcheck(t, z, model)
				}
			}
			zcheck(t, z, model)
			enc := z.AppendBinary(nil)
			back, n, err := DecodeZset(enc)
			if err != nil || n != len(enc) {
				t.Fatalf("DecodeZset: %v (%d of %d bytes)", err, n, len(enc))
			}
			zcheck(t, back, model)
			if !bytes.Equal(back.AppendBinary(nil), enc) {
				t.Fatal("re-encoding differs")
			}
		})
	}
}

func TestZsetDecodeRejects(t *testing.T) {
	t.Parallel()
	one := func(s float64, m string) []byte { return zappend(nil, s, []byte(m)) }
	enc := func(n int, entries ...[]byte) []byte {
		b := []byte{byte(n)}
		for _, e := range entries {
			b = append(b, e...)
		}
		return b
	}
	for name, p := range map[string][]byte{
		"empty":     nil,
		"short":     enc(2, one(1, "a")),
		"nan":       enc(1, one(math.NaN(), "a")),
		"unordered": enc(2, one(2, "a"), one(1, "b")),
		"equal":     enc(2, one(1, "a"), one(1, "a")),
		"repeated":  enc(2, one(1, "a"), one(2, "a")),
		"huge":      {0xff, 0xff, 0xff, 0xff, 0x0f},
	} {
		if _, _, err := DecodeZset(p); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	// A repeated member in a large set is caught by the index.
	z := &Zset{}
	for i := range 300 {
		z.Insert(float64(i), []byte(fmt.Sprint("m", i)))
	}
	b := z.AppendBinary(nil)
	b[0], b[1] = 0xad, 0x02 // 301 members
	b = append(b, one(1000, "m5")...)
	if _, _, err := DecodeZset(b); err == nil {
		t.Error("repeated member in a large set decoded")
	}
}

func TestZsetAccounting(t *testing.T) {
	t.Parallel()
	st := NewStore(1)
	sh := st.Shard(0)
	key := []byte("z")
	h := Hash(key)
	z := sh.NewZset(h, key, 0)
	for i := range 1000 {
		z.Insert(float64(i), []byte(fmt.Sprint("member-", i)))
	}
	sh.ZsetChanged(h, key, z, 0)
	if st.Bytes() < 1000*20 || st.Bytes() != perKeyBytes+z.Bytes() {
		t.Fatalf("store bytes %d, set bytes %d", st.Bytes(), z.Bytes())
	}
	z.RemoveRange(0, 1000)
	sh.ZsetChanged(h, key, z, 0)
	if st.Bytes() != 0 || sh.Exists(h, key, 0) {
		t.Fatalf("after emptying: %d bytes, exists %v", st.Bytes(), sh.Exists(h, key, 0))
	}
}

func FuzzDecodeZset(f *testing.F) {
	z := &Zset{}
	for i := range 20 {
		z.Insert(float64(i%5), []byte{byte(i)})
	}
	f.Add(z.AppendBinary(nil))
	f.Fuzz(func(t *testing.T, p []byte) {
		z, _, err := DecodeZset(p)
		if err != nil {
			return
		}
		// The input may use overlong varints or -0; its re-encoding is
		// canonical and must round-trip exactly.
		enc := z.AppendBinary(nil)
		again, n, err := DecodeZset(enc)
		if err != nil || n != len(enc) || !bytes.Equal(again.AppendBinary(nil), enc) {
			t.Fatalf("canonical encoding does not round-trip: %v", err)
		}
	})
}

// BenchmarkZsetMemory measures live heap bytes per sorted-set member (after
// a full collection, the figure comparable to Redis's used_memory) for 1M
// members spread over sets of a given size, with sliding-log members: a
// 16-digit microsecond timestamp, or a 36-byte UUID-like string.
//
//	go test ./engine -run XXX -bench ZsetMemory -benchtime 1x
func BenchmarkZsetMemory(b *testing.B) {
	const total = 1_000_000
	for _, per := range []int{100, 1000, 100_000} {
		for _, kind := range []string{"ts", "uuid"} {
			b.Run(fmt.Sprintf("%s/%d", kind, per), func(b *testing.B) {
				for b.Loop() {
					runtime.GC()
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					st := NewStore(256)
					rng := rand.New(rand.NewPCG(1, 2))
					member := make([]byte, 0, 36)
					for k := range total / per {
						key := []byte(fmt.Sprint("zlog:", k))
						h := Hash(key)
						sh := st.ShardOf(h)
						z := sh.NewZset(h, key, 0)
						for i := range per {
							ts := 1795730160000000 + int64(i)*1000 + int64(k)
							if kind == "ts" {
								member = strconv.AppendInt(member[:0], ts, 10)
							} else {
								member = fmt.Appendf(member[:0], "%08x-%04x-4%03x-a%03x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff, rng.Uint32()&0xfff, rng.Uint64()&0xffffffffffff)
							}
							z.Insert(float64(ts), member)
						}
						sh.ZsetChanged(h, key, z, 0)
					}
					runtime.GC()
					runtime.ReadMemStats(&after)
					b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/total, "heap_B/member")
					b.ReportMetric(float64(st.Bytes())/total, "logical_B/member")
					runtime.KeepAlive(st)
				}
			})
		}
	}
}
