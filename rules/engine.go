package rules

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/engine"
)

// Errors of the admin operations. Validation problems are *ValidationError.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrVersion: the change named a version that is no longer current.
	ErrVersion = errors.New("version conflict")
	ErrTooMany = errors.New("too many objects")
)

// Config configures an Engine. The zero value works with the defaults
// noted on each field except Counters, which is required.
type Config struct {
	// Counters is the engine store the rules' counters live in (the
	// server's own, so snapshots and cluster routing see them).
	Counters *engine.Store
	// Path is the bbolt file for rules, lists, tiers and the audit log.
	// Empty: a temporary file removed by Close (nothing survives a
	// restart).
	Path string
	// Node names this node in versions and audit entries ("local").
	Node string
	// DefaultTier is the tier of identified users without an assignment
	// ("free").
	DefaultTier string
	// MaxLogLimit caps sliding_log limits (0: no cap beyond int64).
	MaxLogLimit int64
	// MaxRules, MaxListEntries and MaxTiers cap the number of objects so
	// that no admin mistake grows memory without bound (100,000,
	// 1,000,000 and 10,000,000).
	MaxRules, MaxListEntries, MaxTiers int
	// MaxAudit is how many audit entries are kept (100,000).
	MaxAudit int
	// Log receives lifecycle events; nil discards.
	Log *slog.Logger
}

// Engine holds the rules, the allow and deny lists and the tier
// assignments, decides checks against them, and applies changes durably.
// Create it with Open; safe for concurrent use.
type Engine struct {
	cfg     Config
	store   *engine.Store
	db      *store
	tempDir string // removed by Close when Config.Path was empty
	log     *slog.Logger
	stats   *stats

	// snap is the read side of checks: rebuilt (copy on write) after
	// every change, loaded with one atomic read per check.
	snap atomic.Pointer[snapshot]
	// place routes counters in a cluster (nil: all local).
	place atomic.Pointer[Placement]
	// races counts rules that admitted a request across nodes although a
	// racing request had taken their last unit (see Placement).
	races atomic.Int64

	tiersMu sync.RWMutex
	tiers   map[string]string // user id → tier (live assignments)

	// mu serializes changes: objects, versions, the store, rebuilds.
	mu       sync.Mutex
	objects  map[objKey]*Change // latest change per object, tombstones included
	counts   [3]int             // live rules, list entries, tiers
	version  uint64             // highest version seen
	counters map[string]*ruleCounters
	onChange func(Change)
}

type objKey struct{ kind, id string }

// snapshot is an immutable view of the rules and lists.
type snapshot struct {
	matcher *matcher
	rules   []*Rule // every rule, enabled or not, by priority then id
	byID    map[string]*Rule
	entries []*ListEntry // by list, then id
	allow   *listIndex
	deny    *listIndex
}

