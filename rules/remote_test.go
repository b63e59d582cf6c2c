package rules

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/rlserver/rlserver/engine"
)

// fakeCluster places each rule's counters on a node named by the test
// ("" is the engine's own node) and runs other nodes' counters on stores
// of their own with RunCounters, as a real node's RL.COUNTERS does.
type fakeCluster struct {
	mu     sync.Mutex
	stores map[string]*engine.Store
	at     map[string]string // rule id → node
	moved  map[string]int    // node → how many next runs answer ErrMoved
	calls  []string          // "node mode counters"
	async  bool
	// before, when set, runs before a node runs counters (to race).
	before func(node string, mode CountMode)
}

func newFakeCluster(local *engine.Store, nodes ...string) *fakeCluster {
	f := &fakeCluster{stores: map[string]*engine.Store{"": local}, at: map[string]string{}, moved: map[string]int{}}
	for _, n := range nodes {
		f.stores[n] = engine.NewStore(4)
	}
	return f
}

func (f *fakeCluster) place(rule, node string) {
	f.mu.Lock()
	f.at[rule] = node
	f.mu.Unlock()
}

func (f *fakeCluster) Holder(key []byte) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(string(key), "rl:"), ":")
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.at[id]
}

func (f *fakeCluster) Local(key []byte) bool { return f.Holder(key) == "" }

func (f *fakeCluster) Run(node string, mode CountMode, cs []Counter, cost, now int64, done func([]CounterResult, error)) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf("%s %c %d", node, mode, len(cs)))
	moved := f.moved[node] > 0
	if moved {
		f.moved[node]--
	}
	before := f.before
	f.mu.Unlock()
	run := func() {
		if before != nil {
			before(node, mode)
		}
		res, err := RunCounters(f.stores[node], mode, cs, cost, now, false, 10000, func(k []byte) bool {
			return !moved && f.Holder(k) == node
		})
		done(res, err)
	}
	if f.async {
		go run()
		return
	}
	run()
}

func (f *fakeCluster) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func check(t *testing.T, e *Engine, q Request, opt CheckOptions) *Decision {
	t.Helper()
	if err := q.Prepare(); err != nil {
		t.Fatal(err)
	}
	d := new(Decision)
	if err := e.Check(&q, t0, d, opt); err != nil {
		t.Fatal(err)
	}
	return d
}

func allowedCount(t *testing.T, e *Engine, q Request, n int) int {
	t.Helper()
	k := 0
	for range n {
		if check(t, e, q, CheckOptions{}).Allowed {
			k++
		}
	}
	return k
}

// Counters on one other node: that node runs the whole check (one call,
// CountCheck), so a request over one rule consumes from neither, exactly
// as on a single node.
func TestRemoteCheckOnOneNodeIsAtomic(t *testing.T) {
	t.Parallel()
	for _, async := range []bool{false, true} {
		e := newEngine(t)
		f := newFakeCluster(e.store, "b")
		f.async = async
		e.SetPlacement(f)
		mustRule(t, e, `{"id":"minute","per":["user_id"],"algorithm":"fixed_window","limit":3,"window":"1m"}`)
		mustRule(t, e, `{"id":"search","match":{"endpoint":"/s"},"per":["user_id"],"algorithm":"gcra","limit":1,"window":"1m"}`)
		f.place("minute", "b")
		f.place("search", "b")
		search := Request{UserID: "u", Endpoint: "/s"}
		if got := allowedCount(t, e, search, 4); got != 1 {
			t.Fatalf("async=%v: %d searches allowed, want 1", async, got)
		}
		if calls := f.takeCalls(); len(calls) != 4 || calls[0] != "b c 2" {
			t.Fatalf("calls %v, want one CountCheck of 2 counters per request", calls)
		}
		// The three denied searches took nothing from the minute rule.
		d := check(t, e, Request{UserID: "u", Endpoint: "/other"}, CheckOptions{})
		if !d.Allowed || d.Rule.ID != "minute" || d.Remaining != 1 {
			t.Fatalf("async=%v: after denied searches: allowed=%v rule=%v remaining=%d", async, d.Allowed, d.Rule, d.Remaining)
		}
		if keysIn(e.store) != 0 {
			t.Fatal("the local store got counters held by another node")
		}
	}
}

