package rules

import (
	"strconv"
	"testing"
	"time"
)

// The seed's real-world systems written as rules and checked request by
// request.

func TestStripeReadsAndWritesPerAccount(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"stripe-read","match":{"method":"GET,HEAD"},"per":["user_id"],"algorithm":"token_bucket","limit":100,"window":"1s"}`)
	mustRule(t, e, `{"id":"stripe-write","match":{"method":"post, put,PATCH,delete"},"per":["user_id"],"algorithm":"token_bucket","limit":25,"window":"1s"}`)
	get := Request{UserID: "acct_1", Method: "GET", Endpoint: "/v1/charges"}
	post := Request{UserID: "acct_1", Method: "POST", Endpoint: "/v1/charges"}
	runSteps(t, e, []step{
		{req: get, allowed: true, rule: "stripe-read", limit: 100, remaining: p(99), retry: p(-1)},
		{req: get, n: 99, allowed: true, rule: "stripe-read", remaining: p(0)},
		// The 101st read in the same instant waits one emission (10 ms,
		// rounded up to a second).
		{req: get, allowed: false, rule: "stripe-read", limit: 100, remaining: p(0), retry: p(1)},
		// Writes have their own bucket: 25, then denied.
		{req: post, n: 25, allowed: true, rule: "stripe-write", limit: 25, remaining: p(0)},
		{req: Request{UserID: "acct_1", Method: "delete", Endpoint: "/v1/customers/c1"}, allowed: false, rule: "stripe-write", retry: p(1)},
		// Another account is untouched.
		{req: Request{UserID: "acct_2", Method: "HEAD"}, allowed: true, rule: "stripe-read", remaining: p(99)},
		// 10 ms later one read token is back.
		{at: 10 * time.Millisecond, req: get, allowed: true, rule: "stripe-read", remaining: p(0)},
		{at: 10 * time.Millisecond, req: get, allowed: false, rule: "stripe-read"},
		// A second later the bucket is full again: 100 reads.
		{at: 1010 * time.Millisecond, req: get, n: 100, allowed: true, rule: "stripe-read", remaining: p(0)},
		{at: 1010 * time.Millisecond, req: get, allowed: false, rule: "stripe-read"},
		// Methods no rule names are not limited.
		{req: Request{UserID: "acct_1", Method: "OPTIONS"}, allowed: true, reason: ReasonNoRule},
	})
}

func TestGitHubPrimaryAndSecondaryLimits(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"gh-unauth","priority":10,"match":{"tier":"anonymous"},"per":["ip"],"algorithm":"fixed_window","limit":60,"window":"1h"}`)
	mustRule(t, e, `{"id":"gh-user","priority":10,"per":["user_id"],"algorithm":"fixed_window","limit":5000,"window":"1h"}`)
	mustRule(t, e, `{"id":"gh-secondary","priority":20,"per":["user_id"],"algorithm":"fixed_window","limit":100,"window":"1m"}`)
	anon := Request{IP: "203.0.113.9", Endpoint: "/repos/a/b", Method: "GET"}
	user := Request{UserID: "octocat", IP: "203.0.113.9", Endpoint: "/repos/a/b", Method: "GET"}
	sec := time.Second
	runSteps(t, e, []step{
		// Unauthenticated: 60 an hour by IP, reset at the top of the hour.
		{at: sec, req: anon, n: 60, allowed: true, rule: "gh-unauth", limit: 60, remaining: p(0)},
		{at: sec, req: anon, allowed: false, rule: "gh-unauth", retry: p(3599)},
		{at: sec, req: Request{IP: "198.51.100.1"}, allowed: true, rule: "gh-unauth", remaining: p(59)},
		// The same IP authenticated is not anonymous: the user's limits
		// apply, the secondary 100/min being the tighter one.
		{at: sec, req: user, allowed: true, rule: "gh-secondary", limit: 100, remaining: p(99)},
		{at: sec, req: user, n: 99, allowed: true, rule: "gh-secondary", remaining: p(0)},
		{at: sec, req: user, allowed: false, rule: "gh-secondary", retry: p(59)},
	})
	// The denied request consumed nothing from the hourly limit.
	var d Decision
	q := user
	q.Prepare()
	e.Check(&q, t0+int64(time.Minute+sec), &d, CheckOptions{})
	if !d.Allowed || d.Results[0].Rule.ID != "gh-user" || d.Results[0].Remaining != 4899 {
		t.Fatalf("minute 1: %s", dump(d.Results))
	}
	// Minutes 1..49 spend the rest of the hour 100 at a time.
	var steps []step
	steps = append(steps, step{at: time.Minute + sec, req: user, n: 99, allowed: true, rule: "gh-secondary", remaining: p(0)})
	for m := 2; m < 50; m++ {
		steps = append(steps, step{at: time.Duration(m)*time.Minute + sec, req: user, n: 100, allowed: true, remaining: p(0), rule: "gh-secondary"})
	}
	runSteps(t, e, steps[:len(steps)-1])
	// In minute 49 both reach 0 together: the tie goes to the lower
	// priority number.
	last := steps[len(steps)-1]
	last.rule = "gh-user"
	runSteps(t, e, []step{last,
		// Minute 50: the secondary limit has room, the hourly one is spent
		// until the top of the hour.
		{at: 50*time.Minute + sec, req: user, allowed: false, rule: "gh-user", limit: 5000, remaining: p(0), retry: p(599)},
		{at: time.Hour, req: user, allowed: true, rule: "gh-secondary", remaining: p(99)},
	})
}

