package acl

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"slices"
	"strings"

	"github.com/rlserver/rlserver/glob"
)

// Access is what a command does with its keys.
type Access uint8

// Key access kinds; a pattern grants a key only for the kinds it carries.
const (
	Read  Access = 1 << iota // %R~: the command reads the key
	Write                    // %W~: the command writes the key
)

// User is one ACL user. A published User is never modified: every change
// builds a new one (SetUser), so it is safe for concurrent use. The zero
// value is not usable; users come from a Registry.
type User struct {
	name      string
	enabled   bool
	nopass    bool
	sanitize  int8       // 0 unset, 1 sanitize-payload, 2 skip-sanitize-payload
	passwords [][32]byte // SHA-256 of each password, in the order added

	cat      *Catalog
	cmds     bits      // commands the user may run
	cmdRules []cmdRule // the rules that produce cmds, for ACL LIST

	allKeys bool
	keys    []keyPattern

	// Channel rules are kept and shown as Redis does, though rlserver has
	// no Pub/Sub for them to govern.
	allChannels bool
	channels    []string
}

type keyPattern struct {
	pattern []byte
	access  Access
	// kind is how match tests a key: most patterns are a literal or a
	// literal prefix and a final star ("rl:*"), which need no glob.
	kind  matchKind
	fixed []byte // the literal, or the prefix before the star
}

type matchKind uint8

const (
	matchGlob matchKind = iota
	matchLiteral
	matchPrefix
)

func newKeyPattern(p string, access Access) keyPattern {
	kp := keyPattern{pattern: []byte(p), access: access}
	lit := strings.TrimSuffix(p, "*")
	if !strings.ContainsAny(lit, "*?[\\") {
		kp.fixed = []byte(lit)
		kp.kind = matchLiteral
		if len(lit) < len(p) {
			kp.kind = matchPrefix
		}
	}
	return kp
}

func (p *keyPattern) match(key []byte) bool {
	switch p.kind {
	case matchLiteral:
		return string(key) == string(p.fixed)
	case matchPrefix:
		return len(key) >= len(p.fixed) && string(key[:len(p.fixed)]) == string(p.fixed)
	}
	return glob.Match(p.pattern, key)
}

// cmdRule is one +/- rule on a command or a category.
type cmdRule struct {
	allow    bool
	category bool
	name     string
}

func (r cmdRule) String() string {
	s := "-"
	if r.allow {
		s = "+"
	}
	if r.category {
		s += "@"
	}
	return s + r.name
}

// Name is the user's name.
func (u *User) Name() string { return u.name }

// Enabled reports whether the user may authenticate ("on").
func (u *User) Enabled() bool { return u.enabled }

// NoPass reports whether any password authenticates the user ("nopass").
func (u *User) NoPass() bool { return u.nopass }

// CanRun reports whether the user may run the command with catalog id id.
// It is one bit test: the dispatcher calls it on every command.
func (u *User) CanRun(id int) bool { return u.cmds.has(id) }

// AllKeys reports whether the user may touch every key in every way, so
// callers can skip per-key checks.
func (u *User) AllKeys() bool { return u.allKeys }

// CanAccessKey reports whether some key pattern of the user matches key and
// grants every kind of access in need. It does not retain key.
func (u *User) CanAccessKey(key []byte, need Access) bool {
	if u.allKeys {
		return true
	}
	for i := range u.keys {
		if p := &u.keys[i]; p.access&need == need && p.match(key) {
			return true
		}
	}
	return false
}

// checkPassword compares pass with every stored hash in constant time (the
// loop never stops early), so timing reveals neither which one matched nor
// how much of it.
func (u *User) checkPassword(pass []byte) bool {
	if u.nopass {
		return true
	}
	sum := sha256.Sum256(pass)
	ok := 0
	for i := range u.passwords {
		ok |= subtle.ConstantTimeCompare(sum[:], u.passwords[i][:])
	}
	return ok == 1
}

