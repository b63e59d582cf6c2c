package engine

import "errors"

// Errors returned by the limiter algorithms. The server maps each to one
// RESP error line.
var (
	// ErrZeroRate: the emission interval is zero (count or period is zero,
	// or the period is shorter than a nanosecond per request).
	ErrZeroRate = errors.New("zero rates are not supported")
	// ErrExpire: the new state was written but its expiry lies more than
	// 1 ms in the past, so it was left without one (redis-cell's behaviour).
	ErrExpire = errors.New("error while setting key expire")
	// ErrWrongType: the key holds another kind of value, or a string that is
	// not a decimal int64.
	ErrWrongType = errors.New("wrong type")
	// ErrUpdateFailed: the key holds the sentinel TAT -1, which redis-cell
	// mistakes for a missing key and can never update.
	ErrUpdateFailed = errors.New("failed to update rate limit")
)

// Result is the five-integer reply shared by every limiter command:
// [limited, limit, remaining, retry_after, reset_after]; the times are in
// whole seconds rounded the way redis-cell rounds them.
type Result struct {
	Limited    int64
	Limit      int64
	Remaining  int64
	RetryAfter int64
	ResetAfter int64
}

// GCRAParams are CL.THROTTLE's arguments. Period is in seconds. Nothing is
// stored with a key: every call applies its own parameters to the stored TAT.
type GCRAParams struct {
	MaxBurst, Count, Period, Quantity int64
}

// EmissionInterval returns T, the nanoseconds between requests at the
// nominal rate, computed as redis-cell does (exact period in ns, divided in
// float64, truncated and saturated to int64). Zero means "zero rate".
func EmissionInterval(count, periodSeconds int64) int64 {
	if count == 0 || periodSeconds == 0 {
		return 0
	}
	return saturatingInt64(mulWide(periodSeconds, 1e9).float64() / float64(count))
}

// gcraOutcome is the pure decision for one GCRA call.
type gcraOutcome struct {
	res    Result
	write  bool  // allowed: store newTAT
	newTAT int64 // the TAT to store, wrapped to int64 as redis-cell stores it
	ttlMs  int64 // expiry relative to now in whole ms (only when write)
}

// decideGCRA runs redis-cell's GCRA for one call. stored is the key's TAT
// (ns since the epoch) when exists is true. emission must be non-zero.
// With exact (the GCRA command), remaining is floor(next/T) in whole ns;
// otherwise redis-cell's division of truncated microseconds, which can
// exceed max_burst+1 when T is not a whole number of microseconds.
func decideGCRA(p GCRAParams, emission, nowNs int64, stored int64, exists, exact bool) gcraOutcome {
	// Products wrap like redis-cell's i64 arithmetic; sums of instants and
	// durations do not (redis-cell adds them in wider types).
	tau := emission * (p.MaxBurst + 1)
	inc := emission * p.Quantity
	now := wideOf(nowNs)
	tat := now
	if exists && stored != -1 {
		// redis-cell turns the stored i64 back into an instant through an
		// unsigned conversion, so negative values land far in the future.
		tat = wideOfUnsigned(uint64(stored))
	}
	base := tat
	if now.cmp(tat) > 0 {
		base = now
	}
	newTAT := base.add(wideOf(inc))
	allowAt := newTAT.sub(wideOf(tau))
	diff := now.sub(allowAt)

	out := gcraOutcome{res: Result{Limit: p.MaxBurst + 1}}
	retry := wideOf(-1e9)
	var ttl wide
	if diff.negative() {
		if inc <= tau {
			retry = diff.neg()
		}
		out.res.Limited = 1
		ttl = tat.sub(now)
	} else {
		ttl = newTAT.sub(now)
		out.write = true
		out.newTAT = newTAT.low64()
		out.ttlMs = ttl.quo(1e6).low64()
	}
	next := wideOf(tau).sub(ttl)
	switch {
	case exact:
		// The GCRA command validated that tau and inc fit: 0 ≤ next ≤ tau.
		if !next.negative() {
			out.res.Remaining = next.quo(uint64(emission)).saturate()
		}
	case next.cmp(wideOf(emission).neg()) > 0:
		// Whole microseconds on both sides, then a float division: a zero
		// divisor yields ±Inf or NaN, which saturate like Rust's casts.
		num := next.quo(1000).float64()
		den := float64(emission / 1000)
		out.res.Remaining = saturatingInt64(num / den)
	}
	out.res.RetryAfter = ceilSeconds(retry)
	out.res.ResetAfter = ceilSeconds(ttl)
	return out
}

// ceilSeconds converts nanoseconds to whole seconds as redis-cell replies
// them: truncate, then add one if at least a millisecond was left over.
// Negative values never gain the extra second.
func ceilSeconds(ns wide) int64 {
	s := ns.quo(1e9).low64()
	if ns.rem(1e9)/1e6 > 0 {
		s++
	}
	return s
}
