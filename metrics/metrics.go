package metrics

import (
	"cmp"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Fixed label values. A label only ever takes a value from one of these
// sets, from the command table, from rule ids chosen by operators, or from
// HTTP routes registered in code: never from request data.
var (
	// MemberStates are the values of rate_limiter_cluster_members{state}.
	MemberStates = []string{"alive", "suspect", "dead", "left"}
	// ForwardErrorReasons are the values of
	// rate_limiter_cluster_forward_errors_total{reason}: no reply within
	// the forwarding timeout; the owner's port refused the connection
	// (process gone); the connection broke (reset, closed, broken pipe);
	// the owner answered something that is not RESP; the command was
	// redirected between nodes more than peer.MaxHops times (tables
	// disagreeing for too long); the owner refused this node's peer token
	// (another cluster key); anything else.
	ForwardErrorReasons = []string{"timeout", "refused", "reset", "protocol", "redirect_loop", "auth", "other"}
	// OwnerPolicies are the values of
	// rate_limiter_cluster_unreachable_owner_decisions_total{policy}.
	OwnerPolicies = []string{"local", "allow", "deny"}
	// ErrorTypes are the values of rate_limiter_errors_total{type}: the
	// first word of an error reply, or protocol/panic.
	ErrorTypes = []string{"ERR", "WRONGTYPE", "OOM", "NOAUTH", "WRONGPASS", "NOPERM", "EXECABORT", "NOSCRIPT", "BUSY", "CROSSSLOT", "MOVED", "TRYAGAIN", "Cell", "protocol", "panic", "other"}
)

// MaxRuleSeries caps the rules exported one series each; the rules with
// the fewest hits beyond it are summed under rule="_other", so ten
// thousand rules cannot blow up a Prometheus server.
const MaxRuleSeries = 500

// Version is the rlserver version reported by rate_limiter_build_info.
var Version = "0.1.0"

const ns = "rate_limiter"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(ns+"_"+name, help, labels, nil)
}

