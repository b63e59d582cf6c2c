package status

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rlserver/rlserver/metrics"
)

type snap struct{ st metrics.SnapshotStats }

func (s snap) SnapshotStats() metrics.SnapshotStats { return s.st }

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

func TestHealthFollowsPhase(t *testing.T) {
	reg := metrics.New()
	st := New(reg, "9.9.9")
	mux := http.NewServeMux()
	st.Mount(mux, true)
	for _, c := range []struct {
		phase         Phase
		health, ready int
		status        string
	}{
		{Loading, 503, 503, "loading"},
		{Joining, 503, 503, "joining"},
		{Serving, 200, 200, "healthy"},
		{Draining, 200, 503, "healthy"},
	} {
		st.SetPhase(c.phase)
		hc, hb := get(t, mux, "/health")
		rc, _ := get(t, mux, "/ready")
		var h Health
		if err := json.Unmarshal([]byte(hb), &h); err != nil {
			t.Fatal(err)
		}
		if hc != c.health || rc != c.ready || h.Status != c.status || h.Version != "9.9.9" {
			t.Errorf("%v: /health %d %q, /ready %d; want %d %q, %d", c.phase, hc, h.Status, rc, c.health, c.status, c.ready)
		}
	}
}

func TestHealthReportsSnapshotAndCluster(t *testing.T) {
	reg := metrics.New()
	last := time.Now().Add(-90 * time.Second)
	reg.SetSnapshots(snap{metrics.SnapshotStats{LastSuccess: last, Failures: 2}})
	st := New(reg, "x")
	st.SetPhase(Serving)
	h := st.Health()
	if h.LastSnapshot == nil || h.LastSnapshot.AgeSeconds == nil || *h.LastSnapshot.AgeSeconds < 89 || h.LastSnapshot.Failures != 2 {
		t.Errorf("last snapshot = %+v", h.LastSnapshot)
	}
	if h.Cluster.Enabled || h.Cluster.SlotsOwned != 16384 || h.Cluster.Members["alive"] != 1 {
		t.Errorf("standalone cluster = %+v", h.Cluster)
	}
}

func TestPageRendersWithoutExternalAssets(t *testing.T) {
	reg := metrics.New()
	st := New(reg, "x")
	st.SetPhase(Serving)
	mux := http.NewServeMux()
	st.Mount(mux, false)
	code, body := get(t, mux, "/?refresh=250ms")
	// The whole template ran: a failing field would cut the page short.
	if code != 200 || !strings.Contains(body, `data-refresh-ms="250"`) || !strings.HasSuffix(strings.TrimSpace(body), "</html>") {
		t.Fatalf("page: %d %.300s", code, body)
	}
	for _, bad := range []string{"http://", "https://", "<link", "src="} {
		if strings.Contains(body, bad) {
			t.Errorf("page references an external asset (%q)", bad)
		}
	}
	if code, _ := get(t, mux, "/metrics"); code != 404 {
		t.Errorf("/metrics mounted without metrics: %d", code)
	}
	code, body = get(t, mux, "/status.json")
	var v View
	if err := json.Unmarshal([]byte(body), &v); code != 200 || err != nil || v.Cluster.SlotsOwned != 16384 || v.Rules != nil {
		t.Errorf("status.json: %d %v %+v", code, err, v)
	}
}

func TestJoiningUntilTheClusterSaysSo(t *testing.T) {
	st := New(metrics.New(), "x")
	st.SetPhase(Serving)
	joined := false
	st.SetJoinCheck(func() bool { return joined })
	mux := http.NewServeMux()
	st.Mount(mux, false)
	if code, body := get(t, mux, "/health"); code != 503 || !strings.Contains(body, `"status":"joining"`) {
		t.Errorf("before joining: %d %s", code, body)
	}
	joined = true
	if code, _ := get(t, mux, "/ready"); code != 200 {
		t.Errorf("after joining: /ready %d", code)
	}
}
