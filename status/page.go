package status

import (
	_ "embed"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rlserver/rlserver/metrics"
)

// View is the body of /status.json and the data the page is rendered from.
type View struct {
	TimeMs        int64               `json:"time_ms"`
	Status        string              `json:"status"`
	Version       string              `json:"version"`
	UptimeSeconds int64               `json:"uptime_seconds"`
	Totals        Totals              `json:"totals"`
	Checks        []CheckView         `json:"checks"`
	Latency       LatencyView         `json:"latency"`
	Keys          map[string]int64    `json:"keys"`
	KeysTotal     int64               `json:"keys_total"`
	StoreBytes    int64               `json:"store_bytes"`
	MaxMemory     int64               `json:"max_memory"`
	Clients       int64               `json:"clients"`
	MaxClients    int64               `json:"max_clients"`
	Snapshot      *SnapshotView       `json:"snapshot"`
	Cluster       ClusterView         `json:"cluster"`
	Rules         []metrics.RuleStats `json:"rules"` // null: no rules engine
	RefreshMs     int64               `json:"refresh_ms"`
}

// Totals are counters since start, summed over the limiter commands.
type Totals struct {
	Allowed  uint64 `json:"allowed"`
	Limited  uint64 `json:"limited"`
	Errors   uint64 `json:"errors"`
	Commands uint64 `json:"commands"`
}

// CheckView is one limiter command's counters.
type CheckView struct {
	Command string  `json:"command"`
	Allowed uint64  `json:"allowed"`
	Limited uint64  `json:"limited"`
	Errors  uint64  `json:"errors"`
	P50us   float64 `json:"p50_us"`
	P99us   float64 `json:"p99_us"`
}

// LatencyView is the check-duration histogram of every limiter command
// together: cumulative classic buckets (so the page can compute quantiles
// over its refresh interval) and quantiles since start.
type LatencyView struct {
	Bounds     []float64 `json:"bounds"` // seconds
	Cumulative []uint64  `json:"cumulative"`
	Count      uint64    `json:"count"`
	P50us      float64   `json:"p50_us"`
	P99us      float64   `json:"p99_us"`
	P999us     float64   `json:"p999_us"`
}

// SnapshotView describes persistence.
type SnapshotView struct {
	LastSuccessMs int64   `json:"last_success_ms"` // 0: none since start
	AgeSeconds    float64 `json:"age_seconds"`     // -1: none since start
	DurationMs    float64 `json:"duration_ms"`
	Bytes         int64   `json:"bytes"`
	Keys          int64   `json:"keys"`
	Saves         uint64  `json:"saves"`
	Failures      uint64  `json:"failures"`
	LastFailed    bool    `json:"last_failed"`
}

// ClusterView describes the cluster (a standalone node is a cluster of one).
type ClusterView struct {
	Enabled    bool                  `json:"enabled"`
	Self       string                `json:"self"`
	Members    map[string]int        `json:"members"`
	SlotsOwned int                   `json:"slots_owned"`
	Nodes      []metrics.ClusterNode `json:"nodes"`
	Slots      []metrics.SlotRange   `json:"slots"`
	Forwarded  uint64                `json:"forwarded"`
	FwdErrors  uint64                `json:"forward_errors"`
}

