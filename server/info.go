package server

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rlserver/rlserver/engine"
)

// INFO answers as Redis 7 does, so that redis-cli --stat, redis_exporter
// and RedisInsight read it unchanged: the same sections in the same order,
// every field Redis 7.0 prints (fields with no meaning here hold the value
// an idle Redis shows, e.g. 0 forks), and a few rlserver fields after them.
// Section selection follows Redis 7: no argument or "default" gives the
// default sections, "all" and "everything" every section, and any other
// arguments name sections (case-insensitive; unknown names add nothing).

// infoSection is one "# Name" block: fields appends its key/value pairs.
type infoSection struct {
	name   string
	deflt  bool // part of plain INFO
	fields func(s *Server, c *Client, now int64, kv *infoKV)
}

var infoSections = []infoSection{
	{"Server", true, (*Server).infoServer},
	{"Clients", true, (*Server).infoClients},
	{"Memory", true, (*Server).infoMemory},
	{"Persistence", true, (*Server).infoPersistence},
	{"Stats", true, (*Server).infoStats},
	{"Replication", true, (*Server).infoReplication},
	{"CPU", true, (*Server).infoCPU},
	{"Modules", true, func(*Server, *Client, int64, *infoKV) {}},
	{"Commandstats", false, (*Server).infoCommandstats},
	{"Errorstats", true, (*Server).infoErrorstats},
	{"Latencystats", false, (*Server).infoLatencystats},
	{"Cluster", true, (*Server).infoCluster},
	{"Keyspace", true, (*Server).infoKeyspace},
}

// infoKV collects a section's lines.
type infoKV struct{ b *strings.Builder }

func (kv infoKV) s(k, v string) { kv.b.WriteString(k + ":" + v + "\r\n") }
func (kv infoKV) i(k string, v int64) {
	kv.b.WriteString(k + ":" + strconv.FormatInt(v, 10) + "\r\n")
}
func (kv infoKV) u(k string, v uint64) {
	kv.b.WriteString(k + ":" + strconv.FormatUint(v, 10) + "\r\n")
}
func (kv infoKV) f(k string, v float64, prec int) {
	kv.b.WriteString(k + ":" + strconv.FormatFloat(v, 'f', prec, 64) + "\r\n")
}

func cmdInfo(s *Server, c *Client, args [][]byte, now int64) {
	want := func(sec infoSection) bool {
		if len(args) == 1 {
			return sec.deflt
		}
		for _, a := range args[1:] {
			switch {
			case eqFold(a, "all"), eqFold(a, "everything"):
				return true
			case eqFold(a, "default"):
				if sec.deflt {
					return true
				}
			case eqFold(a, strings.ToLower(sec.name)):
				return true
			}
		}
		return false
	}
	var b strings.Builder
	for _, sec := range infoSections {
		if !want(sec) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + sec.name + "\r\n")
		sec.fields(s, c, now, &infoKV{&b})
	}
	c.out = appendVerbatim(c.out, c.resp, []byte(b.String()))
}

// runID identifies this process run, as Redis's run_id does.
var runID, replID = func() (string, string) {
	var b [40]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:20]), hex.EncodeToString(b[20:])
}()

var buildID = sync.OnceValue(func() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, st := range bi.Settings {
			if st.Key == "vcs.revision" && len(st.Value) >= 15 {
				return st.Value[:15]
			}
		}
	}
	return "0"
})

