package rules

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/rlserver/rlserver/engine"
)

// Request is what a check is about. The HTTP and RESP fronts fill it from
// the caller's fields; Prepare validates it.
type Request struct {
	UserID   string
	APIKey   string
	IP       string
	Endpoint string
	Method   string
	// Tier is used when the user has no tier assignment (the application
	// may know it); assignments win.
	Tier string
	// Cost is how many units the request takes (default 1).
	Cost int64

	addr netip.Addr // parsed IP
	tier string     // resolved tier
}

// Limits on request fields: a request can never create a key longer than
// a few kilobytes.
const (
	maxRequestValue = 1024
	maxRequestPath  = 4096
	// MaxCost bounds a request's cost.
	MaxCost = 1_000_000
)

// Prepare validates q and normalizes it (IP parsed, method upper-case).
func (q *Request) Prepare() error {
	e := errs{}
	for _, f := range []struct{ name, v string }{{"user_id", q.UserID}, {"api_key", q.APIKey}, {"tier", q.Tier}, {"method", q.Method}} {
		if len(f.v) > maxRequestValue {
			e.add(f.name, "must be at most "+strconv.Itoa(maxRequestValue)+" bytes")
		}
	}
	if len(q.Endpoint) > maxRequestPath {
		e.add("endpoint", "must be at most "+strconv.Itoa(maxRequestPath)+" bytes")
	}
	if q.IP != "" {
		a, err := netip.ParseAddr(q.IP)
		if err != nil || a.Zone() != "" {
			e.add("ip_address", "is not a valid IP address")
		} else {
			q.addr = a.Unmap()
			if a.Is4In6() {
				q.IP = q.addr.String()
			}
		}
	}
	if hasLower(q.Method) {
		q.Method = strings.ToUpper(q.Method)
	}
	switch {
	case q.Cost == 0:
		q.Cost = 1
	case q.Cost < 0 || q.Cost > MaxCost:
		e.add("cost", "must be from 1 to "+strconv.Itoa(MaxCost))
	}
	return e.err()
}

func hasLower(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'a' && s[i] <= 'z' {
			return true
		}
	}
	return false
}

// compiled is a rule ready for matching and counting. Immutable except its
// hit counters.
type compiled struct {
	rule     *Rule
	userID   string
	apiKey   string
	tier     string
	endpoint string
	methods  []string
	prefix   netip.Prefix // valid when the rule matches on IP
	per      []string
	shadow   bool
	keyHead  []byte // "rl:<id>:<alg>"
	tag      int    // index in per of the field whose segment is the key's {hash tag} (-1: none)
	kind     byte   // one of the alg codes below
	gcra     engine.GCRAParams
	emission int64
	window   engine.WindowParams

	counters *ruleCounters // kept across rebuilds of the rule set
}

// ruleCounters count a rule's activity for statistics and metrics.
type ruleCounters struct {
	hits    atomic.Int64 // requests the rule applied to
	limited atomic.Int64 // of which it found over its limit
}

// Counter kinds, which are also part of the counter key: a rule that
// changes algorithm starts a new counter instead of finding a value of
// another kind.
const (
	kindGCRA   = 'g'
	kindSW     = 'w'
	kindSWLog  = 'l'
	kindFixed  = 'f'
	kindUnused = 0
)

func compile(r *Rule, counters *ruleCounters) *compiled {
	c := &compiled{
		rule:     r,
		counters: counters,
		userID:   r.Match.UserID,
		apiKey:   r.Match.APIKey,
		tier:     r.Match.Tier,
		endpoint: r.Match.Endpoint,
		per:      r.Per,
		shadow:   r.Action == ActionShadow,
	}
	if r.Match.Method != "" {
		c.methods = strings.Split(r.Match.Method, ",")
	}
	if r.Match.IP != "" {
		c.prefix, _ = ParseCIDR(r.Match.IP)
	}
	switch r.Algorithm {
	case AlgGCRA, AlgTokenBucket, AlgLeakyBucket:
		c.kind = kindGCRA
		c.emission = int64(r.Window) * 1e9 / r.Limit
		c.gcra = engine.GCRAParams{MaxBurst: capacity(r) - 1, Count: r.Limit, Period: int64(r.Window)}
	case AlgSlidingWindow:
		c.kind = kindSW
	case AlgSlidingLog:
		c.kind = kindSWLog
	case AlgFixedWindow:
		c.kind = kindFixed
	}
	c.window = engine.WindowParams{Limit: r.Limit, Period: int64(r.Window)}
	c.keyHead = append([]byte("rl:"+r.ID+":"), c.kind)
	c.tag = tagField(r.Per)
	return c
}

