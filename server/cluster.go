package server

import (
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/acl"
	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/peer"
	"github.com/rlserver/rlserver/shard"
	"github.com/tidwall/redcon"
)

// Unreachable-owner policies (--owner-unreachable).
const (
	// UnreachableLocal limits in a temporary bucket on the receiving node,
	// merged into the holder's state or dropped when ownership settles.
	UnreachableLocal = "local"
	// UnreachableAllow answers as a fresh key would: fail open, counted.
	UnreachableAllow = "allow"
	// UnreachableDeny answers limited: fail closed, counted.
	UnreachableDeny = "deny"
)

// ClusterConfig turns on cluster mode (Config.Cluster). The zero value is
// not valid: Port and Key are required.
type ClusterConfig struct {
	// NodeName is shown to operators; empty uses the node ID.
	NodeName string
	// Port is the gossip port (TCP and UDP), --cluster-port; 0 picks a
	// free one (tests).
	Port int
	// Join lists other nodes' gossip addresses (host:port) to join.
	Join []string
	// AdvertiseAddr is the host other nodes and clients reach this node at
	// (its RESP and gossip addresses); empty means Bind.
	AdvertiseAddr string
	// Key encrypts gossip and derives the token peers authenticate with
	// (16, 24 or 32 bytes). Required: without a secret any client could
	// pose as a peer and forge a command's instant.
	Key []byte
	// Redirect answers -MOVED to commands for slots held elsewhere
	// instead of forwarding them (for cluster-aware clients only).
	Redirect bool
	// Unreachable is the policy when the holder does not answer within
	// ForwardTimeout: UnreachableLocal (default), UnreachableAllow or
	// UnreachableDeny.
	Unreachable string
	// ForwardTimeout bounds a forwarded command's round trip. Default
	// 200ms (peer.DefaultTimeout).
	ForwardTimeout time.Duration
	// Timing is memberlist's failure detection; zero is shard.LANTiming.
	Timing shard.Timing
	// Replicator, when set, spreads replicated state (the rules) over
	// this node's gossip.
	Replicator *shard.Replicator
	// Replicas is how many nodes after each slot's owner keep a copy of
	// its state, streamed asynchronously (see replica.go); 0 keeps none,
	// and a dead owner's keys restart empty on their new owner.
	Replicas int
}

func (cc *ClusterConfig) validate() error {
	switch {
	case len(cc.Key) != 16 && len(cc.Key) != 24 && len(cc.Key) != 32:
		return errors.New("cluster mode needs --cluster-key (base64 of 16, 24 or 32 random bytes, the same on every node)")
	case cc.Port < 0 || cc.Port > 65535:
		return fmt.Errorf("cluster-port %d out of range", cc.Port)
	case cc.Unreachable != "" && cc.Unreachable != UnreachableLocal && cc.Unreachable != UnreachableAllow && cc.Unreachable != UnreachableDeny:
		return fmt.Errorf("owner-unreachable must be local, allow or deny, not %q", cc.Unreachable)
	case cc.ForwardTimeout < 0:
		return errors.New("forward-timeout must not be negative")
	case cc.Replicas < 0 || cc.Replicas > 8:
		return fmt.Errorf("replicas must be between 0 and 8, not %d", cc.Replicas)
	}
	return nil
}

// cluster is a server's cluster state. The hot path reads router (an
// atomic pointer); everything the loop goroutine changes is published
// through it.
type cluster struct {
	cfg   ClusterConfig
	id    string
	token string
	// peerTLS secures the connections to other nodes when the node serves
	// TLS (tlsconf.Manager.ClientConfig); nil means plaintext.
	peerTLS *tls.Config
	self    shard.Member
	router  shard.Router
	gossip  *shard.Gossip
	auth    *shard.Authority // owned by loop
	done    chan struct{}
	wg      sync.WaitGroup

	peersMu sync.Mutex
	peers   map[string]*peer.Client // by RESP address
	ctrl    map[string]*peer.Client // handoff connections, by RESP address

	// Decisions when a holder does not answer. local keeps the temporary
	// buckets; scratch answers allow/deny from a fresh state. mu
	// serializes their use (the slow path).
	mu      sync.Mutex
	local   *Server
	scratch *Server
	pseudo  Client

	// authMu guards auth: the loop rebuilds and hands off, RL.IMPORT
	// (on event loops) imports.
	authMu sync.Mutex
	// parked are commands for slots in transit (see park).
	parkMu     sync.Mutex
	parked     []parked
	loopClient Client        // runs unparked commands here; cluster loop only
	leaveReq   chan struct{} // closed to start a graceful leave
	leaveDone  chan struct{} // closed when nothing is held any more

	// sink, when set, sees every local write (see ChangeSink); store is
	// the node's store, for it. repl is the replication (replica.go),
	// the sink when replicas are on.
	sink  ChangeSink
	store *engine.Store
	repl  *replicator
	// seeded are the temporary buckets (in local) that started from this
	// node's replica copy: they merge into the promoted state as
	// overlapping, not as extra counts. Under mu.
	seeded map[string]struct{}

	st      clusterStats
	obs     clusterObs   // forwarding latency and errors by reason (cluster_obs.go)
	claimed atomic.Int64 // slots taken without a handoff (auth.Claimed, published)
	// lastErrAt is the Unix second of the last logged forwarding failure:
	// one log line per second at most.
	lastErrAt atomic.Int64
	settled   atomic.Bool // cl.self.Settled, for INFO (self is the loop's)
	joining   joinState   // cluster_join.go
	// lastPeerCmd is when a peer last forwarded a command here (Unix
	// ns): a leaving node closes once peers have stopped.
	lastPeerCmd atomic.Int64
	// retryMu guards retryClient, which runs commands here that a failed
	// connection returned (see fwdReply.Reply).
	retryMu     sync.Mutex
	retryClient Client
}

