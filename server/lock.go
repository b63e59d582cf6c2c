package server

import (
	"runtime"
	"slices"

	"github.com/rlserver/rlserver/engine"
)

// Shard locking: the contract every command follows.
//
// A command touches a shard only while its client holds that shard's lock.
// What a client holds is its lockSet, an explicit set of shard indexes
// acquired together in ascending index order, so two clients acquiring
// sets can never deadlock.
//
//   - The dispatcher (call) acquires, before a handler runs, the shards of
//     every key the command table names for it, and releases them after the
//     handler and the tracking bookkeeping. Commands with flagAllKeys are
//     not pre-locked outside a transaction: they visit the shards one at a
//     time (eachShard), so the keyspace is never stopped as a whole.
//   - EXEC acquires the shards of every key of every queued command (all of
//     them if one has flagAllKeys) and runs the queue under that one set;
//     the dispatcher sees the set is active and acquires nothing more.
//   - A script runtime does the same with the keys a script declares:
//     acquire their shards with acquire, run each command through call,
//     release. Commands inside see the active set.
//   - A script's command touching a key outside the set adds that key's
//     shard to the set for the rest of the script, under the same rule as
//     below (cmd_script.go's holdKeys); a script that declared no keys
//     takes every shard at its first command that touches a key.
//   - Handlers reach shards only through lockKey/unlock, withShard and
//     eachShard. A shard in the active set is used as is. A shard outside
//     it (a key the command table or the script did not declare) is locked
//     only when that cannot deadlock: when its index is above every index
//     held (ascending order is kept), or when TryLock gets it without
//     waiting. Otherwise the command is refused with errLockRefused (the
//     handler unwinds through a panic that guard turns into that reply),
//     never run unlocked. Such a lock is released by the matching unlock.

// errLockRefused is the reply to a command that needs a shard it may not
// wait for (see above). With correct key positions in the command table it
// is never seen; a script touching an undeclared key may see it.
const errLockRefused = "ERR command accesses a key outside the locked set (declare every key the command or script touches)"

// lockRefusal is the panic value that unwinds a handler refused a lock.
type lockRefusal struct{}

// busyRefusal unwinds a handler that needs a shard a busy script holds.
type busyRefusal struct{}

// lockSet is the set of shards one client holds. Its zero value holds
// nothing. Owner only.
type lockSet struct {
	idx   []int  // held shard indexes, ascending
	small [4]int // backing for idx: one command's keys need no allocation
	all   bool   // every shard is held (idx is then empty)
	// temp are shards a handler locked outside the set (lockShard), until
	// its unlock; they count for the ascending-order rule too.
	temp      []int
	tempSmall [2]int
	// Hash cache: the dispatcher hashes the first key to lock it; the
	// handler asking for the same key reuses the hash.
	lastKey  []byte
	lastHash uint64
	// run is the script the set was acquired for (its shards are marked
	// in Server.scriptHold), or nil.
	run *scriptRun
}

// active reports whether a set is held (a command, a transaction or a
// script is running under it).
func (ls *lockSet) active() bool { return ls.all || len(ls.idx) > 0 }

// holds reports whether shard i is in the set.
func (ls *lockSet) holds(i int) bool {
	if ls.all {
		return true
	}
	if len(ls.idx) <= 8 {
		for _, j := range ls.idx {
			if j == i {
				return true
			}
		}
		return false
	}
	_, ok := slices.BinarySearch(ls.idx, i)
	return ok
}

// top is the highest index held, -1 for none.
func (ls *lockSet) top(n int) int {
	if ls.all {
		return n - 1
	}
	t := -1
	if len(ls.idx) > 0 {
		t = ls.idx[len(ls.idx)-1]
	}
	for _, i := range ls.temp {
		t = max(t, i)
	}
	return t
}

// hash returns key's hash, reusing the dispatcher's for the same key.
func (ls *lockSet) hash(key []byte) uint64 {
	if len(key) > 0 && len(key) == len(ls.lastKey) && &key[0] == &ls.lastKey[0] {
		return ls.lastHash
	}
	return engine.Hash(key)
}

