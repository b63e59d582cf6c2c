package engine

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// Boundary tables: every algorithm at 0, 1, 2^31±1, 2^32±1, 2^62 and
// 2^63−1 (and negatives where the command accepts them) for limit,
// quantity and period. Each combination runs a few calls at fixed instants
// and must never panic, never admit more than the limit at one instant (or
// in one fixed window), keep remaining within [0, limit], and answer from
// PEEK exactly what the next THROTTLE answers.

var boundaryValues = []int64{0, 1, 1<<31 - 1, 1 << 31, 1<<31 + 1, 1<<32 - 1, 1 << 32, 1<<32 + 1, 1 << 62, math.MaxInt64}

var boundaryNegatives = []int64{-1, math.MinInt32, math.MinInt64}

type windowAlgo struct {
	name     string
	maxLimit int64
	run      windowFunc
}

func TestWindowBoundaries(t *testing.T) {
	algos := []windowAlgo{
		{"fw", math.MaxInt64, (*Shard).ThrottleFixedWindow},
		{"sw", math.MaxInt64, (*Shard).ThrottleSlidingWindow},
		{"swlog", 10_000, (*Shard).ThrottleSlidingLog}, // the server's default max-log-limit
	}
	values := append(append([]int64{}, boundaryValues...), boundaryNegatives...)
	// Quantities for SWLOG are bounded by its limit cap; bigger ones are
	// denied before anything is appended, which the table checks too.
	for _, a := range algos {
		checked := 0
		for _, limit := range values {
			for _, period := range values {
				for _, q := range values {
					p := WindowParams{Limit: limit, Period: period, Quantity: q}
					if err := ValidateWindow(p, a.maxLimit); err != nil {
						if limit >= 1 && limit <= a.maxLimit && period >= 1 && period <= MaxWindowPeriod && q >= 0 {
							t.Fatalf("%s %+v: valid parameters refused: %v", a.name, p, err)
						}
						continue
					}
					checked++
					windowBoundaryCase(t, a, p)
				}
			}
		}
		if checked < 50 {
			t.Fatalf("%s: only %d valid combinations", a.name, checked)
		}
	}
}

func windowBoundaryCase(t *testing.T, a windowAlgo, p WindowParams) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s %+v: panic %v", a.name, p, r)
		}
	}()
	st := NewStore(1)
	sh := st.Shard(0)
	k := []byte("b")
	h := Hash(k)
	period := p.Period * 1e9
	base := b0 - b0%period // a window boundary
	limit := big.NewInt(p.Limit)
	for _, burst := range []struct{ at, calls int64 }{{0, 3}, {period - 1, 2}, {period, 3}, {period + period/2, 2}, {3 * period, 1}} {
		now := base + burst.at
		admitted := new(big.Int)
		for i := range burst.calls {
			peek, perr := a.run(sh, h, k, p, now, true)
			r, err := a.run(sh, h, k, p, now, false)
			if err != nil || perr != nil {
				t.Fatalf("%s %+v: error %v / %v", a.name, p, err, perr)
			}
			where := fmt.Sprintf("%s %+v at +%dns call %d: %+v", a.name, p, burst.at, i, r)
			if peek != r {
				t.Fatalf("%s: peek said %+v", where, peek)
			}
			if r.Limit != p.Limit || r.Remaining < 0 || r.Remaining > p.Limit || r.Limited > 1 || r.Limited < 0 {
				t.Fatalf("%s: fields out of range", where)
			}
			if r.Limited == 0 && r.RetryAfter != -1 || r.RetryAfter < -1 {
				t.Fatalf("%s: retry_after", where)
			}
			if r.ResetAfter < 0 || r.ResetAfter > 2*p.Period+1 {
				t.Fatalf("%s: reset_after", where)
			}
			if r.Limited == 0 {
				admitted.Add(admitted, big.NewInt(p.Quantity))
			}
			if admitted.Cmp(limit) > 0 {
				t.Fatalf("%s: %v admitted at one instant, limit %d", where, admitted, p.Limit)
			}
		}
	}
	if a.name == "swlog" {
		if e, ok := sh.Get(h, k, (base+3*period)/1e6); ok && int64(len(e.Log)) > p.Limit {
			t.Fatalf("%s %+v: log holds %d entries", a.name, p, len(e.Log))
		}
	}
}

