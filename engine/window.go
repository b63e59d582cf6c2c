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
	// MaxSlidingLimit bounds SW's limit: its two counts share one word.
	MaxSlidingLimit = math.MaxUint32
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

// fixedWindow decides one FW call. Windows are [k·P, (k+1)·P) since the
// epoch; count is what the current window has used (the caller resets it
// when the stored window is another one).
func fixedWindow(p WindowParams, nowNs, count int64) (res Result, newCount, windowEnd int64) {
	period := p.Period * 1e9
	windowEnd = nowNs - nowNs%period + period
	res = Result{Limit: p.Limit, RetryAfter: -1, ResetAfter: secondsUntil(windowEnd - nowNs)}
	newCount = count
	switch {
	case p.Quantity > p.Limit:
		res.Limited = 1
	case count+p.Quantity > p.Limit:
		res.Limited = 1
		res.RetryAfter = secondsUntil(windowEnd - nowNs)
	default:
		newCount = count + p.Quantity
	}
	res.Remaining = max(p.Limit-newCount, 0)
	return res, newCount, windowEnd
}

// slidingWindow decides one SW call: the current window's count plus the
// previous window's count weighted by how much of it still overlaps the
// sliding window [now-P, now]. The comparison is exact integer arithmetic:
// prev·(P−e) + (cur+q)·P ≤ limit·P, with e the time into the window.
func slidingWindow(p WindowParams, nowNs, prev, cur int64) (res Result, newCur, windowStart int64) {
	period := p.Period * 1e9
	windowStart = nowNs - nowNs%period
	elapsed := nowNs - windowStart
	res = Result{Limit: p.Limit, RetryAfter: -1}
	newCur = cur
	fits := func(q int64) bool {
		return mulWide(prev, period-elapsed).add(mulWide(cur+q, period)).cmp(mulWide(p.Limit, period)) <= 0
	}
	switch {
	case p.Quantity > p.Limit:
		res.Limited = 1
	case !fits(p.Quantity):
		res.Limited = 1
		res.RetryAfter = secondsUntil(slidingRetry(p, period, elapsed, prev, cur))
	default:
		newCur = cur + p.Quantity
	}
	// remaining = floor((limit·P − prev·(P−e)) / P) − cur, at least 0.
	room := mulWide(p.Limit, period).sub(mulWide(prev, period-elapsed))
	if !room.negative() {
		res.Remaining = max(room.quo(uint64(period)).saturate()-newCur, 0)
	}
	switch {
	case newCur > 0:
		res.ResetAfter = secondsUntil(windowStart + 2*period - nowNs)
	case prev > 0:
		res.ResetAfter = secondsUntil(windowStart + period - nowNs)
	}
	return res, newCur, windowStart
}

// slidingRetry returns how long until q more units fit: within the current
// window the previous count's weight falls linearly; after the window ends
// the current count becomes the previous one.
func slidingRetry(p WindowParams, period, elapsed, prev, cur int64) int64 {
	if free := p.Limit - cur - p.Quantity; free >= 0 && prev > 0 {
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

// slidingLog decides one SWLOG call on log, the sorted request times still
// inside (now−P, now] (the caller trims it). It returns how many entries
// to append.
func slidingLog(p WindowParams, nowNs int64, log []int64) (res Result, add int64) {
	period := p.Period * 1e9
	used := int64(len(log))
	res = Result{Limit: p.Limit, RetryAfter: -1}
	switch {
	case p.Quantity > p.Limit:
		res.Limited = 1
	case used+p.Quantity > p.Limit:
		res.Limited = 1
		// The oldest used+q−limit entries must leave the window first.
		res.RetryAfter = secondsUntil(log[used+p.Quantity-p.Limit-1] + period - nowNs)
	default:
		add = p.Quantity
	}
	res.Remaining = max(p.Limit-used-add, 0)
	last := int64(0)
	if add > 0 {
		last = nowNs
	} else if used > 0 {
		last = log[used-1]
	}
	if last != 0 {
		res.ResetAfter = secondsUntil(last + period - nowNs)
	}
	return res, add
}
