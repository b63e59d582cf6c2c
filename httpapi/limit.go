package httpapi

import (
	"net"
	"sync"
)

// DefaultMaxConns is the default cap on open HTTP connections: far above
// what pooled HTTP clients keep open, far below the descriptors the RESP
// side needs (maxclients), so HTTP can never starve it.
const DefaultMaxConns = 4096

// LimitListener returns ln accepting at most n connections at a time:
// beyond n, Accept waits for one to close, and the connections waiting
// stay in the kernel's backlog. Without it a flood of HTTP connections
// (each held by keep-alive or a slow client) can take every file
// descriptor of the process. n <= 0 means no limit.
func LimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its slot back once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