func (s *Server) infoServer(c *Client, now int64, kv *infoKV) {
	uptime := (now - s.started.UnixNano()) / 1e9
	exe, _ := os.Executable()
	mux := "epoll"
	if s.cfg.IOModel != IOEpoll {
		mux = "goroutine"
	}
	kv.s("redis_version", Version)
	kv.s("redis_git_sha1", "00000000")
	kv.s("redis_git_dirty", "0")
	kv.s("redis_build_id", buildID())
	kv.s("redis_mode", s.mode())
	kv.s("os", osName())
	kv.s("arch_bits", strconv.Itoa(strconv.IntSize))
	kv.s("monotonic_clock", "POSIX clock_gettime")
	kv.s("multiplexing_api", mux)
	kv.s("atomicvar_api", "go-sync-atomic")
	kv.s("gcc_version", "0.0.0")
	kv.i("process_id", int64(os.Getpid()))
	kv.s("process_supervised", "no")
	kv.s("run_id", runID)
	kv.s("tcp_port", s.infoPort())
	kv.i("server_time_usec", now/1e3)
	kv.i("uptime_in_seconds", uptime)
	kv.i("uptime_in_days", uptime/86400)
	kv.s("hz", "10")
	kv.s("configured_hz", "10")
	kv.i("lru_clock", (now/1e9)&(1<<24-1))
	kv.s("executable", exe)
	kv.s("config_file", "")
	kv.s("io_threads_active", "0")
	kv.s("rlserver_version", RLServerVersion)
	kv.s("go_version", runtime.Version())
}

// RLServerVersion is rlserver's own version (INFO rlserver_version).
const RLServerVersion = "0.1.0"

func (s *Server) infoPort() string {
	if s.ln != nil {
		addr := s.ln.Addr().String()
		return addr[strings.LastIndexByte(addr, ':')+1:]
	}
	return strconv.Itoa(s.cfg.Port)
}

func (s *Server) infoClients(c *Client, now int64, kv *infoKV) {
	s.mu.Lock()
	n := len(s.clients)
	s.mu.Unlock()
	kv.i("connected_clients", int64(n))
	kv.s("cluster_connections", "0")
	kv.i("maxclients", int64(s.cfg.MaxClients))
	kv.s("client_recent_max_input_buffer", "0")
	kv.s("client_recent_max_output_buffer", "0")
	kv.s("blocked_clients", "0")
	kv.i("tracking_clients", s.tracking.clients.Load())
	kv.s("clients_in_timeout_table", "0")
}

// humanBytes formats n as Redis's bytesToHuman does.
func humanBytes(n int64) string {
	f := float64(n)
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + "B"
	case n < 1<<20:
		return strconv.FormatFloat(f/(1<<10), 'f', 2, 64) + "K"
	case n < 1<<30:
		return strconv.FormatFloat(f/(1<<20), 'f', 2, 64) + "M"
	case n < 1<<40:
		return strconv.FormatFloat(f/(1<<30), 'f', 2, 64) + "G"
	}
	return strconv.FormatFloat(f/(1<<40), 'f', 2, 64) + "T"
}

