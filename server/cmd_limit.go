package server

import (
	"errors"

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
	p := engine.GCRAParams{Quantity: 1}
	fields := [4]*int64{&p.MaxBurst, &p.Count, &p.Period, &p.Quantity}
	for i, a := range args[2:] {
		v, ok := parseInt64(a)
		if !ok {
			c.out = appendError(c.out, cellParse+string(a))
			return
		}
		*fields[i] = v
	}
	key := args[1]
	sh, h := s.lockKey(c, key)
	defer s.unlock(c, sh)
	r, err := sh.ThrottleGCRA(h, key, p, now)
	if err != nil {
		c.out = appendError(c.out, cellError(err))
		return
	}
	c.out = appendResult(c.out, r.Limited, r.Limit, r.Remaining, r.RetryAfter, r.ResetAfter)
}

// cellError maps engine errors to redis-cell's reply lines.
func cellError(err error) string {
	switch {
	case errors.Is(err, engine.ErrZeroRate):
		return cellZeroRate
	case errors.Is(err, engine.ErrExpire):
		return cellExpire
	case errors.Is(err, engine.ErrUpdateFailed):
		return cellUpdate
	case errors.Is(err, engine.ErrWrongType):
		return errWrongType
	}
	return "ERR " + err.Error()
}
