package rules

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Algorithms a rule can use. Token bucket and leaky bucket (as a meter)
// are the same algorithm as GCRA: capacity = burst, refill rate =
// limit/window.
const (
	AlgGCRA          = "gcra"
	AlgTokenBucket   = "token_bucket"
	AlgLeakyBucket   = "leaky_bucket"
	AlgSlidingWindow = "sliding_window"
	AlgSlidingLog    = "sliding_log"
	AlgFixedWindow   = "fixed_window"
)

// Algorithms lists the accepted algorithm names.
var Algorithms = []string{AlgGCRA, AlgTokenBucket, AlgLeakyBucket, AlgSlidingWindow, AlgSlidingLog, AlgFixedWindow}

// algorithmAliases are the seed's names for the same algorithms.
var algorithmAliases = map[string]string{
	"sliding_window_counter": AlgSlidingWindow,
	"sliding_window_log":     AlgSlidingLog,
	"fixed_window_counter":   AlgFixedWindow,
}

// Actions: a reject rule denies requests over its limit; a shadow rule
// counts and reports but never denies (for trying a rule out).
const (
	ActionReject = "reject"
	ActionShadow = "shadow"
)

// Request fields a rule's Per list may name; they form the counter key.
const (
	FieldUserID   = "user_id"
	FieldAPIKey   = "api_key"
	FieldIP       = "ip"
	FieldEndpoint = "endpoint"
	FieldMethod   = "method"
	FieldTier     = "tier"
)

// PerFields lists the accepted Per names.
var PerFields = []string{FieldUserID, FieldAPIKey, FieldIP, FieldEndpoint, FieldMethod, FieldTier}

// Built-in tiers: requests with neither a user id nor an API key are in
// TierAnonymous; identified users without an assignment are in the
// engine's default tier (Config.DefaultTier, "free" unless set).
const TierAnonymous = "anonymous"

// Bounds on rule fields, so that no admin request can make a rule that
// overflows a counter or costs unbounded memory per key.
const (
	maxIDLen      = 64
	maxNameLen    = 128
	maxDescLen    = 1024
	maxValueLen   = 256
	maxEndpoint   = 1024
	maxPriority   = 1_000_000
	maxWindowSecs = 366 * 86400 // a year: longer windows are configuration mistakes
)

// Rule is one rate limit: requests matching Match are counted per the
// values of their Per fields, at most Limit per Window with Algorithm.
// Rules are values: the engine never modifies a Rule it has handed out.
type Rule struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Priority    int      `json:"priority"`
	Enabled     bool     `json:"enabled"`
	Match       Match    `json:"match"`
	Per         []string `json:"per,omitempty"`
	Algorithm   string   `json:"algorithm"`
	Limit       int64    `json:"limit"`
	Window      Window   `json:"window"`
	// Burst is the bucket's capacity for gcra, token_bucket and
	// leaky_bucket (default: Limit); window algorithms have none.
	Burst     int64     `json:"burst,omitempty"`
	Action    string    `json:"action"`
	Version   uint64    `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// Match selects the requests a rule applies to; every non-empty field must
// match (an empty Match matches every request). UserID, APIKey and Tier
// match exactly; IP is an address or a CIDR range; Endpoint is a prefix (a
// trailing "*" is allowed and ignored); Method is one method or several
// separated by commas ("POST,PUT,DELETE"), case-insensitive.
type Match struct {
	UserID   string `json:"user_id,omitempty"`
	APIKey   string `json:"api_key,omitempty"`
	IP       string `json:"ip,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Method   string `json:"method,omitempty"`
	Tier     string `json:"tier,omitempty"`
}

// Window is a rule's window in whole seconds. In JSON it is a duration
// string ("1s", "90s", "15m", "1h", "1d", "1h30m") or a number of seconds.
type Window int64

// MarshalJSON writes the shortest exact form: "1d", "15m", "90s".
func (w Window) MarshalJSON() ([]byte, error) { return strconv.AppendQuote(nil, w.String()), nil }

func (w Window) String() string {
	s := int64(w)
	switch {
	case s > 0 && s%86400 == 0:
		return strconv.FormatInt(s/86400, 10) + "d"
	case s > 0 && s%3600 == 0:
		return strconv.FormatInt(s/3600, 10) + "h"
	case s > 0 && s%60 == 0:
		return strconv.FormatInt(s/60, 10) + "m"
	}
	return strconv.FormatInt(s, 10) + "s"
}

