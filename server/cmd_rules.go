package server

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/rules"
	"github.com/tidwall/redcon"
)

// Now reads the server's clock: Unix nanoseconds that never go backwards.
// Other listeners (HTTP) decide with it so that every path shares one time.
func (s *Server) Now() int64 { return s.clock.Now() }

// Store returns the engine store (after New, which may have loaded it
// from a snapshot). The rules engine keeps its counters in it.
func (s *Server) Store() *engine.Store { return s.store }

// MemoryFull reports whether the store is at maxmemory after the policy
// has evicted what it can (for callers outside a RESP command).
func (s *Server) MemoryFull() bool {
	if s.cfg.MaxMemory == 0 || s.store.Bytes() <= s.cfg.MaxMemory {
		return false // the common case, without a Client to evict for
	}
	return s.memoryFull(&Client{})
}

// SetRules connects the rules engine that RL.CHECK and RL.RULES answer
// from. Call it before Serve; until then they answer an error.
// In cluster mode the engine's counters are routed to the nodes that hold
// them (see cluster_rules.go).
func (s *Server) SetRules(e *rules.Engine) {
	s.rules = e
	s.cmds["rl.check"].run = rlCheck(e)
	s.cmds["rl.rules"].run = rlRules(e)
	if s.cfg.Cluster != nil {
		e.SetPlacement(rulePlacement{s})
	}
}

func cmdNoRules(s *Server, c *Client, args [][]byte, now int64) {
	c.out = appendError(c.out, "ERR the rules engine is not configured")
}

var decisionPool = sync.Pool{New: func() any { return new(rules.Decision) }}

// rlCheck is RL.CHECK field value [field value ...]: the HTTP check's
// decision over RESP. Fields: user_id, api_key, ip (or ip_address),
// endpoint, method, tier, cost. The reply is the limiter commands' five
// integers for the most restrictive rule, plus its id:
// [limited, limit, remaining, retry_after, reset_after, rule_id]. The id is
// "" when no rule applies, "allow:<entry>" or "deny:<entry>" when a list
// decided.
//
// It is flagged as touching every shard, so that inside MULTI/EXEC the
// transaction holds all locks and the check takes none.
func rlCheck(e *rules.Engine) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		if len(args)%2 == 0 {
			c.out = appendError(c.out, "ERR wrong number of arguments for 'rl.check' command")
			return
		}
		var q rules.Request
		var seen uint8
		// All values become one string, sliced per field: one allocation
		// instead of one per field.
		n := 0
		for i := 2; i < len(args); i += 2 {
			n += len(args[i])
		}
		var sb strings.Builder
		sb.Grow(n)
		for i := 2; i < len(args); i += 2 {
			sb.Write(args[i])
		}
		all, off := sb.String(), 0
		for i := 1; i < len(args); i += 2 {
			f, v := args[i], args[i+1]
			var dst *string
			var bit uint8
			switch {
			case eqFold(f, "user_id"):
				dst, bit = &q.UserID, 1
			case eqFold(f, "api_key"):
				dst, bit = &q.APIKey, 2
			case eqFold(f, "ip"), eqFold(f, "ip_address"):
				dst, bit = &q.IP, 4
			case eqFold(f, "endpoint"):
				dst, bit = &q.Endpoint, 8
			case eqFold(f, "method"):
				dst, bit = &q.Method, 16
			case eqFold(f, "tier"):
				dst, bit = &q.Tier, 32
			case eqFold(f, "cost"):
				n, ok := parseRedisInt(v)
				if !ok || n < 1 || n > rules.MaxCost {
					c.out = appendError(c.out, "ERR cost must be an integer from 1 to "+strconv.Itoa(rules.MaxCost))
					return
				}
				q.Cost, bit = n, 64
			default:
				c.out = appendError(c.out, "ERR unknown RL.CHECK field '"+truncate(f, 64)+"' (fields: user_id, api_key, ip, endpoint, method, tier, cost)")
				return
			}
			if seen&bit != 0 {
				c.out = appendError(c.out, "ERR RL.CHECK field '"+truncate(f, 64)+"' given twice")
				return
			}
			seen |= bit
			if dst != nil {
				*dst = all[off : off+len(v)]
			}
			off += len(v)
		}
		if err := q.Prepare(); err != nil {
			c.out = appendError(c.out, "ERR invalid RL.CHECK request: "+validationText(err))
			return
		}
		// Under EXEC every shard is held (the table flags RL.CHECK as
		// touching all keys); under a partial set (a script's declared
		// keys) locking more could deadlock, so it is refused.
		locked := c.locks.all
		if c.locks.active() && !locked {
			c.out = appendError(c.out, "ERR RL.CHECK cannot run under a partial lock set (inside a script)")
			return
		}
		opt := rules.CheckOptions{Locked: locked, NoNewKeys: c.overLimit}
		d := decisionPool.Get().(*rules.Decision)
		if s.cl == nil || locked {
			err := e.Check(&q, now, d, opt)
			c.out = appendCheck(c.out, d, err)
			decisionPool.Put(d)
			return
		}
		// In a cluster the counters may be held by other nodes: the reply
		// then fills a hole in the client's output when they have
		// answered, as a forwarded command's does, and the event loop goes
		// on.
		rq := new(rules.Request)
		*rq = q
		a := &asyncCheck{f: fwdReply{s: s, c: c}}
		sync, err := e.CheckAsync(rq, now, d, opt, func(err error) {
			out := appendCheck(nil, d, err)
			decisionPool.Put(d)
			a.answer(out)
		})
		if sync {
			c.out = appendCheck(c.out, d, err)
			decisionPool.Put(d)
			return
		}
		a.wait(s, c)
	}
}

