package server

import (
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/metrics"
	"github.com/rlserver/rlserver/peer"
	"github.com/rlserver/rlserver/persistence"
	"github.com/rlserver/rlserver/shard"
	"github.com/tidwall/redcon"
)

// Replication (issue 10): each slot's replicas are the nodes after its
// owner in the slot's rendezvous order (shard.Table.Nodes), and the node
// holding a slot streams every change of the slot's keys to them.
//
// The holder's side. Every local write reports its keys (ChangeSink,
// under the key's shard lock); for each replica that streams the key's
// slot, the key's new state (or its absence: a deletion) is appended to
// that replica's buffer, encoded as a snapshot entry. Nothing else
// happens on the caller's path: one goroutine per replica sends the
// buffer as RL.REPL when it was idle for replInterval or the buffer
// reaches replFlushBytes, over a connection of its own, and counts the
// acknowledgements. The replication lag is the time from a change to the
// acknowledgement of its batch (INFO cluster, metrics). Memory is
// bounded: past replMaxBuffer unsent bytes (a replica that cannot keep
// up, or does not answer) the buffer is dropped and the replica stops
// being streamed to; it asks again and gets a full copy.
//
// The replica's side. A replica keeps what it is streamed in a store of
// its own (never served, never snapshotted, not in DBSIZE/SCAN), and
// asks each holder about its slots every second and on every membership
// change (RL.SYNC): the slots it has a full copy of, and those it needs.
// The holder copies needed slots in full (a walk of its store, shard by
// shard, through the same ordered stream: BEGIN, the entries, DONE), and
// also those the replica believes it has while the holder does not stream
// them (after a drop). Asking is the replica's job, so a replica that
// restarts, a slot that changes holder, and a dropped stream all heal the
// same way, within a second.
//
// Failover. When the holder of a slot dies, every node computes the same
// new owner: the slot's first live replica (shard.Authority.TakeClaims).
// It moves its copy into its store before it publishes the table that
// serves the slot, so the slot is served from the state it was streamed,
// missing at most the changes of the replication lag. Until memberlist
// declares the holder dead (about 1-1.5 s with the default gossip
// profile), commands for its slots answer by --owner-unreachable; with
// the local policy the first replica decides them (RL.FWDU) in a
// temporary bucket seeded from its copy, merged into the promoted state
// as overlapping (the later TAT, the larger counts).
//
// RL.REPL <sender id> <records>: records are a tag byte, then
//
//	'E' a snapshot entry (persistence.AppendEntry): the key's state
//	'D' uvarint length, key: the key no longer exists
//	'B' uvarint length, slot spec ("a-b,c"): a full copy of these slots
//	    starts; forget what you have of them
//	'F' uvarint length, slot spec: the full copy of these slots is done
//
// RL.SYNC <replica id> <needed spec> <held spec> (spec "-" for none).

const (
	replFlushBytes  = 64 << 10               // a batch this big is sent at once
	replInterval    = time.Millisecond       // otherwise at most one batch per interval per replica
	replMaxBuffer   = 16 << 20               // unsent bytes per replica before the stream is dropped
	replMaxInflight = 8 << 20                // sent, unacknowledged bytes per replica
	replTimeout     = 2 * time.Second        // a batch's acknowledgement
	replMaxSpare    = 1 << 20                // a send buffer larger than this is not kept
	replAskEvery    = 900 * time.Millisecond // RL.SYNC per holder about once a second (the loop's tick)
	replCopyPause   = 50 * time.Microsecond  // a full copy yields as long as it worked past this
)

const (
	recEntry = 'E'
	recDel   = 'D'
	recBegin = 'B'
	recDone  = 'F'
)

// slotBits is a set of slots.
type slotBits [shard.NumSlots / 64]uint64

func (b *slotBits) has(s uint16) bool { return b[s>>6]&(1<<(s&63)) != 0 }
func (b *slotBits) add(s uint16)      { b[s>>6] |= 1 << (s & 63) }
func (b *slotBits) del(s uint16)      { b[s>>6] &^= 1 << (s & 63) }
func (b *slotBits) empty() bool {
	for _, w := range b {
		if w != 0 {
			return false
		}
	}
	return true
}