// UnmarshalJSON accepts a duration string or a number of seconds.
func (w *Window) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fieldErr("window", "must be a duration such as \"1s\", \"15m\", \"1h\" or \"1d\"")
	}
	switch v := v.(type) {
	case string:
		secs, err := ParseWindow(v)
		if err != nil {
			return fieldErr("window", err.Error())
		}
		*w = Window(secs)
	case float64:
		if v != math.Trunc(v) || v < 1 || v > maxWindowSecs {
			return fieldErr("window", "a number of seconds must be a whole number from 1 to "+strconv.Itoa(maxWindowSecs))
		}
		*w = Window(v)
	default:
		return fieldErr("window", "must be a duration such as \"1s\", \"15m\", \"1h\" or \"1d\"")
	}
	return nil
}

// ParseWindow parses a window: Go duration syntax plus "d" for days, a
// whole number of seconds from 1s to a year.
func ParseWindow(s string) (int64, error) {
	bad := fmt.Errorf("%q is not a duration such as \"1s\", \"15m\", \"1h\" or \"1d\"", s)
	if s == "" || len(s) > 32 {
		return 0, bad
	}
	var days int64
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n < 0 || n > maxWindowSecs/86400 {
			return 0, bad
		}
		days, s = n, s[i+1:]
	}
	var d time.Duration
	if s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil || d < 0 {
			return 0, bad
		}
	}
	if d%time.Second != 0 {
		return 0, fmt.Errorf("%q is not a whole number of seconds", s)
	}
	total := days*86400 + int64(d/time.Second)
	if total < 1 || total > maxWindowSecs {
		return 0, fmt.Errorf("must be from 1s to %dd", maxWindowSecs/86400)
	}
	return total, nil
}

// ValidationError lists what is wrong with an input, field by field
// ("limit", "match.ip", "rules[3].window"). The map is never empty.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("invalid: ")
	for i, k := range keys {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(k + ": " + e.Fields[k])
	}
	return b.String()
}

func fieldErr(field, msg string) *ValidationError {
	return &ValidationError{Fields: map[string]string{field: msg}}
}

// errs collects field errors.
type errs map[string]string

func (e errs) add(field, msg string) {
	if _, ok := e[field]; !ok {
		e[field] = msg
	}
}

func (e errs) err() error {
	if len(e) == 0 {
		return nil
	}
	return &ValidationError{Fields: e}
}

// RuleSpec is what an admin sends to create or update a rule. Pointer
// fields distinguish "absent" from zero. It accepts the seed's names as
// aliases: selector for match, user_tier and ip_address inside it, rule_id
// for id, status ("active"/"disabled") for enabled. Read-only fields of a
// Rule (created_at, ...) are accepted and ignored so that a rule read with
// GET can be sent back with PUT; Version, when set, must equal the stored
// version (optimistic concurrency).
type RuleSpec struct {
	ID          *string    `json:"id"`
	RuleID      *string    `json:"rule_id"`
	Name        *string    `json:"name"`
	Description *string    `json:"description"`
	Priority    *int       `json:"priority"`
	Enabled     *bool      `json:"enabled"`
	Status      *string    `json:"status"`
	Match       *MatchSpec `json:"match"`
	Selector    *MatchSpec `json:"selector"`
	Per         *[]string  `json:"per"`
	Algorithm   *string    `json:"algorithm"`
	Limit       *int64     `json:"limit"`
	Window      *Window    `json:"window"`
	Burst       *int64     `json:"burst"`
	Action      *string    `json:"action"`
	Version     *uint64    `json:"version"`

	// Read-only fields, ignored.
	WindowSeconds *int64           `json:"window_seconds"`
	CreatedAt     *json.RawMessage `json:"created_at"`
	UpdatedAt     *json.RawMessage `json:"updated_at"`
	CreatedBy     *json.RawMessage `json:"created_by"`
	UpdatedBy     *json.RawMessage `json:"updated_by"`
}

// MatchSpec is Match as sent, with the seed's aliases.
type MatchSpec struct {
	UserID    *string `json:"user_id"`
	APIKey    *string `json:"api_key"`
	IP        *string `json:"ip"`
	IPAddress *string `json:"ip_address"`
	Endpoint  *string `json:"endpoint"`
	Method    *string `json:"method"`
	Tier      *string `json:"tier"`
	UserTier  *string `json:"user_tier"`
}

// Limits that depend on the server's configuration.
type Limits struct {
	// MaxLogLimit caps sliding_log limits (memory per key grows with it).
	MaxLogLimit int64
}

