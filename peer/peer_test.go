package peer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestFrameLen(t *testing.T) {
	for _, f := range []string{
		"+OK\r\n", "-ERR x\r\n", ":12\r\n", "$3\r\nabc\r\n", "$-1\r\n", "$0\r\n\r\n", "*-1\r\n", "*0\r\n",
		"*2\r\n:1\r\n$1\r\na\r\n", "*5\r\n:0\r\n:16\r\n:15\r\n:-1\r\n:2\r\n",
		"_\r\n", ",1.5\r\n", "#t\r\n", "(123\r\n", "!3\r\nerr\r\n", "=8\r\ntxt:abcd\r\n",
		"%1\r\n+a\r\n:1\r\n", "~2\r\n+a\r\n+b\r\n", ">2\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n",
		"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n", "*1\r\n*1\r\n*0\r\n",
	} {
		n, err := FrameLen([]byte(f + "+next\r\n"))
		if n != len(f) || err != nil {
			t.Errorf("FrameLen(%q) = %d, %v; want %d", f, n, err, len(f))
		}
		for i := range len(f) {
			if n, err := FrameLen([]byte(f[:i])); n != 0 || err != nil {
				t.Errorf("FrameLen(%q) = %d, %v; want incomplete", f[:i], n, err)
			}
		}
	}
	for _, f := range []string{"?x\r\n", "$-2\r\n", "$x\r\n", "*1\r\n?\r\n", "$1\r\nab\r\n", "+a\rb\r\n", strings.Repeat("*1\r\n", 100) + ":1\r\n"} {
		if _, err := FrameLen([]byte(f)); err == nil {
			t.Errorf("FrameLen(%q) accepted", f)
		}
	}
}

func FuzzFrameLen(f *testing.F) {
	f.Add([]byte("*2\r\n:1\r\n$1\r\na\r\n"))
	f.Add([]byte("%1\r\n+a\r\n:1\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := FrameLen(b)
		if n < 0 || n > len(b) || (err != nil && n != 0) {
			t.Fatalf("FrameLen = %d, %v for %d bytes", n, err, len(b))
		}
	})
}

func TestAppendForward(t *testing.T) {
	got := AppendForward(nil, 1700000000123456789, 3, 1, "svc", [][]byte{[]byte("CL.THROTTLE"), []byte("k"), []byte("")})
	want := "*8\r\n$6\r\nRL.FWD\r\n$19\r\n1700000000123456789\r\n$1\r\n3\r\n$1\r\n1\r\n$3\r\nsvc\r\n$11\r\nCL.THROTTLE\r\n$1\r\nk\r\n$0\r\n\r\n"
	if string(got) != want {
		t.Fatalf("got %q", got)
	}
	if n, err := FrameLen(got); n != len(got) || err != nil {
		t.Fatal("not one frame")
	}
	got = AppendUnreachable(nil, 5, 2, 2, "default", [][]byte{[]byte("GET"), []byte("k")})
	if want := "*7\r\n$7\r\nRL.FWDU\r\n$1\r\n5\r\n$1\r\n2\r\n$1\r\n2\r\n$7\r\ndefault\r\n$3\r\nGET\r\n$1\r\nk\r\n"; string(got) != want {
		t.Fatalf("got %q", got)
	}
	buf := make([]byte, 0, 256)
	args := [][]byte{[]byte("GET"), []byte("key")}
	if a := testing.AllocsPerRun(100, func() { buf = AppendForward(buf[:0], 1, 2, 0, "default", args) }); a != 0 {
		t.Fatalf("AppendForward allocates %v times", a)
	}
	if Token([]byte("k1")) == Token([]byte("k2")) || len(Token([]byte("k"))) != 64 {
		t.Fatal("token")
	}
}

// collector records replies in arrival order.
type collector struct {
	mu      sync.Mutex
	replies []string
	errs    []error
	done    chan struct{}
	want    int
}

func newCollector(want int) *collector { return &collector{want: want, done: make(chan struct{})} }

type slot struct {
	c *collector
	i int
}

func (s slot) Reply(frame []byte, err error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	for len(s.c.replies) <= s.i {
		s.c.replies = append(s.c.replies, "")
		s.c.errs = append(s.c.errs, nil)
	}
	s.c.replies[s.i] = string(frame)
	s.c.errs[s.i] = err
	s.c.want--
	if s.c.want == 0 {
		close(s.c.done)
	}
}

