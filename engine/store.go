package engine

import (
	"encoding/binary"
	"iter"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Kind says what a key holds.
type Kind uint8

const (
	// KindNone: no such key.
	KindNone Kind = iota
	// KindString: an opaque byte string written with SET.
	KindString
	// KindGCRA: a GCRA theoretical arrival time (CL.THROTTLE, GCRA).
	KindGCRA
	// KindSlidingWindow: SW.THROTTLE's two counts and their window
	// (WindowState), kept apart from the key's TTL.
	KindSlidingWindow
	// KindSlidingLog: SWLOG.THROTTLE's request times.
	KindSlidingLog
	// KindFixedWindow: FW.THROTTLE's count and its window (WindowState),
	// kept apart from the key's TTL.
	KindFixedWindow
	// KindZset: a sorted set (ZADD and friends).
	KindZset
	// KindList: a list (LPUSH and friends).
	KindList
	// KindHash: a hash (HSET and friends).
	KindHash

	// NumKinds is one more than the largest Kind: the length of
	// Shard.KindCounts's array.
	NumKinds
)

// String is the name TYPE reports. GCRA state is a string, as redis-cell
// leaves it in Redis.
func (k Kind) String() string {
	switch k {
	case KindString, KindGCRA:
		return "string"
	case KindSlidingWindow:
		return "sliding-window"
	case KindSlidingLog:
		return "sliding-log"
	case KindFixedWindow:
		return "fixed-window"
	case KindZset:
		return "zset"
	case KindList:
		return "list"
	case KindHash:
		return "hash"
	}
	return "none"
}

// Entry is a copy of one key's value. Bytes and Log alias store memory:
// they are valid only while the shard lock is held and must not be
// modified.
type Entry struct {
	Kind     Kind
	Int      int64       // KindGCRA: TAT in ns
	Window   WindowState // KindFixedWindow, KindSlidingWindow
	Bytes    []byte      // KindString: the value
	Log      []int64     // KindSlidingLog: request times in ns, ascending
	Zset     *Zset       // KindZset: the set (store memory; Restore adopts it)
	List     *List       // KindList: the list (store memory; Restore adopts it)
	Hmap     *Hmap       // KindHash: the hash (store memory; Restore adopts it)
	ExpireMs int64       // absolute Unix ms; 0 = no expiry
}

// WindowState is the state of a fixed- or sliding-window key. It carries
// its own window, so changing the key's TTL (EXPIRE, PERSIST) never
// changes what the limiter counts.
type WindowState struct {
	// EmptyAtMs is when the state is empty again for the period it was
	// written with (absolute Unix ms): the end of FW's window; for SW the
	// end of the window after the one Cur counts. It names the window the
	// counts belong to; it is also the expiry a write gives the key.
	EmptyAtMs int64
	Prev      int64 // SW: the count of the window before Cur's (FW: 0)
	Cur       int64 // FW: the window's count; SW: the current window's count
}

// Store is a fixed, power-of-two array of shards, each guarded by its own
// mutex, picked by the xxhash of the key. Its memory holds no pointers per
// key (an open-addressing table of integers, a slab of fixed-size records
// and a byte arena for keys), so the garbage collector never scans keys.
//
// The zero value is not usable; use NewStore. Safe for concurrent use: each
// operation runs on one *Shard with its lock held by the caller.
type Store struct {
	shards []Shard
	mask   uint64
	bytes  atomic.Int64
}

// NewStore returns a store with n shards (rounded up to a power of two, at
// least 1).
func NewStore(n int) *Store {
	if n < 1 {
		n = 1
	}
	n = 1 << bits.Len(uint(n-1))
	s := &Store{shards: make([]Shard, n), mask: uint64(n - 1)}
	for i := range s.shards {
		s.shards[i].init()
		s.shards[i].bytes = &s.bytes
	}
	return s
}

// Hash returns the hash the store uses for key.
func Hash(key []byte) uint64 { return xxhash.Sum64(key) }

// ShardOf returns the shard that holds keys with hash h.
func (s *Store) ShardOf(h uint64) *Shard { return &s.shards[h&s.mask] }

// ShardIndex returns the index of the shard that holds keys with hash h.
func (s *Store) ShardIndex(h uint64) int { return int(h & s.mask) }

// Shard returns shard i (0 <= i < NumShards).
func (s *Store) Shard(i int) *Shard { return &s.shards[i] }

// NumShards returns the number of shards.
func (s *Store) NumShards() int { return len(s.shards) }

// perKeyBytes is what one key costs beyond its variable parts: the 40-byte
// record and an 8-byte table slot at about half load.
const perKeyBytes = 56

// windowBytes is what a window key's WindowState adds to perKeyBytes.
const windowBytes = 24

// Bytes returns the store's logical size: perKeyBytes per key, plus keys
// longer than 16 bytes, string values, window states (windowBytes each),
// sliding-log entries (8 bytes each) and the other kinds' side storage. It is what maxmemory is compared with; the process's RSS is
// about 1.2x this at 1M keys. Safe to call without locks.
func (s *Store) Bytes() int64 { return s.bytes.Load() }

const chunkBits = 10
const chunkSize = 1 << chunkBits

// inlineKey is the longest key kept inside its record. Keys up to this
// length (most limiter keys) cost no arena bytes and compare without a
// second cache miss.
const inlineKey = 16

// record is one key's fixed-size slot (40 bytes). No pointers: the GC
// skips the slab.
type record struct {
	expireMs int64 // absolute Unix ms; 0 = none
	val      int64 // GCRA: TAT; string, log, window: index into blobs, logs, wins
	// key holds the key when keyLen <= inlineKey, else its offset in the
	// arena (little-endian uint32 in the first four bytes).
	key    [inlineKey]byte
	keyLen uint32
	kind   Kind
}

// Shard is one lock domain of the store, obtained from a Store (its zero
// value is not usable). Its methods require the caller to hold its lock
// (Lock/Unlock), which lets a transaction hold several shards; keys passed
// in are copied, never retained.
type Shard struct {
	sync.Mutex

	table    []uint64             // tag<<32 | recordIndex+1; 0 = empty
	count    int                  // live records (including expired, not yet reclaimed)
	chunks   []*[chunkSize]record // fixed chunks: growth never copies records
	nrec     uint32               // high-water mark of record indexes
	freeRecs []uint32             // record indexes to reuse
	keys     []byte               // key arena
	keyWaste int                  // bytes of keys freed but still in the arena
	blobs    [][]byte             // string values
	freeBlob []uint32
	logs     [][]int64 // sliding-log request times
	freeLog  []uint32
	wins     []WindowState // fixed/sliding window states (no pointers)
	freeWin  []uint32
	zsets    []*Zset // sorted sets
	freeZset []uint32
	lists    []*List // lists
	freeList []uint32
	hmaps    []*Hmap // hashes
	freeHmap []uint32
	sweepRNG uint64 // xorshift state for the sweeper's samples
	evictRNG uint64 // xorshift state for eviction samples

	// bytes is the store-wide logical size (see Store.Bytes), shared by
	// all shards so that reading it is one atomic load.
	bytes    *atomic.Int64
	ownBytes int64 // this shard's part of *bytes
	expiring int   // records with an expiry (INFO keyspace's expires=)
	// kinds counts records by kind (KindNone: created, not yet set), for
	// keys-by-algorithm metrics without a walk. Every change of a
	// record's kind goes through setKind.
	kinds [NumKinds]int
	// found is whether the last limiter call found its key (LimiterFound).
	found bool
}

func (sh *Shard) init() { sh.table = make([]uint64, 8) }

func tagOf(h uint64) uint32 { return uint32(h >> 32) }

func (sh *Shard) rec(i uint32) *record { return &sh.chunks[i>>chunkBits][i&(chunkSize-1)] }

func (sh *Shard) keyOf(r *record) []byte {
	if r.keyLen <= inlineKey {
		return r.key[:r.keyLen]
	}
	off := binary.LittleEndian.Uint32(r.key[:4])
	return sh.keys[off : off+r.keyLen]
}

// lookup finds key's table slot. It does not check expiry.
func (sh *Shard) lookup(h uint64, key []byte) (pos int, idx uint32, ok bool) {
	mask := len(sh.table) - 1
	tag := tagOf(h)
	pos = int(tag) & mask
	for {
		e := sh.table[pos]
		if e == 0 {
			return pos, 0, false
		}
		if uint32(e>>32) == tag {
			i := uint32(e) - 1
			if string(sh.keyOf(sh.rec(i))) == string(key) {
				return pos, i, true
			}
		}
		pos = (pos + 1) & mask
	}
}

// expired reports whether r has expired at nowMs. As in Redis, a key lives
// through the millisecond of its expiry and is gone after it.
func expired(r *record, nowMs int64) bool { return r.expireMs != 0 && nowMs > r.expireMs }

// find returns the live record for key, reclaiming it first if it has
// expired at nowMs.
func (sh *Shard) find(h uint64, key []byte, nowMs int64) (*record, bool) {
	pos, idx, ok := sh.lookup(h, key)
	if !ok {
		return nil, false
	}
	r := sh.rec(idx)
	if expired(r, nowMs) {
		sh.removeAt(pos, idx)
		return nil, false
	}
	return r, true
}

// removeAt deletes the record idx stored in table slot pos, shifting later
// entries of its probe run back so lookups need no tombstones.
func (sh *Shard) removeAt(pos int, idx uint32) {
	r := sh.rec(idx)
	if r.keyLen > inlineKey {
		sh.keyWaste += int(r.keyLen)
	}
	sh.addBytes(-keyBytes(len(sh.keyOf(r))))
	sh.setExpiry(r, 0)
	sh.releaseValue(r)
	sh.kinds[r.kind]--
	*r = record{}
	sh.freeRecs = append(sh.freeRecs, idx)
	sh.count--

	mask := len(sh.table) - 1
	i := pos
	j := pos
	for {
		sh.table[i] = 0
		for {
			j = (j + 1) & mask
			e := sh.table[j]
			if e == 0 {
				sh.maybeCompactKeys()
				return
			}
			home := int(uint32(e>>32)) & mask
			// Move e into the hole at i unless its home lies cyclically in (i, j].
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				sh.table[i] = e
				i = j
				break
			}
		}
	}
}

