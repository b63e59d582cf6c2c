package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/acl"
	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/internal/ratelog"
	"github.com/rlserver/rlserver/persistence"
	"github.com/rlserver/rlserver/rules"
	"github.com/rlserver/rlserver/script"
	"github.com/rlserver/rlserver/tlsconf"
)

// Version is the Redis version rlserver reports, so clients pick the
// command dialect they use with Redis 7.
const Version = "7.0.15"

// Server serves the RESP protocol over one listener. Create it with New,
// run it with Serve, stop it with Close. Safe for concurrent use.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *engine.Store
	clock *Clock
	cmds  map[string]*command
	// cmdList is the command table by id (table order).
	cmdList []*command
	// statShards hold command counters; see cmdstats.go.
	statShards []*statShard
	rates      rateSampler  // INFO instantaneous_* figures
	memPeak    atomic.Int64 // INFO used_memory_peak
	slowlog    slowlog
	acllog     aclLog
	// idleTimeout (ns, 0: none) and olim start as the configuration's and
	// change with CONFIG SET.
	idleTimeout atomic.Int64
	olim        atomic.Pointer[OutputLimits]
	// warn logs repeated warnings (clients over limits, panics) once a
	// minute per kind, with the count of those suppressed.
	warn    *ratelog.Limiter
	latency latencyMonitor
	loaded  persistence.Info // the snapshot loaded at start (INFO rdb_last_load_*)
	rules   *rules.Engine    // set by SetRules before Serve; nil without

	ln        net.Listener // plaintext RESP; nil when serving TLS only
	tlsLn     net.Listener // RESP over TLS; nil without a TLS port
	tls       *tlsconf.Manager
	acl       *acl.Registry
	mu        sync.Mutex
	clients   map[int64]*Client
	nextID    atomic.Int64
	closing   atomic.Bool
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
	shutdown  chan struct{} // closed when a client asks for SHUTDOWN

	tracking *tracker
	scripts  *script.Engine
	// scriptHold marks, per shard, the script whose client holds it, so
	// other clients can wait for it or answer BUSY instead of blocking
	// behind it (see lockWait).
	scriptHold []atomic.Pointer[scriptRun]
	saver      *persistence.Saver // nil without a data dir
	cl         *cluster           // nil in single-node mode
	saveOnExit atomic.Bool
	forceExit  atomic.Bool  // SHUTDOWN FORCE: exit even if the final snapshot fails
	evictNext  atomic.Int64 // round-robin shard cursor for eviction
	stats      stats
	started    time.Time
}

type stats struct {
	connections     atomic.Int64
	rejectedConns   atomic.Int64
	expiredKeys     atomic.Int64
	evictedKeys     atomic.Int64
	sweepBatches    atomic.Int64
	protocolErrors  atomic.Int64
	recoveredPanics atomic.Int64
}

// New returns a server for cfg. It does not listen yet.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:      cfg,
		log:      log,
		store:    engine.NewStore(cfg.Shards),
		clock:    NewClock(),
		clients:  make(map[int64]*Client),
		done:     make(chan struct{}),
		shutdown: make(chan struct{}),
		started:  time.Now(),
	}
	s.tracking = newTracker(cfg.MaxTrackedKeys)
	s.warn = ratelog.New(log, time.Minute)
	s.scripts = script.New(script.Config{MemoryLimit: cfg.LuaMemoryLimit, Log: s.scriptLog})
	s.slowlog.setThreshold(cfg.SlowlogSlowerThan)
	s.slowlog.maxLen.Store(int64(cfg.SlowlogMaxLen))
	s.acllog.maxLen.Store(int64(cfg.ACLLogMaxLen))
	s.idleTimeout.Store(cfg.IdleTimeout)
	olim := cfg.OutputLimits
	s.olim.Store(&olim)
	s.latency.setThreshold(cfg.LatencyMonitorThreshold)
	s.cmds = commandTable()
	cat, err := newACLCatalog(s.cmds)
	if err != nil {
		return nil, err
	}
	users, err := configureUsers(cat, cfg)
	if err != nil {
		return nil, err
	}
	s.acl = acl.NewRegistry(cat)
	if _, err := s.acl.Replace(users); err != nil {
		return nil, err
	}
	s.cfg.RequirePass = "" // kept only as the default user's hash
	if cfg.TLSPort != 0 {
		if s.tls, err = tlsconf.New(cfg.TLS); err != nil {
			return nil, err
		}
	}
	for _, cmd := range s.cmds {
		s.cmdList = append(s.cmdList, cmd)
	}
	slices.SortFunc(s.cmdList, func(a, b *command) int { return a.id - b.id })
	s.statShards = newStatShards(max(goroutineStatShards(), cfg.IOThreads), len(s.cmdList))
	if cfg.DataDir != "" {
		mode := persistence.RecoverRefuse
		if cfg.RecoverPrevious {
			mode = persistence.RecoverPrevious
		}
		st, info, err := persistence.LoadNewest(cfg.DataDir, func() *engine.Store { return engine.NewStore(cfg.Shards) }, s.clock.Now(), mode, log)
		if err != nil {
			return nil, err
		}
		s.loaded = info
		if info.Path != "" {
			log.Info("snapshot loaded", "path", info.Path, "keys", info.Keys, "expired", info.Expired, "duration", info.Duration)
		}
		s.store = st
		s.saver = persistence.NewSaver(cfg.DataDir, st, s.clock.Now, log)
		s.saveOnExit.Store(true)
	}
	s.scriptHold = make([]atomic.Pointer[scriptRun], s.store.NumShards())
	return s, nil
}

