package rules

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMatching(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		match   string
		req     Request
		matches bool
	}{
		{`{}`, Request{}, true},
		{`{"user_id":"u1"}`, Request{UserID: "u1"}, true},
		{`{"user_id":"u1"}`, Request{UserID: "u2"}, false},
		{`{"user_id":"u1"}`, Request{}, false},
		{`{"api_key":"k"}`, Request{APIKey: "k"}, true},
		{`{"api_key":"k"}`, Request{APIKey: "K"}, false},
		{`{"endpoint":"/api/pay"}`, Request{Endpoint: "/api/payments"}, true},
		{`{"endpoint":"/api/pay"}`, Request{Endpoint: "/api/pa"}, false},
		{`{"endpoint":"/users/*"}`, Request{Endpoint: "/users/1"}, true},
		{`{"endpoint":"/users/*"}`, Request{Endpoint: "/users"}, false},
		{`{"endpoint":"/"}`, Request{Endpoint: "/x"}, true},
		{`{"endpoint":"/"}`, Request{}, false},
		{`{"method":"get"}`, Request{Method: "GET"}, true},
		{`{"method":"GET"}`, Request{Method: "get"}, true},
		{`{"method":"POST,PUT"}`, Request{Method: "PUT"}, true},
		{`{"method":"POST,PUT"}`, Request{Method: "GET"}, false},
		{`{"ip":"10.0.0.0/8"}`, Request{IP: "10.200.3.4"}, true},
		{`{"ip":"10.0.0.0/8"}`, Request{IP: "11.0.0.1"}, false},
		{`{"ip":"10.0.0.0/8"}`, Request{}, false},
		{`{"ip":"10.1.2.3"}`, Request{IP: "10.1.2.3"}, true},
		{`{"ip":"10.1.2.3"}`, Request{IP: "::ffff:10.1.2.3"}, true},
		{`{"ip":"::ffff:10.0.0.0/104"}`, Request{IP: "10.9.9.9"}, true},
		{`{"ip":"10.1.2.3/8"}`, Request{IP: "10.9.9.9"}, true}, // masked to 10.0.0.0/8
		{`{"ip":"2001:db8::/32"}`, Request{IP: "2001:db8:1::5"}, true},
		{`{"ip":"2001:db8::/32"}`, Request{IP: "10.0.0.1"}, false},
		{`{"ip":"0.0.0.0/0"}`, Request{IP: "2001:db8::1"}, false},
		{`{"tier":"free"}`, Request{UserID: "u"}, true},               // default tier
		{`{"tier":"anonymous"}`, Request{IP: "1.2.3.4"}, true},        // no user, no key
		{`{"tier":"anonymous"}`, Request{APIKey: "k"}, false},         // a key is an identity
		{`{"tier":"gold"}`, Request{UserID: "u", Tier: "gold"}, true}, // the caller's tier
		{`{"user_tier":"gold"}`, Request{UserID: "u", Tier: "x"}, false},
		{`{"user_id":"u1","endpoint":"/a","method":"GET","ip":"10.0.0.0/8"}`, Request{UserID: "u1", Endpoint: "/a/b", Method: "GET", IP: "10.0.0.1"}, true},
		{`{"user_id":"u1","endpoint":"/a","method":"GET","ip":"10.0.0.0/8"}`, Request{UserID: "u1", Endpoint: "/a/b", Method: "GET", IP: "12.0.0.1"}, false},
	} {
		e := newEngine(t)
		mustRule(t, e, `{"id":"r","limit":5,"window":"1m","selector":`+tc.match+`}`)
		mustRule(t, e, `{"id":"off","enabled":false,"limit":5,"window":"1m","match":`+strings.ReplaceAll(tc.match, "user_tier", "tier")+`}`)
		q := tc.req
		if err := q.Prepare(); err != nil {
			t.Fatal(err)
		}
		var d Decision
		if err := e.Check(&q, t0, &d, CheckOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := d.Reason == ReasonRule; got != tc.matches {
			t.Errorf("match %s, request %+v: matched=%v, want %v", tc.match, tc.req, got, tc.matches)
		}
		if len(d.Results) > 1 {
			t.Errorf("a disabled rule applied: %s", dump(d.Results))
		}
	}
}

