package tests

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"
)

var metricsAddrRE = regexp.MustCompile(`msg="metrics listening" addr=(127\.0\.0\.1:\d+)`)

// startObserved runs the server with --metrics-addr on a free port and
// returns it with the HTTP address.
func startObserved(t *testing.T, extra ...string) (*proc, string) {
	t.Helper()
	p := startServer(t, append([]string{"--metrics-addr", "127.0.0.1:0"}, extra...)...)
	m := metricsAddrRE.FindStringSubmatch(p.logs.String())
	if m == nil {
		t.Fatalf("no metrics address in the logs:\n%s", p.logs.String())
	}
	return p, m[1]
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics in the text format.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample returns the value of the series of name whose labels include
// every pair given, or -1 when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

// checkNoRequestData fails if any label value carries the marker the
// workload put in every key and argument.
func checkNoRequestData(t *testing.T, fams map[string]*dto.MetricFamily, marker string) {
	t.Helper()
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if strings.Contains(lp.GetValue(), marker) || strings.Contains(lp.GetName(), marker) {
					t.Errorf("%s has a label fed by request data: %s=%q", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

func TestMetricsHealthAndStatus(t *testing.T) {
	t.Parallel()
	srv, maddr := startObserved(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	const marker = "zq9marker"
	for i := range 7 {
		rdb.Do(ctx, "CL.THROTTLE", marker+":gcra:"+string(rune('a'+i)), 1, 10, 60)
	}
	for i := range 3 {
		rdb.Do(ctx, "SW.THROTTLE", marker+":sw:"+string(rune('a'+i)), 5, 60)
	}
	rdb.Do(ctx, "SET", marker+":str", marker)
	rdb.Do(ctx, "NOSUCHCOMMAND", marker)

	fams := scrape(t, maddr)
	for _, c := range []struct {
		kind string
		want float64
	}{{"gcra", 7}, {"sliding_window", 3}, {"string", 1}, {"sliding_log", 0}, {"fixed_window", 0}} {
		if got := sample(fams, "rate_limiter_keys", "kind", c.kind); got != c.want {
			t.Errorf("rate_limiter_keys{kind=%q} = %v, want %v", c.kind, got, c.want)
		}
	}
	if got := sample(fams, "rate_limiter_connected_clients"); got < 1 {
		t.Errorf("connected_clients = %v", got)
	}
	if got := sample(fams, "rate_limiter_store_bytes"); got < 11*56 {
		t.Errorf("store_bytes = %v", got)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "rate_limiter_build_info",
		"rate_limiter_snapshot_last_success_timestamp_seconds", "rate_limiter_cluster_members"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
	checkNoRequestData(t, fams, marker)

	// The same endpoints on the HTTP API's listener and on --metrics-addr.
	for _, addr := range []string{srv.HTTP, maddr} {
		if f := scrape(t, addr); sample(f, "rate_limiter_keys", "kind", "gcra") != 7 {
			t.Errorf("%s/metrics: keys{gcra} = %v", addr, sample(f, "rate_limiter_keys", "kind", "gcra"))
		}
		code, body := httpGet(t, "http://"+addr+"/health")
		var h struct {
			Status       string         `json:"status"`
			Keys         int64          `json:"keys"`
			Version      string         `json:"version"`
			LastSnapshot map[string]any `json:"last_snapshot"`
			Cluster      struct {
				SlotsOwned int `json:"slots_owned"`
			} `json:"cluster"`
		}
		if err := json.Unmarshal([]byte(body), &h); code != 200 || err != nil || h.Status != "healthy" || h.Keys != 11 ||
			h.Version == "" || h.LastSnapshot == nil || h.Cluster.SlotsOwned != 16384 {
			t.Errorf("%s/health = %d %s (%v)", addr, code, body, err)
		}
		if code, body := httpGet(t, "http://"+addr+"/ready"); code != 200 {
			t.Errorf("%s/ready = %d %s", addr, code, body)
		}
		if code, body := httpGet(t, "http://"+addr+"/"); code != 200 || !strings.Contains(body, "<title>rlserver status</title>") || strings.Contains(body, marker) {
			t.Errorf("%s status page = %d %.200s", addr, code, body)
		}
		if code, _ := httpGet(t, "http://"+addr+"/nothing-here"); code != 404 {
			t.Errorf("%s unknown path = %d, want 404", addr, code)
		}
	}
	// The HTTP API's requests are counted by route, never by path.
	f := scrape(t, srv.HTTP)
	if got := sample(f, "rate_limiter_http_requests_total", "route", "GET /health", "code", "200"); got != 1 {
		t.Errorf("http_requests_total{GET /health,200} = %v", got)
	}
	if got := sample(f, "rate_limiter_http_requests_total", "route", "unmatched", "code", "404"); got != 1 {
		t.Errorf("http_requests_total{unmatched,404} = %v", got)
	}
}

// TestMetricsCountExactly runs a scripted workload over one raw connection
// and checks that every counter moved by exactly what it did.
func TestMetricsCountExactly(t *testing.T) {
	t.Parallel()
	srv, maddr := startObserved(t)
	rc := newRaw(dial(t, srv.Addr))
	const m = "qx7marker"
	script := [][]string{
		{"CL.THROTTLE", m + "a", "1", "1", "60"}, // allowed
		{"CL.THROTTLE", m + "a", "1", "1", "60"}, // allowed
		{"CL.THROTTLE", m + "a", "1", "1", "60"}, // limited
		{"CL.THROTTLE", m + "a", m, "1", "60"},   // failed: Cell error
		{"SET", m + "s", m},
		{"CL.THROTTLE", m + "s", "1", "1", "60"}, // failed: WRONGTYPE
		{"GCRA", m + "g", "0", "1", "1"},         // allowed
		{"GCRA", m + "g", "0", "1", "1"},         // limited
		{"SW.THROTTLE", m + "w", "2", "60"},      // allowed
		{"SW.THROTTLE", m + "w", "2", "60"},      // allowed
		{"SW.THROTTLE", m + "w", "2", "60"},      // limited
		{"SW.THROTTLE", m + "w"},                 // rejected: arity
		{"CL.PEEK", m + "a", "1", "1", "60"},     // not a check: no verdict counted
		{"NOSUCH" + m, m},                        // unknown: an ERR, no command
	}
	if _, err := rc.pipeline(script...); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.do("PING"); err != nil {
		t.Fatal(err)
	}
	f := scrape(t, maddr)
	want := []struct {
		name   string
		labels []string
		v      float64
	}{
		{"rate_limiter_requests_total", []string{"command", "cl.throttle", "result", "allowed"}, 2},
		{"rate_limiter_requests_total", []string{"command", "cl.throttle", "result", "limited"}, 1},
		{"rate_limiter_requests_total", []string{"command", "cl.throttle", "result", "error"}, 2},
		{"rate_limiter_requests_total", []string{"command", "gcra", "result", "allowed"}, 1},
		{"rate_limiter_requests_total", []string{"command", "gcra", "result", "limited"}, 1},
		{"rate_limiter_requests_total", []string{"command", "gcra", "result", "error"}, 0},
		{"rate_limiter_requests_total", []string{"command", "sw.throttle", "result", "allowed"}, 2},
		{"rate_limiter_requests_total", []string{"command", "sw.throttle", "result", "limited"}, 1},
		{"rate_limiter_requests_total", []string{"command", "sw.throttle", "result", "error"}, 1},
		{"rate_limiter_requests_total", []string{"command", "cl.peek"}, -1},
		{"rate_limiter_check_duration_seconds", []string{"command", "cl.throttle"}, 5},
		{"rate_limiter_check_duration_seconds", []string{"command", "sw.throttle"}, 3},
		{"rate_limiter_commands_total", []string{"command", "cl.throttle"}, 5},
		{"rate_limiter_commands_total", []string{"command", "sw.throttle"}, 3},
		{"rate_limiter_commands_total", []string{"command", "cl.peek"}, 1},
		{"rate_limiter_commands_total", []string{"command", "ping"}, 1},
		{"rate_limiter_commands_rejected_total", []string{"command", "sw.throttle"}, 1},
		{"rate_limiter_commands_failed_total", []string{"command", "cl.throttle"}, 2},
		{"rate_limiter_errors_total", []string{"type", "ERR"}, 2},
		{"rate_limiter_errors_total", []string{"type", "Cell"}, 1},
		{"rate_limiter_errors_total", []string{"type", "WRONGTYPE"}, 1},
		{"rate_limiter_errors_total", []string{"type", "other"}, 0},
		// 5 + 2 + 3 + PEEK + SET + PING; the rejected and unknown ones never ran.
		{"rate_limiter_commands_processed_total", nil, 13},
	}
	for _, w := range want {
		if got := sample(f, w.name, w.labels...); got != w.v {
			t.Errorf("%s%v = %v, want %v", w.name, w.labels, got, w.v)
		}
	}
	if in, out := sample(f, "rate_limiter_net_input_bytes_total"), sample(f, "rate_limiter_net_output_bytes_total"); in < 300 || out < 100 {
		t.Errorf("net bytes in %v out %v", in, out)
	}
	checkNoRequestData(t, f, m)
}

// TestClusterMetrics forms a two-node cluster and checks what each node
// reports: membership, slots, forwarding, and the slot map of the status
// page.
func TestClusterMetrics(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2)
	// Keys spread over both nodes, all sent to the first: about half are
	// forwarded.
	rc := newRaw(dial(t, nodes[0].Addr))
	var cmds [][]string
	for i := range 200 {
		cmds = append(cmds, []string{"CL.THROTTLE", "cm:" + strconv.Itoa(i), "5", "5", "60"})
	}
	if _, err := rc.pipeline(cmds...); err != nil {
		t.Fatal(err)
	}
	owned := 0.0
	for i, n := range nodes {
		f := scrape(t, n.HTTP)
		if got := sample(f, "rate_limiter_cluster_enabled"); got != 1 {
			t.Errorf("node %d: cluster_enabled %v", i, got)
		}
		if got := sample(f, "rate_limiter_cluster_members", "state", "alive"); got != 2 {
			t.Errorf("node %d: members{alive} %v", i, got)
		}
		owned += sample(f, "rate_limiter_cluster_slots_owned")
		if i == 0 {
			if fw := sample(f, "rate_limiter_cluster_forwarded_total"); fw < 50 || fw > 150 {
				t.Errorf("node 0 forwarded %v of 200", fw)
			}
		}
		code, body := httpGet(t, "http://"+n.HTTP+"/status.json")
		var v struct {
			Cluster struct {
				Enabled bool `json:"enabled"`
				Nodes   []struct {
					Slots int `json:"slots"`
				} `json:"nodes"`
				Slots []struct {
					Start, End int
				} `json:"slots"`
			} `json:"cluster"`
		}
		if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || !v.Cluster.Enabled || len(v.Cluster.Nodes) != 2 {
			t.Fatalf("node %d status.json: %d %v %.300s", i, code, err, body)
		}
		covered := 0
		for _, r := range v.Cluster.Slots {
			covered += r.End - r.Start + 1
		}
		if covered != 16384 || v.Cluster.Nodes[0].Slots+v.Cluster.Nodes[1].Slots != 16384 {
			t.Errorf("node %d slot map covers %d slots, nodes hold %+v", i, covered, v.Cluster.Nodes)
		}
		if code, body := httpGet(t, "http://"+n.HTTP+"/ready"); code != 200 {
			t.Errorf("node %d /ready %d %s", i, code, body)
		}
	}
	if owned != 16384 {
		t.Errorf("the nodes own %v slots together", owned)
	}
}

// TestClusterMembershipIsLogged: a node joining and leaving is one log
// line on the others, not one per rebuild.
func TestClusterMembershipIsLogged(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2)
	third := startNode(t, nodes[0].gossip)
	waitSettled(t, append(nodes, third))
	third.cmd.Process.Signal(syscall.SIGTERM)
	third.cmd.Wait()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		logs := nodes[0].logs.String()
		joined := strings.Count(logs, `msg="cluster: member joined"`)
		left := strings.Count(logs, `msg="cluster: member left or failed"`)
		if joined == 2 && left == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 0 logged %d joins and %d leaves, want 2 and 1:\n%s", joined, left, logs)
		}
	}
}

// No label takes a value from a request on any channel that reaches a
// counter: command and subcommand names, script error prefixes (INFO
// errorstats shows them, as Redis does; /metrics folds them into
// "other"), user names, HTTP paths and methods, and the check's fields.
func TestMetricsLabelsNeverCarryRequestData(t *testing.T) {
	t.Parallel()
	srv, maddr := startObserved(t, "--admin-token", token)
	const m = "lbl5marker"
	rc := newRaw(dial(t, srv.Addr))
	for _, cmd := range [][]string{
		{m + "cmd", m},
		{"CLIENT", m},
		{"CONFIG", m},
		{"CLIENT", "SETNAME", m},
		{"AUTH", m, m},
		{"EVAL", "return redis.error_reply('" + m + "1 boom')", "0"},
		{"EVAL", "return {err='" + m + "2 x'}", "0"},
		{"EVAL", "return redis.call('" + m + "')", "0"},
		{"EVAL", "error('" + m + "')", "0"},
		{"CL.THROTTLE", m, m, "1", "60"},
		{"SW.THROTTLE", m, "1", m},
	} {
		if _, err := rc.do(cmd...); err != nil {
			t.Fatal(err)
		}
	}
	if es := infoField(t, rc, "errorstats", "errorstat_"+m+"1"); es != "count=1" {
		t.Fatalf("INFO errorstats has %q for a script's error prefix, want count=1 (as Redis)", es)
	}
	if code, _, _ := httpDo(t, srv, "POST", "/v1/admin/rules", token,
		`{"id":"per-user","per":["user_id","ip"],"algorithm":"sliding_window","limit":1,"window":"1h"}`); code != 201 {
		t.Fatalf("create rule: %d", code)
	}
	for range 2 { // allowed, then rejected: the rule's counters move
		httpDo(t, srv, "POST", "/v1/ratelimit/check", "",
			`{"user_id":"`+m+`","api_key":"`+m+`","endpoint":"/`+m+`","method":"`+m+`","ip_address":"192.0.2.7","tier":"`+m+`"}`)
	}
	httpDo(t, srv, "GET", "/"+m, "", "")
	httpDo(t, srv, m, "/health", "", "")
	httpDo(t, srv, "GET", "/v1/stats/users/"+m, token, "")
	httpDo(t, srv, "GET", "/v1/admin/rules/"+m, token, "")

	for _, addr := range []string{maddr, srv.HTTP} {
		f := scrape(t, addr)
		checkNoRequestData(t, f, m)
		for name, fam := range f {
			for _, mt := range fam.Metric {
				for _, lp := range mt.Label {
					if strings.Contains(strings.ToLower(lp.GetValue()), m) {
						t.Errorf("%s has a label fed by request data: %s=%q", name, lp.GetName(), lp.GetValue())
					}
				}
			}
		}
		if got := sample(f, "rate_limiter_errors_total", "type", "other"); got < 2 {
			t.Errorf("errors_total{other} = %v, want the script's two error prefixes", got)
		}
		if got := sample(f, "rate_limiter_rule_rejections_total", "rule", "per-user"); got != 1 {
			t.Errorf("rule_rejections_total{per-user} = %v, want 1", got)
		}
	}
}

// Every metric issue #12 lists (replication's aside) is exported before
// any traffic: the limiter commands' requests_total and check latency at
// 0 (they were absent until a command's first call, leaving a rejection
// rate or an alert without data), the store, snapshot and cluster series,
// a new rule's hits, and the HTTP requests (here: the first scrape).
func TestMetricsExistBeforeTraffic(t *testing.T) {
	t.Parallel()
	srv, maddr := startObserved(t, "--admin-token", token)
	if code, _, _ := httpDo(t, srv, "POST", "/v1/admin/rules", token,
		`{"id":"quiet-rule","per":["user_id"],"algorithm":"gcra","limit":5,"window":"1m"}`); code != 201 {
		t.Fatalf("create rule: %d", code)
	}
	scrape(t, maddr)
	f := scrape(t, maddr)
	for _, name := range []string{
		"rate_limiter_requests_total", "rate_limiter_check_duration_seconds", "rate_limiter_errors_total",
		"rate_limiter_keys", "rate_limiter_store_bytes", "rate_limiter_connected_clients", "rate_limiter_rejected_connections_total",
		"rate_limiter_commands_processed_total", "rate_limiter_expired_keys_total", "rate_limiter_evicted_keys_total",
		"rate_limiter_snapshot_last_success_timestamp_seconds", "rate_limiter_snapshot_last_duration_seconds",
		"rate_limiter_snapshot_last_size_bytes", "rate_limiter_snapshot_failures_total",
		"rate_limiter_cluster_members", "rate_limiter_cluster_slots_owned", "rate_limiter_cluster_forwarded_total",
		"rate_limiter_cluster_forward_errors_total", "rate_limiter_cluster_forward_duration_seconds",
		"rate_limiter_cluster_handoff_keys_sent_total", "rate_limiter_cluster_handoff_keys_received_total",
		"rate_limiter_cluster_unreachable_owner_decisions_total", "rate_limiter_rule_hits_total", "rate_limiter_rule_rejections_total",
		"rate_limiter_http_requests_total", "go_goroutines", "process_cpu_seconds_total",
	} {
		if f[name] == nil {
			t.Errorf("%s missing before any traffic", name)
		}
	}
	for _, cmd := range []string{"cl.throttle", "gcra", "sw.throttle", "swlog.throttle", "fw.throttle", "rl.check"} {
		for _, result := range []string{"allowed", "limited", "error"} {
			if got := sample(f, "rate_limiter_requests_total", "command", cmd, "result", result); got != 0 {
				t.Errorf("requests_total{%s,%s} = %v before any call, want 0", cmd, result, got)
			}
		}
		if got := sample(f, "rate_limiter_check_duration_seconds", "command", cmd); got != 0 {
			t.Errorf("check_duration_seconds{%s} count = %v before any call, want 0", cmd, got)
		}
	}
	if got := sample(f, "rate_limiter_rule_hits_total", "rule", "quiet-rule"); got != 0 {
		t.Errorf("rule_hits_total{quiet-rule} = %v, want 0", got)
	}
	// INFO commandstats still lists only the commands called, as Redis.
	rc := newRaw(dial(t, srv.Addr))
	if v, err := rc.do("INFO", "commandstats"); err != nil || strings.Contains(string(v.(bulk)), "cl.throttle") {
		t.Errorf("INFO commandstats lists an uncalled command: %v %v", v, err)
	}
}