func (s *Server) infoMemory(c *Client, now int64, kv *infoKV) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	used := s.store.Bytes()
	peak := s.memPeak.Load()
	for used > peak && !s.memPeak.CompareAndSwap(peak, used) {
		peak = s.memPeak.Load()
	}
	peak = max(peak, used)
	rss := rssBytes()
	overhead := int64(ms.HeapInuse) // the runtime's heap: buffers, tables, clients
	total := totalSystemMemory()
	perc := func(a, b int64) string {
		if b == 0 {
			return "0.00%"
		}
		return strconv.FormatFloat(float64(a)*100/float64(b), 'f', 2, 64) + "%"
	}
	ratio := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	kv.i("used_memory", used)
	kv.s("used_memory_human", humanBytes(used))
	kv.i("used_memory_rss", rss)
	kv.s("used_memory_rss_human", humanBytes(rss))
	kv.i("used_memory_peak", peak)
	kv.s("used_memory_peak_human", humanBytes(peak))
	kv.s("used_memory_peak_perc", perc(used, peak))
	kv.i("used_memory_overhead", overhead)
	kv.s("used_memory_startup", "0")
	kv.i("used_memory_dataset", used)
	kv.s("used_memory_dataset_perc", perc(used, used+overhead))
	kv.u("allocator_allocated", ms.HeapAlloc)
	kv.u("allocator_active", ms.HeapInuse)
	kv.u("allocator_resident", ms.Sys-ms.HeapReleased)
	kv.i("total_system_memory", total)
	kv.s("total_system_memory_human", humanBytes(total))
	for _, k := range []string{"used_memory_lua", "used_memory_vm_eval"} {
		kv.s(k, "0")
	}
	kv.s("used_memory_lua_human", "0B")
	kv.s("used_memory_scripts_eval", "0")
	nscripts := 0
	if s.scripts != nil {
		nscripts = s.scripts.Len()
	}
	kv.i("number_of_cached_scripts", int64(nscripts))
	for _, k := range []string{"number_of_functions", "number_of_libraries", "used_memory_vm_functions", "used_memory_vm_total"} {
		kv.s(k, "0")
	}
	kv.s("used_memory_vm_total_human", "0B")
	kv.s("used_memory_functions", "0")
	kv.s("used_memory_scripts", "0")
	kv.s("used_memory_scripts_human", "0B")
	kv.i("maxmemory", s.cfg.MaxMemory)
	kv.s("maxmemory_human", humanBytes(s.cfg.MaxMemory))
	kv.s("maxmemory_policy", s.cfg.MaxMemoryPolicy)
	kv.f("allocator_frag_ratio", ratio(int64(ms.HeapInuse), int64(ms.HeapAlloc)), 2)
	kv.i("allocator_frag_bytes", int64(ms.HeapInuse)-int64(ms.HeapAlloc))
	kv.f("allocator_rss_ratio", ratio(rss, int64(ms.HeapInuse)), 2)
	kv.i("allocator_rss_bytes", rss-int64(ms.HeapInuse))
	kv.f("rss_overhead_ratio", ratio(rss, int64(ms.Sys-ms.HeapReleased)), 2)
	kv.i("rss_overhead_bytes", rss-int64(ms.Sys-ms.HeapReleased))
	kv.f("mem_fragmentation_ratio", ratio(rss, used), 2)
	kv.i("mem_fragmentation_bytes", rss-used)
	for _, k := range []string{"mem_not_counted_for_evict", "mem_replication_backlog", "mem_total_replication_buffers", "mem_clients_slaves", "mem_clients_normal", "mem_cluster_links", "mem_aof_buffer"} {
		kv.s(k, "0")
	}
	kv.s("mem_allocator", "go-"+runtime.Version())
	kv.s("active_defrag_running", "0")
	kv.s("lazyfree_pending_objects", "0")
	kv.s("lazyfreed_objects", "0")
	kv.u("used_memory_heap", ms.HeapInuse)
	kv.u("used_memory_sys", ms.Sys)
}