type clusterStats struct {
	forwarded, forwardErrors, redirected, tryAgain                   atomic.Int64
	unreachLocal, unreachAllow, unreachDeny, unreachError            atomic.Int64
	localMerged, localDropped                                        atomic.Int64
	parked, handoffSlots, handoffKeys, handoffBytes, handoffFailures atomic.Int64
	reforwarded, toReplica                                           atomic.Int64
	unreachLast                                                      atomic.Int64 // Unix ms of the last policy decision
	importedSlots, importedKeys                                      atomic.Int64
}

// startCluster joins the cluster once the RESP listener is bound: the
// node's address is known only then.
func (s *Server) startCluster() error {
	cc := s.cfg.Cluster
	id, err := shard.LoadID(s.cfg.DataDir)
	if err != nil {
		return err
	}
	host := cc.AdvertiseAddr
	if host == "" {
		host = s.cfg.Bind
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return errors.New("bind is a wildcard address: set --advertise-addr to the address other nodes and clients reach this node at")
	}
	// With TLS the node is reached on its TLS port, by clients (CLUSTER
	// SLOTS) and other nodes alike, as Redis announces tls-port with
	// tls-cluster: forwarding never crosses the network in plaintext.
	port := s.Addr().(*net.TCPAddr).Port
	var peerTLS *tls.Config
	if s.tls != nil {
		port = s.TLSAddr().(*net.TCPAddr).Port
		if peerTLS, err = s.tls.ClientConfig(); err != nil {
			return fmt.Errorf("cluster over TLS: %w", err)
		}
	}
	name := cc.NodeName
	if name == "" {
		name = id[:8]
	}
	cl := &cluster{cfg: *cc, id: id, token: peer.Token(cc.Key), peerTLS: peerTLS, done: make(chan struct{}), peers: map[string]*peer.Client{}, ctrl: map[string]*peer.Client{},
		leaveReq: make(chan struct{}), leaveDone: make(chan struct{})}
	if cl.cfg.ForwardTimeout == 0 {
		cl.cfg.ForwardTimeout = peer.DefaultTimeout
	}
	if cl.cfg.Unreachable == "" {
		cl.cfg.Unreachable = UnreachableLocal
	}
	cl.self = shard.Member{ID: id, Name: name, Addr: net.JoinHostPort(host, strconv.Itoa(port))}
	cl.store = s.store
	side := s.cfg
	side.Cluster, side.DataDir, side.Shards = nil, "", 16
	if cl.local, err = New(side, nil); err != nil {
		return err
	}
	side.Shards = 1
	if cl.scratch, err = New(side, nil); err != nil {
		return err
	}
	cl.pseudo = Client{}
	cl.local.initInternal(&cl.pseudo)
	s.initInternal(&cl.loopClient)
	s.initInternal(&cl.retryClient)
	g, err := shard.NewGossip(shard.GossipConfig{Self: cl.self, BindAddr: s.cfg.Bind, BindPort: cc.Port,
		AdvertiseAddr: cc.AdvertiseAddr, Key: cc.Key, Timing: cc.Timing, Log: s.log, Replicator: cc.Replicator})
	if err != nil {
		return err
	}
	cl.gossip = g
	cl.join(s, g, cc.Join) // cluster_join.go
	cl.auth = shard.NewAuthority(id, cc.Replicas)
	cl.seeded = map[string]struct{}{}
	if cc.Replicas > 0 {
		cl.repl = newReplicator(s, cl)
		cl.sink = cl.repl
	}
	s.cl = cl
	cl.rebuild(s)
	cl.wg.Add(1)
	go cl.loop(s)
	s.log.Info("cluster: node up", "id", id, "name", name, "addr", cl.self.Addr, "gossip", g.Port(), "members", cl.router.Load().Len())
	return nil
}

// ChangeSink receives every key a write command changed on this node
// (at the command's instant nowMs), called while the key's engine shard
// is still locked, so that it can read the key's new state (Shard.Get) in
// the order the changes happened. It must not block. The replication
// stream (replica.go) is the one implementation; nil (--replicas 0)
// costs one comparison per write.
type ChangeSink interface {
	KeyChanged(slot uint16, key []byte, h uint64, sh *engine.Shard, nowMs int64)
}

// keysChanged reports a write's keys to the sink.
func (cl *cluster) keysChanged(cmd *command, args [][]byte, now int64) {
	first, last, step := cmd.keyRange(args)
	for i := first; first > 0 && i <= last; i += step {
		h := engine.Hash(args[i])
		cl.sink.KeyChanged(shard.Slot(args[i]), args[i], h, cl.store.ShardOf(h), now/1e6)
	}
}

// initInternal prepares a client that runs commands on the node's behalf
// (never connected): a peer, so no ACL applies twice, with the counters
// of s.
func (s *Server) initInternal(c *Client) {
	c.authed, c.peer, c.resp, c.txSlot, c.fd = true, true, 2, -1, -1
	c.user.Store(s.acl.Default())
	c.st = s.statShards[0]
}

