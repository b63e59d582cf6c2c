package engine

import "slices"

// Merging two states of one key, for the cluster: when a slot's state
// meets a second copy of itself. Both functions are pure and never admit
// more than the states they merge would have admitted together: a merged
// key is at least as restrictive as each input. Keys of different kinds,
// and strings, keep a (the holder's copy).

// MergeDisjoint combines states that counted different requests: the
// holder's state a and a temporary bucket b a node kept while the holder
// was unreachable (--owner-unreachable local). The result counts both:
// GCRA adds b's outstanding debt (its TAT beyond now) to a's; windows add
// counts of the same window (a count in an older window of b is added to
// the later state's previous window, which over-counts at most one period:
// the safe side); logs are unioned.
func MergeDisjoint(a, b Entry, nowNs int64) Entry {
	if a.Kind == KindNone {
		return b
	}
	if a.Kind != b.Kind {
		return a
	}
	out := a
	out.ExpireMs = laterExpiry(a.ExpireMs, b.ExpireMs)
	switch a.Kind {
	case KindGCRA:
		debt := b.Int - nowNs
		if debt <= 0 {
			return a
		}
		out.Int = max(a.Int, nowNs) + debt
		out.ExpireMs = laterExpiry(out.ExpireMs, ceilMs(out.Int))
	case KindFixedWindow, KindSlidingWindow:
		out.Window = mergeWindows(a.Window, b.Window, a.Kind, func(x, y int64) int64 { return satAdd(x, y) })
		out.ExpireMs = laterExpiry(out.ExpireMs, out.Window.EmptyAtMs)
	case KindSlidingLog:
		out.Log = mergeLogs(a.Log, b.Log, false)
	}
	return out
}

// MergeOverlap combines states that may have counted the same requests:
// two nodes that both held a slot for a while (a lost handoff
// acknowledgement, issue 10's healed partitions). Each part keeps the more
// restrictive value: the later GCRA TAT, the larger count of each window,
// the union of logs (equal times counted once).
func MergeOverlap(a, b Entry) Entry {
	if a.Kind == KindNone {
		return b
	}
	if a.Kind != b.Kind {
		return a
	}
	out := a
	out.ExpireMs = laterExpiry(a.ExpireMs, b.ExpireMs)
	switch a.Kind {
	case KindGCRA:
		out.Int = max(a.Int, b.Int)
	case KindFixedWindow, KindSlidingWindow:
		out.Window = mergeWindows(a.Window, b.Window, a.Kind, func(x, y int64) int64 { return max(x, y) })
	case KindSlidingLog:
		out.Log = mergeLogs(a.Log, b.Log, true)
	}
	return out
}

// mergeWindows combines two window states with combine for counts of the
// same window. Windows are named by EmptyAtMs: the later state wins, and
// the earlier one's current count joins its previous window (sliding) or
// is dropped (fixed: a past window no longer counts).
func mergeWindows(a, b WindowState, kind Kind, combine func(x, y int64) int64) WindowState {
	switch {
	case a.EmptyAtMs == b.EmptyAtMs:
		return WindowState{EmptyAtMs: a.EmptyAtMs, Prev: combine(a.Prev, b.Prev), Cur: combine(a.Cur, b.Cur)}
	case a.EmptyAtMs < b.EmptyAtMs:
		a, b = b, a
	}
	if kind == KindSlidingWindow {
		a.Prev = combine(a.Prev, b.Cur)
	}
	return a
}

// mergeLogs returns the sorted union of two ascending logs; with dedup,
// equal times appear once.
func mergeLogs(a, b []int64, dedup bool) []int64 {
	out := make([]int64, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	if dedup {
		out = slices.Compact(out)
	}
	return out
}

func laterExpiry(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0 // one copy never expires: neither does the merge
	}
	return max(a, b)
}

func ceilMs(ns int64) int64 { return (ns + 999_999) / 1_000_000 }

func satAdd(x, y int64) int64 {
	if s := x + y; (s > x) == (y > 0) {
		return s
	}
	if y > 0 {
		return 1<<63 - 1
	}
	return -1 << 63
}
