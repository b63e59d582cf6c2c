package shard

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/rlserver/rlserver/internal/ratelog"
)

// Membership is what the cluster needs from a gossip layer. It is defined
// here, on the consumer's side, so that ownership and handoff logic are
// tested with a fake; Gossip implements it with hashicorp/memberlist.
type Membership interface {
	// Members returns the live members, this node included.
	Members() []Member
	// Changes is signalled whenever the member set or a member's metadata
	// may have changed. Signals coalesce: at most one is pending.
	Changes() <-chan struct{}
	// Update publishes this node's new metadata (Settled, Leaving).
	Update(self Member) error
	// Leave announces a graceful departure and waits up to timeout for it
	// to spread; the node stops taking part.
	Leave(timeout time.Duration) error
	// Close stops taking part without announcing anything.
	Close() error
}

// GossipConfig configures Gossip. The zero value is not valid: Self.ID,
// Self.Addr and BindAddr are required.
type GossipConfig struct {
	// Self is this node's metadata, carried to every other node.
	Self Member
	// BindAddr and BindPort are where gossip listens, on TCP and UDP with
	// the same port (--cluster-port). Port 0 picks a free one (tests).
	BindAddr string
	BindPort int
	// AdvertiseAddr is the address other nodes reach this node's gossip
	// at; empty means BindAddr (which must then not be a wildcard).
	AdvertiseAddr string
	// Key encrypts gossip (AES-GCM) when set: 16, 24 or 32 bytes; see
	// ParseKey. Every node must use the same key.
	Key []byte
	// Timing tunes failure detection; the zero value is LANTiming.
	Timing Timing
	// Log receives memberlist's messages (nil discards them).
	Log *slog.Logger
	// Replicator, when set, spreads replicated state (the rules) over
	// this gossip; it needs Key.
	Replicator *Replicator
}

// Timing is memberlist's failure-detection knobs. A node that stops
// answering is suspected after ProbeInterval+ProbeTimeout (plus the wait
// until some member probes it: members probe one another in turn, one
// per ProbeInterval) and declared dead SuspicionMult × max(1, log10(N)) ×
// ProbeInterval later; with SuspicionMult above 2 memberlist starts the
// suspicion longer (up to 6×) and shortens it as other members confirm
// it. Shorter intervals detect failures sooner and cost more packets, and
// more false suspicions of nodes that are only starved of CPU: a node is
// declared dead when it cannot refute a suspicion in time. A false death
// is harmless to limits (the node rejoins, and the slots that moved while
// it was "dead" come back through a handoff that merges the two states
// conservatively) but costs a round of handoffs.
type Timing struct {
	ProbeInterval    time.Duration
	ProbeTimeout     time.Duration
	SuspicionMult    int
	GossipInterval   time.Duration
	PushPullInterval time.Duration
}

// LANTiming is memberlist's LAN defaults: a dead node is declared dead in
// about 5 s in a small cluster (measured 5.3-7.0 s on loopback, 3 nodes),
// and a node must stall for about 4 s before it is falsely declared dead.
// For machines whose CPU is shared or overcommitted.
func LANTiming() Timing {
	return Timing{ProbeInterval: time.Second, ProbeTimeout: 500 * time.Millisecond, SuspicionMult: 4,
		GossipInterval: 200 * time.Millisecond, PushPullInterval: 30 * time.Second}
}

// FastTiming is the default (--gossip-profile fast): a dead node is
// declared dead by every member in about 1-1.5 s on loopback (3 nodes),
// so a dead owner's slots are served by their replicas within 2 s. The
// price: more packets, and a node stalled for a second or more (a long GC
// pause on a huge heap, a descheduled VM, a CPU starved by a race-detector
// build on two shared cores) can be declared dead once the others confirm
// the suspicion; it rejoins at once, which costs handoffs but no limits
// (see Timing).
func FastTiming() Timing {
	return Timing{ProbeInterval: 250 * time.Millisecond, ProbeTimeout: 150 * time.Millisecond, SuspicionMult: 3,
		GossipInterval: 50 * time.Millisecond, PushPullInterval: 5 * time.Second}
}

// ParseKey decodes a base64 gossip key and checks its length (16, 24 or 32
// bytes: AES-128, -192 or -256).
func ParseKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("shard: cluster key is not base64: %w", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("shard: cluster key is %d bytes, want 16, 24 or 32", len(k))
}

