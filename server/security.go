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
		if err != nil {
			s.log.Debug("TLS handshake failed", "client", nc.RemoteAddr().String(), "error", err)
			nc.Close()
			s.wg.Done()
			return
		}
		s.serveConn(tc) // calls s.wg.Done
	}()
}

// idleLoop closes clients idle longer than cfg.IdleTimeout (Redis's
// timeout), checking once a second as Redis's clients cron does.
func (s *Server) idleLoop() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.reapIdle(s.clock.Now())
		}
	}
}

// reapIdle closes every client whose last input is older than the idle
// timeout. A client's input time is updated on every read, so a client
// in the middle of sending a large command is not idle.
func (s *Server) reapIdle(now int64) {
	var idle []*Client
	s.mu.Lock()
	for _, c := range s.clients {
		if now-c.lastCmd.Load() > s.cfg.IdleTimeout {
			idle = append(idle, c)
		}
	}
	s.mu.Unlock()
	for _, c := range idle {
		s.log.Debug("closing idle client", "client", c.addr)
		c.conn.close()
	}
}
