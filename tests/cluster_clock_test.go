package tests

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Two nodes hammer one key, one of them forwarding to the other: a
// forwarded call carries the older instant its first node read, and calls
// near a window's boundary reach the owner out of order. A window limiter
// must still admit at most its limit per window (before the fix a call
// from the older window moved the state back and the next call opened the
// newer window afresh: 2–3.5× the limit).
func TestClusterReorderedInstantsKeepWindowLimits(t *testing.T) {
	t.Parallel()
	// deny: a call the owner does not answer in time is never admitted
	// locally, so every admission is the owner's.
	nodes := startNodes(t, 2, "--forward-timeout", "2s", "--owner-unreachable", "deny")
	const limit = 5
	for _, cmd := range []string{"FW.THROTTLE", "SW.THROTTLE"} {
		t.Run(cmd, func(t *testing.T) {
			key := ownedKey(t, nodes[0], "clock:"+cmd+":")
			ctx := context.Background()
			var allowed, calls atomic.Int64
			var wg sync.WaitGroup
			// Calls are decided at their first node's clock (which may run
			// a little ahead of this process's: it only moves forward), so
			// the windows they can count in are read from both nodes.
			first := nodeSeconds(t, nodes, false)
			start := time.Now()
			stop := start.Add(2500 * time.Millisecond)
			for i := range 8 {
				c := redis.NewClient(&redis.Options{Addr: nodes[i%2].Addr})
				defer c.Close()
				wg.Go(func() {
					for time.Now().Before(stop) {
						p := c.Pipeline()
						var sent []*redis.Cmd
						for range 16 {
							sent = append(sent, p.Do(ctx, cmd, key, limit, 1))
						}
						if _, err := p.Exec(ctx); err != nil {
							t.Errorf("%s: %v", cmd, err)
							return
						}
						for _, s := range sent {
							r, err := s.Int64Slice()
							if err != nil || len(r) != 5 {
								t.Errorf("%s: %v %v", cmd, r, err)
								return
							}
							calls.Add(1)
							if r[0] == 0 {
								allowed.Add(1)
							}
						}
					}
				})
			}
			// Freeze the owner across the next boundary but one: the
			// other node's calls wait in the peer connection with instants
			// before the boundary while the owner's own clients' calls are
			// read after it, and the owner takes them in no set order.
			next := time.Unix(time.Now().Unix()+1, 0)
			time.Sleep(time.Until(next.Add(-200 * time.Millisecond)))
			nodes[0].cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(time.Until(next.Add(100 * time.Millisecond)))
			nodes[0].cmd.Process.Signal(syscall.SIGCONT)
			wg.Wait()
			windows := nodeSeconds(t, nodes, true) - first + 1
			t.Logf("%s: %d of %d calls allowed over %d windows", cmd, allowed.Load(), calls.Load(), windows)
			if got := allowed.Load(); got > limit*windows || got < limit {
				t.Fatalf("%s: %d allowed over %d one-second windows at limit %d; owner %v; other %v", cmd, got, windows, limit, clusterInfo(t, nodes[0].Addr), clusterInfo(t, nodes[1].Addr))
			}
		})
	}
	forwarded := int64(0)
	for _, n := range nodes {
		forwarded += atoi(clusterInfo(t, n.Addr)["cluster_forwarded"])
	}
	if forwarded == 0 {
		t.Fatal("no call was forwarded")
	}
}

// nodeSeconds returns the earliest (or with latest, the latest) of the
// nodes' clocks (TIME), in whole seconds since the epoch.
func nodeSeconds(t *testing.T, nodes []*node, latest bool) int64 {
	t.Helper()
	var out int64
	for i, n := range nodes {
		c := redis.NewClient(&redis.Options{Addr: n.Addr})
		now, err := c.Time(context.Background()).Result()
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			out = now.Unix()
		}
		if latest {
			out = max(out, now.Unix())
		} else {
			out = min(out, now.Unix())
		}
	}
	return out
}