// loop rebuilds the table on every membership change (and every second,
// so a missed signal costs at most that).
func (cl *cluster) loop(s *Server) {
	defer cl.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	leaveReq := cl.leaveReq
	leaving := false
	for {
		select {
		case <-cl.done:
			return
		case <-cl.gossip.Changes():
		case <-tick.C:
			if cl.repl != nil {
				cl.repl.sweep(s.cfg.SweepBudget)
			}
		case <-leaveReq:
			leaveReq, leaving = nil, true
			cl.self.Leaving = true
			if err := cl.gossip.Update(cl.self); err != nil {
				s.log.Warn("cluster: announcing leave", "error", err)
			}
		}
		cl.rebuild(s)
		cl.handOff(s)
		if leaving {
			cl.authMu.Lock()
			n := cl.auth.HeldCount()
			cl.authMu.Unlock()
			if n == 0 || !cl.othersStay() {
				close(cl.leaveDone)
				leaving = false
			}
		}
	}
}

// othersStay reports whether any other member is not leaving: when the
// whole cluster shuts down there is nobody to hand slots to.
func (cl *cluster) othersStay() bool {
	for _, m := range cl.router.Load().Members() {
		if m.ID != cl.id && !m.Leaving {
			return true
		}
	}
	return false
}

// leave hands every held slot to its new owner (the node announces
// Leaving, so it owns nothing), then leaves memberlist and keeps
// forwarding for grace while the others' tables catch up. It gives up
// handing off at deadline (what is left is claimed by the owners when the
// node is gone, counted there).
func (cl *cluster) leave(s *Server, deadline time.Time, grace time.Duration) {
	close(cl.leaveReq)
	select {
	case <-cl.leaveDone:
		s.log.Info("cluster: every slot handed off")
	case <-time.After(time.Until(deadline)):
		s.log.Warn("cluster: leaving before every slot was handed off")
	}
	if err := cl.gossip.Leave(time.Second); err != nil {
		s.log.Warn("cluster: leave", "error", err)
	}
	// Keep answering until the others have stopped sending (their
	// tables no longer name this node), at most 5 s.
	quiet := time.Now().Add(5 * time.Second)
	for time.Now().Before(quiet) && time.Since(time.Unix(0, cl.lastPeerCmd.Load())) < grace {
		time.Sleep(grace / 4)
	}
}

// rebuild computes the table for the current members, publishes it and
// this node's Settled flag. Loop goroutine (or startCluster before it).
func (cl *cluster) rebuild(s *Server) {
	cl.authMu.Lock()
	prev := cl.router.Load()
	t := cl.auth.Rebuild(cl.gossip.Members())
	if claims := cl.auth.TakeClaims(); len(claims) > 0 {
		// The slots' holder died: serve them from this node's copy (a
		// replica's), moved into the store before the table that serves
		// them is published.
		if cl.repl != nil {
			cl.repl.promote(claims)
		}
		s.log.Warn("cluster: took over the slots of a member that died", "slots", len(claims), "replicas", cl.cfg.Replicas)
	}
	cl.router.Store(t)
	logMemberChanges(s.log, prev, t)
	cl.joining.seen(t.Len())
	cl.claimed.Store(cl.auth.Claimed())
	settled := cl.auth.Settled()
	cl.authMu.Unlock()
	cl.settled.Store(settled)
	if settled != cl.self.Settled {
		cl.self.Settled = settled
		if err := cl.gossip.Update(cl.self); err != nil {
			s.log.Warn("cluster: publishing metadata", "error", err)
		}
	}
	cl.settleLocal(s, t)
	if cl.repl != nil {
		cl.repl.tableChanged(t)
	}
}

// stop ends the loop, gossip, replication and the peers.
func (cl *cluster) stop() {
	close(cl.done)
	cl.wg.Wait()
	cl.gossip.Close()
	if cl.repl != nil {
		cl.repl.stop()
	}
	cl.peersMu.Lock()
	for _, p := range cl.peers {
		p.Close()
	}
	for _, p := range cl.ctrl {
		p.Close()
	}
	cl.peersMu.Unlock()
}

// peerFor returns the pooled connection to addr.
func (cl *cluster) peerFor(addr string) *peer.Client {
	cl.peersMu.Lock()
	defer cl.peersMu.Unlock()
	p := cl.peers[addr]
	if p == nil {
		p = peer.NewClient(peer.Config{Addr: addr, Token: cl.token, Timeout: cl.cfg.ForwardTimeout, TLS: cl.peerTLS, Latency: cl.obs.latency()})
		cl.peers[addr] = p
	}
	return p
}

// ctrlFor returns the connection to addr that carries handoffs. It is not
// the one forwarded commands use: a forwarded command's reply may wait on
// the very handoff (its slot parked at the sender), and a handoff message
// queued behind it would wait for that reply in turn.
func (cl *cluster) ctrlFor(addr string) *peer.Client {
	cl.peersMu.Lock()
	defer cl.peersMu.Unlock()
	p := cl.ctrl[addr]
	if p == nil {
		p = peer.NewClient(peer.Config{Addr: addr, Token: cl.token, Timeout: handoffTimeout, TLS: cl.peerTLS})
		cl.ctrl[addr] = p
	}
	return p
}

// fanOut reports whether cmd combines per-key results when its keys span
// slots (DEL, UNLINK, EXISTS, TOUCH: the reply is a count).
func fanOut(cmd *command) bool {
	switch cmd.name {
	case "del", "unlink", "exists", "touch":
		return true
	}
	return false
}

