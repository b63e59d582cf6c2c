package acl

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultUser is the user every connection starts as.
const DefaultUser = "default"

// Handle is a user's stable identity: a connection keeps the Handle it
// authenticated as and loads the current User from it on every command, so
// SETUSER applies to live connections at once. Safe for concurrent use.
type Handle struct {
	name    string
	user    atomic.Pointer[User]
	removed atomic.Bool
}

// User returns the user's current definition.
func (h *Handle) User() *User { return h.user.Load() }

// Name is the user's name.
func (h *Handle) Name() string { return h.name }

// Removed reports whether DELUSER or a reload deleted the user; its
// connections are to be closed.
func (h *Handle) Removed() bool { return h.removed.Load() }

// Registry holds the users. The zero value is not usable: call NewRegistry.
// Safe for concurrent use; writers (SETUSER, DELUSER, Replace) serialize on
// a mutex, and per-command checks go through Handles without locking.
type Registry struct {
	cat *Catalog
	def *Handle // the default user: never deleted, its handle never replaced
	mu  sync.Mutex
	// users maps names to handles; guarded by mu.
	users map[string]*Handle
}

// ErrNoDefault is returned when a user list lacks the default user.
var ErrNoDefault = errors.New("acl: the default user must exist")

// NewRegistry returns a registry holding only Redis's default user:
// "on nopass ~* &* +@all".
func NewRegistry(cat *Catalog) *Registry {
	r := &Registry{cat: cat, users: make(map[string]*Handle)}
	r.def = newHandle(DefaultDefinition(cat))
	r.users[DefaultUser] = r.def
	return r
}

// DefaultDefinition is the default user as Redis starts it.
func DefaultDefinition(cat *Catalog) *User {
	u := newUser(DefaultUser, cat)
	for _, rule := range []string{"on", "nopass", "~*", "&*", "+@all"} {
		u.apply(rule)
	}
	return u
}

func newHandle(u *User) *Handle {
	h := &Handle{name: u.name}
	h.user.Store(u)
	return h
}

// Catalog returns the catalog users are defined against.
func (r *Registry) Catalog() *Catalog { return r.cat }

// ValidName reports whether name can be a user name (Redis: no spaces, no
// NUL bytes, not empty).
func ValidName(name string) bool {
	return name != "" && !strings.ContainsAny(name, " \x00")
}

var errBadName = errors.New("Usernames can't contain spaces or null characters")

// Build applies rules, in order, to a copy of base (or to a new user named
// name when base is nil) and returns the result without publishing it. The
// first rule that fails is returned as a *RuleError.
func Build(cat *Catalog, name string, base *User, rules []string) (*User, error) {
	if !ValidName(name) {
		return nil, errBadName
	}
	var u *User
	if base != nil {
		u = base.clone()
	} else {
		u = newUser(name, cat)
	}
	for _, rule := range rules {
		if err := u.apply(rule); err != nil {
			return nil, &RuleError{Rule: rule, Err: err}
		}
	}
	return u, nil
}

// SetUser creates or changes a user, applying every rule or none (ACL
// SETUSER is atomic).
func (r *Registry) SetUser(name string, rules []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.users[name]
	var base *User
	if h != nil {
		base = h.user.Load()
	}
	u, err := Build(r.cat, name, base, rules)
	if err != nil {
		return err
	}
	if h == nil {
		r.users[name] = newHandle(u)
		return nil
	}
	h.user.Store(u)
	return nil
}

var errDeleteDefault = errors.New("The 'default' user cannot be removed")

// DelUser deletes the named users and returns the handles it removed (their
// connections must be closed). Deleting "default" is an error and deletes
// nothing; unknown names are skipped.
func (r *Registry) DelUser(names ...string) ([]*Handle, error) {
	if slices.Contains(names, DefaultUser) {
		return nil, errDeleteDefault
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var removed []*Handle
	for _, n := range names {
		if h := r.users[n]; h != nil {
			delete(r.users, n)
			h.removed.Store(true)
			removed = append(removed, h)
		}
	}
	return removed, nil
}

// Replace swaps in a whole new set of users (an ACL file reload): a name
// present before and after keeps its Handle with the new definition, so
// its connections stay; the handles of names that disappeared are returned
// for their connections to be closed. users must contain DefaultUser.
func (r *Registry) Replace(users []*User) ([]*Handle, error) {
	if !slices.ContainsFunc(users, func(u *User) bool { return u.name == DefaultUser }) {
		return nil, ErrNoDefault
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next := make(map[string]*Handle, len(users))
	for _, u := range users {
		if h := r.users[u.name]; h != nil {
			h.user.Store(u)
			next[u.name] = h
		} else {
			next[u.name] = newHandle(u)
		}
	}
	var removed []*Handle
	for name, h := range r.users {
		if next[name] == nil {
			h.removed.Store(true)
			removed = append(removed, h)
		}
	}
	r.users = next
	return removed, nil
}

// Lookup returns a user's handle, or nil.
func (r *Registry) Lookup(name string) *Handle {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.users[name]
}

// Default returns the default user's handle, without locking.
func (r *Registry) Default() *Handle { return r.def }

// Names lists the user names, sorted (ACL USERS).
func (r *Registry) Names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	names := make([]string, 0, len(r.users))
	for n := range r.users {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// List describes every user, sorted by name (ACL LIST, ACL SAVE).
func (r *Registry) List() []string {
	var out []string
	for _, n := range r.Names() {
		if h := r.Lookup(n); h != nil {
			out = append(out, h.User().Describe())
		}
	}
	return out
}

// Authenticate returns the handle of the named user when the user is on
// and pass is one of its passwords (any password for nopass). An unknown
// user costs the same hashing and comparison as a known one, so timing does
// not tell which names exist.
func (r *Registry) Authenticate(name, pass []byte) (*Handle, bool) {
	h := r.Lookup(string(name))
	if h == nil {
		sum := sha256.Sum256(pass)
		var zero [32]byte
		subtle.ConstantTimeCompare(sum[:], zero[:])
		return nil, false
	}
	u := h.User()
	ok := u.checkPassword(pass)
	if !ok || !u.enabled {
		return nil, false
	}
	return h, true
}

// DefaultOpen reports whether the default user is on and needs no
// password: a new connection is then authenticated from the start, and
// protected mode refuses remote clients. It does not lock.
func (r *Registry) DefaultOpen() bool {
	u := r.def.User()
	return u.enabled && u.nopass
}
