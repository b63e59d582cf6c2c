package tests

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// When the process runs out of file descriptors, accepting fails
// (EMFILE): the server logs it, waits, and accepts again once descriptors
// are free, on both I/O models. It used to exit ("accept4: too many open
// files"), losing every limit since the last snapshot.
func TestOutOfFileDescriptorsKeepsServing(t *testing.T) {
	t.Parallel()
	prlimit := requireTool(t, "prlimit")
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			srv := startWrapped(t, []string{prlimit, "--nofile=64", "--"}, "--io-model", model, "--maxclients", "1000", "--snapshot-interval", "0")
			var conns []net.Conn
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			// More connections than the server has descriptors: the kernel
			// completes them all (the backlog), the server cannot take the
			// last ones.
			for range 80 {
				c, err := net.DialTimeout("tcp", srv.Addr, 5*time.Second)
				if err != nil {
					break
				}
				conns = append(conns, c)
			}
			waitLog(t, srv, "too many open files")
			for _, c := range conns {
				c.Close()
			}
			conns = nil
			// The server frees the closed connections' descriptors as it
			// reads their EOFs; a connection it accepts while still at the
			// limit may be closed (reset) as Redis closes one it cannot
			// register. What must hold: it serves again, within a bound.
			var got any
			var err error
			for deadline := time.Now().Add(10 * time.Second); ; {
				var c net.Conn
				if c, err = net.DialTimeout("tcp", srv.Addr, 5*time.Second); err == nil {
					rc := newRaw(c)
					rc.c.SetDeadline(time.Now().Add(5 * time.Second))
					got, err = rc.do("PING")
					c.Close()
					if err == nil && got == status("PONG") {
						break
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("PING after running out of descriptors: %v %v\n%s", got, err, srv.logs.String())
				}
				time.Sleep(50 * time.Millisecond) // the server frees descriptors as it reads EOFs
			}
			if err := srv.cmd.Process.Signal(syscall.Signal(0)); err != nil || strings.Contains(srv.logs.String(), "rlserver: accept") {
				t.Fatalf("the server exited:\n%s", srv.logs.String())
			}
		})
	}
}

// openFDs counts the descriptors process pid has open.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// HTTP connections are capped (--http-max-conns), on the API listener and
// on --metrics-addr each: kept-alive connections past the cap wait in the
// kernel's backlog instead of taking descriptors, and are served once
// others close. Without the cap 20,000 idle keep-alive connections to
// --metrics-addr took every descriptor and the server exited.
func TestHTTPConnectionCap(t *testing.T) {
	t.Parallel()
	const max = 8
	srv, metricsAddr := startObserved(t, "--http-max-conns", strconv.Itoa(max))
	for _, addr := range []string{srv.HTTP, metricsAddr} {
		before := openFDs(t, srv.cmd.Process.Pid)
		// Each connection sends a request and keeps the connection
		// open; the first max are answered at once.
		var conns []net.Conn
		for i := range 3 * max {
			c := dial(t, addr)
			conns = append(conns, c)
			c.Write([]byte("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"))
			if i < max {
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
					t.Fatalf("%s: connection %d: %v", addr, i, err)
				}
			}
		}
		// The last connection is not served while max are open...
		last := conns[len(conns)-1]
		last.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := last.Read(make([]byte, 1)); err == nil {
			t.Fatalf("%s: a connection past the cap of %d was served", addr, max)
		}
		// (a few descriptors of the runtime's or the snapshots' may come
		// and go meanwhile; the connections past the cap are 2*max)
		if n := openFDs(t, srv.cmd.Process.Pid); n > before+max+4 {
			t.Fatalf("%s: %d descriptors open, %d before %d connections capped at %d", addr, n, before, len(conns), max)
		}
		// ...and is once the others close.
		for _, c := range conns[:len(conns)-1] {
			c.Close()
		}
		last.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(last), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: the waiting connection: %v %v", addr, resp, err)
		}
		last.Close()
	}
}
