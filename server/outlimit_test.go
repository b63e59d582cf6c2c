package server

import (
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestOutputOver steps a client through its class's hard and soft limits
// on a fake clock: the hard limit disconnects at once; the soft limit only
// after output stayed at or above it for more than the soft seconds; going
// under resets the soft clock; tracking moves the client to the pubsub
// class.
func TestOutputOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := OutputLimits{
			Normal: OutputLimit{Hard: 1000, Soft: 100, SoftSeconds: 2},
			PubSub: OutputLimit{Hard: 50},
		}
		var lp atomic.Pointer[OutputLimits]
		lp.Store(&lim)
		c := &Client{olim: &lp, clock: NewClock()}
		step := func(wait time.Duration, pending int, want bool) {
			t.Helper()
			time.Sleep(wait)
			if got := c.outputOver(pending); got != want {
				t.Fatalf("pending %d after %v: over = %v, want %v", pending, wait, got, want)
			}
		}
		step(0, 999, false)             // soft clock starts
		step(0, 1000, true)             // hard: at once
		step(2*time.Second, 150, false) // exactly the soft seconds: not yet
		step(time.Millisecond, 150, true)
		step(0, 99, false) // under soft: the clock stops
		step(0, 100, false)
		step(1999*time.Millisecond, 999, false)
		step(2*time.Millisecond, 100, true)
		c.pushClass.Store(true)
		step(0, 49, false)
		step(0, 50, true)
		// Zero turns each limit off.
		lim.PubSub = OutputLimit{}
		step(time.Hour, 1<<30, false)
		// Soft seconds too many to count in nanoseconds never expire (their
		// product with 1e9 used to wrap negative: closed at once).
		c.pushClass.Store(false)
		for _, secs := range []int64{math.MaxInt64, math.MaxInt64 / int64(time.Second) * 4, math.MaxInt64/int64(time.Second) + 1} {
			lim.Normal = OutputLimit{Soft: 100, SoftSeconds: secs}
			step(0, 50, false)
			step(0, 100, false)
			step(time.Hour, 100, false)
		}
	})
}

func TestOutputLimitsSet(t *testing.T) {
	size := func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
	o := DefaultOutputLimits()
	if err := o.Set("normal 10 5 3 pubsub 0 0 0 replica 1 1 1", size); err != nil {
		t.Fatal(err)
	}
	if o.String() != "normal 10 5 3 pubsub 0 0 0" {
		t.Fatalf("%s", o.String())
	}
	for _, bad := range []string{"", "normal 1 2", "bogus 1 1 1", "normal x 1 1", "normal 1 1 -1"} {
		if err := o.Set(bad, size); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
	if err := (Config{OutputLimits: OutputLimits{Normal: OutputLimit{Hard: -1}}}).OutputLimits.Normal.validate(); err == nil {
		t.Error("a negative limit validated")
	}
}
