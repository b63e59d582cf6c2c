package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/rlserver/rlserver/metrics"
	"github.com/rlserver/rlserver/shard"
	"go.yaml.in/yaml/v3"
)

const forwardMetricsTimeout = 5 * time.Second

// TestForwardingMetrics: every answered forwarded command is timed once
// (rate_limiter_cluster_forward_duration_seconds), and after the owner is
// killed the failed forwards are counted by reason, as INFO counts them.
func TestForwardingMetrics(t *testing.T) {
	t.Parallel()
	// LAN detection: the killed node stays in the table (and forwards keep
	// failing) for several seconds, longer than this test needs. The
	// forwarding timeout is not what this test is about: at the default
	// 200 ms, -race on a loaded machine timed out a whole pipeline (147 of
	// 147) before any failure.
	nodes := startNodes(t, 2, "--forward-timeout", forwardMetricsTimeout.String())
	rc := newRaw(dial(t, nodes[0].Addr))
	var cmds [][]string
	for i := range 300 {
		cmds = append(cmds, []string{"CL.THROTTLE", "fm:" + strconv.Itoa(i), "5", "5", "60"})
	}
	if _, err := rc.pipeline(cmds...); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, nodes[0].HTTP)
	fwd := sample(f, "rate_limiter_cluster_forwarded_total")
	if fwd < 50 {
		t.Fatalf("only %v of 300 forwarded", fwd)
	}
	if got := sample(f, "rate_limiter_cluster_forward_duration_seconds"); got != fwd {
		t.Errorf("%v forwards timed, %v forwarded and answered", got, fwd)
	}
	// An answered forward took no longer than the forwarding timeout; a
	// wall-clock bound tighter than that fails on a loaded machine.
	if sum := histSum(f, "rate_limiter_cluster_forward_duration_seconds"); sum <= 0 || sum/fwd > forwardMetricsTimeout.Seconds() {
		t.Errorf("mean forwarding round trip %vs", sum/fwd)
	}
	for _, r := range metrics.ForwardErrorReasons {
		if got := sample(f, "rate_limiter_cluster_forward_errors_total", "reason", r); got != 0 {
			t.Errorf("errors{%s} = %v before any failure", r, got)
		}
	}

	// The owner dies: forwards to it fail until gossip declares it dead.
	key := ownedKey(t, nodes[1], "fm-dead:")
	killHard(t, nodes[1].proc)
	for round := 0; round < 20; round++ {
		r, err := rc.do("CL.THROTTLE", key, "5", "5", "60")
		if a, ok := r.([]any); err != nil || !ok || len(a) != 5 {
			t.Fatalf("round %d: %v %v", round, r, err)
		}
		f = scrape(t, nodes[0].HTTP)
		if sample(f, "rate_limiter_cluster_forward_errors_total", "reason", "refused") >= 1 {
			break
		}
	}
	total := 0.0
	for _, r := range metrics.ForwardErrorReasons {
		n := sample(f, "rate_limiter_cluster_forward_errors_total", "reason", r)
		total += n
		if n != 0 && r != "refused" && r != "reset" {
			t.Errorf("errors{%s} = %v: the owner's process is gone, want refused or reset", r, n)
		}
	}
	if got := sample(f, "rate_limiter_cluster_forward_errors_total", "reason", "refused"); got < 1 {
		t.Errorf("no refused connection counted after the owner was killed (total %v)", total)
	}
	failed := int(atoi(clusterInfo(t, nodes[0].Addr)["cluster_forward_errors"]))
	if float64(failed) != total {
		t.Errorf("metrics count %v forwarding errors, INFO %d", total, failed)
	}
	if got := sample(f, "rate_limiter_cluster_forward_duration_seconds"); got != fwd {
		t.Errorf("failed forwards were timed: %v observations, %v answered", got, fwd)
	}
	// A graceful stop would try to hand slots to the dead node until its
	// deadline: nothing this test checks.
	killHard(t, nodes[0].proc)
}

// histSum returns a histogram's sum of observations.
func histSum(fams map[string]*dto.MetricFamily, name string) float64 {
	if f := fams[name]; f != nil && len(f.Metric) > 0 && f.Metric[0].Histogram != nil {
		return f.Metric[0].Histogram.GetSampleSum()
	}
	return -1
}

// memberStates returns a node's rate_limiter_cluster_members by state.
func memberStates(t *testing.T, httpAddr string) map[string]float64 {
	t.Helper()
	f := scrape(t, httpAddr)
	out := map[string]float64{}
	for _, s := range metrics.MemberStates {
		out[s] = sample(f, "rate_limiter_cluster_members", "state", s)
	}
	return out
}

