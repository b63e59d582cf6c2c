package server

import (
	"strings"
)

type cmdFlags uint16

const (
	flagWrite       cmdFlags = 1 << iota // modifies keys: invalidates tracked keys
	flagReadOnly                         // reads keys: tracked for CLIENT TRACKING
	flagNoAuth                           // allowed before AUTH
	flagNoMulti                          // not queued inside MULTI (runs at once)
	flagAllKeys                          // touches every shard (FLUSHALL, SCAN, ...)
	flagAdmin                            // server-level command
	flagDenyOOM                          // may create a key: refused at maxmemory
	flagKeepCaching                      // CLIENT CACHING carries over it (CLIENT, MULTI)
)

type handler func(s *Server, c *Client, args [][]byte, now int64)

// command is one row of the command table, shaped like Redis's own: arity
// (positive = exactly N including the name, negative = at least N) and key
// positions (first, last, step; last -1 = through the end).
type command struct {
	name     string
	arity    int
	flags    cmdFlags
	firstKey int
	lastKey  int
	step     int
	group    string
	summary  string
	run      handler
}

// keys returns the key arguments of args according to the table.
func (cmd *command) keys(args [][]byte) [][]byte {
	first, last, step := cmd.keyRange(len(args))
	var ks [][]byte
	for i := first; first > 0 && i <= last; i += step {
		ks = append(ks, args[i])
	}
	return ks
}

// keyRange returns the key positions for a command of n arguments; first
// is 0 when it has none.
func (cmd *command) keyRange(n int) (first, last, step int) {
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

// execute runs one command and appends its reply to c.out.
func (s *Server) execute(c *Client, args [][]byte) {
	s.stats.commands.Add(1)
	cmd := s.lookup(args[0])
	if cmd == nil {
		if c.multi {
			c.multiErr = true
		}
		c.out = appendError(c.out, unknownCommand(args))
		return
	}
	if !c.authed && cmd.flags&flagNoAuth == 0 {
		if c.multi {
			c.multiErr = true
		}
		c.out = appendError(c.out, errNoAuth)
		return
	}
	if (cmd.arity > 0 && len(args) != cmd.arity) || (cmd.arity < 0 && len(args) < -cmd.arity) {
		if c.multi {
			c.multiErr = true
		}
		c.out = appendError(c.out, "ERR wrong number of arguments for '"+cmd.name+"' command")
		return
	}
	first, last, step := cmd.keyRange(len(args))
	for i := first; first > 0 && i <= last; i += step {
		if len(args[i]) > s.cfg.MaxKeyBytes {
			if c.multi {
				c.multiErr = true
			}
			c.out = appendError(c.out, errKeyTooLarge)
			return
		}
	}
	if c.multi && cmd.flags&flagNoMulti == 0 {
		c.queued = append(c.queued, copyArgs(args))
		c.out = append(c.out, "+QUEUED\r\n"...)
		return
	}
	now := s.clock.Now()
	c.lastName.Store(cmd)
	c.lastCmd.Store(now)
	s.call(c, cmd, args, now)
}

// call runs a handler under the panic guard and does the bookkeeping every
// command shares: tracking of read keys and invalidation of written ones.
func (s *Server) call(c *Client, cmd *command, args [][]byte, now int64) {
	start := len(c.out)
	c.overLimit = cmd.flags&flagDenyOOM != 0 && s.memoryFull(c)
	func() {
		defer s.guard(c, start)
		cmd.run(s, c, args, now)
	}()
	if cmd.flags&flagWrite != 0 && s.saver != nil {
		s.saver.Changed()
	}
	if !s.tracking.active() {
		return
	}
	first, last, step := cmd.keyRange(len(args))
	if cmd.flags&flagWrite != 0 {
		for i := first; first > 0 && i <= last; i += step {
			if c.inExec {
				// EXEC holds shard locks: invalidate once it releases them.
				c.execWrites = append(c.execWrites, append([]byte(nil), args[i]...))
				continue
			}
			s.tracking.invalidate(args[i], c)
		}
	}
	if cmd.flags&flagReadOnly != 0 && c.track.on && c.track.wantsRead() {
		for i := first; first > 0 && i <= last; i += step {
			s.tracking.remember(args[i], c)
		}
	}
	// CLIENT CACHING applies to the next command; when that is MULTI, to
	// the whole transaction.
	if cmd.flags&flagKeepCaching == 0 && !c.inExec {
		c.track.caching = false
	}
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
// the first arguments up to 128 bytes.
func unknownCommand(args [][]byte) string {
	name := args[0]
	if len(name) > 128 {
		name = name[:128]
	}
	var b strings.Builder
	for _, a := range args[1:] {
		if b.Len() >= 128 {
			break
		}
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
