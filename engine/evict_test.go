package engine

import (
	"fmt"
	"testing"
)

// The logical size follows every way a key, a value or a log can grow and
// shrink, and returns to zero.
func TestBytesAccounting(t *testing.T) {
	st := NewStore(4)
	at := func(k string) (*Shard, uint64, []byte) {
		kb := []byte(k)
		h := Hash(kb)
		return st.ShardOf(h), h, kb
	}
	sh, h, k := at("short")
	sh.SetInt(h, k, KindGCRA, 1, 0, 0)
	if got := st.Bytes(); got != perKeyBytes {
		t.Fatalf("one short key: %d", got)
	}
	sh2, h2, k2 := at("a-key-longer-than-sixteen-bytes")
	sh2.SetString(h2, k2, []byte("12345"), 0, 0)
	want := int64(2*perKeyBytes + len(k2) + 5)
	if got := st.Bytes(); got != want {
		t.Fatalf("plus a long key with a 5-byte value: %d, want %d", got, want)
	}
	sh2.SetString(h2, k2, []byte("1"), 0, 0) // replacing the value
	want -= 4
	if got := st.Bytes(); got != want {
		t.Fatalf("after replacing the value: %d, want %d", got, want)
	}
	sh3, h3, k3 := at("log")
	for i := range 5 {
		sh3.ThrottleSlidingLog(h3, k3, WindowParams{10, 1, 1}, b0+int64(i)*1e6, false)
	}
	want += perKeyBytes + 5*8
	if got := st.Bytes(); got != want {
		t.Fatalf("plus a 5-entry log: %d, want %d", got, want)
	}
	sh3.ThrottleSlidingLog(h3, k3, WindowParams{10, 1, 1}, b0+5e8+1e9, false) // 5 drop out, 1 added
	want -= 4 * 8
	if got := st.Bytes(); got != want {
		t.Fatalf("after the log slid: %d, want %d", got, want)
	}
	sh.Delete(h, k, 0)
	sh2.Delete(h2, k2, 0)
	sh3.Delete(h3, k3, 0)
	if got := st.Bytes(); got != 0 {
		t.Fatalf("after deleting everything: %d", got)
	}
}

func TestEvictSoonestRemovesNearestExpiry(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	for i := range 100 {
		k := []byte(fmt.Sprintf("k%d", i))
		exp := int64(0) // persistent keys are never evicted
		if i%2 == 0 {
			exp = int64(1000 + i)
		}
		sh.SetInt(Hash(k), k, KindGCRA, 1, exp, 0)
	}
	var evicted []string
	for sh.EvictSoonest(1000, func(k []byte) { evicted = append(evicted, string(k)) }) {
	}
	if len(evicted) != 50 || evicted[0] != "k0" || sh.Len() != 50 {
		t.Fatalf("evicted %d (first %q), %d left", len(evicted), evicted[0], sh.Len())
	}
	for i := 1; i < 100; i += 2 {
		k := []byte(fmt.Sprintf("k%d", i))
		if !sh.Exists(Hash(k), k, 0) {
			t.Fatalf("persistent key %s was evicted", k)
		}
	}
}