// TestMemberDownMetricAndAlert: three nodes, kill -9 one; each survivor's
// /metrics shows it dead within the gossip profile's detection bound, and
// deploy/'s member-down alert, run by promtool against the series the
// survivor really exported, fires after its hold time.
func TestMemberDownMetricAndAlert(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 3, "--gossip-profile", "fast")
	before := memberStates(t, nodes[0].HTTP)
	if before["alive"] != 3 || before["dead"] != 0 || before["suspect"] != 0 || before["left"] != 0 {
		t.Fatalf("before: %v", before)
	}
	bound := shard.FastTiming().DeadWithin(3)
	killed := time.Now()
	killHard(t, nodes[2].proc)
	var after map[string]float64
	for _, n := range nodes[:2] {
		for {
			after = memberStates(t, n.HTTP)
			if after["dead"] == 1 {
				break
			}
			if time.Since(killed) > bound+time.Second { // one scrape of slack
				t.Fatalf("node %s: %v %v after kill -9 (bound %v)", n.Port, after, time.Since(killed), bound)
			}
			time.Sleep(20 * time.Millisecond) // polling a scrape, bounded above
		}
	}
	t.Logf("dead on both survivors after %v (bound %v)", time.Since(killed), bound)
	if after["alive"] != 2 || after["suspect"] != 0 || after["left"] != 0 {
		t.Errorf("after: %v", after)
	}
	code, body := httpGet(t, "http://"+nodes[0].HTTP+"/status.json")
	if code != 200 || !strings.Contains(body, `"state":"dead"`) {
		t.Errorf("status.json does not list the dead member: %d %s", code, body)
	}

	// The alert, evaluated by promtool against those series: scraped every
	// 15 s, the member dies at 1m and stays dead (it is kept listed for
	// shard.ForgetAfter, longer than the alert waits).
	rule := alertRule(t, "RateLimiterClusterMemberDown")
	hold, err := time.ParseDuration(rule.For)
	if err != nil {
		t.Fatal(err)
	}
	if shard.ForgetAfter < hold+5*time.Minute {
		t.Fatalf("a dead member is forgotten after %v: the alert (for %v) would barely fire", shard.ForgetAfter, hold)
	}
	var series []map[string]string
	for _, s := range metrics.MemberStates {
		series = append(series, map[string]string{
			"series": fmt.Sprintf(`rate_limiter_cluster_members{instance="survivor",job="rlserver",state=%q}`, s),
			"values": fmt.Sprintf("%vx3 %vx40", before[s], after[s]),
		})
	}
	value := fmt.Sprint(after["dead"] + after["suspect"])
	render := func(s string) string {
		return strings.NewReplacer("{{ $value }}", value, "{{ $labels.instance }}", "survivor").Replace(s)
	}
	fires := (time.Minute + hold).Round(time.Minute) + time.Minute
	test := map[string]any{
		"rule_files":          []string{mustAbs(t, "../deploy/prometheus/alerts.yml")},
		"evaluation_interval": "15s",
		"tests": []map[string]any{{
			"interval":     "15s",
			"input_series": series,
			"promql_expr_test": []map[string]any{
				{"expr": rule.Expr, "eval_time": "30s", "exp_samples": []any{}},
				{"expr": rule.Expr, "eval_time": "2m", "exp_samples": []map[string]any{{"labels": `{instance="survivor"}`, "value": after["dead"]}}},
			},
			"alert_rule_test": []map[string]any{
				{"eval_time": (time.Minute + hold - 15*time.Second).String(), "alertname": "RateLimiterClusterMemberDown", "exp_alerts": []any{}},
				{"eval_time": fires.String(), "alertname": "RateLimiterClusterMemberDown", "exp_alerts": []map[string]any{{
					"exp_labels":      map[string]string{"instance": "survivor", "severity": rule.Labels["severity"]},
					"exp_annotations": map[string]string{"summary": render(rule.Annotations["summary"]), "description": render(rule.Annotations["description"])},
				}}},
			},
		}},
	}
	b, err := yaml.Marshal(test)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "member_down_test.yml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	promtool := requireTool(t, "promtool")
	if out, err := exec.Command(promtool, "test", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s\n%s", err, out, b)
	}
}

type alertRuleDef struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// alertRule reads one alert from deploy/prometheus/alerts.yml.
func alertRule(t *testing.T, name string) alertRuleDef {
	t.Helper()
	b, err := os.ReadFile("../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []alertRuleDef `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		if i := slices.IndexFunc(g.Rules, func(r alertRuleDef) bool { return r.Alert == name }); i >= 0 {
			return g.Rules[i]
		}
	}
	t.Fatalf("no alert %s", name)
	return alertRuleDef{}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
