package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestStoreMatchesMapModel drives one shard with random inserts, updates,
// deletes and expiries and checks every key against a plain map, which
// exercises table growth, backward-shift deletion and arena compaction.
func TestStoreMatchesMapModel(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	type val struct {
		v, exp int64
	}
	model := map[string]val{}
	rng := rand.New(rand.NewPCG(1, 2))
	now := int64(1000)
	for i := 0; i < 200_000; i++ {
		k := fmt.Sprintf("key:%d", rng.IntN(5000))
		if rng.IntN(3) == 0 {
			k += ":a-longer-key-kept-in-the-arena"
		}
		kb := []byte(k)
		h := Hash(kb)
		switch op := rng.IntN(10); {
		case op < 5:
			exp := int64(0)
			if rng.IntN(2) == 0 {
				exp = now + int64(rng.IntN(50)+1)
			}
			sh.SetInt(h, kb, KindGCRA, int64(i), exp, now)
			model[k] = val{int64(i), exp}
		case op < 8:
			got := sh.Delete(h, kb, now)
			m, ok := model[k]
			want := ok && (m.exp == 0 || m.exp >= now)
			if got != want {
				t.Fatalf("op %d: Delete(%s) = %v, want %v", i, k, got, want)
			}
			delete(model, k)
		default:
			now++
		}
		if i%1000 == 0 {
			for mk, mv := range model {
				mkb := []byte(mk)
				e, ok := sh.Get(Hash(mkb), mkb, now)
				alive := mv.exp == 0 || mv.exp >= now
				if ok != alive || (ok && (e.Int != mv.v || e.ExpireMs != mv.exp)) {
					t.Fatalf("op %d: Get(%s) = %+v %v, model %+v alive %v", i, mk, e, ok, mv, alive)
				}
				if !alive {
					delete(model, mk)
				}
			}
			if sh.Len() != len(model) {
				t.Fatalf("op %d: Len %d, model %d", i, sh.Len(), len(model))
			}
			expiring := 0
			for _, mv := range model {
				if mv.exp != 0 {
					expiring++
				}
			}
			if sh.Expiring() != expiring {
				t.Fatalf("op %d: Expiring %d, model %d", i, sh.Expiring(), expiring)
			}
		}
	}
}

func TestSweepReclaimsExpiredKeys(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	for i := range 10_000 {
		k := []byte(fmt.Sprintf("k%d:with-a-key-longer-than-inline", i))
		exp := int64(100)
		if i%10 == 0 {
			exp = 0 // persistent
		}
		sh.SetInt(Hash(k), k, KindGCRA, 1, exp, 0)
	}
	var seen int
	for range 3000 {
		sh.Sweep(201, 64, func([]byte) { seen++ })
	}
	if sh.Len() != 1000 || seen != 9000 {
		t.Fatalf("after sweeping: %d keys left, %d reported; want 1000 and 9000", sh.Len(), seen)
	}
	if len(sh.keys) > 64<<10 {
		t.Fatalf("key arena not compacted: %d bytes for 1000 keys", len(sh.keys))
	}
}

func TestScanVisitsEveryLiveKey(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	want := map[string]bool{}
	for i := range 3000 {
		k := []byte(fmt.Sprintf("s%d", i))
		sh.SetInt(Hash(k), k, KindGCRA, 1, 0, 0)
		want[string(k)] = true
	}
	got := map[string]bool{}
	cur := uint32(0)
	for {
		cur, _ = sh.ScanFrom(cur, 100, 0, func(k []byte, _ Entry) { got[string(k)] = true })
		if cur == 0 {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("scan found %d keys, want %d", len(got), len(want))
	}
}

func TestClearKeepsTheLockAndEmptiesTheShard(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	sh.Lock()
	k := []byte("a")
	sh.SetString(Hash(k), k, []byte("v"), 0, 0)
	sh.Clear()
	if _, ok := sh.Get(Hash(k), k, 0); ok || sh.Len() != 0 {
		t.Fatal("key survived Clear")
	}
	sh.SetInt(Hash(k), k, KindGCRA, 1, 0, 0)
	if st.Bytes() != perKeyBytes {
		t.Fatalf("Bytes after Clear and one key = %d", st.Bytes())
	}
	sh.Unlock() // must not fault: Clear may not reset the mutex
}
