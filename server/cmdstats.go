package server

import (
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/metrics"
)

// Command statistics (INFO commandstats, errorstats, latencystats, and the
// Prometheus collectors) are kept per stat shard: every epoll loop has one
// and goroutine-front clients share a few by client id, so the counters a
// command bumps sit on cache lines its own core owns, and nothing is shared
// across cores on the hot path. Readers fold the shards.

// statShard is one shard's counters. Its fields are atomics because INFO
// and scrapes read them from other goroutines.
type statShard struct {
	cmds []cmdCounters // by command.id

	mu          sync.Mutex        // guards errors (the error path only)
	errors      map[string]uint64 // error replies by code (first word), at most maxErrorCodes
	errOverflow uint64            // error replies whose code found the map full

	netIn, netOut atomic.Uint64
	reads, writes atomic.Uint64 // read and write calls on client sockets
	hits, misses  atomic.Uint64 // keys reads found or not (INFO keyspace_hits, keyspace_misses)
	_             [64]byte      // keep the next shard's hot fields off this line
}

// cmdCounters are one command's counters in one shard.
type cmdCounters struct {
	calls, rejected, failed, allowed, limited atomic.Uint64
	hist                                      atomic.Pointer[metrics.Histogram] // allocated on first use
}

// maxErrorCodes caps the distinct error codes counted, as Redis caps
// errorstats at 128: a script can invent codes.
const maxErrorCodes = 128

func newStatShards(n, ncmds int) []*statShard {
	shards := make([]*statShard, n)
	for i := range shards {
		shards[i] = &statShard{cmds: make([]cmdCounters, ncmds), errors: make(map[string]uint64)}
	}
	return shards
}

// goroutineStatShards is how many shards goroutine-front clients spread
// over (by client id).
func goroutineStatShards() int { return max(2, 2*runtime.GOMAXPROCS(0)) }

func (cc *cmdCounters) observe(ns int64) {
	h := cc.hist.Load()
	if h == nil {
		h = new(metrics.Histogram)
		if !cc.hist.CompareAndSwap(nil, h) {
			h = cc.hist.Load()
		}
	}
	h.Observe(ns)
}

// countError records one error reply (msg starts after the '-').
func (st *statShard) countError(msg []byte) {
	code := errorCode(msg)
	st.mu.Lock()
	if _, ok := st.errors[code]; ok || len(st.errors) < maxErrorCodes {
		st.errors[code]++
	} else {
		st.errOverflow++
	}
	st.mu.Unlock()
}

// errorCode is an error reply's code: its first word, as Redis's
// errorstats keys it.
func errorCode(msg []byte) string {
	n := 0
	for n < len(msg) && n < 64 && msg[n] != ' ' && msg[n] != '\r' {
		n++
	}
	return string(msg[:n])
}

// limitedFlag reads the first integer of a limiter's array reply
// (*N\r\n:0 or :1): whether the check was limited. ok is false for any
// other reply.
func limitedFlag(reply []byte) (limited, ok bool) {
	i := 1
	for i < len(reply) && reply[i] >= '0' && reply[i] <= '9' {
		i++
	}
	if len(reply) < i+4 || reply[0] != '*' || reply[i] != '\r' || reply[i+2] != ':' {
		return false, false
	}
	switch reply[i+3] {
	case '0':
		return false, true
	case '1':
		return true, true
	}
	return false, false
}

// record does the counting call does after a handler ran: start is where
// its reply begins in c.out, ns how long it took.
func (s *Server) record(c *Client, cmd *command, args [][]byte, start int, ns int64) {
	if ns >= s.slowlog.thresholdNs.Load() {
		s.slowlog.add(c, cmd, args, ns, time.Now())
	}
	if ns >= s.latency.thresholdNs.Load() {
		s.latency.observe("command", ns, time.Now())
	}
	cc := &c.st.cmds[cmd.id]
	cc.calls.Add(1)
	cc.observe(ns)
	reply := c.out[start:]
	switch {
	case len(reply) > 0 && reply[0] == '-':
		c.st.countError(reply[1:])
		if c.overLimit && len(reply) > 4 && string(reply[1:4]) == "OOM" {
			cc.rejected.Add(1) // Redis refuses denyoom commands before they run
		} else {
			cc.failed.Add(1)
		}
	case cmd.flags&flagLimiter != 0:
		if limited, ok := limitedFlag(reply); ok {
			if limited {
				cc.limited.Add(1)
			} else {
				cc.allowed.Add(1)
			}
		}
	}
}

// rejected counts a command refused before it ran (msg is the error).
func (s *Server) rejected(c *Client, cmd *command, msg string) {
	if cmd != nil {
		c.st.cmds[cmd.id].rejected.Add(1)
	}
	c.st.countError([]byte(msg))
}