func TestTwitterFifteenMinuteWindowsPerUserAndAppPerEndpoint(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"tw-user","priority":10,"match":{"endpoint":"/1.1/"},"per":["user_id","endpoint"],"algorithm":"fixed_window","limit":15,"window":"15m"}`)
	mustRule(t, e, `{"id":"tw-app","priority":20,"match":{"endpoint":"/1.1/"},"per":["api_key","endpoint"],"algorithm":"fixed_window","limit":45,"window":"15m"}`)
	home := func(user string) Request {
		return Request{UserID: user, APIKey: "app_x", Endpoint: "/1.1/statuses/home_timeline.json", Method: "GET"}
	}
	search := Request{UserID: "alice", APIKey: "app_x", Endpoint: "/1.1/search/tweets.json", Method: "GET"}
	s := time.Second
	runSteps(t, e, []step{
		{at: s, req: home("alice"), n: 15, allowed: true, rule: "tw-user", limit: 15, remaining: p(0)},
		{at: s, req: home("alice"), allowed: false, rule: "tw-user", retry: p(899)},
		// Another endpoint has its own window.
		{at: s, req: search, allowed: true, rule: "tw-user", remaining: p(14)},
		{at: s, req: home("bob"), n: 15, allowed: true, rule: "tw-user", remaining: p(0)},
		// carol's 15 exhaust the app's 45 on this endpoint as well as her
		// own: equal remaining, the lower priority number is reported.
		{at: s, req: home("carol"), n: 15, allowed: true, rule: "tw-user", remaining: p(0)},
		// dave has never called, but the app is spent on this endpoint.
		{at: s, req: home("dave"), allowed: false, rule: "tw-app", limit: 45, retry: p(899)},
		// ...not on search.
		{at: s, req: Request{UserID: "dave", APIKey: "app_x", Endpoint: "/1.1/search/tweets.json"}, allowed: true, rule: "tw-user", remaining: p(14)},
		// The next 15-minute window starts fresh.
		{at: 15 * time.Minute, req: home("dave"), allowed: true, rule: "tw-user", remaining: p(14)},
		{at: 15 * time.Minute, req: home("alice"), allowed: true, rule: "tw-user", remaining: p(14)},
	})
}

func TestAWSSteadyRateAndBurstPerMethodAndResource(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"aws-account","priority":10,"per":["api_key"],"algorithm":"token_bucket","limit":10000,"window":"1s","burst":5000}`)
	mustRule(t, e, `{"id":"aws-get-users","priority":5,"match":{"method":"GET","endpoint":"/users/*"},"per":["api_key"],"algorithm":"token_bucket","limit":500,"window":"1s","burst":1000}`)
	get := Request{APIKey: "key_1", Method: "GET", Endpoint: "/users/7"}
	post := Request{APIKey: "key_1", Method: "POST", Endpoint: "/orders"}
	runSteps(t, e, []step{
		// The method setting's burst of 1000 first.
		{req: get, n: 1000, allowed: true, rule: "aws-get-users", limit: 1000, remaining: p(0)},
		{req: get, allowed: false, rule: "aws-get-users", retry: p(1)},
		// The account's burst of 5000 has 4000 left for other calls.
		{req: post, allowed: true, rule: "aws-account", limit: 5000, remaining: p(3999)},
		{req: post, n: 3999, allowed: true, rule: "aws-account", remaining: p(0)},
		// The account refills at 10,000/s: the wait is 100 µs, which rounds
		// to 0 seconds as redis-cell rounds.
		{req: post, allowed: false, rule: "aws-account", retry: p(0)},
		// 100 ms later: 1000 account tokens and 50 GET /users tokens.
		{at: 100 * time.Millisecond, req: get, n: 50, allowed: true, rule: "aws-get-users", remaining: p(0)},
		{at: 100 * time.Millisecond, req: get, allowed: false, rule: "aws-get-users"},
		{at: 100 * time.Millisecond, req: post, n: 950, allowed: true, rule: "aws-account", remaining: p(0)},
		{at: 100 * time.Millisecond, req: post, allowed: false, rule: "aws-account"},
		// Another key has its own buckets.
		{req: Request{APIKey: "key_2", Method: "GET", Endpoint: "/users/"}, allowed: true, rule: "aws-get-users", remaining: p(999)},
	})
}

