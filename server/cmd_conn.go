package server

import (
	"strconv"
	"strings"
	"time"

	"github.com/rlserver/rlserver/acl"
	"github.com/tidwall/redcon"
)

func cmdPing(s *Server, c *Client, args [][]byte, now int64) {
	switch len(args) {
	case 1:
		c.out = append(c.out, "+PONG\r\n"...)
	case 2:
		c.out = redcon.AppendBulk(c.out, args[1])
	default:
		c.out = appendError(c.out, "ERR wrong number of arguments for 'ping' command")
	}
}

func cmdEcho(s *Server, c *Client, args [][]byte, now int64) {
	c.out = redcon.AppendBulk(c.out, args[1])
}

func cmdQuit(s *Server, c *Client, args [][]byte, now int64) {
	c.out = redcon.AppendOK(c.out)
	c.quit = true
}

func cmdSelect(s *Server, c *Client, args [][]byte, now int64) {
	n, ok := parseRedisInt(args[1])
	switch {
	case !ok:
		c.out = appendError(c.out, errNotInteger)
	case n != 0:
		c.out = appendError(c.out, "ERR DB index is out of range")
	default:
		c.out = redcon.AppendOK(c.out)
	}
}

// authenticate checks a user name and password against the ACL users
// (in constant time; see acl.Registry.Authenticate) and makes the client
// that user. It appends nothing.
// A failure goes to ACL LOG, under the command's name as sent (cmdName).
func (s *Server) authenticate(c *Client, cmdName, user, pass []byte) bool {
	h, ok := s.acl.Authenticate(user, pass)
	if !ok {
		s.logAuthFailure(c, cmdName, user)
		return false
	}
	c.user.Store(h)
	c.authed = true
	return true
}