func (s *Server) infoPersistence(c *Client, now int64, kv *infoKV) {
	kv.s("loading", "0")
	kv.s("async_loading", "0")
	for _, k := range []string{"current_cow_peak", "current_cow_size", "current_cow_size_age"} {
		kv.s(k, "0")
	}
	kv.s("current_fork_perc", "0.00")
	kv.s("current_save_keys_processed", "0")
	kv.s("current_save_keys_total", "0")
	last, status, inProgress, lastSec := s.started.Unix(), "ok", "0", int64(-1)
	var changes, saves int64
	if s.saver != nil {
		st := s.saver.Stats()
		if st.LastSave != 0 {
			last = st.LastSave
		}
		if !st.LastOK {
			status = "err"
		}
		if st.InProgress {
			inProgress = "1"
		}
		if st.Saves > 0 || st.Failures > 0 {
			lastSec = int64(st.LastDuration.Seconds() + 0.5)
		}
		changes, saves = st.ChangesPending, st.Saves
	}
	kv.i("rdb_changes_since_last_save", changes)
	kv.s("rdb_bgsave_in_progress", inProgress)
	kv.i("rdb_last_save_time", last)
	kv.s("rdb_last_bgsave_status", status)
	kv.i("rdb_last_bgsave_time_sec", lastSec)
	kv.s("rdb_current_bgsave_time_sec", "-1")
	kv.i("rdb_saves", saves)
	kv.s("rdb_last_cow_size", "0")
	kv.i("rdb_last_load_keys_expired", s.loaded.Expired)
	kv.i("rdb_last_load_keys_loaded", s.loaded.Keys)
	kv.s("aof_enabled", "0")
	kv.s("aof_rewrite_in_progress", "0")
	kv.s("aof_rewrite_scheduled", "0")
	kv.s("aof_last_rewrite_time_sec", "-1")
	kv.s("aof_current_rewrite_time_sec", "-1")
	kv.s("aof_last_bgrewrite_status", "ok")
	kv.s("aof_rewrites", "0")
	kv.s("aof_rewrites_consecutive_failures", "0")
	kv.s("aof_last_write_status", "ok")
	kv.s("aof_last_cow_size", "0")
	kv.s("module_fork_in_progress", "0")
	kv.s("module_fork_last_cow_size", "0")
	if s.saver == nil {
		kv.s("snapshot_enabled", "0")
		return
	}
	st := s.saver.Stats()
	kv.s("snapshot_enabled", "1")
	kv.s("snapshot_dir", s.cfg.DataDir)
	kv.i("snapshot_interval_sec", s.cfg.SnapshotInterval/1e9)
	kv.i("snapshot_last_duration_ms", st.LastDuration.Milliseconds())
	kv.i("snapshot_last_bytes", st.LastBytes)
	kv.i("snapshot_last_keys", st.LastKeys)
	kv.i("snapshot_failures", st.Failures)
	kv.s("snapshot_last_error", st.LastError)
}

func (s *Server) infoStats(c *Client, now int64, kv *infoKV) {
	in, out := s.netTotals()
	reads, writes := s.ioTotals()
	ops, inKbps, outKbps := s.rates.current()
	var rejectedCalls uint64
	for _, t := range s.commandTotals() {
		rejectedCalls += t.rejected
	}
	_, _, errs := s.errorTotals()
	kv.i("total_connections_received", s.stats.connections.Load())
	kv.u("total_commands_processed", s.totalCalls())
	kv.i("instantaneous_ops_per_sec", ops)
	kv.u("total_net_input_bytes", in)
	kv.u("total_net_output_bytes", out)
	kv.s("total_net_repl_input_bytes", "0")
	kv.s("total_net_repl_output_bytes", "0")
	kv.f("instantaneous_input_kbps", inKbps, 2)
	kv.f("instantaneous_output_kbps", outKbps, 2)
	kv.s("instantaneous_input_repl_kbps", "0.00")
	kv.s("instantaneous_output_repl_kbps", "0.00")
	kv.i("rejected_connections", s.stats.rejectedConns.Load())
	kv.s("sync_full", "0")
	kv.s("sync_partial_ok", "0")
	kv.s("sync_partial_err", "0")
	kv.i("expired_keys", s.stats.expiredKeys.Load())
	kv.s("expired_stale_perc", "0.00")
	kv.s("expired_time_cap_reached_count", "0")
	kv.s("expire_cycle_cpu_milliseconds", "0")
	kv.i("evicted_keys", s.stats.evictedKeys.Load())
	for _, k := range []string{"evicted_clients", "total_eviction_exceeded_time", "current_eviction_exceeded_time"} {
		kv.s(k, "0")
	}
	hits, misses := s.keyspaceTotals()
	kv.u("keyspace_hits", hits)
	kv.u("keyspace_misses", misses)
	for _, k := range []string{"pubsub_channels", "pubsub_patterns", "pubsubshard_channels",
		"latest_fork_usec", "total_forks", "migrate_cached_sockets", "slave_expires_tracked_keys",
		"active_defrag_hits", "active_defrag_misses", "active_defrag_key_hits", "active_defrag_key_misses",
		"total_active_defrag_time", "current_active_defrag_time"} {
		kv.s(k, "0")
	}
	kv.i("tracking_total_keys", int64(s.tracking.size()))
	kv.i("tracking_total_items", int64(s.tracking.size()))
	kv.s("tracking_total_prefixes", "0")
	kv.s("unexpected_error_replies", "0")
	kv.u("total_error_replies", errs)
	kv.s("dump_payload_sanitizations", "0")
	kv.u("total_reads_processed", reads)
	kv.u("total_writes_processed", writes)
	kv.s("io_threaded_reads_processed", "0")
	kv.s("io_threaded_writes_processed", "0")
	kv.s("reply_buffer_shrinks", "0")
	kv.s("reply_buffer_expands", "0")
	kv.u("rejected_calls", rejectedCalls)
	kv.i("expire_sweep_batches", s.stats.sweepBatches.Load())
	kv.i("protocol_errors", s.stats.protocolErrors.Load())
	kv.i("recovered_panics", s.stats.recoveredPanics.Load())
}

