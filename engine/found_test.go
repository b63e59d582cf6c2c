package engine

import "testing"

// LimiterFound tells whether each limiter call found its key, whatever
// the call answered.
func TestLimiterFound(t *testing.T) {
	sh := NewStore(1).Shard(0)
	const now = int64(1_700_000_000e9)
	gk, wk, sk := []byte("g"), []byte("w"), []byte("s")
	gp := GCRAParams{MaxBurst: 1, Count: 1, Period: 60, Quantity: 1}
	wp := WindowParams{Limit: 2, Period: 60, Quantity: 1}
	sh.SetString(Hash(sk), sk, []byte("text"), 0, now/1e6)
	for i, step := range []struct {
		call func() error
		want bool
	}{
		{func() error { _, err := sh.PeekGCRA(Hash(gk), gk, gp, now); return err }, false},
		{func() error { _, err := sh.ThrottleGCRA(Hash(gk), gk, gp, now); return err }, false},
		{func() error { _, err := sh.ThrottleGCRA(Hash(gk), gk, gp, now); return err }, true},
		{func() error { _, err := sh.ThrottleGCRAInterval(Hash(gk), gk, gp, 60e9, now, true); return err }, true},
		{func() error { _, err := sh.ThrottleSlidingWindow(Hash(wk), wk, wp, now, false); return err }, false},
		{func() error { _, err := sh.ThrottleSlidingWindow(Hash(wk), wk, wp, now, true); return err }, true},
		{func() error { _, err := sh.ThrottleFixedWindow(Hash(gk), gk, wp, now, false); return err }, true},       // WRONGTYPE: found
		{func() error { _, err := sh.ThrottleSlidingLog(Hash(sk), sk, wp, now, false); return err }, true},        // WRONGTYPE: found
		{func() error { _, err := sh.ThrottleFixedWindow(Hash(wk), wk, wp, now+200e9, true); return err }, false}, // expired
	} {
		step.call()
		if got := sh.LimiterFound(); got != step.want {
			t.Errorf("step %d: found %v, want %v", i, got, step.want)
		}
	}
}

func TestSampleTTL(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	const nowMs = 1_700_000_000_000
	if sum, n := sh.SampleTTL(nowMs, 16); sum != 0 || n != 0 {
		t.Fatalf("empty: %d %d", sum, n)
	}
	for i := range 10 {
		k := []byte{'k', byte(i)}
		sh.SetString(Hash(k), k, []byte("v"), nowMs+int64(i+1)*1000, nowMs) // 1..10 s
	}
	sh.SetString(Hash([]byte("persistent")), []byte("persistent"), []byte("v"), 0, nowMs)
	sh.SetString(Hash([]byte("gone")), []byte("gone"), []byte("v"), nowMs-1, nowMs-5)
	sh.Delete(Hash([]byte{'k', 9}), []byte{'k', 9}, nowMs) // a freed record
	// Every record when the shard has no more than n: 1..9 s.
	if sum, n := sh.SampleTTL(nowMs, 16); sum != 45000 || n != 9 {
		t.Fatalf("exact: %d over %d, want 45000 over 9", sum, n)
	}
	// Sampled otherwise: only live keys with an expiry, each within 1..9 s.
	sum, n := sh.SampleTTL(nowMs, 8)
	if n > 8 || n == 0 || sum < int64(n)*1000 || sum > int64(n)*9000 {
		t.Fatalf("sampled: %d over %d", sum, n)
	}
}
