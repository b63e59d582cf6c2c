package peer

import (
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Errors a Waiter may receive instead of a reply.
var (
	// ErrTimeout: no reply within the timeout; the connection was reset.
	ErrTimeout = errors.New("peer: no reply within the forwarding timeout")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("peer: client closed")
	// ErrAuth: the peer refused this node's token.
	ErrAuth = errors.New("peer: authentication refused")
)

// Waiter receives the reply to one command. Reply runs on the client's
// reader goroutine (or on whichever goroutine found the connection broken)
// and must not block; frame aliases a buffer that is reused once Reply
// returns, so copy what you keep. err is non-nil when no reply will come
// (ErrTimeout, ErrClosed, ErrAuth or a network error); the command may or
// may not have run on the peer.
type Waiter interface {
	Reply(frame []byte, err error)
}

// Config configures a Client.
type Config struct {
	// Addr is the peer's RESP address (host:port).
	Addr string
	// Token authenticates this node to the peer (see Token); empty skips
	// authentication (tests against plain Redis).
	Token string
	// Timeout bounds the time from Flush to reply for every command, and
	// dialing. Zero means DefaultTimeout.
	Timeout time.Duration
	// TLS, when set, wraps each connection (tlsconf.ClientConfig: the
	// node's own certificate, the cluster's CA).
	TLS *tls.Config
	// OnPush receives RESP3 push frames (invalidations), on the reader
	// goroutine; nil drops them. The frame is reused after it returns.
	OnPush func(frame []byte)
	// Latency, when set, receives the round trip of every answered
	// command, in ns: from the Flush that handed it to the writer to the
	// arrival of its reply (failed commands are not observed; Classify
	// their errors). It is called on the reader goroutine, which reads the
	// clock once per group of up to 64 replies; it must not block.
	Latency Observer
	// Dial opens the connection to Addr within timeout; nil means TCP
	// with Nagle off. Tests give an in-memory pipe so that timeouts run
	// on testing/synctest's clock.
	Dial func(addr string, timeout time.Duration) (net.Conn, error)
}

// Observer receives durations in nanoseconds. metrics.Histogram is one.
type Observer interface {
	Observe(ns int64)
}

// DefaultTimeout is the forwarding timeout: long enough for a loaded
// peer's p99, short enough that a stopped peer never stalls clients for
// long.
const DefaultTimeout = 200 * time.Millisecond

// Stats counts a client's traffic.
type Stats struct {
	Commands, Replies, Batches, Timeouts, Failures, Dials int64
}

type call struct {
	w        Waiter
	deadline int64 // monotonic ns; Flush's clock + Timeout
	untimed  bool  // not observed by Latency (a transaction's MULTI and queued commands, RL.PEER)
}

// Client is one pipelined RESP connection to a peer, shared by every
// client of this node whose commands go there: commands are appended to
// one buffer and written by one writer goroutine in as few writes as the
// load allows (everything appended since the last write goes in the next),
// replies are read by one reader goroutine and handed, in order, to each
// command's Waiter. Nothing is started per command.
//
// The zero value is not usable; use NewClient. Safe for concurrent use.
type Client struct {
	cfg   Config
	start time.Time

	mu      sync.Mutex
	wake    sync.Cond
	out     []byte // appended, not yet taken by the writer
	queued  []call // their waiters, in order
	pending []call // written (or being written), awaiting replies, in order
	conn    net.Conn
	gen     uint64 // connection generation: a stale reader's failure is ignored
	closed  bool
	armed   bool // timer set
	timer   *time.Timer
	spare   []byte

	commands, replies, batches, timeouts, failures, dials atomic.Int64
	healthy                                               atomic.Bool // the last event was a reply, not a failure
}

// NewClient returns a client for cfg and starts its writer. The connection
// is dialed when the first command is flushed and again after a failure.
func NewClient(cfg Config) *Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	c := &Client{cfg: cfg, start: time.Now()}
	c.wake.L = &c.mu
	c.timer = time.AfterFunc(time.Hour, c.expire)
	c.timer.Stop()
	go c.writer()
	return c
}

