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

// A resync whose goroutine is held up between reading the monotonic clock
// and reading the wall clock (preempted on a loaded machine) must not set
// the clock ahead of the wall: the offset only ever moves forward, so an
// inflated one stayed for the process's life (the reading ran ahead by the
// longest such stall, and a window limiter's calls near the end of a second
// counted in the next one).
func TestClockResyncDelayedDoesNotRunAhead(t *testing.T) {
	const stall = 30 * time.Millisecond
	delayed := false
	c := newClockWith(func() int64 {
		if delayed {
			time.Sleep(stall) // the stall between the two reads
		}
		return time.Now().UnixNano()
	})
	delayed = true
	c.lastSync.Store(-resyncEvery) // the next reading resyncs
	c.Now()
	delayed = false
	got := c.Now() // within resyncEvery of the last sync: no resync
	// A millisecond's slack for how time.Now reads its two clocks; the
	// defect was the whole stall.
	if wall := time.Now().UnixNano(); got > wall+int64(time.Millisecond) {
		t.Fatalf("clock reads %v ahead of the wall clock after a stalled resync", time.Duration(got-wall))
	}
}
