package rules

import (
	"errors"
	"slices"

	"github.com/rlserver/rlserver/engine"
)

// Why a check was decided the way it was.
const (
	ReasonRule      = "rule"       // decided by the matching rules
	ReasonNoRule    = "no_rule"    // no rule applies: allowed
	ReasonAllowList = "allow_list" // on the allow list: allowed, nothing counted
	ReasonDenyList  = "deny_list"  // on the deny list: rejected, nothing counted
)

// ErrOOM is returned when a check would create a counter while the store
// is at maxmemory (policy noeviction). Nothing was counted.
var ErrOOM = errors.New("rules: the store is at maxmemory; no new counter can be created")

// RuleResult is one rule's verdict on a request.
type RuleResult struct {
	Rule *Rule
	// Limited: the rule found the request over its limit. For a shadow
	// rule this is reported and never denies.
	Limited bool
	// Counted: the request was consumed from this rule's counter.
	Counted bool
	engine.Result
}

// Decision is the outcome of a check. The zero value is ready for use;
// reuse one Decision across checks to avoid allocating (its slices are
// reset by Check).
type Decision struct {
	Allowed bool
	Reason  string
	// Entry is the list entry for ReasonAllowList and ReasonDenyList.
	Entry *ListEntry
	// Rule is the most restrictive rule (nil when no enforcing rule
	// applies): when denied, the rejecting rule with the longest wait;
	// when allowed, the enforcing rule with the least remaining. Ties go
	// to the lower priority number, then the smaller id.
	Rule *Rule
	// Limit, Remaining, RetryAfter and ResetAfter are Rule's figures
	// (RetryAfter -1 when allowed); ResetAt is Unix seconds.
	Limit, Remaining, RetryAfter, ResetAfter, ResetAt int64
	// Tier is the request's resolved tier.
	Tier string
	// Results has every applying rule's verdict, in priority order,
	// shadow rules included.
	Results []RuleResult

	matched []*compiled
	keys    []byte
	ends    []int
	hashes  []uint64
	shards  []int
	locks   []int
}

// CheckOptions adjust one check.
type CheckOptions struct {
	// Locked: the caller already holds every shard lock of the store
	// (a transaction); Check takes none.
	Locked bool
	// NoNewKeys: the store is at maxmemory; a check that would create a
	// counter fails with ErrOOM instead.
	NoNewKeys bool
	// Peek: decide without counting (statistics, dry runs).
	Peek bool
}

// Check decides q at now (Unix ns, the server's clock): deny list, then
// allow list, then every enabled rule that matches, evaluated atomically.
// All counters of the request are locked together (their shards in index
// order, the discipline transactions use), every rule is asked first, and
// only if no rejecting rule is over its limit is the request consumed
// from all of them. So a request under one rule's limit and over
// another's consumes from neither. Shadow rules count and report but
// never deny. q must have been prepared (Request.Prepare).
//
// In a cluster (SetPlacement) counters held by other nodes are evaluated
// there and Check waits for them; see Placement for what stays atomic.
// With opt.Locked such a request fails with ErrRemote instead.
//
// Safe for concurrent use.
func (e *Engine) Check(q *Request, now int64, d *Decision, opt CheckOptions) error {
	err := e.checkLocal(q, now, d, opt)
	if err != errRemote {
		return err
	}
	// Copies, so that q and d do not escape for the common local check.
	rq, rd := new(Request), new(Decision)
	*rq, *rd = *q, *d
	ch := make(chan error, 1)
	e.checkRemote(rq, now, rd, opt, func(err error) { ch <- err })
	err = <-ch
	*d = *rd
	return err
}

// CheckAsync is Check for callers that must not wait, such as an event
// loop. When the request is decided at once (every counter is on this
// node, or none applies) it returns true and Check's error. Otherwise it
// returns false and calls done exactly once, on another goroutine (or on
// this one, before returning, when another node's answer is already
// there), with the error once d holds the decision; q and d must be left
// alone until then.
func (e *Engine) CheckAsync(q *Request, now int64, d *Decision, opt CheckOptions, done func(error)) (bool, error) {
	err := e.checkLocal(q, now, d, opt)
	if err != errRemote {
		return true, err
	}
	e.checkRemote(q, now, d, opt, done)
	return false, nil
}

// errRemote: some counter of the request is held by another node.
var errRemote = errors.New("rules: counters held elsewhere")

// ErrRemote is returned by a check with CheckOptions.Locked whose counters
// are not all on this node: it cannot wait for other nodes while holding
// every lock of the store.
var ErrRemote = errors.New("rules: the request's counters are held by other nodes; it cannot be decided inside a transaction or script on this node")

