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
//
// An instant older than the stored window (a forwarded command carries the
// first node's clock; two connections may read the clock in one order and
// take the lock in the other) is decided inside the stored window: moving
// the state back to the older window would let the next call start the
// newer window afresh, admitting the limit again on every reordering.
func (sh *Shard) ThrottleFixedWindow(h uint64, key []byte, p WindowParams, nowNs int64, peek bool) (Result, error) {
	nowMs := nowNs / 1e6
	r, err := sh.stateOf(h, key, KindFixedWindow, nowMs)
	if err != nil {
		return Result{}, err
	}
	elapsed := intoWindow(nowNs, p.Period)
	endMs := (nowNs-elapsed)/1e6 + p.Period*1000 // exact: windows start on whole seconds
	untilEnd := p.Period*1e9 - elapsed
	var count int64
	if r != nil {
		switch w := sh.wins[r.val]; {
		case w.EmptyAtMs == endMs:
			count = w.Cur
		case w.EmptyAtMs > endMs: // an older instant: the stored window decides
			endMs, count = w.EmptyAtMs, w.Cur
			// Timed from the window's start at the latest, as if decided
			// there (a key stored under a longer period may end sooner).
			untilEnd = min(mulWide(endMs, 1e6).sub(wideOf(nowNs)).saturate(), p.Period*1e9)
		}
	}
	res, newCount := fixedWindow(p, untilEnd, count)
	if !peek && newCount != count {
		sh.putWindow(h, key, r, KindFixedWindow, WindowState{EmptyAtMs: endMs, Cur: newCount}, nowMs)
	}
	return res, nil
}

// ThrottleSlidingWindow runs SW.THROTTLE (or SW.PEEK with peek). The state
// holds the previous and current counts and names the current window by
// the end of the window after it (when both counts have aged out).
//
// An instant older than the stored window is decided at the stored
// window's start, where the previous count weighs fully (the most
// restrictive instant of that window), for the reason given at
// ThrottleFixedWindow.
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
		switch w := sh.wins[r.val]; {
		case w.EmptyAtMs == emptyAt: // stored in this window
			prev, cur = w.Prev, w.Cur
		case w.EmptyAtMs == emptyAt-periodMs: // stored in the previous window
			prev = w.Cur
		case w.EmptyAtMs > emptyAt: // an older instant: the stored window decides
			emptyAt, prev, cur = w.EmptyAtMs, w.Prev, w.Cur
			elapsed = 0
			if into := wideOf(nowNs).sub(mulWide(emptyAt-2*periodMs, 1e6)); !into.negative() {
				// Stored under a longer period, on another grid: now lies
				// inside the stored window as this period sees it.
				elapsed = min(into.saturate(), p.Period*1e9-1)
			}
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
//
// An instant older than the log's last entry is decided (and logged, and
// the reply timed) at that entry, for the reason given at ThrottleFixedWindow, so the log only
// ever grows at its end. Entries are trimmed only when one is appended,
// never on a denial: every entry ever trimmed is then at least a period
// older than the last entry, and a call decided at or after it sees every
// entry still inside its window.
func (sh *Shard) ThrottleSlidingLog(h uint64, key []byte, p WindowParams, nowNs int64, peek bool) (Result, error) {
	nowMs := nowNs / 1e6
	r, err := sh.stateOf(h, key, KindSlidingLog, nowMs)
	if err != nil {
		return Result{}, err
	}
	var log []int64
	if r != nil {
		log = sh.logs[r.val]
	}
	at, drop := logInstant(log, p, nowNs)
	live := log[drop:]
	res, add := slidingLog(p, at, live)
	if peek || add == 0 {
		return res, nil
	}
	// Reuse the backing array; trim from the front by copying down.
	n := copy(log, live)
	log = log[:n]
	for range add {
		log = append(log, at)
	}
	// The last entry leaves the window P after it, rounded up to a ms.
	exp := ceilDiv(at, 1e6) + p.Period*1000
	if r != nil {
		sh.addBytes(8 * int64(len(log)-len(sh.logs[r.val])))
		sh.logs[r.val] = log
		sh.setExpiry(r, exp)
		return res, nil
	}
	sh.putLog(h, key, log, exp, nowMs) // log is freshly built: no copy
	return res, nil
}

// logInstant returns the instant a sliding-log call at nowNs is decided at
// (nowNs, or the log's last entry when that is later) and how many leading
// entries of log have left the window by then (those at or before at−P).
func logInstant(log []int64, p WindowParams, nowNs int64) (at int64, drop int) {
	at = nowNs
	if n := len(log); n > 0 && log[n-1] > at {
		at = log[n-1]
	}
	drop, _ = slices.BinarySearch(log, at-p.Period*1e9+1)
	return at, drop
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
	at, drop := logInstant(log, p, nowNs)
	_, add := slidingLog(p, at, log[drop:])
	return add > int64(drop)
}
