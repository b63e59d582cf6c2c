package server

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/metrics"
	"github.com/tidwall/redcon"
)

// SLOWLOG and LATENCY, as Redis 7 answers them. The hot path pays one
// comparison per command against a threshold held in an atomic; only a
// command over it takes the log's mutex.

// slowEntry is one SLOWLOG record; args are copies, capped as Redis caps
// them (32 arguments, 128 bytes each).
type slowEntry struct {
	id       int64
	unix     int64
	usec     int64
	args     []string
	addr     string
	name     string
	received int
}

type slowlog struct {
	thresholdNs atomic.Int64 // math.MaxInt64: off
	maxLen      atomic.Int64
	mu          sync.Mutex
	nextID      int64
	entries     []slowEntry // newest last
}

// setThreshold takes Redis's slowlog-log-slower-than in µs (<0: off).
func (l *slowlog) setThreshold(us int64) {
	if us < 0 {
		l.thresholdNs.Store(math.MaxInt64)
		return
	}
	l.thresholdNs.Store(us * 1e3)
}

func (l *slowlog) thresholdUs() int64 {
	ns := l.thresholdNs.Load()
	if ns == math.MaxInt64 {
		return -1
	}
	return ns / 1e3
}

func (l *slowlog) add(c *Client, cmd *command, args [][]byte, ns int64, now time.Time) {
	if cmd.flags&flagNoSlowlog != 0 {
		return
	}
	n := min(len(args), 32)
	e := slowEntry{unix: now.Unix(), usec: ns / 1e3, addr: c.addr}
	for i := range n {
		a := args[i]
		if i == 31 && len(args) > 32 {
			e.args = append(e.args, "... ("+strconv.Itoa(len(args)-31)+" more arguments)")
			break
		}
		if len(a) > 128 {
			e.args = append(e.args, string(a[:128])+"... ("+strconv.Itoa(len(a)-128)+" more bytes)")
			continue
		}
		e.args = append(e.args, string(a))
	}
	c.infoMu.Lock()
	e.name = c.name
	c.infoMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	e.id = l.nextID
	l.nextID++
	l.entries = append(l.entries, e)
	if over := len(l.entries) - int(l.maxLen.Load()); over > 0 {
		l.entries = slices.Delete(l.entries, 0, over)
	}
}

func cmdSlowlog(s *Server, c *Client, args [][]byte, now int64) {
	l := &s.slowlog
	sub := args[1]
	switch {
	case eqFold(sub, "get") && len(args) <= 3:
		count := int64(10)
		if len(args) == 3 {
			v, ok := parseRedisInt(args[2])
			if !ok || v < -1 {
				c.out = appendError(c.out, "ERR count should be greater than or equal to -1")
				return
			}
			count = v
		}
		l.mu.Lock()
		n := len(l.entries)
		if count >= 0 && int64(n) > count {
			n = int(count)
		}
		c.out = redcon.AppendArray(c.out, n)
		for i := 0; i < n; i++ {
			e := l.entries[len(l.entries)-1-i]
			c.out = redcon.AppendArray(c.out, 6)
			c.out = redcon.AppendInt(c.out, e.id)
			c.out = redcon.AppendInt(c.out, e.unix)
			c.out = redcon.AppendInt(c.out, e.usec)
			c.out = redcon.AppendArray(c.out, len(e.args))
			for _, a := range e.args {
				c.out = redcon.AppendBulkString(c.out, a)
			}
			c.out = redcon.AppendBulkString(c.out, e.addr)
			c.out = redcon.AppendBulkString(c.out, e.name)
		}
		l.mu.Unlock()
	case eqFold(sub, "len") && len(args) == 2:
		l.mu.Lock()
		n := len(l.entries)
		l.mu.Unlock()
		c.out = redcon.AppendInt(c.out, int64(n))
	case eqFold(sub, "reset") && len(args) == 2:
		l.mu.Lock()
		l.entries = nil
		l.mu.Unlock()
		c.out = redcon.AppendOK(c.out)
	case eqFold(sub, "help") && len(args) == 2:
		appendHelp(c, "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"GET [<count>]",
			"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
			"    Entries are made of:",
			"    id, timestamp, time in microseconds, arguments array, client IP and port,",
			"    client name",
			"LEN",
			"    Return the length of the slowlog.",
			"RESET",
			"    Reset the slowlog.",
			"HELP",
			"    Prints this help.")
	default:
		c.out = appendError(c.out, unknownSubcommand(sub, "SLOWLOG"))
	}
}

