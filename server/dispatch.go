package server

import (
	"bytes"
	"strings"

	"github.com/rlserver/rlserver/acl"
	"github.com/rlserver/rlserver/engine"
)

type cmdFlags uint16

const (
	flagWrite       cmdFlags = 1 << iota // modifies keys: invalidates tracked keys
	flagReadOnly                         // reads keys: tracked for CLIENT TRACKING
	flagNoAuth                           // allowed before AUTH
	flagNoMulti                          // refused inside MULTI (Redis's no-multi: SAVE, SHUTDOWN)
	flagTxControl                        // runs at once inside MULTI (MULTI, EXEC, DISCARD, QUIT)
	flagAllKeys                          // touches every shard (FLUSHALL, SCAN, ...)
	flagAdmin                            // server-level command
	flagDenyOOM                          // may create a key: refused at maxmemory
	flagKeepCaching                      // CLIENT CACHING carries over it (CLIENT, MULTI)
	flagDangerous                        // in ACL category @dangerous (as the admin commands are)
	flagLimiter                          // a limiter check: its reply's first integer is 1 when limited (metrics)
	flagNoScript                         // refused inside a script (Redis's noscript)
	flagScript                           // runs a script: its key shards are marked (EVAL family)
	flagNoSlowlog                        // never in SLOWLOG (its arguments may hold secrets)
)

type handler func(s *Server, c *Client, args [][]byte, now int64)

// command is one row of the command table, shaped like Redis's own: arity
// (positive = exactly N including the name, negative = at least N) and key
// positions (first, last, step; last -1 = through the end).
type command struct {
	id       int // index in Server.cmdList and in the stat shards
	name     string
	arity    int
	flags    cmdFlags
	firstKey int
	lastKey  int
	step     int
	group    string
	summary  string
	run      handler
	// movableKeys, when set, finds the keys of commands whose key
	// positions depend on an argument (EVAL's numkeys); it returns first
	// 0 when there are none or the arguments are malformed.
	movableKeys func(args [][]byte) (first, last, step int)
	// subs are the subcommands, for the names CLIENT LIST shows
	// ("client|list"); subNames maps each to that name.
	subs     []string
	subNames map[string]*string
	// aclID is the command's bit in ACL users' permission sets, and
	// subACL each subcommand's, set once when the server builds its ACL
	// catalog (newACLCatalog).
	aclID  int
	subACL map[string]int
	// keyAccess is what the command needs of its keys (see keyAccess).
	keyAccess acl.Access
}

