package persistence

import (
	"testing"

	"github.com/rlserver/rlserver/engine"
)

func TestEntryCodecRoundTrip(t *testing.T) {
	entries := []engine.Entry{
		{Kind: engine.KindString, Bytes: []byte("v"), ExpireMs: 5},
		{Kind: engine.KindGCRA, Int: 1796289985000000000, ExpireMs: 1796289986000},
		{Kind: engine.KindFixedWindow, Window: engine.WindowState{EmptyAtMs: 10, Cur: 3}, ExpireMs: 10},
		{Kind: engine.KindSlidingWindow, Window: engine.WindowState{EmptyAtMs: 20, Prev: 1, Cur: 2}, ExpireMs: 20},
		{Kind: engine.KindSlidingLog, Log: []int64{1, 2, 3}, ExpireMs: 30},
		{Kind: engine.KindZset, Zset: sampleZset(), ExpireMs: 40},
		{Kind: engine.KindList, List: sampleList(), ExpireMs: 50},
		{Kind: engine.KindHash, Hmap: sampleHmap(10), ExpireMs: 60},
		{Kind: engine.KindHash, Hmap: sampleHmap(300), ExpireMs: 70},
	}
	var b []byte
	for i, e := range entries {
		b = AppendEntry(b, []byte{'k', byte('0' + i)}, e)
	}
	for i, want := range entries {
		key, got, n, err := DecodeEntry(b)
		if err != nil || string(key) != string([]byte{'k', byte('0' + i)}) || got.Kind != want.Kind || got.Int != want.Int ||
			got.Window != want.Window || string(got.Bytes) != string(want.Bytes) || len(got.Log) != len(want.Log) || got.ExpireMs != want.ExpireMs ||
			(want.Zset != nil && string(got.Zset.AppendBinary(nil)) != string(want.Zset.AppendBinary(nil))) ||
			(want.List != nil && string(got.List.AppendBinary(nil)) != string(want.List.AppendBinary(nil))) ||
			(want.Hmap != nil && string(got.Hmap.AppendBinary(nil)) != string(want.Hmap.AppendBinary(nil))) {
			t.Fatalf("entry %d: %q %+v %v", i, key, got, err)
		}
		b = b[n:]
	}
	for _, e := range entries[4:] {
		full := AppendEntry(nil, []byte("key"), e)
		for i := range len(full) {
			if _, _, _, err := DecodeEntry(full[:i]); err == nil {
				t.Fatalf("%v entry truncated to %d bytes decoded", e.Kind, i)
			}
		}
	}
}

func sampleZset() *engine.Zset {
	z := &engine.Zset{}
	for i := range 200 {
		z.Insert(float64(i%9)/4, []byte{'m', byte(i), byte(i >> 8)})
	}
	return z
}

func sampleList() *engine.List {
	l := &engine.List{}
	for i := range 300 {
		l.Insert(l.Len()/2, []byte{'e', byte(i), byte(i >> 8)})
	}
	return l
}

// sampleHmap returns a hash of n fields: small up to 128, large above.
func sampleHmap(n int) *engine.Hmap {
	m := &engine.Hmap{}
	for i := range n {
		m.Set([]byte{'f', byte(i * 7), byte(i >> 8)}, []byte{'v', byte(i)})
	}
	return m
}

// A version-3 file may not hold lists or hashes: their kinds did not
// exist then.
func TestListAndHashNeedVersion4(t *testing.T) {
	for _, e := range []engine.Entry{{Kind: engine.KindList, List: sampleList()}, {Kind: engine.KindHash, Hmap: sampleHmap(3)}} {
		b := AppendEntry(nil, []byte("k"), e)
		if _, _, _, err := decodeEntry(b, 3); err == nil {
			t.Fatalf("%v entry decoded as version 3", e.Kind)
		}
		if _, _, _, err := decodeEntry(b, 4); err != nil {
			t.Fatalf("%v entry: %v", e.Kind, err)
		}
	}
}