// checkLocal decides q when its counters are all on this node and
// returns errRemote (d prepared for checkRemote) when they are not.
func (e *Engine) checkLocal(q *Request, now int64, d *Decision, opt CheckOptions) error {
	d.reset()
	s := e.snap.Load()
	q.tier = e.resolveTier(q)
	d.Tier = q.tier
	if !s.deny.empty() {
		if en := s.deny.find(q, now); en != nil {
			d.Allowed, d.Reason, d.Entry = false, ReasonDenyList, en
			e.record(q, d, now, opt)
			return nil
		}
	}
	if !s.allow.empty() {
		if en := s.allow.find(q, now); en != nil {
			d.Allowed, d.Reason, d.Entry = true, ReasonAllowList, en
			e.record(q, d, now, opt)
			return nil
		}
	}
	d.matched = s.matcher.match(d.matched, q)
	// Rules whose Per fields the request lacks do not apply.
	n := 0
	for _, c := range d.matched {
		var ok bool
		if d.keys, ok = c.CounterKey(d.keys, q); ok {
			d.matched[n] = c
			n++
			d.ends = append(d.ends, len(d.keys))
		} else {
			d.keys = d.keys[:d.end(n-1)]
		}
	}
	d.matched = d.matched[:n]
	if n == 0 {
		d.Allowed, d.Reason = true, ReasonNoRule
		e.record(q, d, now, opt)
		return nil
	}
	for i := range d.matched {
		h := engine.Hash(d.key(i))
		d.hashes = append(d.hashes, h)
		d.shards = append(d.shards, e.store.ShardIndex(h))
	}
	d.Results = slices.Grow(d.Results[:0], n)[:n]
	mode := CountCheck
	if opt.Peek {
		mode = CountPeek
	}
	var held func([]byte) bool
	if p := e.place.Load(); p != nil {
		held = (*p).Local
	}
	switch err := runSet(e.store, d, nil, mode, q.Cost, now, opt, held); {
	case err == errMoved && opt.Locked:
		return ErrRemote
	case err == errMoved:
		return errRemote
	case err != nil:
		return err
	}
	e.finish(q, d, now, opt)
	return nil
}

// finish reports a decision evaluated by the rules: the deciding rule,
// statistics and the rules' counters.
func (e *Engine) finish(q *Request, d *Decision, now int64, opt CheckOptions) {
	d.Reason = ReasonRule
	d.decide(now)
	e.record(q, d, now, opt)
	if !opt.Peek {
		for i := range d.Results {
			c := d.matched[i]
			c.counters.hits.Add(1)
			if d.Results[i].Limited {
				c.counters.limited.Add(1)
			}
		}
	}
}

func (d *Decision) reset() {
	*d = Decision{
		Results: d.Results[:0], matched: d.matched[:0], keys: d.keys[:0],
		ends: d.ends[:0], hashes: d.hashes[:0], shards: d.shards[:0], locks: d.locks[:0],
		RetryAfter: -1,
	}
}

// end returns the end offset of key i in d.keys (0 for i = -1).
func (d *Decision) end(i int) int {
	if i < 0 {
		return 0
	}
	return d.ends[i]
}

func (d *Decision) key(i int) []byte { return d.keys[d.end(i-1):d.ends[i]] }

// CountMode says how a set of counters is run (Placement.Run,
// RunCounters).
type CountMode byte

const (
	// CountCheck is a check's own evaluation: every counter is asked,
	// and only when no enforcing one is over its limit is the request
	// consumed from all of them (shadow counters included); a denied
	// request consumes nothing.
	CountCheck CountMode = 'c'
	// CountPeek asks every counter and consumes nothing.
	CountPeek CountMode = 'p'
	// CountConsume consumes from every counter that has room.
	CountConsume CountMode = 'u'
)

// errMoved: a counter's key is not held by the node asked (nothing ran).
var errMoved = errors.New("rules: a counter moved to another node")

// ErrMoved is what Placement.Run reports when the node asked no longer
// holds one of the counters' keys; nothing ran there.
var ErrMoved = errMoved

