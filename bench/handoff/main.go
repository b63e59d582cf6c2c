// Command handoff measures what a handoff costs the clients of an rlserver
// cluster: CL.THROTTLE latency while the cluster is quiet, while a fourth
// node joins, and while it leaves again (SIGTERM), with the keys' state
// checked after each change.
//
//	go run ./bench/handoff -bin bench/out/rlserver
//
// It starts three nodes on 127.0.0.1, loads -keys keys per algorithm
// (CL.THROTTLE and SW.THROTTLE, 10 per hour each, three calls per key),
// then sends CL.THROTTLE to random loaded keys through node 1 on -conns
// connections at a fixed rate (open loop: each call is timed from when it
// was due, so a stalled connection cannot hide its delay). Each of -cycles
// cycles probes a quiet window (-window), a join (from the new node's start
// until every node is settled, at least -window), a quiet window with four
// nodes, and the new node's graceful leave; each change's p99 is divided by
// the p99 of the quiet window just before it. After each change every key
// is peeked (CL.PEEK, SW.PEEK) with no call in flight: its state must show
// exactly the calls it allowed (none over 10, none reset). It prints one
// Markdown row per window and the median ratios, and exits 1 when a check
// fails or a median ratio exceeds -max-ratio.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	bin      = flag.String("bin", "bench/out/rlserver", "the rlserver binary")
	nkeys    = flag.Int("keys", 10000, "keys per algorithm")
	conns    = flag.Int("conns", 4, "probe connections (to node 1)")
	rate     = flag.Int("rate", 2000, "probe calls per second, all connections together")
	window   = flag.Duration("window", 3*time.Second, "length of each quiet window, and the least length of each change's window")
	tail     = flag.Duration("tail", 500*time.Millisecond, "probing after the cluster settles, when that ends a change's window")
	cycles   = flag.Int("cycles", 3, "join/leave cycles")
	maxRatio = flag.Float64("max-ratio", 2, "fail when a phase's p99 exceeds this × the quiet p99")
	extra    = flag.String("flags", "", "extra flags for every node (space separated)")
	fwdTO    = flag.Duration("forward-timeout", 2*time.Second, "the nodes' --forward-timeout: long, so that a starved node on a shared machine is waited for rather than answered by policy (which the state check could not account for)")
	keep     = flag.Bool("keep-logs", false, "keep the nodes' logs (printed directory)")
)

var clusterKey = "cmxzZXJ2ZXIgaGFuZG9mZiBiZW5jaCBrZXkgMzJieXQ=" // 32 bytes

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "handoff:", err)
		os.Exit(1)
	}
}

// node is one running rlserver.
type node struct {
	name   string
	cmd    *exec.Cmd
	addr   string
	gossip string
	log    string // its stderr, a file
	exited chan struct{}
}

var readyRE = regexp.MustCompile(`rlserver ready" addr=([0-9.]+:\d+)`)
var gossipRE = regexp.MustCompile(` gossip=(\d+)`)

