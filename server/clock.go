package server

import (
	"sync/atomic"
	"time"
)

// Clock returns wall time in Unix nanoseconds that never goes backwards.
//
// It reads only the monotonic clock per call (cheaper than a wall-clock
// read on most systems) and adds an offset to the wall clock. The offset is
// re-read from the wall clock every resyncEvery and only ever moves
// forward: a wall clock stepped forward is followed, one stepped back is
// absorbed (the reading keeps advancing at the real rate).
//
// Use NewClock; safe for concurrent use.
type Clock struct {
	start    time.Time
	offset   atomic.Int64 // wall ns at start of the monotonic count
	lastSync atomic.Int64 // monotonic ns of the last resync
	wall     func() int64 // the wall clock; replaced in tests
}

const resyncEvery = int64(100 * time.Millisecond)

// NewClock returns a clock reading the system's wall clock.
func NewClock() *Clock { return newClockWith(func() int64 { return time.Now().UnixNano() }) }

func newClockWith(wall func() int64) *Clock {
	c := &Clock{start: time.Now(), wall: wall}
	c.offset.Store(wall() - int64(time.Since(c.start)))
	return c
}

// Now returns the current reading.
func (c *Clock) Now() int64 {
	mono := int64(time.Since(c.start))
	if mono-c.lastSync.Load() >= resyncEvery {
		c.resync(mono)
		mono = int64(time.Since(c.start)) // after resync's reads
	}
	return c.offset.Load() + mono
}

func (c *Clock) resync(mono int64) {
	c.lastSync.Store(mono)
	// The wall clock first, then the monotonic one: a stall between the
	// two reads (preemption) then makes the offset smaller than the true
	// one, never larger. Larger would stay (the offset never moves back)
	// and the clock would run ahead of the wall by the longest stall.
	wall := c.wall()
	want := wall - int64(time.Since(c.start))
	for {
		cur := c.offset.Load()
		if want <= cur || c.offset.CompareAndSwap(cur, want) {
			return
		}
	}
}
