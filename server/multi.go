package server

import (
	"github.com/rlserver/rlserver/engine"
	"github.com/tidwall/redcon"
)

func cmdMulti(s *Server, c *Client, args [][]byte, now int64) {
	if c.multi {
		c.out = appendError(c.out, "ERR MULTI calls can not be nested")
		return
	}
	c.multi = true
	c.queued, c.queuedSize, c.multiErr = c.queued[:0], 0, false
	c.txSlot = -1
	c.out = redcon.AppendOK(c.out)
}

func cmdDiscard(s *Server, c *Client, args [][]byte, now int64) {
	if !c.multi {
		c.out = appendError(c.out, "ERR DISCARD without MULTI")
		return
	}
	c.multi, c.queued, c.queuedSize, c.multiErr = false, nil, 0, false
	c.out = redcon.AppendOK(c.out)
}

// cmdExec runs the queued commands atomically with respect to the keys
// they touch: it acquires, as the client's lock set, every shard those
// keys live in (all shards if a command spans the keyspace), and runs the
// queue under it with one clock reading. Invalidations wait in c.inval
// until the set is released (call sends them).
func cmdExec(s *Server, c *Client, args [][]byte, now int64) {
	if !c.multi {
		c.out = appendError(c.out, "ERR EXEC without MULTI")
		return
	}
	queued, aborted := c.queued, c.multiErr
	c.multi, c.queued, c.queuedSize, c.multiErr = false, nil, 0, false
	if aborted {
		c.out = appendError(c.out, "EXECABORT Transaction discarded because of previous errors.")
		return
	}
	// A transaction that runs a script marks its shards as a script's.
	var run *scriptRun
	for _, q := range queued {
		if s.lookup(q[0]).flags&flagScript != 0 {
			run = s.newScriptRun(c)
			break
		}
	}
	acquired := true
	if all, idx := s.shardsFor(queued); all {
		acquired = s.acquireAll(c, run)
	} else if len(idx) > 0 {
		acquired = s.acquire(c, idx, run)
	}
	if !acquired {
		c.out = appendError(c.out, errBusy)
		return
	}
	c.scriptRun = run
	defer func() {
		c.scriptRun = nil
		if run != nil {
			run.finish()
		}
	}()
	if s.cl != nil && c.txSlot >= 0 {
		// Routed under the locks, like a single command (see elsewhere).
		if t := s.cl.router.Load(); !t.Local(uint16(c.txSlot)) {
			s.release(c)
			s.sendTxAway(c, t, uint16(c.txSlot), queued, now)
			return
		}
	}
	c.inExec, c.execBgsave = true, false
	defer func() {
		c.inExec = false
		s.release(c)
	}()
	c.out = redcon.AppendArray(c.out, len(queued))
	u := c.user.Load().User()
	for _, q := range queued {
		cmd := s.lookup(q[0])
		// Permissions are checked again: ACL SETUSER may have changed
		// them since the command was queued (Redis does the same). A
		// peer's forwarded transaction runs as the client's user.
		if msg, at := aclDenied(u, cmd, q); msg != "" {
			s.logACLDenied(c, cmd, q, at, aclCtxMulti)
			reason := "no permission to execute the command or subcommand"
			if at > 0 {
				reason = "no permission to touch the specified keys"
			}
			msg := "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: " + reason
			s.rejected(c, cmd, msg)
			c.out = appendError(c.out, msg)
			continue
		}
		s.call(c, cmd, q, now)
	}
}

// shardsFor returns the shard indexes a transaction needs, or all when a
// queued command spans the keyspace.
func (s *Server) shardsFor(queued [][][]byte) (all bool, idx []int) {
	for _, q := range queued {
		cmd := s.lookup(q[0])
		if cmd.flags&flagAllKeys != 0 {
			return true, nil
		}
		for _, k := range cmd.keys(q) {
			idx = append(idx, s.store.ShardIndex(engine.Hash(k)))
		}
	}
	return false, idx
}
