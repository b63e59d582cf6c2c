package server

import (
	"crypto/tls"
	"net"

	"github.com/rlserver/rlserver/peer"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rlserver/rlserver/acl"
)

// Client is one connection's state. It is owned by the goroutine or event
// loop serving the connection (the owner); other goroutines touch only the
// atomics, the fields under infoMu, and the push queue under outMu.
type Client struct {
	id      int64
	conn    clientConn
	addr    string
	laddr   string
	fd      int   // the socket's descriptor (CLIENT LIST), -1 when unknown
	created int64 // Unix ns
	// Read by other clients' CLIENT LIST, hence atomic or under infoMu.
	lastCmd               atomic.Int64            // Unix ns of the last input or command
	lastName              atomic.Pointer[command] // the last command
	lastSub               atomic.Pointer[string]  // its subcommand ("client|list"), nil if none
	mem                   memStats                // buffer sizes as of the last batch
	infoMu                sync.Mutex              // guards name, libName, libVer
	name, libName, libVer string
	resp                  int // owner only; CLIENT LIST reads it under infoMu too
	authed                bool
	quit                  bool
	// olim are the server's output limits, read with clock; softSince is
	// when the output reached the soft limit (0: under it); pushClass
	// puts the client in the pubsub class (tracking on). See outlimit.go.
	olim      *atomic.Pointer[OutputLimits]
	clock     *Clock
	softSince atomic.Int64
	pushClass atomic.Bool
	// user is the ACL user the client runs as (the default user until
	// AUTH); atomic because ACL DELUSER and CLIENT LIST read it.
	user atomic.Pointer[acl.Handle]

	multi      bool
	queued     [][][]byte // MULTI queue; copies of the arguments
	queuedSize int        // bytes held by queued
	multiErr   bool       // a queued command was rejected: EXEC aborts
	// locks is the set of shards this client holds while a command or a
	// transaction runs; see lock.go.
	locks lockSet
	// inExec is true while EXEC runs its queue: nested commands must not
	// take shard locks outside locks, nor evict.
	inExec bool
	// execBgsave is set when BGSAVE in the running EXEC started a save.
	execBgsave bool
	// scriptRun is the script whose shards the client's set marks, from
	// acquisition to release; script is the host its scripts call back.
	scriptRun *scriptRun
	script    scriptHost
	// running is the script the client runs now, if any, for SCRIPT KILL
	// (which other clients' goroutines read).
	running atomic.Pointer[scriptRun]
	// inval are invalidations owed once the shard locks are released.
	inval pendingInval

	overLimit bool // the store is at maxmemory: this command may not create keys

	// st holds this client's command counters (the event loop's, or one
	// shared by a few goroutine-front clients); see cmdstats.go.
	st *statShard
	// nextNow is the clock reading that ended the previous command of the
	// current batch; the next command starts at it (hasNext).
	nextNow int64
	hasNext bool

	track trackingState

	in  inbuf     // unparsed input
	req reqParser // parse state of the pending command
	out []byte    // replies not yet handed to the connection

	// outMu guards the push queue: invalidations other clients cause are
	// queued here and written after the replies already due (see push).
	outMu  sync.Mutex
	busy   bool   // the owner is running a batch and will flush pushq after it
	kicked bool   // a flush of pushq has been requested from the transport
	pushq  []byte // pushes waiting to be written

	// Cluster: replies of forwarded commands (see cluster.go). fwdq and
	// ready are under outMu; the rest is the owner's.
	fwdq     []fwdEntry     // holes for replies still to come, in order
	ready    []byte         // released replies, due after out
	fwdOpen  bool           // fwdq or ready may be non-empty: outputs go behind them
	fwdPeers []*peer.Client // peers this batch queued commands for
	peer     bool           // an authenticated cluster peer (RL.PEER)
	txSlot   int            // the slot of the MULTI queue's keys; -1 none yet
	// importMerge marks the slots of the handoff this peer is sending
	// that this node held already: their entries merge (RL.IMPORT).
	importMerge *[256]uint64
	fwdHops     int // hops the command being run has made (RL.FWD)
}

// memStats are a client's buffer sizes for CLIENT LIST, published by the
// owner after each batch.
type memStats struct {
	qbuf, qbufFree, argvMem, omem atomic.Int64
}

