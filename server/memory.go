package server

import (
	"github.com/rlserver/rlserver/engine"
)

const errOOM = "OOM command not allowed when used memory > 'maxmemory'."

// memoryFull reports whether the store is at maxmemory once the policy has
// done what it can. Under volatile-ttl it first evicts keys nearest to
// expiry, a bounded number per command, taking one shard lock at a time
// (never inside EXEC, which holds its own locks).
func (s *Server) memoryFull(c *Client) bool {
	limit := s.cfg.MaxMemory
	if limit == 0 || s.store.Bytes() <= limit {
		return false
	}
	if s.cfg.MaxMemoryPolicy != "volatile-ttl" || c.inExec {
		return true
	}
	var gone [][]byte // invalidated after the shard is unlocked
	var onEvict func([]byte)
	if s.tracking.active() {
		onEvict = func(k []byte) { gone = append(gone, append([]byte(nil), k...)) }
	}
	n := s.store.NumShards()
	misses := 0
	for evicted := 0; evicted < 1024 && s.store.Bytes() > limit && misses < n; {
		i := int(s.evictNext.Add(1)) % n
		sh := s.store.Shard(i)
		if s.scriptHold[i].Load() != nil || !sh.TryLock() {
			// A script (perhaps this very goroutine's) holds it: another.
			misses++
			continue
		}
		ok := sh.EvictSoonest(16, onEvict)
		sh.Unlock()
		for _, k := range gone {
			s.tracking.invalidateKey(k)
		}
		gone = gone[:0]
		if ok {
			evicted++
			misses = 0
			s.stats.evictedKeys.Add(1)
		} else {
			misses++
		}
	}
	return s.store.Bytes() > limit
}

// What a command flagged flagDenyOOM may do while the store is over
// maxmemory (c.overLimit, set before it runs), as Redis decides per command:
// nothing that can grow memory. Writes that replace a value wholesale (SET)
// are refused outright, before their arguments are parsed, as Redis does.
// Limiter updates of a key that exists are made in place and never grow
// (GCRA's TAT, FW/SW's counts), so they keep working and a full server keeps
// enforcing the limits it has; a sliding log may only stay as long as it is
// (entries leaving the window make room for new ones).

// refuseOOM answers OOM and reports true when the store is over maxmemory.
func (s *Server) refuseOOM(c *Client) bool {
	if !c.overLimit {
		return false
	}
	c.out = appendError(c.out, errOOM)
	return true
}

// admitKey is called by limiter commands that may create key, with its
// shard locked: over maxmemory only existing keys may be written.
func (s *Server) admitKey(c *Client, sh *engine.Shard, h uint64, key []byte, now int64) bool {
	if !c.overLimit || sh.Exists(h, key, now/1e6) {
		return true
	}
	c.out = appendError(c.out, errOOM)
	return false
}

// admitLogGrowth is admitKey for SWLOG: over maxmemory a call that would
// lengthen key's log is refused.
func (s *Server) admitLogGrowth(c *Client, sh *engine.Shard, h uint64, key []byte, p engine.WindowParams, now int64) bool {
	if !c.overLimit || !sh.SlidingLogGrows(h, key, p, now) {
		return true
	}
	c.out = appendError(c.out, errOOM)
	return false
}
