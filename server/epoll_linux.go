//go:build linux

package server

import (
	"errors"
	"net"
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// The epoll front: a few event loops (one per CPU) each wait on their own
// epoll set and serve every connection that is ready with one read, one
// parse, and one write, without a goroutine wake-up per request. Redis
// serves clients the same way. Accepting stays on Go's netpoller; each
// accepted socket is handed to a loop round-robin.

const epollSupported = true

// epollWait is unix.EpollWait; tests replace it to inject failures.
var epollWait = unix.EpollWait

type eventLoop struct {
	s        *Server
	index    int // which loop: its stat shard
	epfd     int
	wakefd   int // eventfd: new connections, pushes to flush, or shutdown
	mu       sync.Mutex
	incoming []*Client
	kicks    []*Client // clients with pushes to flush
	closing  bool
	conns    map[int32]*Client
	buf      []byte
	events   []unix.EpollEvent
	// nested is set while a busy script on this loop serves the loop's
	// other connections (serveNested); nestedBuf and nestedEvents are
	// their buffers, as buf and events belong to the interrupted batch.
	nested       bool
	nestedBuf    []byte
	nestedEvents []unix.EpollEvent
}

// epollConn is a socket served by an event loop. Only the loop reads,
// writes and closes the descriptor; mu guards fd and closed against
// close() from other goroutines.
type epollConn struct {
	loop    *eventLoop
	c       *Client // the client served: its output limits
	fd      int
	mu      sync.Mutex
	closed  bool
	out     []byte // output the socket did not take yet (loop only)
	stalled bool   // a batch stopped with input left because out did not drain (loop only)
	armed   uint32 // the events registered (loop only)
}

func (s *Server) serveEpoll() error {
	n := s.cfg.IOThreads
	if n == 0 {
		// Half the CPUs: the rest runs the runtime's own work (netpoller
		// wake-ups, GC, the sweeper, snapshots). On 2 cores one loop gave
		// 15% more pipelined throughput and half the p99 of two.
		n = max(1, runtime.GOMAXPROCS(0)/2)
	}
	loops := make([]*eventLoop, n)
	for i := range loops {
		l, err := newEventLoop(s)
		if err != nil {
			return err
		}
		l.index = i % len(s.statShards)
		loops[i] = l
		s.wg.Add(1)
		go l.run()
	}
	defer func() {
		for _, l := range loops {
			l.shutdown()
		}
	}()
	next := 0
	return s.acceptLoop(s.ln, func(nc net.Conn) {
		fd, err := detachFD(nc, s.cfg.SendBuffer)
		addr, laddr := nc.RemoteAddr().String(), nc.LocalAddr().String()
		nc.Close() // our duplicate keeps the socket open
		if err != nil {
			s.warn.Warn("detach", "cannot take over accepted socket", "error", err)
			return
		}
		l := loops[next%len(loops)]
		next++
		ec := &epollConn{loop: l, fd: fd}
		c := s.newClient(ec, addr, laddr, fd)
		c.st = s.statShards[l.index] // the loop's own counters
		ec.c = c
		l.mu.Lock()
		l.incoming = append(l.incoming, c)
		l.mu.Unlock()
		l.wake()
	})
}

// detachFD duplicates the socket's descriptor so the event loop owns it
// outside Go's netpoller. The duplicate shares the non-blocking flag.
func detachFD(nc net.Conn, sndbuf int) (int, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return -1, errors.New("not a TCP connection")
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(f uintptr) { fd, derr = unix.Dup(int(f)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	if sndbuf > 0 {
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndbuf)
	}
	return fd, nil
}

func newEventLoop(s *Server) (*eventLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	// Non-blocking so that os.NewFile registers it with the netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return nil, err
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	l := &eventLoop{s: s, epfd: epfd, wakefd: wfd, conns: make(map[int32]*Client),
		buf: make([]byte, readSize), events: make([]unix.EpollEvent, 128)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(wfd)
		return nil, err
	}
	return l, nil
}

func (l *eventLoop) wake() {
	var one = [8]byte{1}
	unix.Write(l.wakefd, one[:])
}

func (l *eventLoop) shutdown() {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	l.wake()
}

// run serves the loop's connections. It never blocks in epoll_wait: it
// polls with a zero timeout and, when nothing is ready, parks on Go's own
// netpoller until the epoll descriptor itself becomes readable. A thread
// blocked in a syscall would make the runtime hand its P to another thread
// and wake its monitor every 20µs, which costs more CPU than the requests.
// Whenever it returns, it closes every connection it served.
func (l *eventLoop) run() {
	defer l.s.wg.Done()
	defer unix.Close(l.wakefd)
	defer func() {
		for _, c := range l.conns {
			l.closeClient(c)
		}
	}()
	ep := os.NewFile(uintptr(l.epfd), "epoll")
	defer ep.Close()
	raw, err := ep.SyscallConn()
	if err != nil {
		l.s.log.Error("epoll descriptor unusable", "error", err)
		return
	}
	for {
		var n int
		var werr error
		err := raw.Read(func(fd uintptr) bool {
			for {
				n, werr = epollWait(int(fd), l.events, 0)
				if werr != unix.EINTR {
					break
				}
			}
			return n != 0 || werr != nil
		})
		if err == nil {
			err = werr
		}
		if err != nil {
			// Not recoverable: stop the server (it saves and exits) rather
			// than keep accepting connections no loop serves.
			l.s.log.Error("epoll_wait failed; shutting down", "error", err)
			l.s.requestShutdown()
			return
		}
		for i := 0; i < n; i++ {
			if !l.handle(l.events[i], nil) {
				return
			}
		}
	}
}

// handle serves one ready descriptor; it reports false when the loop
// must stop. skip is a client not to serve (the one running a busy
// script, whose input waits for the script to end).
func (l *eventLoop) handle(ev unix.EpollEvent, skip *Client) bool {
	if int(ev.Fd) == l.wakefd {
		return l.admit()
	}
	c := l.conns[ev.Fd]
	if c == nil || c == skip {
		return true
	}
	ec := c.conn.(*epollConn)
	if ev.Events&unix.EPOLLOUT != 0 {
		l.writable(c, ec)
	}
	if l.conns[ev.Fd] != c {
		return true // closed while writing
	}
	switch {
	case ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 && ec.stalled:
		l.closeClient(c) // its replies can no longer be delivered
	case ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR|unix.EPOLLRDHUP) != 0 && !ec.stalled:
		l.readable(c, ec)
	}
	return true
}

// serveNested serves the loop's other connections once, while busy (a
// script past busy-reply-threshold) runs on the loop: they get BUSY for
// its keys, and SCRIPT KILL is heard. Descriptors are level-triggered, so
// busy's own input simply waits for the outer loop.
func (l *eventLoop) serveNested(busy *Client) {
	if l.nested {
		return
	}
	l.nested = true
	if l.nestedBuf == nil {
		l.nestedBuf = make([]byte, 64<<10)
		l.nestedEvents = make([]unix.EpollEvent, 128)
	}
	outerBuf := l.buf
	l.buf = l.nestedBuf
	defer func() {
		l.buf = outerBuf
		l.nested = false
	}()
	n, err := epollWait(l.epfd, l.nestedEvents, 0)
	if err != nil {
		return
	}
	for i := 0; i < n; i++ {
		if !l.handle(l.nestedEvents[i], busy) {
			// The wake that says the loop must stop was read here:
			// leave one for the outer loop, which would otherwise wait
			// for an event that never comes once the script ends.
			l.wake()
		}
	}
}

// nestedServing reports whether c is being served by a busy script's loop.
func nestedServing(c *Client) bool {
	ec, ok := c.conn.(*epollConn)
	return ok && ec.loop.nested
}

// serveOthers lets a busy script's event loop serve its other connections.
func serveOthers(c *Client) {
	if ec, ok := c.conn.(*epollConn); ok {
		ec.loop.serveNested(c)
	}
}

// admit registers new connections and flushes kicked pushes; it reports
// false when the loop must stop.
func (l *eventLoop) admit() bool {
	var b [8]byte
	unix.Read(l.wakefd, b[:])
	l.mu.Lock()
	incoming, kicks, closing := l.incoming, l.kicks, l.closing
	l.incoming, l.kicks = nil, nil
	l.mu.Unlock()
	for _, c := range incoming {
		ec := c.conn.(*epollConn)
		l.conns[int32(ec.fd)] = c
		ec.armed = unix.EPOLLIN | unix.EPOLLRDHUP
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, ec.fd, &unix.EpollEvent{Events: ec.armed, Fd: int32(ec.fd)}); err != nil {
			l.closeClient(c)
		}
	}
	for _, c := range kicks {
		ec := c.conn.(*epollConn)
		if ec.fd < 0 || l.conns[int32(ec.fd)] != c {
			continue
		}
		c.outMu.Lock()
		c.kicked = false
		c.outMu.Unlock()
		if c.flush(true) != nil {
			l.closeClient(c)
			continue
		}
		l.arm(c, ec)
	}
	return !closing && !l.s.closing.Load()
}

