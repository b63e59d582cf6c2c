package metrics

import (
	"math/bits"
	"sync/atomic"
)

// ClassicBounds are the upper bounds, in seconds, of the classic
// (Prometheus text format) buckets of every duration histogram: 1 µs to
// 100 ms in 1-2.5-5 steps. An in-memory check takes a few microseconds,
// so the buckets start below the 10 µs a networked limiter would need.
var ClassicBounds = []float64{1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1}

// classicNs are ClassicBounds in nanoseconds, for the observing side.
var classicNs = func() []uint64 {
	ns := make([]uint64, len(ClassicBounds))
	for i, b := range ClassicBounds {
		ns[i] = uint64(b*1e9 + 0.5)
	}
	return ns
}()

// NumClassic is the number of classic buckets including +Inf.
const NumClassic = 17

// The fine buckets are log-linear, as in HDR histograms: values below 16 ns
// get a bucket each; above, every power of two is split into 8 equal
// buckets (at most 12.5% wide), up to 2^35 ns (34 s), beyond which
// everything shares the last bucket. They serve percentiles (INFO
// latencystats, LATENCY HISTOGRAM); the classic buckets serve Prometheus.
const (
	subBits  = 3
	linear   = 1 << (subBits + 1) // 16 values with exact buckets
	maxExp   = 35
	NumFine  = linear + (maxExp-subBits-1)*(1<<subBits) + 1
	fineLast = NumFine - 1
)

// fineIndex returns the fine bucket of a duration in ns.
func fineIndex(ns uint64) int {
	if ns < linear {
		return int(ns)
	}
	e := bits.Len64(ns) - 1 // ns in [2^e, 2^(e+1))
	if e >= maxExp {
		return fineLast
	}
	sub := int(ns>>(e-subBits)) & (1<<subBits - 1)
	return linear + (e-subBits-1)<<subBits + sub
}

// FineUpper returns the exclusive upper bound in ns of fine bucket i: every
// value in it is below the bound.
func FineUpper(i int) uint64 {
	if i < linear {
		return uint64(i) + 1
	}
	if i >= fineLast {
		return 1 << maxExp
	}
	i -= linear
	e := i>>subBits + subBits + 1
	sub := uint64(i & (1<<subBits - 1))
	return (1<<subBits + sub + 1) << (e - subBits)
}

func classicIndex(ns uint64) int {
	for i, b := range classicNs {
		if ns <= b {
			return i
		}
	}
	return len(classicNs)
}

// Histogram counts durations. Observe is lock-free; keep one Histogram per
// event loop or shard, each written mostly by one goroutine, and fold them
// into a HistogramSnapshot when reading, so no cache line is shared on the
// hot path. The zero value is ready to use; safe for concurrent use.
type Histogram struct {
	sumNs   atomic.Uint64
	classic [NumClassic]atomic.Uint64
	fine    [NumFine]atomic.Uint64
}

// Observe records one duration in nanoseconds (negative counts as 0).
func (h *Histogram) Observe(ns int64) {
	if ns < 0 {
		ns = 0
	}
	u := uint64(ns)
	h.sumNs.Add(u)
	h.classic[classicIndex(u)].Add(1)
	h.fine[fineIndex(u)].Add(1)
}

// AddTo adds the histogram's counts to s.
func (h *Histogram) AddTo(s *HistogramSnapshot) {
	s.SumNs += h.sumNs.Load()
	for i := range h.classic {
		n := h.classic[i].Load()
		s.Classic[i] += n
		s.Count += n
	}
	for i := range h.fine {
		s.Fine[i] += h.fine[i].Load()
	}
}

// Reset zeroes the histogram (LATENCY RESET, CONFIG RESETSTAT). Counts
// observed concurrently may be kept or lost.
func (h *Histogram) Reset() {
	h.sumNs.Store(0)
	for i := range h.classic {
		h.classic[i].Store(0)
	}
	for i := range h.fine {
		h.fine[i].Store(0)
	}
}

// HistogramSnapshot is a folded copy of one or more Histograms. The zero
// value is an empty snapshot. Not safe for concurrent use.
type HistogramSnapshot struct {
	Count   uint64
	SumNs   uint64
	Classic [NumClassic]uint64 // per bucket, not cumulative; the last is +Inf
	Fine    [NumFine]uint64
}

// Quantile returns an upper estimate, in ns, of the q-quantile (0 < q ≤ 1):
// the upper bound of the fine bucket holding it (at most 12.5% above the
// true value), or 0 for an empty snapshot.
func (s *HistogramSnapshot) Quantile(q float64) float64 {
	if s.Count == 0 {
		return 0
	}
	rank := uint64(q*float64(s.Count) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, n := range s.Fine {
		seen += n
		if seen >= rank {
			return float64(FineUpper(i))
		}
	}
	return float64(FineUpper(fineLast))
}

// Buckets returns the classic buckets as client_golang's cumulative map
// keyed by upper bound in seconds (+Inf omitted: it is Count).
func (s *HistogramSnapshot) Buckets() map[float64]uint64 {
	m := make(map[float64]uint64, len(ClassicBounds))
	var cum uint64
	for i, b := range ClassicBounds {
		cum += s.Classic[i]
		m[b] = cum
	}
	return m
}