// TestCellBoundaries runs CL.THROTTLE and CL.PEEK over every combination,
// negatives included (redis-cell accepts them and wraps its products). The
// replies are redis-cell's, wrapping included (the conformance data pins
// them); here: no panic, only the documented errors, PEEK predicts THROTTLE,
// and where nothing wraps no more than max_burst+1 units pass at once.
func TestCellBoundaries(t *testing.T) {
	values := append(append([]int64{}, boundaryValues...), boundaryNegatives...)
	for _, burst := range values {
		for _, count := range values {
			for _, period := range values {
				for _, q := range values {
					cellBoundaryCase(t, GCRAParams{MaxBurst: burst, Count: count, Period: period, Quantity: q})
				}
			}
		}
	}
}

func cellBoundaryCase(t *testing.T, p GCRAParams) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("CL.THROTTLE %+v: panic %v", p, r)
		}
	}()
	st := NewStore(1)
	sh := st.Shard(0)
	k := []byte("c")
	h := Hash(k)
	T := EmissionInterval(p.Count, p.Period)
	// Nothing wraps: tau = T·(burst+1) and T·q fit in an int64.
	sane := p.MaxBurst >= 0 && p.MaxBurst < math.MaxInt64 && p.Quantity >= 0 && T > 0 &&
		mulWide(T, p.MaxBurst+1).fitsInt64() && mulWide(T, p.Quantity).fitsInt64()
	admitted := new(big.Int)
	for i := range 3 {
		peek, perr := sh.PeekGCRA(h, k, p, t0)
		r, err := sh.ThrottleGCRA(h, k, p, t0)
		if peek != r || !errors.Is(perr, err) {
			t.Fatalf("CL.THROTTLE %+v call %d: peek %+v %v, throttle %+v %v", p, i, peek, perr, r, err)
		}
		switch {
		case err == nil:
		case errors.Is(err, ErrZeroRate), errors.Is(err, ErrExpire), errors.Is(err, ErrUpdateFailed):
			continue
		default:
			t.Fatalf("CL.THROTTLE %+v: unexpected error %v", p, err)
		}
		if !sane {
			continue
		}
		if r.Limited == 0 {
			admitted.Add(admitted, big.NewInt(p.Quantity))
		}
		// remaining is not checked: redis-cell divides truncated
		// microseconds, which can exceed max_burst+1 (pinned behaviour).
		if admitted.Cmp(big.NewInt(p.MaxBurst+1)) > 0 {
			t.Fatalf("CL.THROTTLE %+v call %d: %+v, %v admitted at once", p, i, r, admitted)
		}
	}
}

// TestNativeGCRABoundaries: the GCRA command's parameters at the
// boundaries, periods as decimals. Whatever NativeGCRA accepts never
// wraps, admits at most max_burst+1 at once and keeps remaining within
// [0, max_burst+1].
func TestNativeGCRABoundaries(t *testing.T) {
	ints := append(append([]int64{}, boundaryValues...), boundaryNegatives...)
	periods := []float64{0, -1, 1e-10, 1e-9, 1.5e-9, 0.5, 1, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 32, 1<<32 + 1,
		float64(MaxWindowPeriod), float64(MaxWindowPeriod) + 1, 1 << 62, math.MaxInt64, math.Inf(1), math.Inf(-1)}
	accepted := 0
	for _, burst := range ints {
		for _, tokens := range ints {
			for _, period := range periods {
				for _, n := range ints {
					p, T, err := NativeGCRA(burst, tokens, period, n)
					if err != nil {
						continue
					}
					accepted++
					nativeGCRACase(t, p, T, period)
				}
			}
		}
	}
	if accepted < 1000 {
		t.Fatalf("only %d combinations accepted", accepted)
	}
}

func nativeGCRACase(t *testing.T, p GCRAParams, T int64, period float64) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("GCRA %+v period %v: panic %v", p, period, r)
		}
	}()
	if T < 1 || !mulWide(T, p.MaxBurst+1).fitsInt64() || !mulWide(T, p.Quantity).fitsInt64() {
		t.Fatalf("GCRA %+v period %v: accepted T %d that wraps", p, period, T)
	}
	st := NewStore(1)
	sh := st.Shard(0)
	k := []byte("n")
	h := Hash(k)
	admitted := new(big.Int)
	for i := range 3 {
		peek, perr := sh.ThrottleGCRAInterval(h, k, p, T, t0, true)
		r, err := sh.ThrottleGCRAInterval(h, k, p, T, t0, false)
		if peek != r || !errors.Is(perr, err) {
			t.Fatalf("GCRA %+v T %d call %d: peek %+v %v, throttle %+v %v", p, T, i, peek, perr, r, err)
		}
		if err != nil {
			if errors.Is(err, ErrExpire) { // a TAT beyond what a ms expiry holds
				continue
			}
			t.Fatalf("GCRA %+v T %d: %v", p, T, err)
		}
		if r.Limited == 0 {
			admitted.Add(admitted, big.NewInt(p.Quantity))
		}
		if admitted.Cmp(big.NewInt(p.MaxBurst+1)) > 0 || r.Remaining < 0 || r.Remaining > p.MaxBurst+1 || r.Limit != p.MaxBurst+1 {
			t.Fatalf("GCRA %+v T %d call %d: %+v, %v admitted at once", p, T, i, r, admitted)
		}
	}
}

