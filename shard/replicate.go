package shard

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/hashicorp/memberlist"
)

// Replicated is state that every node keeps a whole copy of, such as the
// rules engine's rules, allow/deny lists and tiers, spread by gossip. Its
// changes are opaque byte strings to this package. Merging must be
// idempotent, commutative and associative (last writer wins by version,
// deletions kept as tombstones): any node may receive any batch any
// number of times, in any order, and all converge.
type Replicated interface {
	// State returns this node's whole state, encoded; Merge on another
	// node accepts it.
	State() []byte
	// Merge applies batches: single changes broadcast by other nodes, or
	// their whole States. It returns how many changes were new here. It
	// may be slow (it commits to disk): Replicator calls it on a
	// goroutine of its own, never on memberlist's.
	Merge(batches ...[]byte) (int, error)
}

// Replicator spreads a Replicated over a Gossip (GossipConfig.Replicator):
//
//   - Broadcast queues a local change. A change that fits a gossip packet
//     goes to memberlist's transmit-limited queue (GetBroadcasts): sent
//     with the next gossip rounds to random nodes, retransmitted about
//     4·log10(N+1) times, a newer change to the same object replacing an
//     older one still queued. A node that merges a change new to it
//     broadcasts it again (rumor spreading), so it reaches every node of
//     a large cluster within a few gossip intervals.
//   - A change too large for a packet (UDPBufferSize less headers and
//     encryption), or a burst of changes (more than 4 waiting for gossip:
//     a gossip round carries about two changes per packet, every 200 ms on
//     a LAN), goes in batches of up to 4 MiB over memberlist's reliable stream
//     (TCP, SendReliable) to every live member.
//   - Every second each node gossips its state's hash. A node that sees
//     another's hash differ from its own for over a second sends that node
//     its state over the stream (at most every 2 s per node); the other
//     merges it and, if it has changes this node lacks, does the same in
//     turn. So a change that gossip lost (UDP) reaches every node within
//     seconds.
//   - Push/pull anti-entropy (when a node joins, then every
//     PushPullInterval) exchanges whole States: LocalState is the cached,
//     compressed state with its xxhash, and a remote state with the same
//     hash as ours is not even decoded. A node that joins late, or that
//     was down during changes, gets everything this way.
//
// Delegate callbacks never block: received messages and states are
// copied into a bounded backlog (64 MiB waiting, besides the batch being
// merged; beyond it they are dropped and counted, and the next push/pull
// repairs what they carried) and merged
// by the Replicator's goroutine, which calls Replicated.Merge and then
// refreshes the cached state (at once; for a state so large that encoding
// it takes long, after ten times as long as the last encoding took, so it
// never takes more than a tenth of a core). A node joining in the moment
// between a change and the refresh gets the state without that change,
// and the change with the next push/pull.
//
// Messages are trusted because gossip is encrypted: memberlist
// authenticates every packet and stream with AES-GCM under the cluster
// key (and refuses unencrypted ones), so NewGossip refuses a Replicator
// without a key. Frames start with a kind byte; unknown kinds are
// ignored and counted.
//
// Create it with NewReplicator before NewGossip; safe for concurrent use.
type Replicator struct {
	r   Replicated
	log *slog.Logger

	queue  memberlist.TransmitLimitedQueue
	ml     atomic.Pointer[memberlist.Memberlist]
	udpMax int                      // largest frame queued for gossip (set by attach)
	peers  func() []memberlist.Node // the other live members, copied (set by attach)
	self   string                   // this node's memberlist name (set by attach)
	behind map[string]behind        // nodes whose state differed from ours (loop only)

	mu      sync.Mutex
	out     []outMsg
	in      [][]byte // received frames, not merged yet
	inBytes int
	backlog int // cap on inBytes (maxBacklog; tests lower it)
	wake    chan struct{}
	done    chan struct{}
	stopped sync.WaitGroup
	once    sync.Once

	state      atomic.Pointer[stateFrame]
	dirty      bool          // the state changed since it was cached (loop only)
	lastState  time.Time     // when it was cached (loop only)
	stateTook  time.Duration // how long caching it took (loop only)
	stateTimer *time.Timer

	st replStats
}

// behind is a node whose gossiped state hash differed from ours.
type behind struct {
	digest      uint64
	since, sent time.Time
}

type outMsg struct {
	name string
	msg  []byte
}

// stateFrame is the cached, encoded local state.
type stateFrame struct {
	frame  []byte
	digest uint64
}