// list returns the slots in ascending order.
func (b *slotBits) list() []uint16 {
	var out []uint16
	for s := range uint16(shard.NumSlots) {
		if b.has(s) {
			out = append(out, s)
		}
	}
	return out
}

// atomicSlots is a set of slots read without locks.
type atomicSlots [shard.NumSlots / 64]atomic.Uint64

func (b *atomicSlots) has(s uint16) bool { return b[s>>6].Load()&(1<<(s&63)) != 0 }
func (b *atomicSlots) add(s uint16)      { b[s>>6].Or(1 << (s & 63)) }
func (b *atomicSlots) clear() {
	for i := range b {
		b[i].Store(0)
	}
}

// replicator is a node's replication, both sides. Safe for concurrent
// use; the fields say who uses them.
type replicator struct {
	s     *Server
	cl    *cluster
	start time.Time

	// Holder side. streams is the hot path's copy of byID's values.
	streams atomic.Pointer[[]*replStream]
	smu     sync.Mutex // guards byID and stores to streams
	byID    map[string]*replStream
	wg      sync.WaitGroup

	// Replica side. store holds the copies; present marks slots that
	// may have keys in it (set by RL.REPL, cleared when dropped).
	store   *engine.Store
	present atomicSlots
	rmu     sync.Mutex
	synced  slotBits // a full copy was received and is kept up to date
	syncing slotBits // a full copy is arriving
	// Cluster loop only: the holder each wanted slot was asked of, and
	// when each holder was last asked.
	askedOf []string
	askedAt map[string]time.Time

	lag       metrics.Histogram // batch acknowledgement lag
	st        replStats
	lastErrAt atomic.Int64 // Unix second of the last failure logged
}

type replStats struct {
	keysSent, bytesSent, batches, drops, slotsCopied, keysCopied atomic.Int64
	keysApplied, batchesApplied, skipped                         atomic.Int64
	promoted, promotedPartial, lost, promotedKeys                atomic.Int64
	lastLag, maxLag                                              atomic.Int64 // ns
	seeded                                                       atomic.Int64
}

func newReplicator(s *Server, cl *cluster) *replicator {
	r := &replicator{s: s, cl: cl, start: time.Now(), byID: map[string]*replStream{},
		store: engine.NewStore(s.store.NumShards()), askedOf: make([]string, shard.NumSlots), askedAt: map[string]time.Time{}}
	r.streams.Store(&[]*replStream{})
	return r
}

func (r *replicator) mono() int64 { return int64(time.Since(r.start)) }

// KeyChanged implements ChangeSink: key (in slot, hash h, in shard sh,
// which the caller holds locked) was written at nowMs. Appends its state
// to the buffer of every replica streaming the slot.
func (r *replicator) KeyChanged(slot uint16, key []byte, h uint64, sh *engine.Shard, nowMs int64) {
	for _, st := range *r.streams.Load() {
		if !st.active.has(slot) {
			continue
		}
		st.mu.Lock()
		if st.active.has(slot) {
			st.addKey(key, h, sh, nowMs)
		}
		st.mu.Unlock()
	}
}

// flushed forgets what every replica was streamed: FLUSHALL emptied the
// store, and the replicas' next RL.SYNC gets them full (empty) copies.
func (r *replicator) flushed() {
	for _, st := range *r.streams.Load() {
		st.mu.Lock()
		st.dropLocked()
		st.mu.Unlock()
	}
}

// replStream sends one replica its slots' changes.
type replStream struct {
	r    *replicator
	id   string
	addr string
	p    *peer.Client
	wake chan struct{}
	quit chan struct{}

	// active: slots streamed to the replica. Changed under mu; read by
	// the hot path without it (and again under it).
	active atomicSlots

	mu       sync.Mutex
	sent     sync.Cond // signalled when in-flight bytes shrink
	buf      []byte    // changes not sent yet
	spare    []byte
	keys     int      // changes in buf
	firstAt  int64    // r.mono() of buf's oldest change; 0 when empty
	done     slotBits // full copies whose DONE is in buf
	hasDone  bool
	resync   slotBits // full copies to start
	syncing  slotBits // full copies started, DONE not acknowledged
	inflight []*replBatch
	inBytes  int
	gen      uint64 // bumped when the stream is dropped
	closed   bool
	lastSend time.Time
}