// acquire locks shards idx (any order, duplicates allowed) as c's set, in
// ascending order. The set must not be active. run is the script the set
// is for, or nil. It reports false, holding nothing, when a shard is held
// by another client's script that has run past the busy threshold.
func (s *Server) acquire(c *Client, idx []int, run *scriptRun) bool {
	ls := &c.locks
	if len(idx) == 1 {
		ls.idx = append(ls.small[:0], idx[0])
	} else {
		ls.idx = append(ls.small[:0], idx...)
		slices.Sort(ls.idx)
		ls.idx = slices.Compact(ls.idx)
	}
	for k, i := range ls.idx {
		if !s.lockWait(c, i, run) {
			ls.idx = ls.idx[:k]
			s.release(c)
			return false
		}
	}
	ls.run = run
	return true
}

// extend adds shard i to c's active set until it is released: waiting for
// it when i is above every shard c holds (the ascending order that keeps
// sets deadlock-free), else only when it is free at once. run is the
// script the set is for (the shard is marked as its). It returns the
// error to answer when it may not wait (errLockRefused) or a busy script
// holds the shard (errBusy), or "".
func (s *Server) extend(c *Client, i int, run *scriptRun) string {
	ls := &c.locks
	if i > ls.top(s.store.NumShards()) {
		if !s.lockWait(c, i, run) {
			return errBusy
		}
	} else {
		hold := &s.scriptHold[i]
		if run != nil && !hold.CompareAndSwap(nil, run) {
			return errLockRefused
		}
		if !s.store.Shard(i).TryLock() {
			if run != nil {
				hold.CompareAndSwap(run, nil)
			}
			return errLockRefused
		}
	}
	pos, _ := slices.BinarySearch(ls.idx, i)
	ls.idx = slices.Insert(ls.idx, pos, i)
	return ""
}

// acquireAll locks every shard as c's set; see acquire.
func (s *Server) acquireAll(c *Client, run *scriptRun) bool {
	for i := 0; i < s.store.NumShards(); i++ {
		if !s.lockWait(c, i, run) {
			for j := i - 1; j >= 0; j-- {
				s.unlockShard(j, run)
			}
			return false
		}
	}
	c.locks.all = true
	c.locks.run = run
	return true
}

// release unlocks c's set.
func (s *Server) release(c *Client) {
	ls := &c.locks
	if ls.all {
		for i := s.store.NumShards() - 1; i >= 0; i-- {
			s.unlockShard(i, ls.run)
		}
	}
	for k := len(ls.idx) - 1; k >= 0; k-- {
		s.unlockShard(ls.idx[k], ls.run)
	}
	ls.idx, ls.all, ls.lastKey, ls.run = nil, false, nil, nil
}

// unlockShard unlocks shard i, clearing the mark of run (if it is the
// script that held it).
func (s *Server) unlockShard(i int, run *scriptRun) {
	if run != nil {
		s.scriptHold[i].CompareAndSwap(run, nil)
	}
	s.store.Shard(i).Unlock()
}

// acquireKeys locks the shards of the keys cmd names in args; it does
// nothing for a command without key positions. See acquire.
func (s *Server) acquireKeys(c *Client, cmd *command, args [][]byte, run *scriptRun) bool {
	first, last, step := cmd.keyRange(args)
	if first == 0 {
		return true
	}
	h := engine.Hash(args[first])
	c.locks.lastKey, c.locks.lastHash = args[first], h
	if first == last && run == nil {
		i := s.store.ShardIndex(h)
		if !s.lockWait(c, i, nil) {
			c.locks.lastKey = nil
			return false
		}
		c.locks.idx = append(c.locks.small[:0], i)
		return true
	}
	var buf [8]int
	idx := buf[:0]
	for i := first; i <= last; i += step {
		idx = append(idx, s.store.ShardIndex(engine.Hash(args[i])))
	}
	return s.acquire(c, idx, run)
}

