package server

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/tidwall/redcon"
)

// ACL LOG, as Redis 7.0 keeps it: the latest ACL denials and failed
// authentications, newest first. An event like one of the ten newest
// entries (same reason, context, object and user, within a minute of it)
// bumps that entry's count and moves it to the front instead of adding
// one, so a client retrying a denied command fills one entry, not the
// log. At most acllog-max-len entries are kept; each holds one key or
// command name and one CLIENT LIST line, so the log's memory is bounded.

// Reasons and contexts, in Redis's words.
const (
	aclReasonCommand = "command"
	aclReasonKey     = "key"
	aclReasonAuth    = "auth"

	aclCtxTop   = "toplevel"
	aclCtxMulti = "multi"
	aclCtxLua   = "lua"
)

const (
	aclLogGroupMs   = 60_000 // events this close are counted together
	aclLogGroupScan = 10     // among this many of the newest entries
)

type aclLogEntry struct {
	count    int64
	reason   string
	context  string
	object   string
	username string
	ms       int64  // Unix ms of the latest event
	client   string // the client's CLIENT LIST line at the latest event
}

type aclLog struct {
	maxLen  atomic.Int64
	mu      sync.Mutex
	entries []*aclLogEntry // guarded by mu; newest first
}

// add records an event at Unix ms now.
func (l *aclLog) add(e *aclLogEntry, now int64) {
	e.count, e.ms = 1, now
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, old := range l.entries[:min(len(l.entries), aclLogGroupScan)] {
		d := old.ms - now
		if old.reason == e.reason && old.context == e.context && old.object == e.object &&
			old.username == e.username && -aclLogGroupMs <= d && d <= aclLogGroupMs {
			old.count++
			old.ms, old.client = now, e.client
			copy(l.entries[1:i+1], l.entries[:i])
			l.entries[0] = old
			return
		}
	}
	l.entries = append(l.entries, nil)
	copy(l.entries[1:], l.entries)
	l.entries[0] = e
	l.trim()
}

// trim drops the oldest entries beyond maxLen; l.mu is held.
func (l *aclLog) trim() {
	if n := int(max(l.maxLen.Load(), 0)); len(l.entries) > n {
		clear(l.entries[n:])
		l.entries = l.entries[:n]
	}
}

func (l *aclLog) setMaxLen(n int64) {
	l.maxLen.Store(n)
	l.mu.Lock()
	l.trim()
	l.mu.Unlock()
}

func (l *aclLog) reset() {
	l.mu.Lock()
	l.entries = nil
	l.mu.Unlock()
}

// aclContext is where c's command runs, for the log: "multi" while it
// queues or executes a transaction.
func aclContext(c *Client) string {
	if c.multi || c.inExec {
		return aclCtxMulti
	}
	return aclCtxTop
}

// logACLDenied records a denied command: the command (its full name, as
// "config|set") or the key at args[at].
func (s *Server) logACLDenied(c *Client, cmd *command, args [][]byte, at int, context string) {
	e := &aclLogEntry{reason: aclReasonCommand, context: context, username: c.user.Load().Name()}
	if at > 0 {
		e.reason, e.object = aclReasonKey, string(args[at])
	} else if sub := cmd.subName(args); sub != nil {
		e.object = *sub
	} else {
		e.object = cmd.name
	}
	s.logACL(c, e)
}

// logAuthFailure records a failed AUTH or HELLO AUTH for user; the object
// is the command's name as the client sent it, as in Redis.
func (s *Server) logAuthFailure(c *Client, name, user []byte) {
	s.logACL(c, &aclLogEntry{reason: aclReasonAuth, context: aclContext(c), object: string(name), username: string(user)})
}

func (s *Server) logACL(c *Client, e *aclLogEntry) {
	now := s.clock.Now()
	var b strings.Builder
	c.describe(&b, now, true)
	e.client = strings.TrimSuffix(b.String(), "\n")
	s.acllog.add(e, now/1e6)
}

// aclLogReply is ACL LOG [count|RESET].
func (s *Server) aclLogReply(c *Client, args [][]byte) {
	l := &s.acllog
	count := int64(10)
	if len(args) == 3 {
		if eqFold(args[2], "reset") {
			l.reset()
			c.out = redcon.AppendOK(c.out)
			return
		}
		n, ok := parseRedisInt(args[2])
		if !ok {
			c.out = appendError(c.out, "ERR value is not an integer or out of range")
			return
		}
		count = max(n, 0)
	}
	now := s.clock.Now() / 1e6
	l.mu.Lock()
	list := l.entries[:min(int64(len(l.entries)), count)]
	c.out = redcon.AppendArray(c.out, len(list))
	for _, e := range list {
		c.out = appendMap(c.out, c.resp, 7)
		c.out = redcon.AppendBulkString(c.out, "count")
		c.out = redcon.AppendInt(c.out, e.count)
		c.out = redcon.AppendBulkString(c.out, "reason")
		c.out = redcon.AppendBulkString(c.out, e.reason)
		c.out = redcon.AppendBulkString(c.out, "context")
		c.out = redcon.AppendBulkString(c.out, e.context)
		c.out = redcon.AppendBulkString(c.out, "object")
		c.out = redcon.AppendBulkString(c.out, e.object)
		c.out = redcon.AppendBulkString(c.out, "username")
		c.out = redcon.AppendBulkString(c.out, e.username)
		c.out = redcon.AppendBulkString(c.out, "age-seconds")
		c.out = appendDouble(c.out, c.resp, float64(now-e.ms)/1000)
		c.out = redcon.AppendBulkString(c.out, "client-info")
		c.out = redcon.AppendBulkString(c.out, e.client)
	}
	l.mu.Unlock()
}