// newUser is a user as Redis creates it: off, no passwords, no keys, no
// channels, no commands.
func newUser(name string, cat *Catalog) *User {
	return &User{name: name, cat: cat, cmds: make(bits, cat.words), cmdRules: []cmdRule{{allow: false, category: true, name: "all"}}}
}

func (u *User) clone() *User {
	v := *u
	v.passwords = slices.Clone(u.passwords)
	v.cmds = slices.Clone(u.cmds)
	v.cmdRules = slices.Clone(u.cmdRules)
	v.keys = slices.Clone(u.keys)
	v.channels = slices.Clone(u.channels)
	return &v
}

// Errors from rules, worded as Redis 7 words them after
// "Error in ACL SETUSER modifier '<rule>': ".
var (
	errSyntax      = errors.New("Syntax error")
	errBadHash     = errors.New("The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters")
	errNoSuchPass  = errors.New("The password you are trying to remove from the user does not exist")
	errUnknownName = errors.New("Unknown command or category name in ACL")
	errKeyAfterAll = errors.New("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns")
	errChanAfter   = errors.New("Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels")
	errSelectors   = errors.New("Selectors are not supported by rlserver")
	errFirstArg    = errors.New("First-arg rules (command|argument) are not supported by rlserver: the command has no subcommands; allow or deny the whole command")
	errFirstArgSub = errors.New("Allowing first-arg of a subcommand is not supported")
)

// RuleError is a rule that could not be applied; its message is Redis's.
type RuleError struct {
	Rule string
	Err  error
}

func (e *RuleError) Error() string {
	return "Error in ACL SETUSER modifier '" + e.Rule + "': " + e.Err.Error()
}

func (e *RuleError) Unwrap() error { return e.Err }

// apply changes u by one rule. u is a private copy being built.
func (u *User) apply(rule string) error {
	lower := strings.ToLower(rule)
	switch lower {
	case "on":
		u.enabled = true
		return nil
	case "off":
		u.enabled = false
		return nil
	case "nopass":
		u.nopass, u.passwords = true, nil
		return nil
	case "resetpass":
		u.nopass, u.passwords = false, nil
		return nil
	case "sanitize-payload":
		u.sanitize = 1
		return nil
	case "skip-sanitize-payload":
		u.sanitize = 2
		return nil
	case "allkeys":
		u.allKeys, u.keys = true, nil
		return nil
	case "resetkeys":
		u.allKeys, u.keys = false, nil
		return nil
	case "allchannels":
		u.allChannels, u.channels = true, nil
		return nil
	case "resetchannels":
		u.allChannels, u.channels = false, nil
		return nil
	case "allcommands":
		return u.applyCommand(cmdRule{allow: true, category: true, name: "all"})
	case "nocommands":
		return u.applyCommand(cmdRule{allow: false, category: true, name: "all"})
	case "clearselectors":
		return nil // rlserver has no selectors to clear
	case "reset":
		u.nopass, u.passwords = false, nil
		u.allKeys, u.keys = false, nil
		u.allChannels, u.channels = false, nil
		u.enabled = false
		u.sanitize = 1
		return u.applyCommand(cmdRule{allow: false, category: true, name: "all"})
	}
	if rule == "" {
		return errSyntax
	}
	switch rule[0] {
	case '>':
		u.addPassword(sha256.Sum256([]byte(rule[1:])))
		return nil
	case '#':
		h, err := parseHash(rule[1:])
		if err != nil {
			return err
		}
		u.addPassword(h)
		return nil
	case '<':
		return u.removePassword(sha256.Sum256([]byte(rule[1:])))
	case '!':
		h, err := parseHash(rule[1:])
		if err != nil {
			return err
		}
		return u.removePassword(h)
	case '~':
		return u.addKeyPattern(rule[1:], Read|Write)
	case '%':
		var access Access
		i := 1
		for ; i < len(rule) && rule[i] != '~'; i++ {
			var a Access
			switch rule[i] {
			case 'R', 'r':
				a = Read
			case 'W', 'w':
				a = Write
			default:
				return errSyntax
			}
			if access&a != 0 {
				return errSyntax
			}
			access |= a
		}
		if access == 0 || i == len(rule) {
			return errSyntax
		}
		return u.addKeyPattern(rule[i+1:], access)
	case '&':
		if strings.ContainsFunc(rule, isSpaceRune) {
			return errSyntax
		}
		if u.allChannels {
			return errChanAfter
		}
		if rule[1:] == "*" {
			u.allChannels, u.channels = true, nil
			return nil
		}
		if !slices.Contains(u.channels, rule[1:]) {
			u.channels = append(u.channels, rule[1:])
		}
		return nil
	case '(':
		return errSelectors
	case '+', '-':
		r := cmdRule{allow: rule[0] == '+', name: lower[1:]}
		if strings.HasPrefix(r.name, "@") {
			r.category, r.name = true, r.name[1:]
			if _, ok := u.cat.cats[r.name]; !ok {
				return errUnknownName
			}
		} else if err := u.cat.checkCommandRule(r); err != nil {
			return err
		}
		return u.applyCommand(r)
	}
	return errSyntax
}

