package server

import (
	"sync/atomic"
	"time"
)

// Clock returns wall time in Unix nanoseconds that never goes backwards: a
// wall clock stepped back holds the reading until real time catches up.
// The zero value is ready; safe for concurrent use.
type Clock struct {
	last atomic.Int64
	// now overrides time.Now for tests; nil means the system clock.
	now func() int64
}

// Now returns the current reading.
func (c *Clock) Now() int64 {
	var wall int64
	if c.now != nil {
		wall = c.now()
	} else {
		wall = time.Now().UnixNano()
	}
	for {
		last := c.last.Load()
		if wall <= last {
			return last
		}
		if c.last.CompareAndSwap(last, wall) {
			return wall
		}
	}
}