func TestTiers(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"tier-free","match":{"tier":"free"},"per":["user_id"],"limit":100,"window":"1h"}`)
	mustRule(t, e, `{"id":"tier-basic","selector":{"user_tier":"basic"},"per":["user_id"],"limit":1000,"window":"1h"}`)
	mustRule(t, e, `{"id":"tier-premium","match":{"tier":"premium"},"per":["user_id"],"limit":10000,"window":"1h"}`)
	mustRule(t, e, `{"id":"ent-acme","match":{"user_id":"acme"},"per":["user_id"],"algorithm":"gcra","limit":50000,"window":"1h","burst":5000}`)
	for user, tier := range map[string]string{"u-basic": "basic", "u-prem": "premium", "acme": "enterprise"} {
		if _, err := e.SetTier(user, tier, "test", t0); err != nil {
			t.Fatal(err)
		}
	}
	s := time.Second
	runSteps(t, e, []step{
		// No assignment: the default tier, free.
		{at: s, req: Request{UserID: "u-free"}, n: 100, allowed: true, rule: "tier-free", limit: 100, remaining: p(0)},
		{at: s, req: Request{UserID: "u-free"}, allowed: false, rule: "tier-free"},
		{at: s, req: Request{UserID: "u-basic"}, n: 1000, allowed: true, rule: "tier-basic", limit: 1000, remaining: p(0)},
		{at: s, req: Request{UserID: "u-basic"}, allowed: false, rule: "tier-basic"},
		{at: s, req: Request{UserID: "u-prem"}, allowed: true, rule: "tier-premium", limit: 10000, remaining: p(9999)},
		// Enterprise: a custom rule for the customer.
		{at: s, req: Request{UserID: "acme"}, allowed: true, rule: "ent-acme", limit: 5000, remaining: p(4999)},
		// The application may say the tier of a user it knows; an
		// assignment wins over it.
		{at: s, req: Request{UserID: "u-new", Tier: "premium"}, allowed: true, rule: "tier-premium", remaining: p(9999)},
		{at: s, req: Request{UserID: "u-basic", Tier: "premium"}, allowed: false, rule: "tier-basic"},
		// No user at all: the anonymous tier, which no rule here limits.
		{at: s, req: Request{IP: "192.0.2.1"}, allowed: true, reason: ReasonNoRule},
	})
	// Moving a user to another tier takes effect at once.
	if _, err := e.SetTier("u-free", "premium", "test", t0+int64(2*s)); err != nil {
		t.Fatal(err)
	}
	runSteps(t, e, []step{{at: 2 * s, req: Request{UserID: "u-free"}, allowed: true, rule: "tier-premium", remaining: p(9999)}})
	if err := e.DeleteTier("u-free", "test", t0+int64(3*s)); err != nil {
		t.Fatal(err)
	}
	runSteps(t, e, []step{{at: 3 * s, req: Request{UserID: "u-free"}, allowed: false, rule: "tier-free"}})
}

func TestPerUserPerEndpoint(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"upe","match":{"endpoint":"/api/"},"per":["user_id","endpoint"],"algorithm":"sliding_log","limit":2,"window":"1m"}`)
	runSteps(t, e, []step{
		{req: Request{UserID: "u1", Endpoint: "/api/a"}, n: 2, allowed: true, rule: "upe", remaining: p(0)},
		{req: Request{UserID: "u1", Endpoint: "/api/a"}, allowed: false, rule: "upe", retry: p(60)},
		{req: Request{UserID: "u1", Endpoint: "/api/b"}, allowed: true, rule: "upe", remaining: p(1)},
		{req: Request{UserID: "u2", Endpoint: "/api/a"}, allowed: true, rule: "upe", remaining: p(1)},
		// Outside the prefix: no rule.
		{req: Request{UserID: "u1", Endpoint: "/other"}, allowed: true, reason: ReasonNoRule},
		// A request without a user is not counted per user.
		{req: Request{Endpoint: "/api/a"}, allowed: true, reason: ReasonNoRule},
		{at: time.Minute, req: Request{UserID: "u1", Endpoint: "/api/a"}, allowed: true, rule: "upe", remaining: p(1)},
	})
}