const (
	errCrossSlot = "CROSSSLOT Keys in request don't hash to the same slot"
	errTryAgain  = "TRYAGAIN the slot is moving between nodes; try again"
	errSlotDown  = "CLUSTERDOWN Hash slot not served"
)

// elsewhere routes a keyed command whose key shards the caller (call)
// holds: it returns false when the command runs here, else it releases
// the shards and answers (forwards, redirects, fans out or refuses). The
// check runs under the shard locks so that a handoff, which swaps the
// table before it walks the shards, never misses a write.
func (s *Server) elsewhere(c *Client, cmd *command, args [][]byte, now int64) bool {
	first, last, step := cmd.keyRange(args)
	if first == 0 {
		return false
	}
	slot := shard.Slot(args[first])
	mixed := false
	for i := first + step; i <= last; i += step {
		if shard.Slot(args[i]) != slot {
			mixed = true
			break
		}
	}
	t := s.cl.router.Load()
	if !mixed && t.Local(slot) {
		return false
	}
	s.release(c)
	if mixed {
		if fanOut(cmd) {
			s.fanOutCommand(c, cmd, args, now, t)
		} else {
			s.reject(c, cmd, errCrossSlot)
		}
		return true
	}
	var inval [][]byte
	if cmd.flags&flagReadOnly != 0 && c.track.on && c.track.wantsRead() {
		// This node cannot hear of the key's later writes on the node that
		// serves it: the reply is followed at once by an invalidation, so a
		// client-side cache never keeps it (honest, if uncached).
		for i := first; i <= last; i += step {
			inval = append(inval, append([]byte(nil), args[i]...))
		}
	}
	s.sendAway(c, t, slot, args, now, inval)
	return true
}

// sendAway forwards args (or redirects the client) to slot's holder; inval
// are keys to invalidate after the reply (see elsewhere).
func (s *Server) sendAway(c *Client, t *shard.Table, slot uint16, args [][]byte, now int64, inval [][]byte) {
	h := t.Holder(slot)
	switch {
	case h == shard.Handing:
		s.park(c, slot, args, now, inval)
		return
	case h < 0 || h == shard.NoHolder:
		c.out = appendError(c.out, errSlotDown)
		return
	}
	addr := t.Member(h).Addr
	if c.peer {
		// Another node forwarded this: it forwards again itself, so that
		// no peer connection's replies ever wait on a third node.
		c.out = appendMoved(c.out, "-RLMOVED ", slot, addr)
		return
	}
	if s.cl.cfg.Redirect {
		s.cl.st.redirected.Add(1)
		c.out = appendMoved(c.out, "-MOVED ", slot, addr)
		return
	}
	f := &fwdReply{s: s, c: c, slot: slot, resp: c.resp, now: now, args: copyArgs(args), hops: 1, addr: addr, inval: inval, user: c.user.Load()}
	s.hold(c, f)
	s.cl.st.forwarded.Add(1)
	p := s.cl.peerFor(addr)
	p.Forward(now, c.resp, f.hops, f.userName(), args, f)
	c.notePeer(p)
}

// appendMoved appends "<prefix><slot> <addr>\r\n".
func appendMoved(b []byte, prefix string, slot uint16, addr string) []byte {
	b = append(b, prefix...)
	b = strconv.AppendInt(b, int64(slot), 10)
	b = append(b, ' ')
	b = append(b, addr...)
	return append(b, '\r', '\n')
}

// movedTo parses an RLMOVED reply: the node that serves the slot now.
func movedTo(frame []byte) (string, bool) {
	const p = "-RLMOVED "
	if len(frame) < len(p)+2 || string(frame[:len(p)]) != p {
		return "", false
	}
	rest := string(frame[len(p) : len(frame)-2])
	_, addr, ok := strings.Cut(rest, " ")
	return addr, ok && addr != ""
}

// notePeer remembers a peer this batch queued commands for; consume
// flushes them once per batch.
func (c *Client) notePeer(p *peer.Client) {
	for _, q := range c.fwdPeers {
		if q == p {
			return
		}
	}
	c.fwdPeers = append(c.fwdPeers, p)
}

// flushPeers hands the batch's forwarded commands to the peers' writers.
func (c *Client) flushPeers() {
	for i, p := range c.fwdPeers {
		p.Flush()
		c.fwdPeers[i] = nil
	}
	c.fwdPeers = c.fwdPeers[:0]
}

// Ordered output with replies that arrive later.
//
// A client's replies must leave in command order even when some come from
// another node. A forwarded command leaves a hole (fwdReply) in c.fwdq;
// the replies of the commands after it wait in that entry's after, and
// c.ready holds replies whose holes have all been filled, due after c.out.
// The owner moves each command's output behind the holes (deferOutput);
// a peer's reader fills a hole and releases everything up to the next
// unfilled one (complete) into c.ready; the owner's flush writes it, or,
// while the owner is idle, the transport's kick (the push path).

// holder is one pending reply.
type holder interface{ filled() bool }

type fwdEntry struct {
	h     *fwdReply
	after []byte // replies of the commands after this one, until the next hole
}

// hold registers f as the next reply due from c (owner only).
func (s *Server) hold(c *Client, f *fwdReply) {
	c.outMu.Lock()
	c.fwdq = append(c.fwdq, fwdEntry{h: f})
	c.outMu.Unlock()
	c.fwdOpen = true
}