func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, errBadHash
	}
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return h, errBadHash
		}
	}
	hex.Decode(h[:], []byte(s))
	return h, nil
}

func (u *User) addPassword(h [32]byte) {
	u.nopass = false
	if !slices.Contains(u.passwords, h) {
		u.passwords = append(u.passwords, h)
	}
}

func (u *User) removePassword(h [32]byte) error {
	i := slices.Index(u.passwords, h)
	if i < 0 {
		return errNoSuchPass
	}
	u.passwords = slices.Delete(u.passwords, i, i+1)
	return nil
}

// addKeyPattern adds a pattern; the same pattern twice keeps one entry
// with both grants, and "~*" (all access) means allkeys.
func (u *User) addKeyPattern(p string, access Access) error {
	if strings.ContainsFunc(p, isSpaceRune) {
		return errSyntax
	}
	if u.allKeys {
		return errKeyAfterAll
	}
	if p == "*" && access == Read|Write {
		u.allKeys, u.keys = true, nil
		return nil
	}
	for i := range u.keys {
		if string(u.keys[i].pattern) == p {
			u.keys[i].access |= access
			return nil
		}
	}
	u.keys = append(u.keys, newKeyPattern(p, access))
	return nil
}

// applyCommand adds a command rule and keeps the rule list minimal, so ACL
// LIST shows what the user can do rather than the history of edits: +@all
// and -@all restart the list; a rule replaces an earlier rule on the same
// command or category; a rule that changes nothing is dropped, and so is
// any earlier rule a later one made irrelevant.
func (u *User) applyCommand(r cmdRule) error {
	if r.category && r.name == "all" {
		u.cmdRules = []cmdRule{r}
		u.cmds = u.replay(u.cmdRules)
		return nil
	}
	rules := slices.DeleteFunc(slices.Clone(u.cmdRules), func(o cmdRule) bool {
		return o.category == r.category && o.name == r.name
	})
	rules = append(rules, r)
	want := u.replay(rules)
	// Drop rules (never the first, +@all or -@all) whose removal changes
	// nothing; later rules first, so the survivors are the earliest
	// sufficient ones. Dropping one can make another redundant (-config
	// after +config|get is needed until +config|get goes), hence the
	// passes until one drops nothing.
	for dropped := true; dropped; {
		dropped = false
		for i := len(rules) - 1; i >= 1; i-- {
			without := slices.Delete(slices.Clone(rules), i, i+1)
			if slices.Equal(u.replay(without), want) {
				rules, dropped = without, true
			}
		}
	}
	u.cmdRules, u.cmds = rules, want
	return nil
}

// replay computes the command bitset of a rule list.
func (u *User) replay(rules []cmdRule) bits {
	b := make(bits, u.cat.words)
	for _, r := range rules {
		if r.category {
			set := u.cat.cats[r.name]
			for w := range b {
				if r.allow {
					b[w] |= set[w]
				} else {
					b[w] &^= set[w]
				}
			}
			continue
		}
		// A command's rule covers its subcommands; a subcommand's rule
		// only itself.
		id := u.cat.ids[r.name]
		b.set(id, r.allow)
		for _, sid := range u.cat.subs[id] {
			b.set(sid, r.allow)
		}
	}
	return b
}

