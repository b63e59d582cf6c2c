package server

import (
	"errors"
	"net"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/tidwall/redcon"
)

// Client is one connection's state. It is owned by the connection's
// goroutine; only pushes (tracking invalidations) come from elsewhere and
// they go through writeMu.
type Client struct {
	id      int64
	nc      net.Conn
	addr    string
	laddr   string
	created int64  // Unix ns
	lastCmd int64  // Unix ns of the last command
	lastArg string // command name of the last command, for CLIENT LIST

	name, libName, libVer string
	resp                  int
	authed                bool
	quit                  bool

	multi    bool
	queued   [][][]byte // MULTI queue; copies of the arguments
	multiErr bool       // a queued command was rejected: EXEC aborts
	inExec   bool       // EXEC holds the shard locks; handlers must not lock

	track trackingState

	out     []byte
	writeMu sync.Mutex // serializes writes to nc (replies and pushes)
}

func (s *Server) newClient(nc net.Conn) *Client {
	c := &Client{
		id:      s.nextID.Add(1),
		nc:      nc,
		addr:    nc.RemoteAddr().String(),
		laddr:   nc.LocalAddr().String(),
		created: s.clock.Now(),
		resp:    2,
		authed:  s.cfg.RequirePass == "",
	}
	c.lastCmd = c.created
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
	c.nc.Close()
}

var errProtocol = errors.New("protocol error")

// serveClient reads commands until the connection ends. Each read is
// parsed into as many complete commands as it holds; their replies are
// appended to one buffer and written with one syscall.
func (s *Server) serveClient(c *Client) {
	defer s.wg.Done()
	defer s.dropClient(c)
	buf := make([]byte, 0, 16<<10)
	argsbuf := make([][]byte, 0, 16)
	for {
		if len(buf) == cap(buf) {
			// Grow for a large incomplete command; the limit was checked
			// by scanPending before we got here.
			nb := make([]byte, len(buf), 2*cap(buf))
			copy(nb, buf)
			buf = nb
		}
		n, err := c.nc.Read(buf[len(buf):cap(buf)])
		if n == 0 && err != nil {
			return
		}
		buf = buf[:len(buf)+n]
		packet := buf
		for len(packet) > 0 && !c.quit {
			complete, args, kind, leftover, perr := redcon.ReadNextCommand(packet, argsbuf)
			if perr == nil && kind == redcon.Tile38 {
				perr = errors.New("expected '*', got '$'")
			}
			if perr != nil {
				s.protocolError(c, perr.Error())
				return
			}
			if !complete {
				if msg := s.scanPending(packet); msg != "" {
					s.protocolError(c, msg)
					return
				}
				break
			}
			argsbuf = args[:0]
			packet = leftover
			if len(args) == 0 {
				continue
			}
			s.execute(c, args)
		}
		if !s.flush(c) || c.quit {
			return
		}
		// Keep the unparsed tail; shrink a buffer a big command inflated.
		rest := len(packet)
		if cap(buf) > 64<<10 && rest < 16<<10 {
			nb := make([]byte, rest, 16<<10)
			copy(nb, packet)
			buf = nb
		} else {
			copy(buf, packet)
			buf = buf[:rest]
		}
		if cap(c.out) > 1<<20 {
			c.out = nil
		}
	}
}

func (s *Server) flush(c *Client) bool {
	if len(c.out) == 0 {
		return true
	}
	c.writeMu.Lock()
	_, err := c.nc.Write(c.out)
	c.writeMu.Unlock()
	c.out = c.out[:0]
	return err == nil
}

func (s *Server) protocolError(c *Client, msg string) {
	s.stats.protocolErrors.Add(1)
	c.out = appendError(c.out, "ERR Protocol error: "+msg)
	s.flush(c)
	s.log.Debug("protocol error, closing connection", "client", c.addr, "error", msg)
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
	n, err := strconv.ParseInt(string(line), 10, 64)
	if err != nil || n > int64(s.cfg.MaxArgs) {
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
		l, err := strconv.ParseInt(string(line), 10, 64)
		if err != nil || l < 0 || l > int64(s.cfg.MaxBulkBytes) {
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
