package rules

import (
	"strconv"
	"testing"
)

func TestSpaceSavingFindsHeavyHittersInBoundedMemory(t *testing.T) {
	t.Parallel()
	var s spaceSaving
	truth := map[string]int64{}
	// Three heavy keys among 20,000 light ones.
	for i := range 60_000 {
		k := "light-" + strconv.Itoa(i%20_000)
		if i%10 == 0 {
			k = "heavy-" + strconv.Itoa(i%3)
		}
		truth[k]++
		s.add(k)
	}
	if len(s.heap) != topK || len(s.index) != topK {
		t.Fatalf("summary holds %d/%d entries, want %d", len(s.heap), len(s.index), topK)
	}
	top := s.top(3)
	for _, h := range top {
		if h.Key[:5] != "heavy" {
			t.Fatalf("top 3 = %+v", top)
		}
		// Space-Saving never under-counts, and over-counts by at most err.
		if h.Count < truth[h.Key] || h.Count-h.Error > truth[h.Key] {
			t.Fatalf("%s: count %d (err %d), true %d", h.Key, h.Count, h.Error, truth[h.Key])
		}
	}
}

func TestGlobalAndUserStats(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"r","per":["user_id"],"algorithm":"fixed_window","limit":2,"window":"1h"}`)
	check := func(user string, at int64) {
		q := Request{UserID: user, Endpoint: "/x"}
		q.Prepare()
		var d Decision
		if err := e.Check(&q, at, &d, CheckOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		check("a", t0)
	}
	check("b", t0+2*60e9)
	u, err := e.User("a", t0+3*60e9, 3600)
	if err != nil || u.TotalRequests != 5 || u.RejectedRequests != 3 || u.AllowedRequests != 2 || *u.CurrentLimit != 2 || *u.Remaining != 0 || u.Tier != "free" {
		t.Fatalf("user a: %+v %v", u, err)
	}
	// Two hours later, c.
	check("c", t0+2*3600e9)
	now := t0 + 2*3600e9
	g := e.Global(now, 0, 10)
	if g.TotalRequests != 7 || g.RejectedRequests != 3 || g.AllowedRequests != 4 || len(g.TopLimitedUsers) != 1 || g.TopLimitedUsers[0].Key != "a" || g.TopLimitedEndpoints[0].Count != 3 {
		t.Fatalf("global since start: %+v", g)
	}
	if g := e.Global(now, 3600, 10); g.TotalRequests != 1 || g.Window != "1h" {
		t.Fatalf("global last hour: %+v", g)
	}
	if g := e.Global(now, 86400, 10); g.TotalRequests != 7 {
		t.Fatalf("global last day: %+v", g)
	}
	// Peeking for stats counted nothing.
	if g := e.Global(now, 0, 10); g.TotalRequests != 7 {
		t.Fatalf("stats counted a peek: %+v", g)
	}
	if u, _ := e.User("a", now, 86400); u.TotalRequests != 5 {
		t.Fatalf("user a over the last day: %+v", u)
	}
	if u, _ := e.User("a", now, 60); u.TotalRequests != 0 {
		t.Fatalf("user a in the last minute, two hours later: %+v", u)
	}
}
