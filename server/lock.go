package server

import "github.com/rlserver/rlserver/engine"

// lockKey locks the shard that holds key, unless EXEC already holds it.
// Pair it with a deferred unlock so a panicking handler releases the lock.
func (s *Server) lockKey(c *Client, key []byte) (*engine.Shard, uint64) {
	h := engine.Hash(key)
	sh := s.store.ShardOf(h)
	if !c.inExec {
		sh.Lock()
	}
	return sh, h
}

func (s *Server) unlock(c *Client, sh *engine.Shard) {
	if !c.inExec {
		sh.Unlock()
	}
}

// eachShard runs fn on every shard with its lock held, one at a time.
func (s *Server) eachShard(c *Client, fn func(i int, sh *engine.Shard)) {
	for i := 0; i < s.store.NumShards(); i++ {
		sh := s.store.Shard(i)
		s.withShard(c, sh, func() { fn(i, sh) })
	}
}

func (s *Server) withShard(c *Client, sh *engine.Shard, fn func()) {
	s.lockShard(c, sh)
	defer s.unlock(c, sh)
	fn()
}

func (s *Server) lockShard(c *Client, sh *engine.Shard) {
	if !c.inExec {
		sh.Lock()
	}
}
