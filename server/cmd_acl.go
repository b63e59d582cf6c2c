package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rlserver/rlserver/acl"
	"github.com/tidwall/redcon"
)

// Redis 7.0.15's words for ACL denials (7.2 rephrased them; rlserver
// reports 7.0.15 and answers as it does).
const (
	errNoPermKey   = "NOPERM this user has no permissions to access one of the keys used as arguments"
	errNoACLFile   = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."
	errGenpassBits = "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096"
)

// errNoPermCmd names the command as Redis does: "acl|whoami" for a known
// subcommand.
func errNoPermCmd(cmd *command, args [][]byte) string {
	name := cmd.name
	if sub := cmd.subName(args); sub != nil {
		name = *sub
	}
	return "NOPERM this user has no permissions to run the '" + name + "' command"
}

// aclCategories derives a command's ACL categories from its table row:
// its flags (read, write, admin, dangerous) and its group (keyspace, the
// data type, connection, transaction, limiter). @fast and @slow are
// rlserver's own split: commands that touch every key, administer the
// server, take any number of keys or report on the server are @slow.
func aclCategories(cmd *command) []string {
	var cats []string
	f := cmd.flags
	if f&flagReadOnly != 0 {
		cats = append(cats, "read")
	}
	if f&flagWrite != 0 {
		cats = append(cats, "write")
	}
	// The keyspace: key commands, and server commands over every key
	// (DBSIZE, FLUSHDB); not INFO, nor RL.CHECK, which lock every shard
	// for other reasons.
	if cmd.group == "generic" || cmd.group == "server" && f&flagAllKeys != 0 && f&(flagReadOnly|flagWrite) != 0 {
		cats = append(cats, "keyspace")
	}
	if f&flagAdmin != 0 {
		cats = append(cats, "admin")
	}
	if f&(flagAdmin|flagDangerous) != 0 {
		cats = append(cats, "dangerous")
	}
	switch cmd.group {
	case "string", "list", "set", "hash", "stream", "geo", "hyperloglog", "bitmap", "pubsub", "scripting", "connection", "limiter":
		cats = append(cats, cmd.group)
	case "sorted-set", "sorted_set", "sortedset":
		cats = append(cats, "sortedset")
	case "transactions":
		cats = append(cats, "transaction")
	}
	if f&(flagAllKeys|flagAdmin) != 0 || cmd.lastKey < 0 || cmd.group == "server" {
		cats = append(cats, "slow")
	} else {
		cats = append(cats, "fast")
	}
	return cats
}

// newACLCatalog numbers the commands (sorted by name) for the users'
// bitsets, storing each id in its row, and returns the catalog.
func newACLCatalog(cmds map[string]*command) (*acl.Catalog, error) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	list := make([]acl.Command, len(names))
	for i, n := range names {
		cmds[n].aclID = i
		cmds[n].keyAccess = keyAccess(cmds[n])
		list[i] = acl.Command{Name: n, Categories: aclCategories(cmds[n]), Subs: cmds[n].subs}
	}
	cat, err := acl.NewCatalog(list)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		cmd := cmds[n]
		if len(cmd.subs) == 0 {
			continue
		}
		cmd.subACL = make(map[string]int, len(cmd.subs))
		for _, sub := range cmd.subs {
			cmd.subACL[sub], _ = cat.ID(n + "|" + sub)
		}
	}
	return cat, nil
}

// aclIDFor is the catalog id args run as: the subcommand's for a known
// subcommand, the command's otherwise (no subcommands, or one the handler
// will refuse as unknown).
func (cmd *command) aclIDFor(args [][]byte) int {
	if cmd.subACL == nil || len(args) < 2 || len(args[1]) > 32 {
		return cmd.aclID
	}
	var buf [32]byte
	for i, ch := range args[1] {
		if 'A' <= ch && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		buf[i] = ch
	}
	if id, ok := cmd.subACL[string(buf[:len(args[1])])]; ok {
		return id
	}
	return cmd.aclID
}

