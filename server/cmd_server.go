package server

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/redcon"
)

func cmdTime(s *Server, c *Client, args [][]byte, now int64) {
	var buf [20]byte
	c.out = redcon.AppendArray(c.out, 2)
	c.out = redcon.AppendBulk(c.out, strconv.AppendInt(buf[:0], now/1e9, 10))
	c.out = redcon.AppendBulk(c.out, strconv.AppendInt(buf[:0], now%1e9/1e3, 10))
}

func cmdNoCluster(s *Server, c *Client, args [][]byte, now int64) {
	c.out = appendError(c.out, errNoCluster)
}

// cmdShutdown is SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], as Redis 7
// answers it. Unless NOSAVE (or without a data dir), a snapshot is written
// first, while serving goes on; if it fails the reply is Redis's
// "ERR Errors trying to SHUTDOWN. Check logs." and the server keeps
// running, unless FORCE asks to exit anyway. Once it succeeded the server
// stops accepting, closes connections and writes the final snapshot (so no
// write acknowledged before the stop is lost). NOW is accepted and changes
// nothing (there are no replicas to wait for); ABORT answers that no
// shutdown is in progress, since a shutdown here never waits.
func cmdShutdown(s *Server, c *Client, args [][]byte, now int64) {
	save := s.saver != nil
	force := false
	for _, a := range args[1:] {
		switch {
		case eqFold(a, "nosave"):
			save = false
		case eqFold(a, "save"):
			if s.saver == nil {
				c.out = appendError(c.out, errShutdown)
				s.log.Warn("SHUTDOWN SAVE refused: persistence is disabled (no --data-dir)")
				return
			}
			save = true
		case eqFold(a, "force"):
			force = true
		case eqFold(a, "now"):
		case eqFold(a, "abort"):
			if len(args) > 2 {
				c.out = appendError(c.out, errSyntax)
				return
			}
			c.out = appendError(c.out, "ERR No shutdown in progress.")
			return
		default:
			c.out = appendError(c.out, errSyntax)
			return
		}
	}
	if save {
		if _, err := s.saver.Save(); err != nil {
			if !force {
				s.log.Error("errors trying to SHUTDOWN: the snapshot before exiting failed; still serving", "client", c.addr, "error", err)
				c.out = appendError(c.out, errShutdown)
				return
			}
			s.log.Error("the snapshot before exiting failed; exiting anyway (SHUTDOWN FORCE)", "error", err)
		}
	}
	s.log.Info("shutdown requested by client", "client", c.addr, "save", save, "force", force)
	s.saveOnExit.Store(save)
	s.forceExit.Store(force)
	s.requestShutdown()
	c.quit = true
}

const errShutdown = "ERR Errors trying to SHUTDOWN. Check logs."

func (s *Server) requestShutdown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.shutdown:
	default:
		close(s.shutdown)
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// configValues are the settings CONFIG GET answers, as clients probe them.
// Passwords are not settings here (requirepass is the default user's
// password; only its hash is kept): CONFIG GET never shows them.
func (s *Server) configValues() [][2]string {
	return [][2]string{
		{"bind", s.cfg.Bind},
		{"port", strconv.Itoa(s.cfg.Port)},
		{"maxclients", strconv.Itoa(s.cfg.MaxClients)},
		{"maxmemory", strconv.FormatInt(s.cfg.MaxMemory, 10)},
		{"maxmemory-policy", s.cfg.MaxMemoryPolicy},
		{"databases", "1"},
		{"save", ""},
		{"appendonly", "no"},
		{"timeout", strconv.FormatInt(s.idleTimeout.Load()/1e9, 10)},
		{"tcp-keepalive", strconv.FormatInt(s.cfg.TCPKeepAlive/1e9, 10)},
		{"protected-mode", yesNo(s.cfg.ProtectedMode)},
		{"client-output-buffer-limit", s.olim.Load().String()},
		{"aclfile", s.cfg.ACLFile},
		{"tls-port", strconv.Itoa(s.cfg.TLSPort)},
		{"tls-cert-file", s.cfg.TLS.CertFile},
		{"tls-key-file", s.cfg.TLS.KeyFile},
		{"tls-ca-cert-file", s.cfg.TLS.CAFile},
		{"tls-auth-clients", s.cfg.TLS.ClientAuth.String()},
		{"proto-max-bulk-len", strconv.Itoa(s.cfg.MaxBulkBytes)},
		{"client-query-buffer-limit", strconv.Itoa(s.cfg.MaxQueryBytes)},
		{"tracking-table-max-keys", strconv.Itoa(s.cfg.MaxTrackedKeys)},
		{"cluster-enabled", yesNo(s.cl != nil)},
		{"slowlog-log-slower-than", strconv.FormatInt(s.slowlog.thresholdUs(), 10)},
		{"slowlog-max-len", strconv.FormatInt(s.slowlog.maxLen.Load(), 10)},
		{"acllog-max-len", strconv.FormatInt(s.acllog.maxLen.Load(), 10)},
		{"latency-monitor-threshold", strconv.FormatInt(s.latency.thresholdMs(), 10)},
		{"latency-tracking", "yes"},
	}
}

