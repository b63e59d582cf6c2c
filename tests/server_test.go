package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary builds cmd/rlserver once per test run.
func binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rlserver-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "rlserver")
		args := []string{"build"}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "-o", binPath, "../cmd/rlserver")
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is a running rlserver.
type proc struct {
	cmd  *exec.Cmd
	Addr string
	Port string
	// HTTP is the HTTP API's address ("" when it is off).
	HTTP string
	logs *logBuffer
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var (
	readyRE = regexp.MustCompile(`rlserver ready" addr=([0-9.]+:(\d+))`)
	httpRE  = regexp.MustCompile(` http=(127\.0\.0\.1:\d+)`)
)

// startServer runs the binary on a free loopback port and stops it when
// the test ends.
func startServer(t testing.TB, extra ...string) *proc {
	t.Helper()
	return startWrapped(t, nil, extra...)
}

// startWrapped runs the server under a wrapper command (e.g. prlimit).
func startWrapped(t testing.TB, wrapper []string, extra ...string) *proc {
	t.Helper()
	p, err := tryStart(t, wrapper, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// errStart is tryStart's error: the server exited at startup (its last
// words are in the logs) or was not ready in time.
type errStart struct {
	exited bool
	logs   string
}

func (e *errStart) Error() string {
	if e.exited {
		return "server exited at startup; logs:\n" + e.logs
	}
	return "server did not start; logs:\n" + e.logs
}

// addrInUse reports whether err is a startup that failed because a port
// the server was to bind was taken.
func addrInUse(err error) bool {
	e, ok := err.(*errStart)
	return ok && e.exited && strings.Contains(e.logs, "address already in use")
}

// startOnFreePorts starts the server with the arguments args returns,
// which name ports probed free (freePort) where the server cannot take
// port 0 (--tls-port 0 turns TLS off). Another process may take such a
// port between the probe and the server's bind: the start is then tried
// again with new ones, a bounded number of times.
func startOnFreePorts(t testing.TB, args func() []string) *proc {
	t.Helper()
	var err error
	for range 5 {
		var p *proc
		if p, err = tryStart(t, nil, args()...); err == nil {
			return p
		}
		if !addrInUse(err) {
			break
		}
	}
	t.Fatal(err)
	return nil
}

// tryStart is startWrapped returning an error instead of failing the test,
// so that a caller can start again when a port it asked for was taken.
func tryStart(t testing.TB, wrapper []string, extra ...string) (*proc, error) {
	t.Helper()
	args := append([]string{"--bind", "127.0.0.1", "--port", "0"}, extra...)
	if !slices.Contains(extra, "--data-dir") {
		args = append(args, "--data-dir", t.TempDir())
	}
	// The HTTP API's default port is fixed; tests take a free one.
	if !slices.Contains(extra, "--http-addr") {
		args = append(args, "--http-addr", "127.0.0.1:0")
	}
	argv := append(append(slices.Clone(wrapper), binary(t)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = os.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, logs: &logBuffer{}}
	found := make(chan []string, 1)
	failed := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			if sent {
				continue
			}
			if m := readyRE.FindStringSubmatch(line); m != nil {
				if h := httpRE.FindStringSubmatch(line); h != nil {
					m = append(m, h[1])
				}
				found <- m
				sent = true
			} else if strings.HasPrefix(line, "rlserver: ") {
				// main's last words before exiting with status 1.
				close(failed)
				sent = true
			}
		}
	}()
	reap := func() {
		cmd.Process.Kill()
		cmd.Wait()
		pw.Close()
	}
	select {
	case m := <-found:
		p.Addr, p.Port = m[1], m[2]
		if len(m) > 3 {
			p.HTTP = m[3]
		}
	case <-failed:
		reap()
		return nil, &errStart{exited: true, logs: p.logs.String()}
	case <-time.After(20 * time.Second):
		reap()
		return nil, &errStart{logs: p.logs.String()}
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); pw.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		// A server built with -race reports data races on stderr.
		if logs := p.logs.String(); strings.Contains(logs, "WARNING: DATA RACE") {
			t.Errorf("the server reported a data race:\n%s", logs)
		}
	})
	return p, nil
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// requireTool finds an external client; when it is missing the test fails
// under CI (which installs it) and is skipped elsewhere.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required under CI but not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}
