package tests

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// freeGossipPort returns a port the OS just had free on 127.0.0.1 for both
// TCP and UDP (memberlist takes both), for a node whose address another
// node must know before it starts.
func freeGossipPort(t *testing.T) string {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		l.Close()
		if err == nil {
			u.Close()
			return strconv.Itoa(port)
		}
	}
	t.Fatal("no free TCP+UDP port")
	return ""
}

// A node whose seeds do not answer yet (here: itself and a node not yet
// started) must not count as joined: it serves alone, says "joining" on
// /ready and /health and in INFO, retries, and merges with the seed once
// that starts; the keys it served alone keep their counts.
func TestClusterJoinRetriesUntilASeedStarts(t *testing.T) {
	t.Parallel()
	pa, pb := freeGossipPort(t), freeGossipPort(t)
	b := &node{proc: startServer(t, "--cluster-port", pb, "--cluster-key", clusterKey(t),
		"--join", "127.0.0.1:"+pb+",127.0.0.1:"+pa), gossip: "127.0.0.1:" + pb}
	in := clusterInfo(t, b.Addr)
	if in["cluster_joined"] != "0" || in["cluster_members"] != "1" || in["cluster_slots_served"] != "16384" {
		t.Fatalf("B before A starts: %v", in)
	}
	for _, path := range []string{"/ready", "/health"} {
		if code, body := httpGet(t, "http://"+b.HTTP+path); code != 503 || !strings.Contains(body, `"status":"joining"`) {
			t.Fatalf("B %s before A starts: %d %s", path, code, body)
		}
	}
	if _, body := httpGet(t, "http://"+b.HTTP+"/metrics"); !strings.Contains(body, "rate_limiter_cluster_joined 0\n") {
		t.Fatal("B's metrics do not say it has not joined")
	}
	if !strings.Contains(b.logs.String(), "no other node answered") {
		t.Fatalf("B did not log that it serves alone:\n%s", b.logs.String())
	}
	// Meanwhile B serves every key alone: two calls of 5 per hour each.
	ctx := context.Background()
	cb := redis.NewClient(&redis.Options{Addr: b.Addr})
	defer cb.Close()
	keys := keysN("alone:", 40)
	for range 2 {
		for _, k := range keys {
			if err := cb.Do(ctx, "CL.THROTTLE", k, 4, 1, 3600).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}

	a := &node{proc: startServer(t, "--cluster-port", pa, "--cluster-key", clusterKey(t)), gossip: "127.0.0.1:" + pa}
	waitSettled(t, []*node{a, b}) // polls, 30 s at most
	in = clusterInfo(t, b.Addr)
	if in["cluster_joined"] != "1" || atoi(in["cluster_join_attempts"]) < 2 {
		t.Fatalf("B after A started: %v", in)
	}
	for _, n := range []*node{a, b} {
		if code, body := httpGet(t, "http://"+n.HTTP+"/ready"); code != 200 {
			t.Fatalf("%s /ready after the merge: %d %s", n.Port, code, body)
		}
	}
	if atoi(clusterInfo(t, a.Addr)["cluster_slots_served"]) == 0 {
		t.Fatal("A serves no slot")
	}
	// Whichever node holds each key now, its two calls are still counted.
	ca := redis.NewClient(&redis.Options{Addr: a.Addr})
	defer ca.Close()
	for i, k := range keys {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		r, err := c.Do(ctx, "CL.THROTTLE", k, 4, 1, 3600).Int64Slice()
		if err != nil || r[0] != 0 || r[2] != 2 {
			t.Fatalf("%s after the merge: %v %v (want remaining 2)", k, r, err)
		}
	}
}

// A node whose --join names only itself is the first member of its
// cluster at once (a one-replica StatefulSet lists its own pod).
func TestClusterJoinNamingOnlyItself(t *testing.T) {
	t.Parallel()
	p := freeGossipPort(t)
	n := startServer(t, "--cluster-port", p, "--cluster-key", clusterKey(t), "--join", "localhost:"+p)
	deadline := time.Now().Add(10 * time.Second)
	for {
		in := clusterInfo(t, n.Addr)
		code, body := httpGet(t, "http://"+n.HTTP+"/ready")
		if in["cluster_joined"] == "1" && code == 200 {
			if in["cluster_join_attempts"] != "0" {
				t.Fatalf("attempts to join itself: %v", in)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a node naming only itself: %v, /ready %d %s", in, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