// configSet applies CONFIG SET for the settings that can change at run
// time (the observability ones, timeout, client-output-buffer-limit); it
// returns Redis's error otherwise. With check set it only validates.
func (s *Server) configSet(name string, value []byte, check bool) string {
	v, ok := parseRedisInt(value)
	switch name {
	case "timeout":
		if !ok {
			return "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"
		}
		if v < 0 || v > math.MaxInt32 {
			return "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive"
		}
		if !check {
			s.idleTimeout.Store(v * 1e9)
		}
		return ""
	case "client-output-buffer-limit":
		lims, err := s.olim.Load().withRedisSpec(string(value))
		if err != "" {
			return "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - " + err
		}
		if !check {
			s.olim.Store(&lims)
		}
		return ""
	}
	if check {
		switch name {
		case "slowlog-log-slower-than", "slowlog-max-len", "latency-monitor-threshold", "acllog-max-len":
			if !ok {
				return "ERR CONFIG SET failed (possibly related to argument '" + name + "') - argument couldn't be parsed into an integer"
			}
			least := int64(0)
			if name == "slowlog-log-slower-than" {
				least = -1 // off
			}
			if v < least {
				return "ERR CONFIG SET failed (possibly related to argument '" + name + "') - argument must be between " + strconv.FormatInt(least, 10) + " and 9223372036854775807 inclusive"
			}
			return ""
		}
		return "ERR CONFIG SET " + name + " is not supported: restart rlserver with the new flags"
	}
	switch name {
	case "slowlog-log-slower-than":
		if ok {
			s.slowlog.setThreshold(v)
			return ""
		}
	case "slowlog-max-len":
		if ok && v >= 0 {
			s.slowlog.maxLen.Store(v)
			return ""
		}
	case "latency-monitor-threshold":
		if ok && v >= 0 {
			s.latency.setThreshold(v)
			return ""
		}
	case "acllog-max-len":
		if ok && v >= 0 {
			s.acllog.setMaxLen(v)
			return ""
		}
	default:
		return "ERR CONFIG SET " + name + " is not supported: restart rlserver with the new flags"
	}
	return "ERR CONFIG SET failed (possibly related to argument '" + name + "') - argument couldn't be parsed into an integer"
}

func cmdConfig(s *Server, c *Client, args [][]byte, now int64) {
	sub := args[1]
	switch {
	case eqFold(sub, "get"):
		if len(args) < 3 {
			c.out = appendError(c.out, "ERR wrong number of arguments for 'config|get' command")
			return
		}
		var found [][2]string
		for _, kv := range s.configValues() {
			for _, p := range args[2:] {
				if globMatch([]byte(strings.ToLower(string(p))), []byte(kv[0])) {
					found = append(found, kv)
					break
				}
			}
		}
		c.out = appendMap(c.out, c.resp, len(found))
		for _, kv := range found {
			c.out = redcon.AppendBulkString(c.out, kv[0])
			c.out = redcon.AppendBulkString(c.out, kv[1])
		}
	case eqFold(sub, "resetstat"):
		if len(args) != 2 {
			c.out = appendError(c.out, "ERR wrong number of arguments for 'config|resetstat' command")
			return
		}
		s.resetStats()
		s.slowlog.mu.Lock()
		s.slowlog.entries = nil
		s.slowlog.mu.Unlock()
		c.out = redcon.AppendOK(c.out)
	case eqFold(sub, "set"):
		if len(args) < 4 || len(args)%2 != 0 {
			c.out = appendError(c.out, "ERR wrong number of arguments for 'config|set' command")
			return
		}
		// As Redis: names first (an unknown one, then one given twice),
		// then every value, before applying any (all or nothing).
		known := map[string]bool{}
		for _, kv := range s.configValues() {
			known[kv[0]] = true
		}
		for i := 2; i < len(args); i += 2 {
			if !known[strings.ToLower(string(args[i]))] {
				c.out = appendError(c.out, "ERR Unknown option or number of arguments for CONFIG SET - '"+string(args[i])+"'")
				return
			}
		}
		for i := 2; i < len(args); i += 2 {
			for j := 2; j < i; j += 2 {
				if eqFold(args[i], strings.ToLower(string(args[j]))) {
					c.out = appendError(c.out, "ERR CONFIG SET failed (possibly related to argument '"+string(args[i])+"') - duplicate parameter")
					return
				}
			}
		}
		for i := 2; i < len(args); i += 2 {
			if msg := s.configSet(strings.ToLower(string(args[i])), args[i+1], true); msg != "" {
				c.out = appendError(c.out, msg)
				return
			}
		}
		for i := 2; i < len(args); i += 2 {
			s.configSet(strings.ToLower(string(args[i])), args[i+1], false)
		}
		c.out = redcon.AppendOK(c.out)
	default:
		c.out = appendError(c.out, unknownSubcommand(sub, "CONFIG"))
	}
}