// tagOrder ranks the Per fields by how well they identify a client: the
// first of them a rule counts per becomes its counter keys' hash tag.
var tagOrder = []string{FieldUserID, FieldAPIKey, FieldIP, FieldTier, FieldEndpoint, FieldMethod}

// tagField returns the index in per of the field that tags counter keys,
// or -1 when per is empty.
func tagField(per []string) int {
	for _, f := range tagOrder {
		if i := slices.Index(per, f); i >= 0 {
			return i
		}
	}
	return -1
}

// matches reports whether every constraint of c holds for q.
func (c *compiled) matches(q *Request) bool {
	if c.userID != "" && c.userID != q.UserID {
		return false
	}
	if c.apiKey != "" && c.apiKey != q.APIKey {
		return false
	}
	if c.tier != "" && c.tier != q.tier {
		return false
	}
	if c.endpoint != "" && !strings.HasPrefix(q.Endpoint, c.endpoint) {
		return false
	}
	if c.methods != nil && !slices.Contains(c.methods, q.Method) {
		return false
	}
	if c.prefix.IsValid() && !(q.addr.IsValid() && c.prefix.Contains(q.addr)) {
		return false
	}
	return true
}

// CounterKey appends to dst the engine key of the counter rule c keeps for
// q, and reports false when q lacks one of the rule's Per fields (the rule
// does not apply: a per-user limit says nothing about anonymous requests).
//
// The key is "rl:<rule id>:<kind>" followed, for each Per field in order,
// by "|<field>:<length>:<value>": unambiguous for any bytes in the values.
// It is an ordinary engine key, so snapshots keep it and cluster routing
// can send it to its owner. This is the one place counter keys are built.
//
// One segment is wrapped in braces, a Redis Cluster hash tag: that of the
// first of user_id, api_key, ip, tier, endpoint, method the rule counts
// per. So the counters of one client under different rules (100 per
// minute and 5,000 per hour per user) share a hash slot, and in a cluster
// the node holding that slot decides such a request alone, atomically
// (see Placement). A value holding '}' ends the tag early, the same way
// for every rule: the counters still meet.
func (c *compiled) CounterKey(dst []byte, q *Request) ([]byte, bool) {
	dst = append(dst, c.keyHead...)
	for i, f := range c.per {
		v := q.field(f)
		if v == "" {
			return dst, false
		}
		dst = append(dst, '|')
		if i == c.tag {
			dst = append(dst, '{')
		}
		dst = append(dst, f...)
		dst = append(dst, ':')
		dst = strconv.AppendInt(dst, int64(len(v)), 10)
		dst = append(dst, ':')
		dst = append(dst, v...)
		if i == c.tag {
			dst = append(dst, '}')
		}
	}
	return dst, true
}

// field returns q's value for a Per field name.
func (q *Request) field(f string) string {
	switch f {
	case FieldUserID:
		return q.UserID
	case FieldAPIKey:
		return q.APIKey
	case FieldIP:
		return q.IP
	case FieldEndpoint:
		return q.Endpoint
	case FieldMethod:
		return q.Method
	case FieldTier:
		return q.tier
	}
	return ""
}

// matcher finds the enabled rules matching a request without looking at
// every rule. Each rule sits in one bucket, chosen by its most selective
// constraint (user, API key, single address, endpoint prefix, CIDR range,
// tier, method — in that order); a request looks into the buckets its own
// fields select, and only the rules found there are checked in full. With
// 10,000 rules a request still examines a handful.
type matcher struct {
	byUser     map[string][]*compiled
	byKey      map[string][]*compiled
	byAddr     map[netip.Addr][]*compiled
	byEndpoint map[string][]*compiled
	endLens    []int // distinct endpoint prefix lengths in byEndpoint, ascending
	byNet      map[int]map[netip.Prefix][]*compiled
	netBits    []int
	byTier     map[string][]*compiled
	byMethod   map[string][]*compiled
	always     []*compiled
	n          int
}

