package httpapi

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rlserver/rlserver/rules"
)

// Options configure a Server. Every field has a usable zero value except
// Addr (where to listen) and Now (the server's clock).
type Options struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:8080"; port 0
	// picks a free port. The caller does not create a Server when HTTP is
	// off (--http-addr '').
	Addr string
	// TLSConfig, when set, serves HTTPS on Addr instead of HTTP.
	TLSConfig *tls.Config
	// Version is reported by /health.
	Version string
	// Now returns the server's monotone wall clock in Unix nanoseconds. All
	// decisions use it; nil means time.Now (tests only).
	Now func() int64
	// Log receives lifecycle events and handler failures; nil discards.
	Log *slog.Logger
	// MaxBodyBytes caps a request body; larger bodies are refused with 413
	// before they are buffered. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Health, when set, adds fields to GET /health (keys, snapshot age,
	// cluster members, ...). It is called on every /health request and
	// must be safe for concurrent use. A field named "status" with a value
	// other than "healthy" turns the reply into a 503.
	Health func() map[string]any
	// Observe, when set, is called after every request with the route
	// pattern that served it ("" for no route), its status and its
	// duration in seconds, for metrics. It must be cheap and safe for
	// concurrent use.
	Observe func(pattern string, status int, seconds float64)

	// Rules is the rules engine behind the check, admin and stats
	// endpoints; nil leaves them out (only /health and what others add).
	Rules *rules.Engine
	// AdminToken is the bearer token of the admin and stats endpoints;
	// empty turns them off (they answer 403 ADMIN_DISABLED).
	AdminToken string
	// MemoryFull, when set, reports whether the store is at maxmemory (a
	// check that would create a counter is then refused).
	MemoryFull func() bool
	// MaxConns caps open connections (see LimitListener). Zero means
	// DefaultMaxConns; negative, no limit.
	MaxConns int
}

// DefaultMaxBodyBytes is the default cap on a request body (64 KiB): a
// check or a rule is a few hundred bytes.
const DefaultMaxBodyBytes = 64 << 10

// Server is the HTTP listener: the rate-limit check, the admin API,
// statistics, /health, and whatever other packages register with Handle.
// Create it with New, add routes with Handle before Serve, stop it with
// Shutdown. Safe for concurrent use once serving.
type Server struct {
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	http    *http.Server
	started int64 // Unix ns, from opts.Now
	// adminDigest is the SHA-256 of the admin token (nil: admin off).
	adminDigest []byte

	mu      sync.Mutex // guards ln and serving
	ln      net.Listener
	serving bool
}

// New returns a server with the built-in routes registered. It does not
// listen yet.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = func() int64 { return time.Now().UnixNano() }
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log, mux: http.NewServeMux(), started: opts.Now(), adminDigest: adminDigestOf(opts.AdminToken)}
	s.http = &http.Server{
		Handler: s,
		// Slow or idle clients cannot hold connections forever.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         opts.TLSConfig,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.routes()
	return s
}

// Handle registers h for pattern (net/http's ServeMux syntax, e.g.
// "GET /metrics" or "GET /{$}" for the root alone). It is how other
// packages hang their endpoints on this listener: call it after New and
// before Serve. It panics, as ServeMux does, on a pattern that conflicts
// with one already registered.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.mu.Lock()
	serving := s.serving
	s.mu.Unlock()
	if serving {
		panic("httpapi: Handle called after Serve")
	}
	s.mux.Handle(pattern, h)
}

// HandleFunc is Handle for a function.
func (s *Server) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.Handle(pattern, http.HandlerFunc(h))
}

// Listen opens the listener on Options.Addr (wrapped in TLS when
// Options.TLSConfig is set).
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return err
	}
	max := s.opts.MaxConns
	if max == 0 {
		max = DefaultMaxConns
	}
	ln = LimitListener(ln, max)
	if s.opts.TLSConfig != nil {
		ln = tls.NewListener(ln, s.opts.TLSConfig)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr returns the listener's address (after Listen).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve serves requests on the listener opened by Listen until Shutdown;
// it returns nil after a shutdown.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln := s.ln
	s.serving = true
	s.mu.Unlock()
	if ln == nil {
		return errors.New("httpapi: Serve before Listen")
	}
	err := s.http.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets requests in flight finish (until ctx
// ends), and closes idle connections.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.http.Shutdown(ctx)
}

// ServeHTTP routes r. Requests no route matches get a JSON error (404, or
// 405 with Allow) instead of ServeMux's plain-text one.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var start int64
	var rec *statusWriter
	if s.opts.Observe != nil {
		start = s.opts.Now()
		rec = statusWriters.Get().(*statusWriter)
		*rec = statusWriter{ResponseWriter: w, status: http.StatusOK}
		w = rec
	}
	h, pattern := s.mux.Handler(r)
	switch {
	case pattern == "":
		s.unrouted(w, r, h)
	case strings.IndexByte(pattern, '{') < 0:
		// No wildcards to fill in: skip the second match ServeMux would do.
		h.ServeHTTP(w, r)
	default:
		s.mux.ServeHTTP(w, r)
	}
	if rec != nil {
		s.opts.Observe(pattern, rec.status, float64(s.opts.Now()-start)/1e9)
		*rec = statusWriter{}
		statusWriters.Put(rec)
	}
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// unrouted runs ServeMux's own handler for a request no pattern matched
// (not found, method not allowed, or a redirect to a cleaned path) and
// rewrites its errors as JSON.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	c := &captureWriter{header: http.Header{}}
	h.ServeHTTP(c, r)
	switch c.status {
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no route for "+r.Method+" "+r.URL.Path, nil)
	case http.StatusMethodNotAllowed:
		w.Header().Set("Allow", c.header.Get("Allow"))
		writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.Method+" is not allowed on "+r.URL.Path, nil)
	default:
		for k, v := range c.header {
			w.Header()[k] = v
		}
		w.WriteHeader(c.status)
		w.Write(c.body)
	}
}

// captureWriter records what ServeMux's internal handlers write.
type captureWriter struct {
	header http.Header
	status int
	body   []byte
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if len(c.body) < 4096 {
		c.body = append(c.body, b...)
	}
	return len(b), nil
}

// statusWriter remembers the status a handler wrote, for Observe.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) routes() {
	s.mux.HandleFunc("GET /health", s.health)
	if s.opts.Rules != nil {
		s.mux.HandleFunc("POST /v1/ratelimit/check", s.check)
		s.adminRoutes()
	}
}

// health answers GET /health: status, version, uptime, plus the fields of
// Options.Health.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	body := map[string]any{
		"status":         "healthy",
		"version":        s.opts.Version,
		"uptime_seconds": (s.opts.Now() - s.started) / 1e9,
	}
	if s.opts.Health != nil {
		for k, v := range s.opts.Health() {
			body[k] = v
		}
	}
	status := http.StatusOK
	if body["status"] != "healthy" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}