// The index must find exactly what checking every rule finds.
func TestMatcherAgreesWithBruteForce(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	var rules []*compiled
	for i := range 1500 {
		r := Rule{ID: fmt.Sprintf("r%d", i), Priority: rng.IntN(5), Enabled: true, Algorithm: AlgFixedWindow, Limit: 1, Window: 60, Action: ActionReject}
		r.Match = Match{
			UserID:   pick("", "", "", "u1", "u2"),
			APIKey:   pick("", "", "", "k1"),
			IP:       pick("", "", "", "10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "2001:db8::/32", "192.0.2.0/24"),
			Endpoint: pick("", "", "/", "/a", "/a/b", "/c"),
			Method:   pick("", "", "GET", "POST,PUT"),
			Tier:     pick("", "", "free", "anonymous", "gold"),
		}
		if err := r.Validate(Limits{}); err != nil {
			t.Fatal(err)
		}
		rules = append(rules, compile(&r, new(ruleCounters)))
	}
	m := newMatcher(rules)
	for range 1500 {
		q := Request{
			UserID:   pick("", "u1", "u2", "u3"),
			APIKey:   pick("", "k1", "k2"),
			IP:       pick("", "10.1.2.3", "10.1.9.9", "10.9.9.9", "192.0.2.7", "2001:db8::1", "8.8.8.8"),
			Endpoint: pick("", "/", "/a", "/a/b/c", "/ab", "/c/d"),
			Method:   pick("", "GET", "PUT", "DELETE"),
		}
		q.Prepare()
		q.tier = pick("free", "anonymous", "gold")
		got := m.match(nil, &q)
		var want []*compiled
		for _, c := range rules {
			if c.matches(&q) {
				want = append(want, c)
			}
		}
		slices.SortFunc(want, func(a, b *compiled) int {
			if before(a, b) {
				return -1
			}
			return 1
		})
		if !slices.Equal(got, want) {
			t.Fatalf("request %+v: index found %d rules, brute force %d", q, len(got), len(want))
		}
	}
}

func TestShadowRulesReportButNeverDeny(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"enforce","per":["user_id"],"algorithm":"fixed_window","limit":3,"window":"1m"}`)
	mustRule(t, e, `{"id":"trial","action":"shadow","per":["user_id"],"algorithm":"fixed_window","limit":1,"window":"1m"}`)
	var d Decision
	check := func() {
		q := Request{UserID: "u"}
		q.Prepare()
		if err := e.Check(&q, t0, &d, CheckOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	result := func(id string) RuleResult {
		for _, r := range d.Results {
			if r.Rule.ID == id {
				return r
			}
		}
		t.Fatalf("no result for %s: %s", id, dump(d.Results))
		return RuleResult{}
	}
	check()
	if !d.Allowed || d.Rule.ID != "enforce" || d.Remaining != 2 || result("trial").Limited || !result("trial").Counted {
		t.Fatalf("first: %s", dump(d))
	}
	check()
	// Over the shadow rule's limit: reported, not denied, and the headers
	// still come from the enforcing rule.
	if !d.Allowed || d.Rule.ID != "enforce" || d.Remaining != 1 || !result("trial").Limited {
		t.Fatalf("second: %s", dump(d))
	}
	check()
	check()
	if d.Allowed || d.Rule.ID != "enforce" {
		t.Fatalf("fourth: %s", dump(d))
	}
	if r := result("trial"); r.Counted {
		t.Fatal("a denied request was counted by the shadow rule")
	}
	// Only shadow rules: allowed, no deciding rule.
	e2 := newEngine(t)
	mustRule(t, e2, `{"id":"trial","action":"shadow","limit":1,"window":"1m"}`)
	for range 3 {
		q := Request{}
		q.Prepare()
		e2.Check(&q, t0, &d, CheckOptions{})
		if !d.Allowed || d.Rule != nil || d.Reason != ReasonRule {
			t.Fatalf("shadow only: %s", dump(d))
		}
	}
	if !d.Results[0].Limited {
		t.Fatal("the shadow rule did not report being over")
	}
}

func TestAllowAndDenyLists(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"tight","per":["ip"],"algorithm":"fixed_window","limit":1,"window":"1h"}`)
	add := func(list, typ, value, ttl string) ListEntry {
		spec := ListSpec{Type: &typ, Value: &value}
		if ttl != "" {
			spec.TTL = &ttl
		}
		en, err := e.AddListEntry(list, &spec, "test", t0)
		if err != nil {
			t.Fatal(err)
		}
		return en
	}
	add(ListDeny, "ip", "192.0.2.0/24", "")
	add(ListDeny, "api_key", "sk_leaked", "")
	add(ListAllow, "user_id", "vip", "")
	add(ListAllow, "ip", "10.0.0.0/8", "1h")
	add(ListAllow, "ip", "192.0.2.5", "") // deny wins
	h := time.Hour
	runSteps(t, e, []step{
		{req: Request{IP: "192.0.2.5"}, allowed: false, reason: ReasonDenyList},
		{req: Request{IP: "2001:db8::1", APIKey: "sk_leaked"}, allowed: false, reason: ReasonDenyList},
		{req: Request{UserID: "vip", IP: "203.0.113.1"}, n: 5, allowed: true, reason: ReasonAllowList},
		{req: Request{IP: "10.4.4.4"}, n: 5, allowed: true, reason: ReasonAllowList},
		// The allow entry expires after an hour: the rule applies again.
		{at: h, req: Request{IP: "10.4.4.4"}, allowed: true, rule: "tight", reason: ReasonRule},
		{at: h, req: Request{IP: "10.4.4.4"}, allowed: false, rule: "tight"},
		// Not on any list.
		{req: Request{IP: "203.0.113.1"}, allowed: true, rule: "tight"},
	})
	// The allowed requests of vip were not counted anywhere.
	if _, n := e.ListEntries(ListAllow, 1, 10); n != 3 {
		t.Fatalf("allow list has %d entries", n)
	}
	// The same entry twice is a conflict; deleting works once.
	typ, val := "ip", "192.0.2.0/24"
	if _, err := e.AddListEntry(ListDeny, &ListSpec{Type: &typ, Value: &val}, "test", t0); err == nil {
		t.Fatal("duplicate entry accepted")
	}
	en, _ := e.ListEntries(ListDeny, 1, 10)
	for _, x := range en {
		if err := e.DeleteListEntry(ListDeny, x.ID, "test", t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.DeleteListEntry(ListDeny, en[0].ID, "test", t0); err == nil {
		t.Fatal("second delete succeeded")
	}
	// Without the deny entry, its allow entry applies.
	runSteps(t, e, []step{
		{at: 2 * h, req: Request{IP: "192.0.2.5"}, allowed: true, reason: ReasonAllowList},
		{at: 2 * h, req: Request{IP: "192.0.2.6"}, allowed: true, rule: "tight", reason: ReasonRule},
	})
}

func TestMostRestrictiveIsReported(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"a","priority":1,"algorithm":"fixed_window","limit":10,"window":"1m"}`)
	mustRule(t, e, `{"id":"b","priority":2,"algorithm":"fixed_window","limit":5,"window":"1m"}`)
	mustRule(t, e, `{"id":"c","priority":3,"algorithm":"fixed_window","limit":3,"window":"1h"}`)
	runSteps(t, e, []step{
		{req: Request{}, allowed: true, rule: "c", remaining: p(2)},
		{req: Request{}, n: 2, allowed: true, rule: "c", remaining: p(0)},
		// Denied by c only: c waits until the hour's end.
		{at: time.Second, req: Request{}, allowed: false, rule: "c", retry: p(3599)},
	})
	// Two rules over: the longer wait is reported.
	e2 := newEngine(t)
	mustRule(t, e2, `{"id":"minute","algorithm":"fixed_window","limit":1,"window":"1m"}`)
	mustRule(t, e2, `{"id":"hour","priority":200,"algorithm":"fixed_window","limit":1,"window":"1h"}`)
	runSteps(t, e2, []step{
		{req: Request{}, allowed: true, rule: "minute", remaining: p(0)},
		{at: time.Second, req: Request{}, allowed: false, rule: "hour", retry: p(3599)},
	})
}

func TestCostAndKeysOfAnotherKind(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"points","per":["user_id"],"algorithm":"fixed_window","limit":100,"window":"1h"}`)
	runSteps(t, e, []step{
		{req: Request{UserID: "u", Cost: 60}, allowed: true, rule: "points", remaining: p(40)},
		{req: Request{UserID: "u", Cost: 41}, allowed: false, rule: "points"},
		{req: Request{UserID: "u", Cost: 40}, allowed: true, rule: "points", remaining: p(0)},
	})
	// A plain command overwrote a counter with a value of another kind:
	// the rule starts a fresh counter instead of failing.
	c := compile(e.snap.Load().byID["points"], new(ruleCounters))
	q := Request{UserID: "w"}
	q.Prepare()
	key, _ := c.CounterKey(nil, &q)
	h := engineHash(key)
	sh := e.store.ShardOf(h)
	sh.Lock()
	sh.SetString(h, key, []byte("junk"), 0, t0/1e6)
	sh.Unlock()
	runSteps(t, e, []step{{req: Request{UserID: "w"}, allowed: true, rule: "points", remaining: p(99)}})
}

