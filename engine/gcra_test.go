package engine

import (
	"math"
	"testing"
)

const t0 = int64(1_795_730_179_217_646_973) // a fixed instant, ns since the epoch

// step is one call at a fixed instant and the exact reply it must give.
type step struct {
	at   int64 // ns after t0
	p    GCRAParams
	want Result
	err  error
}

func runSteps(t *testing.T, key string, steps []step) *Shard {
	t.Helper()
	st := NewStore(4)
	k := []byte(key)
	h := Hash(k)
	sh := st.ShardOf(h)
	for i, s := range steps {
		got, err := sh.ThrottleGCRA(h, k, s.p, t0+s.at)
		if err != s.err || (err == nil && got != s.want) {
			t.Fatalf("step %d (%+v at +%dns): got %+v, %v; want %+v, %v", i, s.p, s.at, got, err, s.want, s.err)
		}
	}
	return sh
}

func TestGCRASteps(t *testing.T) {
	sec := int64(1e9)
	ms := int64(1e6)
	q := func(b, c, p, n int64) GCRAParams { return GCRAParams{b, c, p, n} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"burst then limited then refill", []step{
			{0, q(4, 1, 1, 6), Result{1, 5, 5, -1, 0}, nil}, // can never fit
			{0, q(4, 1, 1, 1), Result{0, 5, 4, -1, 1}, nil},
			{0, q(4, 1, 1, 1), Result{0, 5, 3, -1, 2}, nil},
			{0, q(4, 1, 1, 1), Result{0, 5, 2, -1, 3}, nil},
			{0, q(4, 1, 1, 1), Result{0, 5, 1, -1, 4}, nil},
			{0, q(4, 1, 1, 1), Result{0, 5, 0, -1, 5}, nil},
			{0, q(4, 1, 1, 1), Result{1, 5, 0, 1, 5}, nil},
			{3000 * ms, q(4, 1, 1, 1), Result{0, 5, 2, -1, 3}, nil},
			{3100 * ms, q(4, 1, 1, 1), Result{0, 5, 1, -1, 4}, nil},
			{4000 * ms, q(4, 1, 1, 1), Result{0, 5, 1, -1, 4}, nil},
			{8000 * ms, q(4, 1, 1, 1), Result{0, 5, 4, -1, 1}, nil},
			{9500 * ms, q(4, 1, 1, 1), Result{0, 5, 4, -1, 1}, nil},
			{9500 * ms, q(4, 1, 1, 0), Result{0, 5, 4, -1, 1}, nil}, // peek
			{9500 * ms, q(4, 1, 1, 2), Result{0, 5, 2, -1, 3}, nil},
			{9500 * ms, q(4, 1, 1, 5), Result{1, 5, 2, 3, 3}, nil},
		}},
		{"quantity 0 on a fresh key", []step{
			{0, q(5, 1, 60, 0), Result{0, 6, 6, -1, 0}, nil},
			{0, q(5, 1, 60, 1), Result{0, 6, 5, -1, 60}, nil},
		}},
		{"negative quantity refunds", []step{
			{0, q(5, 1, 60, 3), Result{0, 6, 3, -1, 180}, nil},
			{0, q(5, 1, 60, -1), Result{0, 6, 4, -1, 120}, nil},
			{0, q(5, 1, 60, -5), Result{}, ErrExpire}, // TAT 3 min in the past
			{0, q(5, 1, 60, 1), Result{0, 6, 5, -1, 60}, nil},
		}},
		{"parameter change applies to the stored TAT", []step{
			{0, q(5, 1, 60, 3), Result{0, 6, 3, -1, 180}, nil},
			{0, q(10, 1, 60, 1), Result{0, 11, 7, -1, 240}, nil},
			{0, q(1, 1, 60, 1), Result{1, 2, 0, 180, 240}, nil},
		}},
		{"2e6/s: T < 1µs, remaining x/0 = +Inf", []step{
			{0, q(5, 2_000_000, 1, 1), Result{0, 6, math.MaxInt64, -1, 0}, nil},
		}},
		{"1e9/s: remaining 0/0 = NaN", []step{
			{0, q(5, 1_000_000_000, 1, 1), Result{0, 6, 0, -1, 0}, nil},
		}},
		{"1e6/s sustained: one request per µs", []step{
			{0, q(0, 1_000_000, 1, 1), Result{0, 1, 0, -1, 0}, nil},
			{500, q(0, 1_000_000, 1, 1), Result{1, 1, 0, 0, 0}, nil},
			{1000, q(0, 1_000_000, 1, 1), Result{0, 1, 0, -1, 0}, nil},
		}},
		{"zero rates", []step{
			{0, q(5, 1_000_000_001, 1, 1), Result{}, ErrZeroRate},
			{0, q(5, 0, 60, 1), Result{}, ErrZeroRate},
			{0, q(5, 1, 0, 1), Result{}, ErrZeroRate},
		}},
		{"overflowing parameters", []step{
			{0, q(math.MaxInt64, 1, 60, 1), Result{1, math.MinInt64, 0, -1, 0}, nil},
			{0, q(math.MinInt64, 1, 60, 1), Result{0, math.MinInt64 + 1, 0, -1, 60}, nil},
		}},
		{"a period of MaxInt64 seconds stores a TAT past int64", []step{
			{0, q(0, 1, math.MaxInt64, 1), Result{0, 1, 0, -1, 9223372037}, nil},
			{sec, q(0, 1, math.MaxInt64, 1), Result{1, 1, 0, 9223372036, 9223372036}, nil},
		}},
		{"expiry of exactly -1ms leaves no TTL and succeeds", []step{
			{0, q(5, 1000, 1, -1), Result{0, 6, 7, -1, 0}, nil},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, tc.name, tc.steps) })
	}
}