// SaveOnExit reports whether the final snapshot should be written when the
// server stops (not after SHUTDOWN NOSAVE, nor without a data dir).
func (s *Server) SaveOnExit() bool { return s.saver != nil && s.saveOnExit.Load() }

// ForceExit reports whether SHUTDOWN FORCE asked to exit even when the
// final snapshot fails.
func (s *Server) ForceExit() bool { return s.forceExit.Load() }

// Save writes a snapshot now (the final one at shutdown).
func (s *Server) Save() error {
	if s.saver == nil {
		return nil
	}
	_, err := s.saver.Save()
	return err
}

// Listen opens the RESP listeners: plaintext on cfg.Bind:cfg.Port
// (unless TLS only) and TLS on cfg.Bind:cfg.TLSPort when set.
func (s *Server) Listen() error {
	lc := net.ListenConfig{KeepAlive: -1}
	if ka := time.Duration(s.cfg.TCPKeepAlive); ka > 0 {
		// Redis's probes: after ka of silence, then every ka/3, 3 times.
		lc.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: ka, Interval: max(ka/3, time.Second), Count: 3}
	}
	if s.cfg.Port != 0 || s.cfg.TLSPort == 0 {
		ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(s.cfg.Bind, strconv.Itoa(s.cfg.Port)))
		if err != nil {
			return err
		}
		s.ln = ln
	}
	if s.cfg.TLSPort != 0 {
		ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(s.cfg.Bind, strconv.Itoa(s.cfg.TLSPort)))
		if err != nil {
			if s.ln != nil {
				s.ln.Close()
			}
			return err
		}
		s.tlsLn = ln
	}
	if s.cfg.Cluster != nil {
		if err := s.startCluster(); err != nil {
			if s.ln != nil {
				s.ln.Close()
			}
			if s.tlsLn != nil {
				s.tlsLn.Close()
			}
			return fmt.Errorf("cluster: %w", err)
		}
	}
	return nil
}

// Addr returns the plaintext listener's address, or the TLS listener's
// when serving TLS only (after Listen).
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return s.tlsLn.Addr()
	}
	return s.ln.Addr()
}

// TLSAddr returns the TLS listener's address, or nil without TLS.
func (s *Server) TLSAddr() net.Addr {
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// TLS returns the TLS material the server serves with (nil without TLS),
// for the HTTPS listener, for connections to other nodes
// (tlsconf.Manager.ClientConfig) and for reloading on SIGHUP.
func (s *Server) TLS() *tlsconf.Manager { return s.tls }

// ShutdownRequested is closed when a client sends SHUTDOWN.
func (s *Server) ShutdownRequested() <-chan struct{} { return s.shutdown }

// Serve accepts connections until Close. It also runs the expiry sweeper.
func (s *Server) Serve() error {
	s.wg.Add(1)
	go s.sweepLoop()
	s.wg.Add(1)
	go s.sampleLoop()
	if s.saver != nil && s.cfg.SnapshotInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.saver.Run(time.Duration(s.cfg.SnapshotInterval), s.done)
		}()
	}
	// Always: CONFIG SET may turn on a timeout or a soft limit.
	s.wg.Add(1)
	go s.clientsCron()
	// Each listener has its own accept loop; the first to stop (with an
	// error, or nil after Close) ends Serve.
	stopped := make(chan error, 2)
	if s.tlsLn != nil {
		go func() { stopped <- s.acceptLoop(s.tlsLn, s.serveTLS) }()
	}
	if s.ln != nil {
		go func() {
			if s.cfg.IOModel == IOEpoll {
				stopped <- s.serveEpoll()
				return
			}
			stopped <- s.serveGoroutines()
		}()
	}
	return <-stopped
}

