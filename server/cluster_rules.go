package server

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/rlserver/rlserver/acl"
	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/peer"
	"github.com/rlserver/rlserver/rules"
	"github.com/rlserver/rlserver/shard"
	"github.com/tidwall/redcon"
)

// Rule counters in a cluster.
//
// A rules check (RL.CHECK, the HTTP check, user statistics) matches rules
// on the node that received it: every node has every rule (the shard
// Replicator spreads them). Its counters are ordinary keys, held by the
// node that holds their slot; rulePlacement tells the rules engine where
// that is and runs counters there with RL.COUNTERS over the pooled peer
// connection, at the instant the request was received. What stays atomic
// is described at rules.Placement. An owner that does not answer within
// --forward-timeout is handled by --owner-unreachable, as forwarded
// limiter commands are (local: the node's temporary buckets, merged when
// ownership settles; allow; deny), and counted the same way.

// rulePlacement implements rules.Placement over the cluster's table.
type rulePlacement struct{ s *Server }

// Node names rulePlacement gives for slots with no serving member.
const (
	nodeHanding = "\x00handing" // this node is handing the slot off
	nodeDown    = "\x00down"    // nobody holds it
)

func (p rulePlacement) Local(key []byte) bool {
	cl := p.s.cl
	return cl == nil || cl.router.Load().Local(shard.Slot(key))
}

func (p rulePlacement) Holder(key []byte) string {
	cl := p.s.cl
	if cl == nil {
		return ""
	}
	t := cl.router.Load()
	slot := shard.Slot(key)
	if t.Local(slot) {
		return ""
	}
	switch h := t.Holder(slot); {
	case h == shard.Handing:
		return nodeHanding
	case h < 0 || h == shard.NoHolder:
		return nodeDown
	default:
		return t.Member(h).Addr
	}
}

// handingWait is how often a check whose counter's slot is being handed
// off looks again (the handoff takes milliseconds).
const handingWait = 5 * time.Millisecond

func (p rulePlacement) Run(node string, mode rules.CountMode, cs []rules.Counter, cost, now int64, done func([]rules.CounterResult, error)) {
	cl := p.s.cl
	switch node {
	case nodeDown:
		done(nil, errors.New(errSlotDown))
		return
	case nodeHanding:
		// Route again once the handoff has moved on (the rules engine
		// asks Holder anew), at most a forwarding timeout later.
		deadline := time.Now().Add(cl.cfg.ForwardTimeout)
		var wait func()
		wait = func() {
			for _, c := range cs {
				if p.Holder(c.Key) == nodeHanding && time.Now().Before(deadline) {
					time.AfterFunc(handingWait, wait)
					return
				}
			}
			done(nil, rules.ErrMoved)
		}
		time.AfterFunc(handingWait, wait)
		return
	}
	w := &counterReply{s: p.s, mode: mode, cs: cs, cost: cost, now: now, done: done, hops: 1, args: appendCounters(mode, cs, cost)}
	cl.st.forwarded.Add(1)
	pc := cl.peerFor(node)
	pc.Forward(now, 2, w.hops, acl.DefaultUser, w.args, w) // internal: no user's ACL applies
	pc.Flush()
}

// appendCounters builds RL.COUNTERS <mode> <cost> <n> then, per counter,
// <algorithm> <limit> <window seconds> <burst> <shadow 0|1> <key>.
func appendCounters(mode rules.CountMode, cs []rules.Counter, cost int64) [][]byte {
	args := make([][]byte, 0, 4+6*len(cs))
	args = append(args, []byte("RL.COUNTERS"), []byte{byte(mode)}, strconv.AppendInt(nil, cost, 10), strconv.AppendInt(nil, int64(len(cs)), 10))
	for _, c := range cs {
		shadow := []byte("0")
		if c.Shadow {
			shadow = []byte("1")
		}
		args = append(args, []byte(c.Algorithm), strconv.AppendInt(nil, c.Limit, 10),
			strconv.AppendInt(nil, int64(c.Window), 10), strconv.AppendInt(nil, c.Burst, 10), shadow, c.Key)
	}
	return args
}