func start(dir, name, join string) (*node, error) {
	args := []string{"--bind", "127.0.0.1", "--port", "0", "--http-addr", "", "--data-dir", filepath.Join(dir, name),
		"--snapshot-interval", "0", "--cluster-port", "0", "--cluster-key", clusterKey, "--node-name", name,
		"--forward-timeout", fwdTO.String()}
	if join != "" {
		args = append(args, "--join", join)
	}
	args = append(args, strings.Fields(*extra)...)
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(*bin, args...)
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	n := &node{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(n.exited) }()
	for range 200 {
		b, _ := os.ReadFile(logPath)
		m, g := readyRE.FindSubmatch(b), gossipRE.FindSubmatch(b)
		if m != nil && g != nil {
			n.addr, n.gossip = string(m[1]), "127.0.0.1:"+string(g[1])
			return n, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("%s did not start (log %s)", name, logPath)
}

// conn is a plain RESP connection for setup, INFO and checks.
type conn struct {
	c net.Conn
	r *bufio.Reader
}

func dial(addr string) (*conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &conn{c: c, r: bufio.NewReaderSize(c, 1<<16)}, nil
}

func appendCmd(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// reply reads one RESP2 reply: an int slice for arrays of integers, a
// string for bulk/simple strings, an error for error replies.
func (c *conn) reply() (any, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	switch line[0] {
	case '-':
		return errors.New(line[1:]), nil
	case '+':
		return line[1:], nil
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, _ := strconv.Atoi(line[1:])
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := ioReadFull(c.r, b); err != nil {
			return nil, err
		}
		return string(b[:n]), nil
	case '*':
		n, _ := strconv.Atoi(line[1:])
		out := make([]int64, 0, n)
		for range n {
			v, err := c.reply()
			if err != nil {
				return nil, err
			}
			i, ok := v.(int64)
			if !ok {
				return nil, fmt.Errorf("array element %v", v)
			}
			out = append(out, i)
		}
		return out, nil
	}
	return nil, fmt.Errorf("bad reply line %q", line)
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := r.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// pipeline sends cmds and returns their replies.
func (c *conn) pipeline(cmds [][]string) ([]any, error) {
	var b []byte
	for _, a := range cmds {
		b = appendCmd(b, a...)
	}
	c.c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.c.Write(b); err != nil {
		return nil, err
	}
	out := make([]any, len(cmds))
	for i := range cmds {
		v, err := c.reply()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func info(addr string) (map[string]string, error) {
	c, err := dial(addr)
	if err != nil {
		return nil, err
	}
	defer c.c.Close()
	r, err := c.pipeline([][]string{{"INFO", "cluster"}})
	if err != nil {
		return nil, err
	}
	s, _ := r[0].(string)
	m := map[string]string{}
	for _, l := range strings.Split(s, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}

// settled waits until every node sees all of them, says it is settled, and
// they serve the 16384 slots between them.
func settled(nodes []*node, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		total, ok := 0, true
		for _, n := range nodes {
			in, err := info(n.addr)
			if err != nil {
				return err
			}
			served, _ := strconv.Atoi(in["cluster_slots_served"])
			total += served
			if in["cluster_members"] != strconv.Itoa(len(nodes)) || in["cluster_settled"] != "1" || served == 0 {
				ok = false
			}
		}
		if ok && total == 16384 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled after %v", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// policyAnswers returns the unreachable-owner decisions of each node still
// running, by name (each counter only grows).
func policyAnswers(nodes []*node) map[string]int64 {
	out := map[string]int64{}
	for _, nd := range nodes {
		select {
		case <-nd.exited:
			continue
		default:
		}
		in, err := info(nd.addr)
		if err != nil {
			continue
		}
		for _, k := range []string{"cluster_unreachable_local", "cluster_unreachable_allowed", "cluster_unreachable_denied", "cluster_unreachable_refused"} {
			v, _ := strconv.ParseInt(in[k], 10, 64)
			out[nd.name] += v
		}
	}
	return out
}

// since sums the growth of each node's counter from before to after.
func since(before, after map[string]int64) int64 {
	var n int64
	for k, v := range after {
		n += v - before[k]
	}
	return n
}

// keyState is what the clients saw of each key: calls allowed.
type keyState struct {
	allowed [2][]atomic.Int64 // [0] CL.THROTTLE g:<i>, [1] SW.THROTTLE s:<i>
}

func gcraCall(i int) []string {
	return []string{"CL.THROTTLE", "g:" + strconv.Itoa(i), "9", "1", "3600"}
}
func swCall(i int) []string { return []string{"SW.THROTTLE", "s:" + strconv.Itoa(i), "10", "3600"} }

// load makes three calls per key and algorithm.
func (ks *keyState) load(addr string, n int) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.c.Close()
	for round := range 3 {
		for i := 0; i < n; i += 500 {
			var cmds [][]string
			for j := i; j < min(i+500, n); j++ {
				cmds = append(cmds, gcraCall(j), swCall(j))
			}
			r, err := c.pipeline(cmds)
			if err != nil {
				return err
			}
			for k, v := range r {
				a, ok := v.([]int64)
				if !ok || len(a) != 5 {
					return fmt.Errorf("load round %d: reply %v", round, v)
				}
				if a[0] == 0 {
					ks.allowed[k%2][i+k/2].Add(1)
				}
			}
		}
	}
	return nil
}

// check peeks every key: its state must show min(allowed, 10) consumed.
func (ks *keyState) check(addr string, n int) (over, reset int, err error) {
	c, err := dial(addr)
	if err != nil {
		return 0, 0, err
	}
	defer c.c.Close()
	for i := 0; i < n; i += 500 {
		var cmds [][]string
		for j := i; j < min(i+500, n); j++ {
			cmds = append(cmds, []string{"CL.PEEK", "g:" + strconv.Itoa(j), "9", "1", "3600"}, []string{"SW.PEEK", "s:" + strconv.Itoa(j), "10", "3600"})
		}
		r, err := c.pipeline(cmds)
		if err != nil {
			return over, reset, err
		}
		for k, v := range r {
			a, ok := v.([]int64)
			if !ok || len(a) != 5 {
				return over, reset, fmt.Errorf("peek reply %v", v)
			}
			got := ks.allowed[k%2][i+k/2].Load()
			if got > 10 {
				over++
			}
			consumed := int64(10)
			if a[0] == 0 {
				consumed = 9 - a[2]
			}
			if consumed != min(got, 10) {
				reset++
			}
		}
	}
	return over, reset, nil
}

// probe sends CL.THROTTLE to random keys through addr at a fixed rate on
// one connection, pipelined as due, timing each call from when it was due.
type probe struct {
	mu     sync.Mutex
	lat    []time.Duration
	errs   int
	lastEr string
}

func (p *probe) run(addr string, perConn int, ks *keyState, n int, stop <-chan struct{}, seed uint64) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.c.Close()
	due := make(chan struct {
		at  time.Time
		key int
	}, 1<<16)
	done := make(chan error, 1)
	go func() {
		for d := range due {
			v, err := c.reply()
			if err != nil {
				done <- err
				return
			}
			lat := time.Since(d.at)
			p.mu.Lock()
			p.lat = append(p.lat, lat)
			if a, ok := v.([]int64); ok && len(a) == 5 {
				if a[0] == 0 {
					ks.allowed[0][d.key].Add(1)
				}
			} else {
				p.errs++
				p.lastEr = fmt.Sprint(v)
			}
			p.mu.Unlock()
		}
		done <- nil
	}()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	every := time.Second / time.Duration(perConn)
	next := time.Now()
	var buf []byte
	for {
		select {
		case <-stop:
			close(due)
			return <-done
		default:
		}
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		}
		// Everything due by now goes out in one write.
		buf = buf[:0]
		now := time.Now()
		for !next.After(now) {
			k := rng.IntN(n)
			buf = appendCmd(buf, gcraCall(k)...)
			due <- struct {
				at  time.Time
				key int
			}{next, k}
			next = next.Add(every)
		}
		c.c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := c.c.Write(buf); err != nil {
			close(due)
			<-done
			return err
		}
	}
}

func (p *probe) take() ([]time.Duration, int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lat, p.errs, p.lastEr
}

func pct(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*q))]
}

// handoffs sums a node log's "cluster: handed off" lines after offset:
// transfers, keys, and the time spent in them.
var handedRE = regexp.MustCompile(`msg="cluster: handed off".* slots=(\d+) keys=(\d+) took=(\S+)`)

func handoffs(path string, offset int) (transfers, slots, keys int, took, longest time.Duration, end int) {
	b, _ := os.ReadFile(path)
	end = len(b)
	if offset > len(b) {
		offset = len(b)
	}
	for _, m := range handedRE.FindAllSubmatch(b[offset:], -1) {
		transfers++
		s, _ := strconv.Atoi(string(m[1]))
		k, _ := strconv.Atoi(string(m[2]))
		d, _ := time.ParseDuration(string(m[3]))
		slots += s
		keys += k
		took += d
		longest = max(longest, d)
	}
	return
}

func logSize(path string) int {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return int(st.Size())
}

func run() error {
	dir, err := os.MkdirTemp("", "rlserver-handoff")
	if err != nil {
		return err
	}
	if *keep {
		fmt.Println("logs in", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	var nodes []*node
	defer func() {
		for _, n := range nodes {
			n.cmd.Process.Kill()
			<-n.exited
		}
	}()
	for i := 1; i <= 3; i++ {
		join := ""
		if i > 1 {
			join = nodes[0].gossip
		}
		n, err := start(dir, "n"+strconv.Itoa(i), join)
		if err != nil {
			return err
		}
		nodes = append(nodes, n)
	}
	if err := settled(nodes, 60*time.Second); err != nil {
		return err
	}
	ks := &keyState{}
	ks.allowed[0] = make([]atomic.Int64, *nkeys)
	ks.allowed[1] = make([]atomic.Int64, *nkeys)
	if err := ks.load(nodes[0].addr, *nkeys); err != nil {
		return err
	}

	// probing starts the probes; the returned function stops them, waits
	// for every reply, and returns the calls' latencies and error replies.
	// Checks run between phases, with no call in flight.
	probing := func() func() ([]time.Duration, int, string, error) {
		p := &probe{}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var probeErr atomic.Value
		for range *conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.run(nodes[0].addr, *rate / *conns, ks, *nkeys, stop, rand.Uint64()); err != nil {
					probeErr.Store(err)
				}
			}()
		}
		return func() ([]time.Duration, int, string, error) {
			close(stop)
			wg.Wait()
			lat, errs, last := p.take()
			err, _ := probeErr.Load().(error)
			return lat, errs, last, err
		}
	}

	fmt.Printf("# %s, %d cores; %d keys per algorithm on 3 nodes; probe: %d CL.THROTTLE/s on %d connections to node 1; windows %v; node flags: --forward-timeout %v %s\n",
		time.Now().UTC().Format("2006-01-02"), numCPU(), *nkeys, *rate, *conns, *window, *fwdTO, *extra)
	fmt.Println("| phase | calls | p50 ms | p99 ms | max ms | p99 / quiet p99 | handoff | transfers | slots | keys moved | time in transfers | longest transfer | errors | policy answers | keys over limit | keys reset |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	failed := false
	type result struct {
		phase                  string
		lat                    []time.Duration
		errs                   int
		baseP99                time.Duration // 0 for a quiet phase
		handoff                time.Duration
		transfers, slots, keys int
		inTransfers, longest   time.Duration
		policy                 int64
		over, reset            int
	}
	ratios := map[string][]float64{}
	longests := map[string][]float64{} // ms
	row := func(r result) {
		ratio := "–"
		if r.baseP99 > 0 {
			x := float64(pct(r.lat, 0.99)) / float64(r.baseP99)
			ratio = fmt.Sprintf("%.2f", x)
			kind, _, _ := strings.Cut(r.phase, " ")
			ratios[kind] = append(ratios[kind], x)
			longests[kind] = append(longests[kind], float64(r.longest)/1e6)
		}
		ms := func(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }
		h, in, long := "–", "–", "–"
		if r.handoff > 0 {
			h = fmt.Sprintf("%.2f s", r.handoff.Seconds())
			in, long = ms(r.inTransfers)+" ms", ms(r.longest)+" ms"
		}
		fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %d | %d | %d | %s | %s | %d | %d | %d | %d |\n", r.phase, len(r.lat),
			ms(pct(r.lat, 0.5)), ms(pct(r.lat, 0.99)), ms(pct(r.lat, 1)), ratio, h, r.transfers, r.slots, r.keys, in, long,
			r.errs, r.policy, r.over, r.reset)
		if r.over > 0 || r.reset > 0 || r.errs > 0 || r.policy > 0 {
			failed = true
		}
	}

	// calm probes a quiet cluster for -quiet and returns its p99.
	calm := func(phase string, members []*node) (time.Duration, error) {
		before := policyAnswers(members)
		stop := probing()
		time.Sleep(*window) // the phase itself: the probes run meanwhile
		lat, errs, _, err := stop()
		if err != nil {
			return 0, fmt.Errorf("probe: %w", err)
		}
		row(result{phase: phase, lat: lat, errs: errs, policy: since(before, policyAnswers(members))})
		return pct(lat, 0.99), nil
	}

	// change runs one membership change (act returns the members that stay
	// and the nodes whose logs tell the transfers) and reports it: probed
	// from the change until every member is settled, and -tail after.
	change := func(phase string, base time.Duration, act func() (members, logs []*node, err error)) error {
		offsets := map[string]int{}
		for _, n := range nodes {
			offsets[n.name] = logSize(n.log)
		}
		before := policyAnswers(nodes)
		stop := probing()
		began := time.Now()
		members, logs, err := act()
		if err != nil {
			stop()
			return err
		}
		if err := settled(members, 120*time.Second); err != nil {
			stop()
			return fmt.Errorf("%s: %w", phase, err)
		}
		took := time.Since(began)
		// The probes run meanwhile, for a window at least as long as a
		// quiet one.
		time.Sleep(max(*tail, time.Until(began.Add(*window))))
		lat, errs, last, err := stop()
		if err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		if errs > 0 {
			fmt.Fprintf(os.Stderr, "%s: %d error replies, last %s\n", phase, errs, last)
		}
		r := result{phase: phase, lat: lat, errs: errs, baseP99: base, handoff: took, policy: since(before, policyAnswers(members))}
		for _, n := range logs {
			a, b, c, d, e, _ := handoffs(n.log, offsets[n.name])
			r.transfers, r.slots, r.keys, r.inTransfers, r.longest = r.transfers+a, r.slots+b, r.keys+c, r.inTransfers+d, max(r.longest, e)
		}
		if r.over, r.reset, err = ks.check(members[0].addr, *nkeys); err != nil {
			return err
		}
		row(r)
		return nil
	}

	// Each cycle: quiet, a fourth node joins, quiet, it leaves
	// (SIGTERM). Each change is compared with the quiet window just
	// before it, so a burst of load from elsewhere on a shared machine
	// spoils one pair, not the run; the verdict is the median.
	for c := 1; c <= *cycles; c++ {
		base, err := calm(fmt.Sprintf("quiet (3 nodes) #%d", c), nodes)
		if err != nil {
			return err
		}
		var joiner *node
		if err := change(fmt.Sprintf("join (4th node) #%d", c), base, func() ([]*node, []*node, error) {
			n, err := start(dir, "n4-"+strconv.Itoa(c), nodes[0].gossip)
			if err != nil {
				return nil, nil, err
			}
			joiner = n
			old := slices.Clone(nodes)
			return append(slices.Clone(nodes), n), old, nil
		}); err != nil {
			return err
		}
		all := append(slices.Clone(nodes), joiner)
		if base, err = calm(fmt.Sprintf("quiet (4 nodes) #%d", c), all); err != nil {
			return err
		}
		if err := change(fmt.Sprintf("leave (SIGTERM) #%d", c), base, func() ([]*node, []*node, error) {
			if err := joiner.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				return nil, nil, err
			}
			return nodes, []*node{joiner}, nil
		}); err != nil {
			return err
		}
		<-joiner.exited
	}
	for _, kind := range []string{"join", "leave"} {
		r := slices.Sorted(slices.Values(ratios[kind]))
		if len(r) == 0 {
			continue
		}
		med := r[len(r)/2]
		l := slices.Sorted(slices.Values(longests[kind]))
		fmt.Printf("\n%s: p99 / quiet p99 median %.2f (range %.2f–%.2f over %d cycles); longest transfer median %.1f ms (range %.1f–%.1f)\n",
			kind, med, r[0], r[len(r)-1], len(r), l[len(l)/2], l[0], l[len(l)-1])
		if med > *maxRatio {
			failed = true
		}
	}
	if failed {
		return errors.New("a check failed or the median p99 ratio exceeded the limit")
	}
	return nil
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}
