package server

import (
	"bytes"
	"net"
	"strconv"
	"testing"
)

func FuzzParseInt64(f *testing.F) {
	for _, s := range []string{"0", "+5", "-0", "007", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "", "-", "1_0", " 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseInt64([]byte(s))
		want, err := strconv.ParseInt(s, 10, 64)
		if ok != (err == nil) || (ok && got != want) {
			t.Fatalf("parseInt64(%q) = %d, %v; strconv says %d, %v", s, got, ok, want, err)
		}
		if v, ok := parseRedisInt([]byte(s)); ok && strconv.FormatInt(v, 10) != s {
			t.Fatalf("parseRedisInt(%q) accepted a non-canonical form", s)
		}
	})
}

func FuzzGlob(f *testing.F) {
	f.Add("h?llo*[a-z]\\*", "hello")
	f.Add("*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("[^", "x")
	f.Fuzz(func(t *testing.T, p, s string) {
		globMatch([]byte(p), []byte(s))
		if !globMatch([]byte("*"), []byte(s)) {
			t.Fatal("* must match everything")
		}
	})
}

// testServer returns a server and an authenticated client whose
// connection discards pushes; commands run through execute directly.
func testServer(t testing.TB) (*Server, *Client) {
	cfg := DefaultConfig()
	cfg.Shards = 4
	cfg.DataDir = "" // no snapshots from unit tests
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	return s, s.newClient(&netConn{nc: a}, "pipe", "pipe", -1)
}

// FuzzCommands runs arbitrary argument lists through the dispatcher: no
// input may panic (the guard would hide it, so the test checks the
// counter) and every reply must be well-formed RESP.
func FuzzCommands(f *testing.F) {
	seeds := [][]string{
		{"CL.THROTTLE", "k", "5", "1", "60", "1"}, {"CL.THROTTLE", "k", "-9223372036854775808", "1", "-1", "3"},
		{"SET", "k", "v", "EX", "10", "GET"}, {"SET", "k", "1", "PXAT", "1"}, {"EXPIRE", "k", "9223372036854775807"},
		{"SCAN", "0", "MATCH", "*", "COUNT", "1", "TYPE", "string"}, {"CLIENT", "TRACKING", "ON", "OPTIN"},
		{"HELLO", "3", "AUTH", "default", "x"}, {"COMMAND", "DOCS", "get"}, {"MULTI"}, {"EXEC"}, {"CONFIG", "GET", "*"},
		{"INFO", "all"}, {"GET", "k"}, {"PEXPIREAT", "k", "1", "GT"}, {"KEYS", "[a-"},
		{"SW.THROTTLE", "w", "4294967295", "4611686018", "4294967295"}, {"SWLOG.THROTTLE", "l", "3", "1", "2"},
		{"FW.PEEK", "f", "1", "1"}, {"GCRA", "g", "0", "1", "1e-9", "TOKENS", "9223372036854775807"},
		{"CL.PEEK", "k", "1", "1", "60", "-3"}, {"SAVE"}, {"LASTSAVE"}, {"TYPE", "w"},
		{"ZADD", "z", "GT", "CH", "INCR", "0x1p3", "m"}, {"ZADD", "z", "1", "a", "-inf", "b", "2.5", "c"},
		{"ZRANGE", "z", "(1", "+inf", "BYSCORE", "REV", "LIMIT", "0", "-1", "WITHSCORES"},
		{"ZRANGEBYLEX", "z", "[a", "(c"}, {"ZREMRANGEBYRANK", "z", "-2", "-1"}, {"ZPOPMIN", "z", "3"},
		{"ZMSCORE", "z", "a", "x"}, {"INCRBYFLOAT", "f", "1e4932"}, {"INCRBY", "i", "-9223372036854775808"},
		{"GETEX", "k", "PXAT", "1"}, {"MSET", "a", "1", "b", "2"}, {"MGET", "a", "z", "b"}, {"HELLO", "3"},
		{"RPUSH", "l", "a", "b", "c"}, {"LPOS", "l", "a", "RANK", "-9223372036854775808", "COUNT", "0", "MAXLEN", "2"},
		{"LRANGE", "l", "-9223372036854775808", "9223372036854775807"}, {"LTRIM", "l", "1", "-1"}, {"LSET", "l", "-1", "x"},
		{"LREM", "l", "-2", "a"}, {"LINSERT", "l", "AFTER", "b", "z"}, {"RPOP", "l", "9"}, {"LINDEX", "l", "-4"},
		{"HSET", "h", "f", "1", "g", "x"}, {"HINCRBYFLOAT", "h", "f", "1e4932"}, {"HINCRBY", "h", "f", "-9223372036854775808"},
		{"HGETALL", "h"}, {"HMGET", "h", "f", "q"}, {"HDEL", "h", "f", "g"}, {"HSETNX", "h", "f", "v"},
	}
	for _, s := range seeds {
		f.Add([]byte(bytes.Join(toBytes(s), []byte{0})))
	}
	s, c := testServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		args := bytes.Split(in, []byte{0})
		if len(args) == 0 || len(args) > 16 || eqFold(args[0], "shutdown") || eqFold(args[0], "quit") {
			return
		}
		c.out = c.out[:0]
		s.execute(c, args)
		if s.stats.recoveredPanics.Load() != 0 {
			t.Fatalf("panic on %q", args)
		}
		for rest := c.out; len(rest) > 0; {
			n := respLen(rest)
			if n <= 0 {
				t.Fatalf("malformed reply to %q: %q", args, rest)
			}
			rest = rest[n:]
		}
	})
}

// respLen returns the length of the first complete RESP2/RESP3 value in
// b, or -1 when it is malformed or incomplete.
func respLen(b []byte) int {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 1 {
		return -1
	}
	line := string(b[1:i])
	n := i + 2
	switch b[0] {
	case '+', '-', ':', '_', ',':
		return n
	case '$', '=':
		l, err := strconv.Atoi(line)
		if err == nil && l == -1 {
			return n
		}
		if err != nil || l < 0 || len(b) < n+l+2 {
			return -1
		}
		return n + l + 2
	case '*', '~', '%', '>':
		l, err := strconv.Atoi(line)
		if err != nil || l < -1 {
			return -1
		}
		if b[0] == '%' {
			l *= 2
		}
		for range l {
			m := respLen(b[n:])
			if m < 0 {
				return -1
			}
			n += m
		}
		return n
	}
	return -1
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// FuzzConsume feeds raw bytes, as a connection would read them, through
// parsing, limits and dispatch: no panic, well-formed replies, and no more
// input used than given.
func FuzzConsume(f *testing.F) {
	f.Add([]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"))
	f.Add([]byte("PING\r\nCL.THROTTLE \"a b\" 1 1 60\r\n*1\r\n$4\r\nPI"))
	f.Add([]byte("*2\r\n$4\r\nECHO\r\n$99999999999\r\n"))
	f.Add([]byte("MULTI\r\nSW.THROTTLE w 3 60\r\nEXEC\r\n"))
	s, c := testServer(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		c.out, c.quit, c.multi, c.queued = c.out[:0], false, false, nil
		c.req = reqParser{bulk: -1}
		used, _, _ := s.consume(c, in)
		if s.stats.recoveredPanics.Load() != 0 {
			t.Fatalf("panic on %q", in)
		}
		if used < 0 || used > len(in) {
			t.Fatalf("used %d of %d bytes", used, len(in))
		}
		for out := c.out; len(out) > 0; {
			n := respLen(out)
			if n <= 0 {
				t.Fatalf("malformed reply to %q: %q", in, out)
			}
			out = out[n:]
		}
	})
}