func (sh *Shard) insert(h uint64, key []byte, pos int) *record {
	if (sh.count+1)*4 > len(sh.table)*3 {
		sh.grow()
		pos, _, _ = sh.lookup(h, key)
	}
	var idx uint32
	if n := len(sh.freeRecs); n > 0 {
		idx = sh.freeRecs[n-1]
		sh.freeRecs = sh.freeRecs[:n-1]
	} else {
		idx = sh.nrec
		if int(idx>>chunkBits) == len(sh.chunks) {
			sh.chunks = append(sh.chunks, new([chunkSize]record))
		}
		sh.nrec++
	}
	r := sh.rec(idx)
	sh.addBytes(keyBytes(len(key)))
	r.keyLen = uint32(len(key))
	if len(key) <= inlineKey {
		copy(r.key[:], key)
	} else {
		binary.LittleEndian.PutUint32(r.key[:4], uint32(len(sh.keys)))
		sh.keys = append(sh.keys, key...)
	}
	sh.table[pos] = uint64(tagOf(h))<<32 | uint64(idx+1)
	sh.count++
	sh.kinds[KindNone]++
	return r
}

func (sh *Shard) grow() {
	old := sh.table
	sh.table = make([]uint64, len(old)*2)
	mask := len(sh.table) - 1
	for _, e := range old {
		if e == 0 {
			continue
		}
		p := int(uint32(e>>32)) & mask
		for sh.table[p] != 0 {
			p = (p + 1) & mask
		}
		sh.table[p] = e
	}
}

