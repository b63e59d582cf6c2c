package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Rules in a cluster: every node keeps every rule (gossip broadcasts,
// push/pull when a node joins), in its own store; counters live on the
// node holding their slot, so a rule's limit is global.

// startRuleNode starts a cluster node with the admin API on dir, named
// name, joining join ("" for none).
func startRuleNode(t *testing.T, dir, name, join string, extra ...string) *node {
	t.Helper()
	return startNode(t, join, append([]string{"--data-dir", dir, "--node-name", name, "--admin-token", token}, extra...)...)
}

// rulesOf returns a node's rules, allow and deny lists and tiers as the
// admin API lists them (JSON), and the number of rules.
func rulesOf(t *testing.T, n *node) (string, int) {
	t.Helper()
	_, _, m := httpDo(t, n.proc, "GET", "/v1/admin/rules?limit=1000", token, "")
	total, _ := m["total"].(float64)
	all := []any{m["rules"]}
	for _, path := range []string{"/v1/admin/lists/allow", "/v1/admin/lists/deny", "/v1/admin/tiers"} {
		_, _, l := httpDo(t, n.proc, "GET", path+"?limit=1000", token, "")
		all = append(all, l)
	}
	b, _ := json.Marshal(all)
	return string(b), int(total)
}

// respRules returns the ids RL.RULES lists on a node.
func respRules(t *testing.T, n *node) []string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: n.Addr})
	defer c.Close()
	vals, err := c.Do(context.Background(), "RL.RULES").StringSlice()
	if err != nil {
		t.Fatalf("RL.RULES on %s: %v", n.Addr, err)
	}
	var ids []string
	for _, v := range vals {
		var r struct{ ID string }
		if err := json.Unmarshal([]byte(v), &r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// waitSameRules waits (at most within) until every node lists exactly
// want's rules, list entries and tiers through the admin API, with
// identical content, and RL.RULES agrees; it returns how long that took.
func waitSameRules(t *testing.T, within time.Duration, want *node, nodes ...*node) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		wantJSON, wantN := rulesOf(t, want)
		ok := true
		var state []string
		for _, n := range nodes {
			js, total := rulesOf(t, n)
			state = append(state, fmt.Sprintf("%s: %d rules", n.Port, total))
			if js != wantJSON || total != wantN || len(respRules(t, n)) != wantN {
				ok = false
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > within {
			for _, n := range append(nodes, want) {
				in := clusterInfo(t, n.Addr)
				var rs []string
				for k, v := range in {
					if strings.HasPrefix(k, "cluster_rules") || k == "cluster_members" {
						rs = append(rs, k+"="+v)
					}
				}
				slices.Sort(rs)
				t.Logf("%s: rules %v; %v", n.Port, respRules(t, n), rs)
			}
			t.Fatalf("rules did not converge within %v (want %d): %v", within, wantN, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// auditOf returns a node's audit entries (newest first).
func auditOf(t *testing.T, n *node) []map[string]any {
	t.Helper()
	_, _, m := httpDo(t, n.proc, "GET", "/v1/admin/audit?limit=1000", token, "")
	var out []map[string]any
	for _, e := range m["entries"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// A change made through the admin API on one node reaches every node
// within seconds, each persisting it with an audit entry naming the node
// that took it; after kill -9 of every node each has all rules from its
// own store; a node down during changes catches up when it rejoins, and a
// node joining later gets everything.
func TestClusterRulesReachEveryNode(t *testing.T) {
	t.Parallel()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()}
	n1 := startRuleNode(t, dirs[0], "n1", "")
	n2 := startRuleNode(t, dirs[1], "n2", n1.gossip)
	n3 := startRuleNode(t, dirs[2], "n3", n1.gossip)
	waitSettled(t, []*node{n1, n2, n3})

	do := func(n *node, method, path, body string, want int) map[string]any {
		t.Helper()
		code, _, m := httpDo(t, n.proc, method, path, token, body)
		if code != want {
			t.Fatalf("%s %s on %s: %d %v, want %d", method, path, n.Port, code, m, want)
		}
		return m
	}
	for i := range 20 {
		do(n1, "POST", "/v1/admin/rules", fmt.Sprintf(`{"id":"r%02d","per":["user_id"],"limit":%d,"window":"1m"}`, i, i+1), 201)
	}
	// Larger than a gossip packet: travels over the reliable stream.
	big := fmt.Sprintf(`{"id":"big","name":"%s","description":"%s","match":{"endpoint":"/%s"},"per":["ip"],"limit":7,"window":"1h"}`,
		strings.Repeat("n", 128), strings.Repeat("d", 1024), strings.Repeat("e", 1000))
	do(n1, "POST", "/v1/admin/rules", big, 201)
	do(n1, "PUT", "/v1/admin/rules/r03", `{"limit":99}`, 200)
	do(n1, "POST", "/v1/admin/rules/r04/disable", "", 200)
	do(n1, "DELETE", "/v1/admin/rules/r05", "", 200)
	do(n2, "POST", "/v1/admin/lists/deny", `{"type":"ip","value":"10.0.0.0/8"}`, 201)
	do(n3, "PUT", "/v1/admin/tiers/u1", `{"tier":"gold"}`, 200)
	took := waitSameRules(t, 20*time.Second, n1, n2, n3)
	t.Logf("25 changes converged on 3 nodes %v after the last one", took)
	for _, n := range []*node{n1, n2, n3} {
		if code, _, _ := httpDo(t, n.proc, "POST", "/v1/ratelimit/check", "", `{"ip_address":"10.1.1.1"}`); code != 403 {
			t.Fatalf("deny entry made on n2 not applied on %s: %d", n.Port, code)
		}
		if _, _, r := httpDo(t, n.proc, "GET", "/v1/admin/tiers/u1", token, ""); r["tier"] != "gold" {
			t.Fatalf("tier made on n3 not on %s: %v", n.Port, r)
		}
	}
	// Audit entries are replicated: every node records each change it
	// applied, once, with the node that took it as origin.
	origins := func(n *node) map[string]int {
		out := map[string]int{}
		for _, e := range auditOf(t, n) {
			out[e["origin"].(string)]++
		}
		return out
	}
	want := map[string]int{"n1": 24, "n2": 1, "n3": 1}
	eventually(t, 20*time.Second, "every audit log complete", func() bool {
		for _, n := range []*node{n1, n2, n3} {
			if fmt.Sprint(origins(n)) != fmt.Sprint(want) {
				return false
			}
		}
		return true
	})

	// kill -9 all three: each node starts alone (no --join) from its own
	// store and has every rule.
	before, _ := rulesOf(t, n1)
	audit2 := len(auditOf(t, n2))
	for _, n := range []*node{n1, n2, n3} {
		killHard(t, n.proc)
	}
	for i, name := range []string{"n1", "n2", "n3"} {
		n := startRuleNode(t, dirs[i], name, "")
		if got, total := rulesOf(t, n); got != before || total != 20 {
			t.Fatalf("%s after kill -9, alone: %d rules, same as before: %v", name, total, got == before)
		}
		if i == 1 && len(auditOf(t, n)) != audit2 {
			t.Fatalf("n2's audit log: %d entries after kill -9, %d before", len(auditOf(t, n)), audit2)
		}
		killHard(t, n.proc)
	}

	// Restart as a cluster; n3 is down while rules change, then rejoins.
	n1 = startRuleNode(t, dirs[0], "n1", "")
	n2 = startRuleNode(t, dirs[1], "n2", n1.gossip)
	n3 = startRuleNode(t, dirs[2], "n3", n1.gossip)
	waitSettled(t, []*node{n1, n2, n3})
	killHard(t, n3.proc)
	// n3 comes back on its gossip port; the test holds it meanwhile, or a
	// node or connection of another test could take it.
	release := holdPort(t, n3.gossip)
	do(n1, "POST", "/v1/admin/rules", `{"id":"while-down","limit":1,"window":"1s"}`, 201)
	do(n2, "DELETE", "/v1/admin/rules/r06", "", 200)
	do(n2, "PUT", "/v1/admin/rules/r07", `{"limit":77}`, 200)
	waitSameRules(t, 20*time.Second, n1, n2)
	// Same gossip address as before: memberlist takes a node back under
	// its name only there (a fixed --cluster-port in production).
	_, port, _ := strings.Cut(n3.gossip, "127.0.0.1:")
	release()
	n3 = startRuleNode(t, dirs[2], "n3", n1.gossip, "--cluster-port", port)
	waitSameRules(t, 20*time.Second, n1, n3)
	if _, _, r := httpDo(t, n3.proc, "GET", "/v1/admin/rules/r07", token, ""); r["limit"] != 77.0 {
		t.Fatalf("n3 after rejoining: r07 %v", r)
	}

	// A fourth node, new, joins and gets every rule, list entry and tier.
	n4 := startRuleNode(t, dirs[3], "n4", n2.gossip)
	waitSameRules(t, 20*time.Second, n1, n4)
	if code, _, _ := httpDo(t, n4.proc, "POST", "/v1/ratelimit/check", "", `{"ip_address":"10.9.9.9"}`); code != 403 {
		t.Fatalf("the new node lacks the deny entry: %d", code)
	}
	if _, _, r := httpDo(t, n4.proc, "GET", "/v1/admin/tiers/u1", token, ""); r["tier"] != "gold" {
		t.Fatalf("the new node lacks the tier: %v", r)
	}
}

// A rule's limit is global: checks spread round-robin over three nodes,
// over RESP (RL.CHECK, pipelined) and HTTP, admit exactly the limit, and
// every counter is kept once, on the node holding its slot. Requests
// whose counters share a node (one user's rules) are decided there
// atomically; those spanning nodes (per user and per IP) are asked first
// and consumed after, and still admit exactly the limit when they do not
// race.
func TestClusterRuleLimitIsGlobal(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 3, "--admin-token", token, "--forward-timeout", "10s")
	n1 := nodes[0]
	for _, r := range []string{
		`{"id":"hour","per":["user_id"],"algorithm":"fixed_window","limit":5,"window":"1h"}`,
		`{"id":"minute","match":{"endpoint":"/search"},"per":["user_id"],"algorithm":"gcra","limit":3,"window":"1m"}`,
		`{"id":"per-ip","match":{"endpoint":"/ip"},"per":["ip"],"algorithm":"sliding_window","limit":4,"window":"1h"}`,
	} {
		if code, _, m := httpDo(t, n1.proc, "POST", "/v1/admin/rules", token, r); code != 201 {
			t.Fatalf("create: %d %v", code, m)
		}
	}
	waitSameRules(t, 20*time.Second, n1, nodes[1], nodes[2])

	ctx := context.Background()
	var clients []*redis.Client
	for _, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n.Addr, ReadTimeout: 30 * time.Second}) // longer than --forward-timeout
		t.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	// RESP: rounds of pipelines, request i of user u through node
	// (u+i) mod 3, PINGs between the checks to prove replies stay in
	// order around the ones that wait for other nodes.
	type ask struct {
		user, endpoint, ip string
	}
	run := func(asks []ask, rounds int) map[string]int {
		allowed := map[string]int{}
		for round := range rounds {
			pipes := make([]redis.Pipeliner, len(clients))
			for i, c := range clients {
				pipes[i] = c.Pipeline()
			}
			type sent struct {
				key  string
				cmd  *redis.Cmd
				ping *redis.StatusCmd
			}
			var all []sent
			for i, a := range asks {
				p := pipes[(i+round)%len(pipes)]
				args := []any{"RL.CHECK", "user_id", a.user, "endpoint", a.endpoint}
				if a.ip != "" {
					args = append(args, "ip", a.ip)
				}
				all = append(all, sent{a.user + a.ip, p.Do(ctx, args...), p.Ping(ctx)})
			}
			for _, p := range pipes {
				if _, err := p.Exec(ctx); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			for _, s := range all {
				v, err := s.cmd.Slice()
				if err != nil || len(v) != 6 || s.ping.Val() != "PONG" {
					t.Fatalf("%s: %v %v, ping %q", s.key, v, err, s.ping.Val())
				}
				if v[0].(int64) == 0 {
					allowed[s.key]++
				}
			}
		}
		return allowed
	}
	var users, searches, ips []ask
	for i := range 100 {
		users = append(users, ask{user: fmt.Sprintf("u%d", i), endpoint: "/home"})
		searches = append(searches, ask{user: fmt.Sprintf("s%d", i), endpoint: "/search"})
		ips = append(ips, ask{user: fmt.Sprintf("p%d", i), endpoint: "/ip", ip: fmt.Sprintf("10.0.%d.%d", i/250, i%250)})
	}
	exactly := func(allowed map[string]int, asks []ask, want int, what string) {
		t.Helper()
		for _, a := range asks {
			if got := allowed[a.user+a.ip]; got != want {
				t.Fatalf("%s: %s allowed %d times, want %d", what, a.user+a.ip, got, want)
			}
		}
	}
	exactly(run(users, 8), users, 5, "one rule")
	exactly(run(searches, 8), searches, 3, "two rules, one node per user")
	exactly(run(ips, 8), ips, 4, "rules on two nodes")
	races := func() (n int64) {
		for _, nd := range nodes {
			n += atoi(clusterInfo(t, nd.Addr)["cluster_rules_cross_node_races"])
		}
		return n
	}
	if r := races(); r != 0 {
		t.Fatalf("%d cross-node races counted without concurrent requests", r)
	}

	// Concurrent requests of one client whose counters sit on two nodes:
	// each admitted request consumed from the per-IP counter (4) or raced
	// for its last unit and was counted as such.
	holder := func(tag string) *node {
		slot, err := clients[0].ClusterKeySlot(ctx, tag).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if servesSlot(t, n, slot) {
				return n
			}
		}
		t.Fatalf("nobody serves %s", tag)
		return nil
	}
	racerIP := ""
	for i := 1; i < 100 && racerIP == ""; i++ {
		ip := fmt.Sprintf("10.200.0.%d", i)
		if holder(fmt.Sprintf("{ip:%d:%s}", len(ip), ip)) != holder("{user_id:5:racer}") {
			racerIP = ip
		}
	}
	results := make(chan error, 60)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := clients[i%3].Do(ctx, "RL.CHECK", "user_id", "racer", "endpoint", "/ip", "ip", racerIP).Slice()
			if err == nil && len(v) != 6 {
				err = fmt.Errorf("reply %v", v)
			}
			if err == nil && v[0].(int64) == 0 {
				admitted.Add(1)
			}
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatalf("concurrent RL.CHECK: %v", err)
		}
	}
	if a, r := admitted.Load(), races(); a < 4 || a > 4+r {
		t.Fatalf("60 concurrent checks: %d admitted with %d races counted, limit 4", a, r)
	} else {
		t.Logf("60 concurrent checks over 3 nodes: %d admitted, %d races", a, r)
	}

	// HTTP: the same over each node's check endpoint.
	for u := range 20 {
		allowed := 0
		for i := range 8 {
			code, h, _ := httpDo(t, nodes[(u+i)%3].proc, "POST", "/v1/ratelimit/check", "", fmt.Sprintf(`{"user_id":"h%d","endpoint":"/search"}`, u))
			switch code {
			case http.StatusOK:
				allowed++
			case http.StatusTooManyRequests:
				if h.Get("Retry-After") == "" {
					t.Fatal("429 without Retry-After")
				}
			default:
				t.Fatalf("HTTP check: %d", code)
			}
		}
		if allowed != 3 {
			t.Fatalf("HTTP: user h%d allowed %d times, want 3", u, allowed)
		}
	}

	// Each counter exists once in the cluster, on the node holding it.
	total := 0
	for _, c := range clients {
		keys, err := c.Keys(ctx, "rl:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		total += len(keys)
	}
	if want := 100 + 2*100 + 2*100 + 2 + 2*20; total != want {
		t.Fatalf("%d counter keys in the cluster, want %d (one per rule and client)", total, want)
	}
	forwarded := 0
	for _, n := range nodes {
		forwarded += int(atoi(clusterInfo(t, n.Addr)["cluster_forwarded"]))
	}
	if forwarded < 1000 {
		t.Fatalf("only %d counter runs went to other nodes", forwarded)
	}

	// Inside MULTI a check cannot wait for another node: a clear error
	// for a request whose counters are elsewhere, the rest of the
	// transaction runs.
	var remote string
	for i := range 1000 {
		u := fmt.Sprintf("m%d", i)
		slot, err := clients[0].ClusterKeySlot(ctx, "rl:hour:f|{user_id:"+fmt.Sprint(len(u))+":"+u+"}").Result()
		if err != nil {
			t.Fatal(err)
		}
		if !servesSlot(t, nodes[0], slot) {
			remote = u
			break
		}
	}
	cmds, _ := clients[0].TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "RL.CHECK", "user_id", remote)
		p.Ping(ctx)
		return nil
	})
	if len(cmds) != 2 || cmds[0].Err() == nil || !strings.Contains(cmds[0].Err().Error(), "held by other nodes") || cmds[1].Err() != nil {
		t.Fatalf("RL.CHECK of remote counters in MULTI: %v", cmds)
	}
}