var (
	dBuildInfo   = desc("build_info", "Always 1; labels give the version.", "version", "goversion")
	dClients     = desc("connected_clients", "Open RESP client connections.")
	dMaxClients  = desc("max_clients", "The --maxclients limit.")
	dConnsTotal  = desc("connections_received_total", "RESP connections accepted.")
	dConnsRej    = desc("rejected_connections_total", "RESP connections refused at --maxclients.")
	dCmdsTotal   = desc("commands_processed_total", "Commands executed, all commands (INFO total_commands_processed).")
	dNetIn       = desc("net_input_bytes_total", "Bytes read from RESP clients.")
	dNetOut      = desc("net_output_bytes_total", "Bytes written to RESP clients.")
	dKeys        = desc("keys", "Keys in the store by kind (algorithm), expired ones not yet reclaimed included.", "kind")
	dStoreBytes  = desc("store_bytes", "The store's logical size in bytes (INFO used_memory), what --maxmemory limits.")
	dMaxMemory   = desc("max_memory_bytes", "The --maxmemory limit in bytes (0: none).")
	dExpired     = desc("expired_keys_total", "Keys removed because they expired.")
	dEvicted     = desc("evicted_keys_total", "Keys evicted at --maxmemory.")
	dErrors      = desc("errors_total", "Error replies by type (first word of the error), protocol errors and recovered panics.", "type")
	dLoading     = desc("loading", "1 while a snapshot is being loaded.")
	dRequests    = desc("requests_total", "Limiter checks by command and result (allowed, limited, error).", "command", "result")
	dCheckDur    = desc("check_duration_seconds", "Time to run a limiter check in the server, from parsed command to reply.", "command")
	dCmdCalls    = desc("commands_total", "Commands executed, by command (INFO commandstats calls).", "command")
	dCmdRejected = desc("commands_rejected_total", "Commands refused before running (arity, NOAUTH, OOM, ...), by command.", "command")
	dCmdFailed   = desc("commands_failed_total", "Commands that ran and answered an error, by command.", "command")
	dCmdSeconds  = desc("commands_duration_seconds_total", "Time spent running commands, by command (INFO commandstats usec).", "command")
	dSnapLast    = desc("snapshot_last_success_timestamp_seconds", "Unix time of the last successful snapshot (0: none since start).")
	dSnapDur     = desc("snapshot_last_duration_seconds", "Duration of the last successful snapshot.")
	dSnapSize    = desc("snapshot_last_size_bytes", "Size of the last successful snapshot file.")
	dSnapKeys    = desc("snapshot_last_keys", "Keys in the last successful snapshot.")
	dSnapTotal   = desc("snapshots_total", "Successful snapshots since start.")
	dSnapFail    = desc("snapshot_failures_total", "Failed snapshots since start.")
	dSnapRunning = desc("snapshot_in_progress", "1 while a snapshot is being written.")
	dSnapFailed  = desc("snapshot_last_failed", "1 when the last snapshot attempt failed.")
	dClEnabled   = desc("cluster_enabled", "1 when this node runs in a cluster.")
	dClMembers   = desc("cluster_members", "Cluster members known to this node by state, itself included.", "state")
	dClSlots     = desc("cluster_slots_owned", "Hash slots (of 16384) this node owns.")
	dClJoined    = desc("cluster_joined", "0 while a node told to --join other nodes has seen none of them (it serves every slot alone meanwhile).")
	dClJoinTries = desc("cluster_join_attempts_total", "Attempts to reach the --join seeds.")
	dClFwd       = desc("cluster_forwarded_total", "Commands forwarded to the key's owner on another node.")
	dClFwdErr    = desc("cluster_forward_errors_total", "Forwarded commands that failed, by reason.", "reason")
	dClFwdDur    = desc("cluster_forward_duration_seconds", "Round trip of a forwarded command to its owner, from the batch's flush to the reply (answered commands only).")
	dClRedirects = desc("cluster_redirects_total", "MOVED redirections answered (--cluster-redirect).")
	dClHandSent  = desc("cluster_handoff_keys_sent_total", "Keys whose state was handed to a new owner.")
	dClHandRecv  = desc("cluster_handoff_keys_received_total", "Keys whose state was received from their previous owner.")
	dClReplKeys  = desc("cluster_replication_keys_sent_total", "Key state changes streamed to replicas.")
	dClReplLag   = desc("cluster_replication_lag_seconds", "Age of the oldest change not yet acknowledged by a replica.")
	dClUnreach   = desc("cluster_unreachable_owner_decisions_total", "Decisions taken because a key's owner did not answer, by --owner-unreachable policy.", "policy")
	dRules       = desc("rules", "Rules configured.")
	dRuleHits    = desc("rule_hits_total", "Requests each rule matched.", "rule")
	dRuleRej     = desc("rule_rejections_total", "Requests each rule rejected (shadow rules: would have rejected).", "rule")
	dHTTPReqs    = desc("http_requests_total", "HTTP requests by route and status code.", "route", "code")
	dHTTPDur     = desc("http_request_duration_seconds", "HTTP request duration by route.", "route")
)

// Registry gathers rlserver's metrics: the Go runtime and process
// collectors plus one collector over the sources set on it. Sources can be
// set at any time (a subsystem that starts later adds its own); until a
// source is set its metrics are absent, except the cluster's, which a
// standalone node reports as a one-member cluster that owns every slot.
// Create it with New; safe for concurrent use.
type Registry struct {
	reg *prometheus.Registry

	mu       sync.Mutex
	server   ServerSource
	commands []CommandSource
	snapshot SnapshotSource
	cluster  ClusterSource
	rules    RuleSource
	http     []*httpRoute
	routes   map[string]*httpRoute // ObserveHTTP's, by pattern
}

// New returns a registry with the Go runtime and process collectors.
func New() *Registry {
	r := &Registry{reg: prometheus.NewRegistry()}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		(*collector)(r),
	)
	return r
}

