package engine

import (
	"fmt"
	"testing"
)

func TestMergeDisjoint(t *testing.T) {
	const now = int64(1_000_000_000_000)
	for _, c := range []struct {
		name string
		a, b Entry
		want Entry
	}{
		{"gcra debts add", Entry{Kind: KindGCRA, Int: now + 5e9, ExpireMs: 1_005_000}, Entry{Kind: KindGCRA, Int: now + 3e9, ExpireMs: 1_003_000},
			Entry{Kind: KindGCRA, Int: now + 8e9, ExpireMs: 1_008_000}},
		{"gcra holder idle", Entry{Kind: KindGCRA, Int: now - 7e9, ExpireMs: 993_000}, Entry{Kind: KindGCRA, Int: now + 2e9, ExpireMs: 1_002_000},
			Entry{Kind: KindGCRA, Int: now + 2e9, ExpireMs: 1_002_000}},
		{"gcra bucket idle", Entry{Kind: KindGCRA, Int: now + 1e9, ExpireMs: 1_001_000}, Entry{Kind: KindGCRA, Int: now - 1e9, ExpireMs: 999_000},
			Entry{Kind: KindGCRA, Int: now + 1e9, ExpireMs: 1_001_000}},
		{"fw same window", Entry{Kind: KindFixedWindow, Window: WindowState{EmptyAtMs: 60, Cur: 4}, ExpireMs: 60}, Entry{Kind: KindFixedWindow, Window: WindowState{EmptyAtMs: 60, Cur: 3}, ExpireMs: 60},
			Entry{Kind: KindFixedWindow, Window: WindowState{EmptyAtMs: 60, Cur: 7}, ExpireMs: 60}},
		{"fw older window drops", Entry{Kind: KindFixedWindow, Window: WindowState{EmptyAtMs: 60, Cur: 4}, ExpireMs: 60}, Entry{Kind: KindFixedWindow, Window: WindowState{EmptyAtMs: 120, Cur: 1}, ExpireMs: 120},
			Entry{Kind: KindFixedWindow, Window: WindowState{EmptyAtMs: 120, Cur: 1}, ExpireMs: 120}},
		{"sw same window", Entry{Kind: KindSlidingWindow, Window: WindowState{EmptyAtMs: 120, Prev: 5, Cur: 2}, ExpireMs: 120}, Entry{Kind: KindSlidingWindow, Window: WindowState{EmptyAtMs: 120, Prev: 1, Cur: 1}, ExpireMs: 120},
			Entry{Kind: KindSlidingWindow, Window: WindowState{EmptyAtMs: 120, Prev: 6, Cur: 3}, ExpireMs: 120}},
		{"sw older joins prev", Entry{Kind: KindSlidingWindow, Window: WindowState{EmptyAtMs: 60, Prev: 0, Cur: 4}, ExpireMs: 60}, Entry{Kind: KindSlidingWindow, Window: WindowState{EmptyAtMs: 120, Prev: 1, Cur: 2}, ExpireMs: 120},
			Entry{Kind: KindSlidingWindow, Window: WindowState{EmptyAtMs: 120, Prev: 5, Cur: 2}, ExpireMs: 120}},
		{"log union", Entry{Kind: KindSlidingLog, Log: []int64{1, 3}, ExpireMs: 9}, Entry{Kind: KindSlidingLog, Log: []int64{2, 3}, ExpireMs: 8},
			Entry{Kind: KindSlidingLog, Log: []int64{1, 2, 3, 3}, ExpireMs: 9}},
		{"kinds differ", Entry{Kind: KindGCRA, Int: 5, ExpireMs: 1}, Entry{Kind: KindFixedWindow, ExpireMs: 2}, Entry{Kind: KindGCRA, Int: 5, ExpireMs: 1}},
		{"holder has none", Entry{}, Entry{Kind: KindGCRA, Int: 5, ExpireMs: 1}, Entry{Kind: KindGCRA, Int: 5, ExpireMs: 1}},
		{"counts saturate", Entry{Kind: KindFixedWindow, Window: WindowState{EmptyAtMs: 60, Cur: 1<<63 - 1}}, Entry{Kind: KindFixedWindow, Window: WindowState{EmptyAtMs: 60, Cur: 5}},
			Entry{Kind: KindFixedWindow, Window: WindowState{EmptyAtMs: 60, Cur: 1<<63 - 1}}},
	} {
		if got := MergeDisjoint(c.a, c.b, now); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestMergeOverlap(t *testing.T) {
	for _, c := range []struct {
		name string
		a, b Entry
		want Entry
	}{
		{"later tat", Entry{Kind: KindGCRA, Int: 5, ExpireMs: 1}, Entry{Kind: KindGCRA, Int: 9, ExpireMs: 2}, Entry{Kind: KindGCRA, Int: 9, ExpireMs: 2}},
		{"larger counts", Entry{Kind: KindSlidingWindow, Window: WindowState{EmptyAtMs: 120, Prev: 5, Cur: 1}, ExpireMs: 120}, Entry{Kind: KindSlidingWindow, Window: WindowState{EmptyAtMs: 120, Prev: 2, Cur: 3}, ExpireMs: 120},
			Entry{Kind: KindSlidingWindow, Window: WindowState{EmptyAtMs: 120, Prev: 5, Cur: 3}, ExpireMs: 120}},
		{"log union once", Entry{Kind: KindSlidingLog, Log: []int64{1, 3}, ExpireMs: 9}, Entry{Kind: KindSlidingLog, Log: []int64{2, 3}, ExpireMs: 8},
			Entry{Kind: KindSlidingLog, Log: []int64{1, 2, 3}, ExpireMs: 9}},
		{"no expiry wins", Entry{Kind: KindGCRA, Int: 5, ExpireMs: 0}, Entry{Kind: KindGCRA, Int: 9, ExpireMs: 2}, Entry{Kind: KindGCRA, Int: 9, ExpireMs: 0}},
	} {
		if got := MergeOverlap(c.a, c.b); fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}