// ReplicatorStats counts a Replicator's traffic since it was created.
type ReplicatorStats struct {
	Broadcasts    int64 // local changes queued for gossip
	Rebroadcasts  int64 // received changes new here, gossiped on
	ReliableSends int64 // batches sent over the reliable stream (one per member)
	SendErrors    int64 // reliable sends that failed
	Received      int64 // frames received (gossip, stream, push/pull)
	Merged        int64 // changes new here
	MergeErrors   int64 // batches Merge reported an error for
	StatesSkipped int64 // remote states identical to ours (not decoded)
	Dropped       int64 // frames dropped: backlog full, unknown kind, undecodable
	Repairs       int64 // states sent to a node whose state hash differed
}

type replStats struct {
	broadcasts, rebroadcasts, reliableSends, sendErrors, received atomic.Int64
	merged, mergeErrors, statesSkipped, dropped, repairs          atomic.Int64
}

// Frame kinds (the first byte of every message).
const (
	frameChange = 1 // uvarint name length, name, payload
	frameBatch  = 2 // uvarint count, then per change: uvarint name length, name, uvarint length, payload
	frameState  = 3 // 8-byte xxhash of the state, deflated state
	frameDigest = 4 // 8-byte xxhash of the sender's state, sender's name
)

const (
	maxBacklog     = 64 << 20  // received bytes waiting to be merged
	maxStateBytes  = 256 << 20 // a decompressed state we accept
	maxStreamBatch = 4 << 20   // payload bytes per reliable batch
	burstSize      = 4         // more changes than this waiting for gossip go over the stream
	// The state is cached again after every change, unless encoding it
	// is slow: then at most every stateCost times what the last took (so
	// that it costs at most a tenth of a core).
	stateCost = 10
	// Every digestEvery each node gossips its state's hash; a node whose
	// state differs from another's for digestPatience sends it its state
	// over the stream, at most every 2·digestPatience.
	digestEvery    = time.Second
	digestPatience = time.Second
)

// NewReplicator returns a Replicator for r; log may be nil.
func NewReplicator(r Replicated, log *slog.Logger) *Replicator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := &Replicator{r: r, log: log, wake: make(chan struct{}, 1), done: make(chan struct{}), backlog: maxBacklog}
	x.queue.RetransmitMult = 4
	x.queue.NumNodes = func() int {
		if ml := x.ml.Load(); ml != nil {
			return ml.NumMembers()
		}
		return 1
	}
	return x
}

// Stats returns the Replicator's counters.
func (x *Replicator) Stats() ReplicatorStats {
	return ReplicatorStats{
		Broadcasts: x.st.broadcasts.Load(), Rebroadcasts: x.st.rebroadcasts.Load(),
		ReliableSends: x.st.reliableSends.Load(), SendErrors: x.st.sendErrors.Load(),
		Received: x.st.received.Load(), Merged: x.st.merged.Load(), MergeErrors: x.st.mergeErrors.Load(),
		StatesSkipped: x.st.statesSkipped.Load(), Dropped: x.st.dropped.Load(), Repairs: x.st.repairs.Load(),
	}
}

// Broadcast queues a local change for every other node; name identifies
// the changed object (a newer change of the same name replaces one still
// queued). It never blocks; msg must not be modified afterwards.
func (x *Replicator) Broadcast(name string, msg []byte) {
	x.mu.Lock()
	x.out = append(x.out, outMsg{name, msg})
	x.mu.Unlock()
	x.signal()
}