// replBatch is one RL.REPL in flight (a peer.Waiter).
type replBatch struct {
	st      *replStream
	gen     uint64
	firstAt int64
	bytes   int
	keys    int
	done    *slotBits
}

// addKey appends key's state. Callers hold mu and key's shard.
func (st *replStream) addKey(key []byte, h uint64, sh *engine.Shard, nowMs int64) {
	empty := len(st.buf) == 0
	if e, ok := sh.Get(h, key, nowMs); ok {
		st.buf = append(st.buf, recEntry)
		st.buf = persistence.AppendEntry(st.buf, key, e)
	} else {
		st.buf = append(st.buf, recDel)
		st.buf = binary.AppendUvarint(st.buf, uint64(len(key)))
		st.buf = append(st.buf, key...)
	}
	st.keys++
	if empty {
		st.firstAt = st.r.mono()
		st.signal()
	}
	if len(st.buf) > replMaxBuffer {
		st.dropLocked()
	}
}

func (st *replStream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// dropLocked forgets everything unsent and stops streaming every slot
// (the replica's next RL.SYNC restarts full copies). Callers hold mu.
func (st *replStream) dropLocked() {
	st.r.st.drops.Add(1)
	st.buf, st.keys, st.firstAt, st.hasDone = st.buf[:0], 0, 0, false
	st.done, st.resync, st.syncing = slotBits{}, slotBits{}, slotBits{}
	st.active.clear()
	st.gen++
	if cap(st.buf) > replMaxSpare {
		st.buf = nil
	}
}

// appendSpec appends a B or F record. Callers hold mu.
func (st *replStream) appendSpec(tag byte, set *slotBits) {
	spec := slotSpec(set.list())
	if len(st.buf) == 0 {
		st.firstAt = st.r.mono()
	}
	st.buf = append(st.buf, tag)
	st.buf = binary.AppendUvarint(st.buf, uint64(len(spec)))
	st.buf = append(st.buf, spec...)
}

// run is the stream's sender goroutine.
func (st *replStream) run() {
	defer st.r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-st.quit:
			return
		case <-st.wake:
		}
		for {
			st.mu.Lock()
			if st.closed {
				st.mu.Unlock()
				return
			}
			if !st.resync.empty() {
				set := st.resync
				st.resync = slotBits{}
				for i, w := range set {
					st.syncing[i] |= w
					st.active[i].Or(w)
				}
				gen := st.gen
				st.appendSpec(recBegin, &set)
				st.mu.Unlock()
				st.copySlots(&set, gen)
				st.mu.Lock()
				if st.gen == gen {
					st.appendSpec(recDone, &set)
					for i, w := range set {
						st.done[i] |= w
					}
					st.hasDone = true
				}
			}
			if len(st.buf) == 0 {
				st.mu.Unlock()
				break
			}
			if wait := replInterval - time.Since(st.lastSend); wait > 0 && len(st.buf) < replFlushBytes {
				st.mu.Unlock()
				timer.Reset(wait)
				select {
				case <-st.quit:
					return
				case <-timer.C:
				}
				continue
			}
			st.sendLocked()
			st.mu.Unlock()
		}
	}
}

