package server

import (
	"strconv"

	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/shard"
	"github.com/tidwall/redcon"
)

// mode is INFO's redis_mode and HELLO's mode.
func (s *Server) mode() string {
	if s.cl != nil {
		return "cluster"
	}
	return "standalone"
}

// cmdClusterOK answers READONLY, READWRITE and ASKING: OK in cluster mode
// (every node answers every key, forwarding when needed), and standalone
// Redis's error otherwise.
func cmdClusterOK(s *Server, c *Client, args [][]byte, now int64) {
	if s.cl == nil {
		c.out = appendError(c.out, errNoCluster)
		return
	}
	c.out = redcon.AppendOK(c.out)
}

// cmdCluster answers the CLUSTER subcommands from the live table; in
// single-node mode, standalone Redis's error (rueidis relies on it).
func cmdCluster(s *Server, c *Client, args [][]byte, now int64) {
	if s.cl == nil {
		c.out = appendError(c.out, errNoCluster)
		return
	}
	t := s.cl.router.Load()
	sub := args[1]
	arity := func(n int) bool {
		if len(args) != n {
			c.out = appendError(c.out, "ERR wrong number of arguments for 'cluster|"+lower(sub)+"' command")
			return false
		}
		return true
	}
	switch {
	case eqFold(sub, "slots"):
		if arity(2) {
			c.out = appendClusterSlots(c.out, t, c.resp)
		}
	case eqFold(sub, "shards"):
		if arity(2) {
			c.out = appendClusterShards(c.out, t, c.resp)
		}
	case eqFold(sub, "nodes"):
		if arity(2) {
			c.out = appendVerbatim(c.out, c.resp, clusterNodesText(t, now/1e6))
		}
	case eqFold(sub, "info"):
		if arity(2) {
			c.out = appendVerbatim(c.out, c.resp, clusterInfoText(t))
		}
	case eqFold(sub, "myid"):
		if arity(2) {
			c.out = redcon.AppendBulkString(c.out, s.cl.id)
		}
	case eqFold(sub, "keyslot"):
		if arity(3) {
			c.out = redcon.AppendInt(c.out, int64(shard.Slot(args[2])))
		}
	case eqFold(sub, "countkeysinslot"):
		if !arity(3) {
			return
		}
		slot, ok := parseRedisInt(args[2])
		if !ok {
			c.out = appendError(c.out, errNotInteger)
			return
		}
		if slot < 0 || slot >= shard.NumSlots {
			c.out = appendError(c.out, "ERR Invalid slot")
			return
		}
		n := 0
		s.keysInSlot(c, uint16(slot), now, func([]byte) bool { n++; return true })
		c.out = redcon.AppendInt(c.out, int64(n))
	case eqFold(sub, "getkeysinslot"):
		if !arity(4) {
			return
		}
		slot, ok1 := parseRedisInt(args[2])
		count, ok2 := parseRedisInt(args[3])
		if !ok1 || !ok2 {
			c.out = appendError(c.out, errNotInteger)
			return
		}
		if slot < 0 || slot >= shard.NumSlots || count < 0 {
			c.out = appendError(c.out, "ERR Invalid slot or number of keys")
			return
		}
		var keys [][]byte
		s.keysInSlot(c, uint16(slot), now, func(k []byte) bool {
			if int64(len(keys)) >= count {
				return false
			}
			keys = append(keys, append([]byte(nil), k...))
			return true
		})
		c.out = redcon.AppendArray(c.out, len(keys))
		for _, k := range keys {
			c.out = redcon.AppendBulk(c.out, k)
		}
	case eqFold(sub, "help"):
		if !arity(2) {
			return
		}
		lines := []string{
			"CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"COUNTKEYSINSLOT <slot>", "    Return the number of keys in <slot> on this node.",
			"GETKEYSINSLOT <slot> <count>", "    Return key names stored on this node in <slot>.",
			"INFO", "    Return information about the cluster.",
			"KEYSLOT <key>", "    Return the hash slot for <key>.",
			"MYID", "    Return the node id.",
			"NODES", "    Return cluster configuration seen by node.",
			"SHARDS", "    Return information about slot range mappings and the nodes.",
			"SLOTS", "    Return information about slots range mappings.",
			"HELP", "    Print this help.",
		}
		c.out = redcon.AppendArray(c.out, len(lines))
		for _, l := range lines {
			c.out = append(c.out, '+')
			c.out = append(c.out, l...)
			c.out = append(c.out, '\r', '\n')
		}
	default:
		c.out = appendError(c.out, unknownSubcommand(sub, "CLUSTER"))
	}
}

func lower(b []byte) string {
	out := make([]byte, len(b))
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		out[i] = ch
	}
	return string(out)
}

