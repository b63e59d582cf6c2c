package server

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/script"
	"github.com/tidwall/redcon"
)

// Scripting: EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT, over the
// script package.
//
// Atomicity: EVAL's declared keys are its key positions in the command
// table (movableKeys), so the dispatcher (or EXEC, for a script inside a
// transaction) acquires their shards as the client's lock set before the
// script starts, and every redis.call runs under that set. A key the
// script did not declare joins the set for the rest of the script when
// that cannot deadlock (see holdKeys), else the call fails with an error
// the script sees; it never runs unlocked. A script that declared no keys
// takes every shard at its first command touching a key. Declare every
// key, as Redis Cluster requires.
//
// Busy scripts: the set's shards are marked as the script's (lockWait).
// Other clients needing them wait, as they would behind any command, until
// the script has run for busy-reply-threshold; then they get -BUSY, and
// SCRIPT KILL can stop it unless it has written. On the epoll front the
// script runs on its event loop, so once busy it serves the loop's other
// connections from its instruction hook (serveNested), as Redis does.

const (
	errBusy       = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
	errNotBusy    = "NOTBUSY No scripts in execution right now."
	errUnkillable = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
)

// scriptRun is one script execution, from the moment its shards are
// marked until they are released.
type scriptRun struct {
	c      *Client
	busyAt int64 // clock reading past which others get BUSY
	wrote  atomic.Bool
	kill   script.Run

	mu   sync.Mutex
	done chan struct{} // made on demand by await; closed by finish
	over bool
}

func (s *Server) newScriptRun(c *Client) *scriptRun {
	return &scriptRun{c: c, busyAt: s.clock.Now() + s.cfg.BusyReplyThreshold}
}

// await waits until r ends (true: try again) or is busy (false: BUSY).
func (r *scriptRun) await(s *Server) bool {
	now := s.clock.Now()
	r.mu.Lock()
	if r.over {
		r.mu.Unlock()
		return true
	}
	if now >= r.busyAt {
		r.mu.Unlock()
		return false
	}
	if r.done == nil {
		r.done = make(chan struct{})
	}
	done := r.done
	r.mu.Unlock()
	t := time.NewTimer(time.Duration(r.busyAt - now))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.over
	}
}

// finish wakes whoever waits for r; its shards are released.
func (r *scriptRun) finish() {
	r.mu.Lock()
	r.over = true
	if r.done != nil {
		close(r.done)
	}
	r.mu.Unlock()
}

// evalKeys is EVAL's key positions: numkeys keys after the numkeys argument.
func evalKeys(args [][]byte) (first, last, step int) {
	if len(args) < 3 {
		return 0, -1, 1
	}
	n, ok := parseRedisInt(args[2])
	if !ok || n <= 0 || n > int64(len(args)-3) {
		return 0, -1, 1
	}
	return 3, 2 + int(n), 1
}

// evalCommand is EVAL (bySHA false) and EVALSHA, and their _RO variants.
func evalCommand(bySHA, readOnly bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		if bySHA && len(args[1]) != 40 {
			// Redis answers a SHA of the wrong length before it reads
			// numkeys.
			c.out = appendError(c.out, "NOSCRIPT No matching script. Please use EVAL.")
			return
		}
		n, ok := parseRedisInt(args[2])
		switch {
		case !ok:
			c.out = appendError(c.out, errNotInteger)
			return
		case n < 0:
			c.out = appendError(c.out, "ERR Number of keys can't be negative")
			return
		case n > int64(len(args)-3):
			c.out = appendError(c.out, "ERR Number of keys can't be greater than number of args")
			return
		}
		if nestedServing(c) {
			// A connection served while another script is busy.
			c.out = appendError(c.out, errBusy)
			return
		}
		run := c.scriptRun
		if run == nil {
			// No keys: nothing was acquired for it.
			run = s.newScriptRun(c)
			defer run.finish()
		}
		c.running.Store(run)
		defer c.running.Store(nil)
		wasExec := c.inExec
		c.inExec = c.locks.active()
		defer func() { c.inExec = wasExec }()

		h := &c.script
		h.s, h.c, h.now, h.readOnly, h.run = s, c, now, readOnly, run
		req := &h.req
		*req = script.Request{Keys: args[3 : 3+n], Args: args[3+n:], Resp: c.resp, ReadOnly: readOnly, Host: h, Run: &run.kill}
		if bySHA {
			req.SHA = args[1]
		} else {
			req.Body = args[1]
		}
		c.out = s.scripts.Eval(req, c.out)
		*req = script.Request{}
		h.c, h.run = nil, nil
	}
}

