// Package status serves what an operator or an orchestrator asks a node
// directly: GET /health and GET /ready (JSON; 503 while the node cannot
// serve), GET /status.json (the figures behind the status page) and GET /
// (the status page: server-rendered HTML with a small embedded script and
// no external assets, refreshing itself).
//
// Everything is read from a metrics.Registry (the same sources Prometheus
// scrapes) plus the node's phase, which cmd/rlserver sets as it starts,
// joins and drains. Handlers are plain http.Handlers so the HTTP API's mux
// and the standalone --metrics-addr listener mount the same ones.
package status

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/metrics"
)

// Phase is where a node is in its life.
type Phase int32

const (
	// Loading: the snapshot is being read; nothing is served yet.
	Loading Phase = iota
	// Joining: serving locally but not yet part of the cluster it was told
	// to join (--join).
	Joining
	// Serving: ready for traffic.
	Serving
	// Draining: shutting down; finishing requests in flight.
	Draining
)

func (p Phase) String() string {
	switch p {
	case Loading:
		return "loading"
	case Joining:
		return "joining"
	case Serving, Draining:
		return "healthy"
	}
	return "unknown"
}

// State is a node's observable state. Create it with New; safe for
// concurrent use.
type State struct {
	reg     *metrics.Registry
	version string
	started time.Time
	phase   atomic.Int32
	joined  atomic.Pointer[func() bool]
	// refresh is the status page's refresh period.
	refresh time.Duration
}

// New returns a state in phase Loading, reading figures from reg.
func New(reg *metrics.Registry, version string) *State {
	return &State{reg: reg, version: version, started: time.Now(), refresh: time.Second}
}

// SetPhase moves the node to p.
func (s *State) SetPhase(p Phase) { s.phase.Store(int32(p)) }

// SetJoinCheck sets how the node tells whether it has joined the cluster
// it was told to join: while serving, a false answer reports Joining.
func (s *State) SetJoinCheck(joined func() bool) { s.joined.Store(&joined) }

// Phase returns the current phase.
func (s *State) Phase() Phase {
	p := Phase(s.phase.Load())
	if f := s.joined.Load(); p == Serving && f != nil && !(*f)() {
		return Joining
	}
	return p
}

// Health is the body of /health and /ready.
type Health struct {
	Status        string        `json:"status"` // healthy, loading or joining
	Draining      bool          `json:"draining"`
	Version       string        `json:"version"`
	UptimeSeconds int64         `json:"uptime_seconds"`
	Keys          int64         `json:"keys"`
	Clients       int64         `json:"clients"`
	LastSnapshot  *SnapshotInfo `json:"last_snapshot,omitempty"`
	Cluster       ClusterInfo   `json:"cluster"`
}

// SnapshotInfo summarizes persistence for /health.
type SnapshotInfo struct {
	Time       *time.Time `json:"time"` // null: none since start
	AgeSeconds *float64   `json:"age_seconds"`
	Failures   uint64     `json:"failures"`
	LastFailed bool       `json:"last_failed"`
}

// ClusterInfo summarizes the cluster for /health.
type ClusterInfo struct {
	Enabled    bool           `json:"enabled"`
	Members    map[string]int `json:"members"`
	SlotsOwned int            `json:"slots_owned"`
}

// Health returns the node's health now.
func (s *State) Health() Health {
	rd := s.reg.ReadHealth()
	h := Health{
		Status:        s.Phase().String(),
		Draining:      s.Phase() == Draining,
		Version:       s.version,
		UptimeSeconds: int64(time.Since(s.started).Seconds()),
		Cluster:       ClusterInfo{Members: map[string]int{"alive": 1}, SlotsOwned: 16384},
	}
	if rd.Server != nil {
		for _, n := range rd.Server.Keys {
			h.Keys += n
		}
		h.Clients = rd.Server.ConnectedClients
	}
	if sn := rd.Snapshot; sn != nil {
		h.LastSnapshot = &SnapshotInfo{Failures: sn.Failures, LastFailed: sn.LastFailed}
		if !sn.LastSuccess.IsZero() {
			t := sn.LastSuccess.UTC()
			age := rd.Time.Sub(sn.LastSuccess).Seconds()
			h.LastSnapshot.Time, h.LastSnapshot.AgeSeconds = &t, &age
		}
	}
	if cl := rd.Cluster; cl != nil {
		h.Cluster = ClusterInfo{Enabled: true, Members: cl.Members, SlotsOwned: cl.SlotsOwned}
	}
	return h
}

// HealthFields is Health as the fields httpapi's /health adds to its body
// (its Options.Health): the same contract as HealthHandler.
func (s *State) HealthFields() map[string]any {
	b, _ := json.Marshal(s.Health())
	var m map[string]any
	json.Unmarshal(b, &m)
	return m
}

// HealthHandler serves /health: 200 while the node serves (status
// "healthy", draining or not: it still answers requests in flight), 503
// while it loads a snapshot or has not joined its cluster yet. Use it for
// liveness and startup probes.
func (s *State) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := s.Phase()
		writeJSON(w, s.Health(), p == Serving || p == Draining)
	})
}

// ReadyHandler serves /ready: 200 only while serving and not draining, so
// an orchestrator stops sending traffic before the node stops. Use it for
// readiness.
func (s *State) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, s.Health(), s.Phase() == Serving)
	})
}

func writeJSON(w http.ResponseWriter, v any, ok bool) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(v)
}

// Mount registers every handler on mux, for a listener of their own:
// GET /health, and what MountOn registers.
func (s *State) Mount(mux *http.ServeMux, withMetrics bool) {
	mux.Handle("GET /health", s.HealthHandler())
	s.mount(mux.Handle, withMetrics)
}

// MountOn registers GET /ready, /status.json, /metrics and the status page
// at GET /{$} through handle (httpapi.Server.Handle), whose listener serves
// /health itself with HealthFields.
func (s *State) MountOn(handle func(pattern string, h http.Handler)) { s.mount(handle, true) }

func (s *State) mount(handle func(string, http.Handler), withMetrics bool) {
	handle("GET /ready", s.ReadyHandler())
	handle("GET /status.json", s.JSONHandler())
	handle("GET /{$}", s.PageHandler())
	if withMetrics {
		handle("GET /metrics", s.reg.Handler())
	}
}
