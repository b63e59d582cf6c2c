package engine

import "strconv"

// ThrottleGCRA runs CL.THROTTLE on key at nowNs: it reads the stored TAT,
// decides, and writes the new TAT and expiry when the call is allowed. The
// caller holds the shard lock. A string value that is a decimal int64 is
// taken as a TAT, as redis-cell does; any other value is ErrWrongType.
//
// ErrExpire comes with a written key (no expiry) and no Result, matching
// redis-cell's error reply.
func (sh *Shard) ThrottleGCRA(h uint64, key []byte, p GCRAParams, nowNs int64) (Result, error) {
	return sh.gcra(h, key, p, EmissionInterval(p.Count, p.Period), nowNs, false)
}

// PeekGCRA answers what ThrottleGCRA would, errors included, and changes
// nothing: no key is created, no TAT or TTL moves.
func (sh *Shard) PeekGCRA(h uint64, key []byte, p GCRAParams, nowNs int64) (Result, error) {
	return sh.gcra(h, key, p, EmissionInterval(p.Count, p.Period), nowNs, true)
}

// ThrottleGCRAInterval is ThrottleGCRA with the emission interval given in
// nanoseconds (the GCRA command's fractional periods); peek as PeekGCRA.
func (sh *Shard) ThrottleGCRAInterval(h uint64, key []byte, p GCRAParams, emission, nowNs int64, peek bool) (Result, error) {
	return sh.gcra(h, key, p, emission, nowNs, peek)
}

func (sh *Shard) gcra(h uint64, key []byte, p GCRAParams, emission, nowNs int64, peek bool) (Result, error) {
	if emission == 0 {
		return Result{}, ErrZeroRate
	}
	nowMs := nowNs / 1e6
	var stored int64
	r, exists := sh.find(h, key, nowMs)
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
	out := decideGCRA(p, emission, nowNs, stored, exists)
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
