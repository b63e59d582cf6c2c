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
		sh := s.store.Shard(int(s.evictNext.Add(1)) % n)
		sh.Lock()
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

// admitKey is called by commands that may create key, with its shard
// locked: at maxmemory only existing keys may be written.
func (s *Server) admitKey(c *Client, sh *engine.Shard, h uint64, key []byte, now int64) bool {
	if !c.overLimit || sh.Exists(h, key, now/1e6) {
		return true
	}
	c.out = appendError(c.out, errOOM)
	return false
}
