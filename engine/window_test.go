package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// b0 is a window boundary: a multiple of 60 s since the epoch.
const b0 = int64(1_795_730_160) * 1e9

type wstep struct {
	at   int64 // ns after b0
	p    WindowParams
	want Result
}

type windowFunc func(sh *Shard, h uint64, key []byte, p WindowParams, now int64, peek bool) (Result, error)

func runWindowSteps(t *testing.T, run windowFunc, steps []wstep) {
	t.Helper()
	st := NewStore(1)
	sh := st.Shard(0)
	k := []byte("w")
	for i, s := range steps {
		got, err := run(sh, Hash(k), k, s.p, b0+s.at, false)
		if err != nil || got != s.want {
			t.Fatalf("step %d (+%.3fs %+v): got %+v %v, want %+v", i, float64(s.at)/1e9, s.p, got, err, s.want)
		}
	}
}

func TestFixedWindowSteps(t *testing.T) {
	s := int64(1e9)
	p := func(q int64) WindowParams { return WindowParams{3, 60, q} }
	runWindowSteps(t, (*Shard).ThrottleFixedWindow, []wstep{
		{10 * s, p(1), Result{0, 3, 2, -1, 50}},
		{10 * s, p(0), Result{0, 3, 2, -1, 50}}, // quantity 0 consumes nothing
		{10 * s, p(2), Result{0, 3, 0, -1, 50}},
		{10 * s, p(1), Result{1, 3, 0, 50, 50}},
		{10 * s, p(4), Result{1, 3, 0, -1, 50}}, // can never fit
		{59*s + s/2, p(1), Result{1, 3, 0, 1, 1}},
		{60 * s, p(1), Result{0, 3, 2, -1, 60}}, // next window: the boundary burst FW allows
		{60 * s, p(2), Result{0, 3, 0, -1, 60}},
		{3600 * s, p(1), Result{0, 3, 2, -1, 60}}, // long idle gap
	})
}

func TestSlidingWindowSteps(t *testing.T) {
	s := int64(1e9)
	p := func(q int64) WindowParams { return WindowParams{10, 60, q} }
	steps := []wstep{}
	for i := range 10 {
		steps = append(steps, wstep{59*s + s/2, p(1), Result{0, 10, int64(9 - i), -1, 61}})
	}
	steps = append(steps,
		// Free again 6.5 s later: at 66 s the old window weighs 9.
		wstep{59*s + s/2, p(1), Result{1, 10, 0, 7, 61}},
		// Just past the boundary the previous window still weighs ~10:
		// the boundary burst a fixed window would allow is refused.
		wstep{60*s + s/2, p(1), Result{1, 10, 0, 6, 60}},
		// Halfway through, half of the previous window's weight is gone.
		wstep{90 * s, p(1), Result{0, 10, 4, -1, 90}},
		wstep{90 * s, p(5), Result{1, 10, 4, 6, 90}},
		wstep{90 * s, p(11), Result{1, 10, 4, -1, 90}},
		wstep{90 * s, p(0), Result{0, 10, 4, -1, 90}},
		// Two idle windows later the state is empty.
		wstep{300 * s, p(1), Result{0, 10, 9, -1, 120}},
	)
	runWindowSteps(t, (*Shard).ThrottleSlidingWindow, steps)
}

func TestSlidingLogSteps(t *testing.T) {
	s := int64(1e9)
	p := func(q int64) WindowParams { return WindowParams{3, 10, q} }
	runWindowSteps(t, (*Shard).ThrottleSlidingLog, []wstep{
		{0, p(1), Result{0, 3, 2, -1, 10}},
		{1 * s, p(1), Result{0, 3, 1, -1, 10}},
		{2 * s, p(1), Result{0, 3, 0, -1, 10}},
		{3 * s, p(1), Result{1, 3, 0, 7, 9}},
		{3 * s, p(2), Result{1, 3, 0, 8, 9}},
		{3 * s, p(4), Result{1, 3, 0, -1, 9}},
		{10 * s, p(1), Result{0, 3, 0, -1, 10}}, // the entry at 0 has left (now-P, now]
		{100 * s, p(3), Result{0, 3, 0, -1, 10}},
	})
}

// TestWindowLimitsHold replays random arrivals and checks each algorithm's
// guarantee against the decisions it made.
func TestWindowLimitsHold(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		p := WindowParams{Limit: int64(rng.IntN(20) + 1), Period: int64(rng.IntN(5) + 1)}
		period := p.Period * 1e9
		st := NewStore(1)
		sh := st.Shard(0)
		now := b0 + rng.Int64N(period)
		type event struct{ at, q int64 }
		var logOK, fwOK, swOK []event
		for range 3000 {
			now += rng.Int64N(period / 4)
			q := int64(rng.IntN(3))
			p.Quantity = q
			for name, acc := range map[string]*[]event{"log": &logOK, "fw": &fwOK, "sw": &swOK} {
				k := []byte(name)
				var r Result
				switch name {
				case "log":
					r, _ = sh.ThrottleSlidingLog(Hash(k), k, p, now, false)
				case "fw":
					r, _ = sh.ThrottleFixedWindow(Hash(k), k, p, now, false)
				case "sw":
					r, _ = sh.ThrottleSlidingWindow(Hash(k), k, p, now, false)
				}
				if r.Remaining < 0 {
					t.Fatalf("%s: negative remaining %+v", name, r)
				}
				if r.Limited == 0 && q > 0 {
					*acc = append(*acc, event{now, q})
				}
			}
		}
		// SWLOG: never more than limit in any window (t−P, t].
		for i := range logOK {
			sum := int64(0)
			for j := i; j >= 0 && logOK[j].at > logOK[i].at-period; j-- {
				sum += logOK[j].q
			}
			if sum > p.Limit {
				t.Fatalf("seed %d: sliding log admitted %d > %d in a window", seed, sum, p.Limit)
			}
		}
		// FW and SW: never more than limit in one aligned window.
		for name, evs := range map[string][]event{"fw": fwOK, "sw": swOK} {
			per := map[int64]int64{}
			for _, e := range evs {
				per[e.at/period] += e.q
			}
			for w, n := range per {
				if n > p.Limit {
					t.Fatalf("seed %d: %s admitted %d > %d in window %d", seed, name, n, p.Limit, w)
				}
			}
		}
	}
}

