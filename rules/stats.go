package rules

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// Statistics in bounded memory, whatever the number of users:
//
//   - totals since start, and per minute (the last 60) and per hour (the
//     last 24), exact;
//   - per-user request and rejection counts from a count-min sketch per
//     minute and per hour (never under-counted; over-counted by at most
//     about 0.13% of all requests in the window, with 98% probability);
//   - the most limited users and endpoints from a Space-Saving heavy-hitters
//     summary of topK entries each.
//
// The sketches take about 5.5 MB in all.

const (
	cmsDepth = 4
	cmsWidth = 2048
	topK     = 100
	// topKeyLen truncates user ids and endpoints kept in the summaries.
	topKeyLen = 256
)

type sketch struct {
	total    [cmsDepth][cmsWidth]atomic.Uint32
	rejected [cmsDepth][cmsWidth]atomic.Uint32
}

// bucket counts one minute or one hour.
type bucket struct {
	epoch    atomic.Int64 // minute or hour number since the epoch; -1 unused
	total    atomic.Int64
	rejected atomic.Int64
	users    sketch
}

type ring struct {
	span    int64 // ns per bucket
	buckets []bucket
	mu      sync.Mutex // serializes resets
}

func newRing(n int, span int64) *ring {
	r := &ring{span: span, buckets: make([]bucket, n)}
	for i := range r.buckets {
		r.buckets[i].epoch.Store(-1)
	}
	return r
}

// at returns the bucket for now, reset if it held an older period.
func (r *ring) at(now int64) *bucket {
	ep := now / r.span
	b := &r.buckets[ep%int64(len(r.buckets))]
	if b.epoch.Load() != ep {
		r.mu.Lock()
		if cur := b.epoch.Load(); cur < ep {
			b.total.Store(0)
			b.rejected.Store(0)
			for d := range cmsDepth {
				for w := range cmsWidth {
					b.users.total[d][w].Store(0)
					b.users.rejected[d][w].Store(0)
				}
			}
			b.epoch.Store(ep)
		}
		r.mu.Unlock()
	}
	return b
}

// sum adds up the buckets of the last n periods up to now.
func (r *ring) sum(now int64, n int, fn func(b *bucket)) {
	ep := now / r.span
	for i := range min(n, len(r.buckets)) {
		b := &r.buckets[(ep-int64(i))%int64(len(r.buckets))]
		if b.epoch.Load() == ep-int64(i) {
			fn(b)
		}
	}
}

// cmsIndexes derives the sketch's column in each row from one hash.
func cmsIndexes(h uint64) (idx [cmsDepth]uint32) {
	h1, h2 := uint32(h), uint32(h>>32)|1
	for d := range cmsDepth {
		idx[d] = (h1 + uint32(d)*h2) % cmsWidth
	}
	return idx
}

func (s *sketch) add(idx [cmsDepth]uint32, rejected bool) {
	for d := range cmsDepth {
		s.total[d][idx[d]].Add(1)
		if rejected {
			s.rejected[d][idx[d]].Add(1)
		}
	}
}

func (s *sketch) estimate(idx [cmsDepth]uint32) (total, rejected int64) {
	total, rejected = 1<<62, 1<<62
	for d := range cmsDepth {
		total = min(total, int64(s.total[d][idx[d]].Load()))
		rejected = min(rejected, int64(s.rejected[d][idx[d]].Load()))
	}
	return total, rejected
}

// spaceSaving keeps the k most frequent keys approximately (Metwally et
// al.): a key not tracked replaces the least counted one and inherits its
// count as its error bound. The entries form a min-heap on count, so an
// update costs O(log k).
type spaceSaving struct {
	mu    sync.Mutex
	index map[string]int // key → position in heap
	heap  []hitter
}

type hitter struct {
	key   string
	count int64
	err   int64
}

func (s *spaceSaving) add(key string) {
	if len(key) > topKeyLen {
		key = key[:topKeyLen]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.index == nil {
		s.index = make(map[string]int, topK)
	}
	if i, ok := s.index[key]; ok {
		s.heap[i].count++
		s.down(i)
		return
	}
	k := strings.Clone(key)
	if len(s.heap) < topK {
		s.heap = append(s.heap, hitter{key: k, count: 1})
		s.index[k] = len(s.heap) - 1
		s.up(len(s.heap) - 1)
		return
	}
	low := s.heap[0]
	delete(s.index, low.key)
	s.heap[0] = hitter{key: k, count: low.count + 1, err: low.count}
	s.index[k] = 0
	s.down(0)
}

func (s *spaceSaving) swap(i, j int) {
	s.heap[i], s.heap[j] = s.heap[j], s.heap[i]
	s.index[s.heap[i].key] = i
	s.index[s.heap[j].key] = j
}

func (s *spaceSaving) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if s.heap[p].count <= s.heap[i].count {
			return
		}
		s.swap(i, p)
		i = p
	}
}

func (s *spaceSaving) down(i int) {
	for {
		l, small := 2*i+1, i
		if l < len(s.heap) && s.heap[l].count < s.heap[small].count {
			small = l
		}
		if r := l + 1; r < len(s.heap) && s.heap[r].count < s.heap[small].count {
			small = r
		}
		if small == i {
			return
		}
		s.swap(i, small)
		i = small
	}
}

// Hitter is one entry of a heavy-hitters list: Count may over-count by at
// most Error.
type Hitter struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
	Error int64  `json:"max_overcount"`
}

