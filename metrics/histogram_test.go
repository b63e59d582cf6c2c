package metrics

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestFineBucketsAreContiguous(t *testing.T) {
	// Every value lands in the bucket whose bounds contain it, and the
	// buckets tile the line without gaps.
	lower := uint64(0)
	for i := 0; i < fineLast; i++ {
		up := FineUpper(i)
		if up <= lower {
			t.Fatalf("bucket %d: upper %d not above lower %d", i, up, lower)
		}
		for _, v := range []uint64{lower, up - 1} {
			if got := fineIndex(v); got != i {
				t.Fatalf("value %d: bucket %d, want %d [%d, %d)", v, got, i, lower, up)
			}
		}
		if i >= linear && float64(up-lower)/float64(lower) > 0.125+1e-9 {
			t.Fatalf("bucket %d [%d,%d) wider than 12.5%%", i, lower, up)
		}
		lower = up
	}
	if lower != 1<<maxExp || fineIndex(1<<maxExp) != fineLast || fineIndex(1<<62) != fineLast {
		t.Fatalf("last bucket starts at %d", lower)
	}
}

func TestClassicBucketsExact(t *testing.T) {
	var h Histogram
	// A value on a bound belongs to that bound's bucket (le is inclusive).
	for _, ns := range []int64{0, 1000, 1001, 10_000, 99_999_999, 100_000_000, 100_000_001, -5} {
		h.Observe(ns)
	}
	var s HistogramSnapshot
	h.AddTo(&s)
	b := s.Buckets()
	want := map[float64]uint64{1e-6: 3, 2.5e-6: 4, 1e-5: 5, 0.05: 5, 0.1: 7}
	for le, n := range want {
		if b[le] != n {
			t.Errorf("le=%g: %d, want %d", le, b[le], n)
		}
	}
	if s.Count != 8 || s.Classic[NumClassic-1] != 1 {
		t.Errorf("count %d, +Inf bucket %d", s.Count, s.Classic[NumClassic-1])
	}
	if s.SumNs != 1000+1001+10_000+99_999_999+100_000_000+100_000_001 {
		t.Errorf("sum %d", s.SumNs)
	}
}

func TestQuantileWithinBucketError(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var h Histogram
	vals := make([]float64, 10000)
	for i := range vals {
		v := int64(rng.ExpFloat64() * 5000)
		vals[i] = float64(v)
		h.Observe(v)
	}
	slices.Sort(vals)
	var s HistogramSnapshot
	h.AddTo(&s)
	for _, q := range []float64{0.5, 0.99, 0.999} {
		exact := vals[int(q*float64(len(vals)))-1]
		got := s.Quantile(q)
		if got < exact || got > exact*1.13+1 {
			t.Errorf("q%.3f: %f, exact %f", q, got, exact)
		}
	}
	var empty HistogramSnapshot
	if empty.Quantile(0.5) != 0 {
		t.Error("empty snapshot has a quantile")
	}
}

func BenchmarkObserve(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for b.Loop() {
		h.Observe(1800)
	}
}
