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
	sh.found = ok
	if !ok {
		return nil, nil
	}
	if r.kind != kind {
		return nil, ErrWrongType
	}
	return r, nil
}

// ThrottleFixedWindow runs FW.THROTTLE (or FW.PEEK with peek). The state
// names its window by the window's end, so the key's TTL plays no part.
func (sh *Shard) ThrottleFixedWindow(h uint64, key []byte, p WindowParams, nowNs int64, peek bool) (Result, error) {
	nowMs := nowNs / 1e6
	r, err := sh.stateOf(h, key, KindFixedWindow, nowMs)
	if err != nil {
		return Result{}, err
	}
	elapsed := intoWindow(nowNs, p.Period)
	endMs := (nowNs-elapsed)/1e6 + p.Period*1000 // exact: windows start on whole seconds
	var count int64
	if r != nil && sh.wins[r.val].EmptyAtMs == endMs {
		count = sh.wins[r.val].Cur
	}
	res, newCount := fixedWindow(p, elapsed, count)
	if !peek && newCount != count {
		sh.putWindow(h, key, r, KindFixedWindow, WindowState{EmptyAtMs: endMs, Cur: newCount}, nowMs)
	}
	return res, nil
}

// ThrottleSlidingWindow runs SW.THROTTLE (or SW.PEEK with peek). The state
// holds the previous and current counts and names the current window by
// the end of the window after it (when both counts have aged out).
func (sh *Shard) ThrottleSlidingWindow(h uint64, key []byte, p WindowParams, nowNs int64, peek bool) (Result, error) {
	nowMs := nowNs / 1e6
	r, err := sh.stateOf(h, key, KindSlidingWindow, nowMs)
	if err != nil {
		return Result{}, err
	}
	elapsed := intoWindow(nowNs, p.Period)
	startMs := (nowNs - elapsed) / 1e6
	periodMs := p.Period * 1000
	emptyAt := startMs + 2*periodMs
	var prev, cur int64
	if r != nil {
		switch w := sh.wins[r.val]; w.EmptyAtMs {
		case emptyAt: // stored in this window
			prev, cur = w.Prev, w.Cur
		case emptyAt - periodMs: // stored in the previous window
			prev = w.Cur
		}
	}
	res, newCur := slidingWindow(p, elapsed, prev, cur)
	if !peek && newCur != cur {
		sh.putWindow(h, key, r, KindSlidingWindow, WindowState{EmptyAtMs: emptyAt, Prev: prev, Cur: newCur}, nowMs)
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
	// The last entry leaves the window P after it, rounded up to a ms.
	exp := ceilDiv(log[len(log)-1], 1e6) + p.Period*1000
	if r != nil {
		sh.addBytes(8 * int64(len(log)-len(sh.logs[r.val])))
		sh.logs[r.val] = log
		sh.setExpiry(r, exp)
		return res, nil
	}
	sh.putLog(h, key, log, exp, nowMs) // log is freshly built: no copy
	return res, nil
}

// SlidingLogGrows reports whether ThrottleSlidingLog at nowNs would make
// key's log longer than it is (or create it), so a caller at its memory
// limit can refuse that call while still serving calls that trim or deny.
func (sh *Shard) SlidingLogGrows(h uint64, key []byte, p WindowParams, nowNs int64) bool {
	r, err := sh.stateOf(h, key, KindSlidingLog, nowNs/1e6)
	if err != nil {
		return false // the call answers WRONGTYPE
	}
	var log []int64
	if r != nil {
		log = sh.logs[r.val]
	}
	drop, _ := slices.BinarySearch(log, nowNs-p.Period*1e9+1)
	_, add := slidingLog(p, nowNs, log[drop:])
	return add > int64(drop)
}
