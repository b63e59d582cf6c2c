package server

import (
	"context"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/shard"
)

// Joining. A node told to --join other nodes counts as joined only once it
// has seen another member: a seed list that names this node too (every pod
// of a StatefulSet lists every pod) would otherwise "join" itself and form
// a cluster of one, and nodes started together would form several. Until
// then the node serves every slot alone (clients that reach it get
// answers; the handoff merges its keys into the cluster when it joins),
// reports "joining" on /health and /ready, and retries its seeds in the
// background with backoff.

// Backoff between join attempts: doubling from joinRetryMin, capped.
const (
	joinRetryMin = 250 * time.Millisecond
	joinRetryMax = 5 * time.Second
)

// joinState is the cluster's join progress. Safe for concurrent use.
type joinState struct {
	// joined latches once another member is seen (or no seed names
	// another node): a peer that dies later does not make a node unjoined.
	joined   atomic.Bool
	attempts atomic.Int64 // join attempts, the first at start included
}

// seen records the member count of a new table.
func (j *joinState) seen(members int) {
	if members > 1 {
		j.joined.Store(true)
	}
}

// join makes the first attempt, synchronously (a node whose seeds answer
// starts joined), and leaves a retrying goroutine on cl.wg when it failed.
// Called by startCluster before the loop starts.
func (cl *cluster) join(s *Server, g *shard.Gossip, seeds []string) {
	if len(seeds) == 0 {
		cl.joining.joined.Store(true)
		return
	}
	if cl.tryJoin(s, g, seeds) {
		return
	}
	s.log.Warn("cluster: no other node answered; serving every slot alone until one does, retrying in the background",
		"join", seeds)
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		wait := joinRetryMin
		t := time.NewTimer(wait)
		defer t.Stop()
		for {
			select {
			case <-cl.done:
				return
			case <-t.C:
			}
			if cl.joining.joined.Load() || cl.tryJoin(s, g, seeds) {
				return
			}
			wait = min(2*wait, joinRetryMax)
			t.Reset(wait)
		}
	}()
}

// tryJoin contacts the seeds that are not this node and reports whether
// the node now counts as joined (and logs it when it does).
func (cl *cluster) tryJoin(s *Server, g *shard.Gossip, seeds []string) bool {
	others := otherSeeds(seeds, g.Port(), s.cfg.Bind, cl.cfg.AdvertiseAddr)
	if len(others) == 0 {
		cl.joining.joined.Store(true) // only this node is named: a cluster of one
		s.log.Info("cluster: --join names only this node; running as the first member")
		return true
	}
	cl.joining.attempts.Add(1)
	n, err := g.Join(others)
	cl.joining.seen(len(g.Members()))
	if cl.joining.joined.Load() {
		s.log.Info("cluster: joined", "seeds", n, "members", len(g.Members()), "attempts", cl.joining.attempts.Load())
		return true
	}
	if err != nil {
		s.log.Debug("cluster: join attempt failed", "join", others, "error", err)
	}
	return false
}

// otherSeeds returns the seeds that are not this node's gossip address:
// gossipPort on an address gossip listens on (bind, or any local address
// when bind is a wildcard) or on the advertised address. A seed whose name
// does not resolve yet counts as another node.
func otherSeeds(seeds []string, gossipPort int, bind, advertise string) []string {
	self := map[string]bool{}
	for _, a := range []string{bind, advertise} {
		if ip := net.ParseIP(a); ip != nil {
			self[ip.String()] = true
		}
	}
	anyLocal := bind == "" || net.ParseIP(bind) == nil || net.ParseIP(bind).IsUnspecified()
	if anyLocal {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok {
					self[n.IP.String()] = true
				}
			}
		}
	}
	port := strconv.Itoa(gossipPort)
	var out []string
	for _, seed := range seeds {
		host, p, err := net.SplitHostPort(seed)
		if err != nil || p != port || !resolvesTo(host, self, anyLocal) {
			out = append(out, seed)
		}
	}
	return out
}

// resolvesTo reports whether host (a name or an address) resolves only to
// addresses in self (or loopback and wildcard ones, with anyLocal).
func resolvesTo(host string, self map[string]bool, anyLocal bool) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		a := net.ParseIP(ip)
		if a == nil || !(self[a.String()] || anyLocal && (a.IsLoopback() || a.IsUnspecified())) {
			return false
		}
	}
	return true
}