// maybeCompactKeys rewrites the key arena once most of it is garbage.
func (sh *Shard) maybeCompactKeys() {
	if sh.keyWaste < 4096 || sh.keyWaste*2 < len(sh.keys) {
		return
	}
	live := len(sh.keys) - sh.keyWaste
	fresh := make([]byte, 0, live+live/4)
	for i := uint32(0); i < sh.nrec; i++ {
		r := sh.rec(i)
		if r.kind == KindNone || r.keyLen <= inlineKey {
			continue
		}
		off := uint32(len(fresh))
		fresh = append(fresh, sh.keyOf(r)...)
		binary.LittleEndian.PutUint32(r.key[:4], off)
	}
	sh.keys = fresh
	sh.keyWaste = 0
}

func (sh *Shard) addBytes(n int64) {
	sh.ownBytes += n
	sh.bytes.Add(n)
}

// keyBytes is the logical size of a key without its value.
func keyBytes(keyLen int) int64 {
	if keyLen <= inlineKey {
		return perKeyBytes
	}
	return perKeyBytes + int64(keyLen)
}

func (sh *Shard) storeBlob(v []byte) uint32 {
	sh.addBytes(int64(len(v)))
	c := append([]byte(nil), v...)
	if n := len(sh.freeBlob); n > 0 {
		i := sh.freeBlob[n-1]
		sh.freeBlob = sh.freeBlob[:n-1]
		sh.blobs[i] = c
		return i
	}
	sh.blobs = append(sh.blobs, c)
	return uint32(len(sh.blobs) - 1)
}