func (c *collector) wait(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("replies did not arrive")
	}
}

// startRedis runs a real redis-server on a free loopback port. It is
// ready when its own log says so, never when a dial succeeds (that could
// reach another test's server, which the OS may have given the port
// between our close and redis-server's bind; redis-server then exits and
// another port is tried).
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server missing")
		}
		t.Skip("redis-server not installed")
	}
	for range 5 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--dir", t.TempDir(), "--logfile", "")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ready := make(chan bool, 1)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if strings.Contains(sc.Text(), "Ready to accept connections") {
					ready <- true
					io.Copy(io.Discard, out)
					return
				}
			}
			ready <- false
		}()
		select {
		case ok := <-ready:
			if ok {
				t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
				return fmt.Sprintf("127.0.0.1:%d", port)
			}
			cmd.Wait() // the port was taken: try another
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("redis-server did not start")
		}
	}
	t.Fatal("redis-server did not start")
	return ""
}

// noTimeout is the forwarding timeout of tests that are not about
// timeouts: a loaded CI machine can stall redis-server or the race
// detector's goroutines longer than DefaultTimeout, which would fail
// commands these tests expect answered.
const noTimeout = time.Minute

// Many goroutines share one client; each pipeline's replies come back in
// order, byte for byte what Redis sent.
func TestPipelinesAgainstRedis(t *testing.T) {
	addr := startRedis(t)
	c := NewClient(Config{Addr: addr, Timeout: noTimeout})
	defer c.Close()
	const workers, per = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			col := newCollector(per + 3)
			key := []byte(fmt.Sprintf("k%d", w))
			for i := range per {
				c.Do(slot{col, i}, []byte("INCR"), key)
			}
			c.Do(slot{col, per}, []byte("GET"), key)
			c.Do(slot{col, per + 1}, []byte("GET"), []byte("missing"))
			c.Do(slot{col, per + 2}, []byte("NOSUCH"), key)
			c.Flush()
			col.wait(t)
			for i := range per {
				if want := fmt.Sprintf(":%d\r\n", i+1); col.replies[i] != want {
					t.Errorf("worker %d reply %d = %q, want %q", w, i, col.replies[i], want)
					return
				}
			}
			if want := fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(per)), per); col.replies[per] != want {
				t.Errorf("GET = %q", col.replies[per])
			}
			if col.replies[per+1] != "$-1\r\n" || !strings.HasPrefix(col.replies[per+2], "-ERR unknown command 'NOSUCH'") {
				t.Errorf("replies %q %q", col.replies[per+1], col.replies[per+2])
			}
		}()
	}
	wg.Wait()
	st := c.Stats()
	if st.Commands != workers*(per+3) || st.Replies != st.Commands || st.Batches > workers || st.Dials != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestLargeReplies(t *testing.T) {
	addr := startRedis(t)
	c := NewClient(Config{Addr: addr, Timeout: noTimeout})
	defer c.Close()
	big := bytes.Repeat([]byte("x"), 300<<10)
	col := newCollector(3)
	c.Do(slot{col, 0}, []byte("SET"), []byte("big"), big)
	c.Do(slot{col, 1}, []byte("GET"), []byte("big"))
	c.Do(slot{col, 2}, []byte("PING"))
	c.Flush()
	col.wait(t)
	if col.replies[0] != "+OK\r\n" || col.replies[1] != "$"+strconv.Itoa(len(big))+"\r\n"+string(big)+"\r\n" || col.replies[2] != "+PONG\r\n" {
		t.Fatal("large reply not relayed intact")
	}
}

