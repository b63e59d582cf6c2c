package rules

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rlserver/rlserver/engine"
	bolt "go.etcd.io/bbolt"
)

func TestChangesSurviveReopenWithTheirAudit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "rules.db")
	open := func() *Engine {
		e, err := Open(Config{Counters: engine.NewStore(4), Path: path, Node: "n1"})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := open()
	r := mustRule(t, e, `{"id":"r1","name":"first","limit":5,"window":"1m"}`)
	lim := int64(7)
	if _, err := e.UpdateRule("r1", &RuleSpec{Limit: &lim}, "alice", t0+1e9); err != nil {
		t.Fatal(err)
	}
	if _, err := e.SetEnabled("r1", false, "bob", t0+2e9); err != nil {
		t.Fatal(err)
	}
	mustRule(t, e, `{"id":"r2","limit":5,"window":"1m"}`)
	if err := e.DeleteRule("r2", "carol", t0+3e9); err != nil {
		t.Fatal(err)
	}
	e.SetTier("u1", "gold", "dave", t0+4e9)
	typ, val := "ip", "10.0.0.0/8"
	e.AddListEntry(ListDeny, &ListSpec{Type: &typ, Value: &val}, "erin", t0+5e9)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	e = open()
	defer e.Close()
	got, ok := e.Rule("r1")
	if !ok || got.Limit != 7 || got.Enabled || got.Name != "first" || got.Version <= r.Version || got.CreatedBy != "test" || got.UpdatedBy != "bob" {
		t.Fatalf("r1 after reopen: %s", dump(got))
	}
	if _, ok := e.Rule("r2"); ok {
		t.Fatal("a deleted rule came back")
	}
	if a, ok := e.Tier("u1"); !ok || a.Tier != "gold" {
		t.Fatal("tier lost")
	}
	if _, n := e.ListEntries(ListDeny, 1, 10); n != 1 {
		t.Fatal("deny entry lost")
	}
	audit, next, err := e.Audit(AuditQuery{})
	if err != nil || next != 0 {
		t.Fatal(err, next)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Actor+":"+a.Action+":"+a.Kind)
	}
	want := "erin:create:list dave:create:tier carol:delete:rule test:create:rule bob:disable:rule alice:update:rule test:create:rule"
	if strings.Join(actions, " ") != want {
		t.Fatalf("audit %q\nwant  %q", strings.Join(actions, " "), want)
	}
	// The update's entry holds the rule before and after.
	upd := audit[5]
	var before, after Rule
	json.Unmarshal(upd.Before, &before)
	json.Unmarshal(upd.After, &after)
	if before.Limit != 5 || after.Limit != 7 || upd.Origin != "n1" || upd.Seq == 0 {
		t.Fatalf("update audit: %s", dump(upd))
	}
	if string(audit[2].After) != "null" || string(audit[6].Before) != "null" {
		t.Fatalf("delete/create audit: %s / %s", audit[2].After, audit[6].Before)
	}
	// Paging and filtering.
	page, next, _ := e.Audit(AuditQuery{Limit: 2})
	if len(page) != 2 || next != page[1].Seq {
		t.Fatalf("page: %d entries, next %d", len(page), next)
	}
	page2, _, _ := e.Audit(AuditQuery{Limit: 2, Before: next})
	if len(page2) != 2 || page2[0].Seq != page[1].Seq-1 {
		t.Fatalf("second page: %s", dump(page2))
	}
	only, _, _ := e.Audit(AuditQuery{Kind: KindRule, ID: "r1"})
	if len(only) != 3 {
		t.Fatalf("r1's audit has %d entries", len(only))
	}
}

func TestAuditIsCapped(t *testing.T) {
	t.Parallel()
	e, err := Open(Config{Counters: engine.NewStore(4), Path: filepath.Join(t.TempDir(), "r.db"), MaxAudit: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for i := range 12 {
		lim := int64(i + 1)
		if i == 0 {
			mustRule(t, e, `{"id":"r","limit":1,"window":"1s"}`)
			continue
		}
		e.UpdateRule("r", &RuleSpec{Limit: &lim}, "t", t0+int64(i))
	}
	a, _, _ := e.Audit(AuditQuery{Limit: 100})
	if len(a) != 5 || a[0].Seq != 12 || a[4].Seq != 8 {
		t.Fatalf("audit kept %d entries: %s", len(a), dump(a))
	}
	// The index of audited changes is trimmed with the log.
	n := 0
	e.db.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketAudited).Stats().KeyN
		return nil
	})
	if n != 5 {
		t.Fatalf("%d changes indexed for 5 audit entries", n)
	}
}

