package rules

import (
	"fmt"
	"strconv"
	"syscall"
	"testing"

	"github.com/rlserver/rlserver/engine"
)

// BenchRuleSet returns n rules shaped like a real deployment: a few
// global and tier rules, then per-endpoint rules and per-customer
// overrides, so that a request matches a handful whatever n is.
func benchRules(n int) []string {
	base := []string{
		`{"id":"global-ip","per":["ip"],"algorithm":"gcra","limit":1000,"window":"1s","burst":2000}`,
		`{"id":"tier-free","match":{"tier":"free"},"per":["user_id"],"algorithm":"sliding_window","limit":100,"window":"1h"}`,
		`{"id":"tier-premium","match":{"tier":"premium"},"per":["user_id"],"algorithm":"sliding_window","limit":10000,"window":"1h"}`,
		`{"id":"writes","match":{"method":"POST,PUT,PATCH,DELETE"},"per":["user_id"],"algorithm":"token_bucket","limit":25,"window":"1s"}`,
		`{"id":"reads","match":{"method":"GET,HEAD"},"per":["user_id"],"algorithm":"token_bucket","limit":100,"window":"1s"}`,
		`{"id":"search","match":{"endpoint":"/api/search"},"per":["user_id"],"algorithm":"fixed_window","limit":30,"window":"1m"}`,
		`{"id":"anon","match":{"tier":"anonymous"},"per":["ip"],"algorithm":"fixed_window","limit":60,"window":"1h"}`,
		`{"id":"office","match":{"ip":"10.0.0.0/8"},"per":["ip"],"algorithm":"fixed_window","limit":100000,"window":"1m"}`,
		`{"id":"trial","action":"shadow","per":["user_id","endpoint"],"algorithm":"sliding_log","limit":50,"window":"1m"}`,
		`{"id":"payments","match":{"endpoint":"/api/payments"},"per":["api_key"],"algorithm":"gcra","limit":50,"window":"1s"}`,
	}
	out := base[:min(n, len(base))]
	for i := len(out); i < n; i++ {
		switch i % 4 {
		case 0, 1:
			out = append(out, fmt.Sprintf(`{"id":"cust-%d","match":{"user_id":"user-%d"},"per":["user_id"],"algorithm":"gcra","limit":500,"window":"1s"}`, i, i))
		case 2:
			out = append(out, fmt.Sprintf(`{"id":"ep-%d","match":{"endpoint":"/api/v%d/items"},"per":["user_id","endpoint"],"algorithm":"fixed_window","limit":60,"window":"1m"}`, i, i))
		case 3:
			out = append(out, fmt.Sprintf(`{"id":"key-%d","match":{"api_key":"key-%d","method":"GET"},"per":["api_key"],"algorithm":"sliding_window","limit":1000,"window":"1m"}`, i, i))
		}
	}
	return out
}

func benchEngine(b *testing.B, n int) *Engine {
	b.Helper()
	e, err := Open(Config{Counters: engine.NewStore(256), Path: b.TempDir() + "/r.db"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { e.Close() })
	var f File
	for _, js := range benchRules(n) {
		var spec RuleSpec
		if err := strictJSON([]byte(js), &spec); err != nil {
			b.Fatal(err)
		}
		r, err := spec.Apply(NewRuleDefaults())
		if err == nil {
			err = r.Validate(Limits{})
		}
		if err != nil {
			b.Fatal(err)
		}
		f.Rules = append(f.Rules, r)
	}
	if _, err := e.ApplyFile(&f, "bench", t0); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkMatch: finding the matching rules among 10 and 10,000.
func BenchmarkMatch(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run("rules="+strconv.Itoa(n), func(b *testing.B) {
			e := benchEngine(b, n)
			m := e.snap.Load().matcher
			q := Request{UserID: "user-4", APIKey: "key-7", IP: "192.0.2.4", Endpoint: "/api/v6/items", Method: "GET"}
			q.Prepare()
			q.tier = "free"
			var dst []*compiled
			b.ReportAllocs()
			c0 := cpuNs()
			for b.Loop() {
				dst = m.match(dst[:0], &q)
			}
			b.ReportMetric(float64(cpuNs()-c0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(len(dst)), "rules/op")
		})
	}
}

// BenchmarkCheck: a whole check (tier, lists, match, keys, counters,
// stats) with 10 and 10,000 rules, over 1,000 users.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		b.Run("rules="+strconv.Itoa(n), func(b *testing.B) {
			e := benchEngine(b, n)
			qs := make([]Request, 1000)
			for i := range qs {
				qs[i] = Request{UserID: "user-" + strconv.Itoa(i*4), IP: "192.0.2." + strconv.Itoa(i%250), Endpoint: "/api/v6/items", Method: "GET"}
			}
			var d Decision
			now := t0
			i := 0
			b.ReportAllocs()
			c0 := cpuNs()
			for b.Loop() {
				q := qs[i%len(qs)]
				i++
				now += 1000
				q.Prepare()
				if err := e.Check(&q, now, &d, CheckOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpuNs()-c0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(len(d.Results)), "rules/op")
		})
	}
}

// cpuNs returns the process's user+system CPU time in ns.
func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