// Counters on two nodes: asked first, consumed only when admitted; the
// limits hold exactly when requests do not race.
func TestRemoteCheckAcrossNodes(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	f := newFakeCluster(e.store, "b")
	f.async = true
	e.SetPlacement(f)
	mustRule(t, e, `{"id":"minute","per":["user_id"],"algorithm":"sliding_window","limit":3,"window":"1m"}`)
	mustRule(t, e, `{"id":"search","match":{"endpoint":"/s"},"per":["ip"],"algorithm":"sliding_log","limit":1,"window":"1m"}`)
	mustRule(t, e, `{"id":"watch","match":{"endpoint":"/s"},"per":["ip"],"algorithm":"gcra","limit":1,"window":"1m","action":"shadow"}`)
	f.place("search", "b")
	search := Request{UserID: "u", IP: "10.0.0.1", Endpoint: "/s"}
	if got := allowedCount(t, e, search, 4); got != 1 {
		t.Fatalf("%d searches allowed, want 1", got)
	}
	calls := f.takeCalls()
	// Allowed: peek then consume on b; denied: peek only.
	want := []string{"b p 1", "b u 1", "b p 1", "b p 1", "b p 1"}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v, want %v", calls, want)
	}
	d := check(t, e, Request{UserID: "u", Endpoint: "/other"}, CheckOptions{})
	if !d.Allowed || d.Rule.ID != "minute" || d.Remaining != 1 {
		t.Fatalf("after denied searches: allowed=%v rule=%v remaining=%d", d.Allowed, d.Rule, d.Remaining)
	}
	// The shadow rule, on this node, counted the admitted search only and
	// reports the denied ones.
	d = check(t, e, search, CheckOptions{})
	for _, r := range d.Results {
		if r.Rule.ID == "watch" && (!r.Limited || r.Counted) {
			t.Fatalf("shadow result %+v", r)
		}
	}
	// Statistics peek across nodes too.
	u, err := e.User("u", t0, 3600)
	if err != nil || u.Remaining == nil || *u.Remaining != 1 || u.RuleID != "minute" {
		t.Fatalf("user stats across nodes: %+v %v", u, err)
	}
}

// A node that no longer holds a counter answers ErrMoved before running
// anything: the check is routed again by the new holders.
func TestRemoteCheckFollowsMovedCounters(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	f := newFakeCluster(e.store, "b", "c")
	e.SetPlacement(f)
	mustRule(t, e, `{"id":"r","per":["user_id"],"algorithm":"gcra","limit":2,"window":"1m"}`)
	f.place("r", "b")
	f.moved["b"] = 1
	if !check(t, e, Request{UserID: "u"}, CheckOptions{}).Allowed {
		t.Fatal("denied")
	}
	if calls := f.takeCalls(); fmt.Sprint(calls) != "[b c 1 b c 1]" {
		t.Fatalf("calls %v", calls)
	}
	// Moving for good: after maxMoves tries the check fails, nothing
	// consumed.
	f.moved["b"] = 100
	q := Request{UserID: "u"}
	q.Prepare()
	err := e.Check(&q, t0, new(Decision), CheckOptions{})
	if err == nil || !strings.HasPrefix(err.Error(), "TRYAGAIN") {
		t.Fatalf("error %v", err)
	}
	f.moved["b"] = 0
	if d := check(t, e, Request{UserID: "u"}, CheckOptions{}); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("second request: allowed=%v remaining=%d", d.Allowed, d.Remaining)
	}
	// A counter that moved to this node is run here.
	f.place("r", "")
	if d := check(t, e, Request{UserID: "v"}, CheckOptions{}); !d.Allowed || keysIn(e.store) != 1 {
		t.Fatalf("local after move: %v, %d keys here", d.Allowed, keysIn(e.store))
	}
}

// Between the ask and the consume step a racing request takes the last
// unit: the request is admitted anyway (0 remaining) and counted.
func TestRemoteCheckRaceOverAdmitsAndIsCounted(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	f := newFakeCluster(e.store, "b")
	e.SetPlacement(f)
	mustRule(t, e, `{"id":"a","per":["user_id"],"algorithm":"fixed_window","limit":5,"window":"1m"}`)
	mustRule(t, e, `{"id":"r","per":["ip"],"algorithm":"fixed_window","limit":1,"window":"1m"}`)
	f.place("r", "b")
	other := newEngine(t) // the racing node: same rule, same counter store
	f.before = func(node string, mode CountMode) {
		if node == "b" && mode == CountConsume {
			mustRule(t, other, `{"id":"r","per":["ip"],"algorithm":"fixed_window","limit":1,"window":"1m"}`)
			q := Request{IP: "10.0.0.1"}
			q.Prepare()
			d := Decision{}
			d.matched = other.snap.Load().matcher.match(nil, &q)
			d.keys, _ = d.matched[0].CounterKey(nil, &q)
			d.ends = []int{len(d.keys)}
			d.hashes = []uint64{engine.Hash(d.keys)}
			d.shards = []int{f.stores["b"].ShardIndex(d.hashes[0])}
			d.Results = make([]RuleResult, 1)
			if err := runSet(f.stores["b"], &d, nil, CountCheck, 1, t0, CheckOptions{}, nil); err != nil || !d.Results[0].Counted {
				t.Errorf("racing request: %v %+v", err, d.Results)
			}
		}
	}
	d := check(t, e, Request{UserID: "u", IP: "10.0.0.1"}, CheckOptions{})
	if !d.Allowed || e.CrossNodeRaces() != 1 {
		t.Fatalf("allowed=%v races=%d", d.Allowed, e.CrossNodeRaces())
	}
	for _, r := range d.Results {
		if r.Rule.ID == "r" && (r.Limited || r.Remaining != 0 || r.Counted) {
			t.Fatalf("raced rule's result %+v", r)
		}
	}
}