func (s *spaceSaving) top(n int) []Hitter {
	s.mu.Lock()
	out := make([]Hitter, 0, len(s.heap))
	for _, h := range s.heap {
		out = append(out, Hitter{Key: h.key, Count: h.count, Error: h.err})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Hitter) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.Key, b.Key)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// stats is the engine's statistics. Safe for concurrent use.
type stats struct {
	total, allowed, rejected atomic.Int64
	minutes, hours           *ring
	topUsers, topEndpoints   spaceSaving
}

func newStats() *stats {
	return &stats{minutes: newRing(60, 60e9), hours: newRing(24, 3600e9)}
}

// record counts one decided check.
func (s *stats) record(q *Request, d *Decision, now int64) {
	s.total.Add(1)
	rejected := !d.Allowed
	if rejected {
		s.rejected.Add(1)
	} else {
		s.allowed.Add(1)
	}
	m, h := s.minutes.at(now), s.hours.at(now)
	m.total.Add(1)
	h.total.Add(1)
	if rejected {
		m.rejected.Add(1)
		h.rejected.Add(1)
	}
	if q.UserID != "" {
		idx := cmsIndexes(xxhash.Sum64String(q.UserID))
		m.users.add(idx, rejected)
		h.users.add(idx, rejected)
	}
	if rejected && d.Reason == ReasonRule {
		if q.UserID != "" {
			s.topUsers.add(q.UserID)
		}
		if q.Endpoint != "" {
			s.topEndpoints.add(q.Endpoint)
		}
	}
}

// GlobalStats are totals over a window (or since start) and the most
// limited users and endpoints since start.
type GlobalStats struct {
	Window              string   `json:"window"`
	TotalRequests       int64    `json:"total_requests"`
	AllowedRequests     int64    `json:"allowed_requests"`
	RejectedRequests    int64    `json:"rejected_requests"`
	RejectionRate       float64  `json:"rejection_rate"`
	TopLimitedUsers     []Hitter `json:"top_limited_users"`
	TopLimitedEndpoints []Hitter `json:"top_limited_endpoints"`
}

// Global returns the global statistics for the last window seconds (0:
// since start). Windows up to an hour are summed from minutes (whole
// minutes, rounded up), longer ones from hours (at most 24).
func (e *Engine) Global(now, window int64, top int) GlobalStats {
	s := e.stats
	g := GlobalStats{Window: "all"}
	if window <= 0 {
		g.TotalRequests, g.RejectedRequests = s.total.Load(), s.rejected.Load()
	} else {
		g.Window = Window(window).String()
		s.window(now, window, func(b *bucket) {
			g.TotalRequests += b.total.Load()
			g.RejectedRequests += b.rejected.Load()
		})
	}
	g.AllowedRequests = g.TotalRequests - g.RejectedRequests
	if g.TotalRequests > 0 {
		g.RejectionRate = float64(g.RejectedRequests) / float64(g.TotalRequests)
	}
	g.TopLimitedUsers = s.topUsers.top(top)
	g.TopLimitedEndpoints = s.topEndpoints.top(top)
	return g
}

func (s *stats) window(now, window int64, fn func(b *bucket)) {
	if window <= 3600 {
		s.minutes.sum(now, int((window+59)/60), fn)
	} else {
		s.hours.sum(now, int((window+3599)/3600), fn)
	}
}

// UserStats are one user's figures over a window: counts from the sketch
// (approximate, never under-counted) and the user's current limit from
// the rules that apply to a request carrying only the user id.
type UserStats struct {
	UserID           string `json:"user_id"`
	Window           string `json:"window"`
	Tier             string `json:"tier"`
	TotalRequests    int64  `json:"total_requests"`
	AllowedRequests  int64  `json:"allowed_requests"`
	RejectedRequests int64  `json:"rejected_requests"`
	Approximate      bool   `json:"approximate"`
	CurrentLimit     *int64 `json:"current_limit"`
	Remaining        *int64 `json:"remaining"`
	RuleID           string `json:"rule_id,omitempty"`
}

// User returns user's statistics for the last window seconds (1s-24h).
func (e *Engine) User(user string, now, window int64) (UserStats, error) {
	u := UserStats{UserID: user, Window: Window(window).String(), Approximate: true}
	idx := cmsIndexes(xxhash.Sum64String(user))
	e.stats.window(now, window, func(b *bucket) {
		t, r := b.users.estimate(idx)
		u.TotalRequests += t
		u.RejectedRequests += r
	})
	u.RejectedRequests = min(u.RejectedRequests, u.TotalRequests)
	u.AllowedRequests = u.TotalRequests - u.RejectedRequests
	q := &Request{UserID: user}
	if err := q.Prepare(); err != nil {
		return u, err
	}
	q.Cost = 0 // what is left, not what one more request would leave
	var d Decision
	if err := e.Check(q, now, &d, CheckOptions{Peek: true}); err != nil {
		return u, err
	}
	u.Tier = d.Tier
	if d.Rule != nil {
		u.CurrentLimit, u.Remaining, u.RuleID = &d.Limit, &d.Remaining, d.Rule.ID
	}
	return u, nil
}

// RuleStat is one rule's activity since start: requests it applied to and
// how many of them it found over its limit.
type RuleStat struct {
	ID      string
	Hits    int64
	Limited int64
}