// cmdTotals are one command's counters folded over the shards.
type cmdTotals struct {
	cmd                                       *command
	calls, rejected, failed, allowed, limited uint64
	hist                                      metrics.HistogramSnapshot
}

// commandTotals folds the counters of every command that was called or
// refused, in name order.
func (s *Server) commandTotals() []cmdTotals { return s.commandTotalsOf(0) }

// commandTotalsOf is commandTotals, also listing the commands with any of
// flags that were never called.
func (s *Server) commandTotalsOf(flags cmdFlags) []cmdTotals {
	var out []cmdTotals
	for _, cmd := range s.cmdList {
		t := cmdTotals{cmd: cmd}
		for _, st := range s.statShards {
			cc := &st.cmds[cmd.id]
			t.calls += cc.calls.Load()
			t.rejected += cc.rejected.Load()
			t.failed += cc.failed.Load()
			t.allowed += cc.allowed.Load()
			t.limited += cc.limited.Load()
			if h := cc.hist.Load(); h != nil {
				h.AddTo(&t.hist)
			}
		}
		if t.calls+t.rejected > 0 || cmd.flags&flags != 0 {
			out = append(out, t)
		}
	}
	return out
}

// totalCalls is the number of commands executed (total_commands_processed).
func (s *Server) totalCalls() uint64 {
	var n uint64
	for _, st := range s.statShards {
		for i := range st.cmds {
			n += st.cmds[i].calls.Load()
		}
	}
	return n
}

// errorTotals folds the error counts by code, sorted by code.
func (s *Server) errorTotals() (codes []string, counts map[string]uint64, total uint64) {
	counts = make(map[string]uint64)
	for _, st := range s.statShards {
		st.mu.Lock()
		for k, n := range st.errors {
			counts[k] += n
			total += n
		}
		total += st.errOverflow
		st.mu.Unlock()
	}
	for k := range counts {
		codes = append(codes, k)
	}
	slices.Sort(codes)
	return codes, counts, total
}

// netTotals folds the bytes read and written.
func (s *Server) netTotals() (in, out uint64) {
	for _, st := range s.statShards {
		in += st.netIn.Load()
		out += st.netOut.Load()
	}
	return in, out
}

// ioTotals folds the socket reads and writes.
func (s *Server) ioTotals() (reads, writes uint64) {
	for _, st := range s.statShards {
		reads += st.reads.Load()
		writes += st.writes.Load()
	}
	return reads, writes
}

// resetStats zeroes the command, error and latency counters (CONFIG
// RESETSTAT).
func (s *Server) resetStats() {
	for _, st := range s.statShards {
		for i := range st.cmds {
			cc := &st.cmds[i]
			cc.calls.Store(0)
			cc.rejected.Store(0)
			cc.failed.Store(0)
			cc.allowed.Store(0)
			cc.limited.Store(0)
			if h := cc.hist.Load(); h != nil {
				h.Reset()
			}
		}
		st.mu.Lock()
		clear(st.errors)
		st.errOverflow = 0
		st.mu.Unlock()
		st.hits.Store(0)
		st.misses.Store(0)
	}
}

// keyspace counts one key looked up by a read, found or not (INFO
// keyspace_hits and keyspace_misses). Redis counts the lookups of reads
// (GET, EXISTS, TYPE, TTL, MGET, ZSCORE, ...), not of writes (SET, INCR,
// DEL, EXPIRE, ZADD, ...); redis-cell's CL.THROTTLE reads its key first, so
// limiter checks count too. One uncontended add on the event loop's own
// counters.
func (c *Client) keyspace(found bool) {
	if found {
		c.st.hits.Add(1)
	} else {
		c.st.misses.Add(1)
	}
}

// limiterLookup counts a limiter call's key lookup: the engine reports
// whether it found the key; calls refused before the lookup (zero rate)
// are not counted.
func (c *Client) limiterLookup(sh *engine.Shard, err error) {
	if err == nil || errors.Is(err, engine.ErrWrongType) {
		c.keyspace(sh.LimiterFound())
	}
}

// keyspaceTotals folds the hit and miss counters.
func (s *Server) keyspaceTotals() (hits, misses uint64) {
	for _, st := range s.statShards {
		hits += st.hits.Load()
		misses += st.misses.Load()
	}
	return hits, misses
}

// EachCommand implements metrics.CommandSource: the commands called, and
// every limiter command, so that requests_total and check_duration_seconds
// exist at 0 from the start (a rate or an alert over them has data before
// the first check).
func (s *Server) EachCommand(fn func(metrics.CommandStats)) {
	for _, t := range s.commandTotalsOf(flagLimiter) {
		h := t.hist
		fn(metrics.CommandStats{
			Name: t.cmd.name, Limiter: t.cmd.flags&flagLimiter != 0,
			Calls: t.calls, Rejected: t.rejected, Failed: t.failed, Allowed: t.allowed, Limited: t.limited,
			Duration: &h,
		})
	}
}