// sendLocked sends the buffer as one RL.REPL, first waiting while too
// much is in flight. Callers hold mu; it is released while the payload
// is copied to the connection.
func (st *replStream) sendLocked() {
	for st.inBytes > replMaxInflight && !st.closed {
		st.sent.Wait()
	}
	if st.closed || len(st.buf) == 0 {
		return
	}
	b := &replBatch{st: st, gen: st.gen, firstAt: st.firstAt, bytes: len(st.buf), keys: st.keys}
	if st.hasDone {
		d := st.done
		b.done = &d
		st.done, st.hasDone = slotBits{}, false
	}
	payload := st.buf
	st.buf, st.spare = st.spare[:0], nil
	st.keys, st.firstAt = 0, 0
	st.inflight = append(st.inflight, b)
	st.inBytes += b.bytes
	st.lastSend = time.Now()
	st.mu.Unlock()
	st.p.Do(b, []byte("RL.REPL"), []byte(st.r.cl.id), payload)
	st.p.Flush()
	st.r.st.batches.Add(1)
	st.r.st.keysSent.Add(int64(b.keys))
	st.r.st.bytesSent.Add(int64(b.bytes))
	st.mu.Lock()
	if cap(payload) <= replMaxSpare {
		st.spare = payload[:0]
	}
}

// Reply implements peer.Waiter: the replica applied the batch (or not).
func (b *replBatch) Reply(frame []byte, err error) {
	st := b.st
	r := st.r
	st.mu.Lock()
	defer st.mu.Unlock()
	if i := slices.Index(st.inflight, b); i >= 0 {
		st.inflight = slices.Delete(st.inflight, i, i+1)
		st.inBytes -= b.bytes
		st.sent.Broadcast()
	}
	if err == nil && string(frame) == "+OK\r\n" {
		lag := r.mono() - b.firstAt
		r.lag.Observe(lag)
		r.st.lastLag.Store(lag)
		for {
			m := r.st.maxLag.Load()
			if lag <= m || r.st.maxLag.CompareAndSwap(m, lag) {
				break
			}
		}
		if b.done != nil && b.gen == st.gen {
			for i, w := range b.done {
				st.syncing[i] &^= w
			}
		}
		return
	}
	if b.gen == st.gen && !st.closed {
		if err == nil {
			err = errors.New(string(frame))
		}
		r.logFailure(st.id, err)
		st.dropLocked()
	}
}

// copySlots appends the state of every key in set to the buffer, one
// engine shard at a time, sending as it goes. It stops if the stream is
// dropped meanwhile (gen changes). Entries are appended under the key's
// shard lock, like KeyChanged's, so each key's last record in the stream
// is its current state.
func (st *replStream) copySlots(set *slotBits, gen uint64) {
	s := st.r.s
	nowMs := s.clock.Now() / 1e6
	n := 0
	for i := 0; i < s.store.NumShards(); i++ {
		began := time.Now()
		sh := s.store.Shard(i)
		sh.Lock()
		st.mu.Lock()
		if st.gen != gen || st.closed {
			st.mu.Unlock()
			sh.Unlock()
			return
		}
		for k, e := range sh.Keys(nowMs) {
			if set.has(shard.Slot(k)) {
				if len(st.buf) == 0 {
					st.firstAt = st.r.mono()
				}
				st.buf = append(st.buf, recEntry)
				st.buf = persistence.AppendEntry(st.buf, k, e)
				st.keys++
				n++
			}
		}
		sh.Unlock()
		if len(st.buf) >= replFlushBytes {
			st.sendLocked()
		}
		st.mu.Unlock()
		if d := time.Since(began); d > replCopyPause {
			time.Sleep(d)
		}
	}
	st.r.st.slotsCopied.Add(int64(len(set.list())))
	st.r.st.keysCopied.Add(int64(n))
}

// stream returns the stream to member id at addr, creating it.
func (r *replicator) stream(id, addr string) *replStream {
	r.smu.Lock()
	defer r.smu.Unlock()
	if st := r.byID[id]; st != nil && st.addr == addr {
		return st
	} else if st != nil {
		r.closeLocked(st)
	}
	st := &replStream{r: r, id: id, addr: addr, wake: make(chan struct{}, 1), quit: make(chan struct{}),
		p: peer.NewClient(peer.Config{Addr: addr, Token: r.cl.token, Timeout: replTimeout})}
	st.sent.L = &st.mu
	r.byID[id] = st
	r.publishLocked()
	r.wg.Add(1)
	go st.run()
	return st
}