// keyAccessAsRedis are the commands whose keys Redis 7.0.15 does not
// guard as "a reading command reads, a writing one reads and writes"
// (recorded with ACL DRYRUN for %R~* and %W~* users): writes that return
// nothing of the key's value need write access only; commands that tell
// only whether a key exists or how big it is need a matching pattern of
// any access.
var keyAccessAsRedis = map[string]acl.Access{
	"set": acl.Write, "setex": acl.Write, "psetex": acl.Write, "setnx": acl.Write,
	"mset": acl.Write, "msetnx": acl.Write, "del": acl.Write, "unlink": acl.Write,
	"expire": acl.Write, "expireat": acl.Write, "pexpire": acl.Write, "pexpireat": acl.Write,
	"persist": acl.Write, "zadd": acl.Write, "zrem": acl.Write,
	"zremrangebylex": acl.Write, "zremrangebyrank": acl.Write, "zremrangebyscore": acl.Write,
	"exists": 0, "touch": 0, "strlen": 0, "type": 0, "zcard": 0,
}

// keyAccess is what a command needs of its keys: reading commands need
// read access; writing commands need read and write access, since they
// (every limiter, INCR, GETDEL) also read what they replace, except
// those in keyAccessAsRedis. EVAL and EVALSHA may write their keys, so
// they need both; EVAL_RO and EVALSHA_RO need read access, as in Redis.
func keyAccess(cmd *command) acl.Access {
	if a, ok := keyAccessAsRedis[cmd.name]; ok {
		return a
	}
	if cmd.flags&flagWrite != 0 || cmd.flags&flagScript != 0 && !strings.HasSuffix(cmd.name, "_ro") {
		return acl.Read | acl.Write
	}
	return acl.Read
}

// keyNeed is what args need of their keys: cmd's keyAccess, and read
// access too for SET ... GET, which returns the old value (Redis's
// variable key flags).
func keyNeed(cmd *command, args [][]byte) acl.Access {
	need := cmd.keyAccess
	if cmd.name == "set" {
		for _, a := range args[3:] {
			if eqFold(a, "get") {
				need |= acl.Read
			}
		}
	}
	return need
}

// aclDenied checks u's permission for a command: one bit test, and a
// pattern match per key only for users restricted to some keys. Commands
// allowed before authentication (AUTH, HELLO, QUIT) are allowed to every
// user, as in Redis. It returns the NOPERM error line, or "" when
// allowed; denied is the argument index of the key at fault (0 for the
// command itself).
func aclDenied(u *acl.User, cmd *command, args [][]byte) (msg string, denied int) {
	if !u.CanRun(cmd.aclIDFor(args)) && cmd.flags&flagNoAuth == 0 {
		return errNoPermCmd(cmd, args), 0
	}
	if u.AllKeys() {
		return "", 0
	}
	need := keyNeed(cmd, args)
	first, last, step := cmd.keyRange(args)
	for i := first; first > 0 && i <= last; i += step {
		if !u.CanAccessKey(args[i], need) {
			return errNoPermKey, i
		}
	}
	return "", 0
}

var aclHelp = []string{
	"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"CAT [<category>]",
	"    List all commands that belong to <category>, or all command categories",
	"    when no category is specified.",
	"DELUSER <username> [<username> ...]",
	"    Delete a list of users.",
	"DRYRUN <username> <command> [<arg> ...]",
	"    Returns whether the user can execute the given command without executing the command.",
	"GETUSER <username>",
	"    Get the user's details.",
	"GENPASS [<bits>]",
	"    Generate a secure 256-bit user password. The optional `bits` argument can",
	"    be used to specify a different size.",
	"LIST",
	"    Show users details in config file format.",
	"LOAD",
	"    Reload users from the ACL file.",
	"LOG [<count> | RESET]",
	"    Show the ACL log entries.",
	"SAVE",
	"    Save the current config to the ACL file.",
	"SETUSER <username> <attribute> [<attribute> ...]",
	"    Create or modify a user with the specified attributes.",
	"USERS",
	"    List all the registered usernames.",
	"WHOAMI",
	"    Return the current connection username.",
	"HELP",
	"    Prints this help.",
}

// aclSubArity is each subcommand's arity, as for commands (negative: at
// least), including "acl" and the subcommand.
var aclSubArity = map[string]int{
	"cat": -2, "deluser": -3, "dryrun": -4, "getuser": 3, "genpass": -2, "list": 2,
	"load": 2, "save": 2, "setuser": -3, "users": 2, "whoami": 2, "help": 2, "log": -2,
}