// Inside a transaction (every lock held) a check cannot wait for another
// node: ErrRemote, nothing counted. CheckAsync decides local requests at
// once and calls back for the others.
func TestRemoteCheckLockedAndAsync(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	f := newFakeCluster(e.store, "b")
	f.async = true
	e.SetPlacement(f)
	mustRule(t, e, `{"id":"r","per":["user_id"],"algorithm":"gcra","limit":2,"window":"1m"}`)
	f.place("r", "b")
	q := Request{UserID: "u"}
	q.Prepare()
	for i := range e.store.NumShards() {
		e.store.Shard(i).Lock()
	}
	err := e.Check(&q, t0, new(Decision), CheckOptions{Locked: true})
	for i := range e.store.NumShards() {
		e.store.Shard(i).Unlock()
	}
	if !errors.Is(err, ErrRemote) || len(f.takeCalls()) != 0 {
		t.Fatalf("locked remote check: %v", err)
	}
	d := new(Decision)
	ch := make(chan error, 1)
	sync, err := e.CheckAsync(&q, t0, d, CheckOptions{}, func(err error) { ch <- err })
	if sync || err != nil {
		t.Fatalf("remote check answered at once: %v %v", sync, err)
	}
	if err := <-ch; err != nil || !d.Allowed || d.Remaining != 1 {
		t.Fatalf("async: %v allowed=%v remaining=%d", err, d.Allowed, d.Remaining)
	}
	f.place("r", "")
	sync, err = e.CheckAsync(&q, t0, d, CheckOptions{}, func(error) { t.Error("called back for a local check") })
	if !sync || err != nil || !d.Allowed {
		t.Fatalf("local async: %v %v", sync, err)
	}
}

// RunCounters takes parameters from another node: bad ones are refused,
// never run.
func TestRunCountersValidates(t *testing.T) {
	t.Parallel()
	st := engine.NewStore(4)
	yes := func([]byte) bool { return true }
	for _, c := range []Counter{
		{Algorithm: "nope", Limit: 1, Window: 1, Key: []byte("k")},
		{Algorithm: AlgGCRA, Limit: 0, Window: 1, Key: []byte("k")},
		{Algorithm: AlgGCRA, Limit: 1, Window: 0, Key: []byte("k")},
		{Algorithm: AlgSlidingLog, Limit: 1 << 40, Window: 1, Key: []byte("k")},
	} {
		if _, err := RunCounters(st, CountCheck, []Counter{c}, 1, t0, false, 10000, yes); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if _, err := RunCounters(st, 'x', nil, 1, t0, false, 0, yes); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := RunCounters(st, CountCheck, []Counter{{Algorithm: AlgGCRA, Limit: 1, Window: 1, Key: []byte("k")}}, 1, t0, true, 0, yes); !errors.Is(err, ErrOOM) {
		t.Errorf("no new keys: %v", err)
	}
	if keysIn(st) != 0 {
		t.Fatal("a refused run stored something")
	}
	res, err := RunCounters(st, CountConsume, []Counter{{Algorithm: AlgFixedWindow, Limit: 1, Window: 60, Key: []byte("k")}}, 1, t0, false, 0, yes)
	if err != nil || len(res) != 1 || !res[0].Counted || res[0].Remaining != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

// keysIn counts st's keys.
func keysIn(st *engine.Store) int {
	n := 0
	for i := range st.NumShards() {
		sh := st.Shard(i)
		sh.Lock()
		n += sh.Len()
		sh.Unlock()
	}
	return n
}
