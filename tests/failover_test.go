package tests

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rlserver/rlserver/shard"
)

// Issue 10: surviving a crash. Real nodes on 127.0.0.1 (failure detection:
// see failoverProfile); a load generator on many keys; kill -9.
//
// Two kinds of keys. Idle keys ("i:") are used up to their limit (10 per
// hour) before the crash and then left alone, so their replicas have
// them long before it: they must survive exactly. Busy keys ("a:") take
// the load through the crash with a limit it never reaches (100,000 per
// day), so every admitted call must show in the key's state afterwards;
// a busy key of the dead node may miss the calls its owner admitted in
// the replication lag before the crash, and nothing else.

const (
	idleBurst = 9     // i: keys, CL.THROTTLE k 9 1 3600: 10 per hour
	busyBurst = 99999 // a: keys, CL.THROTTLE k 99999 1 86400: 100,000 per day
	lagBound  = time.Second
	// promoteSlack is the calls per key the failover itself may lose
	// (see crashUnderLoad).
	promoteSlack = 2
)

// callRec is one call of the load.
type callRec struct {
	key   int32
	sent  int64 // Unix ns
	admit bool
}

// busyLoad calls CL.THROTTLE on busy keys through plain clients of addrs
// until stop, recording every call.
type busyLoad struct {
	keys    []string
	recs    [][]callRec // per worker
	calls   atomic.Int64
	errs    atomic.Int64
	firstE  atomic.Int64 // Unix ns of the first and last error
	lastE   atomic.Int64
	lastErr atomic.Value
}

func runBusyLoad(addrs []string, keys []string, dial func(context.Context, string, string) (net.Conn, error), stop <-chan struct{}) (*busyLoad, *sync.WaitGroup) {
	l := &busyLoad{keys: keys, recs: make([][]callRec, 2*len(addrs))}
	var wg sync.WaitGroup
	for w := range l.recs {
		addr := addrs[w%len(addrs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ReadTimeout: 10 * time.Second, Dialer: dial, PoolSize: 1})
			defer c.Close()
			ctx := context.Background()
			for {
				select {
				case <-stop:
					return
				default:
				}
				p := c.Pipeline()
				var cmds []*redis.Cmd
				var idx []int32
				sent := time.Now().UnixNano()
				for range 16 {
					i := rng.IntN(len(keys))
					cmds = append(cmds, p.Do(ctx, "CL.THROTTLE", keys[i], busyBurst, 1, 86400))
					idx = append(idx, int32(i))
				}
				p.Exec(ctx)
				for j, cmd := range cmds {
					l.calls.Add(1)
					r, err := cmd.Int64Slice()
					if err != nil || len(r) != 5 {
						now := time.Now().UnixNano()
						if l.errs.Add(1) == 1 {
							l.firstE.Store(now)
						}
						l.lastE.Store(now)
						l.lastErr.Store(fmt.Sprint(err))
						continue
					}
					l.recs[w] = append(l.recs[w], callRec{key: idx[j], sent: sent, admit: r[0] == 0})
				}
			}
		}()
	}
	return l, &wg
}

// admitted returns, per key, the admitted calls, and those sent in
// [from, to].
func (l *busyLoad) admitted(from, to int64) (all, within []int64) {
	all = make([]int64, len(l.keys))
	within = make([]int64, len(l.keys))
	for _, rs := range l.recs {
		for _, r := range rs {
			if r.admit {
				all[r.key]++
				if r.sent >= from && r.sent <= to {
					within[r.key]++
				}
			}
		}
	}
	return all, within
}

// consumed peeks keys (CL.THROTTLE k burst 1 period) through addr and
// returns how much of each key's limit its state shows used.
func consumed(t *testing.T, c *redis.Client, keys []string, burst, period int64) []int64 {
	t.Helper()
	ctx := context.Background()
	out := make([]int64, len(keys))
	for lo := 0; lo < len(keys); lo += 500 {
		p := c.Pipeline()
		var cmds []*redis.Cmd
		for _, k := range keys[lo:min(lo+500, len(keys))] {
			cmds = append(cmds, p.Do(ctx, "CL.PEEK", k, burst, 1, period))
		}
		p.Exec(ctx)
		for i, cmd := range cmds {
			r, err := cmd.Int64Slice()
			if err != nil || len(r) != 5 {
				t.Fatalf("peek %s: %v %v", keys[lo+i], r, err)
			}
			// A peek answers what the next call would: allowed with
			// remaining = burst - consumed, or limited when all of
			// burst+1 is consumed.
			out[lo+i] = burst + 1
			if r[0] == 0 {
				out[lo+i] = burst - r[2]
			}
		}
	}
	return out
}

