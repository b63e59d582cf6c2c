package server

import (
	"net"
	"strconv"

	"github.com/rlserver/rlserver/shard"
	"github.com/tidwall/redcon"
)

// Replies of the CLUSTER subcommands, built from a shard.Table in Redis
// 7.0's exact shapes (tests/testdata/redis-cluster-replies.txt holds what
// a real 3-master Redis cluster answered). Every node of ours is a master;
// issue 10's replicas will add the next nodes of Table.Nodes.

// slotRange is a run of consecutive slots with one owner.
type slotRange struct {
	start, end uint16
	owner      int
}

// ownerRanges returns the table's ranges in slot order.
func ownerRanges(t *shard.Table) []slotRange {
	var out []slotRange
	for s := 0; s < shard.NumSlots; s++ {
		o := t.Owner(uint16(s))
		if n := len(out); n > 0 && out[n-1].owner == o {
			out[n-1].end = uint16(s)
			continue
		}
		out = append(out, slotRange{uint16(s), uint16(s), o})
	}
	return out
}

// hostPort splits a member's RESP address.
func hostPort(addr string) (string, int64) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	n, _ := strconv.ParseInt(p, 10, 64)
	return h, n
}

// appendClusterSlots answers CLUSTER SLOTS: one entry per range, with its
// node as [ip, port, id, {}] (the empty map is Redis 7's hostname
// metadata).
func appendClusterSlots(b []byte, t *shard.Table, resp int) []byte {
	rs := ownerRanges(t)
	b = redcon.AppendArray(b, len(rs))
	for _, r := range rs {
		m := t.Member(r.owner)
		host, port := hostPort(m.Addr)
		b = redcon.AppendArray(b, 3)
		b = redcon.AppendInt(b, int64(r.start))
		b = redcon.AppendInt(b, int64(r.end))
		b = redcon.AppendArray(b, 4)
		b = redcon.AppendBulkString(b, host)
		b = redcon.AppendInt(b, port)
		b = redcon.AppendBulkString(b, m.ID)
		b = appendMap(b, resp, 0)
	}
	return b
}

// appendClusterShards answers CLUSTER SHARDS: one shard per member with
// slots, each {slots: [start, end, ...], nodes: [{id, port, ip, endpoint,
// role, replication-offset, health}]}.
func appendClusterShards(b []byte, t *shard.Table, resp int) []byte {
	rs := ownerRanges(t)
	per := make([][]slotRange, t.Len())
	for _, r := range rs {
		per[r.owner] = append(per[r.owner], r)
	}
	n := 0
	for _, p := range per {
		if len(p) > 0 {
			n++
		}
	}
	b = redcon.AppendArray(b, n)
	for i, p := range per {
		if len(p) == 0 {
			continue
		}
		m := t.Member(i)
		host, port := hostPort(m.Addr)
		b = appendMap(b, resp, 2)
		b = redcon.AppendBulkString(b, "slots")
		b = redcon.AppendArray(b, 2*len(p))
		for _, r := range p {
			b = redcon.AppendInt(b, int64(r.start))
			b = redcon.AppendInt(b, int64(r.end))
		}
		b = redcon.AppendBulkString(b, "nodes")
		b = redcon.AppendArray(b, 1)
		b = appendMap(b, resp, 7)
		b = redcon.AppendBulkString(b, "id")
		b = redcon.AppendBulkString(b, m.ID)
		b = redcon.AppendBulkString(b, "port")
		b = redcon.AppendInt(b, port)
		b = redcon.AppendBulkString(b, "ip")
		b = redcon.AppendBulkString(b, host)
		b = redcon.AppendBulkString(b, "endpoint")
		b = redcon.AppendBulkString(b, host)
		b = redcon.AppendBulkString(b, "role")
		b = redcon.AppendBulkString(b, "master")
		b = redcon.AppendBulkString(b, "replication-offset")
		b = redcon.AppendInt(b, 0)
		b = redcon.AppendBulkString(b, "health")
		b = redcon.AppendBulkString(b, "online")
	}
	return b
}

// clusterNodesText is CLUSTER NODES: one line per member,
// "<id> <ip>:<port>@<bus port> <flags> - 0 <pong ms> <epoch> connected <ranges...>".
// A member's config epoch is its index + 1 (distinct, as Redis's are).
func clusterNodesText(t *shard.Table, nowMs int64) []byte {
	rs := ownerRanges(t)
	var b []byte
	for i, m := range t.Members() {
		host, port := hostPort(m.Addr)
		b = append(b, m.ID...)
		b = append(b, ' ')
		b = append(b, host...)
		b = append(b, ':')
		b = strconv.AppendInt(b, port, 10)
		b = append(b, '@')
		b = strconv.AppendInt(b, int64(m.GossipPort), 10)
		if i == t.Self() {
			b = append(b, " myself,master - 0 "...)
		} else {
			b = append(b, " master - 0 "...)
		}
		b = strconv.AppendInt(b, nowMs, 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(i+1), 10)
		b = append(b, " connected"...)
		for _, r := range rs {
			if r.owner != i {
				continue
			}
			b = append(b, ' ')
			b = strconv.AppendInt(b, int64(r.start), 10)
			if r.end != r.start {
				b = append(b, '-')
				b = strconv.AppendInt(b, int64(r.end), 10)
			}
		}
		b = append(b, '\n')
	}
	return b
}

// clusterInfoText is CLUSTER INFO. The message counters are memberlist's
// business and are reported as 0.
func clusterInfoText(t *shard.Table) []byte {
	state := "ok"
	assigned := shard.NumSlots
	if t.Len() == 0 {
		state, assigned = "fail", 0
	}
	size := 0
	seen := make([]bool, t.Len())
	for s := 0; s < shard.NumSlots && t.Len() > 0; s += shard.GroupSlots {
		if o := t.Owner(uint16(s)); !seen[o] {
			seen[o] = true
			size++
		}
	}
	my := int64(t.Self() + 1)
	var b []byte
	kv := func(k string, v int64) {
		b = append(b, k...)
		b = append(b, ':')
		b = strconv.AppendInt(b, v, 10)
		b = append(b, '\r', '\n')
	}
	b = append(b, "cluster_state:"+state+"\r\n"...)
	kv("cluster_slots_assigned", int64(assigned))
	kv("cluster_slots_ok", int64(assigned))
	kv("cluster_slots_pfail", 0)
	kv("cluster_slots_fail", 0)
	kv("cluster_known_nodes", int64(t.Len()))
	kv("cluster_size", int64(size))
	kv("cluster_current_epoch", int64(t.Len()))
	kv("cluster_my_epoch", my)
	kv("cluster_stats_messages_sent", 0)
	kv("cluster_stats_messages_received", 0)
	kv("total_cluster_links_buffer_limit_exceeded", 0)
	return b
}