// TestGCRANeverExceedsBurstOrRate checks GCRA's two guarantees on random
// arrivals: no more than max_burst+1 at once, and no more than the rate
// allows over any span.
func TestGCRANeverExceedsBurstOrRate(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 9))
		p := GCRAParams{MaxBurst: int64(rng.IntN(10)), Count: int64(rng.IntN(50) + 1), Period: int64(rng.IntN(10) + 1), Quantity: 1}
		T := EmissionInterval(p.Count, p.Period)
		st := NewStore(1)
		sh := st.Shard(0)
		k := []byte("g")
		now := t0
		var ok []int64
		for range 5000 {
			now += rng.Int64N(2 * T)
			if r, _ := sh.ThrottleGCRA(Hash(k), k, p, now); r.Limited == 0 {
				ok = append(ok, now)
			}
		}
		for i := range ok {
			for j := i; j < len(ok); j++ {
				// The key's expiry is the TAT truncated to whole ms (as
				// redis-cell sets it), so a key can vanish up to 1 ms early.
				span := ok[j] - ok[i] + 1e6
				if allowed := int64(j - i + 1); allowed > p.MaxBurst+1+span/T {
					t.Fatalf("seed %d: %d allowed in %v with burst %d and T %v", seed, allowed, span, p.MaxBurst, T)
				}
				if span > 50*T {
					break
				}
			}
		}
	}
}

// TestPeekMatchesThrottleAndChangesNothing interleaves PEEK and THROTTLE:
// each peek must predict the throttle that follows it exactly and leave
// the key (value and expiry) as it was.
func TestPeekMatchesThrottleAndChangesNothing(t *testing.T) {
	type algo struct {
		name string
		run  func(sh *Shard, h uint64, k []byte, q, now int64, peek bool) (Result, error)
	}
	algos := []algo{
		{"gcra", func(sh *Shard, h uint64, k []byte, q, now int64, peek bool) (Result, error) {
			p := GCRAParams{3, 2, 5, q}
			if peek {
				return sh.PeekGCRA(h, k, p, now)
			}
			return sh.ThrottleGCRA(h, k, p, now)
		}},
		{"fw", func(sh *Shard, h uint64, k []byte, q, now int64, peek bool) (Result, error) {
			return sh.ThrottleFixedWindow(h, k, WindowParams{4, 3, q}, now, peek)
		}},
		{"sw", func(sh *Shard, h uint64, k []byte, q, now int64, peek bool) (Result, error) {
			return sh.ThrottleSlidingWindow(h, k, WindowParams{4, 3, q}, now, peek)
		}},
		{"swlog", func(sh *Shard, h uint64, k []byte, q, now int64, peek bool) (Result, error) {
			return sh.ThrottleSlidingLog(h, k, WindowParams{4, 3, q}, now, peek)
		}},
	}
	for _, a := range algos {
		t.Run(a.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(3, 4))
			st := NewStore(1)
			sh := st.Shard(0)
			k := []byte("p")
			h := Hash(k)
			now := b0
			snapshot := func() string {
				e, ok := sh.Get(h, k, now/1e6)
				return fmt.Sprint(ok, e.Kind, e.Int, e.Window, e.ExpireMs, slices.Clone(e.Log))
			}
			for i := range 2000 {
				now += rng.Int64N(700e6)
				q := int64(rng.IntN(4))
				before := snapshot()
				peeked, perr := a.run(sh, h, k, q, now, true)
				if after := snapshot(); after != before {
					t.Fatalf("step %d: peek changed the key: %s -> %s", i, before, after)
				}
				got, err := a.run(sh, h, k, q, now, false)
				if got != peeked || err != perr {
					t.Fatalf("step %d: peek %+v %v, throttle %+v %v", i, peeked, perr, got, err)
				}
			}
		})
	}
}

func TestWindowKindsDoNotMix(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	k := []byte("x")
	h := Hash(k)
	if _, err := sh.ThrottleFixedWindow(h, k, WindowParams{1, 1, 1}, b0, false); err != nil {
		t.Fatal(err)
	}
	if _, err := sh.ThrottleSlidingWindow(h, k, WindowParams{1, 1, 1}, b0, false); err != ErrWrongType {
		t.Fatalf("SW on an FW key: %v", err)
	}
	if _, err := sh.ThrottleGCRA(h, k, GCRAParams{1, 1, 1, 1}, b0); err != ErrWrongType {
		t.Fatalf("GCRA on an FW key: %v", err)
	}
}
