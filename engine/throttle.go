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
	emission := EmissionInterval(p.Count, p.Period)
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
	var expire int64
	switch {
	case out.ttlMs >= 0:
		expire = nowMs + out.ttlMs
	case out.ttlMs == -1:
		expire = 0
	}
	if expire != 0 && expire <= nowMs {
		// An expiry of "now" removes the key at once, as in Redis.
		if exists {
			sh.Delete(h, key, nowMs)
		}
		return out.res, nil
	}
	sh.SetInt(h, key, KindGCRA, out.newTAT, expire, nowMs)
	if out.ttlMs < -1 {
		return Result{}, ErrExpire
	}
	return out.res, nil
}