// cmdCommand is COMMAND [COUNT|INFO|DOCS|LIST], answered from the table.
func cmdCommand(s *Server, c *Client, args [][]byte, now int64) {
	names := make([]string, 0, len(s.cmds))
	for n, cmd := range s.cmds {
		if cmd.group != "internal" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	pick := func(from [][]byte) []string {
		if len(from) == 0 {
			return names
		}
		var out []string
		for _, a := range from {
			out = append(out, strings.ToLower(string(a)))
		}
		return out
	}
	if len(args) == 1 {
		s.appendCommandInfo(c, names)
		return
	}
	sub := args[1]
	switch {
	case eqFold(sub, "count") && len(args) == 2:
		c.out = redcon.AppendInt(c.out, int64(len(names)))
	case eqFold(sub, "list"):
		c.out = redcon.AppendArray(c.out, len(names))
		for _, n := range names {
			c.out = redcon.AppendBulkString(c.out, n)
		}
	case eqFold(sub, "info"):
		s.appendCommandInfo(c, pick(args[2:]))
	case eqFold(sub, "docs"):
		var found []*command
		for _, n := range pick(args[2:]) {
			if cmd := s.cmds[n]; cmd != nil && s.visible(c, cmd) {
				found = append(found, cmd)
			}
		}
		c.out = appendMap(c.out, c.resp, len(found))
		for _, cmd := range found {
			c.out = redcon.AppendBulkString(c.out, cmd.name)
			c.out = appendMap(c.out, c.resp, 3)
			c.out = redcon.AppendBulkString(c.out, "summary")
			c.out = redcon.AppendBulkString(c.out, cmd.summary)
			c.out = redcon.AppendBulkString(c.out, "since")
			c.out = redcon.AppendBulkString(c.out, "1.0.0")
			c.out = redcon.AppendBulkString(c.out, "group")
			c.out = redcon.AppendBulkString(c.out, cmd.group)
		}
	default:
		c.out = appendError(c.out, unknownSubcommand(sub, "COMMAND"))
	}
}

func (s *Server) appendCommandInfo(c *Client, names []string) {
	c.out = redcon.AppendArray(c.out, len(names))
	for _, n := range names {
		cmd := s.cmds[n]
		if cmd == nil || !s.visible(c, cmd) {
			c.out = appendNullArray(c.out, c.resp)
			continue
		}
		var flags []string
		if cmd.flags&flagWrite != 0 {
			flags = append(flags, "write")
		}
		if cmd.flags&flagReadOnly != 0 {
			flags = append(flags, "readonly")
		}
		if cmd.flags&flagNoAuth != 0 {
			flags = append(flags, "no_auth")
		}
		if cmd.flags&flagAdmin != 0 {
			flags = append(flags, "admin")
		}
		if cmd.flags&flagDenyOOM != 0 {
			flags = append(flags, "denyoom")
		}
		if cmd.flags&flagNoMulti != 0 {
			flags = append(flags, "no_multi")
		}
		c.out = redcon.AppendArray(c.out, 10)
		c.out = redcon.AppendBulkString(c.out, cmd.name)
		c.out = redcon.AppendInt(c.out, int64(cmd.arity))
		c.out = appendSet(c.out, c.resp, len(flags))
		for _, f := range flags {
			c.out = redcon.AppendString(c.out, f)
		}
		c.out = redcon.AppendInt(c.out, int64(cmd.firstKey))
		c.out = redcon.AppendInt(c.out, int64(cmd.lastKey))
		c.out = redcon.AppendInt(c.out, int64(cmd.step))
		c.out = appendSet(c.out, c.resp, 0)
		c.out = redcon.AppendArray(c.out, 0)
		c.out = redcon.AppendArray(c.out, 0)
		c.out = redcon.AppendArray(c.out, 0)
	}
}
