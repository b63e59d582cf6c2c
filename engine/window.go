package engine

import (
	"math"
)

// WindowParams are the arguments of the window limiters (SW, SWLOG, FW):
// at most Limit units per Period seconds; Quantity units this call. The
// caller validates them (ValidateWindow).
type WindowParams struct {
	Limit, Period, Quantity int64
}

// Bounds on window parameters, so that every sum below fits in an int64.
const (
	// MaxWindowPeriod is the longest period in seconds (about 146 years):
	// two periods in nanoseconds still fit in an int64.
	MaxWindowPeriod = math.MaxInt64 / 2 / 1_000_000_000
)

// Window-parameter errors.
var (
	ErrLimit    = errorString("limit must be a positive integer")
	ErrPeriod   = errorString("period must be a positive integer number of seconds")
	ErrQuantity = errorString("quantity must be a non-negative integer")
	ErrTooLarge = errorString("limit is above the maximum for this algorithm")
)

type errorString string

func (e errorString) Error() string { return string(e) }

// ValidateWindow checks window parameters; maxLimit is the algorithm's cap.
func ValidateWindow(p WindowParams, maxLimit int64) error {
	switch {
	case p.Limit < 1:
		return ErrLimit
	case p.Limit > maxLimit:
		return ErrTooLarge
	case p.Period < 1 || p.Period > MaxWindowPeriod:
		return ErrPeriod
	case p.Quantity < 0:
		return ErrQuantity
	}
	return nil
}

// secondsUntil is ceilSeconds for a non-negative nanosecond span.
func secondsUntil(ns int64) int64 { return ceilSeconds(wideOf(max(ns, 0))) }

// intoWindow returns how far nowNs is into its window of period seconds
// (windows are [k·P, (k+1)·P) since the epoch), in [0, P) ns.
func intoWindow(nowNs, periodSeconds int64) int64 {
	period := periodSeconds * 1e9
	e := nowNs % period
	if e < 0 {
		e += period
	}
	return e
}

// ceilDiv divides rounding toward +∞ (d > 0).
func ceilDiv(a, d int64) int64 {
	q := a / d
	if a%d > 0 {
		q++
	}
	return q
}

// The deciding functions below never add a quantity to a count: a sum of
// two values up to 2^63−1 wraps. They compare q with what is left
// (limit − used, both non-negative) or sum exact 128-bit products.

// fixedWindow decides one FW call untilEnd ns before its window ends
// (in (0, P]); count is what that window has used (the caller resets it
// when the stored window is an older one).
func fixedWindow(p WindowParams, untilEnd, count int64) (res Result, newCount int64) {
	res = Result{Limit: p.Limit, RetryAfter: -1, ResetAfter: secondsUntil(untilEnd)}
	newCount = count
	switch {
	case p.Quantity > p.Limit:
		res.Limited = 1
	case p.Quantity > p.Limit-count: // count may exceed a limit lowered since
		res.Limited = 1
		res.RetryAfter = res.ResetAfter
	default:
		newCount = count + p.Quantity
	}
	res.Remaining = max(p.Limit-newCount, 0)
	return res, newCount
}

// slidingWindow decides one SW call elapsed ns into the current window:
// the current window's count plus the previous window's count weighted by
// how much of it still overlaps the sliding window [now-P, now]. The
// comparison is exact 128-bit arithmetic: prev·(P−e) + cur·P + q·P ≤
// limit·P, with e the time into the window.
func slidingWindow(p WindowParams, elapsed, prev, cur int64) (res Result, newCur int64) {
	period := p.Period * 1e9
	res = Result{Limit: p.Limit, RetryAfter: -1}
	newCur = cur
	weighted := mulWide(prev, period-elapsed).add(mulWide(cur, period))
	fits := func(q int64) bool {
		return weighted.add(mulWide(q, period)).cmp(mulWide(p.Limit, period)) <= 0
	}
	switch {
	case p.Quantity > p.Limit:
		res.Limited = 1
	case !fits(p.Quantity):
		res.Limited = 1
		res.RetryAfter = secondsUntil(slidingRetry(p, period, elapsed, prev, cur))
	default:
		newCur = cur + p.Quantity // ≤ limit: it fits
	}
	// remaining = floor((limit·P − prev·(P−e)) / P) − cur, at least 0.
	room := mulWide(p.Limit, period).sub(mulWide(prev, period-elapsed))
	if !room.negative() {
		res.Remaining = max(room.quo(uint64(period)).saturate()-newCur, 0)
	}
	switch {
	case newCur > 0:
		res.ResetAfter = secondsUntil(2*period - elapsed)
	case prev > 0:
		res.ResetAfter = secondsUntil(period - elapsed)
	}
	return res, newCur
}

// slidingRetry returns how long until q more units fit: within the current
// window the previous count's weight falls linearly; after the window ends
// the current count becomes the previous one.
func slidingRetry(p WindowParams, period, elapsed, prev, cur int64) int64 {
	if free := (p.Limit - p.Quantity) - cur; free >= 0 && prev > 0 {
		// Need prev·(P−e') ≤ free·P: e' ≥ P − free·P/prev.
		need := period - mulWide(free, period).quo(uint64(prev)).saturate()
		if need > elapsed {
			return need - elapsed
		}
		return 0
	}
	// Next window: prev' = cur, cur' = 0; need cur·(P−e'') ≤ (limit−q)·P.
	wait := period - elapsed
	if cur > 0 {
		free := p.Limit - p.Quantity
		need := period - mulWide(free, period).quo(uint64(cur)).saturate()
		wait += max(need, 0)
	}
	return wait
}

// slidingLog decides one SWLOG call at nowNs on log, the sorted request
// times still inside (now−P, now] (the caller trims it). It returns how
// many entries to append.
func slidingLog(p WindowParams, nowNs int64, log []int64) (res Result, add int64) {
	period := p.Period * 1e9
	used := int64(len(log))
	res = Result{Limit: p.Limit, RetryAfter: -1}
	switch {
	case p.Quantity > p.Limit:
		res.Limited = 1
	case p.Quantity > p.Limit-used:
		res.Limited = 1
		// The oldest used−(limit−q) entries must leave the window first.
		res.RetryAfter = secondsUntil(log[used-(p.Limit-p.Quantity)-1] - nowNs + period)
	default:
		add = p.Quantity
	}
	res.Remaining = max(p.Limit-used-add, 0)
	switch {
	case add > 0:
		res.ResetAfter = secondsUntil(period)
	case used > 0:
		res.ResetAfter = secondsUntil(log[used-1] - nowNs + period)
	}
	return res, add
}
