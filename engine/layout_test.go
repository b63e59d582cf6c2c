package engine

import (
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkLayout compares the store with the obvious alternative, a Go
// map from key to state, holding the same 1M GCRA keys: heap bytes per key
// and the time of a full garbage collection with the keys live.
//
//	go test ./engine -run XXX -bench Layout -benchtime 1x
func BenchmarkLayout(b *testing.B) {
	const n = 1_000_000
	type mapState struct {
		tat, expireMs int64
		kind          Kind
	}
	measure := func(b *testing.B, build func() any) {
		for b.Loop() {
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			live := build()
			runtime.GC()
			runtime.ReadMemStats(&after)
			start := time.Now()
			runtime.GC()
			gc := time.Since(start)
			runtime.KeepAlive(live)
			b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap_bytes/key")
			b.ReportMetric(float64(gc.Microseconds()), "gc_µs")
		}
	}
	b.Run("go-map", func(b *testing.B) {
		measure(b, func() any {
			m := make(map[string]mapState)
			for i := range n {
				m["key:"+strconv.Itoa(i)] = mapState{tat: int64(i), expireMs: int64(i), kind: KindGCRA}
			}
			return m
		})
	})
	// Window keys: the same record plus their WindowState (24 bytes).
	for _, w := range []struct {
		name string
		run  windowFunc
	}{{"store-fw", (*Shard).ThrottleFixedWindow}, {"store-sw", (*Shard).ThrottleSlidingWindow}} {
		b.Run(w.name, func(b *testing.B) {
			measure(b, func() any {
				st := NewStore(256)
				key := make([]byte, 0, 24)
				p := WindowParams{Limit: 10, Period: 3600, Quantity: 1}
				for i := range n {
					key = strconv.AppendInt(append(key[:0], "key:"...), int64(i), 10)
					h := Hash(key)
					w.run(st.ShardOf(h), h, key, p, 1e18, false)
				}
				return st
			})
		})
	}
	b.Run("store", func(b *testing.B) {
		measure(b, func() any {
			st := NewStore(256)
			key := make([]byte, 0, 24)
			for i := range n {
				key = strconv.AppendInt(append(key[:0], "key:"...), int64(i), 10)
				h := Hash(key)
				st.ShardOf(h).SetInt(h, key, KindGCRA, int64(i), int64(i)+1e12, 0)
			}
			return st
		})
	})
}