// closeLocked stops a stream. Callers hold smu.
func (r *replicator) closeLocked(st *replStream) {
	delete(r.byID, st.id)
	r.publishLocked()
	st.mu.Lock()
	st.closed = true
	st.active.clear()
	st.sent.Broadcast()
	st.mu.Unlock()
	close(st.quit)
	st.p.Close()
}

func (r *replicator) publishLocked() {
	list := make([]*replStream, 0, len(r.byID))
	for _, st := range r.byID {
		list = append(list, st)
	}
	r.streams.Store(&list)
}

// stop ends every stream.
func (r *replicator) stop() {
	r.smu.Lock()
	for _, st := range r.byID {
		r.closeLocked(st)
	}
	r.smu.Unlock()
	r.wg.Wait()
}

// isReplica reports whether member i is one of slot's replicas in t: a
// node after the owner in the slot's order that does not hold it.
func isReplica(t *shard.Table, slot uint16, i int) bool {
	nodes := t.Nodes(slot)
	return len(nodes) > 1 && slices.Contains(nodes[1:], uint16(i)) && t.Holder(slot) != i
}

// tableChanged is run by the cluster loop with every new table: streams
// stop for slots this node no longer holds or whose replica changed, and
// for members that are gone; the replica side drops copies it no longer
// needs and asks holders for the ones it needs.
func (r *replicator) tableChanged(t *shard.Table) {
	r.smu.Lock()
	for id, st := range r.byID {
		i := t.Index(id)
		if i < 0 || i == t.Self() || t.Member(i).Addr != st.addr {
			r.closeLocked(st)
			continue
		}
		st.mu.Lock()
		for w := range st.active {
			bits := st.active[w].Load() | st.resync[w] | st.syncing[w]
			for bits != 0 {
				b := uint16(bitsTrailing(bits))
				bits &^= 1 << b
				sl := uint16(w)<<6 | b
				if !t.Local(sl) || !isReplica(t, sl, i) {
					st.active[w].And(^(uint64(1) << b))
					st.resync.del(sl)
					st.syncing.del(sl)
				}
			}
		}
		st.mu.Unlock()
	}
	r.smu.Unlock()
	r.ask(t)
}

func bitsTrailing(x uint64) int {
	n := 0
	for x&1 == 0 {
		x >>= 1
		n++
	}
	return n
}

// ask is the replica side of tableChanged (cluster loop).
func (r *replicator) ask(t *shard.Table) {
	self := t.Self()
	if self < 0 {
		return
	}
	type req struct{ need, have []uint16 }
	reqs := map[string]*req{}
	var drop slotBits
	r.rmu.Lock()
	for sl := range uint16(shard.NumSlots) {
		h := t.Holder(sl)
		if !isReplica(t, sl, self) || h < 0 || h == shard.NoHolder || h == shard.Handing {
			if r.present.has(sl) || r.synced.has(sl) || r.syncing.has(sl) {
				drop.add(sl)
			}
			continue
		}
		id := t.Member(h).ID
		if r.askedOf[sl] != id {
			// A new holder: what we have is kept (better than nothing if
			// it dies too) until its full copy replaces it.
			r.askedOf[sl] = id
			r.synced.del(sl)
		}
		q := reqs[id]
		if q == nil {
			q = &req{}
			reqs[id] = q
		}
		switch {
		case r.synced.has(sl):
			q.have = append(q.have, sl)
		case !r.syncing.has(sl):
			q.need = append(q.need, sl)
		}
	}
	for i, w := range drop {
		r.synced[i] &^= w
		r.syncing[i] &^= w
		r.present[i].And(^w)
	}
	r.rmu.Unlock()
	for sl := range uint16(shard.NumSlots) {
		if drop.has(sl) {
			r.askedOf[sl] = ""
		}
	}
	if !drop.empty() {
		deleteSlotsIn(r.store, &drop, r.s.clock.Now()/1e6)
	}
	now := time.Now()
	for id, q := range reqs {
		if len(q.need) == 0 && now.Sub(r.askedAt[id]) < replAskEvery {
			continue
		}
		r.askedAt[id] = now
		p := r.cl.ctrlFor(t.Member(t.Index(id)).Addr)
		p.Do(discard{}, []byte("RL.SYNC"), []byte(r.cl.id), []byte(specOrDash(q.need)), []byte(specOrDash(q.have)))
		p.Flush()
	}
	for id := range r.askedAt {
		if reqs[id] == nil {
			delete(r.askedAt, id)
		}
	}
}

