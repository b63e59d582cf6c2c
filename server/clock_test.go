package server

import (
	"testing"
	"time"
)

func TestClockNeverGoesBackwards(t *testing.T) {
	wall := time.Now().UnixNano()
	c := newClockWith(func() int64 { return wall })
	prev := c.Now()
	// Step the wall clock back an hour, then forward two; force resyncs.
	for _, step := range []int64{-int64(time.Hour), 2 * int64(time.Hour), -1} {
		wall += step
		c.lastSync.Store(-resyncEvery)
		now := c.Now()
		if now < prev {
			t.Fatalf("clock went backwards by %v after a wall step of %v", time.Duration(prev-now), time.Duration(step))
		}
		if step > 0 && now < wall {
			t.Fatalf("clock did not follow the wall clock forward: %d < %d", now, wall)
		}
		prev = now
	}
}