// Apply returns base with the fields present in s replaced (a merge
// patch: absent fields keep base's values; nested match fields merge), and
// normalized. It does not validate: call Validate on the result.
func (s *RuleSpec) Apply(base Rule) (Rule, error) {
	e := errs{}
	r := base
	r.Per = slices.Clone(base.Per)
	pick := func(field string, a, b *string) *string {
		if a != nil && b != nil && *a != *b {
			e.add(field, "given twice with different values (it has an alias)")
		}
		if a != nil {
			return a
		}
		return b
	}
	if id := pick("id", s.ID, s.RuleID); id != nil {
		r.ID = *id
	}
	if s.Name != nil {
		r.Name = *s.Name
	}
	if s.Description != nil {
		r.Description = *s.Description
	}
	if s.Priority != nil {
		r.Priority = *s.Priority
	}
	if s.Status != nil {
		switch strings.ToLower(*s.Status) {
		case "active", "enabled":
			if s.Enabled != nil && !*s.Enabled {
				e.add("status", "contradicts enabled")
			}
			r.Enabled = true
		case "disabled", "inactive":
			if s.Enabled != nil && *s.Enabled {
				e.add("status", "contradicts enabled")
			}
			r.Enabled = false
		default:
			e.add("status", "must be \"active\" or \"disabled\"")
		}
	}
	if s.Enabled != nil {
		r.Enabled = *s.Enabled
	}
	if s.Match != nil && s.Selector != nil {
		e.add("selector", "give match or selector (its alias), not both")
	}
	m := s.Match
	prefix := "match."
	if m == nil {
		m, prefix = s.Selector, "selector."
	}
	if m != nil {
		set := func(dst *string, v *string) {
			if v != nil {
				*dst = *v
			}
		}
		set(&r.Match.UserID, m.UserID)
		set(&r.Match.APIKey, m.APIKey)
		set(&r.Match.IP, pick(prefix+"ip", m.IP, m.IPAddress))
		set(&r.Match.Endpoint, m.Endpoint)
		set(&r.Match.Method, m.Method)
		set(&r.Match.Tier, pick(prefix+"tier", m.Tier, m.UserTier))
	}
	if s.Per != nil {
		r.Per = slices.Clone(*s.Per)
	}
	if s.Algorithm != nil {
		r.Algorithm = *s.Algorithm
	}
	if s.Limit != nil {
		r.Limit = *s.Limit
	}
	if s.Window != nil {
		r.Window = *s.Window
	}
	if s.Burst != nil {
		r.Burst = *s.Burst
	}
	if s.Action != nil {
		r.Action = *s.Action
	}
	return r, e.err()
}

// NewRuleDefaults is the base a created rule starts from.
func NewRuleDefaults() Rule {
	return Rule{Priority: 100, Enabled: true, Algorithm: AlgSlidingWindow, Action: ActionReject}
}

// Validate checks r and normalizes it in place (aliases to canonical
// names, methods upper-case, CIDR masked, name defaulting to the id). It
// answers every problem at once, by field.
func (r *Rule) Validate(lim Limits) error {
	e := errs{}
	if !validID(r.ID) {
		e.add("id", "must be 1-64 characters of letters, digits, '_', '-', '.' or ':', starting with a letter or digit")
	}
	if r.Name == "" {
		r.Name = r.ID
	}
	if len(r.Name) > maxNameLen {
		e.add("name", fmt.Sprintf("must be at most %d bytes", maxNameLen))
	}
	if len(r.Description) > maxDescLen {
		e.add("description", fmt.Sprintf("must be at most %d bytes", maxDescLen))
	}
	if r.Priority < 0 || r.Priority > maxPriority {
		e.add("priority", fmt.Sprintf("must be from 0 to %d (lower is evaluated and reported first)", maxPriority))
	}
	r.Match.validate("match.", e)
	seen := map[string]bool{}
	for i, f := range r.Per {
		if !slices.Contains(PerFields, f) {
			e.add(fmt.Sprintf("per[%d]", i), fmt.Sprintf("unknown field %q; one of %s", f, strings.Join(PerFields, ", ")))
		} else if seen[f] {
			e.add(fmt.Sprintf("per[%d]", i), fmt.Sprintf("%q is listed twice", f))
		}
		seen[f] = true
	}
	if a, ok := algorithmAliases[r.Algorithm]; ok {
		r.Algorithm = a
	}
	if !slices.Contains(Algorithms, r.Algorithm) {
		e.add("algorithm", fmt.Sprintf("unknown algorithm %q; one of %s", r.Algorithm, strings.Join(Algorithms, ", ")))
	}
	if r.Window < 1 || r.Window > maxWindowSecs {
		e.add("window", "is required: a duration from 1s to 366d")
	}
	if r.Limit < 1 {
		e.add("limit", "must be a positive integer")
	}
	switch r.Action {
	case ActionReject, ActionShadow:
	default:
		e.add("action", fmt.Sprintf("unknown action %q; one of reject, shadow", r.Action))
	}
	if _, bad := e["algorithm"]; !bad && r.Limit >= 1 && r.Window >= 1 {
		validateRate(r, lim, e)
	}
	return e.err()
}