// Gossip is Membership over hashicorp/memberlist. Create it with
// NewGossip, then Join. Safe for concurrent use.
type Gossip struct {
	ml      *memberlist.Memberlist
	rep     *Replicator // nil: no replicated state
	meta    atomic.Pointer[[]byte]
	changes chan struct{}
	mu      sync.Mutex // serializes Update

	// memberlist hands out pointers to nodes it keeps changing, so the
	// live set is copied here from its callbacks (which it runs under its
	// own lock).
	nodesMu sync.Mutex
	nodes   map[string]Member
	states  map[string]*memberState    // every known member's state (States)
	addrs   map[string]memberlist.Node // name and address of each, for SendReliable
	// gone are members memberlist declared dead (not those that left),
	// by ID: their gossip address and when they died. A partition makes
	// both sides declare the other dead, and memberlist never talks to a
	// dead member again, so reconnect keeps asking them to join until
	// they answer or reconnectFor has passed.
	gone map[string]goneMember

	self    string // this node's ID
	stop    chan struct{}
	stopped sync.WaitGroup
	log     *slog.Logger
}

type goneMember struct {
	addr string
	at   time.Time
}

// Reconnection to dead members (see Gossip.gone).
const (
	reconnectEvery = 2 * time.Second
	reconnectFor   = time.Hour
	maxGone        = 64
)

// NewGossip starts gossip on cfg's address. The node is alone until Join.
func NewGossip(cfg GossipConfig) (*Gossip, error) {
	if !ValidID(cfg.Self.ID) || cfg.Self.Addr == "" {
		return nil, errors.New("shard: gossip needs this node's id and address")
	}
	if cfg.Replicator != nil && cfg.Key == nil {
		return nil, errNoKey
	}
	g := &Gossip{changes: make(chan struct{}, 1), nodes: map[string]Member{}, states: map[string]*memberState{}, addrs: map[string]memberlist.Node{}, rep: cfg.Replicator,
		gone: map[string]goneMember{}, self: cfg.Self.ID, stop: make(chan struct{}), log: cfg.Log}
	meta, err := encodeMeta(cfg.Self)
	if err != nil {
		return nil, err
	}
	g.meta.Store(&meta)
	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Self.ID
	mc.BindAddr = cfg.BindAddr
	mc.BindPort = cfg.BindPort
	mc.AdvertisePort = cfg.BindPort
	mc.AdvertiseAddr = cfg.AdvertiseAddr
	tm := cfg.Timing
	if tm == (Timing{}) {
		tm = LANTiming()
	}
	mc.ProbeInterval, mc.ProbeTimeout, mc.SuspicionMult = tm.ProbeInterval, tm.ProbeTimeout, tm.SuspicionMult
	mc.GossipInterval, mc.PushPullInterval = tm.GossipInterval, tm.PushPullInterval
	mc.TCPTimeout = max(time.Second, 4*tm.ProbeTimeout)
	// A node restarted with its ID (from its data directory) on another
	// address or port takes its name back as soon as its old self is
	// dead (memberlist's default never lets it while the dead entry
	// lasts). IDs are random per data directory, so two live nodes never
	// share one.
	mc.DeadNodeReclaimTime = time.Nanosecond
	if cfg.Key != nil {
		mc.SecretKey = cfg.Key
	}
	mc.Delegate = (*gossipDelegate)(g)
	mc.Events = (*gossipEvents)(g)
	mc.Ping = (*gossipPing)(g)
	mc.LogOutput = nil
	lw := &logWriter{log: cfg.Log, suspect: func(id string) { g.setSuspect(id, true) }}
	if cfg.Log != nil {
		lw.limit = ratelog.New(cfg.Log, time.Minute)
	}
	mc.Logger = log.New(lw, "", 0)
	if g.rep != nil {
		g.rep.prepare()
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("shard: starting gossip: %w", err)
	}
	g.ml = ml
	if g.rep != nil {
		g.rep.attach(ml, mc.UDPBufferSize, mc.Name, g.peerNodes)
	}
	g.stopped.Add(1)
	go g.reconnect()
	return g, nil
}

// reconnect asks members declared dead to join again, every
// reconnectEvery: a member that was only cut off (a partition, a long
// stall) comes back as soon as it answers, which heals the two sides'
// views. A member that is really dead refuses the connection at once.
func (g *Gossip) reconnect() {
	defer g.stopped.Done()
	tick := time.NewTicker(reconnectEvery)
	defer tick.Stop()
	for {
		select {
		case <-g.stop:
			return
		case <-tick.C:
		}
		var addrs []string
		g.nodesMu.Lock()
		for id, m := range g.gone {
			if time.Since(m.at) > reconnectFor {
				delete(g.gone, id)
				continue
			}
			addrs = append(addrs, m.addr)
		}
		g.nodesMu.Unlock()
		for _, a := range addrs {
			select {
			case <-g.stop:
				return
			default:
			}
			if n, _ := g.ml.Join([]string{a}); n > 0 && g.log != nil {
				g.log.Info("cluster: a member declared dead answers again", "gossip", a)
			}
		}
	}
}

