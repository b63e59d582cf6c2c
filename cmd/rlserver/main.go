// Command rlserver runs the rate-limiter server: a RESP listener that any
// Redis client can use, CL.THROTTLE-compatible with redis-cell.
//
// Flags have RLSERVER_* environment equivalents (--max-key-bytes is
// RLSERVER_MAX_KEY_BYTES); a flag given on the command line wins.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rlserver/rlserver/httpapi"
	"github.com/rlserver/rlserver/metrics"
	"github.com/rlserver/rlserver/server"
	"github.com/rlserver/rlserver/shard"
	"github.com/rlserver/rlserver/status"
	"github.com/rlserver/rlserver/tlsconf"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rlserver:", err)
		os.Exit(1)
	}
}

func run(argv []string, stderr io.Writer) error {
	if len(argv) > 0 && argv[0] == "rules" {
		return rulesCommand(argv[1:], os.Stdout, stderr)
	}
	cfg := server.DefaultConfig()
	var snapshotEvery, busyThreshold time.Duration
	fs := flag.NewFlagSet("rlserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Bind, "bind", cfg.Bind, "address to listen on")
	fs.IntVar(&cfg.Port, "port", cfg.Port, "RESP port (0 picks a free one; with --tls-port, 0 means TLS only)")
	fs.StringVar(&cfg.RequirePass, "requirepass", "", "password clients must AUTH with (empty: none)")
	fs.StringVar(&cfg.IOModel, "io-model", cfg.IOModel, "epoll (event loops, Linux) or goroutine (one per connection)")
	fs.IntVar(&cfg.IOThreads, "io-threads", cfg.IOThreads, "epoll event loops (0: half the CPUs, at least one)")
	fs.IntVar(&cfg.MaxClients, "maxclients", cfg.MaxClients, "maximum concurrent connections")
	fs.IntVar(&cfg.Shards, "shards", cfg.Shards, "store shards (rounded up to a power of two)")
	fs.IntVar(&cfg.MaxLogLimit, "max-log-limit", cfg.MaxLogLimit, "largest limit SWLOG.THROTTLE accepts (memory per key grows with it)")
	maxMemory := fs.String("maxmemory", "0", "cap on the store's size (bytes, or kb/mb/gb; 0: none)")
	fs.StringVar(&cfg.MaxMemoryPolicy, "maxmemory-policy", cfg.MaxMemoryPolicy, "at maxmemory: noeviction (new keys get OOM) or volatile-ttl (evict keys nearest to expiry)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "directory for snapshots (empty: no persistence)")
	fs.DurationVar(&snapshotEvery, "snapshot-interval", time.Duration(cfg.SnapshotInterval), "time between periodic snapshots (0: only SAVE, BGSAVE and shutdown)")
	fs.DurationVar(&busyThreshold, "busy-reply-threshold", time.Duration(cfg.BusyReplyThreshold), "how long a script runs before clients needing its keys get -BUSY and SCRIPT KILL can stop it")
	luaMemory := fs.String("lua-memory-limit", strconv.FormatInt(cfg.LuaMemoryLimit, 10), "what one Lua script may allocate before it is stopped (bytes, or kb/mb/gb)")
	recoverMode := fs.String("snapshot-recover", "refuse", "when the newest snapshot is unusable: refuse (do not start) or previous (start from the one before)")
	maxKey := fs.String("max-key-bytes", strconv.Itoa(cfg.MaxKeyBytes), "longest key accepted (bytes, or kb/mb/gb)")
	maxBulk := fs.String("proto-max-bulk-len", strconv.Itoa(cfg.MaxBulkBytes), "longest argument accepted (bytes, or kb/mb/gb)")
	maxQuery := fs.String("client-query-buffer-limit", strconv.Itoa(cfg.MaxQueryBytes), "bytes buffered per connection for an incomplete command")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	cpuProfile := fs.String("cpu-profile", "", "write a Go CPU profile to this file until shutdown (for benchmarking)")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "HTTP API address (check, admin, stats, /health, /metrics, status page); '' turns it off")
	httpMaxConns := fs.Int("http-max-conns", httpapi.DefaultMaxConns, "open connections the HTTP API (and, separately, --metrics-addr) serves at once; more wait in the kernel's backlog (0: no limit)")
	fs.Int64Var(&cfg.SlowlogSlowerThan, "slowlog-log-slower-than", cfg.SlowlogSlowerThan, "log commands taking at least this many microseconds in SLOWLOG (negative: off, 0: all)")
	fs.IntVar(&cfg.SlowlogMaxLen, "slowlog-max-len", cfg.SlowlogMaxLen, "SLOWLOG entries kept")
	fs.IntVar(&cfg.ACLLogMaxLen, "acllog-max-len", cfg.ACLLogMaxLen, "ACL LOG entries kept (denials and failed authentications)")
	fs.Int64Var(&cfg.LatencyMonitorThreshold, "latency-monitor-threshold", cfg.LatencyMonitorThreshold, "record LATENCY events of at least this many milliseconds (0: off)")
	metricsAddr := fs.String("metrics-addr", "", "also serve /metrics, /health, /ready and the status page on this address alone (empty: off)")
	fs.Var((*stringList)(&cfg.Users), "user", "an ACL user, 'name rule rule ...' in Redis's ACL syntax (repeatable; e.g. 'svc on >pass ~rl:* +@limiter')")
	fs.StringVar(&cfg.ACLFile, "aclfile", "", "ACL file in Redis's format (user lines), loaded at start and by ACL LOAD, written by ACL SAVE")
	protectedMode := fs.String("protected-mode", "yes", "yes: refuse non-loopback clients while the default user has no password")
	fs.IntVar(&cfg.TLSPort, "tls-port", 0, "RESP over TLS port (0: no TLS); with --port 0, TLS only")
	fs.StringVar(&cfg.TLS.CertFile, "tls-cert-file", "", "server certificate (PEM), reloaded on SIGHUP")
	fs.StringVar(&cfg.TLS.KeyFile, "tls-key-file", "", "server private key (PEM), reloaded on SIGHUP")
	fs.StringVar(&cfg.TLS.CAFile, "tls-ca-cert-file", "", "CA certificates (PEM) client and node certificates are verified against, reloaded on SIGHUP")
	tlsAuth := fs.String("tls-auth-clients", "yes", "yes: clients need a certificate from the CA; optional: verified if presented; no: not asked for")
	idle := fs.String("timeout", "0", "close clients idle this long (seconds, or a duration such as 5m; 0: never)")
	keepAlive := fs.String("tcp-keepalive", "300", "TCP keepalive period (seconds, or a duration; 0: off)")
	fs.Var(outputLimitsFlag{&cfg.OutputLimits}, "client-output-buffer-limit", "per client class: 'class hard soft seconds' (classes normal and pubsub, sizes in bytes or kb/mb/gb; repeatable)")
	adminToken := fs.String("admin-token", "", "bearer token for the HTTP admin and stats API (empty: admin API off)")
	rulesFile := fs.String("rules", "", "YAML or JSON file of rules, allow/deny entries and tiers to create or update at start")
	clusterPort := fs.Int("cluster-port", -1, "gossip port (TCP and UDP) that turns cluster mode on (-1: single node; 0 picks a free one)")
	nodeName := fs.String("node-name", "", "this node's name in cluster listings, rule versions and audit entries; unique in a cluster (empty: the start of its id in cluster mode, else the host name)")
	join := fs.String("join", "", "gossip addresses of nodes to join, host:port[,host:port...]")
	advertise := fs.String("advertise-addr", "", "address other nodes and clients reach this node at (empty: --bind)")
	clusterKey := fs.String("cluster-key", "", "base64 of 16, 24 or 32 random bytes, the same on every node: encrypts gossip and authenticates peers (required in cluster mode)")
	redirect := fs.Bool("cluster-redirect", false, "answer -MOVED for keys served elsewhere instead of forwarding (cluster-aware clients only)")
	unreachable := fs.String("owner-unreachable", server.UnreachableLocal, "when a key's node does not answer: local (temporary local bucket), allow (fail open) or deny (fail closed); every decision is counted in INFO cluster")
	forwardTimeout := fs.Duration("forward-timeout", 200*time.Millisecond, "longest wait for a forwarded command's reply")
	gossipProfile := fs.String("gossip-profile", "fast", "failure detection: fast (a dead node is declared dead in ~1-1.5 s; a node stalled for a second or more may be falsely declared dead and rejoins) or lan (memberlist's LAN defaults, ~5 s; for shared or overcommitted CPUs)")
	replicas := fs.Int("replicas", 1, "nodes after each slot's owner that keep a streamed copy of its keys and take over when it dies (0: none, a dead node's keys restart empty)")
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(argv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var err error
	switch *protectedMode {
	case "yes":
		cfg.ProtectedMode = true
	case "no":
		cfg.ProtectedMode = false
	default:
		return fmt.Errorf("--protected-mode: want yes or no, got %q", *protectedMode)
	}
	if cfg.TLS.ClientAuth, err = tlsconf.ParseClientAuth(*tlsAuth); err != nil {
		return fmt.Errorf("--tls-auth-clients: %w", err)
	}
	if cfg.IdleTimeout, err = parseSeconds(*idle); err != nil {
		return fmt.Errorf("--timeout: %w", err)
	}
	if cfg.TCPKeepAlive, err = parseSeconds(*keepAlive); err != nil {
		return fmt.Errorf("--tcp-keepalive: %w", err)
	}
	if cfg.MaxKeyBytes, err = parseSize(*maxKey); err != nil {
		return fmt.Errorf("--max-key-bytes: %w", err)
	}
	if cfg.MaxBulkBytes, err = parseSize(*maxBulk); err != nil {
		return fmt.Errorf("--proto-max-bulk-len: %w", err)
	}
	if cfg.MaxQueryBytes, err = parseSize(*maxQuery); err != nil {
		return fmt.Errorf("--client-query-buffer-limit: %w", err)
	}
	mm, err := parseSize(*maxMemory)
	if err != nil {
		return fmt.Errorf("--maxmemory: %w", err)
	}
	cfg.MaxMemory = int64(mm)
	cfg.SnapshotInterval = int64(snapshotEvery)
	cfg.BusyReplyThreshold = int64(busyThreshold)
	lm, err := parseSize(*luaMemory)
	if err != nil {
		return fmt.Errorf("--lua-memory-limit: %w", err)
	}
	cfg.LuaMemoryLimit = int64(lm)
	switch *recoverMode {
	case "refuse":
	case "previous":
		cfg.RecoverPrevious = true
	default:
		return fmt.Errorf("--snapshot-recover: want refuse or previous, got %q", *recoverMode)
	}
	if *clusterPort >= 0 {
		cc := &server.ClusterConfig{NodeName: *nodeName, Port: *clusterPort, AdvertiseAddr: *advertise,
			Redirect: *redirect, Unreachable: *unreachable, ForwardTimeout: *forwardTimeout, Replicas: *replicas}
		if *join != "" {
			for _, j := range strings.Split(*join, ",") {
				if j = strings.TrimSpace(j); j != "" {
					cc.Join = append(cc.Join, j)
				}
			}
		}
		if *clusterKey == "" {
			return errors.New("--cluster-key is required with --cluster-port (e.g. the output of: head -c 32 /dev/urandom | base64)")
		}
		if cc.Key, err = shard.ParseKey(*clusterKey); err != nil {
			return fmt.Errorf("--cluster-key: %w", err)
		}
		switch *gossipProfile {
		case "lan":
			cc.Timing = shard.LANTiming()
		case "fast":
			cc.Timing = shard.FastTiming()
		default:
			return fmt.Errorf("--gossip-profile: want lan or fast, got %q", *gossipProfile)
		}
		if cc.NodeName == "" {
			// The cluster's default name, decided here so that the rules
			// engine records the same one in versions and audit entries.
			id, err := shard.LoadID(cfg.DataDir)
			if err != nil {
				return err
			}
			cc.NodeName = id[:8]
		}
		cfg.Cluster = cc
	} else if *join != "" || *clusterKey != "" || *redirect {
		return errors.New("--join, --cluster-key and --cluster-redirect need --cluster-port")
	}
	if *replicas < 0 || *replicas > 8 {
		return fmt.Errorf("--replicas: want 0 to 8, got %d", *replicas)
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	log.Info("rlserver starting", configAttrs(cfg)...)
	reg := metrics.New()
	state := status.New(reg, metrics.Version)
	// The HTTP side starts first so that probes see 503 (not a refused
	// connection) while the snapshot loads.
	if *metricsAddr != "" {
		hs, err := serveHTTP(*metricsAddr, *httpMaxConns, state, log)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		defer hs.Close()
	}

	srv, err := server.New(cfg, log)
	if err != nil {
		return err
	}
	// The rules engine opens before the cluster starts: joining exchanges
	// its state with the other nodes.
	node := *nodeName
	var rep *shard.Replicator
	repl := &replicatedRules{}
	if cfg.Cluster != nil {
		node = cfg.Cluster.NodeName
		rep = shard.NewReplicator(repl, log)
		cfg.Cluster.Replicator = rep
	} else if node == "" {
		node, _ = os.Hostname()
	}
	re, err := openRules(srv, cfg, *rulesFile, node, rep, log)
	if err != nil {
		return err
	}
	defer re.Close()
	repl.e = re
	srv.SetRules(re)
	if err := srv.Listen(); err != nil {
		return err
	}
	srv.RegisterMetrics(reg) // after Listen: the cluster has started
	state.SetJoinCheck(srv.ClusterJoined)
	reg.SetRules(ruleSource{re})

	var web *httpapi.Server
	if *httpAddr != "" {
		var webTLS *tls.Config
		if srv.TLS() != nil {
			webTLS = srv.TLS().ServerConfig() // HTTPS with the same files
		}
		web = httpapi.New(httpapi.Options{
			Addr:       *httpAddr,
			TLSConfig:  webTLS,
			Version:    version(),
			Now:        srv.Now,
			Log:        log,
			Health:     state.HealthFields,
			Observe:    reg.ObserveHTTP,
			Rules:      re,
			AdminToken: *adminToken,
			MemoryFull: srv.MemoryFull,
			MaxConns:   noLimitIfZero(*httpMaxConns),
		})
		state.MountOn(web.Handle)
		if err := web.Listen(); err != nil {
			srv.Close(context.Background())
			return fmt.Errorf("--http-addr: %w", err)
		}
	}
	// Signals are caught before readiness is announced: a SIGTERM sent as
	// soon as "ready" is logged must shut down gracefully, not kill.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ready := []any{"addr", srv.Addr().String(), "shards", cfg.Shards}
	if a := srv.TLSAddr(); a != nil {
		ready = append(ready, "tls", a.String())
	}
	if id, gossip := srv.ClusterNode(); id != "" {
		ready = append(ready, "node", id, "gossip", gossip)
	}
	if web != nil {
		ready = append(ready, "http", web.Addr().String())
	}
	state.SetPhase(status.Serving)
	log.Info("rlserver ready", ready...)

	served := make(chan error, 2)
	go func() { served <- srv.Serve() }()
	if web != nil {
		go func() {
			if err := web.Serve(); err != nil {
				served <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	if err := waitForShutdown(srv, sigs, hup, served, log); err != nil {
		return err
	}
	state.SetPhase(status.Draining)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if web != nil {
		// Requests in flight finish before the store goes away.
		if err := web.Shutdown(ctx); err != nil {
			log.Warn("http shutdown", "error", err)
		}
	}
	if err := srv.Close(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if srv.SaveOnExit() {
		// A snapshot succeeded moments ago (before the connections were
		// closed); this one adds the writes made since.
		if err := srv.Save(); err != nil {
			if srv.ForceExit() {
				log.Error("final snapshot failed; exiting anyway (SHUTDOWN FORCE)", "error", err)
				return nil
			}
			return fmt.Errorf("final snapshot (the one taken just before closing the connections is kept): %w", err)
		}
	}
	log.Info("rlserver stopped")
	return nil
}

// waitForShutdown returns when the server should stop (meanwhile SIGHUP
// reloads the TLS files): a client's SHUTDOWN
// (which has already taken its snapshot), or SIGTERM/SIGINT once a snapshot
// has succeeded. As Redis 7 does, a signal whose snapshot fails is logged
// and the server keeps serving: limits since the last good snapshot are not
// thrown away by a disk problem. Signal again once it is fixed, send
// SHUTDOWN NOSAVE (or FORCE), or SIGKILL to give them up.
func waitForShutdown(srv *server.Server, sigs, hup <-chan os.Signal, served <-chan error, log *slog.Logger) error {
	for {
		select {
		case <-hup:
			reloadTLS(srv, log)
		case sig := <-sigs:
			log.Info("signal received, shutting down", "signal", sig.String())
			if !srv.SaveOnExit() {
				return nil
			}
			if err := srv.Save(); err != nil {
				log.Error("errors trying to shut down: the snapshot before exiting failed; still serving (fix the cause and signal again, or SHUTDOWN NOSAVE)", "signal", sig.String(), "error", err)
				continue
			}
			return nil
		case <-srv.ShutdownRequested():
			return nil
		case err := <-served:
			return err
		}
	}
}

// reloadTLS rereads the TLS files (SIGHUP): new connections get the new
// certificate, established ones keep theirs; a file that does not load is
// logged and the previous certificate stays in use.
func reloadTLS(srv *server.Server, log *slog.Logger) {
	m := srv.TLS()
	if m == nil {
		log.Info("SIGHUP received; no TLS configured, nothing to reload")
		return
	}
	if err := m.Reload(); err != nil {
		leaf := m.Leaf()
		log.Error("TLS reload failed; keeping the current certificate", "error", err, "serial", leaf.SerialNumber.String())
		return
	}
	leaf := m.Leaf()
	log.Info("TLS certificate reloaded", "serial", leaf.SerialNumber.String(), "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
}

// outputLimitsFlag applies each --client-output-buffer-limit value.
type outputLimitsFlag struct{ o *server.OutputLimits }

func (f outputLimitsFlag) String() string {
	if f.o == nil {
		return ""
	}
	return f.o.String()
}

func (f outputLimitsFlag) Set(v string) error {
	return f.o.Set(v, func(s string) (int64, error) {
		n, err := parseSize(s)
		return int64(n), err
	})
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(len(*l), " values") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// parseSeconds reads a Redis-style number of seconds ("300") or a Go
// duration ("5m") and returns nanoseconds.
func parseSeconds(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > math.MaxInt64/int64(time.Second) {
			return 0, fmt.Errorf("%d seconds is out of range", n)
		}
		return n * 1e9, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want seconds or a duration such as 5m, got %q", s)
	}
	return int64(d), nil
}

// applyEnv sets each flag from RLSERVER_<NAME> when that variable is set;
// command-line flags parsed afterwards override it.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := "RLSERVER_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s: %w", name, e)
			}
		}
	})
	return err
}

// parseSize reads a byte size as Redis does: plain bytes or a k/kb/m/mb/g/gb
// suffix (k = 1000, kb = 1024).
func parseSize(s string) (int, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n * mult, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want text or json, got %q", format)
}

// version is the module version the binary was built from ("(devel)" for
// a build from a work tree), for /health.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// noLimitIfZero maps the flag's 0 (no limit) to httpapi's negative.
func noLimitIfZero(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// serveHTTP serves the observability endpoints on addr, with the API
// listener's connection cap and timeouts (a scraper that stops reading or
// keeps idle connections cannot hold them, or descriptors, forever).
func serveHTTP(addr string, maxConns int, state *status.State, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	ln = httpapi.LimitListener(ln, maxConns)
	mux := http.NewServeMux()
	state.Mount(mux, true)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go hs.Serve(ln)
	log.Info("metrics listening", "addr", ln.Addr().String())
	return hs, nil
}

// configAttrs is the effective configuration for the start line, secrets
// replaced by whether they are set.
func configAttrs(cfg server.Config) []any {
	return []any{
		"bind", cfg.Bind, "port", cfg.Port, "requirepass", cfg.RequirePass != "",
		"io_model", cfg.IOModel, "io_threads", cfg.IOThreads, "maxclients", cfg.MaxClients,
		"shards", cfg.Shards, "maxmemory", cfg.MaxMemory, "maxmemory_policy", cfg.MaxMemoryPolicy,
		"data_dir", cfg.DataDir, "snapshot_interval", time.Duration(cfg.SnapshotInterval).String(),
		"recover_previous", cfg.RecoverPrevious, "max_key_bytes", cfg.MaxKeyBytes,
		"proto_max_bulk_len", cfg.MaxBulkBytes, "client_query_buffer_limit", cfg.MaxQueryBytes,
		"max_log_limit", cfg.MaxLogLimit,
	}
}