func (sh *Shard) freeBlobAt(i uint32) {
	sh.addBytes(-int64(len(sh.blobs[i])))
	sh.blobs[i] = nil
	sh.freeBlob = append(sh.freeBlob, i)
}

// releaseValue frees the side storage of a record's value.
func (sh *Shard) releaseValue(r *record) {
	switch r.kind {
	case KindString:
		sh.freeBlobAt(uint32(r.val))
	case KindSlidingLog:
		sh.addBytes(-8 * int64(len(sh.logs[r.val])))
		sh.logs[r.val] = nil
		sh.freeLog = append(sh.freeLog, uint32(r.val))
	case KindFixedWindow, KindSlidingWindow:
		sh.addBytes(-windowBytes)
		sh.wins[r.val] = WindowState{}
		sh.freeWin = append(sh.freeWin, uint32(r.val))
	case KindZset:
		sh.addBytes(-sh.zsets[r.val].accounted)
		sh.zsets[r.val] = nil
		sh.freeZset = append(sh.freeZset, uint32(r.val))
	case KindList:
		sh.addBytes(-sh.lists[r.val].accounted)
		sh.lists[r.val] = nil
		sh.freeList = append(sh.freeList, uint32(r.val))
	case KindHash:
		sh.addBytes(-sh.hmaps[r.val].l.accounted)
		sh.hmaps[r.val] = nil
		sh.freeHmap = append(sh.freeHmap, uint32(r.val))
	}
}

func (sh *Shard) storeWindow(w WindowState) int64 {
	sh.addBytes(windowBytes)
	if n := len(sh.freeWin); n > 0 {
		i := sh.freeWin[n-1]
		sh.freeWin = sh.freeWin[:n-1]
		sh.wins[i] = w
		return int64(i)
	}
	sh.wins = append(sh.wins, w)
	return int64(len(sh.wins) - 1)
}

// putWindow writes a window state for key. r is key's live record of the
// same kind, updated in place (no allocation), or nil to create one.
func (sh *Shard) putWindow(h uint64, key []byte, r *record, kind Kind, w WindowState, nowMs int64) {
	if r == nil {
		r = sh.upsert(h, key, nowMs)
		sh.setKind(r, kind)
		r.val = sh.storeWindow(w)
	} else {
		sh.wins[r.val] = w
	}
	sh.setExpiry(r, w.EmptyAtMs)
}

func (sh *Shard) storeLog(log []int64) int64 {
	sh.addBytes(8 * int64(len(log)))
	if n := len(sh.freeLog); n > 0 {
		i := sh.freeLog[n-1]
		sh.freeLog = sh.freeLog[:n-1]
		sh.logs[i] = log
		return int64(i)
	}
	sh.logs = append(sh.logs, log)
	return int64(len(sh.logs) - 1)
}

func (sh *Shard) entryOf(r *record) Entry {
	e := Entry{Kind: r.kind, Int: r.val, ExpireMs: r.expireMs}
	switch r.kind {
	case KindString:
		e.Bytes = sh.blobs[r.val]
		e.Int = 0
	case KindSlidingLog:
		e.Log = sh.logs[r.val]
		e.Int = 0
	case KindFixedWindow, KindSlidingWindow:
		e.Window = sh.wins[r.val]
		e.Int = 0
	case KindZset:
		e.Zset = sh.zsets[r.val]
		e.Int = 0
	case KindList:
		e.List = sh.lists[r.val]
		e.Int = 0
	case KindHash:
		e.Hmap = sh.hmaps[r.val]
		e.Int = 0
	}
	return e
}

// Get returns key's entry at nowMs.
func (sh *Shard) Get(h uint64, key []byte, nowMs int64) (Entry, bool) {
	r, ok := sh.find(h, key, nowMs)
	if !ok {
		return Entry{}, false
	}
	return sh.entryOf(r), true
}

// upsert returns key's live record, creating an empty one if needed. A
// string value being replaced is released.
func (sh *Shard) upsert(h uint64, key []byte, nowMs int64) *record {
	pos, idx, ok := sh.lookup(h, key)
	if ok {
		r := sh.rec(idx)
		sh.releaseValue(r)
		sh.setKind(r, KindNone)
		r.val = 0
		return r
	}
	return sh.insert(h, key, pos)
}