// Join contacts seeds (host:port of other nodes' gossip) and returns how
// many answered; an error only when none did.
func (g *Gossip) Join(seeds []string) (int, error) {
	n, err := g.ml.Join(seeds)
	if n > 0 {
		return n, nil
	}
	return 0, err
}

// Port returns the gossip port (useful when BindPort was 0).
func (g *Gossip) Port() int { return int(g.ml.LocalNode().Port) }

// Members implements Membership: this node and every node memberlist has
// not declared dead or gone (suspects included), with readable metadata.
func (g *Gossip) Members() []Member {
	self, _ := decodeMeta(*g.meta.Load())
	self.GossipPort = g.Port()
	g.nodesMu.Lock()
	defer g.nodesMu.Unlock()
	out := make([]Member, 0, len(g.nodes)+1)
	out = append(out, self)
	for id, m := range g.nodes {
		if id != self.ID {
			out = append(out, m)
		}
	}
	return out
}

// track records a node's state from a callback; memberlist holds its node
// lock, so n is stable here.
func (g *Gossip) track(n *memberlist.Node, alive bool) {
	g.nodesMu.Lock()
	if m, err := decodeMeta(n.Meta); alive && err == nil && m.ID == n.Name {
		m.GossipPort = int(n.Port)
		g.nodes[n.Name] = m
		delete(g.gone, n.Name)
	} else {
		// A member that announced Leaving left on purpose: it is not
		// asked back. (memberlist does not say dead or left here.)
		last, wasLive := g.nodes[n.Name]
		delete(g.nodes, n.Name)
		_, known := g.gone[n.Name]
		if !alive && wasLive && !last.Leaving && n.Name != g.self && (known || len(g.gone) < maxGone) {
			g.gone[n.Name] = goneMember{addr: n.Address(), at: time.Now()}
		}
	}
	g.noteState(n, alive)
	if alive {
		g.addrs[n.Name] = memberlist.Node{Name: n.Name, Addr: slices.Clone(n.Addr), Port: n.Port}
	} else {
		delete(g.addrs, n.Name)
	}
	g.nodesMu.Unlock()
	g.signal()
}

// peerNodes returns the other live members' names and gossip addresses.
func (g *Gossip) peerNodes() []memberlist.Node {
	self := g.ml.LocalNode().Name
	g.nodesMu.Lock()
	defer g.nodesMu.Unlock()
	out := make([]memberlist.Node, 0, len(g.addrs))
	for name, n := range g.addrs {
		if name != self {
			out = append(out, n)
		}
	}
	return out
}

// Changes implements Membership.
func (g *Gossip) Changes() <-chan struct{} { return g.changes }

// Update implements Membership; it waits up to a second for the update to
// be sent.
func (g *Gossip) Update(self Member) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	meta, err := encodeMeta(self)
	if err != nil {
		return err
	}
	g.meta.Store(&meta)
	g.signal()
	return g.ml.UpdateNode(time.Second)
}

// Leave implements Membership. It first publishes the Leaving flag
// (unless Update already did), which tells the others that the node left
// rather than failed.
func (g *Gossip) Leave(timeout time.Duration) error {
	g.stopReconnect()
	if self, err := decodeMeta(*g.meta.Load()); err == nil && !self.Leaving {
		self.Leaving = true
		g.Update(self) // best effort: without it the others count a failure
	}
	err := g.ml.Leave(timeout)
	err = errors.Join(err, g.ml.Shutdown())
	if g.rep != nil {
		g.rep.stop()
	}
	return err
}

// Close implements Membership.
func (g *Gossip) Close() error {
	g.stopReconnect()
	err := g.ml.Shutdown()
	if g.rep != nil {
		g.rep.stop()
	}
	return err
}

func (g *Gossip) stopReconnect() {
	g.mu.Lock()
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	g.mu.Unlock()
	g.stopped.Wait()
}

func (g *Gossip) signal() {
	select {
	case g.changes <- struct{}{}:
	default:
	}
}

// gossipDelegate and gossipEvents are memberlist's callbacks. They never
// block: metadata is read from an atomic pointer, changes are a
// non-blocking send on a channel of one, and replicated state is copied
// for the Replicator's goroutine (or answered from its cache).
type gossipDelegate Gossip

func (d *gossipDelegate) NodeMeta(limit int) []byte {
	m := *d.meta.Load()
	if len(m) > limit {
		return nil
	}
	return m
}