// validateRate checks the limit and burst against the algorithm's bounds.
func validateRate(r *Rule, lim Limits, e errs) {
	switch r.Algorithm {
	case AlgGCRA, AlgTokenBucket, AlgLeakyBucket:
		if r.Burst < 0 {
			e.add("burst", "must be a positive integer (the bucket's capacity)")
			return
		}
		emission := int64(r.Window) * 1e9 / r.Limit
		if emission < 1 {
			e.add("limit", "too high for the window: less than one nanosecond per request")
			return
		}
		if capacity(r) > math.MaxInt64/emission {
			e.add("burst", "too large for this rate")
		}
	case AlgSlidingLog:
		if lim.MaxLogLimit > 0 && r.Limit > lim.MaxLogLimit {
			e.add("limit", fmt.Sprintf("must be at most %d for sliding_log (--max-log-limit: memory grows with the limit)", lim.MaxLogLimit))
		}
	}
	if r.Burst != 0 && !isBucket(r.Algorithm) {
		e.add("burst", "applies only to gcra, token_bucket and leaky_bucket")
	}
}

func isBucket(alg string) bool {
	return alg == AlgGCRA || alg == AlgTokenBucket || alg == AlgLeakyBucket
}

// capacity is a bucket rule's capacity: Burst, or Limit when unset.
func capacity(r *Rule) int64 {
	if r.Burst > 0 {
		return r.Burst
	}
	return r.Limit
}

func (m *Match) validate(prefix string, e errs) {
	for _, f := range []struct {
		name string
		v    string
	}{{"user_id", m.UserID}, {"api_key", m.APIKey}, {"tier", m.Tier}} {
		if len(f.v) > maxValueLen {
			e.add(prefix+f.name, fmt.Sprintf("must be at most %d bytes", maxValueLen))
		}
	}
	if m.IP != "" {
		p, err := ParseCIDR(m.IP)
		if err != nil {
			e.add(prefix+"ip", err.Error())
		} else {
			m.IP = p.String()
		}
	}
	if m.Endpoint != "" {
		m.Endpoint = strings.TrimSuffix(m.Endpoint, "*")
		if !strings.HasPrefix(m.Endpoint, "/") {
			e.add(prefix+"endpoint", "must be a path prefix starting with '/'")
		} else if len(m.Endpoint) > maxEndpoint {
			e.add(prefix+"endpoint", fmt.Sprintf("must be at most %d bytes", maxEndpoint))
		}
	}
	if m.Method != "" {
		ms, err := parseMethods(m.Method)
		if err != nil {
			e.add(prefix+"method", err.Error())
		} else {
			m.Method = strings.Join(ms, ",")
		}
	}
}

// parseMethods splits "get, post" into ["GET", "POST"].
func parseMethods(s string) ([]string, error) {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		m := strings.ToUpper(strings.TrimSpace(part))
		if m == "" || len(m) > 16 || strings.IndexFunc(m, func(r rune) bool { return r < 'A' || r > 'Z' }) >= 0 {
			return nil, fmt.Errorf("%q is not an HTTP method; give one or several separated by commas (\"GET\", \"POST,PUT\")", strings.TrimSpace(part))
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// ParseCIDR parses an address ("10.1.2.3", a single host) or a CIDR range
// ("10.0.0.0/8"), masked to its network. IPv4-mapped IPv6 addresses are
// treated as IPv4.
func ParseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a valid CIDR range (e.g. 10.0.0.0/8 or 2001:db8::/32)", s)
		}
		a := p.Addr()
		if a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not a valid IP address or CIDR range", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '-' || c == '.' || c == ':'):
		default:
			return false
		}
	}
	return true
}
