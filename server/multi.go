package server

import (
	"slices"

	"github.com/rlserver/rlserver/engine"
	"github.com/tidwall/redcon"
)

func cmdMulti(s *Server, c *Client, args [][]byte, now int64) {
	if c.multi {
		c.out = appendError(c.out, "ERR MULTI calls can not be nested")
		return
	}
	c.multi = true
	c.queued = c.queued[:0]
	c.multiErr = false
	c.out = redcon.AppendOK(c.out)
}

func cmdDiscard(s *Server, c *Client, args [][]byte, now int64) {
	if !c.multi {
		c.out = appendError(c.out, "ERR DISCARD without MULTI")
		return
	}
	c.multi, c.queued, c.multiErr = false, nil, false
	c.out = redcon.AppendOK(c.out)
}

// cmdExec runs the queued commands atomically with respect to the keys
// they touch: it locks every shard those keys live in (all shards if a
// command spans the keyspace), in index order so transactions cannot
// deadlock, and runs them with one clock reading.
func cmdExec(s *Server, c *Client, args [][]byte, now int64) {
	if !c.multi {
		c.out = appendError(c.out, "ERR EXEC without MULTI")
		return
	}
	queued, aborted := c.queued, c.multiErr
	c.multi, c.queued, c.multiErr = false, nil, false
	if aborted {
		c.out = appendError(c.out, "EXECABORT Transaction discarded because of previous errors.")
		return
	}
	shards := s.shardsFor(queued)
	for _, i := range shards {
		s.store.Shard(i).Lock()
	}
	c.inExec = true
	defer func() {
		c.inExec = false
		for _, i := range shards {
			s.store.Shard(i).Unlock()
		}
		for _, k := range c.execWrites {
			s.tracking.invalidate(k, c)
		}
		c.execWrites = nil
	}()
	c.out = redcon.AppendArray(c.out, len(queued))
	for _, q := range queued {
		s.call(c, s.lookup(q[0]), q, now)
	}
}

// shardsFor returns the sorted shard indexes a transaction needs.
func (s *Server) shardsFor(queued [][][]byte) []int {
	var idx []int
	for _, q := range queued {
		cmd := s.lookup(q[0])
		if cmd.flags&flagAllKeys != 0 {
			idx = idx[:0]
			for i := 0; i < s.store.NumShards(); i++ {
				idx = append(idx, i)
			}
			return idx
		}
		for _, k := range cmd.keys(q) {
			idx = append(idx, s.store.ShardIndex(engine.Hash(k)))
		}
	}
	slices.Sort(idx)
	return slices.Compact(idx)
}
