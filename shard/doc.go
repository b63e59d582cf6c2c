// Package shard is rlserver's cluster layer below the wire: Redis Cluster's
// 16384 hash slots, slot ownership by rendezvous hashing, the node
// identity, membership over hashicorp/memberlist, and the rules that move
// a slot's state from node to node (handoff). It knows nothing of RESP:
// the server routes commands with the Table it publishes, and the peer
// package carries them between nodes.
//
// # Ownership
//
// A key's slot is CRC16/XMODEM of the key (or of its {hash tag}) mod 16384,
// exactly as Redis Cluster computes it (Slot). Each slot's owner is the
// live member with the highest xxhash64(member ID || slot/16) (Table;
// slots are ranked in groups of 16 so the map stays a few hundred ranges):
// a pure function of the member set, the same on every node, moving only
// the slots a joining member wins or a leaving member had (about 1/N). The
// same scores order every slot's members, so issue 10's replicas are the
// next nodes of that order (Table.Nodes), and a slot whose owner dies goes
// to its first replica. Member IDs are 40 hex characters kept in the data
// directory (LoadID), so a restarted node owns what it owned.
//
// The hot path reads the current Table from a Router (an atomic pointer)
// and asks Table.Local(Slot(key)) or Table.Holder: no lock, no allocation.
// A new Table is built off the hot path on every membership change and on
// every handoff step, and swapped in whole.
//
// # Membership
//
// Membership is a small interface defined here; Gossip implements it with
// memberlist, whose node metadata carries each node's ID, RESP address,
// HTTP address, name and two flags: Settled (the node holds every slot it
// owns) and Leaving (it is handing its slots off before it exits, and owns
// nothing). Gossip can be encrypted with a 16/24/32-byte key. memberlist's
// callbacks never block: they copy the node and signal a channel of one.
//
// # Holding and routing
//
// Owning a slot and holding it differ while state moves. A node holds a
// slot when its own store has the slot's authoritative state; exactly one
// node should hold each slot. Authority (one per node, driven by a single
// goroutine) turns each member set into a Table whose Holder says where
// each slot's commands go:
//
//   - a slot this node holds is served here (Table.Local);
//   - a slot it owns but does not hold yet is forwarded to its source: the
//     member that owned it in this node's previous table, or, for a node
//     that just started, the owner among the settled members. A cluster
//     with no settled member is new: owners claim their slots at once
//     (bootstrap). A source that is gone (died) makes the owner claim the
//     slot with its state lost, counted (Authority.Claimed) — issue 10's
//     replicas replace exactly this case;
//   - any other slot goes to its owner, except one this node handed to a
//     member that no longer owns it, which goes where it went until the
//     owner is settled.
//
// A command therefore reaches the holder in at most a few hops even while
// tables differ between nodes (forwarded commands carry a hop count and are
// refused with TRYAGAIN past the limit).
//
// # Handoff protocol
//
// Any node that holds a slot another member owns hands it over (Plan
// groups such slots by new owner, in batches). The same rule serves a
// join (the old owners hand the joiner its slots), a graceful leave (the
// leaver announces Leaving, so it owns nothing, and hands everything
// off before it calls memberlist's Leave), a rejoin after a crash (the
// current holders hand the node its slots back: an importer first deletes
// whatever it had for those slots, so a stale snapshot never comes back),
// and a change that arrives mid-transfer (whoever holds a slot when the
// transfer ends hands it on to the newest owner).
//
// One transfer of a batch of slots S from holder A to member B:
//
//  1. A marks S as Handing (BeginHandoff) and swaps the table in under the
//     server's gate, which waits until every command that routed with the
//     previous table has finished. From then on A serves nothing in S: the
//     server parks commands for S (their replies stay pending in order).
//  2. A walks its store one engine shard at a time (as snapshots do) and
//     sends B the state of every key in S, in the snapshot entry encoding
//     (kind, key, absolute expiry, state), in paced batches, then DONE S,
//     on a connection of their own (a forwarded command's reply can wait
//     on this very transfer, so handoff messages must not queue behind it).
//     Before the first entry B deletes any keys of S it has (it does not
//     hold S, so they are stale), unless it holds some of S already (two
//     nodes claimed it): those entries are merged conservatively (the later
//     GCRA TAT, the larger window counts, the union of logs), never
//     replaced.
//  3. On DONE, B holds S (Import), serves S from then on, and acknowledges.
//     Commands B received for S before that were forwarded to A, which
//     served them before step 1 or parked them after it.
//  4. On the acknowledgement A stops holding S (EndHandoff), routes S to B,
//     re-dispatches the parked commands (now forwarded to B, which serves S
//     since before it acknowledged) and deletes its copies of S's keys.
//
// At every instant one node serves each key: A until step 1, nobody while
// the state is in transit (commands wait, for milliseconds), B after step
// 3. No limit resets (B starts from A's final state) and nothing is
// counted twice (a parked command runs once, at B, at the instant the
// first node received it). If the transfer fails midway (the connection
// breaks, B does not acknowledge within the timeout, or B left), A keeps
// S (EndHandoff with ok false): parked commands run at A, B's partial
// entries are discarded by the next attempt's step 2, and Plan retries
// later. If B had processed DONE but its acknowledgement was lost, both
// nodes hold S until the retry, which merges conservatively: the one
// window where a key may admit more than its limit, bounded by one extra
// limit's worth, and documented.
package shard
