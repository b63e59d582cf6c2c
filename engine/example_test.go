package engine_test

import (
	"fmt"

	"github.com/rlserver/rlserver/engine"
)

// The engine never reads a clock: the caller passes the time in, so the
// same calls always give the same answers.
func ExampleShard_ThrottleGCRA() {
	store := engine.NewStore(16)
	key := []byte("user123")
	h := engine.Hash(key)
	sh := store.ShardOf(h)
	now := int64(1_700_000_000e9) // ns since the epoch

	sh.Lock()
	defer sh.Unlock()
	// 15 burst, 30 per 60 s: the example from redis-cell's README.
	r, _ := sh.ThrottleGCRA(h, key, engine.GCRAParams{MaxBurst: 15, Count: 30, Period: 60, Quantity: 1}, now)
	fmt.Println(r.Limited, r.Limit, r.Remaining, r.RetryAfter, r.ResetAfter)
	// Output: 0 16 15 -1 2
}