func TestCounterKeys(t *testing.T) {
	t.Parallel()
	r := Rule{ID: "r1", Algorithm: AlgGCRA, Limit: 1, Window: 1, Per: []string{"user_id", "endpoint"}}
	c := compile(&r, nil)
	q := Request{UserID: "a|b:1", Endpoint: "/x"}
	key, ok := c.CounterKey(nil, &q)
	if !ok || string(key) != "rl:r1:g|{user_id:5:a|b:1}|endpoint:2:/x" {
		t.Fatalf("key %q %v", key, ok)
	}
	// Values that would collide if joined naively do not.
	q2 := Request{UserID: "a", Endpoint: "b:1|endpoint:2:/x"}
	key2, _ := c.CounterKey(nil, &q2)
	if string(key2) == string(key) {
		t.Fatal("two requests share a counter key")
	}
	if _, ok := c.CounterKey(nil, &Request{Endpoint: "/x"}); ok {
		t.Fatal("a request without the per field got a key")
	}
	// The hash tag is the most identifying field's segment, whatever the
	// order of per: one user's counters under several rules share a slot.
	for _, tc := range []struct {
		per  []string
		want string
	}{
		{[]string{"endpoint", "user_id"}, "rl:r1:g|endpoint:2:/x|{user_id:5:a|b:1}"},
		{[]string{"method", "ip"}, "rl:r1:g|method:3:GET|{ip:8:10.0.0.1}"},
		{[]string{"endpoint"}, "rl:r1:g|{endpoint:2:/x}"},
		{nil, "rl:r1:g"},
	} {
		r := Rule{ID: "r1", Algorithm: AlgGCRA, Limit: 1, Window: 1, Per: tc.per}
		q := Request{UserID: "a|b:1", Endpoint: "/x", Method: "GET", IP: "10.0.0.1"}
		q.Prepare()
		if key, _ := compile(&r, nil).CounterKey(nil, &q); string(key) != tc.want {
			t.Errorf("per %v: key %q, want %q", tc.per, key, tc.want)
		}
	}
}
