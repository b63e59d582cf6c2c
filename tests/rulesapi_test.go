package tests

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const token = "s3cret-token"

// The whole HTTP API against the real binary: rules CRUD with paging and
// enable/disable, lists, tiers, audit, stats, the check with its headers,
// and RL.CHECK over RESP sharing the same counters.
func TestHTTPAPIEndToEnd(t *testing.T) {
	t.Parallel()
	p := startServer(t, "--admin-token", token)
	// The per-user rule is a fixed window of an hour and the counts below
	// assume one window: never start in an hour's last 90 seconds.
	awayFromHourEnd(t, p, 90*time.Second)
	do := func(method, path, body string) (int, http.Header, map[string]any) {
		t.Helper()
		return httpDo(t, p, method, path, token, body)
	}
	want := func(code int, wantCode int, m map[string]any, what string) {
		t.Helper()
		if code != wantCode {
			t.Fatalf("%s: %d %v, want %d", what, code, m, wantCode)
		}
	}

	code, h, m := do("POST", "/v1/admin/rules", `{"id":"per-user","name":"Per user","per":["user_id"],"algorithm":"fixed_window","limit":3,"window":"1h"}`)
	want(code, 201, m, "create")
	if h.Get("Location") != "/v1/admin/rules/per-user" || m["rule_id"] != "per-user" || m["status"] != "active" || m["created_at"] == nil || m["window"] != "1h" {
		t.Fatalf("create reply: %v %v", h, m)
	}
	// The seed's shape: selector, user_tier, no id (one is generated).
	code, _, m = do("POST", "/v1/admin/rules", `{"name":"api_payment_limit","description":"Rate limit for payment API","selector":{"user_tier":"premium","endpoint":"/api/payments"},"limit":1000,"window":"1h","action":"reject"}`)
	want(code, 201, m, "create seed-shaped")
	genID := m["rule_id"].(string)
	if !strings.HasPrefix(genID, "rule_") || m["algorithm"] != "sliding_window" {
		t.Fatalf("seed-shaped rule: %v", m)
	}
	code, _, m = do("POST", "/v1/admin/rules", `{"id":"search","priority":5,"match":{"endpoint":"/search"},"per":["user_id"],"algorithm":"token_bucket","limit":2,"window":"1m"}`)
	want(code, 201, m, "create search")
	code, _, m = do("POST", "/v1/admin/rules", `{"id":"per-user","limit":1,"window":"1s"}`)
	if code != 409 || errCode(m) != "ALREADY_EXISTS" {
		t.Fatalf("duplicate id: %d %v", code, m)
	}

	// Paging: priority order (search 5, then 100s by id).
	code, _, m = do("GET", "/v1/admin/rules?page=1&limit=2", "")
	want(code, 200, m, "list")
	rs := m["rules"].([]any)
	if m["total"] != 3.0 || len(rs) != 2 || rs[0].(map[string]any)["id"] != "search" || m["page_size"] != 2.0 {
		t.Fatalf("page 1: %v", m)
	}
	_, _, m = do("GET", "/v1/admin/rules?page=2&page_size=2", "")
	if rs := m["rules"].([]any); len(rs) != 1 {
		t.Fatalf("page 2: %v", m)
	}
	code, _, m = do("GET", "/v1/admin/rules?page=0", "")
	if code != 400 || errCode(m) != "VALIDATION_FAILED" {
		t.Fatalf("page=0: %d %v", code, m)
	}

	// Update is a merge patch; status works as the seed's alias.
	code, _, m = do("PUT", "/v1/admin/rules/"+genID, `{"limit":2000,"status":"active"}`)
	want(code, 200, m, "update")
	if m["limit"] != 2000.0 || m["name"] != "api_payment_limit" || m["match"].(map[string]any)["tier"] != "premium" {
		t.Fatalf("after PUT: %v", m)
	}
	ver := m["version"].(float64)
	code, _, m = do("PATCH", "/v1/admin/rules/"+genID, fmt.Sprintf(`{"version":%d,"limit":5}`, int64(ver)-1))
	if code != 409 || errCode(m) != "VERSION_CONFLICT" {
		t.Fatalf("stale version: %d %v", code, m)
	}
	code, _, m = do("GET", "/v1/admin/rules/"+genID, "")
	want(code, 200, m, "get")
	if m["limit"] != 2000.0 {
		t.Fatalf("a refused update changed the rule: %v", m)
	}
	code, _, m = do("GET", "/v1/admin/rules/nope", "")
	if code != 404 || errCode(m) != "NOT_FOUND" {
		t.Fatalf("missing rule: %d %v", code, m)
	}

	// The check: 200 with headers, then 429 with Retry-After.
	check := func(body string) (int, http.Header, map[string]any) {
		t.Helper()
		return httpDo(t, p, "POST", "/v1/ratelimit/check", "", body)
	}
	for i := 1; i <= 3; i++ {
		code, h, m = check(`{"user_id":"u1","endpoint":"/home","method":"GET","ip_address":"192.0.2.1"}`)
		want(code, 200, m, "check")
		if m["allowed"] != true || m["rule_id"] != "per-user" || m["remaining"] != float64(3-i) {
			t.Fatalf("check %d: %v", i, m)
		}
		if h.Get("X-RateLimit-Limit") != "3" || h.Get("X-RateLimit-Remaining") != strconv.Itoa(3-i) || h.Get("X-RateLimit-Used") != strconv.Itoa(i) {
			t.Fatalf("check %d headers: %v", i, h)
		}
		if h.Get("RateLimit-Policy") != `"per-user";q=3;w=3600` || !strings.HasPrefix(h.Get("RateLimit"), `"per-user";r=`+strconv.Itoa(3-i)+";t=") {
			t.Fatalf("check %d IETF fields: %q %q", i, h.Get("RateLimit-Policy"), h.Get("RateLimit"))
		}
		reset, _ := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
		if reset%3600 != 0 || int64(m["reset_at"].(float64)) != reset {
			t.Fatalf("check %d: reset %d is not the top of the hour", i, reset)
		}
	}
	code, h, m = check(`{"user_id":"u1","endpoint":"/home","method":"GET"}`)
	if code != 429 || m["allowed"] != false || errCode(m) != "RATE_LIMIT_EXCEEDED" || h.Get("Retry-After") == "" || h.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("over the limit: %d %v %v", code, h, m)
	}
	// RL.CHECK decides on the same counters.
	rc := newRaw(dial(t, p.Addr))
	got, _ := rc.do("RL.CHECK", "user_id", "u1", "endpoint", "/home")
	arr, _ := got.([]any)
	if len(arr) != 6 || arr[0] != int64(1) || arr[1] != int64(3) || arr[2] != int64(0) || arr[5] != bulk("per-user") {
		t.Fatalf("RL.CHECK over the limit: %#v", got)
	}
	got, _ = rc.do("RL.CHECK", "cost", "2", "USER_ID", "u2", "method", "get")
	if arr, _ := got.([]any); len(arr) != 6 || arr[0] != int64(0) || arr[2] != int64(1) {
		t.Fatalf("RL.CHECK u2: %#v", got)
	}
	code, _, m = check(`{"user_id":"u2"}`)
	if code != 200 || m["remaining"] != 0.0 {
		t.Fatalf("HTTP after RL.CHECK cost 2: %d %v", code, m)
	}
	for _, bad := range [][]string{{"RL.CHECK", "user_id"}, {"RL.CHECK", "colour", "red"}, {"RL.CHECK", "ip", "300.1.1.1"}, {"RL.CHECK", "cost", "0"}, {"RL.CHECK", "user_id", "a", "user_id", "b"}} {
		if got, _ := rc.do(bad...); !strings.HasPrefix(fmt.Sprint(got), "ERR") {
			t.Errorf("%v = %#v, want an error", bad, got)
		}
	}
	got, _ = rc.do("RL.RULES")
	if arr, _ := got.([]any); len(arr) != 3 || !strings.Contains(string(arr[0].(bulk)), `"id":"search"`) {
		t.Fatalf("RL.RULES = %#v", got)
	}
	// Inside a transaction RL.CHECK runs under EXEC's locks.
	replies, err := rc.pipeline([]string{"MULTI"}, []string{"RL.CHECK", "user_id", "u3"}, []string{"CL.THROTTLE", "k", "1", "1", "1"}, []string{"EXEC"})
	if err != nil || len(replies) != 4 {
		t.Fatalf("MULTI: %v %v", replies, err)
	}
	if ex, _ := replies[3].([]any); len(ex) != 2 || ex[0].([]any)[2] != int64(2) {
		t.Fatalf("EXEC: %#v", replies[3])
	}

	// Disable and enable.
	code, _, m = do("POST", "/v1/admin/rules/per-user/disable", "")
	if code != 200 || m["enabled"] != false || m["status"] != "disabled" {
		t.Fatalf("disable: %d %v", code, m)
	}
	if code, _, m = check(`{"user_id":"u1"}`); code != 200 || m["reason"] != "no_rule" {
		t.Fatalf("check with the rule disabled: %d %v", code, m)
	}
	do("POST", "/v1/admin/rules/per-user/enable", "")
	if code, _, _ = check(`{"user_id":"u1"}`); code != 429 {
		t.Fatalf("check after enable: %d", code)
	}

	// Lists.
	code, h, m = do("POST", "/v1/admin/lists/deny", `{"type":"ip","value":"198.51.100.0/24","reason":"abuse"}`)
	want(code, 201, m, "deny add")
	denyID := m["id"].(string)
	code, _, m = check(`{"user_id":"u9","ip_address":"198.51.100.7"}`)
	if code != 403 || errCode(m) != "DENIED" || m["reason"] != "deny_list" {
		t.Fatalf("denied IP: %d %v", code, m)
	}
	code, _, m = do("POST", "/v1/admin/lists/allow", `{"type":"user_id","value":"u1","ttl":"1h"}`)
	want(code, 201, m, "allow add")
	if m["expires_at"] == nil || m["expired"] != false {
		t.Fatalf("allow entry: %v", m)
	}
	if code, _, m = check(`{"user_id":"u1"}`); code != 200 || m["reason"] != "allow_list" {
		t.Fatalf("allow-listed user: %d %v", code, m)
	}
	code, _, m = do("GET", "/v1/admin/lists/deny", "")
	if code != 200 || m["total"] != 1.0 {
		t.Fatalf("deny list: %d %v", code, m)
	}
	if code, _, m = do("GET", "/v1/admin/lists/deny/"+denyID, ""); code != 200 || m["reason"] != "abuse" {
		t.Fatalf("get entry: %d %v", code, m)
	}
	if code, _, _ = do("GET", "/v1/admin/lists/grey", ""); code != 404 {
		t.Fatalf("unknown list: %d", code)
	}
	if code, _, m = do("DELETE", "/v1/admin/lists/deny/"+denyID, ""); code != 200 {
		t.Fatalf("delete entry: %d %v", code, m)
	}
	if code, _, _ = check(`{"user_id":"u9","ip_address":"198.51.100.7"}`); code != 200 {
		t.Fatalf("after removing the deny entry: %d", code)
	}

	// Tiers: premium users match the seed-shaped rule on /api/payments.
	code, _, m = do("PUT", "/v1/admin/tiers/vip%2F1", `{"tier":"premium"}`)
	if code != 200 || m["user_id"] != "vip/1" || m["tier"] != "premium" {
		t.Fatalf("set tier: %d %v", code, m)
	}
	code, _, m = check(`{"user_id":"vip/1","endpoint":"/api/payments/1"}`)
	if code != 200 || m["tier"] != "premium" || m["rule_id"] != "per-user" || len(m["rules"].([]any)) != 2 {
		t.Fatalf("premium check: %d %v", code, m)
	}
	if pay := m["rules"].([]any)[1].(map[string]any); pay["rule_id"] != genID || pay["remaining"] != 1999.0 || pay["limit"] != 2000.0 {
		t.Fatalf("premium payment rule: %v", pay)
	}
	if code, _, m = do("GET", "/v1/admin/tiers", ""); code != 200 || m["total"] != 1.0 {
		t.Fatalf("tiers: %d %v", code, m)
	}
	if code, _, m = do("GET", "/v1/admin/tiers/vip%2F1", ""); code != 200 || m["tier"] != "premium" {
		t.Fatalf("get tier: %d %v", code, m)
	}
	if code, _, m = do("PUT", "/v1/admin/tiers/x", `{"tier":"anonymous"}`); code != 400 || errCode(m) != "VALIDATION_FAILED" {
		t.Fatalf("reserved tier: %d %v", code, m)
	}
	if code, _, _ = do("DELETE", "/v1/admin/tiers/vip%2F1", ""); code != 200 {
		t.Fatalf("delete tier: %d", code)
	}
	if code, _, _ = do("DELETE", "/v1/admin/tiers/vip%2F1", ""); code != 404 {
		t.Fatalf("delete tier twice: %d", code)
	}

	// Stats.
	code, _, m = do("GET", "/v1/stats/users/u1?window=1h", "")
	if code != 200 || m["user_id"] != "u1" || m["window"] != "1h" || m["total_requests"].(float64) < 8 || m["rejected_requests"].(float64) < 3 || m["current_limit"] != nil {
		t.Fatalf("user stats (allow-listed now): %d %v", code, m)
	}
	code, _, m = do("GET", "/v1/stats/users/u2?window=5m", "")
	if code != 200 || m["total_requests"].(float64) < 2 || m["current_limit"] != 3.0 || m["remaining"] != 0.0 || m["rule_id"] != "per-user" {
		t.Fatalf("user stats: %d %v", code, m)
	}
	code, _, m = do("GET", "/v1/stats/global", "")
	if code != 200 || m["total_requests"].(float64) < 10 || m["rejection_rate"].(float64) <= 0 {
		t.Fatalf("global stats: %d %v", code, m)
	}
	top := m["top_limited_users"].([]any)
	if len(top) == 0 || top[0].(map[string]any)["key"] != "u1" {
		t.Fatalf("top limited users: %v", top)
	}
	if code, _, _ = do("GET", "/v1/stats/global?window=2d", ""); code != 400 {
		t.Fatalf("window too long: %d", code)
	}

	// Delete, then the audit log tells the story, newest first.
	if code, _, _ = do("DELETE", "/v1/admin/rules/search", ""); code != 200 {
		t.Fatalf("delete: %d", code)
	}
	if code, _, _ = do("DELETE", "/v1/admin/rules/search", ""); code != 404 {
		t.Fatalf("delete twice: %d", code)
	}
	code, _, m = do("GET", "/v1/admin/audit?limit=3", "")
	entries := m["entries"].([]any)
	if code != 200 || len(entries) != 3 || m["next_before"] == nil {
		t.Fatalf("audit: %d %v", code, m)
	}
	first := entries[0].(map[string]any)
	if first["action"] != "delete" || first["id"] != "search" || first["after"] != nil || first["before"] == nil || first["actor"] != "admin" {
		t.Fatalf("newest audit entry: %v", first)
	}
	code, _, m = do("GET", "/v1/admin/audit?kind=rule&id=per-user", "")
	if entries := m["entries"].([]any); code != 200 || len(entries) != 3 {
		t.Fatalf("per-user's audit: %d %v", code, m)
	}

	// Rule hits reach /metrics, by rule id.
	resp, err := httpClient.Get("http://" + p.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var hits, rejections string
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.Contains(line, `rule_hits_total{rule="per-user"}`) {
			hits = line[strings.LastIndexByte(line, ' ')+1:]
		}
		if strings.Contains(line, `rule_rejections_total{rule="per-user"}`) {
			rejections = line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	// u1: 3 allowed and 1 over by HTTP, 1 over by RESP; u2 by RESP and
	// HTTP; u3 in EXEC; u1 over after enable; vip/1; u9 once off the deny
	// list. Allow- and deny-listed checks are not the rule's.
	if hits != "11" || rejections != "3" {
		t.Fatalf("per-user in /metrics: hits %q rejections %q", hits, rejections)
	}
}

// awayFromHourEnd returns once the server's clock (TIME) is at least margin
// before the next top of the hour, waiting out the hour's end if it is
// closer: a fixed window of an hour must not end in the middle of a test
// that counts in it.
func awayFromHourEnd(t *testing.T, p *proc, margin time.Duration) {
	t.Helper()
	rc := newRaw(dial(t, p.Addr))
	defer rc.c.Close()
	got, err := rc.do("TIME")
	arr, _ := got.([]any)
	if err != nil || len(arr) != 2 {
		t.Fatalf("TIME = %v, %v", got, err)
	}
	secs, _ := strconv.ParseInt(string(arr[0].(bulk)), 10, 64)
	usecs, _ := strconv.ParseInt(string(arr[1].(bulk)), 10, 64)
	now := time.Duration(secs)*time.Second + time.Duration(usecs)*time.Microsecond
	if left := time.Hour - now%time.Hour; left < margin {
		t.Logf("waiting %v for the top of the hour", left)
		time.Sleep(left + 10*time.Millisecond)
	}
}

// Auth failures, malformed input and oversized bodies: clear 4xx JSON
// errors, and nothing stored.
func TestHTTPAPIRefusesBadRequests(t *testing.T) {
	t.Parallel()
	p := startServer(t, "--admin-token", token)
	for _, tc := range []struct {
		token  string
		status int
		code   string
	}{{"", 401, "UNAUTHORIZED"}, {"wrong", 403, "FORBIDDEN"}, {token + "x", 403, "FORBIDDEN"}} {
		for _, route := range []string{"GET /v1/admin/rules", "POST /v1/admin/rules", "GET /v1/admin/audit", "GET /v1/stats/global", "GET /v1/stats/users/u", "PUT /v1/admin/tiers/u", "POST /v1/admin/lists/deny", "DELETE /v1/admin/rules/x"} {
			method, path, _ := strings.Cut(route, " ")
			code, h, m := httpDo(t, p, method, path, tc.token, `{"limit":1,"window":"1s"}`)
			if code != tc.status || errCode(m) != tc.code {
				t.Errorf("%s with token %q: %d %v", route, tc.token, code, m)
			}
			if tc.status == 401 && h.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: 401 without WWW-Authenticate", route)
			}
		}
	}
	// A malformed Authorization header is a missing one.
	req, _ := http.NewRequest("GET", "http://"+p.HTTP+"/v1/admin/rules", nil)
	req.Header.Set("Authorization", "Basic "+token)
	if resp, err := httpClient.Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("Basic auth: %v %v", resp, err)
	}

	for _, tc := range []struct {
		path, body, code, field string
	}{
		{"/v1/admin/rules", `{"limit":5,`, "MALFORMED_JSON", ""},
		{"/v1/admin/rules", `not json`, "MALFORMED_JSON", ""},
		{"/v1/admin/rules", ``, "MALFORMED_JSON", ""},
		{"/v1/admin/rules", `[1,2]`, "MALFORMED_JSON", ""},
		{"/v1/admin/rules", `{"limit":5,"window":"1m"} {"again":1}`, "MALFORMED_JSON", ""},
		{"/v1/admin/rules", `{"limit":5,"window":"1m","colour":"red"}`, "UNKNOWN_FIELD", "colour"},
		{"/v1/admin/rules", `{"limit":5,"window":"1m","match":{"ip":"10.0.0.0/33"}}`, "VALIDATION_FAILED", "match.ip"},
		{"/v1/admin/rules", `{"limit":5,"window":"1m","match":{"ip":"10.0.0.300"}}`, "VALIDATION_FAILED", "match.ip"},
		{"/v1/admin/rules", `{"limit":5,"window":"1m","algorithm":"leaky_faucet"}`, "VALIDATION_FAILED", "algorithm"},
		{"/v1/admin/rules", `{"limit":"five","window":"1m"}`, "VALIDATION_FAILED", "limit"},
		{"/v1/admin/rules", `{"limit":5,"window":"an hour"}`, "VALIDATION_FAILED", "window"},
		{"/v1/admin/rules", `{"limit":-5,"window":"1m","per":["shoe_size"]}`, "VALIDATION_FAILED", "per[0]"},
		{"/v1/admin/lists/deny", `{"type":"ip","value":"10.0.0.0/40"}`, "VALIDATION_FAILED", "value"},
		{"/v1/admin/lists/allow", `{"type":"email","value":"a@b"}`, "VALIDATION_FAILED", "type"},
		{"/v1/admin/lists/allow", `{"type":"ip","value":"10.0.0.1","expires_at":"2001-01-01T00:00:00Z"}`, "VALIDATION_FAILED", "expires_at"},
	} {
		code, _, m := httpDo(t, p, "POST", tc.path, token, tc.body)
		if code != 400 || errCode(m) != tc.code {
			t.Errorf("POST %s %s: %d %v, want 400 %s", tc.path, tc.body, code, m, tc.code)
			continue
		}
		if tc.field != "" {
			fields, _ := m["error"].(map[string]any)["fields"].(map[string]any)
			if fields[tc.field] == nil {
				t.Errorf("POST %s %s: no error for %s in %v", tc.path, tc.body, tc.field, m)
			}
		}
	}
	for _, body := range []string{`{"user_id":1}`, `{"user_id":"u","colour":"red"}`, `{"ip_address":"999.1.1.1"}`, `{"cost":0}`, `{"cost":1e12}`, `{`} {
		if code, _, m := httpDo(t, p, "POST", "/v1/ratelimit/check", "", body); code != 400 || errCode(m) == "" {
			t.Errorf("check %s: %d %v", body, code, m)
		}
	}

	// 10 MB bodies, with a length and chunked: refused before they are read.
	// A JSON string that never ends: only the size limit stops it.
	big := append([]byte(`{"name":"`), bytes.Repeat([]byte("x"), 10<<20)...)
	for _, chunked := range []bool{false, true} {
		for _, path := range []string{"/v1/admin/rules", "/v1/ratelimit/check"} {
			var body io.Reader = bytes.NewReader(big)
			if chunked {
				body = io.MultiReader(bytes.NewReader(big)) // no length: chunked
			}
			req, _ := http.NewRequest("POST", "http://"+p.HTTP+path, body)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := httpClient.Do(req)
			if err != nil {
				t.Fatalf("10 MB to %s (chunked %v): %v", path, chunked, err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 413 || !strings.Contains(string(raw), `"BODY_TOO_LARGE"`) {
				t.Errorf("10 MB to %s (chunked %v): %d %s", path, chunked, resp.StatusCode, raw)
			}
		}
	}

	// Nothing was stored by any of it.
	code, _, m := httpDo(t, p, "GET", "/v1/admin/rules", token, "")
	if code != 200 || m["total"] != 0.0 {
		t.Fatalf("rules after bad requests: %v", m)
	}
	if _, _, m = httpDo(t, p, "GET", "/v1/admin/audit", token, ""); len(m["entries"].([]any)) != 0 {
		t.Fatalf("audit after bad requests: %v", m)
	}
	if _, _, m = httpDo(t, p, "GET", "/v1/admin/lists/allow", token, ""); m["total"] != 0.0 {
		t.Fatalf("allow list after bad requests: %v", m)
	}

	// Without --admin-token the admin API is off.
	off := startServer(t)
	if code, _, m := httpDo(t, off, "GET", "/v1/admin/rules", "anything", ""); code != 403 || errCode(m) != "ADMIN_DISABLED" {
		t.Fatalf("admin without a token configured: %d %v", code, m)
	}
}

// Rules, lists, tiers and the audit log survive kill -9.
func TestRulesSurviveKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startServer(t, "--data-dir", dir, "--admin-token", token)
	for i := range 20 {
		body := fmt.Sprintf(`{"id":"r%02d","per":["user_id"],"limit":%d,"window":"1m"}`, i, i+1)
		if code, _, m := httpDo(t, p, "POST", "/v1/admin/rules", token, body); code != 201 {
			t.Fatalf("create %d: %d %v", i, code, m)
		}
	}
	httpDo(t, p, "PUT", "/v1/admin/rules/r03", token, `{"limit":99}`)
	httpDo(t, p, "POST", "/v1/admin/rules/r04/disable", token, "")
	httpDo(t, p, "DELETE", "/v1/admin/rules/r05", token, "")
	httpDo(t, p, "POST", "/v1/admin/lists/deny", token, `{"type":"ip","value":"10.0.0.0/8"}`)
	httpDo(t, p, "PUT", "/v1/admin/tiers/u1", token, `{"tier":"gold"}`)
	_, _, before := httpDo(t, p, "GET", "/v1/admin/audit?limit=1000", token, "")
	killHard(t, p)

	p2 := startServer(t, "--data-dir", dir, "--admin-token", token)
	_, _, m := httpDo(t, p2, "GET", "/v1/admin/rules?limit=100", token, "")
	if m["total"] != 19.0 {
		t.Fatalf("after kill -9: %v rules", m["total"])
	}
	if _, _, r := httpDo(t, p2, "GET", "/v1/admin/rules/r03", token, ""); r["limit"] != 99.0 {
		t.Fatalf("r03: %v", r)
	}
	if _, _, r := httpDo(t, p2, "GET", "/v1/admin/rules/r04", token, ""); r["enabled"] != false {
		t.Fatalf("r04: %v", r)
	}
	if code, _, _ := httpDo(t, p2, "GET", "/v1/admin/rules/r05", token, ""); code != 404 {
		t.Fatalf("r05 came back: %d", code)
	}
	if code, _, _ := httpDo(t, p2, "POST", "/v1/ratelimit/check", "", `{"ip_address":"10.1.1.1"}`); code != 403 {
		t.Fatalf("deny entry lost: %d", code)
	}
	if _, _, r := httpDo(t, p2, "GET", "/v1/admin/tiers/u1", token, ""); r["tier"] != "gold" {
		t.Fatalf("tier lost: %v", r)
	}
	_, _, after := httpDo(t, p2, "GET", "/v1/admin/audit?limit=1000", token, "")
	if len(before["entries"].([]any)) != 25 || fmt.Sprint(after["entries"]) != fmt.Sprint(before["entries"]) {
		t.Fatalf("audit before kill: %d entries; after: %d, equal %v", len(before["entries"].([]any)), len(after["entries"].([]any)), fmt.Sprint(after) == fmt.Sprint(before))
	}
}

func TestRulesFileAndRulesCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "rules.yaml")
	os.WriteFile(good, []byte(`
rules:
  - id: gh-anon
    match: {tier: anonymous}
    per: [ip]
    algorithm: fixed_window
    limit: 2
    window: 1h
deny:
  - {type: api_key, value: sk_leaked}
tiers:
  u1: gold
`), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`
rules:
  - id: x
    limit: 0
    window: 1m
    algorithm: magic
    match: {ip: 10.0.0.0/99}
`), 0o644)

	out, err := exec.Command(binary(t), "rules", "check", good).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ok (1 rules, 0 allow, 1 deny, 1 tier assignments)") {
		t.Fatalf("rules check good: %v\n%s", err, out)
	}
	out, err = exec.Command(binary(t), "rules", "check", bad).CombinedOutput()
	for _, f := range []string{"rules[0].limit", "rules[0].algorithm", "rules[0].match.ip", "3 problem(s)"} {
		if err == nil || !strings.Contains(string(out), f) {
			t.Fatalf("rules check bad: %v, %q missing\n%s", err, f, out)
		}
	}
	// A bad file refuses to start, naming the problem.
	out, err = exec.Command(binary(t), "--port", "0", "--http-addr", "", "--data-dir", "", "--rules", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "rules[0].algorithm") {
		t.Fatalf("start with a bad rules file: %v\n%s", err, out)
	}

	data := t.TempDir()
	p := startServer(t, "--rules", good, "--data-dir", data, "--admin-token", token)
	for i, want := range []int{200, 200, 429} {
		if code, _, m := httpDo(t, p, "POST", "/v1/ratelimit/check", "", `{"ip_address":"192.0.2.1"}`); code != want {
			t.Fatalf("check %d: %d %v", i, code, m)
		}
	}
	if code, _, _ := httpDo(t, p, "POST", "/v1/ratelimit/check", "", `{"api_key":"sk_leaked"}`); code != 403 {
		t.Fatalf("deny entry from the file: %d", code)
	}
	_, _, m := httpDo(t, p, "GET", "/v1/admin/audit", token, "")
	if n := len(m["entries"].([]any)); n != 3 || m["entries"].([]any)[0].(map[string]any)["actor"] != "file:rules.yaml" {
		t.Fatalf("audit after loading the file: %v", m)
	}
	// Restarting with the same file changes nothing.
	killHard(t, p)
	p = startServer(t, "--rules", good, "--data-dir", data, "--admin-token", token)
	if _, _, m := httpDo(t, p, "GET", "/v1/admin/audit", token, ""); len(m["entries"].([]any)) != 3 {
		t.Fatalf("audit after loading the same file again: %v", m)
	}
}
