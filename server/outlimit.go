package server

import (
	"errors"
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

// outputOver reports whether c must be disconnected for pending bytes of
// unsent output under its class's limits. Safe from any goroutine: the
// owner checks its replies, a pusher its push queue, the epoll loop its
// socket backlog; the soft-limit clock starts at the first check at or
// over the soft limit and stops at the first check under it.
func (c *Client) outputOver(pending int) bool {
	lims := c.olim
	if lims == nil { // a Client built by hand in a test
		lims = &defaultOutputLimits
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
	return now-since > l.SoftSeconds*1e9
}