// deferOutput moves the replies appended since mark behind the holes
// (owner only, after a command, while c.fwdOpen).
func (c *Client) deferOutput(mark int) {
	c.outMu.Lock()
	if n := len(c.fwdq); n > 0 {
		c.fwdq[n-1].after = append(c.fwdq[n-1].after, c.out[mark:]...)
	} else {
		c.ready = append(c.ready, c.out[mark:]...)
	}
	c.out = c.out[:mark]
	c.outMu.Unlock()
}

// complete fills hole f with frame and releases the output it held back.
// Any goroutine.
func (c *Client) complete(f *fwdReply, frame []byte) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	f.data = append(f.data[:0], frame...)
	for _, k := range f.inval {
		f.data = appendInvalidate(f.data, k)
	}
	f.done = true
	// Released replies always go to ready, also while the owner is idle:
	// the owner's next batch puts its own replies behind them.
	before := len(c.ready)
	n := 0
	for n < len(c.fwdq) && c.fwdq[n].h.done {
		c.ready = append(c.ready, c.fwdq[n].h.data...)
		c.ready = append(c.ready, c.fwdq[n].after...)
		c.fwdq[n] = fwdEntry{}
		n++
	}
	c.fwdq = c.fwdq[:copy(c.fwdq, c.fwdq[n:])]
	if len(c.ready) > before && !c.busy && !c.kicked {
		c.kicked = true
		c.conn.kick(c)
	}
}

// fwdReply is a forwarded command awaiting its reply (a peer.Waiter).
type fwdReply struct {
	s    *Server
	c    *Client
	slot uint16
	resp int
	now  int64
	args [][]byte   // a copy, to forward again and for the unreachable policy
	tx   [][][]byte // a forwarded transaction's commands (args is EXEC)
	hops int        // forwards so far
	addr string     // where it went last
	data []byte     // the reply, once done (under c.outMu)
	done bool
	// onto, when set, receives the reply instead of the client (fan-out).
	onto *fanOutReply
	// inval are keys a tracking client read: invalidated right after the
	// reply (see elsewhere).
	inval [][]byte
	// user is the ACL user the client ran as when it sent the command:
	// wherever the command runs, it runs as that user (a script's
	// redis.call is checked against it); nil in tests means the default.
	user *acl.Handle
	// viaReplica: sent to the slot's replica after the holder did not
	// answer (toReplica); a second failure answers by policy here.
	viaReplica bool
	// failed is the last node that did not answer it.
	failed string
}

// userName is the name RL.FWD carries for f's user.
func (f *fwdReply) userName() string {
	if f.user == nil {
		return acl.DefaultUser
	}
	return f.user.Name()
}

// runAs runs fn on the internal client pc as f's user, then makes pc the
// default user again.
func (f *fwdReply) runAs(pc *Client, fn func()) {
	if f.user != nil {
		pc.user.Store(f.user)
		defer pc.user.Store(f.s.acl.Default())
	}
	fn()
}

// errHolderUnreachable: a peer redirected a command to the node that had
// just failed it.
var errHolderUnreachable = errors.New("cluster: redirected to the node that did not answer")

// Reply implements peer.Waiter. An RLMOVED reply (the slot moved on while
// the command travelled) sends the command on from here, up to MaxHops.
func (f *fwdReply) Reply(frame []byte, err error) {
	if err == nil {
		if addr, ok := movedTo(frame); ok {
			switch {
			case addr == f.failed:
				// The peer sends it back to the node that just failed
				// it (their tables differ while a death spreads).
				f.addr, err = addr, errHolderUnreachable
			case f.hops < peer.MaxHops:
				f.hops++
				f.addr = addr
				f.s.cl.st.reforwarded.Add(1)
				p := f.s.cl.peerFor(addr)
				if f.tx != nil {
					p.ForwardTx(f.now, f.resp, f.hops, f.userName(), f.tx, f)
				} else {
					p.Forward(f.now, f.resp, f.hops, f.userName(), f.args, f)
				}
				p.Flush()
				return
			default:
				f.s.cl.st.tryAgain.Add(1)
				f.s.cl.obs.redirectLoop()
				frame = appendError(nil, errTryAgain)
			}
		}
	}
	if err != nil {
		f.failed = f.addr
	}
	if err != nil && !errors.Is(err, peer.ErrTimeout) && err != errHolderUnreachable && f.hops < peer.MaxHops && f.retry() {
		return
	}
	if err != nil && f.toReplica() {
		return
	}
	if err != nil {
		f.s.cl.obs.failed(err)
		if f.s.cl.st.forwardErrors.Add(1) == 1 || f.s.cl.lastErrAt.Swap(time.Now().Unix()) != time.Now().Unix() {
			t := f.s.cl.router.Load()
			f.s.log.Warn("cluster: forwarded command failed; answering by policy", "slot", f.slot, "to", f.addr, "holder", t.Holder(f.slot), "members", t.Len(), "error", err, "policy", f.s.cl.cfg.Unreachable)
		}
		frame = f.s.cl.unreachable(f.s, f.slot, f.resp, f.now, f.args)
	}
	if f.onto != nil {
		f.onto.part(frame)
		return
	}
	f.c.complete(f, frame)
}