// silentPeer accepts connections and reads but never answers, like a
// stopped process whose kernel still accepts.
func silentPeer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				b := make([]byte, 4096)
				for {
					if _, err := c.Read(b); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTimeoutFailsWithinTheBound(t *testing.T) {
	// On synctest's clock the bound is exact: every command fails at its
	// Flush plus the timeout, however loaded the machine is.
	synctest.Test(t, func(t *testing.T) {
		const timeout = 100 * time.Millisecond
		c := NewClient(Config{Addr: "silent", Timeout: timeout, Dial: silentPipe})
		defer c.Close()
		for round := range 2 {
			col := newCollector(10)
			start := time.Now()
			for i := range 10 {
				c.Forward(1, 2, 0, "default", [][]byte{[]byte("GET"), []byte("k")}, slot{col, i})
			}
			c.Flush()
			col.wait(t)
			if took := time.Since(start); took != timeout {
				t.Fatalf("round %d: failed after %v, want exactly %v", round, took, timeout)
			}
			for i, err := range col.errs {
				if !errors.Is(err, ErrTimeout) {
					t.Fatalf("round %d command %d: %v", round, i, err)
				}
			}
		}
		if st := c.Stats(); st.Timeouts != 2 || st.Dials != 2 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// silentPipe is a Dial whose peer reads everything and never answers.
func silentPipe(string, time.Duration) (net.Conn, error) {
	client, server := net.Pipe()
	go func() {
		b := make([]byte, 4096)
		for {
			if _, err := server.Read(b); err != nil {
				return
			}
		}
	}()
	return client, nil
}

// The same over TCP against a process that accepts and never answers:
// the timeout fires (never early) and the connection is dialed again.
func TestTimeoutOverTCP(t *testing.T) {
	const timeout = 100 * time.Millisecond
	c := NewClient(Config{Addr: silentPeer(t), Timeout: timeout})
	defer c.Close()
	for round := range 2 {
		col := newCollector(10)
		start := time.Now()
		for i := range 10 {
			c.Forward(1, 2, 0, "default", [][]byte{[]byte("GET"), []byte("k")}, slot{col, i})
		}
		c.Flush()
		col.wait(t)
		if took := time.Since(start); took < timeout {
			t.Fatalf("round %d: failed after %v, before the %v timeout", round, took, timeout)
		}
		for i, err := range col.errs {
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("round %d command %d: %v", round, i, err)
			}
		}
	}
	if st := c.Stats(); st.Timeouts != 2 || st.Dials != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRefusedDialFailsFast(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := NewClient(Config{Addr: addr, Timeout: noTimeout})
	defer c.Close()
	col := newCollector(1)
	c.Do(slot{col, 0}, []byte("PING"))
	c.Flush()
	col.wait(t)
	if col.errs[0] == nil || errors.Is(col.errs[0], ErrTimeout) {
		t.Fatalf("err %v", col.errs[0])
	}
}

// Against Redis the RL.PEER handshake is an unknown command: the client
// must fail the connection with ErrAuth rather than relay replies shifted
// by one.
func TestRefusedTokenFailsTheConnection(t *testing.T) {
	addr := startRedis(t)
	c := NewClient(Config{Addr: addr, Token: "secret", Timeout: noTimeout})
	defer c.Close()
	col := newCollector(1)
	c.Do(slot{col, 0}, []byte("PING"))
	c.Flush()
	col.wait(t)
	if !errors.Is(col.errs[0], ErrAuth) {
		t.Fatalf("got %q %v", col.replies[0], col.errs[0])
	}
}

func TestCloseFailsWaiters(t *testing.T) {
	c := NewClient(Config{Addr: silentPeer(t), Timeout: 10 * time.Second})
	col := newCollector(2)
	c.Do(slot{col, 0}, []byte("PING"))
	c.Flush()
	c.Do(slot{col, 1}, []byte("PING")) // never flushed
	c.Close()
	col.wait(t)
	for _, err := range col.errs {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err %v", err)
		}
	}
	_ = filepath.Join
}

// latencies records what a client's Latency observer sees.
type latencies struct {
	mu sync.Mutex
	ns []int64
}

func (l *latencies) Observe(ns int64) {
	l.mu.Lock()
	l.ns = append(l.ns, ns)
	l.mu.Unlock()
}

func (l *latencies) get() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int64(nil), l.ns...)
}

// delayedPeer answers every command with +OK, each batch it reads after
// delay: a peer whose round trip is known.
func delayedPeer(t *testing.T, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var buf []byte
				b := make([]byte, 4096)
				for {
					n, err := c.Read(b)
					if err != nil {
						return
					}
					buf = append(buf, b[:n]...)
					var out []byte
					for {
						m, _ := FrameLen(buf)
						if m == 0 {
							break
						}
						buf = buf[m:]
						out = append(out, "+OK\r\n"...)
					}
					time.Sleep(delay) // the peer's service time, not synchronisation
					c.Write(out)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// Every answered command is timed once, from Flush to reply; the commands
// of a forwarded transaction count once (its EXEC), and RL.PEER never.
func TestLatencyObserved(t *testing.T) {
	const delay = 30 * time.Millisecond
	lat := &latencies{}
	c := NewClient(Config{Addr: delayedPeer(t, delay), Token: "tok", Latency: lat, Timeout: 5 * time.Second})
	defer c.Close()
	col := newCollector(11)
	for i := range 10 {
		c.Forward(1, 2, 1, "default", [][]byte{[]byte("GET"), []byte("k")}, slot{col, i})
	}
	c.ForwardTx(1, 2, 1, "default", [][][]byte{{[]byte("INCR"), []byte("a")}, {[]byte("INCR"), []byte("b")}}, slot{col, 10})
	start := time.Now()
	c.Flush()
	col.wait(t)
	took := time.Since(start)
	for i, err := range col.errs {
		if err != nil || col.replies[i] != "+OK\r\n" {
			t.Fatalf("reply %d: %q %v", i, col.replies[i], err)
		}
	}
	got := lat.get()
	if len(got) != 11 {
		t.Fatalf("%d observations, want 11 (10 commands and one transaction)", len(got))
	}
	for _, ns := range got {
		// The first batch waits for the dial and RL.PEER too: at least one
		// service time, at most the whole wait.
		if ns < int64(delay) || ns > int64(took) {
			t.Fatalf("observed %v, want between %v and %v", time.Duration(ns), delay, took)
		}
	}
}

// waitOne is a reusable Waiter for a single outstanding command.
type waitOne chan error

func (w waitOne) Reply(_ []byte, err error) { w <- err }

// Timing adds no allocation per command.
func TestLatencyAllocatesNothing(t *testing.T) {
	addr := startRedis(t)
	lat := &latencies{ns: make([]int64, 0, 1000)}
	c := NewClient(Config{Addr: addr, Latency: lat})
	defer c.Close()
	w := make(waitOne, 1)
	ping := []byte("PING")
	round := func() {
		c.Do(w, ping)
		c.Flush()
		if err := <-w; err != nil {
			t.Fatal(err)
		}
	}
	for range 50 { // grow the buffers
		round()
	}
	lat.ns = lat.ns[:0]
	if a := testing.AllocsPerRun(200, round); a != 0 {
		t.Fatalf("a timed round trip allocates %v times", a)
	}
	if n := len(lat.get()); n != 201 {
		t.Fatalf("%d observations, want 201", n)
	}
}

// Each way a forwarded command can fail is told apart.
func TestClassify(t *testing.T) {
	fail := func(cfg Config) error {
		t.Helper()
		c := NewClient(cfg)
		defer c.Close()
		col := newCollector(1)
		c.Do(slot{col, 0}, []byte("PING"))
		c.Flush()
		col.wait(t)
		return col.errs[0]
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := ln.Addr().String()
	ln.Close()
	// A peer that closes every connection once it has read a command.
	closer, _ := net.Listen("tcp", "127.0.0.1:0")
	defer closer.Close()
	go func() {
		for {
			c, err := closer.Accept()
			if err != nil {
				return
			}
			go func() { c.Read(make([]byte, 64)); c.Close() }()
		}
	}()
	// A peer that answers garbage.
	garbage, _ := net.Listen("tcp", "127.0.0.1:0")
	defer garbage.Close()
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			go func() { c.Read(make([]byte, 64)); c.Write([]byte("?what\r\n")) }()
		}
	}()
	for _, tc := range []struct {
		name string
		cfg  Config
		want Failure
	}{
		{"refused", Config{Addr: refused}, FailRefused},
		{"timeout", Config{Addr: silentPeer(t), Timeout: 50 * time.Millisecond}, FailTimeout},
		{"reset", Config{Addr: closer.Addr().String()}, FailReset},
		{"protocol", Config{Addr: garbage.Addr().String()}, FailProtocol},
		{"auth", Config{Addr: startRedis(t), Token: "secret"}, FailAuth},
	} {
		if err := fail(tc.cfg); Classify(err) != tc.want {
			t.Errorf("%s: %v classified %d, want %d", tc.name, err, Classify(err), tc.want)
		}
	}
	if Classify(ErrClosed) != FailOther || Classify(errors.New("x")) != FailOther {
		t.Error("other errors")
	}
}
