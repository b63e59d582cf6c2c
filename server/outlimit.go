package server

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// OutputLimit is one client class's client-output-buffer-limit, as in
// Redis: a client whose unsent output reaches Hard bytes is disconnected
// at once; one whose output stays at or above Soft bytes for more than
// SoftSeconds is disconnected then. Zero turns each off.
type OutputLimit struct {
	Hard, Soft  int64 // bytes
	SoftSeconds int64
}

// OutputLimits are the limits of each client class.
type OutputLimits struct {
	// Normal applies to every client not in another class.
	Normal OutputLimit
	// PubSub applies to clients that receive pushes (CLIENT TRACKING on):
	// rlserver has no Pub/Sub, and tracking invalidations are its
	// messages a client did not ask for, which pile up the same way.
	PubSub OutputLimit
}

var defaultOutputLimits = DefaultOutputLimits()

// DefaultOutputLimits are Redis's pubsub defaults, and a 64 MiB hard limit
// for normal clients where Redis has none: no client may hold unbounded
// memory in rlserver.
func DefaultOutputLimits() OutputLimits {
	return OutputLimits{
		Normal: OutputLimit{Hard: 64 << 20},
		PubSub: OutputLimit{Hard: 32 << 20, Soft: 8 << 20, SoftSeconds: 60},
	}
}

func (l OutputLimit) validate() error {
	if l.Hard < 0 || l.Soft < 0 || l.SoftSeconds < 0 {
		return errors.New("client-output-buffer-limit values must not be negative")
	}
	return nil
}

// String renders the limits as CONFIG GET client-output-buffer-limit
// does (Redis also lists its replica class, which rlserver lacks).
func (o OutputLimits) String() string {
	f := func(name string, l OutputLimit) string {
		return name + " " + strconv.FormatInt(l.Hard, 10) + " " + strconv.FormatInt(l.Soft, 10) + " " + strconv.FormatInt(l.SoftSeconds, 10)
	}
	return f("normal", o.Normal) + " " + f("pubsub", o.PubSub)
}

// Set applies "class hard soft seconds [class hard soft seconds ...]"
// (Redis's syntax; sizes are read by size, e.g. the flag parser's
// parseSize). Classes are normal and pubsub; replica (slave) is accepted
// for configuration files written for Redis, and ignored.
func (o *OutputLimits) Set(spec string, size func(string) (int64, error)) error {
	w := strings.Fields(spec)
	if len(w) == 0 || len(w)%4 != 0 {
		return errors.New("want groups of: class hard-limit soft-limit soft-seconds")
	}
	for i := 0; i < len(w); i += 4 {
		var l OutputLimit
		var err error
		if l.Hard, err = size(w[i+1]); err != nil {
			return err
		}
		if l.Soft, err = size(w[i+2]); err != nil {
			return err
		}
		if l.SoftSeconds, err = strconv.ParseInt(w[i+3], 10, 64); err != nil || l.SoftSeconds < 0 {
			return errors.New("soft-seconds must be a non-negative integer, not " + strconv.Quote(w[i+3]))
		}
		switch strings.ToLower(w[i]) {
		case "normal":
			o.Normal = l
		case "pubsub":
			o.PubSub = l
		case "replica", "slave":
		default:
			return errors.New("unknown client class " + strconv.Quote(w[i]) + ": use normal or pubsub")
		}
	}
	return nil
}

// withRedisSpec is CONFIG SET client-output-buffer-limit: o with every
// group of spec applied, or none and Redis's reason. Sizes are Redis's
// (bytes, or k/kb/m/mb/g/gb).
func (o *OutputLimits) withRedisSpec(spec string) (OutputLimits, string) {
	next := *o
	w := strings.Fields(spec)
	if len(w)%4 != 0 {
		return next, "Wrong number of arguments in buffer limit configuration."
	}
	for i := 0; i < len(w); i += 4 {
		var l OutputLimit
		var err1, err2 error
		l.Hard, err1 = parseRedisSize(w[i+1])
		l.Soft, err2 = parseRedisSize(w[i+2])
		secs, ok := parseRedisInt([]byte(w[i+3]))
		l.SoftSeconds = secs
		switch strings.ToLower(w[i]) {
		case "normal", "pubsub", "replica", "slave":
		default:
			return *o, "Invalid client class specified in buffer limit configuration."
		}
		if err1 != nil || err2 != nil || !ok || secs < 0 {
			return *o, "Error in hard, soft or soft_seconds setting in buffer limit configuration."
		}
		switch strings.ToLower(w[i]) {
		case "normal":
			next.Normal = l
		case "pubsub":
			next.PubSub = l
		}
	}
	return next, ""
}

// parseRedisSize reads a byte count as Redis's memtoull does: digits and
// an optional unit, b, k (1000), kb (1024), m, mb, g or gb, any case.
func parseRedisSize(s string) (int64, error) {
	s = strings.ToLower(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1e9}, {"m", 1e6}, {"k", 1e3}, {"b", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, errors.New("invalid size")
	}
	return n * mult, nil
}

// outputOver reports whether c must be disconnected for pending bytes of
// unsent output under its class's limits. Safe from any goroutine: the
// owner checks its replies, a pusher its push queue, the epoll loop its
// socket backlog; the soft-limit clock starts at the first check at or
// over the soft limit and stops at the first check under it.
func (c *Client) outputOver(pending int) bool {
	lims := &defaultOutputLimits // a Client built by hand in a test
	if c.olim != nil {
		lims = c.olim.Load()
	}
	l := &lims.Normal
	if c.pushClass.Load() {
		l = &lims.PubSub
	}
	n := int64(pending)
	if l.Hard > 0 && n >= l.Hard {
		return true
	}
	if l.Soft == 0 || n < l.Soft {
		if c.softSince.Load() != 0 {
			c.softSince.Store(0)
		}
		return false
	}
	var now int64
	if c.clock != nil {
		now = c.clock.Now()
	} else {
		now = time.Now().UnixNano()
	}
	since := c.softSince.Load()
	if since == 0 {
		c.softSince.CompareAndSwap(0, now)
		return false
	}
	// More seconds than nanoseconds fit in an int64 never pass (and
	// their product would wrap).
	return l.SoftSeconds <= math.MaxInt64/int64(time.Second) && now-since > l.SoftSeconds*int64(time.Second)
}