// Out-of-order instants. A forwarded command carries the instant the first
// node read, which may be older than one the owner already decided at; two
// connections may also read the clock in one order and lock in the other.
// An instant older than the stored window must be decided inside it:
// moving the state back to the older window lets the next call open the
// newer window afresh (the reviewer's case below admitted 7 at limit 3).

// reorderedMs is that case: +1, +2, +3 ms after a window boundary, one call
// 1 ms before it, then +4..+6 ms.
var reorderedMs = []int64{1, 2, 3, -1, 4, 5, 6}

func TestOutOfOrderInstantsStayInStoredWindow(t *testing.T) {
	ms := int64(1e6)
	runWindowSteps(t, (*Shard).ThrottleFixedWindow, []wstep{
		{1 * ms, WindowParams{3, 1, 1}, Result{0, 3, 2, -1, 1}},
		{2 * ms, WindowParams{3, 1, 1}, Result{0, 3, 1, -1, 1}},
		{3 * ms, WindowParams{3, 1, 1}, Result{0, 3, 0, -1, 1}},
		{-1 * ms, WindowParams{3, 1, 1}, Result{1, 3, 0, 1, 1}}, // counted in [0, 1 s)
		{4 * ms, WindowParams{3, 1, 1}, Result{1, 3, 0, 1, 1}},
		{1e9, WindowParams{3, 1, 1}, Result{0, 3, 2, -1, 1}}, // the next window opens as usual
	})
	runWindowSteps(t, (*Shard).ThrottleSlidingWindow, []wstep{
		{1 * ms, WindowParams{3, 1, 1}, Result{0, 3, 2, -1, 2}},
		{2 * ms, WindowParams{3, 1, 1}, Result{0, 3, 1, -1, 2}},
		{3 * ms, WindowParams{3, 1, 1}, Result{0, 3, 0, -1, 2}},
		{-1 * ms, WindowParams{3, 1, 1}, Result{1, 3, 0, 2, 2}},
		{4 * ms, WindowParams{3, 1, 1}, Result{1, 3, 0, 2, 2}},
	})
	// SW: a call in the previous window, once the current one holds
	// counts, is decided where that previous count weighs fully.
	runWindowSteps(t, (*Shard).ThrottleSlidingWindow, []wstep{
		{-500 * ms, WindowParams{4, 1, 2}, Result{0, 4, 2, -1, 2}}, // previous window: 2
		{1 * ms, WindowParams{4, 1, 1}, Result{0, 4, 1, -1, 2}},    // ≈2 + 1
		{-2 * ms, WindowParams{4, 1, 1}, Result{0, 4, 0, -1, 2}},   // at 0: 2 + 1 + 1 = 4 fits
		{-3 * ms, WindowParams{4, 1, 1}, Result{1, 4, 0, 1, 2}},    // 2 + 2 + 1 does not (until 0.5 s)
	})
	runWindowSteps(t, (*Shard).ThrottleSlidingLog, []wstep{
		{1 * ms, WindowParams{3, 1, 1}, Result{0, 3, 2, -1, 1}},
		{2 * ms, WindowParams{3, 1, 1}, Result{0, 3, 1, -1, 1}},
		{3 * ms, WindowParams{3, 1, 1}, Result{0, 3, 0, -1, 1}},
		{-1 * ms, WindowParams{3, 1, 1}, Result{1, 3, 0, 1, 1}}, // decided at +3 ms
		{1001 * ms, WindowParams{3, 1, 1}, Result{0, 3, 0, -1, 1}},
		{999 * ms, WindowParams{3, 1, 1}, Result{1, 3, 0, 1, 1}}, // decided at +1001 ms: 3 in (1 ms, 1001 ms]
	})
	for _, a := range []struct {
		name string
		run  windowFunc
	}{{"fw", (*Shard).ThrottleFixedWindow}, {"sw", (*Shard).ThrottleSlidingWindow}, {"swlog", (*Shard).ThrottleSlidingLog}} {
		st := NewStore(1)
		sh := st.Shard(0)
		k := []byte(a.name)
		allowed := 0
		for _, at := range reorderedMs {
			r, err := a.run(sh, Hash(k), k, WindowParams{3, 1, 1}, b0+at*1e6, false)
			if err != nil {
				t.Fatal(err)
			}
			if r.Limited == 0 {
				allowed++
			}
		}
		if allowed != 3 {
			t.Errorf("%s: %d allowed at limit 3 over %v ms", a.name, allowed, reorderedMs)
		}
	}
	// GCRA: an older instant is already the conservative side (the TAT
	// never moves back; the older instant sees less of it as paid).
	st := NewStore(1)
	sh := st.Shard(0)
	k := []byte("g")
	allowed := 0
	for _, at := range reorderedMs {
		r, err := sh.ThrottleGCRA(Hash(k), k, GCRAParams{MaxBurst: 2, Count: 3, Period: 1, Quantity: 1}, b0+at*1e6)
		if err != nil {
			t.Fatal(err)
		}
		if r.Limited == 0 {
			allowed++
		}
	}
	if allowed != 3 {
		t.Errorf("gcra: %d allowed at max_burst+1 = 3 over %v ms", allowed, reorderedMs)
	}
}