func (x *Replicator) signal() {
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// prepare caches the state before memberlist starts (it may push/pull at
// once).
func (x *Replicator) prepare() { x.refreshState() }

// attach starts the Replicator on ml; udpBuffer is memberlist's
// UDPBufferSize; peers lists the other live members (copies: memberlist
// changes its own Node values under its lock).
func (x *Replicator) attach(ml *memberlist.Memberlist, udpBuffer int, self string, peers func() []memberlist.Node) {
	x.peers, x.self, x.behind = peers, self, map[string]behind{}
	// Room in a gossip packet after the compound and message headers,
	// AES-GCM's version byte, nonce and tag, and a margin for memberlist's
	// own broadcasts in the same packet.
	x.udpMax = udpBuffer - 160
	x.ml.Store(ml)
	x.stopped.Add(1)
	go x.loop()
	x.signal()
}

// stop ends the goroutine; what is queued is dropped.
func (x *Replicator) stop() {
	x.once.Do(func() { close(x.done) })
	x.stopped.Wait()
}

// receive queues a frame from memberlist (copied: memberlist reuses its
// buffers). Never blocks.
func (x *Replicator) receive(b []byte) {
	if len(b) == 0 {
		return
	}
	x.st.received.Add(1)
	x.mu.Lock()
	if x.inBytes+len(b) > x.backlog {
		x.mu.Unlock()
		x.st.dropped.Add(1)
		return
	}
	x.in = append(x.in, bytes.Clone(b))
	x.inBytes += len(b)
	x.mu.Unlock()
	x.signal()
}

// localState is LocalState's answer: the cached state frame.
func (x *Replicator) localState() []byte {
	if s := x.state.Load(); s != nil {
		return s.frame
	}
	return nil
}

func (x *Replicator) loop() {
	defer x.stopped.Done()
	tick := time.NewTicker(digestEvery)
	defer tick.Stop()
	for {
		var timer <-chan time.Time
		if x.stateTimer != nil {
			timer = x.stateTimer.C
		}
		select {
		case <-x.done:
			if x.stateTimer != nil {
				x.stateTimer.Stop()
			}
			return
		case <-x.wake:
		case <-timer:
			x.stateTimer = nil
		case <-tick.C:
			x.gossipDigest()
		}
		x.mu.Lock()
		in, out := x.in, x.out
		x.in, x.out, x.inBytes = nil, nil, 0
		x.mu.Unlock()
		x.merge(in)
		x.send(out)
		if len(out) > 0 {
			x.dirty = true
		}
		if x.dirty && x.stateTimer == nil {
			if wait := stateCost*x.stateTook - time.Since(x.lastState); wait > time.Millisecond {
				x.stateTimer = time.NewTimer(wait)
			} else {
				x.refreshState()
			}
		}
	}
}

// refreshState caches the encoded state (loop, or prepare).
func (x *Replicator) refreshState() {
	start := time.Now()
	defer func() { x.stateTook = time.Since(start) }()
	raw := x.r.State()
	sum := xxhash.Sum64(raw)
	if s := x.state.Load(); s != nil && s.digest == sum {
		x.dirty, x.lastState = false, time.Now()
		return
	}
	var buf bytes.Buffer
	buf.WriteByte(frameState)
	var d [8]byte
	binary.BigEndian.PutUint64(d[:], sum)
	buf.Write(d[:])
	zw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	zw.Write(raw)
	zw.Close()
	x.state.Store(&stateFrame{frame: buf.Bytes(), digest: sum})
	x.dirty, x.lastState = false, time.Now()
	if buf.Len() > 16<<20 {
		x.log.Warn("cluster: replicated state is larger than push/pull carries (20 MiB); joining nodes will get only broadcast changes", "bytes", buf.Len())
	}
}

// merge decodes received frames and merges them: each single change on
// its own (so that one new here can be gossiped on), batches and states
// together in one call.
func (x *Replicator) merge(frames [][]byte) {
	var bulk [][]byte
	for _, f := range frames {
		switch f[0] {
		case frameChange:
			name, payload, ok := cutName(f[1:])
			if !ok {
				x.st.dropped.Add(1)
				continue
			}
			n, err := x.r.Merge(payload)
			x.merged(n, err)
			if n > 0 {
				x.st.rebroadcasts.Add(1)
				x.queue.QueueBroadcast(&gossipChange{name: name, frame: f})
			}
		case frameBatch:
			payloads, ok := splitBatch(f[1:])
			if !ok {
				x.st.dropped.Add(1)
				continue
			}
			bulk = append(bulk, payloads...)
		case frameDigest:
			if len(f) < 9 {
				x.st.dropped.Add(1)
				continue
			}
			x.compare(string(f[9:]), binary.BigEndian.Uint64(f[1:9]))
		case frameState:
			if len(f) < 9 {
				x.st.dropped.Add(1)
				continue
			}
			if s := x.state.Load(); s != nil && s.digest == binary.BigEndian.Uint64(f[1:9]) {
				x.st.statesSkipped.Add(1)
				continue
			}
			raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(f[9:])), maxStateBytes+1))
			if err != nil || len(raw) > maxStateBytes {
				x.st.dropped.Add(1)
				x.log.Warn("cluster: undecodable replicated state from a peer", "error", err, "bytes", len(raw))
				continue
			}
			bulk = append(bulk, raw)
		default:
			x.st.dropped.Add(1)
		}
	}
	if len(bulk) > 0 {
		x.merged(x.r.Merge(bulk...))
	}
}

// gossipDigest queues this node's state hash for gossip (loop).
func (x *Replicator) gossipDigest() {
	st := x.state.Load()
	if st == nil {
		return
	}
	f := make([]byte, 9, 9+len(x.self))
	f[0] = frameDigest
	binary.BigEndian.PutUint64(f[1:], st.digest)
	f = append(f, x.self...)
	x.queue.QueueBroadcast(&gossipChange{name: "\x00digest", frame: f})
}