// subName returns "name|sub" for a known subcommand in args, else nil.
func (cmd *command) subName(args [][]byte) *string {
	if cmd.subNames == nil || len(args) < 2 || len(args[1]) > 32 {
		return nil
	}
	var buf [32]byte
	for i, ch := range args[1] {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return cmd.subNames[string(buf[:len(args[1])])]
}

// keys returns the key arguments of args according to the table.
func (cmd *command) keys(args [][]byte) [][]byte {
	first, last, step := cmd.keyRange(args)
	var ks [][]byte
	for i := first; first > 0 && i <= last; i += step {
		ks = append(ks, args[i])
	}
	return ks
}

// keyRange returns the key positions in args; first is 0 when there are
// none. It is the one place key positions are decided: locking, EXEC,
// tracking and cluster routing all go through it.
func (cmd *command) keyRange(args [][]byte) (first, last, step int) {
	if cmd.movableKeys != nil {
		return cmd.movableKeys(args)
	}
	n := len(args)
	if cmd.firstKey == 0 || cmd.firstKey >= n {
		return 0, -1, 1
	}
	last = cmd.lastKey
	if last < 0 {
		last = n + last
	}
	if last >= n {
		last = n - 1
	}
	return cmd.firstKey, last, cmd.step
}

// lookup finds a command by name without allocating: the name is folded to
// lower case in a stack buffer and the map index uses it directly.
func (s *Server) lookup(name []byte) *command {
	var buf [32]byte
	if len(name) > len(buf) {
		return nil
	}
	for i, ch := range name {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	return s.cmds[string(buf[:len(name)])]
}

// visible reports whether c may see cmd: the commands cluster peers send
// one another exist only on a connection that presented the peer token
// (RL.PEER itself, which presents it, only on a cluster node). For other
// clients they are unknown commands, in and out of MULTI and scripts,
// so an ordinary client can neither run them nor learn how it is refused.
func (s *Server) visible(c *Client, cmd *command) bool {
	return cmd.group != "internal" || c.peer || (s.cl != nil && cmd.name == "rl.peer")
}

// execute runs one command and appends its reply to c.out: the checks
// every command shares (lookup, authentication, arity, key sizes), then
// queueing inside MULTI or running it through call.
func (s *Server) execute(c *Client, args [][]byte) { s.executeAt(c, args, 0) }

// executeAt is execute at a given instant (a forwarded command's); 0 reads
// the clock.
func (s *Server) executeAt(c *Client, args [][]byte, now int64) {
	cmd := s.lookup(args[0])
	if cmd == nil || !s.visible(c, cmd) {
		s.reject(c, nil, unknownCommand(args))
		return
	}
	if (cmd.arity > 0 && len(args) != cmd.arity) || (cmd.arity < 0 && len(args) < -cmd.arity) {
		s.reject(c, cmd, "ERR wrong number of arguments for '"+cmd.name+"' command")
		return
	}
	if !c.authed && cmd.flags&flagNoAuth == 0 {
		s.reject(c, cmd, errNoAuth)
		return
	}
	first, last, step := cmd.keyRange(args)
	for i := first; first > 0 && i <= last; i += step {
		if len(args[i]) > s.cfg.MaxKeyBytes {
			s.reject(c, cmd, errKeyTooLarge)
			return
		}
	}
	if c.multi && cmd.flags&(flagTxControl|flagNoMulti) == flagNoMulti {
		s.reject(c, cmd, "ERR Command not allowed inside a transaction")
		return
	}
	// A peer's forwarded command runs as the user of the client who sent
	// it (RL.FWD carries the name) and is checked again here, against
	// this node's rules for that user; internal commands check their own
	// token.
	if cmd.group != "internal" {
		if msg, at := aclDenied(c.user.Load().User(), cmd, args); msg != "" {
			// The client's last command is the denied one, as in Redis
			// (CLIENT LIST and the log's client-info name it).
			c.lastName.Store(cmd)
			c.lastSub.Store(cmd.subName(args))
			s.logACLDenied(c, cmd, args, at, aclContext(c))
			s.reject(c, cmd, msg)
			return
		}
	}
	if c.multi && cmd.flags&flagTxControl == 0 {
		if s.cl != nil && !s.sameTxSlot(c, cmd, args) {
			s.reject(c, cmd, errCrossSlot)
			return
		}
		s.queue(c, cmd, args)
		return
	}
	if now == 0 {
		now = c.clockNow(s)
	}
	c.lastName.Store(cmd)
	c.lastSub.Store(cmd.subName(args))
	c.lastCmd.Store(now)
	s.call(c, cmd, args, now)
}

// reject answers a command refused before it ran (cmd is nil for an
// unknown command); inside MULTI the transaction is then aborted at EXEC,
// as in Redis. A refused EXEC itself discards the transaction and says
// why, in Redis's words.
func (s *Server) reject(c *Client, cmd *command, msg string) {
	if cmd != nil && cmd.name == "exec" {
		c.multi, c.queued, c.queuedSize, c.multiErr = false, nil, 0, false
		msg = "EXECABORT Transaction discarded because of: " + strings.TrimPrefix(msg, "ERR ")
	} else if c.multi {
		c.multiErr = true
	}
	s.rejected(c, cmd, msg)
	c.out = appendError(c.out, msg)
}

// queue adds a command to the MULTI queue. The queue is bounded by
// client-query-buffer-limit: its arguments and argOverhead for each, and
// as many again for each command; past it the command is refused and the
// transaction aborted, so a client cannot grow memory through MULTI.
func (s *Server) queue(c *Client, cmd *command, args [][]byte) {
	size := argOverhead * (len(args) + 2)
	for _, a := range args {
		size += len(a)
	}
	if c.queuedSize+size > s.cfg.MaxQueryBytes {
		s.reject(c, nil, errMultiFull)
		return
	}
	c.queuedSize += size
	c.queued = append(c.queued, copyArgs(args))
	c.out = append(c.out, "+QUEUED\r\n"...)
}

const errMultiFull = "ERR MULTI queue is full (client-query-buffer-limit); the transaction will be discarded"

// call runs a handler under the panic guard and the client's lock set, and
// does the bookkeeping every command shares: counting error replies,
// tracking the keys it read and invalidating those it wrote.
//
// An outermost call (no lock set active) acquires the shards of the
// command's keys first (see lock.go) and, once it has released them,
// sends the invalidations the command caused; a call nested in EXEC (or a
// script) runs under the set already held and leaves its invalidations in
// c.inval for the runner to send after releasing it.
func (s *Server) call(c *Client, cmd *command, args [][]byte, now int64) {
	start := len(c.out)
	outer := !c.locks.active()
	began := now // an outer call's now was read as it began
	if !outer {
		began = s.clock.Now() // nested in EXEC: now is EXEC's
	}
	// Eviction takes shard locks itself: it runs before any is held.
	c.overLimit = cmd.flags&flagDenyOOM != 0 && s.memoryFull(c)
	if cmd.flags&flagAdmin != 0 && nestedServing(c) && !(cmd.name == "shutdown" && len(args) == 2 && eqFold(args[1], "nosave")) {
		// Served from a busy script's loop: snapshots and the like would
		// wait for shards that loop itself holds.
		s.rejected(c, cmd, errBusy)
		c.out = appendError(c.out, errBusy)
		return
	}
	if outer {
		var run *scriptRun
		if cmd.flags&flagScript != 0 {
			run = s.newScriptRun(c)
		}
		if !s.acquireKeys(c, cmd, args, run) {
			s.rejected(c, cmd, errBusy)
			c.out = appendError(c.out, errBusy)
			return
		}
		if run != nil {
			c.scriptRun = run
			defer func() {
				c.scriptRun = nil
				run.finish()
			}()
		}
		if s.cl != nil && s.elsewhere(c, cmd, args, now) {
			return // forwarded, redirected or refused; the locks are released
		}
	}
	track := s.tracking.active()
	lenBefore := 0
	if track && cmd.flags&flagReadOnly != 0 {
		lenBefore = s.keyShardsLen(cmd, args)
	}
	func() {
		defer s.guard(c, start)
		cmd.run(s, c, args, now)
	}()
	for len(c.locks.temp) > 0 {
		s.unlockTemp(c, c.locks.temp[len(c.locks.temp)-1]) // a handler that panicked holding one
	}
	// The clock reading that ends this command starts the next one of
	// the batch (clockNow): timing costs no extra read.
	end := s.clock.Now()
	c.nextNow, c.hasNext = end, outer
	s.record(c, cmd, args, start, end-began)
	if cmd.flags&flagWrite != 0 && s.saver != nil {
		s.saver.Changed()
	}
	if s.cl != nil && s.cl.sink != nil && cmd.flags&flagWrite != 0 {
		s.cl.keysChanged(cmd, args, now) // the key shards are still held
	}
	first, last, step := cmd.keyRange(args)
	if track && cmd.flags&flagReadOnly != 0 {
		// A read that found its key expired removed it (lazy expiry):
		// that is a change the other readers must hear of.
		if s.keyShardsLen(cmd, args) < lenBefore {
			for i := first; first > 0 && i <= last; i += step {
				h := c.locks.hash(args[i])
				if !s.store.ShardOf(h).Exists(h, args[i], now/1e6) {
					c.inval.add(args[i])
				}
			}
		}
		// Remembered under the shard locks, so that no write can slip
		// between the read and the remembering unseen.
		if c.track.on && c.track.wantsRead() {
			for i := first; first > 0 && i <= last; i += step {
				s.tracking.remember(args[i], c)
			}
		}
	}
	if track && cmd.flags&flagWrite != 0 && !outer {
		for i := first; first > 0 && i <= last; i += step {
			c.inval.add(args[i])
		}
	}
	// CLIENT CACHING applies to the next command; when that is MULTI, to
	// the whole transaction.
	if cmd.flags&flagKeepCaching == 0 && !c.inExec {
		c.track.caching = false
	}
	if !outer {
		return
	}
	s.release(c)
	if track && cmd.flags&flagWrite != 0 {
		for i := first; first > 0 && i <= last; i += step {
			s.tracking.invalidate(args[i], c)
		}
	}
	s.sendInvalidations(c)
	if track {
		c.takePushes()
	}
}

// keyShardsLen sums the record counts of the shards cmd's keys live in
// (the caller holds them).
func (s *Server) keyShardsLen(cmd *command, args [][]byte) int {
	n := 0
	first, last, step := cmd.keyRange(args)
	for i := first; first > 0 && i <= last; i += step {
		n += s.store.ShardOf(engine.Hash(args[i])).Len()
	}
	return n
}

// pendingInval are invalidations a command caused while shard locks were
// held, sent once they are released. Owner only.
type pendingInval struct {
	keys [][]byte // copies
	all  bool     // a flush: every tracked key
}

func (p *pendingInval) add(key []byte) { p.keys = append(p.keys, append([]byte(nil), key...)) }

// sendInvalidations sends c's pending invalidations; c holds no shard.
func (s *Server) sendInvalidations(c *Client) {
	p := &c.inval
	if len(p.keys) == 0 && !p.all {
		return
	}
	for _, k := range p.keys {
		s.tracking.invalidate(k, c)
	}
	if p.all {
		s.tracking.invalidateAll()
	}
	p.keys, p.all = nil, false
}

func copyArgs(args [][]byte) [][]byte {
	n := 0
	for _, a := range args {
		n += len(a)
	}
	flat := make([]byte, 0, n)
	out := make([][]byte, len(args))
	for i, a := range args {
		flat = append(flat, a...)
		out[i] = flat[len(flat)-len(a):]
	}
	return out
}

// unknownCommand formats Redis 7's error for an unknown command, quoting
// the first arguments up to 128 bytes. Redis formats them as C strings, so
// each stops at its first NUL byte.
func unknownCommand(args [][]byte) string {
	name := cString(args[0])
	if len(name) > 128 {
		name = name[:128]
	}
	var b strings.Builder
	for _, a := range args[1:] {
		if b.Len() >= 128 {
			break
		}
		a = cString(a)
		room := 128 - b.Len()
		if len(a) > room {
			a = a[:room]
		}
		b.WriteByte('\'')
		b.Write(a)
		b.WriteString("' ")
	}
	return "ERR unknown command '" + string(name) + "', with args beginning with: " + b.String()
}

// cString is b up to its first NUL byte.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func unknownSubcommand(sub []byte, cmd string) string {
	return "ERR unknown subcommand '" + truncate(sub, 128) + "'. Try " + cmd + " HELP."
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

func eqFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		ch := a[i]
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != b[i] {
			return false
		}
	}
	return true
}