// Flags are the user's flags as ACL GETUSER lists them.
func (u *User) Flags() []string {
	f := []string{"off"}
	if u.enabled {
		f[0] = "on"
	}
	if u.nopass {
		f = append(f, "nopass")
	}
	switch u.sanitize {
	case 1:
		f = append(f, "sanitize-payload")
	case 2:
		f = append(f, "skip-sanitize-payload")
	}
	return f
}

// PasswordHashes are the stored SHA-256 hashes in lower-case hex.
func (u *User) PasswordHashes() []string {
	out := make([]string, len(u.passwords))
	for i, h := range u.passwords {
		out[i] = hex.EncodeToString(h[:])
	}
	return out
}

// CommandRules describes the command permissions ("+@all -@admin +config").
func (u *User) CommandRules() string {
	parts := make([]string, len(u.cmdRules))
	for i, r := range u.cmdRules {
		parts[i] = r.String()
	}
	return strings.Join(parts, " ")
}

// KeyRules describes the key patterns ("~*", "%R~a:* ~b:*", or "").
func (u *User) KeyRules() string {
	if u.allKeys {
		return "~*"
	}
	parts := make([]string, len(u.keys))
	for i, p := range u.keys {
		switch p.access {
		case Read:
			parts[i] = quoteWord("%R~" + string(p.pattern))
		case Write:
			parts[i] = quoteWord("%W~" + string(p.pattern))
		default:
			parts[i] = quoteWord("~" + string(p.pattern))
		}
	}
	return strings.Join(parts, " ")
}

// ChannelRules describes the channel patterns ("&*", "&a &b", or "").
func (u *User) ChannelRules() string {
	if u.allChannels {
		return "&*"
	}
	parts := make([]string, len(u.channels))
	for i, c := range u.channels {
		parts[i] = quoteWord("&" + c)
	}
	return strings.Join(parts, " ")
}

// Describe is the user's line in ACL LIST and in an ACL file, in Redis's
// order: flags, password hashes, keys, channels, commands.
func (u *User) Describe() string {
	var b strings.Builder
	b.WriteString("user ")
	b.WriteString(quoteWord(u.name))
	for _, f := range u.Flags() {
		b.WriteString(" " + f)
	}
	for _, h := range u.PasswordHashes() {
		b.WriteString(" #" + h)
	}
	if k := u.KeyRules(); k != "" {
		b.WriteString(" " + k)
	}
	switch {
	case u.allChannels:
		b.WriteString(" &*")
	default:
		b.WriteString(" resetchannels")
		if c := u.ChannelRules(); c != "" {
			b.WriteString(" " + c)
		}
	}
	b.WriteString(" " + u.CommandRules())
	return b.String()
}

func isSpaceRune(r rune) bool { return r < 0x80 && isSpace(byte(r)) }

// quoteWord double-quotes a word that SplitArgs would not read back as
// itself (quotes, spaces, control bytes), so ACL LIST
// lines and saved ACL files always load back to the same users.
func quoteWord(w string) string {
	plain := w != ""
	for i := 0; i < len(w) && plain; i++ {
		ch := w[i]
		plain = ch > ' ' && ch != 0x7f && ch != '"' && ch != '\''
	}
	if plain {
		return w
	}
	b := []byte{'"'}
	for i := 0; i < len(w); i++ {
		switch ch := w[i]; {
		case ch == '"' || ch == '\\':
			b = append(b, '\\', ch)
		case ch == '\n':
			b = append(b, '\\', 'n')
		case ch == '\r':
			b = append(b, '\\', 'r')
		case ch == '\t':
			b = append(b, '\\', 't')
		case ch < ' ' || ch == 0x7f:
			b = append(b, '\\', 'x', "0123456789abcdef"[ch>>4], "0123456789abcdef"[ch&15])
		default:
			b = append(b, ch)
		}
	}
	return string(append(b, '"'))
}