// toReplica sends a limiter command whose holder did not answer to the
// slot's first replica other than that holder (RL.FWDU), under the local
// policy: the replica decides from its copy of the key's state, and all
// nodes' decisions for the key meet there, so the replica's promotion
// keeps them. It reports false when this node is that replica (it
// decides itself, seeded from its copy) or there is none.
func (f *fwdReply) toReplica() bool {
	cl := f.s.cl
	if cl.repl == nil || cl.cfg.Unreachable != UnreachableLocal || f.tx != nil || f.onto != nil || f.viaReplica || f.hops >= peer.MaxHops {
		return false
	}
	if cmd := f.s.lookup(f.args[0]); cmd == nil || cmd.group != "limiter" {
		return false
	}
	t := cl.router.Load()
	for _, i := range t.Nodes(f.slot) {
		m := t.Member(int(i))
		if m.Addr == f.addr {
			continue
		}
		if int(i) == t.Self() {
			return false
		}
		f.viaReplica = true
		f.hops++
		f.addr = m.Addr
		cl.st.toReplica.Add(1)
		p := cl.peerFor(m.Addr)
		p.ForwardUnreachable(f.now, f.resp, f.hops, f.userName(), f.args, f)
		p.Flush()
		return true
	}
	return false
}

// retry sends a command whose connection failed (not timed out: the node
// closed it, e.g. leaving) to the slot's holder in the current table when
// that changed: a node that closed after handing its slots off ran none of
// them. It reports false when there is nowhere else to go.
func (f *fwdReply) retry() bool {
	cl := f.s.cl
	t := cl.router.Load()
	h := t.Holder(f.slot)
	if h < 0 || h == shard.NoHolder || h == shard.Handing || f.tx != nil {
		return false
	}
	if t.Local(f.slot) {
		if f.onto != nil {
			return false
		}
		cl.retryMu.Lock()
		pc := &cl.retryClient
		pc.out, pc.resp = pc.out[:0], f.resp
		f.runAs(pc, func() { f.s.executeAt(pc, f.args, f.now) })
		out := append([]byte(nil), pc.out...)
		cl.retryMu.Unlock()
		cl.st.reforwarded.Add(1)
		f.c.complete(f, out)
		return true
	}
	addr := t.Member(h).Addr
	if addr == f.addr {
		return false
	}
	f.hops++
	f.addr = addr
	cl.st.reforwarded.Add(1)
	p := cl.peerFor(addr)
	p.Forward(f.now, f.resp, f.hops, f.userName(), f.args, f)
	p.Flush()
	return true
}

