package server

import (
	"errors"
	"fmt"

	"github.com/rlserver/rlserver/tlsconf"
)

// I/O models: how connections are served.
const (
	// IOEpoll serves connections from one epoll event loop per CPU (Linux).
	IOEpoll = "epoll"
	// IOGoroutine serves each connection from its own goroutine.
	IOGoroutine = "goroutine"
)

// Config is everything the server needs to run. The zero value is not
// valid; start from DefaultConfig.
type Config struct {
	// Bind is the address to listen on. Default 127.0.0.1: safe by default.
	Bind string
	// Port is the RESP port; 0 picks a free port (tests), except with
	// TLSPort set, where 0 means no plaintext listener (TLS only), as
	// Redis's --port 0.
	Port int
	// RequirePass, when not empty, is the default user's password
	// (Redis's requirepass): clients AUTH first. Only its hash is kept
	// once the server is built.
	RequirePass string
	// Users are ACL user definitions, each "name rule rule ..." in Redis's
	// ACL syntax (--user, repeatable). A definition of "default" replaces
	// the default user, RequirePass included.
	Users []string
	// ACLFile is an ACL file in Redis's format (--aclfile), loaded at
	// start and by ACL LOAD, written by ACL SAVE. Exclusive with Users.
	ACLFile string
	// ProtectedMode refuses clients that do not come from the loopback
	// interface while the default user needs no password. Default true,
	// as in Redis.
	ProtectedMode bool
	// TLSPort serves RESP over TLS on Bind:TLSPort; 0 (the default)
	// serves no TLS. TLS connections are served by the goroutine front
	// whatever IOModel says.
	TLSPort int
	// TLS names the certificate, key and CA files and the client
	// certificate policy (tls-auth-clients); used when TLSPort is set.
	TLS tlsconf.Files
	// IdleTimeout closes a client after this many nanoseconds without
	// input (Redis's timeout); 0, the default, never does.
	IdleTimeout int64
	// TCPKeepAlive is the TCP keepalive period in nanoseconds (Redis's
	// tcp-keepalive): probes start after this much silence and repeat
	// every third of it; 0 turns keepalive off. Default 300s, as Redis:
	// dead peers are found and their connections released.
	TCPKeepAlive int64
	// OutputLimits are client-output-buffer-limit per client class.
	// Default: DefaultOutputLimits.
	OutputLimits OutputLimits
	// IOModel is IOEpoll (the default on Linux: no goroutine wake-up per
	// request) or IOGoroutine (portable).
	IOModel string
	// IOThreads is the number of epoll event loops; 0 means half the CPUs
	// (GOMAXPROCS/2, at least one).
	IOThreads int
	// MaxClients caps concurrent connections (Redis's default, 10000).
	MaxClients int
	// Shards is the number of store shards (rounded to a power of two).
	// Default 256: enough to keep two cores from contending, few enough
	// that per-shard tables stay dense.
	Shards int
	// MaxKeyBytes caps a key's length. Default 64 KiB.
	MaxKeyBytes int
	// MaxBulkBytes caps one argument's length (Redis: proto-max-bulk-len).
	// Default 1 MiB: a limiter stores no large values.
	MaxBulkBytes int
	// MaxArgs caps the number of arguments of one command. Default
	// 2^31-1, Redis's own bound: memory is bounded by MaxQueryBytes, which
	// counts a pending command's arguments as well as its bytes.
	MaxArgs int
	// MaxQueryBytes caps what one incomplete command may hold per
	// connection (its bytes, and 32 bytes per argument parsed so far; a
	// client that needs more is closed, as Redis does), and the size of a
	// MULTI queue. Clients that must still authenticate get 1 MiB at most.
	// Default 8 MiB.
	MaxQueryBytes int
	// SendBuffer is the kernel send buffer of each client socket
	// (SO_SNDBUF; Linux doubles it); 0 keeps the kernel's autotuning,
	// which lets a client that never reads absorb megabytes of replies
	// (and the CPU to compute them) before backpressure stops it. Default
	// 64 KiB: 128 KiB in flight is far more than limiter replies need.
	SendBuffer int
	// SweepEvery is how often the active expiry sweeper runs. Default
	// 100ms, Redis's hz 10.
	SweepEvery int64 // nanoseconds
	// SweepBudget is how many records each sweep examines per shard.
	SweepBudget int
	// MaxMemory caps the store's logical size in bytes (engine.Store.Bytes);
	// 0 means no limit. When it is reached, commands that would create a
	// key get Redis's OOM error (existing keys keep working), unless the
	// policy evicts.
	MaxMemory int64
	// MaxMemoryPolicy is "noeviction" (the default, as in Redis) or
	// "volatile-ttl" (evict the keys nearest to expiry).
	MaxMemoryPolicy string
	// DataDir holds snapshots; empty disables persistence. Default "data".
	DataDir string
	// SnapshotInterval is the time between periodic snapshots (ns); 0
	// disables them (SAVE, BGSAVE and shutdown still save). Default 30s:
	// a kill -9 loses at most 30 s of limiter state, and a snapshot of 1M
	// keys costs well under a second of one core (see the README).
	SnapshotInterval int64
	// RecoverPrevious starts from the previous snapshot when the newest is
	// unusable, instead of refusing to start.
	RecoverPrevious bool
	// MaxLogLimit caps SWLOG's limit: its memory per key grows with it.
	// Default 10000 (80 KB per key at most); at most MaxLogLimitCap, so
	// one command can never append more than 128 MiB to a log.
	MaxLogLimit int
	// BusyReplyThreshold is how long a script runs (ns) before clients
	// that need its keys get -BUSY and SCRIPT KILL may stop it (Redis's
	// busy-reply-threshold). Default 5 s, Redis's.
	BusyReplyThreshold int64
	// LuaMemoryLimit caps what one script may allocate (bytes); past it the
	// script stops with an error. Default 256 MiB.
	LuaMemoryLimit int64
	// MaxTrackedKeys caps the client-tracking table (Redis's
	// tracking-table-max-keys, 1M).
	MaxTrackedKeys int
	// SlowlogSlowerThan logs commands that take at least this many
	// microseconds in SLOWLOG (Redis's slowlog-log-slower-than); negative
	// disables it, 0 logs every command. Default 10000 (10 ms), as Redis.
	SlowlogSlowerThan int64
	// SlowlogMaxLen is how many SLOWLOG entries are kept. Default 128.
	SlowlogMaxLen int
	// ACLLogMaxLen is how many ACL LOG entries are kept (Redis's
	// acllog-max-len). Default 128, as Redis; 0 keeps none.
	ACLLogMaxLen int
	// LatencyMonitorThreshold records LATENCY events that take at least
	// this many milliseconds; 0 (the default, as in Redis) disables it.
	LatencyMonitorThreshold int64
	// Cluster, when set, runs the node in a cluster (see ClusterConfig);
	// nil is single-node mode, answering exactly as a standalone Redis.
	Cluster *ClusterConfig
}

