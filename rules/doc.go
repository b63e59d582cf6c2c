// Package rules is rlserver's rules engine: rules that say how fast which
// requests may go, allow and deny lists, and tiers, decided against
// counters kept in the engine's store.
//
// A check (Engine.Check) takes a request's fields (user, API key, IP,
// endpoint, method, tier) and evaluates every enabled rule that matches,
// each against its own counter, atomically: a request under one rule's
// limit and over another's consumes from neither. Counters are ordinary
// engine keys (see compiled.CounterKey), so snapshots persist them and a
// cluster can route them to their owner.
//
// Rules, list entries and tier assignments are versioned objects kept in
// a bbolt file: every change is committed and fsynced before it is
// acknowledged, with an audit entry holding the object before and after.
// bbolt (go.etcd.io/bbolt, etcd's embedded store) is used because it gives
// exactly that — a single-file B+tree with serializable, fsynced
// transactions and no background process — and is maintained by the etcd
// project; writing our own write-ahead log would only repeat it. Changes
// carry (version, origin) so that any node can apply any other node's
// changes idempotently, last writer wins (Engine.ApplyRemote, State and
// OnChange are the seam for cluster propagation).
//
// Rule files (--rules FILE) are YAML or JSON; YAML is read with
// go.yaml.in/yaml/v3 (the YAML project's maintained fork of
// gopkg.in/yaml.v3) and validated through the same JSON path as the API.
//
// The engine never reads a clock: every function that needs the time
// takes it (Unix ns, the server's monotone clock).
package rules
