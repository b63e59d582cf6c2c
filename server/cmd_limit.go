package server

import (
	"errors"
	"math"
	"strconv"

	"github.com/rlserver/rlserver/engine"
)

const (
	cellUsage    = "Cell error: Store error: Usage: cl.throttle <key> <max_burst> <count per period> <period> [<quantity>]"
	cellParse    = "Cell error: Store error: Couldn't parse as integer: "
	cellZeroRate = "Cell error: Store error: Zero rates are not supported"
	cellExpire   = "Cell error: Store error: Error while setting key expire"
	cellUpdate   = "Cell error: Store error: Failed to update rate limit after 5 attempts"
)

// cmdThrottle is CL.THROTTLE key max_burst count period [quantity], byte
// for byte redis-cell: its own usage and parse errors, checked in its order.
func cmdThrottle(s *Server, c *Client, args [][]byte, now int64) {
	if len(args) != 5 && len(args) != 6 {
		c.out = appendError(c.out, cellUsage)
		return
	}
	p, ok := parseCellArgs(c, args)
	if !ok {
		return
	}
	key := args[1]
	sh, h := s.lockKey(c, key)
	defer s.unlock(c, sh)
	if !s.admitKey(c, sh, h, key, now) {
		return
	}
	r, err := sh.ThrottleGCRA(h, key, p, now)
	c.limiterLookup(sh, err)
	if err != nil {
		c.out = appendError(c.out, limiterError(err, true))
		return
	}
	c.out = appendResult(c.out, r.Limited, r.Limit, r.Remaining, r.RetryAfter, r.ResetAfter)
}

// parseCellArgs parses max_burst, count, period and the optional quantity
// in redis-cell's order, replying with its error for the first bad one.
func parseCellArgs(c *Client, args [][]byte) (engine.GCRAParams, bool) {
	p := engine.GCRAParams{Quantity: 1}
	fields := [4]*int64{&p.MaxBurst, &p.Count, &p.Period, &p.Quantity}
	for i, a := range args[2:] {
		v, ok := parseInt64(a)
		if !ok {
			c.out = appendError(c.out, cellParse+string(a))
			return p, false
		}
		*fields[i] = v
	}
	return p, true
}

// limiterError is the one place engine errors become RESP error lines:
// redis-cell's "Cell error" wording for CL.THROTTLE and CL.PEEK (cell),
// Redis's ERR form for the native commands. WRONGTYPE is the same for both.
func limiterError(err error, cell bool) string {
	switch {
	case errors.Is(err, engine.ErrWrongType):
		return errWrongType
	case !cell:
		return "ERR " + err.Error()
	case errors.Is(err, engine.ErrZeroRate):
		return cellZeroRate
	case errors.Is(err, engine.ErrExpire):
		return cellExpire
	case errors.Is(err, engine.ErrUpdateFailed):
		return cellUpdate
	}
	return "ERR " + err.Error()
}

// cmdPeek is CL.PEEK: CL.THROTTLE's reply, computed without writing.
func cmdPeek(s *Server, c *Client, args [][]byte, now int64) {
	if len(args) > 6 {
		c.out = appendError(c.out, "ERR wrong number of arguments for 'cl.peek' command")
		return
	}
	p, ok := parseCellArgs(c, args)
	if !ok {
		return
	}
	sh, h := s.lockKey(c, args[1])
	defer s.unlock(c, sh)
	r, err := sh.PeekGCRA(h, args[1], p, now)
	c.limiterLookup(sh, err)
	if err != nil {
		c.out = appendError(c.out, limiterError(err, true))
		return
	}
	c.out = appendResult(c.out, r.Limited, r.Limit, r.Remaining, r.RetryAfter, r.ResetAfter)
}