// clientConn is the transport under a Client: the goroutine front wraps a
// net.Conn, the epoll front a raw socket. Replies and pushes reach it only
// through Client.flush and Client.push, the one path to the client.
type clientConn interface {
	// write sends b after everything written before; called by the owner,
	// or by the push flusher when the owner is idle. b is not retained.
	write(b []byte) error
	// pending is how many written bytes the socket has not taken yet.
	pending() int
	// kick asks for c's queued pushes to be flushed while the owner is
	// idle. Called from any goroutine, with c.outMu held; must not block.
	kick(c *Client)
	close()
}

// Buffer sizes. A read takes at most readSize bytes (Redis's
// PROTO_IOBUF_LEN), so one busy client gets a bounded turn. A client's
// batch stops running once flushThreshold bytes of replies wait; they are
// written before it goes on, and the epoll front stops serving a client
// the socket does not drain (with Config.SendBuffer, a client that does
// not read is stalled after a few hundred KB of replies). A client whose
// unwritten output passes its class's limits is disconnected (see
// OutputLimits), as Redis's client-output-buffer-limit does.
const (
	readSize       = 16 << 10
	flushThreshold = 16 << 10
)

func (s *Server) newClient(conn clientConn, addr, laddr string, fd int) *Client {
	c := &Client{
		id:      s.nextID.Add(1),
		conn:    conn,
		addr:    addr,
		laddr:   laddr,
		fd:      fd,
		created: s.clock.Now(),
		resp:    2,
		txSlot:  -1,
		authed:  s.acl.DefaultOpen(),
	}
	c.user.Store(s.acl.Default())
	c.olim, c.clock = &s.olim, s.clock
	c.req.bulk = -1
	c.st = s.statShards[int(c.id)%len(s.statShards)]
	c.lastCmd.Store(c.created)
	s.mu.Lock()
	s.clients[c.id] = c
	s.mu.Unlock()
	s.stats.connections.Add(1)
	return c
}

func (s *Server) dropClient(c *Client) {
	s.tracking.forget(c)
	s.mu.Lock()
	delete(s.clients, c.id)
	s.mu.Unlock()
	c.conn.close()
}

// limits returns the parser bounds for c.
func (s *Server) limits(c *Client) parseLimits {
	return parseLimits{
		maxArgs:  s.cfg.MaxArgs,
		maxBulk:  s.cfg.MaxBulkBytes,
		maxQuery: s.cfg.MaxQueryBytes,
		unauth:   !c.authed,
	}
}

// consume executes the complete commands at the start of in, appending
// their replies to c.out. It returns how many bytes it used; more is true
// when it stopped because flushThreshold bytes of replies wait (the caller
// flushes and calls again with the rest); ok is false when the connection
// must close (a protocol error, whose reply is in c.out, QUIT, or an
// output or query limit).
func (s *Server) consume(c *Client, in []byte) (used int, more, ok bool) {
	if s.cl != nil {
		defer c.flushPeers()
	}
	lim := s.limits(c)
	c.hasNext = false // time passed since the last batch
	for used < len(in) {
		n, args, perr := c.req.next(in[used:], &lim)
		if perr != "" {
			s.protocolError(c, perr)
			return used, false, false
		}
		if n == 0 {
			break
		}
		used += n
		if args == nil {
			continue
		}
		mark := len(c.out)
		s.execute(c, args)
		if c.fwdOpen {
			c.deferOutput(mark)
		}
		if c.quit {
			return used, false, false
		}
		if c.outputOver(len(c.out) + c.conn.pending()) {
			s.warn.Warn("output-limit", "closing client that reached the output buffer limit", "client", c.addr, "bytes", len(c.out))
			c.out = c.out[:0]
			return used, false, false
		}
		if len(c.out) >= flushThreshold && used < len(in) {
			return used, true, true
		}
		if !lim.unauth != c.authed {
			lim = s.limits(c) // AUTH or HELLO changed the limits
		}
	}
	return used, false, true
}

func (s *Server) protocolError(c *Client, msg string) {
	s.stats.protocolErrors.Add(1)
	if msg == errQueryLimit {
		// Redis closes such a client without a reply.
		s.warn.Warn("query-limit", "closing client that reached the query buffer limit", "client", c.addr)
		return
	}
	msg = "ERR Protocol error: " + msg
	c.st.countError([]byte(msg))
	c.out = appendError(c.out, msg)
	s.log.Debug("protocol error, closing connection", "client", c.addr, "error", msg)
}