// Open opens (or creates) the rule store at cfg.Path and loads it.
func Open(cfg Config) (*Engine, error) {
	if cfg.Counters == nil {
		return nil, errors.New("rules: Config.Counters is required")
	}
	if cfg.Node == "" {
		cfg.Node = "local"
	}
	if cfg.DefaultTier == "" {
		cfg.DefaultTier = "free"
	}
	cfg.MaxRules = cmp.Or(cfg.MaxRules, 100_000)
	cfg.MaxListEntries = cmp.Or(cfg.MaxListEntries, 1_000_000)
	cfg.MaxTiers = cmp.Or(cfg.MaxTiers, 10_000_000)
	cfg.MaxAudit = cmp.Or(cfg.MaxAudit, 100_000)
	e := &Engine{
		cfg: cfg, store: cfg.Counters, log: cfg.Log, stats: newStats(),
		tiers: map[string]string{}, objects: map[objKey]*Change{}, counters: map[string]*ruleCounters{},
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	path := cfg.Path
	if path == "" {
		dir, err := os.MkdirTemp("", "rlserver-rules")
		if err != nil {
			return nil, err
		}
		e.tempDir, path = dir, filepath.Join(dir, "rules.db")
	}
	db, err := openStore(path, cfg.MaxAudit)
	if err != nil {
		e.removeTemp()
		return nil, err
	}
	e.db = db
	chs, err := db.load()
	if err != nil {
		db.close()
		e.removeTemp()
		return nil, fmt.Errorf("rules: load %s: %w", path, err)
	}
	for _, ch := range chs {
		e.objects[objKey{ch.Kind, ch.ID}] = ch
		e.version = max(e.version, ch.Version)
		if !ch.Deleted {
			switch ch.Kind {
			case KindRule:
				e.counts[0]++
			case KindList:
				e.counts[1]++
			case KindTier:
				e.counts[2]++
				e.tiers[ch.ID] = ch.Tier.Tier
			}
		}
	}
	e.rebuild()
	return e, nil
}

func (e *Engine) removeTemp() {
	if e.tempDir != "" {
		os.RemoveAll(e.tempDir)
	}
}

// Close closes the store.
func (e *Engine) Close() error {
	err := e.db.close()
	e.removeTemp()
	return err
}

// OnChange sets fn to be called with every change applied locally (not
// those applied with ApplyRemote), after it is durable: the seam for
// broadcasting changes to other nodes. fn must not block; it is called
// with no lock held.
func (e *Engine) OnChange(fn func(Change)) {
	e.mu.Lock()
	e.onChange = fn
	e.mu.Unlock()
}

// rebuild makes a new snapshot from e.objects. Caller holds e.mu (or is
// Open).
func (e *Engine) rebuild() {
	s := &snapshot{byID: map[string]*Rule{}}
	var live []*compiled
	var allow, deny []*ListEntry
	for k, ch := range e.objects {
		if ch.Deleted {
			continue
		}
		switch k.kind {
		case KindRule:
			r := ch.Rule
			s.rules = append(s.rules, r)
			s.byID[r.ID] = r
			if r.Enabled {
				rc := e.counters[r.ID]
				if rc == nil {
					rc = new(ruleCounters)
					e.counters[r.ID] = rc
				}
				live = append(live, compile(r, rc))
			}
		case KindList:
			s.entries = append(s.entries, ch.Entry)
			if ch.Entry.List == ListAllow {
				allow = append(allow, ch.Entry)
			} else {
				deny = append(deny, ch.Entry)
			}
		}
	}
	slices.SortFunc(s.rules, func(a, b *Rule) int {
		return cmp.Or(cmp.Compare(a.Priority, b.Priority), cmp.Compare(a.ID, b.ID))
	})
	slices.SortFunc(s.entries, func(a, b *ListEntry) int {
		return cmp.Or(cmp.Compare(a.List, b.List), cmp.Compare(a.ID, b.ID))
	})
	s.matcher = newMatcher(live)
	s.allow, s.deny = newListIndex(allow), newListIndex(deny)
	for id := range e.counters {
		if s.byID[id] == nil {
			delete(e.counters, id) // deleted: its series ends
		}
	}
	e.snap.Store(s)
}

func (e *Engine) resolveTier(q *Request) string {
	if q.UserID != "" {
		e.tiersMu.RLock()
		t, ok := e.tiers[q.UserID]
		e.tiersMu.RUnlock()
		if ok {
			return t
		}
	}
	switch {
	case q.Tier != "":
		return q.Tier
	case q.UserID != "" || q.APIKey != "":
		return e.cfg.DefaultTier
	}
	return TierAnonymous
}

// nextVersion returns a version above every one seen: the clock in ns when
// it is ahead, else one more than the highest. Caller holds e.mu.
func (e *Engine) nextVersion(now int64) uint64 {
	v := max(uint64(max(now, 0)), e.version+1)
	e.version = v
	return v
}

// apply commits changes durably, updates memory and rebuilds; it skips a
// change that is not newer than what is stored (so applying one twice,
// or out of order, is harmless). A change from another node that is not
// newer but not in the audit log yet (it arrived after its successor) is
// recorded there, superseded. Caller holds e.mu. It returns the changes
// applied.
func (e *Engine) apply(chs []*Change) ([]*Change, error) {
	var applied []*Change
	var audits []*AuditEntry
	pending := map[objKey]*Change{}
	for _, ch := range chs {
		k := objKey{ch.Kind, ch.ID}
		prev := pending[k]
		if prev == nil {
			prev = e.objects[k]
		}
		if !ch.newer(prev) {
			if ch.Origin != prev.Origin || ch.Version != prev.Version {
				if !e.db.audited(ch) && !slices.ContainsFunc(audits, func(a *AuditEntry) bool {
					return a.Kind == ch.Kind && a.ID == ch.ID && a.Version == ch.Version && a.Origin == ch.Origin
				}) {
					audits = append(audits, &AuditEntry{
						At: ch.At, Actor: ch.Actor, Action: ch.Action, Kind: ch.Kind, ID: ch.ID,
						Version: ch.Version, Origin: ch.Origin, Before: json.RawMessage("null"), After: ch.object(), Superseded: true,
					})
				}
			}
			continue
		}
		pending[k] = ch
		applied = append(applied, ch)
		var before *Change
		if prev != nil && !prev.Deleted {
			before = prev
		}
		audits = append(audits, &AuditEntry{
			At: ch.At, Actor: ch.Actor, Action: ch.Action, Kind: ch.Kind, ID: ch.ID,
			Version: ch.Version, Origin: ch.Origin, Before: before.object(), After: ch.object(),
		})
	}
	if len(applied) == 0 && len(audits) > 0 {
		if err := e.db.commit(nil, audits); err != nil {
			return nil, fmt.Errorf("rules: commit: %w", err)
		}
	}
	if len(applied) == 0 {
		return nil, nil
	}
	if err := e.db.commit(applied, audits); err != nil {
		return nil, fmt.Errorf("rules: commit: %w", err)
	}
	tiersChanged := false
	for _, ch := range applied {
		k := objKey{ch.Kind, ch.ID}
		prev := e.objects[k]
		wasLive := prev != nil && !prev.Deleted
		e.objects[k] = ch
		e.version = max(e.version, ch.Version)
		i := map[string]int{KindRule: 0, KindList: 1, KindTier: 2}[ch.Kind]
		switch {
		case wasLive && ch.Deleted:
			e.counts[i]--
		case !wasLive && !ch.Deleted:
			e.counts[i]++
		}
		if ch.Kind == KindTier {
			tiersChanged = true
		}
	}
	if tiersChanged {
		e.tiersMu.Lock()
		for _, ch := range applied {
			if ch.Kind != KindTier {
				continue
			}
			if ch.Deleted {
				delete(e.tiers, ch.ID)
			} else {
				e.tiers[ch.ID] = ch.Tier.Tier
			}
		}
		e.tiersMu.Unlock()
	}
	if slices.ContainsFunc(applied, func(c *Change) bool { return c.Kind != KindTier }) {
		e.rebuild()
	}
	if len(applied) > 10 {
		// A file or a peer's state: one line, not one per object.
		e.log.Info("rule store changed", "changes", len(applied), "origin", applied[0].Origin, "actor", applied[0].Actor)
		return applied, nil
	}
	for _, ch := range applied {
		e.log.Info("rule store changed", "kind", ch.Kind, "id", ch.ID, "action", ch.Action, "version", ch.Version, "origin", ch.Origin, "actor", ch.Actor)
	}
	return applied, nil
}

// commitLocal applies changes made on this node and hands them to the
// OnChange hook. Caller holds e.mu; it is released here.
func (e *Engine) commitLocal(chs ...*Change) error {
	applied, err := e.apply(chs)
	fn := e.onChange
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if fn != nil {
		for _, ch := range applied {
			fn(*ch)
		}
	}
	return nil
}

// ApplyRemote applies a change made on another node: it is stored (with
// its audit entry) if it is newer than what this node has, and ignored
// otherwise. It reports whether it was applied. Idempotent.
func (e *Engine) ApplyRemote(ch Change) (bool, error) {
	if err := ch.check(e.cfg); err != nil {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	applied, err := e.apply([]*Change{&ch})
	return len(applied) > 0, err
}

// State returns every object's latest change, tombstones included, for a
// joining node's anti-entropy (push/pull): merging it with ApplyRemote on
// the other side converges both.
func (e *Engine) State() []Change {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Change, 0, len(e.objects))
	for _, ch := range e.objects {
		out = append(out, *ch)
	}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(cmp.Compare(a.Version, b.Version), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// check validates a change received from elsewhere.
func (ch *Change) check(cfg Config) error {
	if ch.Version == 0 || ch.Origin == "" || ch.ID == "" {
		return errors.New("rules: change without version, origin or id")
	}
	if ch.Deleted {
		return nil
	}
	switch ch.Kind {
	case KindRule:
		if ch.Rule == nil || ch.Rule.ID != ch.ID {
			return errors.New("rules: rule change without its rule")
		}
		r := *ch.Rule
		if err := r.Validate(Limits{MaxLogLimit: cfg.MaxLogLimit}); err != nil {
			return err
		}
	case KindList:
		if ch.Entry == nil || ch.Entry.ID != ch.ID {
			return errors.New("rules: list change without its entry")
		}
	case KindTier:
		if ch.Tier == nil || ch.Tier.UserID != ch.ID {
			return errors.New("rules: tier change without its assignment")
		}
		return validateTier(ch.Tier.UserID, ch.Tier.Tier)
	default:
		return fmt.Errorf("rules: unknown kind %q", ch.Kind)
	}
	return nil
}

func (e *Engine) limits() Limits { return Limits{MaxLogLimit: e.cfg.MaxLogLimit} }

func newRuleID() string {
	var b [8]byte
	rand.Read(b[:])
	return "rule_" + hex.EncodeToString(b[:])
}

// CreateRule validates spec and stores a new rule. An id is generated
// when spec has none; an existing id is ErrExists.
func (e *Engine) CreateRule(spec *RuleSpec, actor string, now int64) (Rule, error) {
	r, aerr := spec.Apply(NewRuleDefaults())
	if r.ID == "" {
		r.ID = newRuleID()
	}
	if err := joinValidation(aerr, r.Validate(e.limits())); err != nil {
		return Rule{}, err
	}
	e.mu.Lock()
	if ch := e.objects[objKey{KindRule, r.ID}]; ch != nil && !ch.Deleted {
		e.mu.Unlock()
		return Rule{}, fmt.Errorf("rule %q: %w", r.ID, ErrExists)
	}
	if e.counts[0] >= e.cfg.MaxRules {
		e.mu.Unlock()
		return Rule{}, fmt.Errorf("%w: at most %d rules", ErrTooMany, e.cfg.MaxRules)
	}
	if spec.Version != nil {
		e.mu.Unlock()
		return Rule{}, fieldErr("version", "cannot be given when creating a rule")
	}
	t := time.Unix(0, now).UTC()
	r.Version = e.nextVersion(now)
	r.CreatedAt, r.UpdatedAt, r.CreatedBy, r.UpdatedBy = t, t, actor, actor
	return r, e.commitLocal(&Change{Kind: KindRule, ID: r.ID, Version: r.Version, Origin: e.cfg.Node, Rule: &r, Actor: actor, Action: "create", At: t})
}

// UpdateRule applies spec to rule id as a merge patch (absent fields keep
// their values). A spec version that is not the current one is ErrVersion.
func (e *Engine) UpdateRule(id string, spec *RuleSpec, actor string, now int64) (Rule, error) {
	e.mu.Lock()
	cur, err := e.liveRule(id)
	if err != nil {
		e.mu.Unlock()
		return Rule{}, err
	}
	r, err := spec.Apply(*cur)
	err = joinValidation(err, r.Validate(e.limits()))
	if err == nil && r.ID != id {
		err = fieldErr("id", "cannot be changed")
	}
	if err == nil && spec.Version != nil && *spec.Version != cur.Version {
		err = fmt.Errorf("rule %q is at version %d, not %d: %w", id, cur.Version, *spec.Version, ErrVersion)
	}
	if err != nil {
		e.mu.Unlock()
		return Rule{}, err
	}
	action := "update"
	if withoutMeta(r) == withoutMeta(*cur) {
		e.mu.Unlock()
		return *cur, nil // nothing changed: no new version
	}
	if withoutMeta(r) == withoutMeta(withEnabled(*cur, r.Enabled)) && r.Enabled != cur.Enabled {
		action = map[bool]string{true: "enable", false: "disable"}[r.Enabled]
	}
	t := time.Unix(0, now).UTC()
	r.Version = e.nextVersion(now)
	r.UpdatedAt, r.UpdatedBy = t, actor
	return r, e.commitLocal(&Change{Kind: KindRule, ID: id, Version: r.Version, Origin: e.cfg.Node, Rule: &r, Actor: actor, Action: action, At: t})
}

// ruleKey is a comparable view of a rule's content (for "did it change").
type ruleKey struct {
	Name, Description string
	Priority          int
	Enabled           bool
	Match             Match
	Per               string
	Algorithm         string
	Limit             int64
	Window            Window
	Burst             int64
	Action            string
}

func withoutMeta(r Rule) ruleKey {
	return ruleKey{r.Name, r.Description, r.Priority, r.Enabled, r.Match, fmt.Sprint(r.Per), r.Algorithm, r.Limit, r.Window, r.Burst, r.Action}
}

func withEnabled(r Rule, on bool) Rule { r.Enabled = on; return r }

// SetEnabled enables or disables rule id.
func (e *Engine) SetEnabled(id string, on bool, actor string, now int64) (Rule, error) {
	return e.UpdateRule(id, &RuleSpec{Enabled: &on}, actor, now)
}

// DeleteRule deletes rule id. Its counters expire on their own.
func (e *Engine) DeleteRule(id, actor string, now int64) error {
	e.mu.Lock()
	if _, err := e.liveRule(id); err != nil {
		e.mu.Unlock()
		return err
	}
	return e.commitLocal(&Change{Kind: KindRule, ID: id, Version: e.nextVersion(now), Origin: e.cfg.Node, Deleted: true, Actor: actor, Action: "delete", At: time.Unix(0, now).UTC()})
}

// liveRule returns the current rule id. Caller holds e.mu.
func (e *Engine) liveRule(id string) (*Rule, error) {
	ch := e.objects[objKey{KindRule, id}]
	if ch == nil || ch.Deleted {
		return nil, fmt.Errorf("rule %q: %w", id, ErrNotFound)
	}
	return ch.Rule, nil
}

// Rule returns rule id.
func (e *Engine) Rule(id string) (Rule, bool) {
	r := e.snap.Load().byID[id]
	if r == nil {
		return Rule{}, false
	}
	return *r, true
}

// Rules returns one page of rules (page from 1) ordered by priority then
// id, and the total. Rules and their slices are shared: do not modify.
func (e *Engine) Rules(page, size int) ([]*Rule, int) {
	all := e.snap.Load().rules
	return pageOf(all, page, size), len(all)
}

func pageOf[T any](all []T, page, size int) []T {
	lo := (page - 1) * size
	if lo < 0 || lo >= len(all) {
		return []T{}
	}
	return all[lo:min(lo+size, len(all))]
}

// AddListEntry validates spec and adds it to list (ListAllow or
// ListDeny). An entry for the same type and value already on the list is
// ErrExists.
func (e *Engine) AddListEntry(list string, spec *ListSpec, actor string, now int64) (ListEntry, error) {
	en, err := spec.Entry(list, now)
	if err != nil {
		return ListEntry{}, err
	}
	e.mu.Lock()
	if ch := e.objects[objKey{KindList, en.ID}]; ch != nil && !ch.Deleted {
		e.mu.Unlock()
		return ListEntry{}, fmt.Errorf("%s-list entry %s %q (%s): %w", list, en.Type, en.Value, en.ID, ErrExists)
	}
	if e.counts[1] >= e.cfg.MaxListEntries {
		e.mu.Unlock()
		return ListEntry{}, fmt.Errorf("%w: at most %d list entries", ErrTooMany, e.cfg.MaxListEntries)
	}
	t := time.Unix(0, now).UTC()
	en.Version, en.CreatedAt, en.CreatedBy = e.nextVersion(now), t, actor
	return en, e.commitLocal(&Change{Kind: KindList, ID: en.ID, Version: en.Version, Origin: e.cfg.Node, Entry: &en, Actor: actor, Action: "create", At: t})
}

// DeleteListEntry removes entry id from list.
func (e *Engine) DeleteListEntry(list, id, actor string, now int64) error {
	e.mu.Lock()
	ch := e.objects[objKey{KindList, id}]
	if ch == nil || ch.Deleted || ch.Entry.List != list {
		e.mu.Unlock()
		return fmt.Errorf("%s-list entry %q: %w", list, id, ErrNotFound)
	}
	return e.commitLocal(&Change{Kind: KindList, ID: id, Version: e.nextVersion(now), Origin: e.cfg.Node, Deleted: true, Actor: actor, Action: "delete", At: time.Unix(0, now).UTC()})
}

// ListEntries returns one page of list's entries (expired ones included,
// until deleted) and the total.
func (e *Engine) ListEntries(list string, page, size int) ([]*ListEntry, int) {
	var of []*ListEntry
	for _, en := range e.snap.Load().entries {
		if en.List == list {
			of = append(of, en)
		}
	}
	return pageOf(of, page, size), len(of)
}

// ListEntry returns entry id of list.
func (e *Engine) ListEntry(list, id string) (ListEntry, bool) {
	for _, en := range e.snap.Load().entries {
		if en.List == list && en.ID == id {
			return *en, true
		}
	}
	return ListEntry{}, false
}

// SetTier assigns user to tier.
func (e *Engine) SetTier(user, tier, actor string, now int64) (TierAssignment, error) {
	if err := validateTier(user, tier); err != nil {
		return TierAssignment{}, err
	}
	e.mu.Lock()
	prev := e.objects[objKey{KindTier, user}]
	if prev != nil && !prev.Deleted && prev.Tier.Tier == tier {
		e.mu.Unlock()
		return *prev.Tier, nil
	}
	if (prev == nil || prev.Deleted) && e.counts[2] >= e.cfg.MaxTiers {
		e.mu.Unlock()
		return TierAssignment{}, fmt.Errorf("%w: at most %d tier assignments", ErrTooMany, e.cfg.MaxTiers)
	}
	t := time.Unix(0, now).UTC()
	a := TierAssignment{UserID: user, Tier: tier, Version: e.nextVersion(now), UpdatedAt: t, UpdatedBy: actor}
	action := "create"
	if prev != nil && !prev.Deleted {
		action = "update"
	}
	return a, e.commitLocal(&Change{Kind: KindTier, ID: user, Version: a.Version, Origin: e.cfg.Node, Tier: &a, Actor: actor, Action: action, At: t})
}

// DeleteTier removes user's assignment (the user falls back to the
// default tier).
func (e *Engine) DeleteTier(user, actor string, now int64) error {
	e.mu.Lock()
	ch := e.objects[objKey{KindTier, user}]
	if ch == nil || ch.Deleted {
		e.mu.Unlock()
		return fmt.Errorf("tier assignment of %q: %w", user, ErrNotFound)
	}
	return e.commitLocal(&Change{Kind: KindTier, ID: user, Version: e.nextVersion(now), Origin: e.cfg.Node, Deleted: true, Actor: actor, Action: "delete", At: time.Unix(0, now).UTC()})
}

// Tier returns user's assignment.
func (e *Engine) Tier(user string) (TierAssignment, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := e.objects[objKey{KindTier, user}]
	if ch == nil || ch.Deleted {
		return TierAssignment{}, false
	}
	return *ch.Tier, true
}

// Tiers returns one page of tier assignments ordered by user id, and the
// total.
func (e *Engine) Tiers(page, size int) ([]TierAssignment, int) {
	e.mu.Lock()
	all := make([]TierAssignment, 0, e.counts[2])
	for k, ch := range e.objects {
		if k.kind == KindTier && !ch.Deleted {
			all = append(all, *ch.Tier)
		}
	}
	e.mu.Unlock()
	slices.SortFunc(all, func(a, b TierAssignment) int { return cmp.Compare(a.UserID, b.UserID) })
	return pageOf(all, page, size), len(all)
}

// Audit returns audit entries, newest first, and the cursor for the next
// page (0: none).
func (e *Engine) Audit(q AuditQuery) ([]AuditEntry, uint64, error) {
	return e.db.audit(q)
}

// RuleStats returns the hits and rejections since start of every rule
// that has been enabled (a disabled rule keeps its counts; a deleted one
// loses them).
func (e *Engine) RuleStats() []RuleStat {
	e.mu.Lock()
	out := make([]RuleStat, 0, len(e.counters))
	for id, c := range e.counters {
		out = append(out, RuleStat{ID: id, Hits: c.hits.Load(), Limited: c.limited.Load()})
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b RuleStat) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// CrossNodeRaces returns how many times a check whose counters span nodes
// was admitted by a rule whose counter a racing request had emptied
// between the check's two steps (see Placement): the over-admission a
// cluster allows, counted.
func (e *Engine) CrossNodeRaces() int64 { return e.races.Load() }

// joinValidation merges the field errors of a and b (either may be nil).
func joinValidation(a, b error) error {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	va, vb := a.(*ValidationError), b.(*ValidationError)
	for k, v := range vb.Fields {
		if _, ok := va.Fields[k]; !ok {
			va.Fields[k] = v
		}
	}
	return va
}
