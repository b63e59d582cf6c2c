package persistence

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/rlserver/rlserver/engine"
)

// BenchmarkSnapshot writes and loads snapshots of 1M and 10M GCRA keys:
//
//	go test ./persistence -run XXX -bench Snapshot -benchtime 1x
func BenchmarkSnapshot(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		st := engine.NewStore(256)
		key := make([]byte, 0, 32)
		for i := range n {
			key = strconv.AppendInt(append(key[:0], "key:"...), int64(i), 10)
			h := engine.Hash(key)
			sh := st.ShardOf(h)
			sh.Lock()
			sh.ThrottleGCRA(h, key, engine.GCRAParams{MaxBurst: 100, Count: 1000, Period: 3600, Quantity: 1}, now)
			sh.Unlock()
		}
		dir := b.TempDir()
		var info Info
		b.Run(fmt.Sprintf("write/%dM", n/1_000_000), func(b *testing.B) {
			for b.Loop() {
				var err error
				if info, err = Write(dir, st, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(info.Bytes)/float64(n), "bytes/key")
			b.ReportMetric(float64(info.Bytes)/1e6, "MB")
		})
		b.Run(fmt.Sprintf("load/%dM", n/1_000_000), func(b *testing.B) {
			for b.Loop() {
				back := engine.NewStore(256)
				if li, err := Load(info.Path, back, now); err != nil || li.Keys != int64(n) {
					b.Fatal(li, err)
				}
			}
		})
	}
}