// counterReply waits for an RL.COUNTERS reply (a peer.Waiter).
type counterReply struct {
	s    *Server
	mode rules.CountMode
	cs   []rules.Counter
	cost int64
	now  int64
	done func([]rules.CounterResult, error)
	hops int
	args [][]byte
}

// errNotHeld answers counters this node does not hold; when they all
// have one holder in its table, its address follows, so the sender goes
// there next (as it follows RLMOVED for commands): "RLNOTHELD addr".
const errNotHeld = "RLNOTHELD"

// heldBy returns " <addr>" when every counter's slot has one holder in
// this node's table, another member; else "".
func (cl *cluster) heldBy(cs []rules.Counter) string {
	t := cl.router.Load()
	at := -1
	for _, c := range cs {
		h := t.Holder(shard.Slot(c.Key))
		if h < 0 || h == shard.NoHolder || h == shard.Handing || (at >= 0 && h != at) || t.Local(shard.Slot(c.Key)) {
			return ""
		}
		at = h
	}
	if at < 0 {
		return ""
	}
	return " " + t.Member(at).Addr
}

// movedWait delays a check routed again after ErrMoved: routing changes
// (a handoff, a member's table) settle within milliseconds.
const movedWait = 20 * time.Millisecond

func (w *counterReply) Reply(frame []byte, err error) {
	if err != nil {
		w.unreachable(err)
		return
	}
	if len(frame) > 0 && frame[0] == '-' {
		msg := string(frame[1 : len(frame)-2])
		switch {
		case strings.HasPrefix(msg, errNotHeld+" ") && w.hops < peer.MaxHops:
			// Every counter is at one other node: go there.
			w.hops++
			w.s.cl.st.reforwarded.Add(1)
			pc := w.s.cl.peerFor(msg[len(errNotHeld)+1:])
			pc.Forward(w.now, 2, w.hops, acl.DefaultUser, w.args, w)
			pc.Flush()
		case strings.HasPrefix(msg, errNotHeld):
			time.AfterFunc(movedWait, func() { w.done(nil, rules.ErrMoved) })
		case strings.HasPrefix(msg, "OOM"):
			w.done(nil, rules.ErrOOM)
		default:
			w.done(nil, errors.New(msg))
		}
		return
	}
	res, ok := parseCounterResults(frame, len(w.cs))
	if !ok {
		w.done(nil, errors.New("ERR malformed RL.COUNTERS reply from a peer"))
		return
	}
	w.done(res, nil)
}

// parseCounterResults reads RL.COUNTERS' reply: an array of six integers
// per counter (limited, limit, remaining, retry_after, reset_after,
// counted).
func parseCounterResults(frame []byte, n int) ([]rules.CounterResult, bool) {
	if len(frame) < 4 || frame[0] != '*' {
		return nil, false
	}
	end := lineEnd(frame)
	cnt, ok := parseInt64(frame[1:end])
	if !ok || cnt != int64(6*n) {
		return nil, false
	}
	p := frame[end+2:]
	out := make([]rules.CounterResult, n)
	for i := range out {
		var v [6]int64
		for j := range v {
			if len(p) < 4 || p[0] != ':' {
				return nil, false
			}
			e := lineEnd(p)
			if e < 0 {
				return nil, false
			}
			if v[j], ok = parseInt64(p[1:e]); !ok {
				return nil, false
			}
			p = p[e+2:]
		}
		out[i] = rules.CounterResult{Result: engine.Result{Limited: v[0], Limit: v[1], Remaining: v[2], RetryAfter: v[3], ResetAfter: v[4]}, Counted: v[5] == 1}
	}
	return out, len(p) == 0
}

