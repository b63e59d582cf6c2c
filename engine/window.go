package engine

import (
	"math"
	"math/bits"
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
		return cmp128(mul128(prev, period-elapsed), mul128(cur+q, period), mul128(p.Limit, period)) <= 0
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
	room := sub128(mul128(p.Limit, period), mul128(prev, period-elapsed))
	if room.neg {
		res.Remaining = 0
	} else {
		res.Remaining = max(int64(div128(room, uint64(period)))-newCur, 0)
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
		need := period - int64(div128(mul128(free, period), uint64(prev)))
		if need > elapsed {
			return need - elapsed
		}
		return 0
	}
	// Next window: prev' = cur, cur' = 0; need cur·(P−e'') ≤ (limit−q)·P.
	wait := period - elapsed
	if cur > 0 {
		free := p.Limit - p.Quantity
		need := period - int64(div128(mul128(free, period), uint64(cur)))
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

// u128 is an unsigned magnitude with a sign, enough for the products of
// counts and periods above.
type u128 struct {
	hi, lo uint64
	neg    bool
}

func mul128(a, b int64) u128 {
	hi, lo := bits.Mul64(uint64(a), uint64(b)) // callers pass non-negative values
	return u128{hi: hi, lo: lo}
}

func add128(a, b u128) u128 {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	return u128{hi: a.hi + b.hi + c, lo: lo}
}

// sub128 returns a−b with its sign.
func sub128(a, b u128) u128 {
	if cmp128(a, u128{}, b) < 0 {
		r := sub128(b, a)
		r.neg = true
		return r
	}
	lo, br := bits.Sub64(a.lo, b.lo, 0)
	return u128{hi: a.hi - b.hi - br, lo: lo}
}

// cmp128 compares a+b with c.
func cmp128(a, b, c u128) int {
	s := add128(a, b)
	switch {
	case s.hi != c.hi:
		if s.hi < c.hi {
			return -1
		}
		return 1
	case s.lo != c.lo:
		if s.lo < c.lo {
			return -1
		}
		return 1
	}
	return 0
}

// div128 returns a/d, saturated to MaxInt64.
func div128(a u128, d uint64) uint64 {
	if a.hi >= d {
		return math.MaxInt64
	}
	q, _ := bits.Div64(a.hi, a.lo, d)
	return min(q, math.MaxInt64)
}