// cmdGCRA is GCRA key max_burst tokens_per_period period [TOKENS n], the
// command Redis 8.8 designed: period is a decimal number of seconds and
// arguments are validated with ERR replies instead of wrapping.
func cmdGCRA(s *Server, c *Client, args [][]byte, now int64) {
	burst, ok1 := parseRedisInt(args[2])
	tokens, ok2 := parseRedisInt(args[3])
	if !ok1 || !ok2 {
		c.out = appendError(c.out, errNotInteger)
		return
	}
	period, ok := parseRedisFloat(args[4])
	if !ok {
		c.out = appendError(c.out, "ERR period is not a valid float")
		return
	}
	n := int64(1)
	switch {
	case len(args) == 7 && eqFold(args[5], "tokens"):
		v, ok := parseRedisInt(args[6])
		if !ok {
			c.out = appendError(c.out, errNotInteger)
			return
		}
		n = v
	case len(args) != 5:
		c.out = appendError(c.out, errSyntax)
		return
	}
	p, emission, err := engine.NativeGCRA(burst, tokens, period, n)
	if err != nil {
		c.out = appendError(c.out, limiterError(err, false))
		return
	}
	sh, h := s.lockKey(c, args[1])
	defer s.unlock(c, sh)
	if !s.admitKey(c, sh, h, args[1], now) {
		return
	}
	r, err := sh.ThrottleGCRAInterval(h, args[1], p, emission, now, false)
	c.limiterLookup(sh, err)
	if err != nil {
		c.out = appendError(c.out, limiterError(err, false))
		return
	}
	c.out = appendResult(c.out, r.Limited, r.Limit, r.Remaining, r.RetryAfter, r.ResetAfter)
}

// windowLimiter binds a window command to its engine method and cap.
type windowLimiter struct {
	name     string
	peek     bool
	log      bool // SWLOG: its state grows with use
	maxLimit func(s *Server) int64
	run      func(sh *engine.Shard, h uint64, key []byte, p engine.WindowParams, now int64, peek bool) (engine.Result, error)
}

var (
	fixedWindow = windowLimiter{name: "fw", maxLimit: func(*Server) int64 { return math.MaxInt64 }, run: (*engine.Shard).ThrottleFixedWindow}
	slidingWin  = windowLimiter{name: "sw", maxLimit: func(*Server) int64 { return math.MaxInt64 }, run: (*engine.Shard).ThrottleSlidingWindow}
	slidingLog  = windowLimiter{name: "swlog", log: true, maxLimit: func(s *Server) int64 { return int64(s.cfg.MaxLogLimit) }, run: (*engine.Shard).ThrottleSlidingLog}
)

// windowCommand makes the handler for SW/SWLOG/FW.THROTTLE and .PEEK:
// key limit period [quantity].
func windowCommand(l windowLimiter, peek bool) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		if len(args) > 5 {
			name := l.name + ".throttle"
			if peek {
				name = l.name + ".peek"
			}
			c.out = appendError(c.out, "ERR wrong number of arguments for '"+name+"' command")
			return
		}
		p := engine.WindowParams{Quantity: 1}
		fields := [3]*int64{&p.Limit, &p.Period, &p.Quantity}
		for i, a := range args[2:] {
			v, ok := parseRedisInt(a)
			if !ok {
				c.out = appendError(c.out, errNotInteger)
				return
			}
			*fields[i] = v
		}
		if err := engine.ValidateWindow(p, l.maxLimit(s)); err != nil {
			msg := "ERR " + err.Error()
			if errors.Is(err, engine.ErrTooLarge) {
				msg += " (" + strconv.FormatInt(l.maxLimit(s), 10) + ")"
			}
			c.out = appendError(c.out, msg)
			return
		}
		sh, h := s.lockKey(c, args[1])
		defer s.unlock(c, sh)
		if !peek && !s.admitKey(c, sh, h, args[1], now) {
			return
		}
		if !peek && l.log && !s.admitLogGrowth(c, sh, h, args[1], p, now) {
			return
		}
		r, err := l.run(sh, h, args[1], p, now, peek)
		c.limiterLookup(sh, err)
		if err != nil {
			c.out = appendError(c.out, limiterError(err, false))
			return
		}
		c.out = appendResult(c.out, r.Limited, r.Limit, r.Remaining, r.RetryAfter, r.ResetAfter)
	}
}
