package acl

import (
	"fmt"
	"slices"
	"strings"
)

// RedisCategories are Redis 7's ACL categories in the order ACL CAT lists
// them. A category no command belongs to is still valid in rules (an ACL
// file written for Redis keeps working); it is simply empty.
var RedisCategories = []string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string",
	"bitmap", "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow",
	"blocking", "dangerous", "connection", "transaction", "scripting",
}

// Command describes one command of the server's table for the catalog.
type Command struct {
	Name       string   // lower case
	Categories []string // without '@'; "all" is implied
	// Subs are the command's subcommands (lower case, without the
	// "name|"), for rules like +config|get. A subcommand has the
	// command's categories.
	Subs []string
}

// Catalog numbers the server's commands and knows which belong to each
// category. It is built once and immutable: safe for concurrent use.
type Catalog struct {
	names []string       // by id; "name|sub" for a subcommand
	ids   map[string]int // name → id
	subs  map[int][]int  // a command's id → its subcommands' ids
	cats  map[string]bits
	order []string // categories as ACL CAT lists them
	ncmd  int      // ids below are commands, from ncmd on subcommands
	words int
}

// bits is a command bitset over catalog ids.
type bits []uint64

func (b bits) has(id int) bool { return id >= 0 && id>>6 < len(b) && b[id>>6]&(1<<(id&63)) != 0 }

func (b bits) set(id int, on bool) {
	if on {
		b[id>>6] |= 1 << (id & 63)
	} else {
		b[id>>6] &^= 1 << (id & 63)
	}
}

// checkCommandRule checks a +/- rule's command name: a command, or a
// command's subcommand ("config|get"), in Redis's words where Redis
// refuses the same rule. Redis also accepts first-argument rules on
// commands without subcommands ("+select|0", deprecated there);
// rlserver refuses them with its own error.
func (c *Catalog) checkCommandRule(r cmdRule) error {
	if _, ok := c.ids[r.name]; ok {
		return nil
	}
	parent, sub, isSub := strings.Cut(r.name, "|")
	pid, known := c.ids[parent]
	switch {
	case !isSub || !known:
		return errUnknownName
	case sub == "":
		return errSyntax
	case len(c.subs[pid]) == 0:
		return errFirstArg
	case strings.Contains(sub, "|") && r.allow:
		if _, ok := c.ids[parent+"|"+sub[:strings.IndexByte(sub, '|')]]; ok {
			return errFirstArgSub
		}
	}
	return errUnknownName
}

// NewCatalog numbers cmds in the given order (a command's id is its
// index; subcommands are numbered after every command, in order) and
// groups them by category. Categories beyond Redis's are listed after
// them, sorted. A duplicate or empty name is an error.
func NewCatalog(cmds []Command) (*Catalog, error) {
	total := len(cmds)
	for _, cmd := range cmds {
		total += len(cmd.Subs)
	}
	c := &Catalog{
		ids:   make(map[string]int, total),
		subs:  make(map[int][]int),
		ncmd:  len(cmds),
		words: (total + 63) / 64,
	}
	c.cats = make(map[string]bits)
	for _, name := range RedisCategories {
		c.cats[name] = make(bits, c.words)
	}
	all := make(bits, c.words)
	var extra []string
	for id, cmd := range cmds {
		if cmd.Name == "" || cmd.Name != strings.ToLower(cmd.Name) {
			return nil, fmt.Errorf("acl: command name %q must be non-empty lower case", cmd.Name)
		}
		if _, dup := c.ids[cmd.Name]; dup {
			return nil, fmt.Errorf("acl: command %q listed twice", cmd.Name)
		}
		c.ids[cmd.Name] = id
		c.names = append(c.names, cmd.Name)
		all[id>>6] |= 1 << (id & 63)
		for _, cat := range cmd.Categories {
			if cat == "" || cat == "all" || cat != strings.ToLower(cat) {
				return nil, fmt.Errorf("acl: command %q: bad category %q", cmd.Name, cat)
			}
			b, ok := c.cats[cat]
			if !ok {
				b = make(bits, c.words)
				c.cats[cat] = b
				extra = append(extra, cat)
			}
			b[id>>6] |= 1 << (id & 63)
		}
	}
	// Subcommands: ids after the commands, in every category of their
	// command.
	for id, cmd := range cmds {
		for _, sub := range cmd.Subs {
			if sub == "" || sub != strings.ToLower(sub) || strings.ContainsAny(sub, "| ") {
				return nil, fmt.Errorf("acl: command %q: bad subcommand %q", cmd.Name, sub)
			}
			full := cmd.Name + "|" + sub
			if _, dup := c.ids[full]; dup {
				return nil, fmt.Errorf("acl: subcommand %q listed twice", full)
			}
			sid := len(c.names)
			c.ids[full] = sid
			c.names = append(c.names, full)
			c.subs[id] = append(c.subs[id], sid)
			all[sid>>6] |= 1 << (sid & 63)
			for _, cat := range cmd.Categories {
				c.cats[cat][sid>>6] |= 1 << (sid & 63)
			}
		}
	}
	slices.Sort(extra)
	c.order = append(slices.Clone(RedisCategories), extra...)
	c.cats["all"] = all
	return c, nil
}

// ID returns the id of a command by its lower-case name.
func (c *Catalog) ID(name string) (int, bool) {
	id, ok := c.ids[name]
	return id, ok
}

// Len is the number of ids: commands and subcommands.
func (c *Catalog) Len() int { return len(c.names) }

// Categories lists every category (without '@') as ACL CAT does.
func (c *Catalog) Categories() []string { return slices.Clone(c.order) }

// CategoryCommands lists the commands of a category (case-insensitive), in
// catalog order, without their subcommands (which share the command's
// categories); false when the category does not exist.
func (c *Catalog) CategoryCommands(cat string) ([]string, bool) {
	cat = strings.ToLower(cat)
	b, ok := c.cats[cat]
	if !ok || cat == "all" {
		return nil, false // Redis: "all" is a rule (+@all), not a listed category
	}
	var out []string
	for id, name := range c.names[:c.ncmd] {
		if b.has(id) {
			out = append(out, name)
		}
	}
	return out, true
}