// unreachable answers a command whose holder did not answer, by policy,
// and counts the decision. Non-limiter commands get TRYAGAIN under every
// policy: only limits have a safe local answer.
func (cl *cluster) unreachable(s *Server, slot uint16, resp int, now int64, args [][]byte) []byte {
	cl.st.unreachLast.Store(time.Now().UnixMilli())
	cmd := s.lookup(args[0])
	if cmd == nil || cmd.group != "limiter" {
		cl.st.unreachError.Add(1)
		return appendError(nil, "TRYAGAIN the node holding slot "+strconv.Itoa(int(slot))+" did not answer in time")
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	srv := cl.scratch
	if cl.cfg.Unreachable == UnreachableLocal {
		srv = cl.local
		cl.st.unreachLocal.Add(1)
		if cl.repl != nil {
			// A replica's bucket starts from its copy of the key, so the
			// key keeps its count while its holder is unreachable.
			first, last, step := cmd.keyRange(args)
			for i := first; first > 0 && i <= last; i += step {
				k := args[i]
				if _, ok := cl.seeded[string(k)]; ok {
					continue
				}
				h := engine.Hash(k)
				lsh := srv.store.ShardOf(h)
				lsh.Lock()
				exists := lsh.Exists(h, k, now/1e6)
				lsh.Unlock()
				if !exists && cl.repl.seed(srv.store, k, now/1e6) {
					cl.seeded[string(k)] = struct{}{}
				}
			}
		}
	}
	c := &cl.pseudo
	c.out, c.resp, c.st = c.out[:0], resp, srv.statShards[0]
	srv.call(c, srv.lookup(args[0]), args, now)
	out := append([]byte(nil), c.out...)
	if srv == cl.scratch {
		sh := srv.store.Shard(0)
		sh.Lock()
		sh.Clear()
		sh.Unlock()
		if cl.cfg.Unreachable == UnreachableDeny {
			cl.st.unreachDeny.Add(1)
			out = denied(out)
		} else {
			cl.st.unreachAllow.Add(1)
		}
	}
	return out
}

// denied turns a limiter's allowed reply into a limited one: limited 1,
// remaining 0, retry after 1 s; errors stay.
func denied(reply []byte) []byte {
	if len(reply) < 4 || string(reply[:4]) != "*5\r\n" {
		return reply
	}
	parts := [5]int64{}
	p := reply[4:]
	for i := range parts {
		if len(p) < 3 || p[0] != ':' {
			return reply
		}
		end := 1
		for end < len(p) && p[end] != '\r' {
			end++
		}
		v, ok := parseInt64(p[1:end])
		if !ok || end+2 > len(p) {
			return reply
		}
		parts[i] = v
		p = p[end+2:]
	}
	return appendResult(nil, 1, parts[1], 0, 1, parts[4])
}

// fanOutReply combines the integer replies of a multi-key command split
// by slot: the sum, or the first error.
type fanOutReply struct {
	f    *fwdReply // the hole in the client's output
	mu   sync.Mutex
	left int
	sum  int64
	err  []byte
}

func (r *fanOutReply) part(frame []byte) {
	r.mu.Lock()
	if len(frame) > 1 && frame[0] == ':' {
		if v, ok := parseInt64(frame[1 : len(frame)-2]); ok {
			r.sum += v
		}
	} else if r.err == nil {
		r.err = append([]byte(nil), frame...)
	}
	r.left--
	last := r.left == 0
	r.mu.Unlock()
	if !last {
		return
	}
	out := r.err
	if out == nil {
		out = redcon.AppendInt(nil, r.sum)
	}
	r.f.c.complete(r.f, out)
}

// fanOutCommand runs a DEL/UNLINK/EXISTS/TOUCH whose keys span slots: one
// sub-command per slot, here or forwarded, and one summed reply.
func (s *Server) fanOutCommand(c *Client, cmd *command, args [][]byte, now int64, t *shard.Table) {
	groups := map[uint16][][]byte{}
	var order []uint16
	for _, k := range args[1:] {
		sl := shard.Slot(k)
		if _, ok := groups[sl]; !ok {
			order = append(order, sl)
			groups[sl] = [][]byte{args[0]}
		}
		groups[sl] = append(groups[sl], k)
	}
	r := &fanOutReply{left: len(order)}
	r.f = &fwdReply{s: s, c: c}
	s.hold(c, r.f)
	for _, sl := range order {
		sub := groups[sl]
		if t.Local(sl) {
			mark := len(c.out)
			s.call(c, cmd, sub, now)
			frame := append([]byte(nil), c.out[mark:]...)
			c.out = c.out[:mark]
			r.part(frame)
			continue
		}
		h := t.Holder(sl)
		if h < 0 || h == shard.NoHolder || h == shard.Handing || s.cl.cfg.Redirect || c.peer {
			// Redirect mode never gets here for cluster-aware clients
			// (they split by slot); anything else is refused as Redis
			// Cluster refuses it.
			r.part(appendError(nil, errCrossSlot))
			continue
		}
		f := &fwdReply{s: s, c: c, slot: sl, resp: c.resp, now: now, args: copyArgs(sub), onto: r, hops: 1, addr: t.Member(h).Addr, user: c.user.Load()}
		s.cl.st.forwarded.Add(1)
		p := s.cl.peerFor(t.Member(h).Addr)
		p.Forward(now, c.resp, f.hops, f.userName(), sub, f)
		c.notePeer(p)
	}
}

// settleLocal folds temporary buckets into the store once this node holds
// their slot, and drops those whose holder answers again. Loop goroutine.
func (cl *cluster) settleLocal(s *Server, t *shard.Table) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	nowNs := s.clock.Now()
	nowMs := nowNs / 1e6
	type kv struct {
		key []byte
		e   engine.Entry
	}
	var merge []kv
	var drop [][]byte
	st := cl.local.store
	live := 0
	for i := 0; i < st.NumShards(); i++ {
		sh := st.Shard(i)
		sh.Lock()
		for k, e := range sh.Keys(nowMs) {
			live++
			slot := shard.Slot(k)
			switch {
			case t.Local(slot):
				e.Log = append([]int64(nil), e.Log...)
				e.Bytes = append([]byte(nil), e.Bytes...)
				merge = append(merge, kv{append([]byte(nil), k...), e})
			case cl.reachable(t, slot):
				drop = append(drop, append([]byte(nil), k...))
			}
		}
		sh.Unlock()
	}
	for _, m := range merge {
		h := engine.Hash(m.key)
		sh := s.store.ShardOf(h)
		sh.Lock()
		cur, _ := sh.Get(h, m.key, nowMs)
		if _, ok := cl.seeded[string(m.key)]; ok {
			// Started from this node's copy, which the promoted state
			// also started from: the two overlap.
			sh.Restore(h, m.key, engine.MergeOverlap(cur, m.e), nowMs)
		} else {
			sh.Restore(h, m.key, engine.MergeDisjoint(cur, m.e, nowNs), nowMs)
		}
		if cl.sink != nil {
			cl.sink.KeyChanged(shard.Slot(m.key), m.key, h, sh, nowMs)
		}
		sh.Unlock()
		drop = append(drop, m.key)
		cl.st.localMerged.Add(1)
	}
	if len(cl.seeded) > live {
		// Buckets that expired: forget that they were seeded.
		for k := range cl.seeded {
			h := engine.Hash([]byte(k))
			sh := st.ShardOf(h)
			sh.Lock()
			if !sh.Exists(h, []byte(k), nowMs) {
				delete(cl.seeded, k)
			}
			sh.Unlock()
		}
	}
	for _, k := range drop {
		h := engine.Hash(k)
		sh := st.ShardOf(h)
		sh.Lock()
		sh.Delete(h, k, nowMs)
		sh.Unlock()
		delete(cl.seeded, string(k))
	}
	cl.st.localDropped.Add(int64(len(drop) - len(merge)))
}

// reachable reports whether slot's holder has answered since its last
// failure. Callers hold mu.
func (cl *cluster) reachable(t *shard.Table, slot uint16) bool {
	h := t.Holder(slot)
	if h < 0 || h == shard.NoHolder || h == shard.Handing {
		return false
	}
	cl.peersMu.Lock()
	p := cl.peers[t.Member(h).Addr]
	cl.peersMu.Unlock()
	return p != nil && p.Healthy()
}

// cmdPeer is RL.PEER <token>: a cluster member authenticates its
// connection, which may then send RL.FWD. The token is compared in
// constant time.
func cmdPeer(s *Server, c *Client, args [][]byte, now int64) {
	if s.cl == nil || subtle.ConstantTimeCompare(args[1], []byte(s.cl.token)) != 1 {
		c.out = appendError(c.out, "ERR invalid peer token")
		return
	}
	c.peer, c.authed = true, true
	c.out = redcon.AppendOK(c.out)
}