func appendHelp(c *Client, lines ...string) {
	c.out = redcon.AppendArray(c.out, len(lines))
	for _, l := range lines {
		c.out = redcon.AppendString(c.out, l)
	}
}

// latencyMonitor keeps LATENCY's events: the latest 160 samples of each
// (one per second at most, the worst of that second) and the maximum.
type latencyMonitor struct {
	thresholdNs atomic.Int64 // math.MaxInt64: off (latency-monitor-threshold 0)
	mu          sync.Mutex
	events      map[string]*latencyEvent
}

type latencySample struct{ unix, ms int64 }

type latencyEvent struct {
	samples []latencySample // oldest first, at most 160
	max     int64
}

func (m *latencyMonitor) setThreshold(ms int64) {
	if ms <= 0 {
		m.thresholdNs.Store(math.MaxInt64)
		return
	}
	m.thresholdNs.Store(ms * 1e6)
}

func (m *latencyMonitor) thresholdMs() int64 {
	ns := m.thresholdNs.Load()
	if ns == math.MaxInt64 {
		return 0
	}
	return ns / 1e6
}

// observe records an event that took ns, if it is over the threshold.
func (m *latencyMonitor) observe(event string, ns int64, now time.Time) {
	if ns < m.thresholdNs.Load() {
		return
	}
	ms := ns / 1e6
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.events == nil {
		m.events = make(map[string]*latencyEvent)
	}
	ev := m.events[event]
	if ev == nil {
		ev = &latencyEvent{}
		m.events[event] = ev
	}
	ts := now.Unix()
	if n := len(ev.samples); n > 0 && ev.samples[n-1].unix == ts {
		ev.samples[n-1].ms = max(ev.samples[n-1].ms, ms)
	} else {
		ev.samples = append(ev.samples, latencySample{ts, ms})
		if len(ev.samples) > 160 {
			ev.samples = ev.samples[1:]
		}
	}
	ev.max = max(ev.max, ms)
}

