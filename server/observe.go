package server

import (
	"slices"
	"time"

	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/metrics"
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
}

// RegisterMetrics makes the server's counters (and its snapshot
// scheduler's) scrapeable through reg.
func (s *Server) RegisterMetrics(reg *metrics.Registry) {
	reg.SetServer(s)
	reg.AddCommands(s)
	if s.saver != nil {
		reg.SetSnapshots(snapshotSource{s})
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