// keysInSlot calls fn for this node's live keys in slot, one engine shard
// at a time, until fn returns false.
func (s *Server) keysInSlot(c *Client, slot uint16, now int64, fn func([]byte) bool) {
	stop := false
	s.eachShard(c, func(_ int, sh *engine.Shard) {
		if stop {
			return
		}
		for k := range sh.Keys(now / 1e6) {
			if shard.Slot(k) == slot && !fn(k) {
				stop = true
				return
			}
		}
	})
}

// info is INFO's cluster section: Redis's cluster_enabled, then what this
// node decided, every decision counted (never a silent fail-open).
func (cl *cluster) info(s *Server) []string {
	t := cl.router.Load()
	held := 0
	for sl := 0; sl < shard.NumSlots; sl++ {
		if t.Local(uint16(sl)) {
			held++
		}
	}
	st := &cl.st
	var fwdStats [6]int64
	cl.peersMu.Lock()
	for _, p := range cl.peers {
		ps := p.Stats()
		fwdStats[0] += ps.Commands
		fwdStats[1] += ps.Batches
		fwdStats[2] += ps.Timeouts
		fwdStats[3] += ps.Failures
	}
	cl.peersMu.Unlock()
	cl.mu.Lock()
	localKeys := 0
	for i := 0; i < cl.local.store.NumShards(); i++ {
		sh := cl.local.store.Shard(i)
		sh.Lock()
		localKeys += sh.Len()
		sh.Unlock()
	}
	cl.mu.Unlock()
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	var rs shard.ReplicatorStats
	if cl.cfg.Replicator != nil {
		rs = cl.cfg.Replicator.Stats()
	}
	races := int64(0)
	if s.rules != nil {
		races = s.rules.CrossNodeRaces()
	}
	out := []string{
		"cluster_enabled", "1",
		"cluster_node_id", cl.id,
		"cluster_node_name", cl.self.Name,
		"cluster_members", n(int64(t.Len())),
		"cluster_slots_served", n(int64(held)),
		"cluster_settled", n(boolInt(cl.settled.Load())),
		"cluster_joined", n(boolInt(cl.joining.joined.Load())),
		"cluster_join_attempts", n(cl.joining.attempts.Load()),
		"cluster_redirect", yesNo(cl.cfg.Redirect),
		"cluster_owner_unreachable", cl.cfg.Unreachable,
		"cluster_forwarded", n(st.forwarded.Load()),
		"cluster_reforwarded", n(st.reforwarded.Load()),
		"cluster_forward_batches", n(fwdStats[1]),
		"cluster_forward_errors", n(st.forwardErrors.Load()),
		"cluster_forward_timeouts", n(fwdStats[2]),
		"cluster_redirected", n(st.redirected.Load()),
		"cluster_tryagain", n(st.tryAgain.Load()),
		"cluster_unreachable_local", n(st.unreachLocal.Load()),
		"cluster_unreachable_allowed", n(st.unreachAllow.Load()),
		"cluster_unreachable_denied", n(st.unreachDeny.Load()),
		"cluster_unreachable_refused", n(st.unreachError.Load()),
		"cluster_local_bucket_keys", n(int64(localKeys)),
		"cluster_local_bucket_merged", n(st.localMerged.Load()),
		"cluster_local_bucket_dropped", n(st.localDropped.Load()),
		"cluster_slots_claimed", n(cl.claimed.Load()),
		"cluster_parked", n(st.parked.Load()),
		"cluster_handoff_slots_sent", n(st.handoffSlots.Load()),
		"cluster_handoff_keys_sent", n(st.handoffKeys.Load()),
		"cluster_handoff_bytes_sent", n(st.handoffBytes.Load()),
		"cluster_handoff_failures", n(st.handoffFailures.Load()),
		"cluster_handoff_slots_received", n(st.importedSlots.Load()),
		"cluster_handoff_keys_received", n(st.importedKeys.Load()),
		"cluster_rules_gossiped", n(rs.Broadcasts),
		"cluster_rules_regossiped", n(rs.Rebroadcasts),
		"cluster_rules_streamed", n(rs.ReliableSends),
		"cluster_rules_stream_errors", n(rs.SendErrors),
		"cluster_rules_received", n(rs.Received),
		"cluster_rules_merged", n(rs.Merged),
		"cluster_rules_merge_errors", n(rs.MergeErrors),
		"cluster_rules_states_same", n(rs.StatesSkipped),
		"cluster_rules_dropped", n(rs.Dropped),
		"cluster_rules_repairs", n(rs.Repairs),
		"cluster_unreachable_last_ms", n(st.unreachLast.Load()),
		"cluster_unreachable_to_replica", n(st.toReplica.Load()),
		"cluster_replicas", n(int64(cl.cfg.Replicas)),
		"cluster_rules_cross_node_races", n(races),
	}
	if cl.repl != nil {
		out = append(out, cl.repl.info()...)
	}
	return out
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