// readable reads what the socket holds and runs the commands it completes:
// from the loop's shared buffer when the client has no pending input (idle
// clients hold no buffer), else straight into the client's own buffer.
func (l *eventLoop) readable(c *Client, ec *epollConn) {
	fromLoop := c.in.w == c.in.r
	dst := l.buf
	if !fromLoop {
		dst = c.in.room(readSize, c.req.want())
	}
	n, err := unix.Read(ec.fd, dst)
	if n <= 0 {
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		l.closeClient(c)
		return
	}
	c.lastCmd.Store(l.s.clock.Now()) // input: not idle (timeout, CLIENT LIST)
	c.st.netIn.Add(uint64(n))
	c.st.reads.Add(1)
	var data []byte
	if fromLoop {
		data = l.buf[:n]
	} else {
		c.in.w += n
		data = c.in.pending()
	}
	if !l.process(c, ec, data, fromLoop) {
		l.closeClient(c)
		return
	}
	l.arm(c, ec)
}

// process runs the complete commands in data and writes their replies.
// When the socket stops taking replies, the batch stops with its input
// kept (stalled) until the socket drains. The unparsed rest is kept in
// c.in. It reports false when the connection must close.
func (l *eventLoop) process(c *Client, ec *epollConn, data []byte, fromLoop bool) bool {
	c.begin()
	used, ok := 0, true
	ec.stalled = false
	for {
		n, more, good := l.s.consume(c, data[used:])
		used += n
		if !good || !more {
			ok = good
			break
		}
		c.publish(len(data) - used)
		if c.flush(false) != nil {
			ok = false
			break
		}
		if len(ec.out) > 0 {
			ec.stalled = true
			break
		}
	}
	if fromLoop {
		if rest := data[used:]; ok && len(rest) > 0 {
			c.in.reserve(len(rest), c.req.want())
			c.in.w += copy(c.in.b[c.in.w:], rest)
		}
	} else {
		c.in.consumed(used, 0)
	}
	if c.flush(true) != nil {
		ok = false
	}
	c.publish(-1)
	return ok
}