func (s *Server) infoReplication(c *Client, now int64, kv *infoKV) {
	kv.s("role", "master")
	kv.s("connected_slaves", "0")
	kv.s("master_failover_state", "no-failover")
	kv.s("master_replid", replID)
	kv.s("master_replid2", strings.Repeat("0", 40))
	kv.s("master_repl_offset", "0")
	kv.s("second_repl_offset", "-1")
	kv.s("repl_backlog_active", "0")
	kv.s("repl_backlog_size", "1048576")
	kv.s("repl_backlog_first_byte_offset", "0")
	kv.s("repl_backlog_histlen", "0")
	if s.cl != nil && s.cl.repl != nil {
		// The cluster's slot replicas (replica.go), as in INFO cluster.
		f := s.cl.repl.info()
		for i := 0; i+1 < len(f); i += 2 {
			kv.s(f[i], f[i+1])
		}
	}
}

func (s *Server) infoCPU(c *Client, now int64, kv *infoKV) {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	sec := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	kv.f("used_cpu_sys", sec(self.Stime), 6)
	kv.f("used_cpu_user", sec(self.Utime), 6)
	kv.f("used_cpu_sys_children", sec(children.Stime), 6)
	kv.f("used_cpu_user_children", sec(children.Utime), 6)
	// Go has no main thread that does the work: the process's figures.
	kv.f("used_cpu_sys_main_thread", sec(self.Stime), 6)
	kv.f("used_cpu_user_main_thread", sec(self.Utime), 6)
}

func (s *Server) infoCommandstats(c *Client, now int64, kv *infoKV) {
	for _, t := range s.commandTotals() {
		usec := t.hist.SumNs / 1e3
		per := 0.0
		if t.calls > 0 {
			per = float64(t.hist.SumNs) / 1e3 / float64(t.calls)
		}
		kv.s("cmdstat_"+t.cmd.name, "calls="+strconv.FormatUint(t.calls, 10)+
			",usec="+strconv.FormatUint(usec, 10)+
			",usec_per_call="+strconv.FormatFloat(per, 'f', 2, 64)+
			",rejected_calls="+strconv.FormatUint(t.rejected, 10)+
			",failed_calls="+strconv.FormatUint(t.failed, 10))
	}
}

func (s *Server) infoErrorstats(c *Client, now int64, kv *infoKV) {
	codes, counts, _ := s.errorTotals()
	for _, code := range codes {
		kv.s("errorstat_"+code, "count="+strconv.FormatUint(counts[code], 10))
	}
}