func cmdLatency(s *Server, c *Client, args [][]byte, now int64) {
	m := &s.latency
	sub := args[1]
	switch {
	case eqFold(sub, "latest") && len(args) == 2:
		m.mu.Lock()
		names := sortedKeys(m.events)
		c.out = redcon.AppendArray(c.out, len(names))
		for _, name := range names {
			ev := m.events[name]
			last := ev.samples[len(ev.samples)-1]
			c.out = redcon.AppendArray(c.out, 4)
			c.out = redcon.AppendBulkString(c.out, name)
			c.out = redcon.AppendInt(c.out, last.unix)
			c.out = redcon.AppendInt(c.out, last.ms)
			c.out = redcon.AppendInt(c.out, ev.max)
		}
		m.mu.Unlock()
	case eqFold(sub, "history"):
		if len(args) != 3 {
			c.out = appendError(c.out, "ERR wrong number of arguments for 'latency|history' command")
			return
		}
		m.mu.Lock()
		var samples []latencySample
		if ev := m.events[string(args[2])]; ev != nil {
			samples = ev.samples
		}
		c.out = redcon.AppendArray(c.out, len(samples))
		for _, sm := range samples {
			c.out = redcon.AppendArray(c.out, 2)
			c.out = redcon.AppendInt(c.out, sm.unix)
			c.out = redcon.AppendInt(c.out, sm.ms)
		}
		m.mu.Unlock()
	case eqFold(sub, "reset"):
		m.mu.Lock()
		n := 0
		if len(args) == 2 {
			n = len(m.events)
			m.events = nil
		}
		for _, a := range args[2:] {
			if _, ok := m.events[string(a)]; ok {
				delete(m.events, string(a))
				n++
			}
		}
		m.mu.Unlock()
		c.out = redcon.AppendInt(c.out, int64(n))
	case eqFold(sub, "histogram"):
		s.latencyHistogram(c, args[2:])
	case eqFold(sub, "doctor") && len(args) == 2:
		m.mu.Lock()
		text := "rlserver latency report: no event went over latency-monitor-threshold (" + strconv.FormatInt(m.thresholdMs(), 10) + " ms; 0 disables the monitor).\n"
		if len(m.events) > 0 {
			text = "rlserver latency report (latency-monitor-threshold " + strconv.FormatInt(m.thresholdMs(), 10) + " ms):\n"
			for _, name := range sortedKeys(m.events) {
				ev := m.events[name]
				var sum int64
				for _, sm := range ev.samples {
					sum += sm.ms
				}
				text += "- " + name + ": " + strconv.Itoa(len(ev.samples)) + " latency spikes (average " +
					strconv.FormatInt(sum/int64(len(ev.samples)), 10) + "ms, worst " + strconv.FormatInt(ev.max, 10) + "ms)\n"
			}
		}
		m.mu.Unlock()
		c.out = appendVerbatim(c.out, c.resp, []byte(text))
	case eqFold(sub, "help") && len(args) == 2:
		appendHelp(c, "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"DOCTOR",
			"    Return a human readable latency analysis report.",
			"HISTORY <event>",
			"    Return time-latency samples for the <event> class.",
			"LATEST",
			"    Return the latest latency samples for all events.",
			"RESET [<event> ...]",
			"    Reset latency data of one or more <event> classes.",
			"    (default: reset all data for all event classes)",
			"HISTOGRAM [COMMAND ...]",
			"    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
			"    If no commands are specified then all histograms are replied.",
			"HELP",
			"    Prints this help.")
	default:
		c.out = appendError(c.out, unknownSubcommand(sub, "LATENCY"))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// latencyHistogram is LATENCY HISTOGRAM [command ...]: per command, its
// calls and the cumulative count at power-of-two microsecond bounds where
// it grows, as Redis 7 answers (from the fine buckets: a bucket counts
// under the first bound at or above its upper edge).
func (s *Server) latencyHistogram(c *Client, names [][]byte) {
	var picked []cmdTotals
	for _, t := range s.commandTotals() {
		if t.calls == 0 {
			continue
		}
		if len(names) > 0 && !slices.ContainsFunc(names, func(n []byte) bool { return eqFold(n, t.cmd.name) }) {
			continue
		}
		picked = append(picked, t)
	}
	c.out = appendMap(c.out, c.resp, len(picked))
	for _, t := range picked {
		type point struct{ us, cum uint64 }
		var pts []point
		var cum uint64
		for i, n := range t.hist.Fine {
			if n == 0 {
				continue
			}
			cum += n
			us := uint64(1)
			for us*1000 < metrics.FineUpper(i) {
				us *= 2
			}
			if len(pts) > 0 && pts[len(pts)-1].us == us {
				pts[len(pts)-1].cum = cum
			} else {
				pts = append(pts, point{us, cum})
			}
		}
		c.out = redcon.AppendBulkString(c.out, t.cmd.name)
		c.out = appendMap(c.out, c.resp, 2)
		c.out = redcon.AppendBulkString(c.out, "calls")
		c.out = redcon.AppendInt(c.out, int64(t.calls))
		c.out = redcon.AppendBulkString(c.out, "histogram_usec")
		c.out = appendMap(c.out, c.resp, len(pts))
		for _, p := range pts {
			c.out = redcon.AppendInt(c.out, int64(p.us))
			c.out = redcon.AppendInt(c.out, int64(p.cum))
		}
	}
}
