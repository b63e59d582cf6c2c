package engine

import "slices"

// The window limiters' store side. Each reads the key's state, decides with
// the pure functions in window.go and writes the new state with an expiry
// at the moment the state is empty again, so idle keys vanish. With peek
// set nothing is written. The caller holds the shard lock and has
// validated p.

// stateOf returns key's record if it holds kind; a key of another kind is
// ErrWrongType.
func (sh *Shard) stateOf(h uint64, key []byte, kind Kind, nowMs int64) (*record, error) {
	r, ok := sh.find(h, key, nowMs)
	if !ok {
		return nil, nil
	}
	if r.kind != kind {
		return nil, ErrWrongType
	}
	return r, nil
}

// ThrottleFixedWindow runs FW.THROTTLE (or FW.PEEK with peek).
func (sh *Shard) ThrottleFixedWindow(h uint64, key []byte, p WindowParams, nowNs int64, peek bool) (Result, error) {
	nowMs := nowNs / 1e6
	r, err := sh.stateOf(h, key, KindFixedWindow, nowMs)
	if err != nil {
		return Result{}, err
	}
	period := p.Period * 1e9
	end := nowNs - nowNs%period + period
	var count int64
	if r != nil && r.expireMs == end/1e6 {
		count = r.val
	}
	res, newCount, windowEnd := fixedWindow(p, nowNs, count)
	if !peek && newCount != count {
		sh.SetInt(h, key, KindFixedWindow, newCount, windowEnd/1e6, nowMs)
	}
	return res, nil
}

// ThrottleSlidingWindow runs SW.THROTTLE (or SW.PEEK with peek). The state
// packs the previous and current counts; the current window's start is the
// expiry minus two periods.
func (sh *Shard) ThrottleSlidingWindow(h uint64, key []byte, p WindowParams, nowNs int64, peek bool) (Result, error) {
	nowMs := nowNs / 1e6
	r, err := sh.stateOf(h, key, KindSlidingWindow, nowMs)
	if err != nil {
		return Result{}, err
	}
	period := p.Period * 1e9
	start := nowNs - nowNs%period
	var prev, cur int64
	if r != nil {
		storedStart := r.expireMs*1e6 - 2*period
		sPrev, sCur := r.val>>32, r.val&0xffffffff
		switch storedStart {
		case start:
			prev, cur = sPrev, sCur
		case start - period:
			prev = sCur
		}
	}
	res, newCur, _ := slidingWindow(p, nowNs, prev, cur)
	if !peek && newCur != cur {
		sh.SetInt(h, key, KindSlidingWindow, prev<<32|newCur, (start+2*period)/1e6, nowMs)
	}
	return res, nil
}

// ThrottleSlidingLog runs SWLOG.THROTTLE (or SWLOG.PEEK with peek). The log
// keeps one time per unit inside the window, at most p.Limit of them.
func (sh *Shard) ThrottleSlidingLog(h uint64, key []byte, p WindowParams, nowNs int64, peek bool) (Result, error) {
	nowMs := nowNs / 1e6
	r, err := sh.stateOf(h, key, KindSlidingLog, nowMs)
	if err != nil {
		return Result{}, err
	}
	period := p.Period * 1e9
	var log []int64
	if r != nil {
		log = sh.logs[r.val]
	}
	// Entries at or before now−P have left the window.
	drop, _ := slices.BinarySearch(log, nowNs-period+1)
	live := log[drop:]
	res, add := slidingLog(p, nowNs, live)
	if peek || (add == 0 && drop == 0) {
		return res, nil
	}
	if len(live)+int(add) == 0 {
		sh.Delete(h, key, nowMs)
		return res, nil
	}
	// Reuse the backing array; trim from the front by copying down.
	n := copy(log, live)
	log = log[:n]
	for range add {
		log = append(log, nowNs)
	}
	// Keep it sorted: a concurrent command may have logged a later time.
	if n > 0 && log[n-1] > nowNs {
		slices.Sort(log)
	}
	exp := (log[len(log)-1] + period + 999_999) / 1e6
	if r != nil {
		sh.addBytes(8 * int64(len(log)-len(sh.logs[r.val])))
		sh.logs[r.val] = log
		sh.setExpiry(r, exp)
		return res, nil
	}
	sh.putLog(h, key, log, exp, nowMs) // log is freshly built: no copy
	return res, nil
}
