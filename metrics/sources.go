package metrics

import "time"

// The interfaces below are what the rest of rlserver implements so its
// counters can be scraped. Each is small and read-only; implementations
// must be safe for concurrent use (a scrape runs on an HTTP goroutine) and
// should fold their per-loop or per-shard counters when called, not keep
// a shared counter on the hot path. Stats are returned as structs so that
// a field can be added without breaking implementers: a zero field means
// "not known" where that differs from "none", as documented.

// ServerSource is the RESP server: clients, keyspace, memory, commands.
type ServerSource interface {
	ServerStats() ServerStats
}

// ServerStats is the server's state at one instant.
type ServerStats struct {
	ConnectedClients    int64
	MaxClients          int64
	ConnectionsReceived uint64 // accepted since start
	RejectedConnections uint64 // turned away at maxclients
	CommandsProcessed   uint64 // every command executed (INFO total_commands_processed)
	NetInputBytes       uint64
	NetOutputBytes      uint64
	// Keys counts keys by kind ("gcra", "sliding_window", "sliding_log",
	// "fixed_window", "string", ...), expired ones not yet reclaimed
	// included. Kind names come from the server, never from clients.
	Keys        map[string]int64
	StoreBytes  int64 // the store's logical size (INFO used_memory)
	MaxMemory   int64 // 0: no limit
	ExpiredKeys uint64
	EvictedKeys uint64
	// Errors counts error replies by type: the first word of the error
	// (ERR, WRONGTYPE, OOM, NOAUTH, ...) from a fixed set, "other" for
	// the rest, plus "protocol" for protocol errors (the connection is
	// closed) and "panic" for recovered handler panics.
	Errors  map[string]uint64
	Loading bool // a snapshot is being loaded: not ready
	Started time.Time
}

// CommandSource yields per-command counters. The server is one; the HTTP
// check endpoint can be another (with a name such as "http.check").
type CommandSource interface {
	// EachCommand calls fn for every command that has been called or
	// refused at least once. Names come from the command table.
	EachCommand(fn func(CommandStats))
}

// CommandStats are one command's counters since start, as Redis's INFO
// commandstats keeps them.
type CommandStats struct {
	Name     string // lower case, from the command table
	Limiter  bool   // a limiter check: Allowed and Limited are meaningful
	Calls    uint64 // executed (includes Failed, excludes Rejected)
	Rejected uint64 // refused before running (arity, NOAUTH, OOM, ...)
	Failed   uint64 // ran and answered an error
	Allowed  uint64 // limiter checks answered "allowed"
	Limited  uint64 // limiter checks answered "limited"
	Duration *HistogramSnapshot
}

// SnapshotSource is the persistence scheduler.
type SnapshotSource interface {
	SnapshotStats() SnapshotStats
}

// SnapshotStats describes snapshots since start.
type SnapshotStats struct {
	LastSuccess  time.Time // zero: none yet
	LastDuration time.Duration
	LastBytes    int64
	LastKeys     int64
	Saves        uint64
	Failures     uint64
	InProgress   bool
	LastFailed   bool
}

// ClusterSource is the cluster membership and forwarding layer.
type ClusterSource interface {
	ClusterStats() ClusterStats
}

// ClusterStats describes this node's view of the cluster.
type ClusterStats struct {
	// Members counts known members by state ("alive", "suspect",
	// "dead", "left"), this node included.
	Members    map[string]int
	SlotsOwned int // of 16384
	// Joined is false while a node told to join other nodes has seen none
	// of them (it serves every slot alone meanwhile); JoinAttempts counts
	// its attempts to reach them.
	Joined       bool
	JoinAttempts uint64
	// Forwarded counts commands sent to their owner on another node;
	// ForwardErrors counts those that failed, by reason (one of
	// ForwardErrorReasons; others are exported as "other").
	// ForwardDuration is the round trip of those answered.
	Forwarded       uint64
	ForwardErrors   map[string]uint64
	ForwardDuration *HistogramSnapshot // nil: not measured
	Redirects       uint64             // MOVED answers (--cluster-redirect)
	// Handoff: keys moved on membership changes.
	HandoffKeysSent     uint64
	HandoffKeysReceived uint64
	// Replication (nil fields when replicas are off).
	ReplicationKeysSent uint64
	ReplicationLag      time.Duration // oldest unacknowledged change
	// UnreachableOwner counts decisions taken because a key's owner did
	// not answer, by policy ("local", "allow", "deny").
	UnreachableOwner map[string]uint64

	// For the status page only (not exported as metrics):
	Self  string        // this node's id
	Nodes []ClusterNode // every known member
	// Slots maps slot ranges to node ids, in slot order.
	Slots []SlotRange
}

// ClusterNode is one member as this node sees it.
type ClusterNode struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Addr  string `json:"addr"`  // RESP address
	State string `json:"state"` // one of MemberStates
	Slots int    `json:"slots"`
}

// SlotRange is the inclusive range of slots [Start, End] owned by Node.
type SlotRange struct {
	Start int    `json:"start"`
	End   int    `json:"end"`
	Node  string `json:"node"`
}

// RuleSource is the rules engine.
type RuleSource interface {
	// EachRule calls fn for every rule with its counters since start.
	// Rule ids are chosen by operators through the admin API, never by
	// the requests being limited.
	EachRule(fn func(RuleStats))
}

// RuleStats are one rule's counters.
type RuleStats struct {
	ID       string `json:"id"`
	Hits     uint64 `json:"hits"`     // requests the rule matched
	Rejected uint64 `json:"rejected"` // of those, rejected by this rule (shadow rules: would have been)
	Shadow   bool   `json:"shadow"`
	// Summary describes the rule for people, e.g. "100 per 1m, gcra,
	// match endpoint=/api" (status page only).
	Summary string `json:"summary"`
}