// Addr returns the peer's address.
func (c *Client) Addr() string { return c.cfg.Addr }

func (c *Client) mono() int64 { return int64(time.Since(c.start)) }

// Forward queues RL.FWD for args, run as user (see AppendForward); w
// gets the reply. Nothing is written until Flush.
func (c *Client) Forward(now int64, resp, hops int, user string, args [][]byte, w Waiter) {
	c.mu.Lock()
	c.out = AppendForward(c.out, now, resp, hops, user, args)
	c.queued = append(c.queued, call{w: w})
	c.mu.Unlock()
}

// ForwardUnreachable queues RL.FWDU for args (see AppendUnreachable): the
// slot's holder did not answer; the peer is its first replica.
func (c *Client) ForwardUnreachable(now int64, resp, hops int, user string, args [][]byte, w Waiter) {
	c.mu.Lock()
	c.out = AppendUnreachable(c.out, now, resp, hops, user, args)
	c.queued = append(c.queued, call{w: w})
	c.mu.Unlock()
}

// ForwardTx queues a transaction as RL.FWD MULTI, each command, RL.FWD
// EXEC, appended together so that no other command comes between them on
// the connection; w gets EXEC's reply (the others are +OK and +QUEUED,
// and a refused command shows in EXEC's reply as EXECABORT).
func (c *Client) ForwardTx(now int64, resp, hops int, user string, cmds [][][]byte, w Waiter) {
	multi, exec := [][]byte{[]byte("MULTI")}, [][]byte{[]byte("EXEC")}
	c.mu.Lock()
	c.out = AppendForward(c.out, now, resp, hops, user, multi)
	c.queued = append(c.queued, call{w: discard{}, untimed: true})
	for _, args := range cmds {
		c.out = AppendForward(c.out, now, resp, hops, user, args)
		c.queued = append(c.queued, call{w: discard{}, untimed: true})
	}
	c.out = AppendForward(c.out, now, resp, hops, user, exec)
	c.queued = append(c.queued, call{w: w})
	c.mu.Unlock()
}

// discard is the Waiter of replies nobody needs.
type discard struct{}

func (discard) Reply([]byte, error) {}

// Do queues args as a plain command; w gets the reply. Nothing is written
// until Flush.
func (c *Client) Do(w Waiter, args ...[]byte) {
	c.mu.Lock()
	c.out = AppendCommand(c.out, args...)
	c.queued = append(c.queued, call{w: w})
	c.mu.Unlock()
}

// Flush hands everything queued to the writer and starts its commands'
// timeout. Call it once per batch (an event-loop iteration, a client's
// pipeline), not per command.
func (c *Client) Flush() {
	now := c.mono()
	c.mu.Lock()
	if len(c.queued) == 0 {
		c.mu.Unlock()
		return
	}
	deadline := now + int64(c.cfg.Timeout)
	for i := len(c.queued) - 1; i >= 0 && c.queued[i].deadline == 0; i-- {
		c.queued[i].deadline = deadline
	}
	c.arm()
	c.mu.Unlock()
	c.wake.Signal()
}

// arm starts the timer when commands are waiting and it is not running.
// Callers hold mu.
func (c *Client) arm() {
	if !c.armed && !c.closed {
		c.armed = true
		c.timer.Reset(c.cfg.Timeout)
	}
}

// expire fails everything when the oldest command is past its deadline,
// or re-arms for it.
func (c *Client) expire() {
	c.mu.Lock()
	c.armed = false
	var oldest int64
	switch {
	case len(c.pending) > 0:
		oldest = c.pending[0].deadline
	case len(c.queued) > 0 && c.queued[0].deadline != 0:
		oldest = c.queued[0].deadline
	default:
		c.mu.Unlock()
		return
	}
	if wait := oldest - c.mono(); wait > 0 {
		c.armed = true
		c.timer.Reset(time.Duration(wait))
		c.mu.Unlock()
		return
	}
	c.timeouts.Add(1)
	failed := c.reset(c.gen, true)
	c.mu.Unlock()
	deliver(failed, ErrTimeout)
}

