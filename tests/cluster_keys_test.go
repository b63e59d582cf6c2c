package tests

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sorted sets, counters and strings with an expiry keep their exact
// contents when a joining node takes over their slots.
func TestClusterJoinHandsOffSortedSetsAndCounters(t *testing.T) {
	t.Parallel()
	a := startNode(t, "")
	ctx := context.Background()
	ca := redis.NewClient(&redis.Options{Addr: a.Addr})
	defer ca.Close()
	const n = 200
	p := ca.Pipeline()
	for i := range n {
		s := strconv.Itoa(i)
		p.ZAdd(ctx, "zs:"+s, redis.Z{Score: float64(i) + 0.5, Member: "a" + s}, redis.Z{Score: -1, Member: "b"}, redis.Z{Score: 1e300, Member: "c" + s})
		p.IncrBy(ctx, "ctr:"+s, int64(i)+1)
		p.IncrByFloat(ctx, "flt:"+s, float64(i)+0.25)
		p.Set(ctx, "ttl:"+s, "v"+s, 0)
		p.PExpire(ctx, "ttl:"+s, time.Hour)
	}
	if _, err := p.Exec(ctx); err != nil {
		t.Fatal(err)
	}

	b := startNode(t, a.gossip)
	waitSettled(t, []*node{a, b})
	if got := atoi(clusterInfo(t, b.Addr)["cluster_handoff_keys_received"]); got < n {
		t.Fatalf("B received %d keys of %d", got, 5*n)
	}
	cb := redis.NewClient(&redis.Options{Addr: b.Addr})
	defer cb.Close()
	for i := range n {
		s := strconv.Itoa(i)
		c := ca
		if i%2 == 1 {
			c = cb
		}
		zs, err := c.ZRangeWithScores(ctx, "zs:"+s, 0, -1).Result()
		want := []redis.Z{{Score: -1, Member: "b"}, {Score: float64(i) + 0.5, Member: "a" + s}, {Score: 1e300, Member: "c" + s}}
		if err != nil || fmt.Sprint(zs) != fmt.Sprint(want) {
			t.Fatalf("zs:%s after the join: %v %v, want %v", s, zs, err, want)
		}
		if v, err := c.Incr(ctx, "ctr:"+s).Result(); err != nil || v != int64(i)+2 {
			t.Fatalf("ctr:%s after the join: INCR = %d %v, want %d", s, v, err, i+2)
		}
		if v, err := c.Get(ctx, "flt:"+s).Result(); err != nil || v != strconv.FormatFloat(float64(i)+0.25, 'f', -1, 64) {
			t.Fatalf("flt:%s after the join: %q %v", s, v, err)
		}
		v, err := c.Get(ctx, "ttl:"+s).Result()
		ttl, terr := c.PTTL(ctx, "ttl:"+s).Result()
		if err != nil || v != "v"+s || terr != nil || ttl <= 0 || ttl > time.Hour {
			t.Fatalf("ttl:%s after the join: %q %v, PTTL %v %v", s, v, err, ttl, terr)
		}
	}
}

// Scripts (and other multi-key commands) whose keys hash to different
// slots answer CROSSSLOT in Redis Cluster's words, on every node; keys
// sharing a hash tag run. Recorded against a one-node Redis Cluster.
func TestClusterCrossSlotScriptsLikeRedisCluster(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2)
	ref := startRedisRef(t, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(t.TempDir(), "nodes.conf"))
	if r, err := ref.do("CLUSTER", "ADDSLOTSRANGE", "0", "16383"); err != nil {
		t.Fatal(r, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r, _ := ref.do("CLUSTER", "INFO"); strings.Contains(fmt.Sprint(r), "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reference Redis Cluster did not come up")
		}
	}
	const body = "return redis.call('GET', KEYS[1])"
	sha, err := ref.do("SCRIPT", "LOAD", body)
	if err != nil {
		t.Fatal(err)
	}
	cmds := [][]string{
		{"EVAL", body, "2", "a", "b"},
		{"EVAL_RO", body, "2", "a", "b"},
		{"EVALSHA", fmt.Sprint(sha), "2", "a", "b"},
		{"EVALSHA_RO", fmt.Sprint(sha), "2", "a", "b"},
		{"EVAL", body, "2", "{t}a", "{t}b"},
		{"MGET", "a", "b"},
		{"MSET", "a", "1", "b", "2"},
	}
	for _, n := range nodes {
		ours := newRaw(dial(t, n.Addr))
		if _, err := ours.do("SCRIPT", "LOAD", body); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range cmds {
			want, werr := ref.do(cmd...)
			got, gerr := ours.do(cmd...)
			if w, g := fmt.Sprint(want, werr), fmt.Sprint(got, gerr); w != g {
				t.Fatalf("node %s %q: Redis Cluster %s, ours %s", n.Port, cmd, w, g)
			}
		}
	}
	// DEL, UNLINK, EXISTS and TOUCH are the exceptions (Redis Cluster
	// refuses them too): split over the slots' nodes and summed, so plain
	// clients can use them.
	ours := newRaw(dial(t, nodes[0].Addr))
	keys := []string{"k1", "k2", "k3", "k4", "k5", "k6"}
	for _, k := range keys {
		if _, err := ours.do("SET", k, "v"); err != nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range []string{"TOUCH", "EXISTS", "UNLINK"} {
		if r, err := ours.do(append([]string{cmd, "nope"}, keys...)...); err != nil || r != int64(len(keys)) {
			t.Fatalf("%s across slots: %v %v, want %d", cmd, r, err, len(keys))
		}
	}
}