// lockWait locks shard i for c, which is acquiring in ascending order.
//
// Scripts can hold shards for long, so a script marks each shard in
// scriptHold before it locks it (run != nil) and unmarks it when it
// unlocks. Anyone finding a shard marked by another client's script waits
// for that script to end, or gets false (the caller answers BUSY) once it
// has run past busy-reply-threshold; nobody blocks in Lock behind a
// marked shard, so a busy script never freezes a client (or an event loop)
// that needs its keys, and SCRIPT KILL can always be heard. Unmarked
// shards are held by commands and transactions, briefly: Lock is fine.
func (s *Server) lockWait(c *Client, i int, run *scriptRun) bool {
	sh := s.store.Shard(i)
	hold := &s.scriptHold[i]
	for spin := 0; ; spin++ {
		if r := hold.Load(); r != nil && r != run && r.c != c {
			if !r.await(s) {
				return false
			}
			continue
		}
		if run != nil {
			if hold.Load() != run && !hold.CompareAndSwap(nil, run) {
				continue
			}
			sh.Lock()
			return true
		}
		if sh.TryLock() {
			return true
		}
		if spin < 8 {
			runtime.Gosched()
			continue
		}
		sh.Lock()
		return true
	}
}

// lockShard gets shard i for a handler: held already (reported false: the
// matching unlock must leave it), or locked now under the rules above.
func (s *Server) lockShard(c *Client, i int) (locked bool) {
	ls := &c.locks
	if ls.holds(i) {
		return false
	}
	sh := s.store.Shard(i)
	if i <= ls.top(s.store.NumShards()) {
		if !sh.TryLock() {
			panic(lockRefusal{})
		}
	} else if !s.lockWait(c, i, nil) {
		panic(busyRefusal{})
	}
	if ls.temp == nil {
		ls.temp = ls.tempSmall[:0]
	}
	ls.temp = append(ls.temp, i)
	return true
}

// unlockTemp releases shard i that lockShard locked.
func (s *Server) unlockTemp(c *Client, i int) {
	ls := &c.locks
	for k, j := range ls.temp {
		if j == i {
			ls.temp = append(ls.temp[:k], ls.temp[k+1:]...)
			break
		}
	}
	s.store.Shard(i).Unlock()
}

// lockKey returns the shard that holds key, locked (or held by c's set),
// and key's hash. Pair it with a deferred unlock.
func (s *Server) lockKey(c *Client, key []byte) (*engine.Shard, uint64) {
	h := c.locks.hash(key)
	i := s.store.ShardIndex(h)
	sh := s.store.Shard(i)
	if !c.locks.holds(i) {
		s.lockShard(c, i)
	}
	return sh, h
}

// unlock releases a shard lockKey locked; a shard of c's set stays held.
func (s *Server) unlock(c *Client, sh *engine.Shard) {
	for _, i := range c.locks.temp {
		if s.store.Shard(i) == sh {
			s.unlockTemp(c, i)
			return
		}
	}
}

// withShard runs fn with shard i locked (or held).
func (s *Server) withShard(c *Client, i int, fn func(sh *engine.Shard)) {
	if s.lockShard(c, i) {
		defer s.unlockTemp(c, i)
	}
	fn(s.store.Shard(i))
}

// eachShard runs fn on every shard with its lock held, one at a time
// unless c's set holds them.
func (s *Server) eachShard(c *Client, fn func(i int, sh *engine.Shard)) {
	for i := 0; i < s.store.NumShards(); i++ {
		s.withShard(c, i, func(sh *engine.Shard) { fn(i, sh) })
	}
}

// lockKeys makes sure the shards of keys (every step-th argument from
// first) are held, for a handler that works on several keys at once. The
// dispatcher has normally acquired them already (the command table names
// them); any it has not are locked under the rules above. The returned
// function releases what lockKeys locked.
func (s *Server) lockKeys(c *Client, args [][]byte, first, step int) func() {
	var temp []int
	for i := first; i < len(args); i += step {
		idx := s.store.ShardIndex(c.locks.hash(args[i]))
		if !c.locks.holds(idx) && !slices.Contains(temp, idx) && s.lockShard(c, idx) {
			temp = append(temp, idx)
		}
	}
	if len(temp) == 0 {
		return func() {}
	}
	return func() {
		for _, i := range temp {
			s.unlockTemp(c, i)
		}
	}
}