func specOrDash(slots []uint16) string {
	if len(slots) == 0 {
		return "-"
	}
	return slotSpec(slots)
}

// deleteSlotsIn removes every key of st whose slot is in set.
func deleteSlotsIn(st *engine.Store, set *slotBits, nowMs int64) int {
	n := 0
	var doomed [][]byte
	for i := 0; i < st.NumShards(); i++ {
		sh := st.Shard(i)
		sh.Lock()
		doomed = doomed[:0]
		for k := range sh.Keys(nowMs) {
			if set.has(shard.Slot(k)) {
				doomed = append(doomed, append([]byte(nil), k...))
			}
		}
		for _, k := range doomed {
			sh.Delete(engine.Hash(k), k, nowMs)
		}
		sh.Unlock()
		n += len(doomed)
	}
	return n
}

// promote moves this node's copies of slots (taken over from a dead
// holder) into its store, replacing whatever stale copies the store had.
// Cluster loop, before the table serving the slots is published.
func (r *replicator) promote(slots []uint16) {
	var set slotBits
	r.rmu.Lock()
	for _, sl := range slots {
		set.add(sl)
		switch {
		case r.synced.has(sl):
			r.st.promoted.Add(1)
		case r.present.has(sl):
			r.st.promotedPartial.Add(1)
		default:
			r.st.lost.Add(1)
		}
		r.synced.del(sl)
		r.syncing.del(sl)
		r.present[sl>>6].And(^(uint64(1) << (sl & 63)))
		r.askedOf[sl] = ""
	}
	r.rmu.Unlock()
	s := r.s
	nowMs := s.clock.Now() / 1e6
	s.deleteSlots((*[shard.NumSlots / 64]uint64)(&set))
	var buf []byte
	var doomed [][]byte
	for i := 0; i < r.store.NumShards(); i++ {
		sh := r.store.Shard(i)
		sh.Lock()
		buf, doomed = buf[:0], doomed[:0]
		for k, e := range sh.Keys(nowMs) {
			if set.has(shard.Slot(k)) {
				buf = persistence.AppendEntry(buf, k, e)
				doomed = append(doomed, append([]byte(nil), k...))
			}
		}
		for _, k := range doomed {
			sh.Delete(engine.Hash(k), k, nowMs)
		}
		sh.Unlock()
		for p := buf; len(p) > 0; {
			key, e, n, err := persistence.DecodeEntry(p)
			if err != nil {
				break // written just above: cannot happen
			}
			p = p[n:]
			h := engine.Hash(key)
			msh := s.store.ShardOf(h)
			msh.Lock()
			msh.Restore(h, key, e, nowMs)
			msh.Unlock()
			r.st.promotedKeys.Add(1)
		}
	}
}

// seed copies key's replica state into the temporary bucket store dst
// (the unreachable-owner policy "local" on a replica) and reports whether
// there was one. Callers hold cl.mu.
func (r *replicator) seed(dst *engine.Store, key []byte, nowMs int64) bool {
	h := engine.Hash(key)
	sh := r.store.ShardOf(h)
	sh.Lock()
	e, ok := sh.Get(h, key, nowMs)
	var buf []byte
	if ok {
		buf = persistence.AppendEntry(nil, key, e)
	}
	sh.Unlock()
	if !ok {
		return false
	}
	_, e, _, err := persistence.DecodeEntry(buf)
	if err != nil {
		return false
	}
	dsh := dst.ShardOf(h)
	dsh.Lock()
	dsh.Restore(h, key, e, nowMs)
	dsh.Unlock()
	r.st.seeded.Add(1)
	return true
}

