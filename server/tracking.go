package server

import (
	"sync"
	"sync/atomic"

	"github.com/tidwall/redcon"
)

// trackingState is a client's CLIENT TRACKING settings.
type trackingState struct {
	on      bool
	optIn   bool
	optOut  bool
	noLoop  bool
	caching bool // CLIENT CACHING YES/NO applies to the next command
}

// wantsRead reports whether keys read by the current command are tracked.
func (t *trackingState) wantsRead() bool {
	switch {
	case t.optIn:
		return t.caching
	case t.optOut:
		return !t.caching
	}
	return true
}

// tracker implements server-assisted client-side caching (RESP3 only):
// it remembers which clients read which keys and pushes an invalidation
// when one of those keys is written, deleted or expires. The table is
// bounded; when full, an arbitrary key (Go's map order, as Redis picks a
// random one) is invalidated early to make room.
type tracker struct {
	max     int
	clients atomic.Int64 // clients with tracking on; zero skips all work

	mu   sync.Mutex
	keys map[string]map[*Client]bool // key -> readers -> the reader's NOLOOP
}

func newTracker(max int) *tracker {
	return &tracker{max: max, keys: make(map[string]map[*Client]bool)}
}

func (t *tracker) active() bool { return t.clients.Load() > 0 }

// pushTo is an invalidation to queue once t.mu is released (Client.push
// never blocks, but the table's lock is kept short).
type pushTo struct {
	c     *Client
	frame []byte
}

func deliver(pushes []pushTo) {
	for _, p := range pushes {
		p.c.push(p.frame)
	}
}

func (t *tracker) remember(key []byte, c *Client) {
	var pushes []pushTo
	t.mu.Lock()
	set, ok := t.keys[string(key)]
	if !ok {
		for old := range t.keys {
			if len(t.keys) < t.max {
				break
			}
			pushes = t.dropLocked(pushes, old, nil)
		}
		set = make(map[*Client]bool)
		t.keys[string(key)] = set
	}
	set[c] = c.track.noLoop // read on the owner's goroutine
	t.mu.Unlock()
	deliver(pushes)
}

// invalidate tells every client that read key that it changed. writer is
// skipped when it asked for NOLOOP.
func (t *tracker) invalidate(key []byte, writer *Client) {
	t.mu.Lock()
	var pushes []pushTo
	if _, ok := t.keys[string(key)]; ok {
		pushes = t.dropLocked(nil, string(key), writer)
	}
	t.mu.Unlock()
	deliver(pushes)
}

func (t *tracker) invalidateKey(key []byte) { t.invalidate(key, nil) }

// dropLocked removes key from the table and queues its invalidations.
func (t *tracker) dropLocked(pushes []pushTo, key string, writer *Client) []pushTo {
	set := t.keys[key]
	delete(t.keys, key)
	for c, noLoop := range set {
		if c == writer && noLoop {
			continue
		}
		pushes = append(pushes, pushTo{c, appendInvalidate(nil, []byte(key))})
	}
	return pushes
}

// invalidateAll sends the "everything" invalidation (a null) after a flush.
func (t *tracker) invalidateAll() {
	if !t.active() {
		return
	}
	var pushes []pushTo
	t.mu.Lock()
	seen := map[*Client]bool{}
	for _, set := range t.keys {
		for c := range set {
			if !seen[c] {
				seen[c] = true
				pushes = append(pushes, pushTo{c, []byte(">2\r\n$10\r\ninvalidate\r\n_\r\n")})
			}
		}
	}
	t.keys = make(map[string]map[*Client]bool)
	t.mu.Unlock()
	deliver(pushes)
}

// forget drops a client from the table when it disconnects or turns
// tracking off.
func (t *tracker) forget(c *Client) {
	if !c.track.on {
		return
	}
	c.track = trackingState{}
	t.clients.Add(-1)
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, set := range t.keys {
		delete(set, c)
		if len(set) == 0 {
			delete(t.keys, k)
		}
	}
}

func appendInvalidate(b []byte, key []byte) []byte {
	b = append(b, ">2\r\n$10\r\ninvalidate\r\n*1\r\n"...)
	return redcon.AppendBulk(b, key)
}

// clientTracking is CLIENT TRACKING ON|OFF [OPTIN] [OPTOUT] [NOLOOP].
// BCAST, PREFIX and REDIRECT are refused with an error rather than
// accepted and ignored, so no client caches without invalidations.
func (s *Server) clientTracking(c *Client, args [][]byte) {
	if len(args) < 3 {
		c.out = appendError(c.out, "ERR wrong number of arguments for 'client|tracking' command")
		return
	}
	var st trackingState
	switch {
	case eqFold(args[2], "on"):
		st.on = true
	case eqFold(args[2], "off"):
	default:
		c.out = appendError(c.out, errSyntax)
		return
	}
	for _, a := range args[3:] {
		switch {
		case eqFold(a, "optin"):
			st.optIn = true
		case eqFold(a, "optout"):
			st.optOut = true
		case eqFold(a, "noloop"):
			st.noLoop = true
		case eqFold(a, "bcast"), eqFold(a, "prefix"), eqFold(a, "redirect"):
			c.out = appendError(c.out, "ERR CLIENT TRACKING "+truncate(a, 32)+" is not supported by rlserver")
			return
		default:
			c.out = appendError(c.out, errSyntax)
			return
		}
	}
	if st.optIn && st.optOut {
		c.out = appendError(c.out, "ERR You can't use both OPTIN and OPTOUT")
		return
	}
	if st.on && c.resp != 3 {
		c.out = appendError(c.out, "ERR CLIENT TRACKING needs RESP3 (HELLO 3) on rlserver: invalidations are pushed on the same connection")
		return
	}
	s.tracking.forget(c)
	if st.on {
		c.track = st
		s.tracking.clients.Add(1)
	}
	c.pushClass.Store(st.on) // client-output-buffer-limit's pubsub class
	c.out = redcon.AppendOK(c.out)
}

func (s *Server) clientCaching(c *Client, arg []byte) {
	switch {
	case !c.track.on:
		c.out = appendError(c.out, "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled")
	case eqFold(arg, "yes") && c.track.optIn, eqFold(arg, "no") && c.track.optOut:
		c.track.caching = true
		c.out = redcon.AppendOK(c.out)
	case eqFold(arg, "yes"), eqFold(arg, "no"):
		c.out = appendError(c.out, "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.")
	default:
		c.out = appendError(c.out, errSyntax)
	}
}

// size is the number of keys tracked (INFO tracking_total_keys).
func (t *tracker) size() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.keys)
}