// scriptHost is what a running script calls back into. It lives in the
// Client so that running a script allocates no host.
type scriptHost struct {
	s        *Server
	c        *Client
	now      int64
	readOnly bool
	run      *scriptRun
	req      script.Request
}

// Call runs one redis.call through the dispatcher's checks and call, with
// the script's protocol and reply buffer swapped into the client.
func (h *scriptHost) Call(args [][]byte, resp int, out []byte) []byte {
	s, c := h.s, h.c
	cmd := s.lookup(args[0])
	switch {
	case cmd == nil || cmd.group == "internal":
		return append(out, "-ERR Unknown Redis command called from script\r\n"...)
	case (cmd.arity > 0 && len(args) != cmd.arity) || (cmd.arity < 0 && len(args) < -cmd.arity):
		return append(out, "-ERR Wrong number of args calling Redis command from script\r\n"...)
	case cmd.flags&flagNoScript != 0:
		return append(out, "-ERR This Redis command is not allowed from script\r\n"...)
	}
	// The dispatcher's ACL check, in the words Redis uses inside scripts,
	// and before the read-only check as in Redis.
	if msg, at := aclDenied(c.user.Load().User(), cmd, args); msg != "" {
		s.logACLDenied(c, cmd, args, at, aclCtxLua)
		if at == 0 {
			return append(out, "-"+errScriptNoPermCmd+"\r\n"...)
		}
		return append(out, "-"+errScriptNoPermKey+"\r\n"...)
	}
	if cmd.flags&flagWrite != 0 && h.readOnly {
		return append(out, "-ERR Write commands are not allowed from read-only scripts.\r\n"...)
	}
	first, last, step := cmd.keyRange(args)
	for i := first; first > 0 && i <= last; i += step {
		if len(args[i]) > s.cfg.MaxKeyBytes {
			return appendError(out, errKeyTooLarge)
		}
	}
	if first > 0 {
		if msg := h.holdKeys(args, first, last, step); msg != "" {
			return appendError(out, msg)
		}
	}
	if cmd.flags&flagWrite != 0 {
		h.run.wrote.Store(true)
	}
	// Keys expire as of the script's start, as in Redis; TIME is real.
	now := h.now
	if cmd.name == "time" {
		now = s.clock.Now()
	}
	saved, savedResp := c.out, c.resp
	c.out, c.resp = out, resp
	s.call(c, cmd, args, now)
	// args die with this call: their memory may hold another key next.
	c.locks.lastKey = nil
	out = c.out
	c.out, c.resp = saved, savedResp
	return out
}

// holdKeys makes the script's lock set cover the shards of the keys a
// command is about to touch and keeps them until the script ends, so that
// a script is atomic as in Redis also on keys it did not declare:
//
//   - A script that declared no keys holds nothing. At its first command
//     that touches a key it takes every shard (ascending order; it holds
//     nothing, so waiting cannot deadlock): such a script may touch any key,
//     and only the whole keyspace makes it atomic, as Redis runs every
//     script. A script that only computes, or calls TIME, takes nothing.
//   - A script holding its declared keys' shards adds the shard of an
//     undeclared key: waiting for it when its index is above every shard
//     held (ascending order still), else only if it is free at once;
//     otherwise the command is refused with errLockRefused before it runs.
//
// It returns the error to answer, or "".
func (h *scriptHost) holdKeys(args [][]byte, first, last, step int) string {
	s, c := h.s, h.c
	ls := &c.locks
	if ls.all {
		return ""
	}
	if !ls.active() {
		if !s.acquireAll(c, h.run) {
			return errBusy
		}
		// Nested commands must not evict: eviction locks shards.
		c.inExec = true
		return ""
	}
	for i := first; i <= last; i += step {
		hash := engine.Hash(args[i])
		if i == first {
			// The handler's lockKey reuses it (Call forgets it after).
			ls.lastKey, ls.lastHash = args[i], hash
		}
		idx := s.store.ShardIndex(hash)
		if ls.holds(idx) {
			continue
		}
		if msg := s.extend(c, idx, h.run); msg != "" {
			return msg
		}
	}
	return ""
}

// Redis 7.0.15's words for an ACL denial inside a script.
const (
	errScriptNoPermCmd = "ERR The user executing the script can't run this command or subcommand"
	errScriptNoPermKey = "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
)

