package engine

import (
	"math/rand/v2"
	"testing"
)

// workload yields request times (ns) for the accuracy comparison.
type workload struct {
	name string
	gen  func(rng *rand.Rand, period int64, n int) []int64
}

// poisson yields arrivals at rate× the limit of 100 per period.
func poisson(rate float64) func(rng *rand.Rand, period int64, n int) []int64 {
	return func(rng *rand.Rand, period int64, n int) []int64 {
		out := make([]int64, n)
		t := b0
		for i := range out {
			t += int64(rng.ExpFloat64() * float64(period) / (100 * rate))
			out[i] = t
		}
		return out
	}
}

var workloads = []workload{
	{"steady-at-50%-of-limit", poisson(0.5)},
	{"steady-at-90%-of-limit", poisson(0.9)},
	{"steady-at-120%-of-limit", poisson(1.2)},
	{"bursty", func(rng *rand.Rand, period int64, n int) []int64 {
		// Bursts of 20–200 requests within 1% of a period, then silence.
		out := make([]int64, 0, n)
		t := b0
		for len(out) < n {
			burst := 20 + rng.IntN(180)
			for range burst {
				out = append(out, t+rng.Int64N(period/100))
			}
			t += period/100 + rng.Int64N(2*period)
		}
		sortInts(out[:n])
		return out[:n]
	}},
	{"boundary", func(rng *rand.Rand, period int64, n int) []int64 {
		// Clients that wait for the window to turn over: most requests
		// land just before and just after each boundary.
		out := make([]int64, 0, n)
		for w := int64(1); len(out) < n; w++ {
			edge := b0 + w*period
			for range 150 {
				out = append(out, edge-rng.Int64N(period/20))
				out = append(out, edge+rng.Int64N(period/20))
			}
		}
		sortInts(out[:n])
		return out[:n]
	}},
}

func sortInts(a []int64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// BenchmarkSlidingWindowAccuracy replays each workload through the exact
// sliding log and, before every request, asks the sliding-window counter
// for its decision given the same admitted history (its two counts are
// rebuilt from the requests the log admitted, so errors do not compound).
// It reports the share of all requests SW would wrongly allow
// (wrongly_allowed_%) and wrongly deny (wrongly_denied_%).
//
//	go test ./engine -run XXX -bench SlidingWindowAccuracy -benchtime 1x
func BenchmarkSlidingWindowAccuracy(b *testing.B) {
	const n = 200_000
	p := WindowParams{Limit: 100, Period: 60, Quantity: 1}
	period := p.Period * 1e9
	for _, w := range workloads {
		b.Run(w.name, func(b *testing.B) {
			times := w.gen(rand.New(rand.NewPCG(42, 1)), period, n)
			var allowedWrong, deniedWrong int
			for b.Loop() {
				st := NewStore(1)
				sh := st.Shard(0)
				lg := []byte("log")
				allowedWrong, deniedWrong = 0, 0
				admitted := map[int64]int64{} // window index -> units the log admitted
				for _, t := range times {
					win := t / period
					approx, _ := slidingWindow(p, intoWindow(t, p.Period), admitted[win-1], admitted[win])
					exact, _ := sh.ThrottleSlidingLog(Hash(lg), lg, p, t, false)
					if exact.Limited == 0 {
						admitted[win]++
					}
					switch {
					case approx.Limited == 0 && exact.Limited == 1:
						allowedWrong++
					case approx.Limited == 1 && exact.Limited == 0:
						deniedWrong++
					}
				}
			}
			b.ReportMetric(100*float64(allowedWrong)/n, "wrongly_allowed_%")
			b.ReportMetric(100*float64(deniedWrong)/n, "wrongly_denied_%")
		})
	}
}

// The hot path of every algorithm allocates nothing per call.
func BenchmarkAlgorithms(b *testing.B) {
	keys := make([][]byte, 10_000)
	for i := range keys {
		keys[i] = []byte("key:" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676)))
	}
	st := NewStore(64)
	now := b0
	cases := []struct {
		name string
		run  func(sh *Shard, h uint64, k []byte, now int64)
	}{
		{"gcra", func(sh *Shard, h uint64, k []byte, now int64) {
			sh.ThrottleGCRA(h, k, GCRAParams{100, 1000, 60, 1}, now)
		}},
		{"fw", func(sh *Shard, h uint64, k []byte, now int64) {
			sh.ThrottleFixedWindow(h, k, WindowParams{1000, 60, 1}, now, false)
		}},
		{"sw", func(sh *Shard, h uint64, k []byte, now int64) {
			sh.ThrottleSlidingWindow(h, k, WindowParams{1000, 60, 1}, now, false)
		}},
		{"swlog", func(sh *Shard, h uint64, k []byte, now int64) {
			sh.ThrottleSlidingLog(h, k, WindowParams{100, 1, 1}, now, false)
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			// Warm up: every key exists and every log is at capacity.
			for i := range 200 * len(keys) {
				k := keys[i%len(keys)]
				h := Hash(k)
				c.run(st.ShardOf(h), h, k, now+int64(i)*1e3)
			}
			i := 0
			for b.Loop() {
				k := keys[i%len(keys)]
				h := Hash(k)
				c.run(st.ShardOf(h), h, k, now+int64(i)*1e3)
				i++
			}
		})
	}
}