// begin marks the start of a batch: pushes from now on wait for flush.
func (c *Client) begin() {
	c.outMu.Lock()
	c.busy = true
	c.outMu.Unlock()
}

// flush writes c.out followed by the pushes queued so far, so that a push
// never overtakes a reply already due. done ends the batch: pushes from
// then on are written as they come. Called only by the owner; on the
// goroutine front the caller holds the connection's write lock.
func (c *Client) flush(done bool) error {
	c.outMu.Lock()
	if len(c.ready) > 0 {
		c.out = append(c.out, c.ready...)
		c.ready = c.ready[:0]
	}
	if c.fwdOpen && len(c.fwdq) == 0 {
		c.fwdOpen = false
	}
	if len(c.pushq) > 0 {
		c.out = append(c.out, c.pushq...)
		c.pushq = c.pushq[:0]
	}
	if done {
		c.busy = false
	}
	c.outMu.Unlock()
	if len(c.out) == 0 {
		return nil
	}
	c.st.netOut.Add(uint64(len(c.out)))
	c.st.writes.Add(1)
	err := c.conn.write(c.out)
	c.out = c.out[:0]
	if cap(c.out) > 2*flushThreshold {
		c.out = nil // a big reply's buffer is not kept by an idle client
	}
	return err
}

// push queues an out-of-band frame (an invalidation) for c from any
// goroutine. It never blocks on c's socket: while c's owner runs a batch
// the frame waits for the owner's flush, after the replies already due;
// otherwise the transport is kicked to write it. A client whose queue
// passes its output limits is disconnected.
func (c *Client) push(frame []byte) {
	c.outMu.Lock()
	if c.outputOver(len(c.pushq) + len(frame)) {
		c.outMu.Unlock()
		c.conn.close()
		return
	}
	c.pushq = append(c.pushq, frame...)
	if !c.busy && !c.kicked {
		c.kicked = true
		c.conn.kick(c)
	}
	c.outMu.Unlock()
}

// takePushes moves queued pushes to c.out (owner only, between commands):
// pushes caused by c's own command follow its reply, as in Redis 7.
func (c *Client) takePushes() {
	c.outMu.Lock()
	if len(c.pushq) > 0 {
		c.out = append(c.out, c.pushq...)
		c.pushq = c.pushq[:0]
	}
	c.outMu.Unlock()
}

// publish records buffer sizes for CLIENT LIST (owner only); unparsed is
// the input not yet run, -1 for what c.in holds.
func (c *Client) publish(unparsed int) {
	if unparsed < 0 {
		unparsed = c.in.w - c.in.r
	}
	c.mem.qbuf.Store(int64(unparsed))
	c.mem.qbufFree.Store(int64(len(c.in.b) - c.in.w))
	_, argv := c.req.pendingArgs()
	c.mem.argvMem.Store(int64(argv))
	c.mem.omem.Store(int64(c.conn.pending() + len(c.out)))
}

// inbuf is a connection's unparsed input, b[r:w]. Its zero value is an
// empty buffer.
type inbuf struct {
	b    []byte
	r, w int
}

func (q *inbuf) pending() []byte { return q.b[q.r:q.w] }

// reserve makes room for at least min more bytes, and for want bytes of
// pending input in total (a big bulk: the buffer gets exactly its size).
// Pending bytes are moved only when at least as many bytes are freed, so
// each input byte is copied a bounded number of times.
func (q *inbuf) reserve(min, want int) {
	n := q.w - q.r
	need := max(n+min, want)
	if need <= len(q.b)-q.r {
		return
	}
	if need <= len(q.b) && 2*n <= len(q.b) {
		copy(q.b, q.b[q.r:q.w])
		q.r, q.w = 0, n
		return
	}
	size := need
	if want < need {
		// Double small buffers; grow large ones (a huge pending command)
		// by a quarter, so that their capacity stays near their content.
		grow := len(q.b)
		if grow >= 256<<10 {
			grow /= 4
		}
		size = max(need, len(q.b)+grow)
	}
	nb := make([]byte, size)
	copy(nb, q.b[q.r:q.w])
	q.b, q.r, q.w = nb, 0, n
}