// reset drops connection gen (if still current) and returns the waiters to
// fail: those awaiting replies, and with all also those never written.
// Callers hold mu.
func (c *Client) reset(gen uint64, all bool) []call {
	if gen != c.gen {
		return nil
	}
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	c.gen++
	failed := c.pending
	c.pending = nil
	if all {
		failed = append(failed, c.queued...)
		c.queued = nil
		c.out = c.out[:0]
	}
	if len(failed) > 0 {
		c.failures.Add(1)
		c.healthy.Store(false)
	}
	return failed
}

func deliver(calls []call, err error) {
	for _, cl := range calls {
		cl.w.Reply(nil, err)
	}
}

// Close fails every waiting command with ErrClosed and stops the client.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	failed := c.reset(c.gen, true)
	c.timer.Stop()
	c.mu.Unlock()
	c.wake.Broadcast()
	deliver(failed, ErrClosed)
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{Commands: c.commands.Load(), Replies: c.replies.Load(), Batches: c.batches.Load(),
		Timeouts: c.timeouts.Load(), Failures: c.failures.Load(), Dials: c.dials.Load()}
}

// Healthy reports whether the peer answered since its last failure.
func (c *Client) Healthy() bool { return c.healthy.Load() }

// Waiting returns how many commands await a reply or a write.
func (c *Client) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending) + len(c.queued)
}

// writer takes whatever was flushed, dials when there is no connection,
// and writes it in one call.
func (c *Client) writer() {
	var prefix []byte // RL.PEER on a new connection
	c.mu.Lock()
	for {
		// Flushed commands are a prefix of queued.
		for !c.closed && (len(c.queued) == 0 || c.queued[0].deadline == 0) {
			c.wake.Wait()
		}
		if c.closed {
			c.mu.Unlock()
			return
		}
		if c.conn == nil {
			c.mu.Unlock()
			conn, err := c.dial()
			c.dials.Add(1)
			c.mu.Lock()
			if err != nil {
				failed := c.reset(c.gen, true)
				c.mu.Unlock()
				deliver(failed, err)
				c.mu.Lock()
				continue
			}
			if c.closed {
				conn.Close()
				continue
			}
			c.conn = conn
			go c.reader(conn, c.gen)
			if c.cfg.Token != "" {
				prefix = AppendCommand(prefix[:0], []byte(AuthCommand), []byte(c.cfg.Token))
				c.pending = append(c.pending, call{w: authWaiter{}, deadline: c.mono() + int64(c.cfg.Timeout), untimed: true})
			}
		}
		// Take the flushed prefix; commands appended but not flushed stay.
		n := len(c.queued)
		for n > 0 && c.queued[n-1].deadline == 0 {
			n--
		}
		cut := len(c.out)
		if n < len(c.queued) {
			cut = c.flushedBytes(n)
		}
		buf := append(append(c.spare[:0], prefix...), c.out[:cut]...)
		prefix = prefix[:0]
		c.out = append(c.out[:0], c.out[cut:]...)
		c.pending = append(c.pending, c.queued[:n]...)
		c.queued = append(c.queued[:0], c.queued[n:]...)
		c.commands.Add(int64(n))
		c.batches.Add(1)
		conn, gen := c.conn, c.gen
		c.mu.Unlock()
		conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
		_, err := conn.Write(buf)
		c.mu.Lock()
		c.spare = buf
		if err != nil {
			failed := c.reset(gen, false)
			c.mu.Unlock()
			deliver(failed, err)
			c.mu.Lock()
		}
	}
}