// cmdForward is RL.FWD <instant> <resp> <hops> <user> <command...>: a
// peer's forwarded command, run at the instant the first node received
// it, in the client's protocol version, as the client's ACL user (this
// node's definition of it: the dispatcher checks the command again, and a
// script's redis.call is checked against it). Other clients never reach
// it (see visible).
func cmdForward(s *Server, c *Client, args [][]byte, now int64) {
	if !c.peer || s.cl == nil {
		c.out = appendError(c.out, unknownCommand(args))
		return
	}
	at, ok1 := parseInt64(args[1])
	resp, ok2 := parseInt64(args[2])
	hops, ok3 := parseInt64(args[3])
	if !ok1 || !ok2 || !ok3 || (resp != 2 && resp != 3) || hops < 0 || hops > peer.MaxHops {
		c.out = appendError(c.out, "ERR malformed forwarded command")
		return
	}
	u := s.acl.Lookup(string(args[4]))
	if u == nil {
		c.out = appendError(c.out, errFwdNoUser)
		return
	}
	s.cl.lastPeerCmd.Store(now)
	saved, savedUser := c.resp, c.user.Load()
	c.resp, c.fwdHops = int(resp), int(hops)
	c.user.Store(u)
	defer func() {
		c.resp, c.fwdHops = saved, 0
		c.user.Store(savedUser)
	}()
	s.executeAt(c, args[5:], at)
}

// errFwdNoUser answers a forwarded command whose user this node does not
// have (the nodes' ACLs differ): it runs as nobody rather than as anyone.
const errFwdNoUser = "NOPERM the user who sent this command does not exist on the node serving its slot"

// cmdForwardUnreachable is RL.FWDU <instant> <resp> <hops> <user> <command...>:
// a peer could not reach the holder of the command's slot and sends it to
// this node, the slot's first replica. It runs here if this node holds
// the slot by now (it took over); otherwise it is answered by the
// unreachable-owner policy, from this node's copy of the key.
func cmdForwardUnreachable(s *Server, c *Client, args [][]byte, now int64) {
	if !c.peer || s.cl == nil {
		c.out = appendError(c.out, unknownCommand(args))
		return
	}
	at, ok1 := parseInt64(args[1])
	resp, ok2 := parseInt64(args[2])
	hops, ok3 := parseInt64(args[3])
	cmd := s.lookup(args[5])
	if !ok1 || !ok2 || !ok3 || (resp != 2 && resp != 3) || hops < 0 || hops > peer.MaxHops {
		c.out = appendError(c.out, "ERR malformed forwarded command")
		return
	}
	first := 0
	if cmd != nil {
		first, _, _ = cmd.keyRange(args[5:])
	}
	if cmd == nil || cmd.group != "limiter" || first == 0 ||
		(cmd.arity > 0 && len(args)-5 != cmd.arity) || (cmd.arity < 0 && len(args)-5 < -cmd.arity) {
		cmdForward(s, c, args, now) // answers as the command itself would
		return
	}
	s.cl.lastPeerCmd.Store(now)
	slot := shard.Slot(args[5+first])
	if s.cl.router.Load().Local(slot) {
		cmdForward(s, c, args, now)
		return
	}
	c.out = append(c.out, s.cl.unreachable(s, slot, int(resp), at, args[5:])...)
}

// sameTxSlot checks that a command queued in MULTI has its keys in the
// transaction's slot (the first keyed command sets it), as Redis Cluster
// requires: the transaction runs whole on one node.
func (s *Server) sameTxSlot(c *Client, cmd *command, args [][]byte) bool {
	first, last, step := cmd.keyRange(args)
	for i := first; first > 0 && i <= last; i += step {
		sl := int(shard.Slot(args[i]))
		if c.txSlot < 0 {
			c.txSlot = sl
		} else if c.txSlot != sl {
			return false
		}
	}
	return true
}

// sendTxAway forwards a whole transaction to its slot's holder: MULTI, the
// queued commands and EXEC travel together on the peer connection, so no
// other client's command comes between them, and only EXEC's reply is
// relayed.
func (s *Server) sendTxAway(c *Client, t *shard.Table, slot uint16, queued [][][]byte, now int64) {
	h := t.Holder(slot)
	switch {
	case h == shard.Handing:
		s.cl.st.tryAgain.Add(1)
		c.out = appendError(c.out, errTryAgain)
		return
	case h < 0 || h == shard.NoHolder:
		c.out = appendError(c.out, errSlotDown)
		return
	}
	addr := t.Member(h).Addr
	if c.peer {
		c.out = appendMoved(c.out, "-RLMOVED ", slot, addr)
		return
	}
	if s.cl.cfg.Redirect {
		s.cl.st.redirected.Add(1)
		c.out = appendMoved(c.out, "-MOVED ", slot, addr)
		return
	}
	f := &fwdReply{s: s, c: c, slot: slot, resp: c.resp, now: now, args: [][]byte{[]byte("exec")}, tx: queued, hops: 1, user: c.user.Load()}
	s.hold(c, f)
	s.cl.st.forwarded.Add(1)
	p := s.cl.peerFor(addr)
	p.ForwardTx(now, c.resp, f.hops, f.userName(), queued, f)
	c.notePeer(p)
}

// ClusterNode returns this node's ID and gossip port; "" and 0 in
// single-node mode.
func (s *Server) ClusterNode() (string, int) {
	if s.cl == nil {
		return "", 0
	}
	return s.cl.id, s.cl.gossip.Port()
}
