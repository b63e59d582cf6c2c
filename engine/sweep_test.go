package engine

import (
	"fmt"
	"testing"
)

// TestSweepKeepsUpWithCreation creates keys that live 1 s at a steady rate
// and sweeps each 100 ms tick the way the server does (another batch while
// more than a quarter of one expired): the shard must stay near the live
// set instead of growing with every key ever created.
func TestSweepKeepsUpWithCreation(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	now := int64(1000)
	id := 0
	for range 600 { // one minute of ticks
		for range 120 {
			k := []byte(fmt.Sprintf("k%d", id))
			id++
			sh.SetInt(Hash(k), k, KindGCRA, 1, now+1000, now)
		}
		now += 100
		for range 16 {
			if n := sh.Sweep(now, 64, nil); n*4 <= 64 {
				break
			}
		}
	}
	// 1,200 keys are alive at any time; 72,000 were created.
	if sh.Len() > 3*1200 {
		t.Fatalf("%d keys held after a minute; the live set is 1200", sh.Len())
	}
}