func newMatcher(rules []*compiled) *matcher {
	m := &matcher{
		byUser: map[string][]*compiled{}, byKey: map[string][]*compiled{},
		byAddr: map[netip.Addr][]*compiled{}, byEndpoint: map[string][]*compiled{},
		byNet: map[int]map[netip.Prefix][]*compiled{}, byTier: map[string][]*compiled{},
		byMethod: map[string][]*compiled{},
	}
	for _, c := range rules {
		m.n++
		switch {
		case c.userID != "":
			m.byUser[c.userID] = append(m.byUser[c.userID], c)
		case c.apiKey != "":
			m.byKey[c.apiKey] = append(m.byKey[c.apiKey], c)
		case c.prefix.IsValid() && c.prefix.IsSingleIP():
			m.byAddr[c.prefix.Addr()] = append(m.byAddr[c.prefix.Addr()], c)
		case len(c.endpoint) > 1:
			if _, ok := m.byEndpoint[c.endpoint]; !ok && !slices.Contains(m.endLens, len(c.endpoint)) {
				m.endLens = append(m.endLens, len(c.endpoint))
			}
			m.byEndpoint[c.endpoint] = append(m.byEndpoint[c.endpoint], c)
		case c.prefix.IsValid():
			b := c.prefix.Bits()
			if m.byNet[b] == nil {
				m.byNet[b] = map[netip.Prefix][]*compiled{}
				m.netBits = append(m.netBits, b)
			}
			m.byNet[b][c.prefix] = append(m.byNet[b][c.prefix], c)
		case c.tier != "":
			m.byTier[c.tier] = append(m.byTier[c.tier], c)
		case c.methods != nil:
			for _, meth := range c.methods {
				m.byMethod[meth] = append(m.byMethod[meth], c)
			}
		default:
			m.always = append(m.always, c)
		}
	}
	slices.Sort(m.endLens)
	slices.Sort(m.netBits)
	return m
}

// match appends the rules matching q to dst, ordered by priority then id.
// q.tier must be resolved.
func (m *matcher) match(dst []*compiled, q *Request) []*compiled {
	start := len(dst)
	add := func(cs []*compiled) {
		for _, c := range cs {
			if c.matches(q) {
				dst = append(dst, c)
			}
		}
	}
	if q.UserID != "" && len(m.byUser) > 0 {
		add(m.byUser[q.UserID])
	}
	if q.APIKey != "" && len(m.byKey) > 0 {
		add(m.byKey[q.APIKey])
	}
	if q.addr.IsValid() {
		if len(m.byAddr) > 0 {
			add(m.byAddr[q.addr])
		}
		for _, b := range m.netBits {
			if b <= q.addr.BitLen() {
				p, _ := q.addr.Prefix(b)
				add(m.byNet[b][p])
			}
		}
	}
	for _, l := range m.endLens {
		if l > len(q.Endpoint) {
			break
		}
		add(m.byEndpoint[q.Endpoint[:l]])
	}
	if len(m.byTier) > 0 {
		add(m.byTier[q.tier])
	}
	if q.Method != "" && len(m.byMethod) > 0 {
		add(m.byMethod[q.Method])
	}
	add(m.always)
	found := dst[start:]
	// Few rules match one request: insertion sort, no allocation.
	for i := 1; i < len(found); i++ {
		for j := i; j > 0 && before(found[j], found[j-1]); j-- {
			found[j], found[j-1] = found[j-1], found[j]
		}
	}
	return dst
}

// before orders rules by priority (lower first), then id.
func before(a, b *compiled) bool {
	if a.rule.Priority != b.rule.Priority {
		return a.rule.Priority < b.rule.Priority
	}
	return a.rule.ID < b.rule.ID
}