func (c *Client) dial() (net.Conn, error) {
	dial := c.cfg.Dial
	if dial == nil {
		dial = dialTCP
	}
	conn, err := dial(c.cfg.Addr, c.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if c.cfg.TLS == nil {
		return conn, nil
	}
	tconn := tls.Client(conn, c.cfg.TLS)
	tconn.SetDeadline(time.Now().Add(c.cfg.Timeout))
	if err := tconn.Handshake(); err != nil {
		conn.Close()
		return nil, err
	}
	tconn.SetDeadline(time.Time{})
	return tconn, nil
}

func dialTCP(addr string, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return conn, nil
}

// flushedBytes returns the length of the first n commands in out. Callers
// hold mu. Only reached when a Flush raced with further appends.
func (c *Client) flushedBytes(n int) int {
	pos := 0
	for range n {
		m, _ := commandLen(c.out[pos:])
		pos += m
	}
	return pos
}

// commandLen returns the length of the multibulk at the start of b (which
// this package wrote, so it is well formed).
func commandLen(b []byte) (int, error) { return FrameLen(b) }

// reader hands replies to their waiters in order until the connection
// fails.
func (c *Client) reader(conn net.Conn, gen uint64) {
	buf := make([]byte, 0, 64<<10)
	var batch []call
	for {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), 2*cap(buf))
			copy(nb, buf)
			buf = nb
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		if n == 0 && err != nil {
			c.mu.Lock()
			failed := c.reset(gen, false)
			c.mu.Unlock()
			deliver(failed, err)
			return
		}
		buf = buf[:len(buf)+n]
		pos, perr := c.dispatch(buf, gen, &batch)
		if perr != nil {
			c.mu.Lock()
			failed := c.reset(gen, false)
			c.mu.Unlock()
			deliver(failed, perr)
			return
		}
		if pos < 0 {
			return // a newer connection replaced this one
		}
		buf = buf[:copy(buf, buf[pos:])]
	}
}

// dispatch hands every complete reply in buf to its waiter, taking the
// waiters under one lock per 64 replies, and returns how many bytes it
// used; -1 when gen is no longer the current connection.
func (c *Client) dispatch(buf []byte, gen uint64, batch *[]call) (int, error) {
	pos := 0
	for {
		var ends [64]int
		k, scan := 0, pos
		for k < len(ends) {
			m, err := FrameLen(buf[scan:])
			if err != nil {
				return 0, err
			}
			if m == 0 {
				break
			}
			if buf[scan] == '>' {
				if c.cfg.OnPush != nil {
					c.cfg.OnPush(buf[scan : scan+m])
				}
			} else {
				ends[k] = scan + m
				k++
			}
			scan += m
		}
		if k == 0 {
			return scan, nil
		}
		c.mu.Lock()
		if gen != c.gen {
			c.mu.Unlock()
			return -1, nil
		}
		if len(c.pending) < k {
			c.mu.Unlock()
			return 0, ErrProtocol // more replies than commands
		}
		*batch = append((*batch)[:0], c.pending[:k]...)
		c.pending = append(c.pending[:0], c.pending[k:]...)
		c.mu.Unlock()
		c.replies.Add(int64(k))
		c.healthy.Store(true)
		// One clock reading for the group: each command's round trip is
		// measured from its Flush (deadline - Timeout) to here.
		lat := c.cfg.Latency
		var due int64 // now + Timeout: a command flushed now would be due then
		if lat != nil {
			due = c.mono() + int64(c.cfg.Timeout)
		}
		for i, end := range ends[:k] {
			f := buf[pos:end]
			for f[0] == '>' { // a push delivered above, before this reply
				m, _ := FrameLen(f)
				f = f[m:]
			}
			if _, ok := (*batch)[i].w.(authWaiter); ok {
				if string(f) != "+OK\r\n" {
					c.mu.Lock()
					failed := append((*batch)[i+1:], c.reset(gen, false)...)
					c.mu.Unlock()
					deliver(failed, ErrAuth)
					return -1, nil
				}
			} else {
				cl := (*batch)[i]
				if lat != nil && !cl.untimed {
					lat.Observe(due - cl.deadline)
				}
				cl.w.Reply(f, nil)
			}
			pos = end
		}
		pos = scan
		if k < len(ends) {
			return pos, nil
		}
	}
}

// authWaiter stands for RL.PEER's reply, which dispatch checks itself: a
// refusal fails the connection before any later reply is relayed.
type authWaiter struct{}

func (authWaiter) Reply([]byte, error) {}