// sweep reclaims expired copies, as the store's sweeper does (cluster
// loop, every second).
func (r *replicator) sweep(budget int) {
	nowMs := r.s.clock.Now() / 1e6
	for i := 0; i < r.store.NumShards(); i++ {
		sh := r.store.Shard(i)
		for range 16 {
			sh.Lock()
			n := sh.Sweep(nowMs, budget, nil)
			sh.Unlock()
			if n*4 <= budget {
				break
			}
		}
	}
}

// lagNow returns the age of the oldest change not yet acknowledged by a
// replica (0 when all are).
func (r *replicator) lagNow() time.Duration {
	now := r.mono()
	var oldest int64
	for _, st := range *r.streams.Load() {
		st.mu.Lock()
		for _, b := range st.inflight {
			if b.gen == st.gen && (oldest == 0 || b.firstAt < oldest) {
				oldest = b.firstAt
			}
		}
		if st.firstAt != 0 && (oldest == 0 || st.firstAt < oldest) {
			oldest = st.firstAt
		}
		st.mu.Unlock()
	}
	if oldest == 0 {
		return 0
	}
	return time.Duration(now - oldest)
}

// info returns INFO cluster's replication fields.
func (r *replicator) info() []string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	us := func(ns float64) string { return strconv.FormatInt(int64(ns/1e3), 10) }
	var snap metrics.HistogramSnapshot
	r.lag.AddTo(&snap)
	r.rmu.Lock()
	synced := 0
	for _, w := range r.synced {
		synced += popcount(w)
	}
	r.rmu.Unlock()
	keys := 0
	for i := 0; i < r.store.NumShards(); i++ {
		sh := r.store.Shard(i)
		sh.Lock()
		keys += sh.Len()
		sh.Unlock()
	}
	streams := len(*r.streams.Load())
	return []string{
		"cluster_repl_streams", n(int64(streams)),
		"cluster_repl_keys_sent", n(r.st.keysSent.Load()),
		"cluster_repl_bytes_sent", n(r.st.bytesSent.Load()),
		"cluster_repl_batches", n(r.st.batches.Load()),
		"cluster_repl_lag_us", n(int64(r.lagNow() / time.Microsecond)),
		"cluster_repl_lag_last_us", n(r.st.lastLag.Load() / 1e3),
		"cluster_repl_lag_p50_us", us(snap.Quantile(0.5)),
		"cluster_repl_lag_p99_us", us(snap.Quantile(0.99)),
		"cluster_repl_lag_max_us", n(r.st.maxLag.Load() / 1e3),
		"cluster_repl_drops", n(r.st.drops.Load()),
		"cluster_repl_slots_copied", n(r.st.slotsCopied.Load()),
		"cluster_repl_keys_copied", n(r.st.keysCopied.Load()),
		"cluster_replica_keys", n(int64(keys)),
		"cluster_replica_slots_synced", n(int64(synced)),
		"cluster_replica_keys_applied", n(r.st.keysApplied.Load()),
		"cluster_replica_skipped", n(r.st.skipped.Load()),
		"cluster_replica_seeded", n(r.st.seeded.Load()),
		"cluster_slots_promoted", n(r.st.promoted.Load()),
		"cluster_slots_promoted_partial", n(r.st.promotedPartial.Load()),
		"cluster_slots_lost", n(r.st.lost.Load()),
		"cluster_keys_promoted", n(r.st.promotedKeys.Load()),
	}
}

func popcount(x uint64) int {
	n := 0
	for x != 0 {
		x &= x - 1
		n++
	}
	return n
}

// logFailure logs a failed replication batch, at most once a second.
func (r *replicator) logFailure(to string, err error) {
	now := time.Now().Unix()
	if r.lastErrAt.Swap(now) != now {
		r.s.log.Warn("cluster: replication batch failed; the replica gets a full copy when it asks again", "to", to[:min(8, len(to))], "error", err)
	}
}

