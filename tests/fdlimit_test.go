package tests

import (
	"net"
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
			rc := newRaw(dial(t, srv.Addr))
			rc.c.SetDeadline(time.Now().Add(10 * time.Second))
			if got, err := rc.do("PING"); err != nil || got != status("PONG") {
				t.Fatalf("PING after running out of descriptors: %v %v\n%s", got, err, srv.logs.String())
			}
			if err := srv.cmd.Process.Signal(syscall.Signal(0)); err != nil || strings.Contains(srv.logs.String(), "rlserver: accept") {
				t.Fatalf("the server exited:\n%s", srv.logs.String())
			}
		})
	}
}
