package engine

import (
	"math"
	"strconv"
)

// ThrottleGCRA runs CL.THROTTLE on key at nowNs: it reads the stored TAT,
// decides, and writes the new TAT and expiry when the call is allowed. The
// caller holds the shard lock. A string value that is a decimal int64 is
// taken as a TAT, as redis-cell does; any other value is ErrWrongType.
//
// ErrExpire comes with a written key (no expiry) and no Result, matching
// redis-cell's error reply.
func (sh *Shard) ThrottleGCRA(h uint64, key []byte, p GCRAParams, nowNs int64) (Result, error) {
	return sh.gcra(h, key, p, EmissionInterval(p.Count, p.Period), nowNs, false, false)
}

// PeekGCRA answers what ThrottleGCRA would, errors included, and changes
// nothing: no key is created, no TAT or TTL moves.
func (sh *Shard) PeekGCRA(h uint64, key []byte, p GCRAParams, nowNs int64) (Result, error) {
	return sh.gcra(h, key, p, EmissionInterval(p.Count, p.Period), nowNs, true, false)
}

// ThrottleGCRAInterval runs the GCRA command: ThrottleGCRA with the
// emission interval given in nanoseconds (fractional periods) and
// parameters checked by NativeGCRA; peek as PeekGCRA. Its remaining is
// exact (never above max_burst+1).
func (sh *Shard) ThrottleGCRAInterval(h uint64, key []byte, p GCRAParams, emission, nowNs int64, peek bool) (Result, error) {
	return sh.gcra(h, key, p, emission, nowNs, peek, true)
}

func (sh *Shard) gcra(h uint64, key []byte, p GCRAParams, emission, nowNs int64, peek, exact bool) (Result, error) {
	if emission == 0 {
		return Result{}, ErrZeroRate
	}
	nowMs := nowNs / 1e6
	var stored int64
	r, exists := sh.find(h, key, nowMs)
	sh.found = exists
	if exists {
		switch r.kind {
		case KindGCRA:
			stored = r.val
		case KindString:
			v, err := strconv.ParseInt(string(sh.blobs[r.val]), 10, 64)
			if err != nil {
				return Result{}, ErrWrongType
			}
			stored = v
		default:
			return Result{}, ErrWrongType
		}
	}
	out := decideGCRA(p, emission, nowNs, stored, exists, exact)
	if !out.write {
		return out.res, nil
	}
	if exists && stored == -1 {
		return Result{}, ErrUpdateFailed
	}
	if peek {
		if out.ttlMs < -1 {
			return Result{}, ErrExpire
		}
		return out.res, nil
	}
	var expire int64
	switch {
	case out.ttlMs >= 0:
		expire = nowMs + out.ttlMs
	case out.ttlMs == -1:
		expire = 0
	}
	sh.SetInt(h, key, KindGCRA, out.newTAT, expire, nowMs)
	if out.ttlMs < -1 {
		return Result{}, ErrExpire
	}
	return out.res, nil
}

// The GCRA command's argument errors.
var (
	ErrGCRABurst    = errorString("max_burst must be a non-negative integer")
	ErrGCRATokens   = errorString("tokens_per_period must be a positive integer")
	ErrGCRAPeriod   = errorString("period must be a positive number of seconds (at most " + strconv.FormatInt(MaxWindowPeriod, 10) + ")")
	ErrGCRAQuantity = errorString("TOKENS must be a non-negative integer")
	ErrGCRARate     = errorString("rate too high: less than one nanosecond per token")
	ErrGCRATooLarge = errorString("max_burst or TOKENS too large for this rate")
)

// NativeGCRA validates the GCRA command's arguments (period in seconds,
// any finite or infinite float64) and returns the parameters and emission
// interval for ThrottleGCRAInterval: round(period·1e9)/tokens ns, at least
// 1 ns, with T·(max_burst+1) and T·n within int64 so nothing wraps.
func NativeGCRA(burst, tokens int64, period float64, n int64) (GCRAParams, int64, error) {
	switch {
	case burst < 0:
		return GCRAParams{}, 0, ErrGCRABurst
	case tokens < 1:
		return GCRAParams{}, 0, ErrGCRATokens
	case !(period > 0) || period > float64(MaxWindowPeriod):
		return GCRAParams{}, 0, ErrGCRAPeriod
	case n < 0:
		return GCRAParams{}, 0, ErrGCRAQuantity
	}
	emission := int64(math.Round(period*1e9)) / tokens
	switch {
	case emission < 1:
		return GCRAParams{}, 0, ErrGCRARate
	case burst > math.MaxInt64/emission-1 || n > math.MaxInt64/emission:
		return GCRAParams{}, 0, ErrGCRATooLarge
	}
	return GCRAParams{MaxBurst: burst, Count: tokens, Quantity: n}, emission, nil
}