// writable sends what the socket refused before and, once it has all
// gone, resumes a stalled batch.
func (l *eventLoop) writable(c *Client, ec *epollConn) {
	for len(ec.out) > 0 {
		n, err := unix.Write(ec.fd, ec.out)
		if err == unix.EAGAIN || err == unix.EINTR {
			break
		}
		if err != nil {
			l.closeClient(c)
			return
		}
		ec.out = ec.out[n:]
	}
	if len(ec.out) == 0 {
		ec.out = nil
		if ec.stalled && !l.process(c, ec, c.in.pending(), false) {
			l.closeClient(c)
			return
		}
	}
	l.arm(c, ec)
}

// arm registers the events the connection needs now: output while some
// waits; input unless a batch is stalled or a flushThreshold of output
// waits (the client does not read: stop reading from it too).
func (l *eventLoop) arm(c *Client, ec *epollConn) {
	ev := uint32(0)
	if len(ec.out) > 0 {
		ev |= unix.EPOLLOUT
	}
	if !ec.stalled && len(ec.out) < flushThreshold {
		ev |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if ev == ec.armed || ec.fd < 0 {
		return
	}
	ec.armed = ev
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_MOD, ec.fd, &unix.EpollEvent{Events: ev, Fd: int32(ec.fd)})
}

// closeClient unregisters and closes a connection; only the loop that owns
// the descriptor closes it, so a push can never write to a reused number.
func (l *eventLoop) closeClient(c *Client) {
	ec := c.conn.(*epollConn)
	if ec.fd < 0 {
		return
	}
	delete(l.conns, int32(ec.fd))
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ec.fd, nil)
	l.s.dropClient(c)
	ec.mu.Lock()
	defer ec.mu.Unlock()
	ec.closed = true
	unix.Close(ec.fd)
	ec.fd = -1
	ec.out = nil
}

// write sends b now, or keeps what the socket does not take for writable.
// Loop only.
func (ec *epollConn) write(b []byte) error {
	if ec.fd < 0 {
		return net.ErrClosed
	}
	if len(ec.out) == 0 {
		for len(b) > 0 {
			n, err := unix.Write(ec.fd, b)
			if err == unix.EAGAIN || err == unix.EINTR {
				break
			}
			if err != nil {
				return err
			}
			b = b[n:]
		}
		if len(b) == 0 {
			return nil
		}
	}
	if ec.c.outputOver(len(ec.out) + len(b)) {
		ec.loop.s.warn.Warn("output-limit", "closing client that reached the output buffer limit", "fd", ec.fd, "bytes", len(ec.out)+len(b))
		return errors.New("output buffer limit reached")
	}
	ec.out = append(ec.out, b...)
	return nil
}

func (ec *epollConn) pending() int { return len(ec.out) }

// kick hands c to its loop, which flushes the pushes between events.
func (ec *epollConn) kick(c *Client) {
	l := ec.loop
	l.mu.Lock()
	l.kicks = append(l.kicks, c)
	l.mu.Unlock()
	l.wake()
}

// close shuts the socket down; the owning loop sees the hang-up and
// releases the descriptor (closeClient).
func (ec *epollConn) close() {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if !ec.closed && ec.fd >= 0 {
		unix.Shutdown(ec.fd, unix.SHUT_RDWR)
	}
	ec.closed = true
}
