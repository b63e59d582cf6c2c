package engine

import (
	"errors"
	"fmt"
	"math"
	"math/big"
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
