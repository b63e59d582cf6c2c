package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeServer struct{ st ServerStats }

func (f fakeServer) ServerStats() ServerStats { return f.st }

type fakeCommands []CommandStats

func (f fakeCommands) EachCommand(fn func(CommandStats)) {
	for _, c := range f {
		fn(c)
	}
}

type fakeRules []RuleStats

func (f fakeRules) EachRule(fn func(RuleStats)) {
	for _, r := range f {
		fn(r)
	}
}

func scrape(t *testing.T, r *Registry) string {
	t.Helper()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestCollectorExposesSources(t *testing.T) {
	r := New()
	var h Histogram
	h.Observe(3000)
	h.Observe(20_000)
	var hs HistogramSnapshot
	h.AddTo(&hs)
	r.SetServer(fakeServer{ServerStats{ConnectedClients: 3, Keys: map[string]int64{"gcra": 5}, Errors: map[string]uint64{"WRONGTYPE": 2}}})
	r.AddCommands(fakeCommands{{Name: "cl.throttle", Limiter: true, Calls: 10, Allowed: 7, Limited: 2, Failed: 1, Rejected: 4, Duration: &hs},
		{Name: "get", Calls: 3, Duration: &HistogramSnapshot{SumNs: 1500}}})
	r.SetSnapshots(snapFunc(func() SnapshotStats {
		return SnapshotStats{LastSuccess: time.Unix(1700000000, 0), Saves: 2, LastBytes: 99}
	}))
	r.SetRules(fakeRules{{ID: "login", Hits: 5, Rejected: 1}})
	out := scrape(t, r)
	for _, want := range []string{
		`rate_limiter_connected_clients 3`,
		`rate_limiter_keys{kind="gcra"} 5`,
		`rate_limiter_errors_total{type="WRONGTYPE"} 2`,
		`rate_limiter_errors_total{type="OOM"} 0`,
		`rate_limiter_requests_total{command="cl.throttle",result="allowed"} 7`,
		`rate_limiter_requests_total{command="cl.throttle",result="limited"} 2`,
		`rate_limiter_requests_total{command="cl.throttle",result="error"} 5`,
		`rate_limiter_check_duration_seconds_bucket{command="cl.throttle",le="5e-06"} 1`,
		`rate_limiter_check_duration_seconds_bucket{command="cl.throttle",le="2.5e-05"} 2`,
		`rate_limiter_check_duration_seconds_count{command="cl.throttle"} 2`,
		`rate_limiter_commands_total{command="get"} 3`,
		`rate_limiter_commands_duration_seconds_total{command="get"} 1.5e-06`,
		`rate_limiter_snapshot_last_success_timestamp_seconds 1.7e+09`,
		`rate_limiter_snapshots_total 2`,
		`rate_limiter_cluster_enabled 0`,
		`rate_limiter_cluster_members{state="alive"} 1`,
		`rate_limiter_cluster_slots_owned 16384`,
		`rate_limiter_cluster_joined 1`,
		`rate_limiter_cluster_join_attempts_total 0`,
		`rate_limiter_cluster_unreachable_owner_decisions_total{policy="deny"} 0`,
		`rate_limiter_rule_hits_total{rule="login"} 5`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(out, `command="get",result`) {
		t.Error("a non-limiter command has limiter results")
	}
	probs, err := testutil.GatherAndLint(r.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		if strings.HasPrefix(p.Metric, "rate_limiter_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

type snapFunc func() SnapshotStats

func (f snapFunc) SnapshotStats() SnapshotStats { return f() }

func TestRuleSeriesAreCapped(t *testing.T) {
	r := New()
	var rules fakeRules
	for i := range MaxRuleSeries + 10 {
		rules = append(rules, RuleStats{ID: "r" + strings.Repeat("x", i%3) + string(rune('a'+i%26)) + time.Duration(i).String(), Hits: uint64(i)})
	}
	r.SetRules(rules)
	out := scrape(t, r)
	if n := strings.Count(out, "rate_limiter_rule_hits_total{"); n != MaxRuleSeries+1 {
		t.Errorf("%d rule series, want %d", n, MaxRuleSeries+1)
	}
	// The ten rules with the fewest hits (0..9) are summed under _other.
	if !strings.Contains(out, `rate_limiter_rule_hits_total{rule="_other"} 45`) {
		t.Error("no _other series with the smallest rules' hits")
	}
}

func TestInstrumentHTTP(t *testing.T) {
	r := New()
	h := r.InstrumentHTTP("GET /x", http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Query().Get("fail") != "" {
			http.Error(w, "no", http.StatusTeapot)
			return
		}
		io.WriteString(w, "ok")
	}))
	for _, q := range []string{"", "", "?fail=1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/x"+q, nil))
	}
	out := scrape(t, r)
	for _, want := range []string{
		`rate_limiter_http_requests_total{code="200",route="GET /x"} 2`,
		`rate_limiter_http_requests_total{code="418",route="GET /x"} 1`,
		`rate_limiter_http_request_duration_seconds_count{route="GET /x"} 3`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestObserveHTTP(t *testing.T) {
	r := New()
	r.ObserveHTTP("GET /health", 200, 0.001)
	r.ObserveHTTP("GET /health", 503, 0.002)
	r.ObserveHTTP("", 404, 0.0001)
	out := scrape(t, r)
	for _, want := range []string{
		`rate_limiter_http_requests_total{code="200",route="GET /health"} 1`,
		`rate_limiter_http_requests_total{code="503",route="GET /health"} 1`,
		`rate_limiter_http_requests_total{code="404",route="unmatched"} 1`,
		`rate_limiter_http_request_duration_seconds_count{route="GET /health"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
}

type clusterFunc func() ClusterStats

func (f clusterFunc) ClusterStats() ClusterStats { return f() }

// The cluster source's states, error reasons and forwarding latency reach
// the exposition; a reason outside the fixed set is counted as other.
func TestClusterSource(t *testing.T) {
	r := New()
	var h Histogram
	h.Observe(40_000)
	h.Observe(300_000)
	var fd HistogramSnapshot
	h.AddTo(&fd)
	r.SetCluster(clusterFunc(func() ClusterStats {
		return ClusterStats{
			Members:         map[string]int{"alive": 2, "dead": 1, "left": 1},
			Forwarded:       10,
			ForwardErrors:   map[string]uint64{"timeout": 2, "refused": 1, "redirect_loop": 3, "other": 1, "made-up": 4},
			ForwardDuration: &fd,
		}
	}))
	out := scrape(t, r)
	for _, want := range []string{
		`rate_limiter_cluster_enabled 1`,
		`rate_limiter_cluster_members{state="alive"} 2`,
		`rate_limiter_cluster_members{state="suspect"} 0`,
		`rate_limiter_cluster_members{state="dead"} 1`,
		`rate_limiter_cluster_members{state="left"} 1`,
		`rate_limiter_cluster_forward_errors_total{reason="timeout"} 2`,
		`rate_limiter_cluster_forward_errors_total{reason="refused"} 1`,
		`rate_limiter_cluster_forward_errors_total{reason="reset"} 0`,
		`rate_limiter_cluster_forward_errors_total{reason="redirect_loop"} 3`,
		`rate_limiter_cluster_forward_errors_total{reason="other"} 5`,
		`rate_limiter_cluster_forward_duration_seconds_bucket{le="5e-05"} 1`,
		`rate_limiter_cluster_forward_duration_seconds_bucket{le="0.0005"} 2`,
		`rate_limiter_cluster_forward_duration_seconds_count 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if strings.Contains(out, "made-up") {
		t.Error("a reason outside the fixed set became a label value")
	}
}
