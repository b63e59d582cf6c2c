package engine

import (
	"math"
	"testing"
)

// TestSlidingWindowLargeCounts: counts of 2^31 and more must not
// sign-extend (issue 8, item 7): the previous window's 2.2e9 units still
// weigh fully one second later, so 3e9 more do not fit in 3e9.
func TestSlidingWindowLargeCounts(t *testing.T) {
	s := int64(1e9)
	p := func(limit, q int64) WindowParams { return WindowParams{limit, 1, q} }
	runWindowSteps(t, (*Shard).ThrottleSlidingWindow, []wstep{
		{0, p(3e9, 2.2e9), Result{0, 3e9, 8e8, -1, 2}},
		{s, p(3e9, 3e9), Result{1, 3e9, 8e8, 1, 1}},
		{s, p(3e9, 8e8+1), Result{1, 3e9, 8e8, 0, 1}}, // fits 1 ns later: rounds to 0 s as redis-cell rounds
		{s, p(3e9, 8e8), Result{0, 3e9, 0, -1, 2}},
		{s, p(3e9, 1), Result{1, 3e9, 0, 0, 2}},
	})
	max := int64(math.MaxInt64)
	runWindowSteps(t, (*Shard).ThrottleSlidingWindow, []wstep{
		{0, p(max, max-1), Result{0, max, 1, -1, 2}},
		{0, p(max, 2), Result{1, max, 1, 1, 2}},
		{0, p(max, 1), Result{0, max, 0, -1, 2}},
		{0, p(max, max), Result{1, max, 0, 2, 2}},
		{s, p(max, max), Result{1, max, 0, 1, 1}}, // the previous window weighs fully
		{s, p(max, 1), Result{1, max, 0, 0, 1}},
		{2 * s, p(max, max), Result{0, max, 0, -1, 2}},
	})
}

// TestFixedWindowNoOverflow: count + quantity must not wrap (item 8).
func TestFixedWindowNoOverflow(t *testing.T) {
	max := int64(math.MaxInt64)
	hour := int64(3600e9)
	st := NewStore(1)
	sh := st.Shard(0)
	k := []byte("f")
	h := Hash(k)
	start := b0 - b0%hour
	p := WindowParams{max, 3600, max}
	want := []Result{{0, max, 0, -1, 3600}, {1, max, 0, 3600, 3600}, {1, max, 0, 3600, 3600}}
	for i, w := range want {
		got, err := sh.ThrottleFixedWindow(h, k, p, start, false)
		if err != nil || got != w {
			t.Fatalf("call %d: %+v %v, want %+v", i, got, err, w)
		}
	}
	p.Quantity = 1
	if got, _ := sh.ThrottleFixedWindow(h, k, p, start, false); got.Limited != 1 {
		t.Fatalf("one more unit past a full window of 2^63-1: %+v", got)
	}
}

// TestTTLChangesKeepWindows: PERSIST or EXPIRE on a window key changes when
// the key is deleted, never its counts (item 9). The next write sets the
// expiry back to when the state is empty again.
func TestTTLChangesKeepWindows(t *testing.T) {
	for _, a := range []struct {
		name string
		run  windowFunc
	}{
		{"fw", (*Shard).ThrottleFixedWindow},
		{"sw", (*Shard).ThrottleSlidingWindow},
		{"swlog", (*Shard).ThrottleSlidingLog},
	} {
		t.Run(a.name, func(t *testing.T) {
			st := NewStore(1)
			sh := st.Shard(0)
			k := []byte("t")
			h := Hash(k)
			p := WindowParams{3, 60, 1}
			now := b0 + 10e9
			nowMs := now / 1e6
			throttle := func() Result {
				t.Helper()
				r, err := a.run(sh, h, k, p, now, false)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			for range 3 {
				if r := throttle(); r.Limited != 0 {
					t.Fatalf("first three: %+v", r)
				}
			}
			natural, _ := sh.Get(h, k, nowMs)
			for _, exp := range []int64{0, nowMs + 1, nowMs + 5_000, nowMs + 86_400_000, 0} {
				if !sh.SetExpire(h, k, exp, nowMs) {
					t.Fatal("key gone")
				}
				if r := throttle(); r.Limited != 1 || r.Remaining != 0 {
					t.Fatalf("after setting the expiry to %d: %+v (a fresh limit)", exp, r)
				}
				peek, _ := a.run(sh, h, k, p, now, true)
				if peek.Limited != 1 {
					t.Fatalf("peek after setting the expiry to %d: %+v", exp, peek)
				}
			}
			// Time passes; the key was persisted: the state empties on
			// the algorithm's schedule, not the TTL's.
			now += 120e9
			nowMs = now / 1e6
			if r := throttle(); r.Limited != 0 || r.Remaining != 2 {
				t.Fatalf("two periods later: %+v", r)
			}
			e, _ := sh.Get(h, k, nowMs)
			if e.ExpireMs == 0 || e.ExpireMs-nowMs != natural.ExpireMs-(nowMs-120_000) {
				t.Fatalf("a write after PERSIST sets expiry %d (now %d), want the natural one as before (%d at %d)", e.ExpireMs, nowMs, natural.ExpireMs, nowMs-120_000)
			}
		})
	}
}
