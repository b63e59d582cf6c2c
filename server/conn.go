package server

import (
	"errors"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/redcon"
)

// Client is one connection's state. It is owned by the goroutine or event
// loop serving the connection; only pushes (tracking invalidations) come
// from other goroutines, and they go through conn, which serializes them
// with replies.
type Client struct {
	id      int64
	conn    clientConn
	addr    string
	laddr   string
	created int64 // Unix ns
	// Read by other clients' CLIENT LIST, hence atomic or under infoMu.
	lastCmd               atomic.Int64            // Unix ns of the last command
	lastName              atomic.Pointer[command] // the last command
	infoMu                sync.Mutex              // guards name, libName, libVer
	name, libName, libVer string
	resp                  int // owner only; CLIENT LIST reads it under infoMu too
	authed                bool
	quit                  bool

	multi    bool
	queued   [][][]byte // MULTI queue; copies of the arguments
	multiErr bool       // a queued command was rejected: EXEC aborts
	inExec   bool       // EXEC holds the shard locks; handlers must not lock
	// execWrites are keys EXEC wrote, invalidated after it unlocks.
	execWrites [][]byte

	overLimit bool // the store is at maxmemory: this command may not create keys

	track trackingState

	in      []byte   // unparsed input carried between reads
	argsbuf [][]byte // reused argument slice headers
	out     []byte   // replies of the current batch
}

// clientConn is the transport under a Client: the goroutine front wraps a
// net.Conn, the epoll front a raw socket.
type clientConn interface {
	// reply writes a batch of replies; called only by the owner.
	reply(b []byte) error
	// push writes an out-of-band frame from any goroutine without blocking
	// it for long; a connection that cannot take it is closed.
	push(b []byte)
	close()
}

func (s *Server) newClient(conn clientConn, addr, laddr string) *Client {
	c := &Client{
		id:      s.nextID.Add(1),
		conn:    conn,
		addr:    addr,
		laddr:   laddr,
		created: s.clock.Now(),
		resp:    2,
		authed:  s.cfg.RequirePass == "",
	}
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

// consume executes every complete command in buf, appending the replies to
// c.out. It returns the unparsed tail, and false when the connection must
// close (a protocol error, whose reply is already in c.out, or QUIT).
func (s *Server) consume(c *Client, buf []byte) ([]byte, bool) {
	for len(buf) > 0 {
		if c.quit {
			return nil, false
		}
		complete, args, kind, leftover, err := redcon.ReadNextCommand(buf, c.argsbuf)
		if err == nil && kind == redcon.Tile38 {
			err = errors.New("expected '*', got '$'")
		}
		if err != nil {
			s.protocolError(c, err.Error())
			return nil, false
		}
		if !complete {
			if msg := s.scanPending(buf); msg != "" {
				s.protocolError(c, msg)
				return nil, false
			}
			return buf, true
		}
		c.argsbuf = args[:0]
		buf = leftover
		if len(args) > 0 {
			s.execute(c, args)
		}
	}
	return buf, !c.quit
}

func (s *Server) protocolError(c *Client, msg string) {
	s.stats.protocolErrors.Add(1)
	c.out = appendError(c.out, "ERR Protocol error: "+msg)
	s.log.Debug("protocol error, closing connection", "client", c.addr, "error", msg)
}

// netConn is the goroutine front's transport.
type netConn struct {
	nc net.Conn
	mu sync.Mutex // serializes replies and pushes
}

func (n *netConn) reply(b []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, err := n.nc.Write(b)
	return err
}

func (n *netConn) push(b []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, err := n.nc.Write(b)
	n.nc.SetWriteDeadline(time.Time{})
	if err != nil {
		n.nc.Close()
	}
}

func (n *netConn) close() { n.nc.Close() }

// serveConn is the goroutine front: one goroutine per connection reads,
// runs every complete command the read holds and writes all their replies
// with one syscall.
func (s *Server) serveConn(nc net.Conn) {
	defer s.wg.Done()
	c := s.newClient(&netConn{nc: nc}, nc.RemoteAddr().String(), nc.LocalAddr().String())
	defer s.dropClient(c)
	buf := make([]byte, 0, 16<<10)
	for {
		if len(buf) == cap(buf) {
			// Grow for a large incomplete command; consume has checked the
			// limits before we get here.
			nb := make([]byte, len(buf), 2*cap(buf))
			copy(nb, buf)
			buf = nb
		}
		n, err := nc.Read(buf[len(buf):cap(buf)])
		if n == 0 && err != nil {
			return
		}
		buf = buf[:len(buf)+n]
		rest, ok := s.consume(c, buf)
		if len(c.out) > 0 {
			if c.conn.reply(c.out) != nil {
				return
			}
			c.out = c.out[:0]
		}
		if !ok {
			return
		}
		// Keep the unparsed tail; shrink a buffer a big command inflated.
		if cap(buf) > 64<<10 && len(rest) < 16<<10 {
			nb := make([]byte, len(rest), 16<<10)
			copy(nb, rest)
			buf = nb
		} else {
			buf = buf[:copy(buf, rest)]
		}
		if cap(c.out) > 1<<20 {
			c.out = nil
		}
	}
}

// scanPending checks the header of an incomplete command against the
// limits before more of it is buffered, the checks Redis makes.
func (s *Server) scanPending(p []byte) string {
	if len(p) > s.cfg.MaxQueryBytes {
		return "query buffer limit exceeded"
	}
	if p[0] != '*' {
		if len(p) > 64<<10 {
			return "too big inline request"
		}
		return ""
	}
	line, rest, ok := cutLine(p[1:])
	if !ok {
		if len(p) > 32 {
			return "invalid multibulk length"
		}
		return ""
	}
	n, ok := parseInt64(line)
	if !ok || n > int64(s.cfg.MaxArgs) {
		return "invalid multibulk length"
	}
	for ; n > 0 && len(rest) > 0; n-- {
		if rest[0] != '$' {
			return "expected '$', got '" + string(rest[0]) + "'"
		}
		line, after, ok := cutLine(rest[1:])
		if !ok {
			if len(rest) > 32 {
				return "invalid bulk length"
			}
			return ""
		}
		l, ok := parseInt64(line)
		if !ok || l < 0 || l > int64(s.cfg.MaxBulkBytes) {
			return "invalid bulk length"
		}
		if int64(len(after)) < l+2 {
			return ""
		}
		rest = after[l+2:]
	}
	return ""
}

func cutLine(p []byte) (line, rest []byte, ok bool) {
	for i := 0; i+1 < len(p); i++ {
		if p[i] == '\r' && p[i+1] == '\n' {
			return p[:i], p[i+2:], true
		}
	}
	return nil, nil, false
}

// guard turns a handler panic into an error reply so that one bad command
// never takes the process down.
func (s *Server) guard(c *Client, start int) {
	if r := recover(); r != nil {
		s.stats.recoveredPanics.Add(1)
		s.log.Error("command panicked", "client", c.addr, "panic", r, "stack", string(debug.Stack()))
		c.out = appendError(c.out[:start], "ERR internal error")
	}
}