// fillIdle uses up every idle key's limit (10 calls, all admitted).
func fillIdle(t *testing.T, c *redis.Client, keys []string) {
	t.Helper()
	ctx := context.Background()
	for range idleBurst + 1 {
		p := c.Pipeline()
		var cmds []*redis.Cmd
		for _, k := range keys {
			cmds = append(cmds, p.Do(ctx, "CL.THROTTLE", k, idleBurst, 1, 3600))
		}
		p.Exec(ctx)
		for i, cmd := range cmds {
			if r, err := cmd.Int64Slice(); err != nil || r[0] != 0 {
				t.Fatalf("filling %s: %v %v", keys[i], r, err)
			}
		}
	}
}

// slotHolders maps every slot to the address serving it, from addr's
// CLUSTER SLOTS.
func slotHolders(t *testing.T, c *redis.Client) []string {
	t.Helper()
	slots, err := c.ClusterSlots(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, shard.NumSlots)
	for _, r := range slots {
		for s := r.Start; s <= r.End; s++ {
			out[s] = r.Nodes[0].Addr
		}
	}
	return out
}

// infoWith returns INFO cluster fields through a client that dials with
// dial (nil: the default).
func infoWith(t *testing.T, addr string, dial func(context.Context, string, string) (net.Conn, error)) map[string]string {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true, Dialer: dial})
	defer c.Close()
	s, err := c.Info(context.Background(), "cluster").Result()
	if err != nil {
		t.Fatalf("INFO cluster from %s: %v", addr, err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// waitReplicated waits (at most 30 s, polling) until every slot has a
// full copy on a replica and no change is unacknowledged.
func waitReplicated(t *testing.T, addrs []string, dial func(context.Context, string, string) (net.Conn, error)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		synced, lagging := 0, 0
		for _, a := range addrs {
			in := infoWith(t, a, dial)
			synced += int(atoi(in["cluster_replica_slots_synced"]))
			lagging += int(atoi(in["cluster_repl_lag_us"]))
		}
		if synced >= shard.NumSlots && lagging == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas did not catch up: %d slots synced, lag %d µs", synced, lagging)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitMembers waits (at most 30 s) until every node of addrs sees want
// members, and returns when that was first seen.
func waitMembers(t *testing.T, addrs []string, want int, dial func(context.Context, string, string) (net.Conn, error)) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, a := range addrs {
			if atoi(infoWith(t, a, dial)["cluster_members"]) != int64(want) {
				ok = false
				break
			}
		}
		if ok {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("members never reached %d", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// killResult is what one crash measured.
type killResult struct {
	failover, lastPolicy time.Duration
	calls, errs          int64
	victimIdle, victimBusy,
	idleReset, busyLost, busyExtra int
	maxLost, lagP99, lagMax int64
}

// crashUnderLoad runs the scenario of issue 10 on three nodes with the
// given replica count: idle keys filled, busy keys under load through
// nodes 0 and 1, kill -9 of node 2, failover; then node 2 is restarted
// from its data directory (holding a stale snapshot) and must rejoin
// without resetting any key.
func crashUnderLoad(t *testing.T, replicas int, nIdle, nBusy int) killResult {
	var res killResult
	dir := t.TempDir()
	extra := []string{"--replicas", strconv.Itoa(replicas), "--gossip-profile", failoverProfile(), "--forward-timeout", "10s"}
	nodes := startNodes(t, 2, extra...)
	victim := startNode(t, nodes[0].gossip, append(slices.Clone(extra), "--data-dir", dir)...)
	nodes = append(nodes, victim)
	waitSettled(t, nodes)
	defer func() {
		if t.Failed() {
			dumpCluster(t, nodes)
		}
	}()
	ctx := context.Background()
	vc := redis.NewClient(&redis.Options{Addr: victim.Addr})
	if err := vc.Save(ctx).Err(); err != nil { // a snapshot older than every key
		t.Fatal(err)
	}
	vc.Close()
	c0 := redis.NewClient(&redis.Options{Addr: nodes[0].Addr, ReadTimeout: 10 * time.Second})
	defer c0.Close()
	idle, busy := keysN("i:", nIdle), keysN("a:", nBusy)
	fillIdle(t, c0, idle)
	holders := slotHolders(t, c0)
	isVictims := func(k string) bool { return holders[shard.Slot([]byte(k))] == victim.Addr }
	if replicas > 0 {
		waitReplicated(t, []string{nodes[0].Addr, nodes[1].Addr, victim.Addr}, nil)
	}

	stop := make(chan struct{})
	l, wg := runBusyLoad([]string{nodes[0].Addr, nodes[1].Addr}, busy, nil, stop)
	for l.calls.Load() < 4000 {
		time.Sleep(5 * time.Millisecond)
	}
	vin := clusterInfo(t, victim.Addr)
	if replicas > 0 {
		// INFO replication has the same counters.
		vc := redis.NewClient(&redis.Options{Addr: victim.Addr})
		rep, err := vc.Info(ctx, "replication").Result()
		vc.Close()
		if err != nil || !strings.Contains(rep, "role:master") || !regexp.MustCompile(`cluster_repl_keys_sent:[1-9]`).MatchString(rep) {
			t.Fatalf("INFO replication: %v\n%s", err, rep)
		}
	}
	res.lagP99, res.lagMax = atoi(vin["cluster_repl_lag_p99_us"]), atoi(vin["cluster_repl_lag_max_us"])
	killAt := time.Now()
	victim.cmd.Process.Kill() // SIGKILL
	victim.cmd.Wait()
	failedOver := waitMembers(t, []string{nodes[0].Addr, nodes[1].Addr}, 2, nil)
	res.failover = failedOver.Sub(killAt)
	mark := l.calls.Load()
	for l.calls.Load() < mark+2000 {
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	res.calls, res.errs = l.calls.Load(), l.errs.Load()
	for _, n := range nodes[:2] {
		if last := atoi(clusterInfo(t, n.Addr)["cluster_unreachable_last_ms"]); last > 0 {
			res.lastPolicy = max(res.lastPolicy, time.UnixMilli(last).Sub(killAt))
		}
	}
	if res.errs > 0 {
		t.Errorf("clients saw %d errors (of %d calls), from %v to %v after the kill: %v", res.errs, res.calls,
			time.Unix(0, l.firstE.Load()).Sub(killAt), time.Unix(0, l.lastE.Load()).Sub(killAt), l.lastErr.Load())
	}

	// The survivors' maps no longer name the victim, and a cluster-aware
	// client follows them to the new owners.
	for _, n := range nodes[:2] {
		c := redis.NewClient(&redis.Options{Addr: n.Addr})
		for s, h := range slotHolders(t, c) {
			if h == victim.Addr || h == "" {
				t.Fatalf("slot %d still served by %q on %s", s, h, n.Port)
			}
		}
		c.Close()
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{nodes[1].Addr}})
	for _, k := range busy[:50] {
		if err := cc.Do(ctx, "CL.PEEK", k, busyBurst, 1, 86400).Err(); err != nil {
			t.Fatalf("cluster client after failover: %v", err)
		}
	}
	cc.Close()

	// Idle keys: the victim's survive with replicas (none is reset).
	idleNow := consumed(t, c0, idle, idleBurst, 3600)
	for i, k := range idle {
		if !isVictims(k) {
			if idleNow[i] != idleBurst+1 {
				t.Fatalf("idle key %s of a live node shows %d consumed, want %d", k, idleNow[i], idleBurst+1)
			}
			continue
		}
		res.victimIdle++
		if idleNow[i] != idleBurst+1 {
			res.idleReset++
		}
	}
	// Busy keys: every admitted call shows, except (on the victim's
	// keys) those of the replication lag before the kill.
	allowed, recent := l.admitted(killAt.Add(-lagBound).UnixNano(), killAt.UnixNano())
	busyNow := consumed(t, c0, busy, busyBurst, 86400)
	for i, k := range busy {
		lost := allowed[i] - busyNow[i]
		if !isVictims(k) {
			if lost != 0 {
				t.Fatalf("busy key %s of a live node: %d admitted, state shows %d", k, allowed[i], busyNow[i])
			}
			continue
		}
		res.victimBusy++
		switch {
		case lost > 0:
			res.busyLost += int(lost)
			res.maxLost = max(res.maxLost, lost)
			// promoteSlack: between the new owner publishing its map
			// and merging the buckets of the detection window, a call
			// can be decided on the promoted copy alone, and the merge
			// (the later TAT) then keeps one branch: a known window of a
			// few milliseconds at failover.
			if replicas > 0 && lost > recent[i]+promoteSlack {
				t.Errorf("busy key %s lost %d calls, but only %d were admitted in the %v before the kill", k, lost, recent[i], lagBound)
			}
		case lost < 0:
			res.busyExtra += int(-lost) // counted but answered as failed: none expected
		}
	}
	t.Logf("replicas %d: %d calls, %d errors; failover %v after kill -9, last policy answer %v after; victim's keys: %d idle (%d reset), %d busy (%d admitted calls lost, at most %d per key, %d counted twice); replication lag before the kill p99 %d µs, max %d µs",
		replicas, res.calls, res.errs, res.failover, res.lastPolicy, res.victimIdle, res.idleReset, res.victimBusy, res.busyLost, res.maxLost, res.busyExtra, res.lagP99, res.lagMax)
	if res.victimIdle == 0 || res.victimBusy == 0 {
		t.Fatal("the victim owned no keys")
	}
	if res.busyExtra > 2 {
		t.Errorf("%d calls counted twice", res.busyExtra)
	}

	// Rejoin: the victim restarts from its data directory (its snapshot
	// predates every key) and gets its slots back by handoff.
	back := startNode(t, nodes[0].gossip, append(slices.Clone(extra), "--data-dir", dir)...)
	nodes[2] = back
	waitSettled(t, nodes)
	if atoi(clusterInfo(t, back.Addr)["cluster_handoff_keys_received"]) == 0 {
		t.Fatal("the restarted node received no keys")
	}
	cb := redis.NewClient(&redis.Options{Addr: back.Addr})
	defer cb.Close()
	if !slices.Equal(consumed(t, cb, idle, idleBurst, 3600), idleNow) || !slices.Equal(consumed(t, cb, busy, busyBurst, 86400), busyNow) {
		t.Fatal("keys changed when the node rejoined")
	}
	return res
}

// failoverProfile is the gossip profile of the crash and partition
// tests: lan, unless FAILOVER_GOSSIP says otherwise (bench/failover.sh
// measures the default, fast). Under the whole suite with -race on two
// shared cores, nodes stall for a second at times, and the fast profile
// then declares live nodes dead before the test kills anything: slots
// move back and forth, and a copy may be missing when the real kill
// comes. lan tolerates stalls of about 4 s.
func failoverProfile() string {
	if p := os.Getenv("FAILOVER_GOSSIP"); p != "" {
		return p
	}
	return "lan"
}

// failoverBound is the longest failover the tests accept: the goal is
// ≤ 5 s with the fast profile (1-1.5 s measured); lan takes 5-7 s;
// both with room for -race on two loaded cores.
func failoverBound() time.Duration {
	if failoverProfile() == "fast" {
		return 10 * time.Second
	}
	return 25 * time.Second
}

// failoverKeys is n, or FAILOVER_KEYS when set (bench/failover.sh runs
// the crash tests on 10,000 keys of each kind).
func failoverKeys(n int) int {
	if v, err := strconv.Atoi(os.Getenv("FAILOVER_KEYS")); err == nil && v > 0 {
		return v
	}
	return n
}

// 3 nodes, --replicas 1, kill -9 under load: failover within seconds, no
// client errors, the dead node's idle keys all survive and its busy keys
// lose at most the calls of the replication lag; rejoin resets nothing.
func TestFailoverKillReplicas1(t *testing.T) {
	t.Parallel()
	res := crashUnderLoad(t, 1, failoverKeys(1000), failoverKeys(1000))
	if res.idleReset != 0 {
		t.Fatalf("%d of the dead node's %d idle keys were reset", res.idleReset, res.victimIdle)
	}
	if res.failover > failoverBound() {
		t.Fatalf("failover took %v", res.failover)
	}
}

// The same with --replicas 0: the dead node's keys are answered by the
// unreachable-owner policy (counted) until its slots are claimed, then
// restart empty: its idle keys are reset, as documented.
func TestFailoverKillReplicas0(t *testing.T) {
	t.Parallel()
	res := crashUnderLoad(t, 0, failoverKeys(300), failoverKeys(1000))
	if res.idleReset != res.victimIdle {
		t.Fatalf("without replicas %d of %d idle keys survived?", res.victimIdle-res.idleReset, res.victimIdle)
	}
	if res.failover > failoverBound() {
		t.Fatalf("failover took %v", res.failover)
	}
}

// Four nodes, --replicas 1: one node killed, then (once its slots have
// new replicas) a second. Every idle key survives both.
func TestFailoverTwoKills(t *testing.T) {
	t.Parallel()
	extra := []string{"--replicas", "1", "--gossip-profile", failoverProfile(), "--forward-timeout", "10s"}
	nodes := startNodes(t, 4, extra...)
	defer func() {
		if t.Failed() {
			dumpCluster(t, nodes)
		}
	}()
	c := redis.NewClient(&redis.Options{Addr: nodes[0].Addr, ReadTimeout: 10 * time.Second})
	defer c.Close()
	idle := keysN("i:", 1000)
	fillIdle(t, c, idle)
	addrs := func(ns []*node) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Addr)
		}
		return out
	}
	live := nodes
	for _, victim := range []*node{nodes[3], nodes[2]} {
		waitReplicated(t, addrs(live), nil)
		victim.cmd.Process.Kill()
		victim.cmd.Wait()
		live = slices.DeleteFunc(slices.Clone(live), func(n *node) bool { return n == victim })
		killAt := time.Now()
		waitMembers(t, addrs(live), len(live), nil)
		t.Logf("kill %d: failover after %v", 4-len(live), time.Since(killAt))
	}
	got := consumed(t, c, idle, idleBurst, 3600)
	reset := 0
	for _, v := range got {
		if v != idleBurst+1 {
			reset++
		}
	}
	lost := 0
	for _, n := range live {
		lost += int(atoi(clusterInfo(t, n.Addr)["cluster_slots_lost"]))
	}
	t.Logf("after two kills one after the other: %d of %d keys survived; %d slots lost", len(idle)-reset, len(idle), lost)
	if reset != 0 || lost != 0 {
		t.Fatalf("%d keys reset, %d slots lost", reset, lost)
	}
}

// A node that is stopped (SIGSTOP) after its key's changes reached its
// replica: under the local policy the key keeps its count (the decisions
// are taken from the replica's copy), and after SIGCONT nothing is reset.
func TestUnreachableOwnerUsesTheReplicaCopy(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 3, "--forward-timeout", "100ms", "--replicas", "1")
	defer func() {
		if t.Failed() {
			dumpCluster(t, nodes)
		}
	}()
	victim := nodes[2]
	keys := []string{ownedKey(t, victim, "stop:")}
	for i := 0; len(keys) < 4; i++ {
		if k := ownedKey(t, victim, "stop"+strconv.Itoa(i)+":"); !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	ctx := context.Background()
	var clients []*redis.Client
	for _, n := range nodes[:2] {
		c := redis.NewClient(&redis.Options{Addr: n.Addr, ReadTimeout: 5 * time.Second, MaxRetries: -1})
		defer c.Close()
		clients = append(clients, c)
	}
	for _, k := range keys {
		for range 2 {
			if r, err := clients[0].Do(ctx, "CL.THROTTLE", k, 1, 1, 3600).Int64Slice(); err != nil || r[0] != 0 {
				t.Fatalf("before the stop: %v %v", r, err)
			}
		}
	}
	waitReplicated(t, []string{nodes[0].Addr, nodes[1].Addr, victim.Addr}, nil)
	victim.cmd.Process.Signal(syscall.SIGSTOP)
	waitState(t, victim.cmd.Process.Pid, 'T')
	defer victim.cmd.Process.Signal(syscall.SIGCONT)
	// Both other nodes answer every key: limited, from the copy (a fresh
	// bucket would allow 2 each).
	for _, c := range clients {
		for _, k := range keys {
			r, err := c.Do(ctx, "CL.THROTTLE", k, 1, 1, 3600).Int64Slice()
			if err != nil || len(r) != 5 || r[0] != 1 {
				t.Fatalf("%s while its node is stopped: %v %v (the replica's copy was not used)", k, r, err)
			}
		}
	}
	decided := 0
	for _, n := range nodes[:2] {
		in := clusterInfo(t, n.Addr)
		decided += int(atoi(in["cluster_unreachable_local"]))
	}
	if decided != 2*len(keys) {
		t.Fatalf("%d decisions counted, want %d", decided, 2*len(keys))
	}
	victim.cmd.Process.Signal(syscall.SIGCONT)
	waitSettled(t, nodes)
	for _, k := range keys {
		if r, err := clients[1].Do(ctx, "CL.THROTTLE", k, 1, 1, 3600).Int64Slice(); err != nil || r[0] != 1 {
			t.Fatalf("after SIGCONT: %v %v (limit reset)", r, err)
		}
	}
}

// netns is used by the partition test: a network namespace of its own
// (its loopback only), in which the nodes run, each side under a group
// id of its own so that iptables can cut the two sides apart by owner.
type partitionNS struct {
	name string
	dial func(context.Context, string, string) (net.Conn, error)
}

func newPartitionNS(t *testing.T) (*partitionNS, error) {
	for _, tool := range []string{"ip", "iptables", "setpriv"} {
		if _, err := exec_LookPath(tool); err != nil {
			return nil, err
		}
	}
	name := "rlpart" + strconv.Itoa(os.Getpid()%100000)
	if out, err := runCmd("ip", "netns", "add", name); err != nil {
		return nil, fmt.Errorf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { runCmd("ip", "netns", "del", name) })
	if out, err := runCmd("ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return nil, fmt.Errorf("lo up: %v: %s", err, out)
	}
	if out, err := runCmd("ip", "netns", "exec", name, "iptables", "-L", "OUTPUT"); err != nil {
		return nil, fmt.Errorf("iptables in the namespace: %v: %s", err, out)
	}
	f, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		return nil, err
	}
	reqs := make(chan dialReq)
	ready := make(chan error, 1)
	go nsDialLoop(f, reqs, ready)
	if err := <-ready; err != nil {
		return nil, err
	}
	t.Cleanup(func() { close(reqs) })
	ns := &partitionNS{name: name}
	ns.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		res := make(chan dialRes, 1)
		select {
		case reqs <- dialReq{addr: addr, res: res}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r := <-res
		return r.c, r.err
	}
	return ns, nil
}

// cut drops, inside the namespace, every packet a process of group from
// sends to the given ports (the other side's RESP and gossip ports).
func (ns *partitionNS) cut(t *testing.T, from int, ports []string) {
	t.Helper()
	for _, proto := range []string{"tcp", "udp"} {
		args := []string{"netns", "exec", ns.name, "iptables", "-A", "OUTPUT", "-o", "lo", "-m", "owner", "--gid-owner", strconv.Itoa(from),
			"-p", proto, "-m", "multiport", "--dports", strings.Join(ports, ","), "-j", "DROP"}
		if out, err := runCmd("ip", args...); err != nil {
			t.Fatalf("iptables: %v: %s", err, out)
		}
	}
}

func (ns *partitionNS) heal(t *testing.T) {
	t.Helper()
	if out, err := runCmd("ip", "netns", "exec", ns.name, "iptables", "-F", "OUTPUT"); err != nil {
		t.Fatalf("iptables -F: %v: %s", err, out)
	}
}

// A partition, made with iptables inside a network namespace the test
// creates: two nodes (--replicas 1, so each has a copy of every slot) are
// cut apart while clients reach both. Each side declares the other dead,
// takes over its slots from its copy and serves every key; side A admits
// 3 calls per key, side B 4. When the partition heals the two states of
// every key are merged conservatively: for GCRA the later TAT (so 10 - 2
// - max(3, 4) = 4 more calls are admitted, never more), for the sliding
// log the union (10 - 2 - 3 - 4 = 1).
func TestPartitionHealsConservatively(t *testing.T) {
	t.Parallel()
	ns, err := newPartitionNS(t)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("network namespaces and iptables are required under CI: %v", err)
		}
		t.Skipf("no network namespace with iptables: %v", err)
	}
	extra := []string{"--replicas", "1", "--gossip-profile", failoverProfile(), "--forward-timeout", "10s"}
	start := func(gid int, join string) *node {
		args := append([]string{"--cluster-port", "0", "--cluster-key", clusterKey(t)}, extra...)
		if join != "" {
			args = append(args, "--join", join)
		}
		p := startWrapped(t, []string{"ip", "netns", "exec", ns.name, "setpriv", "--regid", strconv.Itoa(gid), "--clear-groups"}, args...)
		m := gossipRE.FindStringSubmatch(p.logs.String())
		if m == nil {
			t.Fatalf("no gossip port in the logs:\n%s", p.logs.String())
		}
		return &node{proc: p, gossip: "127.0.0.1:" + m[1]}
	}
	a := start(1001, "")
	b := start(1002, a.gossip)
	both := []string{a.Addr, b.Addr}
	waitMembers(t, both, 2, ns.dial)
	waitReplicated(t, both, ns.dial)
	ctx := context.Background()
	ca := redis.NewClient(&redis.Options{Addr: a.Addr, Dialer: ns.dial, ReadTimeout: 10 * time.Second, MaxRetries: -1})
	cb := redis.NewClient(&redis.Options{Addr: b.Addr, Dialer: ns.dial, ReadTimeout: 10 * time.Second, MaxRetries: -1})
	defer ca.Close()
	defer cb.Close()
	keys := keysN("p:", 300)
	call := func(c *redis.Client, n int) {
		t.Helper()
		for range n {
			p := c.Pipeline()
			var cmds []*redis.Cmd
			for _, k := range keys {
				cmds = append(cmds, p.Do(ctx, "CL.THROTTLE", "g"+k, 9, 1, 3600), p.Do(ctx, "SWLOG.THROTTLE", "l"+k, 10, 3600))
			}
			p.Exec(ctx)
			for i, cmd := range cmds {
				if r, err := cmd.Int64Slice(); err != nil || r[0] != 0 {
					t.Fatalf("call on %s: %v %v", keys[i/2], r, err)
				}
			}
		}
	}
	call(ca, 2)
	waitReplicated(t, both, ns.dial)

	port := func(addr string) string { _, p, _ := net.SplitHostPort(addr); return p }
	gport := func(n *node) string { return port(n.gossip) }
	cutAt := time.Now()
	ns.cut(t, 1001, []string{port(b.Addr), gport(b)})
	ns.cut(t, 1002, []string{port(a.Addr), gport(a)})
	waitMembers(t, []string{a.Addr}, 1, ns.dial)
	waitMembers(t, []string{b.Addr}, 1, ns.dial)
	t.Logf("both sides alone %v after the cut", time.Since(cutAt))
	call(ca, 3)
	call(cb, 4)

	healAt := time.Now()
	ns.heal(t)
	waitMembers(t, both, 2, ns.dial)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ia, ib := infoWith(t, a.Addr, ns.dial), infoWith(t, b.Addr, ns.dial)
		if ia["cluster_settled"] == "1" && ib["cluster_settled"] == "1" && atoi(ia["cluster_slots_served"])+atoi(ib["cluster_slots_served"]) == shard.NumSlots {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no settled cluster after the heal: %v / %v", ia["cluster_slots_served"], ib["cluster_slots_served"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("healed and settled %v after the heal", time.Since(healAt))
	for _, c := range []*redis.Client{ca, cb} {
		p := c.Pipeline()
		var cmds []*redis.Cmd
		for _, k := range keys {
			for range 6 {
				cmds = append(cmds, p.Do(ctx, "CL.THROTTLE", "g"+k, 9, 1, 3600))
			}
			for range 6 {
				cmds = append(cmds, p.Do(ctx, "SWLOG.THROTTLE", "l"+k, 10, 3600))
			}
		}
		p.Exec(ctx)
		for i, k := range keys {
			var g, l int
			for j, cmd := range cmds[i*12 : i*12+12] {
				r, err := cmd.Int64Slice()
				if err != nil {
					t.Fatalf("after the heal: %v", err)
				}
				if r[0] == 0 && j < 6 {
					g++
				} else if r[0] == 0 {
					l++
				}
			}
			if c == ca && (g != 4 || l != 1) {
				t.Fatalf("key %s after the heal: GCRA admitted %d more (want 4 = 10-2-max(3,4)), the log %d (want 1 = 10-2-3-4)", k, g, l)
			}
			if c == cb && (g != 0 || l != 0) {
				t.Fatalf("key %s: admitted again through the other node (%d, %d)", k, g, l)
			}
		}
	}
}