func TestUnderOneLimitOverAnotherConsumesFromNeither(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	mustRule(t, e, `{"id":"per-user","per":["user_id"],"algorithm":"fixed_window","limit":10,"window":"1m"}`)
	mustRule(t, e, `{"id":"search","match":{"endpoint":"/api/search"},"per":["user_id"],"algorithm":"gcra","limit":2,"window":"1m"}`)
	mustRule(t, e, `{"id":"sw","match":{"endpoint":"/api/search"},"per":["user_id"],"algorithm":"sliding_window","limit":50,"window":"1m"}`)
	search := Request{UserID: "u1", Endpoint: "/api/search"}
	runSteps(t, e, []step{
		{req: search, n: 2, allowed: true, rule: "search", remaining: p(0)},
		{req: search, n: 5, allowed: false, rule: "search"},
	})
	var d Decision
	q := Request{UserID: "u1", Endpoint: "/api/other"}
	q.Prepare()
	e.Check(&q, t0, &d, CheckOptions{})
	// 10 - 2 allowed - this one: the 5 denied searches took nothing.
	if !d.Allowed || d.Rule.ID != "per-user" || d.Remaining != 7 {
		t.Fatalf("after denied searches: %s", dump(d.Results))
	}
	// The sliding window rule saw only the 2 allowed searches too.
	var peek Decision
	q = search
	q.Prepare()
	q.Cost = 0 // a peek of nothing: what is left now
	e.Check(&q, t0, &peek, CheckOptions{Peek: true})
	for _, r := range peek.Results {
		if r.Rule.ID == "sw" && r.Remaining != 48 {
			t.Fatalf("sliding window remaining %d, want 48", r.Remaining)
		}
	}
}

// A fixed window's reset is the window's end whatever instant inside it
// the check runs at, including the last millisecond of a second (where
// the seconds to the end round down, redis-cell style).
func TestFixedWindowResetIsTheWindowEnd(t *testing.T) {
	e := newEngine(t)
	mustRule(t, e, `{"id":"hourly","per":["user_id"],"algorithm":"fixed_window","limit":3,"window":"1h"}`)
	end := t0/1e9 + 3600
	for i, off := range []int64{0, 1, 999_999, 1_000_000, 1_000_001, 5e9 + 999_000_000, 5e9 + 999_000_001, 5e9 + 999_500_000,
		5e9 + 999_999_999, 6e9, 3599e9 + 999_999_999} {
		q := Request{UserID: "u" + strconv.Itoa(i)}
		if err := q.Prepare(); err != nil {
			t.Fatal(err)
		}
		var d Decision
		if err := e.Check(&q, t0+off, &d, CheckOptions{}); err != nil {
			t.Fatal(err)
		}
		if d.ResetAt != end {
			t.Errorf("check %d ns into the window: reset_at %d (after %d s), want the window's end %d", off, d.ResetAt, d.ResetAfter, end)
		}
	}
}