// acceptLoop accepts connections until Close and hands each to serve,
// turning connections away beyond maxclients as Redis does.
//
// A failed accept never stops the server: running out of file
// descriptors (EMFILE, ENFILE) or kernel memory is something a flood of
// connections can cause, and it passes. The loop logs it, waits (5 ms,
// doubling to 1 s while it lasts; the waiting connections stay in the
// kernel's backlog) and accepts again. Only a closed listener ends it.
func (s *Server) acceptLoop(ln net.Listener, serve func(net.Conn)) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.warn.Warn("accept", "cannot accept connections; retrying", "error", err, "retry_in", backoff)
			select {
			case <-s.done:
				return nil
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		full := len(s.clients) >= s.cfg.MaxClients
		s.mu.Unlock()
		if full {
			s.stats.rejectedConns.Add(1)
			nc.Write([]byte("-ERR max number of clients reached\r\n"))
			nc.Close()
			continue
		}
		if ln == s.ln && s.protectedRefuse(nc) {
			continue // TLS connections are checked after the handshake
		}
		serve(nc)
	}
}

// serveGoroutines is the portable front: a goroutine per connection.
func (s *Server) serveGoroutines() error {
	return s.acceptLoop(s.ln, func(nc net.Conn) {
		s.wg.Add(1)
		go s.serveConn(nc)
	})
}

// leaveTimeout bounds the handoff of a graceful leave.
const leaveTimeout = 20 * time.Second

// Close stops accepting, closes every connection and waits for them.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		if s.cl != nil {
			// Hand the slots off and leave while still serving, so that
			// no limit resets and forwarded commands still find a node.
			grace := 4 * s.cl.cfg.Timing.GossipInterval
			if grace == 0 {
				grace = time.Second
			}
			s.cl.leave(s, time.Now().Add(leaveTimeout), grace)
			s.cl.stop()
		}
		s.closing.Store(true) // the event loops stop at this
		close(s.done)
		if s.ln != nil {
			s.ln.Close()
		}
		if s.tlsLn != nil {
			s.tlsLn.Close()
		}
		s.mu.Lock()
		for _, c := range s.clients {
			// A running script would keep its connection (and the
			// shards it holds) to the end, which may never come: stop
			// it if it has not written, and also if it has when
			// nothing will be saved (SHUTDOWN NOSAVE, as in Redis); a
			// snapshot on exit must not keep half a script.
			if r := c.running.Load(); r != nil && (!r.wrote.Load() || !s.SaveOnExit()) {
				r.kill.Kill()
			}
			c.conn.close()
		}
		s.mu.Unlock()
	})
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sweepLoop reclaims expired keys incrementally, a few records per shard
// per tick, so idle keys free their memory without stopping the world.
func (s *Server) sweepLoop() {
	defer s.wg.Done()
	t := time.NewTicker(time.Duration(s.cfg.SweepEvery))
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.sweepOnce()
		}
	}
}

func (s *Server) sweepOnce() {
	start := time.Now()
	defer func() { s.latency.observe("expire-cycle", int64(time.Since(start)), time.Now()) }()
	nowMs := s.clock.Now() / 1e6
	if s.cl != nil {
		// A forwarded command is decided at the instant its first node
		// received it, up to a forwarding timeout ago. A window record
		// swept at its end would let such a command reopen the ended
		// window at zero (FW/SW admitted twice their limit when a stalled
		// owner resumed); kept that long, the command finds the window and
		// is decided inside it. Access at the owner's own instant still
		// expires the record at once.
		nowMs -= s.cl.cfg.ForwardTimeout.Milliseconds()
	}
	// Keys that expire are invalidated for tracking clients after their
	// shard is unlocked: a push must never hold a shard.
	var expired [][]byte
	var onExpire func([]byte)
	if s.tracking.active() {
		onExpire = func(k []byte) { expired = append(expired, append([]byte(nil), k...)) }
	}
	// Like Redis's active expiry: sample a batch per shard, and sample
	// again while more than a quarter of a batch had expired (up to 16
	// batches), so the sweeper keeps up with keys created at any rate.
	for i := 0; i < s.store.NumShards(); i++ {
		sh := s.store.Shard(i)
		for range 16 {
			if s.scriptHold[i].Load() != nil {
				break // a script holds it (maybe for long): next round
			}
			sh.Lock()
			n := sh.Sweep(nowMs, s.cfg.SweepBudget, onExpire)
			sh.Unlock()
			s.stats.expiredKeys.Add(int64(n))
			s.stats.sweepBatches.Add(1)
			for _, k := range expired {
				s.tracking.invalidateKey(k)
			}
			expired = expired[:0]
			if n*4 <= s.cfg.SweepBudget {
				break
			}
		}
	}
}