// servesSlot reports whether n serves slot (CLUSTER SLOTS).
func servesSlot(t *testing.T, n *node, slot int64) bool {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: n.Addr})
	defer c.Close()
	slots, err := c.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range slots {
		if int64(r.Start) <= slot && slot <= int64(r.End) {
			return r.Nodes[0].Addr == n.Addr
		}
	}
	return false
}

// eventually polls cond (bounded) until it holds.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// holdPort binds addr's TCP and UDP port (gossip uses both) until the
// returned function is called; a port already taken again is logged, and
// the node's start retries.
func holdPort(t *testing.T, addr string) (release func()) {
	t.Helper()
	var closers []func() error
	if l, err := net.Listen("tcp", addr); err == nil {
		closers = append(closers, l.Close)
	} else {
		t.Logf("holding %s: %v", addr, err)
	}
	if c, err := net.ListenPacket("udp", addr); err == nil {
		closers = append(closers, c.Close)
	} else {
		t.Logf("holding %s: %v", addr, err)
	}
	return func() {
		for _, c := range closers {
			c()
		}
	}
}

// Three nodes changing the same rules, tiers and ids at the same time
// converge to one state: each change carries (version, node name), the
// version above every one its node has seen, and every node keeps the
// highest pair, deletions included.
func TestClusterRulesConcurrentChangesConverge(t *testing.T) {
	t.Parallel()
	n1 := startRuleNode(t, t.TempDir(), "n1", "")
	n2 := startRuleNode(t, t.TempDir(), "n2", n1.gossip)
	n3 := startRuleNode(t, t.TempDir(), "n3", n1.gossip)
	nodes := []*node{n1, n2, n3}
	waitSettled(t, nodes)
	for i := range 5 {
		if code, _, m := httpDo(t, n1.proc, "POST", "/v1/admin/rules", token, fmt.Sprintf(`{"id":"c%d","per":["user_id"],"limit":1,"window":"1m"}`, i)); code != 201 {
			t.Fatalf("create c%d: %d %v", i, code, m)
		}
	}
	waitSameRules(t, 20*time.Second, n1, n2, n3)

	// Goroutine-safe: errors are collected, not t.Fatal'd.
	type result struct {
		what string
		code int
		err  error
	}
	results := make(chan result, 1000)
	send := func(n *node, method, path, body string) {
		req, _ := http.NewRequest(method, "http://"+n.HTTP+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := httpClient.Do(req)
		code := 0
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
		}
		results <- result{n.Port + " " + method + " " + path, code, err}
	}
	const rounds = 30
	var wg sync.WaitGroup
	for k, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The same id created on every node at once: each accepts it
			// (none has it yet), one version wins everywhere.
			send(n, "POST", "/v1/admin/rules", fmt.Sprintf(`{"id":"dup","per":["ip"],"limit":%d,"window":"1h"}`, 100+k))
			for i := range rounds {
				send(n, "PUT", fmt.Sprintf("/v1/admin/rules/c%d", i%5), fmt.Sprintf(`{"limit":%d}`, 1000*(k+1)+i))
				send(n, "PUT", fmt.Sprintf("/v1/admin/tiers/u%d", i%3), fmt.Sprintf(`{"tier":"t%d-%d"}`, k, i))
				if i%10 == 5 {
					action := [...]string{"disable", "enable", "disable"}[k]
					send(n, "POST", fmt.Sprintf("/v1/admin/rules/c%d/%s", (i+k)%5, action), "")
				}
			}
			if k == 1 {
				send(n, "DELETE", "/v1/admin/rules/c4", "") // while the others update it
			}
		}()
	}
	wg.Wait()
	close(results)
	for r := range results {
		// 404: c4 already deleted where the change arrived.
		if r.err != nil || (r.code != 200 && r.code != 201 && r.code != 404) {
			t.Fatalf("%s: %d %v", r.what, r.code, r.err)
		}
	}
	took := waitSameRules(t, 20*time.Second, n1, n2, n3)
	t.Logf("%d concurrent changes on 3 nodes converged %v after the last", 3*(2*rounds+3)+2, took)
	_, _, d := httpDo(t, n3.proc, "GET", "/v1/admin/rules/dup", token, "")
	if l, _ := d["limit"].(float64); l < 100 || l > 102 {
		t.Fatalf("dup after concurrent creates: %v", d)
	}
	// Each node keeps the change with the highest version it audited (the
	// late ones are recorded as superseded history); c4 was deleted on n2
	// while n1 and n3 updated it, and is whichever came last everywhere.
	for _, n := range nodes {
		highest := map[string]float64{}
		for _, e := range auditOf(t, n) {
			if e["kind"] == "rule" {
				id := e["id"].(string)
				highest[id] = max(highest[id], e["version"].(float64))
			}
		}
		for i := range 5 {
			id := fmt.Sprintf("c%d", i)
			code, _, r := httpDo(t, n.proc, "GET", "/v1/admin/rules/"+id, token, "")
			if code == 404 && i == 4 {
				continue
			}
			if l, _ := r["limit"].(float64); code != 200 || int(l)%1000 >= rounds || l < 1000 {
				t.Fatalf("%s on %s after concurrent updates: %d %v", id, n.Port, code, r)
			}
			if r["version"] != highest[id] {
				t.Fatalf("%s on %s: version %v kept, %v audited", id, n.Port, r["version"], highest[id])
			}
		}
	}
}