// cmdRepl is RL.REPL <sender> <records>: a holder's changes to this
// replica (see above).
func cmdRepl(s *Server, c *Client, args [][]byte, now int64) {
	if !c.peer || s.cl == nil || s.cl.repl == nil {
		c.out = appendError(c.out, unknownCommand(args))
		return
	}
	r := s.cl.repl
	t := s.cl.router.Load()
	nowMs := now / 1e6
	p := args[2]
	keys := 0
	for len(p) > 0 {
		tag := p[0]
		p = p[1:]
		switch tag {
		case recEntry:
			key, e, n, err := persistence.DecodeEntry(p)
			if err != nil {
				c.out = appendError(c.out, "ERR bad replication entry: "+err.Error())
				return
			}
			p = p[n:]
			sl := shard.Slot(key)
			if t.Local(sl) {
				r.st.skipped.Add(1) // we serve it: the sender's copy is stale or split
				continue
			}
			r.present.add(sl)
			h := engine.Hash(key)
			sh := r.store.ShardOf(h)
			sh.Lock()
			sh.Restore(h, key, e, nowMs)
			sh.Unlock()
			keys++
		case recDel, recBegin, recDone:
			l, k := binary.Uvarint(p)
			if k <= 0 || l > uint64(len(p)-k) {
				c.out = appendError(c.out, "ERR bad replication record")
				return
			}
			field := p[k : k+int(l)]
			p = p[k+int(l):]
			if tag == recDel {
				h := engine.Hash(field)
				sh := r.store.ShardOf(h)
				sh.Lock()
				sh.Delete(h, field, nowMs)
				sh.Unlock()
				keys++
				continue
			}
			slots, ok := parseSlotSpec(field)
			if !ok {
				c.out = appendError(c.out, "ERR bad slot list")
				return
			}
			var set slotBits
			r.rmu.Lock()
			for _, sl := range slots {
				if tag == recBegin {
					if t.Local(sl) {
						continue
					}
					set.add(sl)
					r.present.add(sl)
					r.syncing.add(sl)
					r.synced.del(sl)
				} else if r.syncing.has(sl) {
					r.syncing.del(sl)
					r.synced.add(sl)
				}
			}
			r.rmu.Unlock()
			if tag == recBegin && !set.empty() {
				deleteSlotsIn(r.store, &set, nowMs)
			}
		default:
			c.out = appendError(c.out, "ERR bad replication record")
			return
		}
	}
	r.st.keysApplied.Add(int64(keys))
	r.st.batchesApplied.Add(1)
	c.out = redcon.AppendOK(c.out)
}

// cmdSync is RL.SYNC <replica> <needed> <held>: a replica asks for full
// copies of the slots it needs, and of those it holds that this node
// does not stream to it (see above).
func cmdSync(s *Server, c *Client, args [][]byte, now int64) {
	if !c.peer || s.cl == nil || s.cl.repl == nil {
		c.out = appendError(c.out, unknownCommand(args))
		return
	}
	var lists [2][]uint16
	for i := range lists {
		if string(args[2+i]) == "-" {
			continue
		}
		l, ok := parseSlotSpec(args[2+i])
		if !ok {
			c.out = appendError(c.out, "ERR bad slot list")
			return
		}
		lists[i] = l
	}
	r := s.cl.repl
	t := s.cl.router.Load()
	i := t.Index(string(args[1]))
	if i < 0 || i == t.Self() {
		c.out = redcon.AppendOK(c.out) // not a member (yet): it asks again
		return
	}
	st := r.stream(t.Member(i).ID, t.Member(i).Addr)
	st.mu.Lock()
	any := false
	for k, list := range lists {
		for _, sl := range list {
			if !t.Local(sl) || !isReplica(t, sl, i) || st.syncing.has(sl) {
				continue
			}
			if k == 0 || !st.active.has(sl) {
				st.resync.add(sl)
				any = true
			}
		}
	}
	if any {
		st.signal()
	}
	st.mu.Unlock()
	c.out = redcon.AppendOK(c.out)
}