// asyncCheck is an RL.CHECK waiting for other nodes: a hole in the
// client's output. The answer may come before the hole is made (from
// this goroutine, when a node is known to be down); it is then written
// in place.
type asyncCheck struct {
	f     fwdReply
	mu    sync.Mutex
	held  bool   // the hole is in c.fwdq
	early []byte // the answer, when it came first
}

// wait makes the hole, or writes an answer that already came (owner).
func (a *asyncCheck) wait(s *Server, c *Client) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.early != nil {
		c.out = append(c.out, a.early...)
		return
	}
	s.hold(c, &a.f)
	a.held = true
}

// answer fills the hole (any goroutine).
func (a *asyncCheck) answer(out []byte) {
	a.mu.Lock()
	if !a.held {
		a.early = out
		a.mu.Unlock()
		return
	}
	a.mu.Unlock()
	a.f.c.complete(&a.f, out)
}

// appendCheck writes RL.CHECK's reply for d, or err's.
func appendCheck(b []byte, d *rules.Decision, err error) []byte {
	switch {
	case errors.Is(err, rules.ErrOOM):
		return appendError(b, errOOM)
	case errors.Is(err, rules.ErrRemote):
		return appendError(b, "ERR RL.CHECK inside MULTI or a script needs every counter of the request on this node; the rules' counters are held by other nodes")
	case err != nil && (strings.HasPrefix(err.Error(), "TRYAGAIN") || strings.HasPrefix(err.Error(), "CLUSTERDOWN")):
		return appendError(b, err.Error())
	case err != nil:
		return appendError(b, "ERR "+err.Error())
	}
	limited := int64(0)
	if !d.Allowed {
		limited = 1
	}
	b = redcon.AppendArray(b, 6)
	b = redcon.AppendInt(b, limited)
	b = redcon.AppendInt(b, d.Limit)
	b = redcon.AppendInt(b, d.Remaining)
	b = redcon.AppendInt(b, d.RetryAfter)
	b = redcon.AppendInt(b, d.ResetAfter)
	switch {
	case d.Entry != nil && d.Reason == rules.ReasonDenyList:
		return redcon.AppendBulkString(b, "deny:"+d.Entry.ID)
	case d.Entry != nil:
		return redcon.AppendBulkString(b, "allow:"+d.Entry.ID)
	case d.Rule != nil:
		return redcon.AppendBulkString(b, d.Rule.ID)
	}
	return redcon.AppendBulkString(b, "")
}

// validationText is a one-line rendering of a validation error.
func validationText(err error) string {
	var ve *rules.ValidationError
	if errors.As(err, &ve) {
		return ve.Error()[len("invalid: "):]
	}
	return err.Error()
}

// rlRules is RL.RULES [id]: every rule as a JSON string, ordered by
// priority then id; with an id, that rule (or a null).
func rlRules(e *rules.Engine) handler {
	return func(s *Server, c *Client, args [][]byte, now int64) {
		switch len(args) {
		case 1:
			rs, _ := e.Rules(1, 1<<30)
			c.out = redcon.AppendArray(c.out, len(rs))
			for _, r := range rs {
				b, _ := json.Marshal(r)
				c.out = redcon.AppendBulk(c.out, b)
			}
		case 2:
			r, ok := e.Rule(string(args[1]))
			if !ok {
				c.out = appendNull(c.out, c.resp)
				return
			}
			b, _ := json.Marshal(r)
			c.out = redcon.AppendBulk(c.out, b)
		default:
			c.out = appendError(c.out, "ERR wrong number of arguments for 'rl.rules' command")
		}
	}
}