func TestGCRAExpiryAndStoredValues(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	k := []byte("k")
	h := Hash(k)
	nowMs := t0 / 1e6
	// A limited call writes nothing.
	sh.ThrottleGCRA(h, k, GCRAParams{0, 1, 60, 1}, t0)
	e1, _ := sh.Get(h, k, nowMs)
	sh.ThrottleGCRA(h, k, GCRAParams{0, 1, 60, 1}, t0+1e9)
	e2, _ := sh.Get(h, k, nowMs)
	if e1.Int != e2.Int || e1.ExpireMs != e2.ExpireMs || e1.ExpireMs != nowMs+60000 || e1.Int != t0+60e9 {
		t.Fatalf("limited call changed state: %+v -> %+v", e1, e2)
	}
	// A numeric string is a TAT; "0" is as good as fresh; other text is
	// the wrong type.
	sh.SetString(h, k, []byte("0"), 0, nowMs)
	if r, err := sh.ThrottleGCRA(h, k, GCRAParams{5, 1, 60, 1}, t0); err != nil || r != (Result{0, 6, 5, -1, 60}) {
		t.Fatalf("SET 0 then throttle: %+v %v", r, err)
	}
	sh.SetString(h, k, []byte("hello"), 0, nowMs)
	if _, err := sh.ThrottleGCRA(h, k, GCRAParams{5, 1, 60, 1}, t0); err != ErrWrongType {
		t.Fatalf("non-numeric value: %v", err)
	}
	// Keys vanish at their expiry.
	sh.Delete(h, k, nowMs)
	sh.ThrottleGCRA(h, k, GCRAParams{5, 1, 60, 1}, t0)
	if _, ok := sh.Get(h, k, nowMs+60000); !ok {
		t.Fatal("key gone during the millisecond of its expiry")
	}
	if _, ok := sh.Get(h, k, nowMs+60001); ok {
		t.Fatal("key alive after its expiry")
	}
}

func TestCeilSeconds(t *testing.T) {
	for ns, want := range map[int64]int64{
		0: 0, 999_999: 0, 1_000_000: 1, 1e9: 1, 1e9 + 999_999: 1, 1e9 + 1e6: 2,
		-1e9: -1, -1_500_000_000: -1, -1: 0, math.MaxInt64: 9223372037,
	} {
		if got := ceilSeconds(wideOf(ns)); got != want {
			t.Errorf("ceilSeconds(%d) = %d, want %d", ns, got, want)
		}
	}
}