// MaxLogLimitCap is the largest MaxLogLimit accepted (2^24 entries).
const MaxLogLimitCap = 1 << 24

// (Cluster is declared with the rest of cluster mode in cluster.go.)

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		Bind:               "127.0.0.1",
		Port:               6379,
		IOModel:            defaultIOModel(),
		MaxClients:         10000,
		Shards:             256,
		MaxKeyBytes:        64 << 10,
		MaxBulkBytes:       1 << 20,
		MaxArgs:            maxMultibulk,
		MaxQueryBytes:      8 << 20,
		SendBuffer:         64 << 10,
		SweepEvery:         100e6,
		SweepBudget:        64,
		MaxTrackedKeys:     1 << 20,
		SlowlogSlowerThan:  10000,
		SlowlogMaxLen:      128,
		ACLLogMaxLen:       128,
		BusyReplyThreshold: 5e9,
		LuaMemoryLimit:     256 << 20,
		MaxLogLimit:        10000,
		DataDir:            "data",
		MaxMemoryPolicy:    "noeviction",
		SnapshotInterval:   30e9,
		ProtectedMode:      true,
		TCPKeepAlive:       300e9,
		OutputLimits:       DefaultOutputLimits(),
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("port %d out of range 0-65535", c.Port)
	case c.TLSPort < 0 || c.TLSPort > 65535:
		return fmt.Errorf("tls-port %d out of range 0-65535", c.TLSPort)
	case c.TLSPort != 0 && c.TLSPort == c.Port:
		return errors.New("port and tls-port must differ")
	case len(c.Users) > 0 && c.ACLFile != "":
		return errors.New("users defined with --user and an ACL file (--aclfile) cannot be used together")
	case c.IdleTimeout < 0:
		return errors.New("timeout must not be negative")
	case c.TCPKeepAlive < 0:
		return errors.New("tcp-keepalive must not be negative")
	case c.IOModel != IOEpoll && c.IOModel != IOGoroutine:
		return fmt.Errorf("io-model must be %q or %q", IOEpoll, IOGoroutine)
	case c.IOModel == IOEpoll && !epollSupported:
		return errors.New("io-model epoll needs Linux")
	case c.IOThreads < 0 || c.IOThreads > 1024:
		return errors.New("io-threads must be between 0 and 1024")
	case c.MaxClients < 1:
		return errors.New("maxclients must be at least 1")
	case c.Shards < 1 || c.Shards > 1<<16:
		return errors.New("shards must be between 1 and 65536")
	case c.MaxKeyBytes < 1:
		return errors.New("max-key-bytes must be at least 1")
	case c.MaxBulkBytes < c.MaxKeyBytes:
		return errors.New("proto-max-bulk-len must be at least max-key-bytes")
	case c.MaxArgs < 8 || c.MaxArgs > maxMultibulk:
		return errors.New("max-args must be between 8 and 2^31-1")
	case c.MaxQueryBytes < c.MaxBulkBytes+64:
		return errors.New("client-query-buffer-limit must exceed proto-max-bulk-len")
	case c.MaxQueryBytes > 1<<30:
		return errors.New("client-query-buffer-limit must be at most 1gb")
	case c.SendBuffer < 0:
		return errors.New("send buffer must not be negative")
	case c.SweepEvery <= 0 || c.SweepBudget < 1:
		return errors.New("sweeper interval and budget must be positive")
	case c.MaxMemory < 0:
		return errors.New("maxmemory must not be negative")
	case c.MaxMemoryPolicy != "noeviction" && c.MaxMemoryPolicy != "volatile-ttl":
		return fmt.Errorf("maxmemory-policy %q is not supported: use noeviction or volatile-ttl", c.MaxMemoryPolicy)
	case c.SnapshotInterval < 0:
		return errors.New("snapshot-interval must not be negative")
	case c.MaxLogLimit < 1 || c.MaxLogLimit > MaxLogLimitCap:
		return fmt.Errorf("max-log-limit must be between 1 and %d", MaxLogLimitCap)
	case c.BusyReplyThreshold <= 0:
		return errors.New("busy-reply-threshold must be positive")
	case c.LuaMemoryLimit < 1<<20:
		return errors.New("lua-memory-limit must be at least 1mb")
	case c.MaxTrackedKeys < 1:
		return errors.New("tracking-table-max-keys must be at least 1")
	case c.SlowlogMaxLen < 0:
		return errors.New("slowlog-max-len must not be negative")
	case c.ACLLogMaxLen < 0:
		return errors.New("acllog-max-len must not be negative")
	case c.LatencyMonitorThreshold < 0:
		return errors.New("latency-monitor-threshold must not be negative")
	}
	if err := errors.Join(c.OutputLimits.Normal.validate(), c.OutputLimits.PubSub.validate()); err != nil {
		return err
	}
	if c.Cluster != nil {
		if err := c.Cluster.validate(); err != nil {
			return err
		}
	}
	if c.TLSPort != 0 {
		return c.TLS.Validate()
	}
	return nil
}

func defaultIOModel() string {
	if epollSupported {
		return IOEpoll
	}
	return IOGoroutine
}
