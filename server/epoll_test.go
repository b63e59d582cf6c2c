//go:build linux

package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The event loop retries epoll_wait interrupted by a signal (EINTR) and
// keeps serving; a failure it cannot retry closes its connections and asks
// the server to shut down, instead of leaving them open and unserved.
func TestEpollWaitFailures(t *testing.T) {
	var interrupted atomic.Int64
	var broken atomic.Bool
	orig := epollWait
	epollWait = func(epfd int, events []unix.EpollEvent, msec int) (int, error) {
		if broken.Load() {
			return -1, unix.EBADF
		}
		if interrupted.Add(1)%2 == 1 {
			return -1, unix.EINTR
		}
		return orig(epfd, events, msec)
	}
	defer func() { epollWait = orig }()

	cfg := DefaultConfig()
	cfg.Port, cfg.DataDir, cfg.IOModel, cfg.IOThreads = 0, "", IOEpoll, 1
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	defer s.Close(context.Background())

	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for range 50 {
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		if line, err := r.ReadString('\n'); err != nil || line != "+PONG\r\n" {
			t.Fatalf("PING with EINTR injected: %q %v", line, err)
		}
	}
	if interrupted.Load() < 10 {
		t.Fatalf("epoll_wait was called %d times", interrupted.Load())
	}

	broken.Store(true)
	c.Write([]byte("PING\r\n")) // wakes the loop, whose next wait fails
	if rest, err := io.ReadAll(r); err != nil || len(rest) > len("+PONG\r\n") {
		t.Fatalf("after a fatal epoll_wait error: %q, %v (want the connection closed)", rest, err)
	}
	select {
	case <-s.ShutdownRequested():
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not ask to shut down")
	}
}