// room returns where the next read goes: at least min free bytes; or,
// while a big bulk is pending (want > 0), exactly the bytes still missing
// up to want, in a buffer of that size, as Redis reads a big argument.
func (q *inbuf) room(min, want int) []byte {
	if n := q.w - q.r; want > n {
		q.reserve(want-n, want)
		return q.b[q.w : q.r+want]
	}
	q.reserve(min, 0)
	return q.b[q.w:]
}

// consumed drops used bytes; keep is the buffer size an idle connection
// keeps (0: none).
func (q *inbuf) consumed(used, keep int) {
	q.r += used
	if q.r < q.w {
		return
	}
	q.r, q.w = 0, 0
	if len(q.b) > keep {
		q.b = nil
		if keep > 0 {
			q.b = make([]byte, keep)
		}
	}
}

// netConn is the goroutine front's transport. wmu serializes the owner's
// writes with the push flusher's.
type netConn struct {
	nc  net.Conn
	wmu sync.Mutex
}

func (n *netConn) write(b []byte) error {
	_, err := n.nc.Write(b)
	return err
}

func (n *netConn) pending() int { return 0 }

// kick starts a goroutine that writes c's queued pushes: the pusher never
// waits for a slow reader. At most one runs per client (c.kicked).
func (n *netConn) kick(c *Client) {
	go func() {
		n.wmu.Lock()
		defer n.wmu.Unlock()
		c.outMu.Lock()
		c.kicked = false
		if c.busy {
			// The owner started a batch meanwhile; its flush writes them.
			c.outMu.Unlock()
			return
		}
		b := append(append([]byte(nil), c.ready...), c.pushq...)
		c.ready, c.pushq = c.ready[:0], c.pushq[:0]
		c.outMu.Unlock()
		if len(b) > 0 && n.write(b) != nil {
			n.nc.Close()
		}
	}()
}

func (n *netConn) close() { n.nc.Close() }

// serveConn is the goroutine front: one goroutine per connection reads,
// runs every complete command the read holds and writes all their replies
// with one syscall (or one per flushThreshold bytes of replies).
func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	if tc, ok := nc.(*net.TCPConn); ok && s.cfg.SendBuffer > 0 {
		tc.SetWriteBuffer(s.cfg.SendBuffer)
	}
	conn := &netConn{nc: nc}
	c := s.newClient(conn, nc.RemoteAddr().String(), nc.LocalAddr().String(), socketFD(nc))
	defer s.dropClient(c)
	const keep = readSize
	c.in.b = make([]byte, keep)
	for {
		n, err := nc.Read(c.in.room(4<<10, c.req.want()))
		if n == 0 && err != nil {
			return
		}
		c.st.netIn.Add(uint64(n))
		c.st.reads.Add(1)
		c.in.w += n
		c.lastCmd.Store(s.clock.Now()) // input: not idle (timeout, CLIENT LIST)
		c.begin()
		ok := true
		for {
			used, more, good := s.consume(c, c.in.pending())
			c.in.consumed(used, keep)
			if !good || !more {
				ok = good
				break
			}
			c.publish(-1)
			conn.wmu.Lock()
			err := c.flush(false)
			conn.wmu.Unlock()
			if err != nil {
				return
			}
		}
		conn.wmu.Lock()
		err = c.flush(true)
		conn.wmu.Unlock()
		c.publish(-1)
		if err != nil || !ok {
			return
		}
	}
}

// socketFD returns nc's descriptor for CLIENT LIST, or -1.
func socketFD(nc net.Conn) int {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}

// guard turns a handler panic into an error reply so that one bad command
// never takes the process down.
func (s *Server) guard(c *Client, start int) {
	if r := recover(); r != nil {
		if _, ok := r.(lockRefusal); ok {
			c.out = appendError(c.out[:start], errLockRefused)
			return
		}
		if _, ok := r.(busyRefusal); ok {
			c.out = appendError(c.out[:start], errBusy)
			return
		}
		s.stats.recoveredPanics.Add(1)
		s.warn.Error("panic", "command panicked", "client", c.addr, "panic", r, "stack", string(debug.Stack()))
		c.out = appendError(c.out[:start], "ERR internal error")
	}
}

// clockNow returns the instant the next command starts: the reading that
// ended the previous command of the batch, or a fresh one.
func (c *Client) clockNow(s *Server) int64 {
	if c.hasNext {
		c.hasNext = false
		return c.nextNow
	}
	return s.clock.Now()
}
