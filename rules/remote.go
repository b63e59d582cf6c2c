package rules

import (
	"errors"
	"fmt"
	"sync"

	"github.com/rlserver/rlserver/engine"
)

// Placement says where a check's counters are kept when the engine's
// store is one node's part of a cluster, and runs counters on the nodes
// that hold them. Without one (single node) every counter is local.
//
// What a check guarantees in a cluster:
//   - every counter on this node: as on a single node (atomic);
//   - every counter on one other node: that node runs the whole
//     evaluation (CountCheck) under its shard locks, so the request is
//     still decided atomically, at the instant it was received here;
//   - counters on several nodes: each node is asked first (CountPeek); if
//     any enforcing rule is over its limit the request is denied and
//     nothing is consumed anywhere; otherwise every node consumes
//     (CountConsume). Between the two steps another request may take the
//     last unit of a counter: then this one is still admitted (the rule
//     over-admits by the requests that raced, at most one per concurrent
//     request) and its result for that rule says 0 remaining. Counters are
//     never reset and nothing is consumed twice.
//
// Counter keys carry a hash tag (see compiled.CounterKey) so that one
// client's counters under several rules share a slot: such requests are
// single-node requests.
type Placement interface {
	// Local reports whether this node holds key's counter. It is called
	// with key's store shard locked, so that a handoff, which changes
	// routing before it walks the store's shards, carries along any
	// counter written under that lock after Local said true.
	Local(key []byte) bool
	// Holder names the node that holds key's counter ("" for this node).
	Holder(key []byte) string
	// Run runs cs (their keys all held by node, as Holder said) at now
	// with quantity cost in mode and calls done exactly once with one
	// result per counter, in order, or an error: ErrMoved when the node
	// no longer holds one of the keys (nothing ran there), ErrOOM, or
	// another failure. When the node does not answer, Run decides by the
	// cluster's unreachable-owner policy and reports that as the result.
	// Run must not block; done may run on any goroutine, even before Run
	// returns. cs and its keys are valid until done is called.
	Run(node string, mode CountMode, cs []Counter, cost, now int64, done func([]CounterResult, error))
}

// Counter is one rule's counter in a check, as the node holding it needs
// it: the rule's counting parameters and the counter's key.
type Counter struct {
	Algorithm string
	Limit     int64
	Window    Window
	Burst     int64
	Shadow    bool
	Key       []byte
}

// CounterResult is a counter's verdict: the limiter's five figures and
// whether the request was consumed from it.
type CounterResult struct {
	engine.Result
	Counted bool
}

// SetPlacement makes checks route counters by p (a cluster); nil returns
// to single-node checks. Safe to call at any time.
func (e *Engine) SetPlacement(p Placement) {
	if p == nil {
		e.place.Store(nil)
		return
	}
	e.place.Store(&p)
}

// counterOf describes matched rule i of d for another node.
func (d *Decision) counterOf(i int) Counter {
	r := d.matched[i].rule
	return Counter{Algorithm: r.Algorithm, Limit: r.Limit, Window: r.Window, Burst: r.Burst, Shadow: d.matched[i].shadow, Key: d.key(i)}
}

// RunCounters runs cs on store at now in mode: the side of Placement.Run
// on the node that holds the counters. Their shards are locked together
// and held reports, under the locks, whether this node still holds each
// key; when one is not, nothing runs and the error is ErrMoved. Counter
// parameters come from another node and are validated as a rule's are
// (maxLogLimit caps sliding_log limits); noNewKeys is CheckOptions'.
func RunCounters(store *engine.Store, mode CountMode, cs []Counter, cost, now int64, noNewKeys bool, maxLogLimit int64, held func(key []byte) bool) ([]CounterResult, error) {
	switch mode {
	case CountCheck, CountPeek, CountConsume:
	default:
		return nil, fmt.Errorf("rules: unknown count mode %q", mode)
	}
	if cost < 0 || cost > MaxCost {
		return nil, fmt.Errorf("rules: cost %d out of range", cost)
	}
	d := &Decision{}
	for i, c := range cs {
		r := &Rule{ID: "remote", Algorithm: c.Algorithm, Limit: c.Limit, Window: c.Window, Burst: c.Burst, Action: ActionReject}
		if c.Shadow {
			r.Action = ActionShadow
		}
		if err := r.Validate(Limits{MaxLogLimit: maxLogLimit}); err != nil {
			return nil, fmt.Errorf("rules: counter %d: %w", i, err)
		}
		d.matched = append(d.matched, compile(r, nil))
		d.keys = append(d.keys, c.Key...)
		d.ends = append(d.ends, len(d.keys))
		h := engine.Hash(c.Key)
		d.hashes = append(d.hashes, h)
		d.shards = append(d.shards, store.ShardIndex(h))
	}
	d.Results = make([]RuleResult, len(cs))
	if err := runSet(store, d, nil, mode, cost, now, CheckOptions{NoNewKeys: noNewKeys}, held); err != nil {
		return nil, err
	}
	out := make([]CounterResult, len(cs))
	for i, r := range d.Results {
		out[i] = CounterResult{Result: r.Result, Counted: r.Counted}
	}
	return out, nil
}

// maxMoves bounds how often a check is routed again because a counter
// moved while it was on its way.
const maxMoves = 3

// remoteCheck is a check whose counters are not all on this node (see
// Placement). It runs as callbacks: each step sends one request per
// holding node, and whichever answer comes last takes the next step.
type remoteCheck struct {
	e     *Engine
	place Placement
	q     *Request
	d     *Decision
	now   int64
	opt   CheckOptions
	done  func(error)
	moves int

	mode   CountMode
	groups []holderGroup

	mu   sync.Mutex
	left int
	err  error
}