// cmdAuth is AUTH [user] password; without a user name it is the default
// user's password, as in Redis.
func cmdAuth(s *Server, c *Client, args [][]byte, now int64) {
	if len(args) > 3 {
		c.out = appendError(c.out, errSyntax)
		return
	}
	user, pass := []byte(acl.DefaultUser), args[1]
	if len(args) == 3 {
		user, pass = args[1], args[2]
	} else if s.acl.Default().User().NoPass() {
		c.out = appendError(c.out, "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
		return
	}
	if !s.authenticate(c, args[0], user, pass) {
		c.out = appendError(c.out, errWrongPass)
		return
	}
	c.out = redcon.AppendOK(c.out)
}

// cmdHello is HELLO [protover [AUTH user pass] [SETNAME name]].
func cmdHello(s *Server, c *Client, args [][]byte, now int64) {
	proto := c.resp
	if len(args) >= 2 {
		n, ok := parseRedisInt(args[1])
		if !ok {
			c.out = appendError(c.out, "ERR Protocol version is not an integer or out of range")
			return
		}
		if n != 2 && n != 3 {
			c.out = appendError(c.out, "NOPROTO unsupported protocol version")
			return
		}
		proto = int(n)
	}
	var name, user, pass []byte
	for i := 2; i < len(args); i++ {
		switch {
		case eqFold(args[i], "auth") && i+2 < len(args):
			user, pass = args[i+1], args[i+2]
			i += 2
		case eqFold(args[i], "setname") && i+1 < len(args):
			name = args[i+1]
			i++
		default:
			c.out = appendError(c.out, "ERR Syntax error in HELLO option '"+truncate(args[i], 128)+"'")
			return
		}
	}
	if user != nil && !s.authenticate(c, args[0], user, pass) {
		c.out = appendError(c.out, errWrongPass)
		return
	}
	if !c.authed {
		c.out = appendError(c.out, "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	// As in Redis, the name is checked once the client is authenticated.
	if name != nil && !validClientName(name) {
		c.out = appendError(c.out, "ERR Client names cannot contain spaces, newlines or special characters.")
		return
	}
	c.infoMu.Lock()
	c.resp = proto
	if name != nil {
		c.name = string(name)
	}
	c.infoMu.Unlock()
	c.out = appendMap(c.out, c.resp, 7)
	c.out = redcon.AppendBulkString(c.out, "server")
	c.out = redcon.AppendBulkString(c.out, "redis")
	c.out = redcon.AppendBulkString(c.out, "version")
	c.out = redcon.AppendBulkString(c.out, Version)
	c.out = redcon.AppendBulkString(c.out, "proto")
	c.out = redcon.AppendInt(c.out, int64(c.resp))
	c.out = redcon.AppendBulkString(c.out, "id")
	c.out = redcon.AppendInt(c.out, c.id)
	c.out = redcon.AppendBulkString(c.out, "mode")
	if s.cl != nil {
		c.out = redcon.AppendBulkString(c.out, "cluster")
	} else {
		c.out = redcon.AppendBulkString(c.out, "standalone")
	}
	c.out = redcon.AppendBulkString(c.out, "role")
	c.out = redcon.AppendBulkString(c.out, "master")
	c.out = redcon.AppendBulkString(c.out, "modules")
	c.out = redcon.AppendArray(c.out, 0)
}

func validClientName(b []byte) bool {
	for _, ch := range b {
		if ch < '!' || ch > '~' {
			return false
		}
	}
	return true
}

func cmdClient(s *Server, c *Client, args [][]byte, now int64) {
	sub := args[1]
	switch {
	case eqFold(sub, "id") && len(args) == 2:
		c.out = redcon.AppendInt(c.out, c.id)
	case eqFold(sub, "setname") && len(args) == 3:
		if !validClientName(args[2]) {
			c.out = appendError(c.out, "ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		c.infoMu.Lock()
		c.name = string(args[2])
		c.infoMu.Unlock()
		c.out = redcon.AppendOK(c.out)
	case eqFold(sub, "getname") && len(args) == 2:
		if c.name == "" {
			c.out = appendNull(c.out, c.resp)
		} else {
			c.out = redcon.AppendBulkString(c.out, c.name)
		}
	case eqFold(sub, "setinfo") && len(args) == 4:
		var field *string
		switch {
		case eqFold(args[2], "lib-name"):
			field = &c.libName
		case eqFold(args[2], "lib-ver"):
			field = &c.libVer
		default:
			c.out = appendError(c.out, "ERR Unrecognized option '"+truncate(args[2], 128)+"'")
			return
		}
		if !validClientName(args[3]) {
			c.out = appendError(c.out, "ERR "+strings.ToLower(string(args[2]))+" cannot contain spaces, newlines or special characters.")
			return
		}
		c.infoMu.Lock()
		*field = string(args[3])
		c.infoMu.Unlock()
		c.out = redcon.AppendOK(c.out)
	case eqFold(sub, "list"):
		c.publish(-1)
		var b strings.Builder
		s.mu.Lock()
		for _, cl := range s.clients {
			cl.describe(&b, now, cl == c)
		}
		s.mu.Unlock()
		c.out = appendVerbatim(c.out, c.resp, []byte(b.String()))
	case eqFold(sub, "info") && len(args) == 2:
		c.publish(-1)
		var b strings.Builder
		c.describe(&b, now, true)
		c.out = appendVerbatim(c.out, c.resp, []byte(b.String()))
	case eqFold(sub, "tracking"):
		s.clientTracking(c, args)
	case eqFold(sub, "caching") && len(args) == 3:
		s.clientCaching(c, args[2])
	case eqFold(sub, "getredir") && len(args) == 2:
		if c.track.on {
			c.out = redcon.AppendInt(c.out, 0)
		} else {
			c.out = redcon.AppendInt(c.out, -1)
		}
	case (eqFold(sub, "no-evict") || eqFold(sub, "no-touch")) && len(args) == 3:
		c.out = redcon.AppendOK(c.out)
	case eqFold(sub, "help"):
		lines := []string{
			"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
			"ID", "SETNAME <name>", "GETNAME", "SETINFO <LIB-NAME|LIB-VER> <value>",
			"LIST", "INFO", "TRACKING (ON|OFF) [OPTIN] [OPTOUT] [NOLOOP]", "CACHING (YES|NO)", "GETREDIR",
		}
		c.out = redcon.AppendArray(c.out, len(lines))
		for _, l := range lines {
			c.out = redcon.AppendString(c.out, l)
		}
	default:
		if isClientSub(sub) {
			c.out = appendError(c.out, "ERR wrong number of arguments for 'client|"+strings.ToLower(string(sub))+"' command")
			return
		}
		c.out = appendError(c.out, unknownSubcommand(sub, "CLIENT"))
	}
}

func isClientSub(sub []byte) bool {
	for _, n := range []string{"id", "setname", "getname", "setinfo", "info", "caching", "getredir", "no-evict", "no-touch"} {
		if eqFold(sub, n) {
			return true
		}
	}
	return false
}

// describe writes the client's CLIENT LIST line, in Redis 7's field order.
// Transaction and tracking flags are the owner's state and are shown only
// for the calling client; buffer sizes are as of c's last batch (the
// caller's own are published first).
func (c *Client) describe(b *strings.Builder, now int64, self bool) {
	age := time.Duration(now-c.created) / time.Second
	idle := time.Duration(now-c.lastCmd.Load()) / time.Second
	flags, multi, multiMem := "N", -1, 0
	if self && c.multi {
		flags, multi, multiMem = "x", len(c.queued), c.queuedSize
	}
	if self && c.track.on {
		flags += "t"
	}
	cmd := "NULL"
	if sub := c.lastSub.Load(); sub != nil {
		cmd = *sub
	} else if last := c.lastName.Load(); last != nil {
		cmd = last.name
	}
	c.infoMu.Lock()
	name, libName, libVer, resp := c.name, c.libName, c.libVer, c.resp
	c.infoMu.Unlock()
	qbuf, qfree, argv, omem := c.mem.qbuf.Load(), c.mem.qbufFree.Load(), c.mem.argvMem.Load(), c.mem.omem.Load()
	events := "r"
	if omem > 0 {
		events = "rw"
	}
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	b.WriteString("id=" + n(c.id) + " addr=" + c.addr + " laddr=" + c.laddr +
		" fd=" + strconv.Itoa(c.fd) + " name=" + name + " age=" + n(int64(age)) +
		" idle=" + n(int64(idle)) + " flags=" + flags +
		" db=0 sub=0 psub=0 ssub=0 multi=" + strconv.Itoa(multi) +
		" qbuf=" + n(qbuf) + " qbuf-free=" + n(qfree) + " argv-mem=" + n(argv) +
		" multi-mem=" + strconv.Itoa(multiMem) + " rbs=" + n(qbuf+qfree) + " rbp=" + n(qbuf+qfree) +
		" obl=0 oll=0 omem=" + n(omem) + " tot-mem=" + n(clientOverhead+qbuf+qfree+argv+int64(multiMem)+omem) +
		" events=" + events + " cmd=" + cmd +
		" user=" + c.user.Load().Name() + " redir=-1 resp=" + strconv.Itoa(resp) + " lib-name=" + libName + " lib-ver=" + libVer + "\n")
}

// clientOverhead approximates what a connection costs beyond its buffers
// (the Client, its parser, and on the goroutine front a goroutine stack).
const clientOverhead = 2 << 10