// View returns the figures the status page shows.
func (s *State) View() View {
	rd := s.reg.Read()
	v := View{
		TimeMs:        rd.Time.UnixMilli(),
		Status:        s.Phase().String(),
		Version:       s.version,
		UptimeSeconds: int64(time.Since(s.started).Seconds()),
		Keys:          map[string]int64{},
		Rules:         rd.Rules,
		RefreshMs:     s.refresh.Milliseconds(),
	}
	var all metrics.HistogramSnapshot
	for _, c := range rd.Commands {
		v.Totals.Commands += c.Calls
		if !c.Limiter {
			continue
		}
		cv := CheckView{Command: c.Name, Allowed: c.Allowed, Limited: c.Limited, Errors: c.Failed + c.Rejected}
		if d := c.Duration; d != nil {
			cv.P50us, cv.P99us = d.Quantile(0.5)/1e3, d.Quantile(0.99)/1e3
			all.Count += d.Count
			all.SumNs += d.SumNs
			for i := range d.Classic {
				all.Classic[i] += d.Classic[i]
			}
			for i := range d.Fine {
				all.Fine[i] += d.Fine[i]
			}
		}
		v.Totals.Allowed += c.Allowed
		v.Totals.Limited += c.Limited
		v.Totals.Errors += cv.Errors
		v.Checks = append(v.Checks, cv)
	}
	slices.SortFunc(v.Checks, func(a, b CheckView) int { return strings.Compare(a.Command, b.Command) })
	v.Latency = LatencyView{Bounds: metrics.ClassicBounds, Count: all.Count,
		P50us: all.Quantile(0.5) / 1e3, P99us: all.Quantile(0.99) / 1e3, P999us: all.Quantile(0.999) / 1e3}
	var cum uint64
	for i := range metrics.ClassicBounds {
		cum += all.Classic[i]
		v.Latency.Cumulative = append(v.Latency.Cumulative, cum)
	}
	if sv := rd.Server; sv != nil {
		for k, n := range sv.Keys {
			v.Keys[k] = n
			v.KeysTotal += n
		}
		v.StoreBytes, v.MaxMemory = sv.StoreBytes, sv.MaxMemory
		v.Clients, v.MaxClients = sv.ConnectedClients, sv.MaxClients
	}
	if sn := rd.Snapshot; sn != nil {
		v.Snapshot = &SnapshotView{AgeSeconds: -1, DurationMs: float64(sn.LastDuration.Microseconds()) / 1e3,
			Bytes: sn.LastBytes, Keys: sn.LastKeys, Saves: sn.Saves, Failures: sn.Failures, LastFailed: sn.LastFailed}
		if !sn.LastSuccess.IsZero() {
			v.Snapshot.LastSuccessMs = sn.LastSuccess.UnixMilli()
			v.Snapshot.AgeSeconds = rd.Time.Sub(sn.LastSuccess).Seconds()
		}
	}
	if cl := rd.Cluster; cl != nil {
		v.Cluster = ClusterView{Enabled: true, Self: cl.Self, Members: cl.Members, SlotsOwned: cl.SlotsOwned,
			Nodes: cl.Nodes, Slots: cl.Slots, Forwarded: cl.Forwarded}
		for _, n := range cl.ForwardErrors {
			v.Cluster.FwdErrors += n
		}
	} else {
		v.Cluster = ClusterView{Self: "self", Members: map[string]int{"alive": 1}, SlotsOwned: 16384,
			Nodes: []metrics.ClusterNode{{ID: "self", Name: "this node", State: "alive", Slots: 16384}},
			Slots: []metrics.SlotRange{{Start: 0, End: 16383, Node: "self"}}}
	}
	return v
}

// JSONHandler serves /status.json.
func (s *State) JSONHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.View(), true)
	})
}

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"bytes": humanBytes,
	"num":   func(n any) string { return humanNum(n) },
	"us":    func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	"age": func(sv *SnapshotView) string {
		if sv == nil {
			return "disabled"
		}
		if sv.AgeSeconds < 0 {
			return "none yet"
		}
		return strconv.FormatFloat(sv.AgeSeconds, 'f', 0, 64) + " s ago"
	},
}).Parse(pageHTML))

// PageHandler serves the status page. ?refresh=DURATION (at least 100ms)
// changes how often it updates itself.
func (s *State) PageHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := s.View()
		if d, err := time.ParseDuration(r.URL.Query().Get("refresh")); err == nil && d >= 100*time.Millisecond && d <= time.Hour {
			v.RefreshMs = d.Milliseconds()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// The page loads nothing from elsewhere; say so to the browser.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:")
		pageTmpl.Execute(w, v)
	})
}

func humanBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB"} {
		if f < 1024 || u == "GiB" {
			if u == "B" {
				return strconv.FormatInt(n, 10) + " B"
			}
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
		f /= 1024
	}
	return ""
}

func humanNum(n any) string {
	var s string
	switch x := n.(type) {
	case int64:
		s = strconv.FormatInt(x, 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case int:
		s = strconv.Itoa(x)
	default:
		return "?"
	}
	// Thin spaces between thousands.
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteString("\u2009")
		}
		b.WriteRune(ch)
	}
	return b.String()
}