// SetString stores a string value with an absolute expiry (0 = none).
func (sh *Shard) SetString(h uint64, key, val []byte, expireMs, nowMs int64) {
	r := sh.upsert(h, key, nowMs)
	sh.setKind(r, KindString)
	r.val = int64(sh.storeBlob(val))
	sh.setExpiry(r, expireMs)
}

// SetInt stores an integer state (KindGCRA) with an absolute expiry.
func (sh *Shard) SetInt(h uint64, key []byte, kind Kind, val, expireMs, nowMs int64) {
	r := sh.upsert(h, key, nowMs)
	sh.setKind(r, kind)
	r.val = val
	sh.setExpiry(r, expireMs)
}

// Restore writes a key exactly as a snapshot recorded it: its kind, state
// and absolute expiry. e.Bytes and e.Log are copied; e.Zset, e.List and
// e.Hmap are adopted (the caller must not use them afterwards), and an
// empty collection stores nothing.
func (sh *Shard) Restore(h uint64, key []byte, e Entry, nowMs int64) {
	if (e.Kind == KindZset && (e.Zset == nil || e.Zset.Len() == 0)) ||
		(e.Kind == KindList && (e.List == nil || e.List.Len() == 0)) ||
		(e.Kind == KindHash && (e.Hmap == nil || e.Hmap.Len() == 0)) {
		sh.Delete(h, key, nowMs)
		return
	}
	if e.Kind == KindSlidingLog {
		sh.putLog(h, key, append([]int64(nil), e.Log...), e.ExpireMs, nowMs)
		return
	}
	r := sh.upsert(h, key, nowMs)
	sh.setKind(r, e.Kind)
	r.val = e.Int
	sh.setExpiry(r, e.ExpireMs)
	switch e.Kind {
	case KindString:
		r.val = int64(sh.storeBlob(e.Bytes))
	case KindFixedWindow, KindSlidingWindow:
		r.val = sh.storeWindow(e.Window)
	case KindZset:
		r.val = sh.storeZset(e.Zset)
	case KindList:
		r.val = sh.storeList(e.List)
	case KindHash:
		r.val = sh.storeHmap(e.Hmap)
	}
}

// putLog stores log as key's sliding log, taking ownership of the slice.
func (sh *Shard) putLog(h uint64, key []byte, log []int64, expireMs, nowMs int64) {
	r := sh.upsert(h, key, nowMs)
	sh.setKind(r, KindSlidingLog)
	r.val = sh.storeLog(log)
	sh.setExpiry(r, expireMs)
}

// Delete removes key; it reports whether a live key was removed.
func (sh *Shard) Delete(h uint64, key []byte, nowMs int64) bool {
	pos, idx, ok := sh.lookup(h, key)
	if !ok {
		return false
	}
	r := sh.rec(idx)
	live := !expired(r, nowMs)
	sh.removeAt(pos, idx)
	return live
}

// SetExpire sets key's absolute expiry (0 = persist); an expiry at or
// before nowMs deletes the key, as EXPIRE does in Redis. It reports
// whether the key existed.
func (sh *Shard) SetExpire(h uint64, key []byte, expireMs, nowMs int64) bool {
	r, ok := sh.find(h, key, nowMs)
	if !ok {
		return false
	}
	if expireMs != 0 && expireMs <= nowMs {
		sh.Delete(h, key, nowMs)
		return true
	}
	sh.setExpiry(r, expireMs)
	return true
}

// Clear removes every key of the shard. The lock stays held.
func (sh *Shard) Clear() {
	sh.table = make([]uint64, 8)
	sh.count, sh.nrec, sh.keyWaste = 0, 0, 0
	sh.chunks, sh.freeRecs, sh.keys, sh.blobs, sh.freeBlob = nil, nil, nil, nil, nil
	sh.logs, sh.freeLog = nil, nil
	sh.wins, sh.freeWin = nil, nil
	sh.zsets, sh.freeZset = nil, nil
	sh.lists, sh.freeList, sh.hmaps, sh.freeHmap = nil, nil, nil, nil
	sh.addBytes(-sh.ownBytes)
	sh.expiring = 0
	sh.kinds = [NumKinds]int{}
}