// SetServer sets the RESP server's source.
func (r *Registry) SetServer(s ServerSource) { r.mu.Lock(); r.server = s; r.mu.Unlock() }

// AddCommands adds a source of per-command counters.
func (r *Registry) AddCommands(s CommandSource) {
	r.mu.Lock()
	r.commands = append(r.commands, s)
	r.mu.Unlock()
}

// SetSnapshots sets the persistence source (none without --data-dir).
func (r *Registry) SetSnapshots(s SnapshotSource) { r.mu.Lock(); r.snapshot = s; r.mu.Unlock() }

// SetCluster sets the cluster source.
func (r *Registry) SetCluster(s ClusterSource) { r.mu.Lock(); r.cluster = s; r.mu.Unlock() }

// SetRules sets the rules engine's source.
func (r *Registry) SetRules(s RuleSource) { r.mu.Lock(); r.rules = s; r.mu.Unlock() }

// Gatherer returns the underlying gatherer (for tests and the status page).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorLog: nil, ErrorHandling: promhttp.ContinueOnError})
}

type collector Registry

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dBuildInfo, dClients, dMaxClients, dConnsTotal, dConnsRej, dCmdsTotal, dNetIn, dNetOut,
		dKeys, dStoreBytes, dMaxMemory, dExpired, dEvicted, dErrors, dLoading, dRequests, dCheckDur, dCmdCalls, dCmdRejected,
		dCmdFailed, dCmdSeconds, dSnapLast, dSnapDur, dSnapSize, dSnapKeys, dSnapTotal, dSnapFail, dSnapRunning, dSnapFailed,
		dClEnabled, dClMembers, dClSlots, dClFwd, dClFwdErr, dClFwdDur, dClRedirects, dClHandSent, dClHandRecv, dClReplKeys,
		dClReplLag, dClUnreach, dRules, dRuleHits, dRuleRej, dHTTPReqs, dHTTPDur} {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, s *HistogramSnapshot, labels ...string) {
	ch <- prometheus.MustNewConstHistogram(d, s.Count, float64(s.SumNs)/1e9, s.Buckets(), labels...)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Reading is every source's stats at one instant, as Read returns them.
type Reading struct {
	Time     time.Time
	Server   *ServerStats   // nil: no server source yet
	Commands []CommandStats // every source's, in source order
	Snapshot *SnapshotStats // nil: persistence disabled
	Cluster  *ClusterStats  // nil: standalone
	Rules    []RuleStats    // nil: no rules engine
	HasRules bool
}

// Read folds every source now. The status page uses it; a scrape reads
// the same sources.
func (r *Registry) Read() Reading { return r.read(true) }

// ReadHealth reads what /health reports: the server, snapshots and the
// cluster, not the per-command and per-rule counters (cheaper: /health is
// probed often).
func (r *Registry) ReadHealth() Reading { return r.read(false) }

func (r *Registry) read(all bool) Reading {
	r.mu.Lock()
	server, commands, snapshot, cluster, rules := r.server, slices.Clone(r.commands), r.snapshot, r.cluster, r.rules
	r.mu.Unlock()
	rd := Reading{Time: time.Now()}
	if server != nil {
		st := server.ServerStats()
		rd.Server = &st
	}
	for _, src := range commands {
		if all {
			src.EachCommand(func(st CommandStats) { rd.Commands = append(rd.Commands, st) })
		}
	}
	if snapshot != nil {
		st := snapshot.SnapshotStats()
		rd.Snapshot = &st
	}
	if cluster != nil {
		st := cluster.ClusterStats()
		rd.Cluster = &st
	}
	if rules != nil && all {
		rd.HasRules = true
		rules.EachRule(func(st RuleStats) { rd.Rules = append(rd.Rules, st) })
	}
	return rd
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	rd := (*Registry)(c).Read()
	c.mu.Lock()
	routes := slices.Clone(c.http)
	c.mu.Unlock()

	gauge(ch, dBuildInfo, 1, Version, runtime.Version())
	if rd.Server != nil {
		collectServer(ch, *rd.Server)
	}
	for _, st := range rd.Commands {
		collectCommand(ch, st)
	}
	if rd.Snapshot != nil {
		st := *rd.Snapshot
		last := 0.0
		if !st.LastSuccess.IsZero() {
			last = float64(st.LastSuccess.UnixNano()) / 1e9
		}
		gauge(ch, dSnapLast, last)
		gauge(ch, dSnapDur, st.LastDuration.Seconds())
		gauge(ch, dSnapSize, float64(st.LastBytes))
		gauge(ch, dSnapKeys, float64(st.LastKeys))
		counter(ch, dSnapTotal, st.Saves)
		counter(ch, dSnapFail, st.Failures)
		gauge(ch, dSnapRunning, b2f(st.InProgress))
		gauge(ch, dSnapFailed, b2f(st.LastFailed))
	}
	collectCluster(ch, rd.Cluster)
	if rd.HasRules {
		collectRules(ch, rd.Rules)
	}
	for _, rt := range routes {
		rt.collect(ch)
	}
}

func collectServer(ch chan<- prometheus.Metric, st ServerStats) {
	gauge(ch, dClients, float64(st.ConnectedClients))
	gauge(ch, dMaxClients, float64(st.MaxClients))
	counter(ch, dConnsTotal, st.ConnectionsReceived)
	counter(ch, dConnsRej, st.RejectedConnections)
	counter(ch, dCmdsTotal, st.CommandsProcessed)
	counter(ch, dNetIn, st.NetInputBytes)
	counter(ch, dNetOut, st.NetOutputBytes)
	for kind, n := range st.Keys {
		gauge(ch, dKeys, float64(n), kind)
	}
	gauge(ch, dStoreBytes, float64(st.StoreBytes))
	gauge(ch, dMaxMemory, float64(st.MaxMemory))
	counter(ch, dExpired, st.ExpiredKeys)
	counter(ch, dEvicted, st.EvictedKeys)
	// Every type is reported, zeros included, so rate() works from the
	// first error on.
	for _, t := range ErrorTypes {
		counter(ch, dErrors, st.Errors[t], t)
	}
	gauge(ch, dLoading, b2f(st.Loading))
}

func collectCommand(ch chan<- prometheus.Metric, st CommandStats) {
	counter(ch, dCmdCalls, st.Calls, st.Name)
	counter(ch, dCmdRejected, st.Rejected, st.Name)
	counter(ch, dCmdFailed, st.Failed, st.Name)
	var sumNs uint64
	if st.Duration != nil {
		sumNs = st.Duration.SumNs
	}
	ch <- prometheus.MustNewConstMetric(dCmdSeconds, prometheus.CounterValue, float64(sumNs)/1e9, st.Name)
	if !st.Limiter {
		return
	}
	counter(ch, dRequests, st.Allowed, st.Name, "allowed")
	counter(ch, dRequests, st.Limited, st.Name, "limited")
	counter(ch, dRequests, st.Rejected+st.Failed, st.Name, "error")
	if st.Duration != nil {
		histogram(ch, dCheckDur, st.Duration, st.Name)
	}
}

func collectCluster(ch chan<- prometheus.Metric, cl *ClusterStats) {
	var st ClusterStats
	if cl != nil {
		st = *cl
	} else {
		// Standalone: a one-member cluster owning every slot, so cluster
		// panels and alerts read sensibly instead of "no data".
		st = ClusterStats{Members: map[string]int{"alive": 1}, SlotsOwned: 16384, Joined: true}
	}
	gauge(ch, dClEnabled, b2f(cl != nil))
	for _, s := range MemberStates {
		gauge(ch, dClMembers, float64(st.Members[s]), s)
	}
	gauge(ch, dClSlots, float64(st.SlotsOwned))
	gauge(ch, dClJoined, b2f(st.Joined))
	counter(ch, dClJoinTries, st.JoinAttempts)
	counter(ch, dClFwd, st.Forwarded)
	var unknown uint64 // reasons outside the fixed set count as other
	for r, n := range st.ForwardErrors {
		if !slices.Contains(ForwardErrorReasons, r) {
			unknown += n
		}
	}
	for _, r := range ForwardErrorReasons {
		n := st.ForwardErrors[r]
		if r == "other" {
			n += unknown
		}
		counter(ch, dClFwdErr, n, r)
	}
	fd := st.ForwardDuration
	if fd == nil {
		fd = &HistogramSnapshot{}
	}
	histogram(ch, dClFwdDur, fd)
	counter(ch, dClRedirects, st.Redirects)
	counter(ch, dClHandSent, st.HandoffKeysSent)
	counter(ch, dClHandRecv, st.HandoffKeysReceived)
	counter(ch, dClReplKeys, st.ReplicationKeysSent)
	gauge(ch, dClReplLag, st.ReplicationLag.Seconds())
	for _, p := range OwnerPolicies {
		counter(ch, dClUnreach, st.UnreachableOwner[p], p)
	}
}

func collectRules(ch chan<- prometheus.Metric, all []RuleStats) {
	all = slices.Clone(all)
	gauge(ch, dRules, float64(len(all)))
	if len(all) > MaxRuleSeries {
		slices.SortFunc(all, func(a, b RuleStats) int { return cmp.Compare(b.Hits, a.Hits) })
		other := RuleStats{ID: "_other"}
		for _, r := range all[MaxRuleSeries:] {
			other.Hits += r.Hits
			other.Rejected += r.Rejected
		}
		all = append(all[:MaxRuleSeries], other)
	}
	for _, r := range all {
		counter(ch, dRuleHits, r.Hits, r.ID)
		counter(ch, dRuleRej, r.Rejected, r.ID)
	}
}

// httpRoute counts one registered route's requests.
type httpRoute struct {
	route string
	mu    sync.Mutex
	codes map[int]uint64
	dur   Histogram
}

func (rt *httpRoute) collect(ch chan<- prometheus.Metric) {
	rt.mu.Lock()
	codes := make(map[int]uint64, len(rt.codes))
	for c, n := range rt.codes {
		codes[c] = n
	}
	rt.mu.Unlock()
	for c, n := range codes {
		counter(ch, dHTTPReqs, n, rt.route, strconv.Itoa(c))
	}
	var s HistogramSnapshot
	rt.dur.AddTo(&s)
	histogram(ch, dHTTPDur, &s, rt.route)
}

// ObserveHTTP records one request served by the route registered as
// pattern ("" when no route matched), with its status and duration; it is
// httpapi's Options.Observe. Patterns come from code, so they are bounded.
func (r *Registry) ObserveHTTP(pattern string, status int, seconds float64) {
	if pattern == "" {
		pattern = "unmatched"
	}
	r.mu.Lock()
	rt := r.routes[pattern]
	if rt == nil {
		rt = &httpRoute{route: pattern, codes: make(map[int]uint64)}
		if r.routes == nil {
			r.routes = make(map[string]*httpRoute)
		}
		r.routes[pattern] = rt
		r.http = append(r.http, rt)
	}
	r.mu.Unlock()
	rt.observe(status, int64(seconds*1e9))
}

func (rt *httpRoute) observe(code int, ns int64) {
	if code < 100 || code > 599 {
		code = 0
	}
	rt.mu.Lock()
	rt.codes[code]++
	rt.mu.Unlock()
	rt.dur.Observe(ns)
}

// InstrumentHTTP wraps h so its requests are counted under route (the
// pattern it is registered with, e.g. "POST /v1/ratelimit/check"), by
// status code, with their duration. Call it once per route when building
// the mux.
func (r *Registry) InstrumentHTTP(route string, h http.Handler) http.Handler {
	rt := &httpRoute{route: route, codes: make(map[int]uint64)}
	r.mu.Lock()
	r.http = append(r.http, rt)
	r.mu.Unlock()
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() { rt.observe(sw.code, int64(time.Since(start))) }()
		h.ServeHTTP(sw, req)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