// runSet runs the counters idx of d (every one when idx is nil) on st in
// mode, with their shards locked unless opt.Locked; d.Results[i] gets
// counter i's verdict. held, when set, must say true for each key under
// the locks, or nothing runs and the error is errMoved.
func runSet(st *engine.Store, d *Decision, idx []int, mode CountMode, cost, now int64, opt CheckOptions, held func([]byte) bool) error {
	all := idx == nil
	count := len(idx)
	if all {
		count = len(d.matched)
	}
	at := func(j int) int {
		if all {
			return j
		}
		return idx[j]
	}
	if !opt.Locked {
		d.locks = d.locks[:0]
		for j := range count {
			d.locks = append(d.locks, d.shards[at(j)])
		}
		slices.Sort(d.locks)
		locks := slices.Compact(d.locks)
		for _, i := range locks {
			st.Shard(i).Lock()
		}
		defer func() {
			for _, i := range locks {
				st.Shard(i).Unlock()
			}
		}()
	}
	if held != nil {
		for j := range count {
			if !held(d.key(at(j))) {
				return errMoved
			}
		}
	}
	if opt.NoNewKeys && mode != CountPeek {
		for j := range count {
			i := at(j)
			if !st.Shard(d.shards[i]).Exists(d.hashes[i], d.key(i), now/1e6) {
				return ErrOOM
			}
		}
	}
	switch mode {
	case CountPeek, CountConsume:
		peek := mode == CountPeek
		for j := range count {
			i := at(j)
			c := d.matched[i]
			res, err := run(st, c, d, i, cost, now, peek)
			if err != nil {
				return err
			}
			d.Results[i] = RuleResult{Rule: c.rule, Limited: res.Limited != 0, Result: res, Counted: !peek && res.Limited == 0}
		}
		return nil
	}
	enforcing := 0
	for j := range count {
		if !d.matched[at(j)].shadow {
			enforcing++
		}
	}
	// Ask every rule first (no counter moves); with at most one enforcing
	// rule its own call decides, so it need not be asked twice.
	peekFirst := enforcing > 1
	denied := false
	for j := range count {
		i := at(j)
		c := d.matched[i]
		if c.shadow {
			continue
		}
		res, err := run(st, c, d, i, cost, now, peekFirst)
		if err != nil {
			return err
		}
		d.Results[i] = RuleResult{Rule: c.rule, Limited: res.Limited != 0, Result: res, Counted: !peekFirst && res.Limited == 0}
		if res.Limited != 0 {
			denied = true
		}
	}
	for j := range count {
		i := at(j)
		c := d.matched[i]
		switch {
		case denied && c.shadow:
			// A denied request is not counted anywhere; shadow rules
			// still report what they would have said.
			res, err := run(st, c, d, i, cost, now, true)
			if err != nil {
				return err
			}
			d.Results[i] = RuleResult{Rule: c.rule, Limited: res.Limited != 0, Result: res}
		case denied || (!peekFirst && !c.shadow):
			// Nothing to consume, or already consumed.
		default:
			res, err := run(st, c, d, i, cost, now, false)
			if err != nil {
				return err
			}
			d.Results[i] = RuleResult{Rule: c.rule, Limited: res.Limited != 0, Result: res, Counted: res.Limited == 0}
		}
	}
	return nil
}

// run applies rule c to its counter (key i of d) in st. The caller holds
// the shard lock. A counter key holding a value of another kind (written
// by a plain command) is replaced.
func run(st *engine.Store, c *compiled, d *Decision, i int, cost, now int64, peek bool) (engine.Result, error) {
	sh := st.Shard(d.shards[i])
	h, key := d.hashes[i], d.key(i)
	for attempt := 0; ; attempt++ {
		var res engine.Result
		var err error
		switch c.kind {
		case kindGCRA:
			p := c.gcra
			p.Quantity = cost
			res, err = sh.ThrottleGCRAInterval(h, key, p, c.emission, now, peek)
		case kindSW:
			p := c.window
			p.Quantity = cost
			res, err = sh.ThrottleSlidingWindow(h, key, p, now, peek)
		case kindSWLog:
			p := c.window
			p.Quantity = cost
			res, err = sh.ThrottleSlidingLog(h, key, p, now, peek)
		case kindFixed:
			p := c.window
			p.Quantity = cost
			res, err = sh.ThrottleFixedWindow(h, key, p, now, peek)
		}
		if err == nil || attempt > 0 || !errors.Is(err, engine.ErrWrongType) {
			return res, err
		}
		sh.Delete(h, key, now/1e6)
	}
}

// decide picks the deciding rule and the overall verdict from d.Results.
func (d *Decision) decide(now int64) {
	best := -1
	d.Allowed = true
	for i := range d.Results {
		r := &d.Results[i]
		if r.Rule.Action == ActionShadow {
			continue
		}
		if r.Limited {
			d.Allowed = false
		}
	}
	for i := range d.Results {
		r := &d.Results[i]
		if r.Rule.Action == ActionShadow || (!d.Allowed && !r.Limited) {
			continue
		}
		if best < 0 || moreRestrictive(r, &d.Results[best], d.Allowed) {
			best = i
		}
	}
	if best < 0 {
		return // only shadow rules applied
	}
	r := &d.Results[best]
	d.Rule = r.Rule
	d.Limit, d.Remaining, d.ResetAfter = r.Limit, r.Remaining, r.ResetAfter
	if !d.Allowed {
		d.RetryAfter = r.RetryAfter
	}
	// ResetAfter, as redis-cell rounds it, ignores a remainder under a
	// millisecond; it counts from now rounded up to the millisecond, so
	// that is where ResetAt counts from too (a fixed window's reset is
	// then its end exactly, also in the last millisecond of a second).
	d.ResetAt = (now+999_999)/1e6/1000 + d.ResetAfter
}

// moreRestrictive reports whether a beats b as the rule to report: when
// denied, the longest wait (a retry of -1, "never fits", is longest);
// when allowed, the least remaining. Results are in priority order, so
// an equal one keeps the earlier.
func moreRestrictive(a, b *RuleResult, allowed bool) bool {
	if !allowed {
		wa, wb := a.RetryAfter, b.RetryAfter
		if wa < 0 {
			wa = 1 << 62
		}
		if wb < 0 {
			wb = 1 << 62
		}
		return wa > wb
	}
	return a.Remaining < b.Remaining
}

func (e *Engine) record(q *Request, d *Decision, now int64, opt CheckOptions) {
	if !opt.Peek {
		e.stats.record(q, d, now)
	}
}