// holderGroup is the counters one node holds.
type holderGroup struct {
	node  string // "" for this node
	idx   []int  // indexes in d.matched
	cs    []Counter
	moved bool // the node answered ErrMoved (under remoteCheck.mu)
}

// checkRemote decides q, prepared by checkLocal, across the nodes that
// hold its counters, and calls done.
func (e *Engine) checkRemote(q *Request, now int64, d *Decision, opt CheckOptions, done func(error)) {
	p := e.place.Load()
	if p == nil { // cannot happen: checkLocal saw one
		done(errors.New("rules: no placement"))
		return
	}
	rc := &remoteCheck{e: e, place: *p, q: q, d: d, now: now, opt: opt, done: done}
	rc.route()
}

// route groups the counters by holder and starts the first step.
func (rc *remoteCheck) route() {
	all := make([]int, len(rc.d.matched))
	for i := range all {
		all[i] = i
	}
	rc.regroup(all)
	switch {
	case rc.opt.Peek:
		rc.mode = CountPeek
	case len(rc.groups) == 1:
		rc.mode = CountCheck
	default:
		rc.mode = CountPeek // then CountConsume, unless denied
	}
	rc.send()
}

// regroup groups counters idx by their current holder.
func (rc *remoteCheck) regroup(idx []int) {
	rc.groups = rc.groups[:0]
	for _, i := range idx {
		node := rc.place.Holder(rc.d.key(i))
		g := -1
		for j := range rc.groups {
			if rc.groups[j].node == node {
				g = j
				break
			}
		}
		if g < 0 {
			rc.groups = append(rc.groups, holderGroup{node: node})
			g = len(rc.groups) - 1
		}
		rc.groups[g].idx = append(rc.groups[g].idx, i)
		rc.groups[g].cs = append(rc.groups[g].cs, rc.d.counterOf(i))
	}
}

// send runs the current step on every group: other nodes first (their
// answers travel while this node works), then this node's counters. The
// last answer takes the next step (next), possibly on another goroutine;
// send touches nothing after its last Run or runSet.
func (rc *remoteCheck) send() {
	groups := rc.groups
	rc.mu.Lock()
	rc.left, rc.err = len(groups), nil
	rc.mu.Unlock()
	local := -1
	for gi := range groups {
		g := &groups[gi]
		if g.node == "" {
			local = gi
			continue
		}
		rc.place.Run(g.node, rc.mode, g.cs, rc.q.Cost, rc.now, func(res []CounterResult, err error) {
			if err == nil && len(res) != len(g.idx) {
				err = fmt.Errorf("rules: %d results for %d counters", len(res), len(g.idx))
			}
			if err == nil {
				for k, i := range g.idx {
					c := rc.d.matched[i]
					rc.d.Results[i] = RuleResult{Rule: c.rule, Limited: res[k].Limited != 0, Result: res[k].Result, Counted: res[k].Counted}
				}
			}
			rc.arrived(g, err)
		})
	}
	if local >= 0 {
		g := &groups[local]
		opt := rc.opt
		opt.Locked = false
		rc.arrived(g, runSet(rc.e.store, rc.d, g.idx, rc.mode, rc.q.Cost, rc.now, opt, rc.place.Local))
	}
}

// arrived records group g's answer; the last one takes the next step.
func (rc *remoteCheck) arrived(g *holderGroup, err error) {
	rc.mu.Lock()
	g.moved = err == errMoved
	if err != nil && (rc.err == nil || rc.err == errMoved) {
		rc.err = err
	}
	rc.left--
	last := rc.left == 0
	err = rc.err
	rc.mu.Unlock()
	if last {
		rc.next(err)
	}
}

// next takes the step after every group has answered.
func (rc *remoteCheck) next(err error) {
	d := rc.d
	if err == errMoved && rc.moves < maxMoves {
		rc.moves++
		if rc.mode != CountConsume {
			// Nothing was consumed yet: route again from the start.
			rc.route()
			return
		}
		// Some nodes consumed already: consume the rest from their new
		// holders, counter by counter.
		var again []int
		for _, g := range rc.groups {
			if g.moved {
				again = append(again, g.idx...)
			}
		}
		rc.regroup(again)
		rc.send()
		return
	}
	if err != nil {
		if err == errMoved {
			err = errors.New("TRYAGAIN the request's counters kept moving between nodes")
		}
		rc.done(err)
		return
	}
	if rc.mode == CountPeek && !rc.opt.Peek {
		denied := false
		for i, c := range d.matched {
			if !c.shadow && d.Results[i].Limited {
				denied = true
			}
		}
		if !denied {
			rc.mode = CountConsume
			all := make([]int, len(d.matched))
			for i := range all {
				all[i] = i
			}
			rc.regroup(all)
			rc.send()
			return
		}
	}
	if rc.mode == CountConsume {
		// The request was admitted when every node was asked; a counter
		// that a racing request emptied since then admits it anyway.
		for i, c := range d.matched {
			if r := &d.Results[i]; !c.shadow && r.Limited {
				r.Limited, r.Result.Limited, r.Remaining, r.RetryAfter = false, 0, 0, -1
				rc.e.races.Add(1)
			}
		}
	}
	rc.e.finish(rc.q, d, rc.now, rc.opt)
	rc.done(nil)
}