// lineEnd returns the index of the first "\r\n" in b, or -1.
func lineEnd(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// unreachable decides counters whose holder did not answer, by policy,
// and counts the decision.
func (w *counterReply) unreachable(err error) {
	s := w.s
	cl := s.cl
	if cl.st.forwardErrors.Add(1) == 1 || cl.lastErrAt.Swap(time.Now().Unix()) != time.Now().Unix() {
		s.log.Warn("cluster: rule counters' node did not answer; answering by policy", "error", err, "policy", cl.cfg.Unreachable)
	}
	maxLog := int64(s.cfg.MaxLogLimit)
	cl.mu.Lock()
	var res []rules.CounterResult
	var rerr error
	switch cl.cfg.Unreachable {
	case UnreachableLocal:
		cl.st.unreachLocal.Add(1)
		res, rerr = rules.RunCounters(cl.local.store, w.mode, w.cs, w.cost, w.now, false, maxLog, nil)
	default:
		// As a fresh counter would answer, then denied for deny.
		res, rerr = rules.RunCounters(engine.NewStore(1), rules.CountPeek, w.cs, w.cost, w.now, false, maxLog, nil)
		if cl.cfg.Unreachable == UnreachableDeny {
			cl.st.unreachDeny.Add(1)
			for i := range res {
				if !w.cs[i].Shadow {
					res[i].Limited, res[i].Remaining, res[i].RetryAfter = 1, 0, 1
				}
			}
		} else {
			cl.st.unreachAllow.Add(1)
		}
	}
	cl.mu.Unlock()
	w.done(res, rerr)
}

// cmdRuleCounters is RL.COUNTERS <mode> <cost> <n> [<algorithm> <limit>
// <window> <burst> <shadow> <key>]...: a peer runs rule counters this node
// holds (see rulePlacement), under their shard locks, at the instant its
// client's request arrived there. Peers only; others get the
// unknown-command error, as if it did not exist.
func cmdRuleCounters(s *Server, c *Client, args [][]byte, now int64) {
	if !c.peer || s.cl == nil {
		c.out = appendError(c.out, unknownCommand(args))
		return
	}
	bad := func() { c.out = appendError(c.out, "ERR malformed RL.COUNTERS") }
	if len(args[1]) != 1 {
		bad()
		return
	}
	mode := rules.CountMode(args[1][0])
	cost, ok1 := parseInt64(args[2])
	n, ok2 := parseInt64(args[3])
	if !ok1 || !ok2 || n < 1 || int64(len(args)) != 4+6*n {
		bad()
		return
	}
	cs := make([]rules.Counter, n)
	for i := range cs {
		a := args[4+6*i:]
		limit, ok1 := parseInt64(a[1])
		window, ok2 := parseInt64(a[2])
		burst, ok3 := parseInt64(a[3])
		if !ok1 || !ok2 || !ok3 || len(a[4]) != 1 || len(a[5]) > s.cfg.MaxKeyBytes {
			bad()
			return
		}
		cs[i] = rules.Counter{Algorithm: string(a[0]), Limit: limit, Window: rules.Window(window), Burst: burst, Shadow: a[4][0] == '1', Key: a[5]}
	}
	// The table is read under the shard locks (as elsewhere does): a
	// handoff swaps it before walking the shards.
	res, err := rules.RunCounters(s.store, mode, cs, cost, now, c.overLimit, int64(s.cfg.MaxLogLimit), func(key []byte) bool {
		return s.cl.router.Load().Local(shard.Slot(key))
	})
	switch {
	case errors.Is(err, rules.ErrMoved):
		c.out = appendError(c.out, errNotHeld+s.cl.heldBy(cs))
		return
	case errors.Is(err, rules.ErrOOM):
		c.out = appendError(c.out, errOOM)
		return
	case err != nil:
		c.out = appendError(c.out, "ERR "+err.Error())
		return
	}
	c.out = redcon.AppendArray(c.out, 6*len(res))
	for _, r := range res {
		counted := int64(0)
		if r.Counted {
			counted = 1
		}
		for _, v := range [6]int64{r.Limited, r.Limit, r.Remaining, r.RetryAfter, r.ResetAfter, counted} {
			c.out = redcon.AppendInt(c.out, v)
		}
	}
}

var _ peer.Waiter = (*counterReply)(nil)
