package server

import (
	"log/slog"
	"slices"
	"time"

	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/metrics"
	"github.com/rlserver/rlserver/shard"
)

// kindNames are the metric names of the engine's kinds (keys by algorithm).
var kindNames = [engine.NumKinds]string{
	engine.KindNone:          "none",
	engine.KindString:        "string",
	engine.KindGCRA:          "gcra",
	engine.KindSlidingWindow: "sliding_window",
	engine.KindSlidingLog:    "sliding_log",
	engine.KindFixedWindow:   "fixed_window",
	engine.KindZset:          "zset",
	engine.KindList:          "list",
	engine.KindHash:          "hash",
}

// RegisterMetrics makes the server's counters (and its snapshot
// scheduler's) scrapeable through reg.
func (s *Server) RegisterMetrics(reg *metrics.Registry) {
	reg.SetServer(s)
	reg.AddCommands(s)
	if s.saver != nil {
		reg.SetSnapshots(snapshotSource{s})
	}
	if s.cl != nil {
		reg.SetCluster(clusterSource{s})
	}
}

// ServerStats implements metrics.ServerSource. It locks each shard briefly
// to read its per-kind counts.
func (s *Server) ServerStats() metrics.ServerStats {
	s.mu.Lock()
	nclients := len(s.clients)
	s.mu.Unlock()
	var kinds [engine.NumKinds]int
	for i := 0; i < s.store.NumShards(); i++ {
		sh := s.store.Shard(i)
		sh.Lock()
		k := sh.KindCounts()
		sh.Unlock()
		for j, n := range k {
			kinds[j] += n
		}
	}
	keys := make(map[string]int64, len(kinds))
	for k, n := range kinds {
		if engine.Kind(k) != engine.KindNone {
			keys[kindNames[k]] = int64(n)
		}
	}
	errs := map[string]uint64{
		"protocol": uint64(s.stats.protocolErrors.Load()),
		"panic":    uint64(s.stats.recoveredPanics.Load()),
	}
	_, byCode, _ := s.errorTotals()
	for code, n := range byCode {
		if !slices.Contains(metrics.ErrorTypes, code) || code == "protocol" || code == "panic" || code == "other" {
			code = "other" // the label's values are a fixed set
		}
		errs[code] += n
	}
	in, out := s.netTotals()
	return metrics.ServerStats{
		NetInputBytes:       in,
		NetOutputBytes:      out,
		ConnectedClients:    int64(nclients),
		MaxClients:          int64(s.cfg.MaxClients),
		ConnectionsReceived: uint64(s.stats.connections.Load()),
		RejectedConnections: uint64(s.stats.rejectedConns.Load()),
		CommandsProcessed:   s.totalCalls(),
		Keys:                keys,
		StoreBytes:          s.store.Bytes(),
		MaxMemory:           s.cfg.MaxMemory,
		ExpiredKeys:         uint64(s.stats.expiredKeys.Load()),
		EvictedKeys:         uint64(s.stats.evictedKeys.Load()),
		Errors:              errs,
		Started:             s.started,
	}
}

type snapshotSource struct{ s *Server }

func (src snapshotSource) SnapshotStats() metrics.SnapshotStats {
	st := src.s.saver.Stats()
	out := metrics.SnapshotStats{
		LastDuration: st.LastDuration,
		LastBytes:    st.LastBytes,
		LastKeys:     st.LastKeys,
		Saves:        uint64(st.Saves),
		Failures:     uint64(st.Failures),
		InProgress:   st.InProgress,
		LastFailed:   !st.LastOK,
	}
	if st.LastSave != 0 {
		out.LastSuccess = time.Unix(st.LastSave, 0)
	}
	return out
}

// clusterSource is the cluster's side of the metrics (metrics.ClusterSource).
type clusterSource struct{ s *Server }

func (src clusterSource) ClusterStats() metrics.ClusterStats {
	cl := src.s.cl
	t := cl.router.Load()
	st := &cl.st
	out := metrics.ClusterStats{
		Joined:              cl.joining.joined.Load(),
		JoinAttempts:        uint64(cl.joining.attempts.Load()),
		Forwarded:           uint64(st.forwarded.Load()),
		Redirects:           uint64(st.redirected.Load()),
		HandoffKeysSent:     uint64(st.handoffKeys.Load()),
		HandoffKeysReceived: uint64(st.importedKeys.Load()),
		UnreachableOwner: map[string]uint64{
			"local": uint64(st.unreachLocal.Load()),
			"allow": uint64(st.unreachAllow.Load()),
			"deny":  uint64(st.unreachDeny.Load()),
		},
		Self: cl.id,
	}
	cl.obs.fill(&out)
	if cl.repl != nil {
		out.ReplicationKeysSent = uint64(cl.repl.st.keysSent.Load())
		out.ReplicationLag = cl.repl.lagNow()
	}
	// The slot map: which member holds each slot, as ranges.
	slots := make([]int, len(t.Members()))
	var ranges []metrics.SlotRange
	for sl := 0; sl < shard.NumSlots; sl++ {
		h := t.Holder(uint16(sl))
		id := ""
		if h >= 0 && h < len(slots) {
			slots[h]++
			id = t.Member(h).ID
		}
		if t.Local(uint16(sl)) {
			out.SlotsOwned++
		}
		if n := len(ranges); n > 0 && ranges[n-1].Node == id && ranges[n-1].End == sl-1 {
			ranges[n-1].End = sl
		} else {
			ranges = append(ranges, metrics.SlotRange{Start: sl, End: sl, Node: id})
		}
	}
	out.Slots = ranges
	memberStates(&out, cl.gossip, t, slots)
	return out
}

// ClusterJoined reports whether the node serves as a settled cluster
// member: true in single-node mode, false while a node told to join other
// nodes has seen none of them yet, or has not yet received every slot it
// owns (/health and /ready answer 503 "joining" until then).
func (s *Server) ClusterJoined() bool {
	return s.cl == nil || s.cl.joining.joined.Load() && s.cl.settled.Load()
}

// logMemberChanges writes one line per member that joined or left between
// two tables (a lifecycle event; the loop rebuilds every second, so only
// real changes log).
func logMemberChanges(log *slog.Logger, prev, cur *shard.Table) {
	if prev == nil {
		return
	}
	was := map[string]shard.Member{}
	for _, m := range prev.Members() {
		was[m.ID] = m
	}
	for _, m := range cur.Members() {
		if _, ok := was[m.ID]; !ok {
			log.Info("cluster: member joined", "id", m.ID, "name", m.Name, "addr", m.Addr, "members", cur.Len())
		}
		delete(was, m.ID)
	}
	for _, m := range was {
		log.Info("cluster: member left or failed", "id", m.ID, "name", m.Name, "addr", m.Addr, "members", cur.Len())
	}
}