// TestReorderedArrivalsProperty: random arrivals whose carried instants lag
// their true order by up to half a period. Window limiters admit at most
// limit per window, a call counting in the newest window any admitted call
// reached (the stored window never moves back); the sliding log holds at
// most limit entries in any period; GCRA admits n units between two
// admitted calls only if n·T ≤ (later instant − earlier instant) + τ.
func TestReorderedArrivalsProperty(t *testing.T) {
	const period = int64(1e9)
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		limit := 1 + rng.Int64N(8)
		lag := rng.Int64N(period / 2)
		n := 50 + rng.IntN(150)
		type call struct{ at, q int64 }
		calls := make([]call, n)
		now := b0 + rng.Int64N(period)
		for i := range calls {
			now += rng.Int64N(3 * period / limit) // about three times the limit's rate
			calls[i] = call{now - rng.Int64N(lag+1), 1 + rng.Int64N(2)}
		}
		for _, a := range []struct {
			name string
			run  windowFunc
		}{{"fw", (*Shard).ThrottleFixedWindow}, {"sw", (*Shard).ThrottleSlidingWindow}} {
			st := NewStore(1)
			sh := st.Shard(0)
			k := []byte("p")
			perWindow := map[int64]int64{}
			newest := int64(math.MinInt64)
			for i, c := range calls {
				r, err := a.run(sh, Hash(k), k, WindowParams{limit, 1, c.q}, c.at, false)
				if err != nil {
					t.Fatal(err)
				}
				if r.Limited != 0 {
					continue
				}
				newest = max(newest, c.at/period)
				perWindow[newest] += c.q
				if perWindow[newest] > limit {
					t.Fatalf("%s seed %d call %d: %d admitted in window %d, limit %d", a.name, seed, i, perWindow[newest], newest, limit)
				}
			}
		}
		st := NewStore(1)
		sh := st.Shard(0)
		k := []byte("l")
		var logged []int64 // instants decided at, in order
		for i, c := range calls {
			r, err := sh.ThrottleSlidingLog(Hash(k), k, WindowParams{limit, 1, c.q}, c.at, false)
			if err != nil {
				t.Fatal(err)
			}
			if r.Limited != 0 {
				continue
			}
			at := c.at
			if len(logged) > 0 {
				at = max(at, logged[len(logged)-1])
			}
			for range c.q {
				logged = append(logged, at)
			}
			inWindow := 0
			for _, e := range logged {
				if e > at-period {
					inWindow++
				}
			}
			if int64(inWindow) > limit {
				t.Fatalf("swlog seed %d call %d: %d in (%d−P, %d], limit %d", seed, i, inWindow, at, at, limit)
			}
		}
		gp := GCRAParams{MaxBurst: limit - 1, Count: limit, Period: 1, Quantity: 1}
		T := EmissionInterval(gp.Count, gp.Period)
		tau := T * (gp.MaxBurst + 1)
		st = NewStore(1)
		sh = st.Shard(0)
		k = []byte("g")
		var admitted []int64
		for i, c := range calls {
			r, err := sh.ThrottleGCRA(Hash(k), k, gp, c.at)
			if err != nil {
				t.Fatal(err)
			}
			if r.Limited != 0 {
				continue
			}
			admitted = append(admitted, c.at)
			for j, first := range admitted {
				if units := int64(len(admitted) - j); units*T > c.at-first+tau {
					t.Fatalf("gcra seed %d call %d: %d admitted from %d to %d ns, T %d, τ %d", seed, i, units, first, c.at, T, tau)
				}
			}
		}
	}
}