// compare handles another node's gossiped state hash (loop): when it has
// differed from ours for digestPatience, this node sends its state to
// that node, which merges it (and, if this node lacks some of its
// changes, sees this node's hash differ in turn and sends its own). So
// changes that gossip lost reach every node within a few seconds, not
// only with the next push/pull.
func (x *Replicator) compare(from string, digest uint64) {
	st := x.state.Load()
	if from == x.self || st == nil || x.dirty {
		return
	}
	if digest == st.digest {
		delete(x.behind, from)
		return
	}
	now := time.Now()
	b, ok := x.behind[from]
	if !ok || b.digest != digest {
		x.behind[from] = behind{digest: digest, since: now}
		return
	}
	if now.Sub(b.since) < digestPatience || now.Sub(b.sent) < 2*digestPatience {
		return
	}
	b.sent = now
	x.behind[from] = b
	for _, n := range x.peers() {
		if n.Name == from {
			x.st.repairs.Add(1)
			go func() {
				if err := x.ml.Load().SendReliable(&n, st.frame); err != nil {
					x.st.sendErrors.Add(1)
				}
			}()
		}
	}
}

func (x *Replicator) merged(n int, err error) {
	if n > 0 {
		x.st.merged.Add(int64(n))
		x.dirty = true
	}
	if err != nil {
		x.st.mergeErrors.Add(1)
		x.log.Warn("cluster: merging replicated changes", "error", err, "new", n)
	}
}

// send queues local changes for gossip, or, when they are large or many,
// sends them in batches over the reliable stream.
func (x *Replicator) send(out []outMsg) {
	if len(out) == 0 {
		return
	}
	var stream []outMsg
	burst := len(out)+x.queue.NumQueued() > burstSize
	for _, m := range out {
		f := appendChange(nil, m.name, m.msg)
		if !burst && len(f) <= x.udpMax {
			x.st.broadcasts.Add(1)
			x.queue.QueueBroadcast(&gossipChange{name: m.name, frame: f})
		} else {
			stream = append(stream, m)
		}
	}
	if len(stream) == 0 {
		return
	}
	var batches [][]byte
	for len(stream) > 0 {
		n, size := 0, 0
		for n < len(stream) && (n == 0 || size+len(stream[n].msg) <= maxStreamBatch) {
			size += len(stream[n].msg)
			n++
		}
		batches = append(batches, appendBatch(nil, stream[:n]))
		stream = stream[n:]
	}
	ml := x.ml.Load()
	for _, n := range x.peers() {
		go func() {
			for _, b := range batches {
				if err := ml.SendReliable(&n, b); err != nil {
					x.st.sendErrors.Add(1)
					x.log.Warn("cluster: sending replicated changes; the next push/pull will carry them", "to", n.Name, "error", err)
					return
				}
				x.st.reliableSends.Add(1)
			}
		}()
	}
}

func appendChange(b []byte, name string, msg []byte) []byte {
	b = append(b, frameChange)
	b = binary.AppendUvarint(b, uint64(len(name)))
	b = append(b, name...)
	return append(b, msg...)
}

func appendBatch(b []byte, ms []outMsg) []byte {
	b = append(b, frameBatch)
	b = binary.AppendUvarint(b, uint64(len(ms)))
	for _, m := range ms {
		b = binary.AppendUvarint(b, uint64(len(m.name)))
		b = append(b, m.name...)
		b = binary.AppendUvarint(b, uint64(len(m.msg)))
		b = append(b, m.msg...)
	}
	return b
}

// cutName splits a change frame's body into name and payload.
func cutName(b []byte) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}

// splitBatch returns a batch frame body's payloads.
func splitBatch(b []byte) ([][]byte, bool) {
	count, k := binary.Uvarint(b)
	if k <= 0 || count > uint64(len(b)) {
		return nil, false
	}
	b = b[k:]
	out := make([][]byte, 0, count)
	for range count {
		for field := range 2 {
			n, k := binary.Uvarint(b)
			if k <= 0 || n > uint64(len(b)-k) {
				return nil, false
			}
			if field == 1 {
				out = append(out, b[k:k+int(n)])
			}
			b = b[k+int(n):]
		}
	}
	return out, len(b) == 0
}

// gossipChange is a change in memberlist's transmit-limited queue; a newer
// one of the same name replaces it.
type gossipChange struct {
	name  string
	frame []byte
}

func (g *gossipChange) Invalidates(memberlist.Broadcast) bool { return false }
func (g *gossipChange) Message() []byte                       { return g.frame }
func (g *gossipChange) Finished()                             {}
func (g *gossipChange) Name() string                          { return g.name }

var _ memberlist.NamedBroadcast = (*gossipChange)(nil)

// errNoKey: replicated state travels only over authenticated gossip.
var errNoKey = errors.New("shard: replicating state needs an encrypted cluster (a cluster key)")