func (s *Server) infoLatencystats(c *Client, now int64, kv *infoKV) {
	for _, t := range s.commandTotals() {
		if t.hist.Count == 0 {
			continue
		}
		q := func(p float64) string { return strconv.FormatFloat(t.hist.Quantile(p)/1e3, 'f', 3, 64) }
		kv.s("latency_percentiles_usec_"+t.cmd.name, "p50="+q(0.5)+",p99="+q(0.99)+",p99.9="+q(0.999))
	}
}

func (s *Server) infoCluster(c *Client, now int64, kv *infoKV) {
	if s.cl == nil {
		kv.s("cluster_enabled", "0")
		return
	}
	f := s.cl.info(s)
	for i := 0; i+1 < len(f); i += 2 {
		kv.s(f[i], f[i+1])
	}
}

// ttlSamples is how many keys per shard INFO keyspace samples for avg_ttl
// (all of a shard's keys when it has no more): a few thousand over the
// default 256 shards, tens of microseconds.
const ttlSamples = 20

func (s *Server) infoKeyspace(c *Client, now int64, kv *infoKV) {
	n, expires := 0, 0
	var ttlSum int64
	var ttlN int
	s.eachShard(c, func(_ int, sh *engine.Shard) {
		n += sh.Len()
		expires += sh.Expiring()
		if sh.Expiring() > 0 {
			sum, k := sh.SampleTTL(now/1e6, ttlSamples)
			ttlSum, ttlN = ttlSum+sum, ttlN+k
		}
	})
	// avg_ttl: the mean time to live in ms of keys with an expiry, from a
	// sample (Redis estimates it from its expiry cycle's samples).
	var avg int64
	if ttlN > 0 {
		avg = ttlSum / int64(ttlN)
	}
	if n > 0 {
		kv.s("db0", "keys="+strconv.Itoa(n)+",expires="+strconv.Itoa(expires)+",avg_ttl="+strconv.FormatInt(avg, 10))
	}
}

// rssBytes reads the process's resident set size (0 where unknown).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// totalSystemMemory reads MemTotal (0 where unknown).
func totalSystemMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// osName is "Linux 6.1.0 x86_64" as Redis prints uname.
var osName = sync.OnceValue(func() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return runtime.GOOS + " " + runtime.GOARCH
	}
	str := func(a [65]int8) string {
		b := make([]byte, 0, len(a))
		for _, ch := range a {
			if ch == 0 {
				break
			}
			b = append(b, byte(ch))
		}
		return string(b)
	}
	return str(u.Sysname) + " " + str(u.Release) + " " + str(u.Machine)
})

// rateSampler computes instantaneous_ops_per_sec and the kbps figures as
// Redis does: a sample every 100 ms, the mean of the last 16.
type rateSampler struct {
	mu              sync.Mutex
	lastT           time.Time
	lastOps, lastIn uint64
	lastOut         uint64
	ops, in, out    [16]float64
	idx             int
}

func (r *rateSampler) sample(t time.Time, ops, in, out uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.lastT.IsZero() {
		dt := t.Sub(r.lastT).Seconds()
		if dt > 0 {
			r.ops[r.idx] = float64(ops-r.lastOps) / dt
			r.in[r.idx] = float64(in-r.lastIn) / dt / 1024
			r.out[r.idx] = float64(out-r.lastOut) / dt / 1024
			r.idx = (r.idx + 1) % len(r.ops)
		}
	}
	r.lastT, r.lastOps, r.lastIn, r.lastOut = t, ops, in, out
}

func (r *rateSampler) current() (ops int64, inKbps, outKbps float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var so, si, sout float64
	for i := range r.ops {
		so += r.ops[i]
		si += r.in[i]
		sout += r.out[i]
	}
	n := float64(len(r.ops))
	return int64(so/n + 0.5), si / n, sout / n
}

// sampleLoop feeds the rate sampler every 100 ms until the server closes.
func (s *Server) sampleLoop() {
	defer s.wg.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case now := <-t.C:
			in, out := s.netTotals()
			s.rates.sample(now, s.totalCalls(), in, out)
		}
	}
}