// setKind changes r's kind, keeping the per-kind counts. It is the only
// place a record's kind is assigned (a test enforces it).
func (sh *Shard) setKind(r *record, k Kind) {
	sh.kinds[r.kind]--
	sh.kinds[k]++
	r.kind = k
}

// KindCounts returns how many of the shard's records hold each kind,
// expired ones not yet reclaimed included (as Len counts them).
func (sh *Shard) KindCounts() [NumKinds]int { return sh.kinds }

// setExpiry sets r's absolute expiry, keeping the count of records that
// have one.
func (sh *Shard) setExpiry(r *record, expireMs int64) {
	switch {
	case r.expireMs == 0 && expireMs != 0:
		sh.expiring++
	case r.expireMs != 0 && expireMs == 0:
		sh.expiring--
	}
	r.expireMs = expireMs
}

// Expiring returns how many of the shard's records have an expiry.
func (sh *Shard) Expiring() int { return sh.expiring }

// LimiterFound reports whether the shard's last limiter call (a Throttle
// or Peek method, SlidingLogGrows) found its key live, of whatever kind:
// the server counts keyspace hits and misses with it, at the cost of a
// store to a line the call has just written. Callers hold the lock and
// read it before another call on the shard.
func (sh *Shard) LimiterFound() bool { return sh.found }

// SampleTTL returns the summed time to live at nowMs, in ms, of up to n
// live records with an expiry, and how many it summed: every record when
// the shard has at most n, else n records drawn at random (with
// repetition), as Redis samples keys to estimate INFO keyspace's avg_ttl.
// Callers hold the lock.
func (sh *Shard) SampleTTL(nowMs int64, n int) (sumMs int64, count int) {
	add := func(r *record) {
		if r.kind != KindNone && r.expireMs != 0 && !expired(r, nowMs) {
			sumMs += r.expireMs - nowMs
			count++
		}
	}
	if int(sh.nrec) <= n {
		for i := range sh.nrec {
			add(sh.rec(i))
		}
		return sumMs, count
	}
	for range n {
		add(sh.rec(randomIndex(&sh.sweepRNG, sh.nrec)))
	}
	return sumMs, count
}

// Len returns the number of records in the shard, expired or not.
func (sh *Shard) Len() int { return sh.count }

// Keys yields the shard's live keys and entries at nowMs, in record order.
// The yielded slices alias store memory: copy them before unlocking, and do
// not modify the shard during the iteration.
func (sh *Shard) Keys(nowMs int64) iter.Seq2[[]byte, Entry] {
	return func(yield func([]byte, Entry) bool) {
		for i := uint32(0); i < sh.nrec; i++ {
			r := sh.rec(i)
			if r.kind == KindNone || expired(r, nowMs) {
				continue
			}
			if !yield(sh.keyOf(r), sh.entryOf(r)) {
				return
			}
		}
	}
}

// ScanFrom calls fn for live keys with record index >= from, stopping after
// examining limit records; it returns the next index (0 when the shard is
// done) and how many records it examined.
func (sh *Shard) ScanFrom(from uint32, limit int, nowMs int64, fn func(key []byte, e Entry)) (next uint32, examined int) {
	i := from
	for ; i < sh.nrec && examined < limit; i++ {
		examined++
		r := sh.rec(i)
		if r.kind == KindNone || expired(r, nowMs) {
			continue
		}
		fn(sh.keyOf(r), sh.entryOf(r))
	}
	if i >= sh.nrec {
		return 0, examined
	}
	return i, examined
}

// Sweep samples up to budget random records and reclaims those expired at
// nowMs, calling onExpire (if not nil) with each key before it is removed.
// It returns how many it removed. Random samples (as Redis's active expiry
// takes) estimate the expired fraction of the whole shard, so a caller can
// sample again while it is high; a cursor would trail behind the newest
// records and never reach the expired ones.
func (sh *Shard) Sweep(nowMs int64, budget int, onExpire func(key []byte)) int {
	removed := 0
	for ; budget > 0 && sh.nrec > 0; budget-- {
		i := randomIndex(&sh.sweepRNG, sh.nrec)
		r := sh.rec(i)
		if r.kind == KindNone || !expired(r, nowMs) {
			continue
		}
		key := sh.keyOf(r)
		if onExpire != nil {
			onExpire(key)
		}
		h := Hash(key)
		if pos, idx, ok := sh.lookup(h, key); ok && idx == i {
			sh.removeAt(pos, idx)
			removed++
		}
	}
	return removed
}