func cmdACL(s *Server, c *Client, args [][]byte, now int64) {
	sub := strings.ToLower(string(args[1]))
	arity, known := aclSubArity[sub]
	if !known {
		c.out = appendError(c.out, unknownSubcommand(args[1], "ACL"))
		return
	}
	if (arity > 0 && len(args) != arity) || (arity < 0 && len(args) < -arity) {
		c.out = appendError(c.out, "ERR wrong number of arguments for 'acl|"+sub+"' command")
		return
	}
	reg := s.acl
	switch sub {
	case "whoami":
		c.out = redcon.AppendBulkString(c.out, c.user.Load().Name())
	case "users":
		names := reg.Names()
		c.out = redcon.AppendArray(c.out, len(names))
		for _, n := range names {
			c.out = redcon.AppendBulkString(c.out, n)
		}
	case "list":
		lines := reg.List()
		c.out = redcon.AppendArray(c.out, len(lines))
		for _, l := range lines {
			c.out = redcon.AppendBulkString(c.out, l)
		}
	case "cat":
		if len(args) > 3 {
			c.out = appendError(c.out, "ERR unknown subcommand or wrong number of arguments for 'cat'. Try ACL HELP.")
			return
		}
		var list []string
		if len(args) == 2 {
			list = reg.Catalog().Categories()
		} else {
			var ok bool
			if list, ok = reg.Catalog().CategoryCommands(string(args[2])); !ok {
				c.out = appendError(c.out, "ERR Unknown category '"+truncate(args[2], 128)+"'")
				return
			}
		}
		c.out = redcon.AppendArray(c.out, len(list))
		for _, n := range list {
			c.out = redcon.AppendBulkString(c.out, n)
		}
	case "getuser":
		h := reg.Lookup(string(args[2]))
		if h == nil {
			c.out = appendNull(c.out, c.resp)
			return
		}
		u := h.User()
		c.out = appendMap(c.out, c.resp, 6)
		c.out = redcon.AppendBulkString(c.out, "flags")
		flags := u.Flags()
		c.out = appendSet(c.out, c.resp, len(flags))
		for _, f := range flags {
			c.out = redcon.AppendBulkString(c.out, f)
		}
		c.out = redcon.AppendBulkString(c.out, "passwords")
		hashes := u.PasswordHashes()
		c.out = redcon.AppendArray(c.out, len(hashes))
		for _, h := range hashes {
			c.out = redcon.AppendBulkString(c.out, h)
		}
		c.out = redcon.AppendBulkString(c.out, "commands")
		c.out = redcon.AppendBulkString(c.out, u.CommandRules())
		c.out = redcon.AppendBulkString(c.out, "keys")
		c.out = redcon.AppendBulkString(c.out, u.KeyRules())
		c.out = redcon.AppendBulkString(c.out, "channels")
		c.out = redcon.AppendBulkString(c.out, u.ChannelRules())
		c.out = redcon.AppendBulkString(c.out, "selectors")
		c.out = redcon.AppendArray(c.out, 0)
	case "setuser":
		rules := make([]string, len(args)-3)
		for i, a := range args[3:] {
			rules[i] = string(a)
		}
		if err := reg.SetUser(string(args[2]), rules); err != nil {
			c.out = appendError(c.out, "ERR "+err.Error())
			return
		}
		c.out = redcon.AppendOK(c.out)
	case "deluser":
		names := make([]string, len(args)-2)
		for i, a := range args[2:] {
			names[i] = string(a)
		}
		removed, err := reg.DelUser(names...)
		if err != nil {
			c.out = appendError(c.out, "ERR "+err.Error())
			return
		}
		s.disconnectUsers(c, removed)
		c.out = redcon.AppendInt(c.out, int64(len(removed)))
	case "dryrun":
		s.aclDryRun(c, args)
	case "log":
		if len(args) > 3 {
			c.out = appendError(c.out, "ERR unknown subcommand or wrong number of arguments for '"+truncate(args[1], 128)+"'. Try ACL HELP.")
			return
		}
		s.aclLogReply(c, args)
	case "genpass":
		bits := int64(256)
		if len(args) > 2 {
			n, ok := parseRedisInt(args[2])
			if !ok || n <= 0 || n > 4096 || len(args) > 3 {
				c.out = appendError(c.out, errGenpassBits)
				return
			}
			bits = n
		}
		buf := make([]byte, (bits+7)/8)
		rand.Read(buf)
		c.out = redcon.AppendBulkString(c.out, hex.EncodeToString(buf)[:(bits+3)/4])
	case "load":
		if s.cfg.ACLFile == "" {
			c.out = appendError(c.out, errNoACLFile)
			return
		}
		// A file without a default user leaves the default user as it is
		// (Redis would reset it to nopass: a reload must never open the
		// server).
		users, err := loadACLFile(s.acl.Catalog(), s.cfg.ACLFile, s.acl.Default().User())
		if err == nil {
			var removed []*acl.Handle
			if removed, err = reg.Replace(users); err == nil {
				s.disconnectUsers(c, removed)
			}
		}
		if err != nil {
			c.out = appendError(c.out, "ERR "+err.Error())
			return
		}
		c.out = redcon.AppendOK(c.out)
	case "save":
		if s.cfg.ACLFile == "" {
			c.out = appendError(c.out, errNoACLFile)
			return
		}
		if err := writeFileAtomic(s.cfg.ACLFile, acl.FormatFile(reg.List())); err != nil {
			s.log.Warn("ACL SAVE failed", "file", s.cfg.ACLFile, "error", err)
			c.out = appendError(c.out, "ERR There was an error trying to save the ACLs. Please check the server logs for more information")
			return
		}
		c.out = redcon.AppendOK(c.out)
	case "help":
		c.out = redcon.AppendArray(c.out, len(aclHelp))
		for _, l := range aclHelp {
			c.out = redcon.AppendString(c.out, l)
		}
	}
}