// A store written before the audit index gets one at open: changes it
// audited are not audited again when they arrive from another node.
func TestAuditIndexBuiltForOlderStores(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "r.db")
	e, err := Open(Config{Counters: engine.NewStore(4), Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var sent []Change
	e.OnChange(func(ch Change) { sent = append(sent, ch) })
	mustRule(t, e, `{"id":"r","limit":1,"window":"1s"}`)
	lim := int64(2)
	e.UpdateRule("r", &RuleSpec{Limit: &lim}, "t", t0+1)
	e.db.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketAudited) })
	e.Close()
	e, err = Open(Config{Counters: engine.NewStore(4), Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	e.ApplyEncoded(EncodeChanges(sent...))
	if a, _, _ := e.Audit(AuditQuery{}); len(a) != 2 {
		t.Fatalf("audit after reopening and replaying: %s", dump(a))
	}
}

func TestRemoteChangesLastWriterWins(t *testing.T) {
	t.Parallel()
	a, b := newEngine(t), newEngine(t)
	var sent []Change
	a.OnChange(func(ch Change) { sent = append(sent, ch) })
	a.cfg.Node, b.cfg.Node = "a", "b"
	mustRule(t, a, `{"id":"r","limit":5,"window":"1m"}`)
	lim := int64(9)
	a.UpdateRule("r", &RuleSpec{Limit: &lim}, "t", t0+1e9)
	if len(sent) != 2 {
		t.Fatalf("OnChange saw %d changes", len(sent))
	}
	// Out of order and twice: the newest wins, duplicates are no-ops.
	for _, ch := range []Change{sent[1], sent[0], sent[1]} {
		if _, err := b.ApplyRemote(ch); err != nil {
			t.Fatal(err)
		}
	}
	if r, _ := b.Rule("r"); r.Limit != 9 {
		t.Fatalf("b has limit %d", r.Limit)
	}
	// Every change is in b's audit log once, the late one as superseded
	// history; a repeat adds nothing.
	au, _, _ := b.Audit(AuditQuery{})
	if len(au) != 2 || au[0].Origin != "a" || !au[0].Superseded || au[0].Action != "create" || string(au[0].Before) != "null" ||
		au[1].Superseded || au[1].Action != "update" {
		t.Fatalf("b's audit: %s", dump(au))
	}
	b.ApplyRemote(sent[0])
	b.ApplyEncoded(EncodeChanges(sent...))
	if au, _, _ := b.Audit(AuditQuery{}); len(au) != 2 {
		t.Fatalf("repeated changes were audited again: %s", dump(au))
	}
	// A delete on b beats a's older update arriving late.
	b.OnChange(func(ch Change) { sent = append(sent, ch) })
	if err := b.DeleteRule("r", "t", t0+2e9); err != nil {
		t.Fatal(err)
	}
	del := sent[len(sent)-1]
	stale := sent[1]
	stale.Rule = &Rule{}
	*stale.Rule = *sent[1].Rule
	if ok, _ := b.ApplyRemote(sent[0]); ok {
		t.Fatal("an older change resurrected a deleted rule")
	}
	a.ApplyRemote(del)
	if _, ok := a.Rule("r"); ok {
		t.Fatal("the delete did not reach a")
	}
	// Same version from two origins: the higher origin wins everywhere.
	x := Change{Kind: KindTier, ID: "u", Version: 1 << 62, Origin: "a", Tier: &TierAssignment{UserID: "u", Tier: "x"}}
	y := Change{Kind: KindTier, ID: "u", Version: 1 << 62, Origin: "b", Tier: &TierAssignment{UserID: "u", Tier: "y"}}
	a.ApplyRemote(x)
	a.ApplyRemote(y)
	b.ApplyRemote(y)
	b.ApplyRemote(x)
	ta, _ := a.Tier("u")
	tb, _ := b.Tier("u")
	if ta.Tier != "y" || tb.Tier != "y" {
		t.Fatalf("tiers diverged: %s %s", ta.Tier, tb.Tier)
	}
	// Local versions after a remote one keep increasing.
	if got, _ := a.SetTier("u", "z", "t", t0); got.Version <= 1<<62 {
		t.Fatalf("local version %d not above the remote one", got.Version)
	}
	// State converges a fresh node.
	c := newEngine(t)
	for _, ch := range a.State() {
		if _, err := c.ApplyRemote(ch); err != nil {
			t.Fatal(err)
		}
	}
	if tc, _ := c.Tier("u"); tc.Tier != "z" {
		t.Fatal("state did not converge")
	}
	// Invalid remote changes are refused.
	bad := Change{Kind: KindRule, ID: "q", Version: 5, Origin: "a", Rule: &Rule{ID: "q", Limit: -1}}
	var ve *ValidationError
	if _, err := c.ApplyRemote(bad); !errors.As(err, &ve) {
		t.Fatalf("invalid remote rule: %v", err)
	}
}

func TestValidationNamesEveryBadField(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	for _, tc := range []struct {
		js     string
		fields []string
	}{
		{`{"limit":0,"window":"1m"}`, []string{"limit"}},
		{`{"limit":5}`, []string{"window"}},
		{`{"limit":5,"window":"fortnight"}`, []string{"window"}},
		{`{"limit":5,"window":"1.5s"}`, []string{"window"}},
		{`{"limit":5,"window":"1m","algorithm":"magic"}`, []string{"algorithm"}},
		{`{"limit":5,"window":"1m","action":"throttle"}`, []string{"action"}},
		{`{"limit":5,"window":"1m","match":{"ip":"10.0.0.0/33"}}`, []string{"match.ip"}},
		{`{"limit":5,"window":"1m","match":{"ip":"not-an-ip"},"per":["user","ip","ip"]}`, []string{"match.ip", "per[0]", "per[2]"}},
		{`{"limit":5,"window":"1m","match":{"endpoint":"api"}}`, []string{"match.endpoint"}},
		{`{"limit":5,"window":"1m","match":{"method":"GET,/x"}}`, []string{"match.method"}},
		{`{"limit":5,"window":"1m","burst":10}`, []string{"burst"}},
		{`{"limit":5,"window":"1m","algorithm":"sliding_log","id":"bad id"}`, []string{"id"}},
		{`{"limit":20000,"window":"1m","algorithm":"sliding_log"}`, []string{"limit"}},

		{`{"limit":2000000000,"window":"1s","algorithm":"gcra"}`, []string{"limit"}},
		{`{"limit":5,"window":"1m","priority":-1,"status":"paused"}`, []string{"priority", "status"}},
		{`{"limit":5,"window":"1m","match":{},"selector":{}}`, []string{"selector"}},
	} {
		var spec RuleSpec
		err := strictJSON([]byte(tc.js), &spec)
		if err == nil {
			_, err = e.CreateRule(&spec, "t", t0)
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("%s: %v, want a validation error", tc.js, err)
			continue
		}
		for _, f := range tc.fields {
			if ve.Fields[f] == "" {
				t.Errorf("%s: no error for %s in %v", tc.js, f, ve.Fields)
			}
		}
		if len(ve.Fields) != len(tc.fields) {
			t.Errorf("%s: errors %v, want only %v", tc.js, ve.Fields, tc.fields)
		}
	}
	if rules, n := e.Rules(1, 10); n != 0 {
		t.Fatalf("invalid rules were stored: %s", dump(rules))
	}
	// Unknown fields are refused by name.
	var spec RuleSpec
	var ve *ValidationError
	if err := strictJSON([]byte(`{"limit":5,"window":"1m","colour":"red"}`), &spec); !errors.As(err, &ve) || ve.Fields["colour"] == "" {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestWindows(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"1s": 1, "90s": 90, "15m": 900, "1h": 3600, "1d": 86400, "1d12h": 129600, "1h30m": 5400, "366d": 366 * 86400} {
		if got, err := ParseWindow(in); err != nil || got != want {
			t.Errorf("ParseWindow(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0s", "-1m", "500ms", "367d", "1x", "d", "1dd", "1.5d"} {
		if _, err := ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) accepted", bad)
		}
	}
	for secs, want := range map[int64]string{1: "1s", 90: "90s", 900: "15m", 3600: "1h", 86400: "1d", 5400: "90m"} {
		if got := Window(secs).String(); got != want {
			t.Errorf("Window(%d) = %q, want %q", secs, got, want)
		}
	}
}

func TestRulesFile(t *testing.T) {
	t.Parallel()
	yaml := `
rules:
  - id: gh-anon
    match: {tier: anonymous}
    per: [ip]
    algorithm: fixed_window
    limit: 60
    window: 1h
  - id: stripe-read
    selector: {method: "GET"}
    per: [user_id]
    algorithm: token_bucket
    limit: 100
    window: 1s
    burst: 200
allow:
  - {type: ip, value: 10.0.0.0/8, reason: office}
deny:
  - {type: api_key, value: sk_leaked}
tiers:
  user_42: premium
`
	path := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(path, []byte(yaml), 0o644)
	f, err := LoadFile(path, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	e := newEngine(t)
	n, err := e.ApplyFile(f, "file", t0)
	if err != nil || n != 5 {
		t.Fatalf("ApplyFile: %d %v", n, err)
	}
	// Loading it again changes nothing.
	if n, err := e.ApplyFile(f, "file", t0+1e9); err != nil || n != 0 {
		t.Fatalf("second ApplyFile: %d %v", n, err)
	}
	if r, _ := e.Rule("stripe-read"); r.Burst != 200 || r.Match.Method != "GET" {
		t.Fatalf("stripe-read: %s", dump(r))
	}
	runSteps(t, e, []step{
		{req: Request{IP: "10.1.1.1"}, allowed: true, reason: ReasonAllowList},
		{req: Request{IP: "192.0.2.1"}, allowed: true, rule: "gh-anon", remaining: p(59)},
		{req: Request{UserID: "user_42", Method: "GET"}, allowed: true, rule: "stripe-read", remaining: p(199)},
	})

	// Every problem is reported with its place.
	bad := `
rules:
  - id: ok
    limit: 5
    window: 1m
  - limit: 5
    window: 1m
  - id: x
    limit: -1
    window: 1m
    algorithm: nope
    colour: red
  - id: ok
    limit: 1
    window: 1s
allow:
  - {type: ip, value: 10.0.0.0/99}
tiers:
  u: anonymous
`
	_, err = ParseFile([]byte(bad), Limits{})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("bad file: %v", err)
	}
	for _, f := range []string{"rules[1].id", "rules[2].colour", "rules[3].id", "allow[0].value", "tiers[u].tier"} {
		if ve.Fields[f] == "" {
			t.Errorf("no error for %s: %v", f, ve.Fields)
		}
	}
	if _, err := ParseFile([]byte("rules: [\n"), Limits{}); err == nil {
		t.Fatal("broken YAML accepted")
	}
	if _, err := ParseFile([]byte(`{"rules":[{"id":"j","limit":1,"window":"1s"}]}`), Limits{}); err != nil {
		t.Fatalf("JSON file: %v", err)
	}
}

func TestEncodedStateConvergesNodes(t *testing.T) {
	t.Parallel()
	a, b := newEngine(t), newEngine(t)
	a.cfg.Node, b.cfg.Node = "a", "b"
	var queue [][]byte
	a.OnChange(func(ch Change) { queue = append(queue, EncodeChanges(ch)) })
	mustRule(t, a, `{"id":"r1","limit":5,"window":"1m"}`)
	mustRule(t, b, `{"id":"r2","limit":6,"window":"1m"}`)
	a.SetTier("u", "gold", "t", t0)
	// Broadcasts, delivered twice and in reverse.
	for i := len(queue) - 1; i >= 0; i-- {
		for range 2 {
			if _, err := b.ApplyEncoded(queue[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Push/pull both ways.
	if _, err := a.ApplyEncoded(b.EncodedState()); err != nil {
		t.Fatal(err)
	}
	if n, err := b.ApplyEncoded(a.EncodedState()); err != nil || n != 0 {
		t.Fatalf("b learned %d changes from a's state after the broadcasts: %v", n, err)
	}
	if dump(a.State()) != dump(b.State()) {
		t.Fatalf("states differ:\n%s\n%s", dump(a.State()), dump(b.State()))
	}
	if _, err := b.ApplyEncoded([]byte("{garbage")); err == nil {
		t.Fatal("garbage accepted")
	}
}