// ACLCheck is redis.acl_check_cmd: the dispatcher's ACL check without
// running the command. A subcommand the command does not have is unknown,
// as in Redis; so is a name rlserver does not serve. A user limited to
// some keys is refused a command whose key positions args do not reach
// (Redis refuses it too: it cannot tell which keys would be touched).
func (h *scriptHost) ACLCheck(args [][]byte) (allowed, known bool) {
	cmd := h.s.lookup(args[0])
	if cmd == nil || cmd.group == "internal" || cmd.subNames != nil && len(args) >= 2 && cmd.subName(args) == nil {
		return false, false
	}
	u := h.c.user.Load().User()
	if !u.AllKeys() && cmd.movableKeys == nil && cmd.firstKey > 0 && cmd.firstKey >= len(args) {
		return false, true
	}
	msg, _ := aclDenied(u, cmd, args)
	return msg == "", true
}

// Tick runs every few thousand instructions: once the script is busy, the
// event loop it runs on serves its other connections from here.
func (h *scriptHost) Tick() {
	if h.s.clock.Now() < h.run.busyAt {
		return
	}
	serveOthers(h.c)
}

func (s *Server) scriptLog(level int, msg string) {
	lv := slog.LevelDebug
	switch level {
	case script.LogNotice:
		lv = slog.LevelInfo
	case script.LogWarning:
		lv = slog.LevelWarn
	}
	s.log.Log(nil, lv, msg, "source", "script")
}

var scriptHelp = []string{
	"SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"DEBUG (YES|SYNC|NO)",
	"    Set the debug mode for subsequent scripts executed.",
	"EXISTS <sha1> [<sha1> ...]",
	"    Return information about the existence of the scripts in the script cache.",
	"FLUSH [ASYNC|SYNC]",
	"    Flush the Lua scripts cache. Very dangerous on replicas.",
	"    When called without the optional mode argument, the behavior is determined by the",
	"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
	"    * ASYNC: Asynchronously flush the scripts cache.",
	"    * SYNC: Synchronously flush the scripts cache.",
	"KILL",
	"    Kill the currently executing Lua script.",
	"LOAD <script>",
	"    Load a script into the scripts cache without executing it.",
	"HELP",
	"    Prints this help.",
}

func cmdScript(s *Server, c *Client, args [][]byte, now int64) {
	sub := args[1]
	wrongArgs := func(name string) {
		c.out = appendError(c.out, "ERR wrong number of arguments for 'script|"+name+"' command")
	}
	switch {
	case eqFold(sub, "load"):
		if len(args) != 3 {
			wrongArgs("load")
			return
		}
		sha, err := s.scripts.Load(args[2])
		if err != nil {
			c.out = appendError(c.out, err.Error())
			return
		}
		c.out = redcon.AppendBulkString(c.out, sha)
	case eqFold(sub, "exists"):
		if len(args) < 3 {
			wrongArgs("exists")
			return
		}
		c.out = redcon.AppendArray(c.out, len(args)-2)
		for _, h := range args[2:] {
			if s.scripts.Exists(h) {
				c.out = redcon.AppendInt(c.out, 1)
			} else {
				c.out = redcon.AppendInt(c.out, 0)
			}
		}
	case eqFold(sub, "flush"):
		if len(args) > 3 {
			wrongArgs("flush")
			return
		}
		if len(args) == 3 && !eqFold(args[2], "sync") && !eqFold(args[2], "async") {
			c.out = appendError(c.out, "ERR SCRIPT FLUSH only support SYNC|ASYNC option")
			return
		}
		s.scripts.Flush()
		c.out = redcon.AppendOK(c.out)
	case eqFold(sub, "kill"):
		if len(args) != 2 {
			wrongArgs("kill")
			return
		}
		c.out = s.killScripts(c, c.out)
	case eqFold(sub, "help"):
		if len(args) != 2 {
			wrongArgs("help")
			return
		}
		c.out = redcon.AppendArray(c.out, len(scriptHelp))
		for _, line := range scriptHelp {
			c.out = redcon.AppendString(c.out, line)
		}
	case eqFold(sub, "debug"):
		c.out = appendError(c.out, "ERR SCRIPT DEBUG is not supported by rlserver")
	default:
		c.out = appendError(c.out, unknownSubcommand(sub, "SCRIPT"))
	}
}

// killScripts is SCRIPT KILL: it stops every script of another client
// that has not written; if every running script has written, UNKILLABLE.
func (s *Server) killScripts(c *Client, out []byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	running, killed := 0, 0
	for _, other := range s.clients {
		r := other.running.Load()
		if r == nil || other == c {
			continue
		}
		running++
		if r.wrote.Load() {
			continue
		}
		r.kill.Kill()
		killed++
	}
	switch {
	case running == 0:
		return appendError(out, errNotBusy)
	case killed == 0:
		return appendError(out, errUnkillable)
	}
	return redcon.AppendOK(out)
}