// aclDryRun is ACL DRYRUN user command [arg ...]: whether the user could
// run it, in Redis's words, without running it.
func (s *Server) aclDryRun(c *Client, args [][]byte) {
	h := s.acl.Lookup(string(args[2]))
	if h == nil {
		c.out = appendError(c.out, "ERR User '"+truncate(args[2], 128)+"' not found")
		return
	}
	cmd := s.lookup(args[3])
	if cmd == nil {
		c.out = appendError(c.out, "ERR Command '"+truncate(args[3], 128)+"' not found")
		return
	}
	rest := args[3:]
	if (cmd.arity > 0 && len(rest) != cmd.arity) || (cmd.arity < 0 && len(rest) < -cmd.arity) {
		c.out = appendError(c.out, "ERR wrong number of arguments for '"+cmd.name+"' command")
		return
	}
	msg, at := aclDenied(h.User(), cmd, rest)
	switch {
	case msg == "":
		c.out = redcon.AppendOK(c.out)
	case at > 0:
		c.out = redcon.AppendBulkString(c.out, "This user has no permissions to access the '"+string(rest[at])+"' key")
	default:
		c.out = redcon.AppendBulkString(c.out, "This user has no permissions to run the '"+strings.TrimPrefix(msg, "NOPERM this user has no permissions to run the '"))
	}
}

// disconnectUsers closes the connections authenticated as removed users,
// as Redis does when a user is deleted; the calling client gets its reply
// first.
func (s *Server) disconnectUsers(self *Client, removed []*acl.Handle) {
	if len(removed) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cl := range s.clients {
		if h := cl.user.Load(); h != nil && h.Removed() {
			if cl == self {
				self.quit = true
				continue
			}
			cl.conn.close()
		}
	}
}

// loadACLFile reads an ACL file and builds its users; def is the default
// user unless the file defines one.
func loadACLFile(cat *acl.Catalog, path string, def *acl.User) ([]*acl.User, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Every problem is reported at once: the lines that parse are built
	// even when others do not.
	defs, perr := acl.ParseFile(data, path)
	users, cerr := acl.Configure(cat, def, defs)
	if err := errors.Join(perr, cerr); err != nil {
		return nil, err
	}
	return users, nil
}

// configureUsers builds the starting users from --requirepass, --user and
// --aclfile (Validate makes the last two exclusive, as Redis does).
func configureUsers(cat *acl.Catalog, cfg Config) ([]*acl.User, error) {
	def := acl.StartingDefault(cat, cfg.RequirePass)
	if cfg.ACLFile != "" {
		return loadACLFile(cat, cfg.ACLFile, def)
	}
	defs := make([]acl.Definition, 0, len(cfg.Users))
	for i, spec := range cfg.Users {
		d, err := acl.ParseUserFlag(spec, "--user #"+strconv.Itoa(i+1))
		if err != nil {
			return nil, err
		}
		defs = append(defs, d)
	}
	return acl.Configure(cat, def, defs)
}

// writeFileAtomic replaces path with data: a temp file in the same
// directory, fsynced, renamed over path, directory fsynced.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this fails harmlessly
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	defer d.Close()
	return d.Sync()
}