func (d *gossipDelegate) NotifyMsg(b []byte) {
	if d.rep != nil {
		d.rep.receive(b)
	}
}

func (d *gossipDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	if d.rep == nil {
		return nil
	}
	return d.rep.queue.GetBroadcasts(overhead, limit)
}

func (d *gossipDelegate) LocalState(bool) []byte {
	if d.rep == nil {
		return nil
	}
	return d.rep.localState()
}

func (d *gossipDelegate) MergeRemoteState(b []byte, _ bool) {
	if d.rep != nil {
		d.rep.receive(b)
	}
}

type gossipEvents Gossip

func (e *gossipEvents) NotifyJoin(n *memberlist.Node)   { (*Gossip)(e).track(n, true) }
func (e *gossipEvents) NotifyLeave(n *memberlist.Node)  { (*Gossip)(e).track(n, false) }
func (e *gossipEvents) NotifyUpdate(n *memberlist.Node) { (*Gossip)(e).track(n, true) }

// Metadata: version 1, flags (1 settled, 2 leaving), then ID, Addr,
// HTTPAddr and Name as uvarint-length strings. memberlist caps it at 512
// bytes; a long Name is cut to fit.
const metaVersion = 1

func encodeMeta(m Member) ([]byte, error) {
	var flags byte
	if m.Settled {
		flags |= 1
	}
	if m.Leaving {
		flags |= 2
	}
	b := []byte{metaVersion, flags}
	for _, s := range []string{m.ID, m.Addr, m.HTTPAddr} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if len(b) > memberlist.MetaMaxSize-3 {
		return nil, errors.New("shard: node addresses too long for gossip metadata")
	}
	name := m.Name
	if room := memberlist.MetaMaxSize - len(b) - 2; len(name) > room {
		name = name[:room]
	}
	b = binary.AppendUvarint(b, uint64(len(name)))
	return append(b, name...), nil
}

func decodeMeta(b []byte) (Member, error) {
	var m Member
	if len(b) < 2 || b[0] != metaVersion {
		return m, errors.New("shard: unknown metadata version")
	}
	m.Settled, m.Leaving = b[1]&1 != 0, b[1]&2 != 0
	b = b[2:]
	fields := []*string{&m.ID, &m.Addr, &m.HTTPAddr, &m.Name}
	for _, f := range fields {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return m, errors.New("shard: truncated metadata")
		}
		*f = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	return m, nil
}

// logWriter turns memberlist's "[LEVEL] memberlist: ..." lines into slog
// records, and passes on the suspicions they report (see suspectIn).
// Warnings and errors go through limit, per kind (logKind): anyone who
// reaches the gossip port can make memberlist complain about every packet
// it sends, and one line a minute per kind says as much as thousands.
type logWriter struct {
	log     *slog.Logger
	limit   *ratelog.Limiter // nil: no limit (tests without a logger)
	suspect func(id string)
}

// logKind names the kind of a memberlist line for rate limiting: its text
// up to the second colon ("memberlist: Decrypt packet failed"), digits
// masked, at most 64 bytes, so that the details a sender controls (its
// address, the bytes it sent) never make a new kind.
func logKind(line []byte) string {
	end := len(line)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		if j := bytes.IndexByte(line[i+1:], ':'); j >= 0 {
			end = i + 1 + j
		}
	}
	end = min(end, 64)
	k := []byte("gossip: ")
	for _, ch := range line[:end] {
		if '0' <= ch && ch <= '9' {
			ch = '#'
		}
		k = append(k, ch)
	}
	return string(k)
}

func (w *logWriter) Write(p []byte) (int, error) {
	if id, ok := suspectIn(p); ok && w.suspect != nil {
		w.suspect(id)
	}
	if w.log == nil {
		return len(p), nil
	}
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, l := range []struct {
		tag   string
		level slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn}, {"[ERR]", slog.LevelError}} {
		if bytes.HasPrefix(line, []byte(l.tag)) {
			level = l.level
			line = bytes.TrimSpace(line[len(l.tag):])
			break
		}
	}
	if level >= slog.LevelWarn && w.limit != nil {
		if level == slog.LevelWarn {
			w.limit.Warn(logKind(line), string(line), "component", "gossip")
		} else {
			w.limit.Error(logKind(line), string(line), "component", "gossip")
		}
		return len(p), nil
	}
	w.log.Log(context.Background(), level, string(line), "component", "gossip")
	return len(p), nil
}

var _ io.Writer = (*logWriter)(nil)

// SplitHostPort parses host:port with a numeric port.
func SplitHostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", s)
	}
	return h, n, nil
}
