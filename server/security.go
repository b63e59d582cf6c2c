package server

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// tlsHandshakeTimeout bounds a TLS handshake, so that a client that opens
// a connection and says nothing holds no goroutine for long.
const tlsHandshakeTimeout = 10 * time.Second

// serveTLS serves one accepted TLS connection on the goroutine front (on
// both I/O models: the epoll front reads raw sockets, and TLS needs
// crypto/tls's record layer on top). The handshake runs first, bounded by
// tlsHandshakeTimeout and cut short by Close.
func (s *Server) serveTLS(nc net.Conn) {
	s.wg.Add(1)
	go func() {
		tc := tls.Server(nc, s.tls.ServerConfig())
		ctx, cancel := context.WithTimeout(context.Background(), tlsHandshakeTimeout)
		go func() {
			select {
			case <-s.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil || s.protectedRefuse(tc) {
			if err != nil {
				s.log.Debug("TLS handshake failed", "client", nc.RemoteAddr().String(), "error", err)
			}
			nc.Close()
			s.wg.Done()
			return
		}
		s.serveConn(tc) // calls s.wg.Done
	}()
}

// protectedRefuse applies protected mode to a new connection: when it is
// refused, the client gets the DENIED error (over TLS on the TLS port, as
// Redis answers after its handshake) and the connection is closed.
func (s *Server) protectedRefuse(nc net.Conn) bool {
	if !ProtectedRefuses(s.cfg.ProtectedMode, s.acl.DefaultOpen(), nc.RemoteAddr().String()) {
		return false
	}
	s.stats.rejectedConns.Add(1)
	s.log.Debug("protected mode refused a non-loopback client", "client", nc.RemoteAddr().String())
	nc.SetWriteDeadline(time.Now().Add(time.Second))
	nc.Write([]byte("-" + errDenied + "\r\n"))
	nc.Close()
	return true
}

// clientsCron runs once a second, as Redis's clients cron: it closes
// clients idle longer than the idle timeout, and clients whose unsent
// output has stayed over their class's soft limit for its seconds. The
// output limits are also checked whenever output grows (outputOver's
// other callers); this catches a client that stopped reading, which the
// fronts then stop serving, so that its output no longer grows.
func (s *Server) clientsCron() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.checkClients(s.clock.Now())
		}
	}
}

// checkClients closes every client idle for longer than the idle timeout
// (a client's input time is updated on every read, so one in the middle
// of sending a large command is not idle) or over its output limits by
// its last published backlog.
func (s *Server) checkClients(now int64) {
	var idle, over []*Client
	timeout := s.idleTimeout.Load()
	s.mu.Lock()
	for _, c := range s.clients {
		switch {
		case timeout > 0 && now-c.lastCmd.Load() > timeout:
			idle = append(idle, c)
		case c.outputOver(int(c.mem.omem.Load())):
			over = append(over, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		s.log.Debug("closing idle client", "client", c.addr)
		c.conn.close()
	}
	for _, c := range over {
		s.warn.Warn("output-limit", "closing client that reached the output buffer limit", "client", c.addr, "bytes", c.mem.omem.Load())
		c.conn.close()
	}
}
