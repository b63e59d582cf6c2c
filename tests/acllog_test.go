package tests

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// aclLogEvents produces ACL LOG entries of every kind rlserver records:
// failed AUTH and HELLO AUTH (under the command's name as sent), command
// and key denials at top level, in MULTI (when queued and at EXEC) and
// inside a script, grouped repeats, and subcommand denials.
const aclLogEvents = `
admin: AUTH pw
admin: ACL SETUSER lim on >p ~rl:* +get +multi +exec +eval +config|get
a: AUTH lim wrong
a: auth nosuch x
a: HELLO 3 AUTH lim bad
a: AUTH lim p
a: GET x
a: GET x
a: SET rl:a 1
a: CONFIG SET timeout 0
a: MULTI
a: GET y
a: EXEC
a: EVAL "return redis.call('get','z')" 0
b: AUTH lim p
b: MULTI
b: GET rl:q
admin: ACL SETUSER lim -get
b: EXEC
a: GET x
`

// TestACLLogLikeRedis produces the same denials on rlserver and Redis
// 7.0.15 and compares ACL LOG entry by entry: count, reason, context,
// object and user exactly, age-seconds as a number under a minute, and
// from client-info the command and user it names. Then the LOG
// subcommand's arguments, RESET and acllog-max-len.
func TestACLLogLikeRedis(t *testing.T) {
	t.Parallel()
	ref := startRedisWith(t, "--requirepass", "pw")
	srv := startServer(t, "--requirepass", "pw")
	replaySessions(t, aclLogEvents, srv.Addr, ref)

	addrs := []string{srv.Addr, ref}
	admins := make([]*rawConn, 2)
	for i, addr := range addrs {
		admins[i] = newRaw(dial(t, addr))
		if got, err := admins[i].do("AUTH", "pw"); err != nil || got != status("OK") {
			t.Fatal(got, err)
		}
	}
	both := func(args ...string) [2]string {
		var out [2]string
		for i, rc := range admins {
			got, err := rc.do(args...)
			if err != nil {
				t.Fatalf("%q: %v", args, err)
			}
			out[i] = normalizeACLLog(t, got)
		}
		if out[0] != out[1] {
			t.Errorf("%q:\n  rlserver: %s\n  redis:    %s", args, out[0], out[1])
		}
		return out
	}
	full := both("ACL", "LOG")
	for _, want := range []string{
		"count=1 reason=auth context=toplevel object=AUTH username=lim",
		"object=auth username=nosuch", "object=HELLO username=lim",
		"count=2 reason=key context=toplevel object=x username=lim client=[cmd=get user=lim]",
		"reason=command context=toplevel object=set", "object=config|set",
		"reason=key context=multi object=y", "reason=key context=lua object=z",
		"reason=command context=multi object=get",
	} {
		if !strings.Contains(full[0], want) {
			t.Errorf("ACL LOG lacks %q:\n%s", want, full[0])
		}
	}
	both("ACL", "LOG", "2")
	both("ACL", "LOG", "0")
	both("ACL", "LOG", "-1")
	both("ACL", "LOG", "x")
	both("ACL", "LOG", "1", "2")
	both("ACL", "log", "reset")
	both("ACL", "LOG")
	both("CONFIG", "GET", "acllog-max-len")
	both("CONFIG", "SET", "acllog-max-len", "2")
	for _, addr := range addrs {
		c := newRaw(dial(t, addr))
		for _, u := range []string{"u1", "u2", "u3"} {
			c.do("AUTH", u, "x")
		}
	}
	both("ACL", "LOG")

	// RESP3: a map per entry, age-seconds a double.
	c := dial(t, srv.Addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write(append(encode("HELLO", "3", "AUTH", "default", "pw"), encode("ACL", "LOG", "1")...))
	r := bufio.NewReader(c)
	if _, err := rawReply(r); err != nil {
		t.Fatal(err)
	}
	reply, err := rawReply(r)
	if err != nil || !regexp.MustCompile(`(?s)^\*1\r\n%7\r\n\$5\r\ncount\r\n:1\r\n.*\$11\r\nage-seconds\r\n,[0-9.e-]+\r\n\$11\r\nclient-info\r\n`).Match(reply) {
		t.Fatalf("RESP3 ACL LOG 1: %q %v", reply, err)
	}
}

var clientInfoFields = regexp.MustCompile(` (cmd|user)=(\S*)`)

// normalizeACLLog prints an ACL LOG reply with the fields that differ
// between servers by nature (age, client id and addresses) reduced to
// what must match.
func normalizeACLLog(t *testing.T, v any) string {
	t.Helper()
	entries, ok := v.([]any)
	if !ok {
		return fmt.Sprintf("%#v", v)
	}
	var b strings.Builder
	for _, e := range entries {
		kv, ok := e.([]any)
		if !ok || len(kv) != 14 {
			return fmt.Sprintf("%#v", v)
		}
		b.WriteString("{")
		for i := 0; i < len(kv); i += 2 {
			k := string(kv[i].(bulk))
			switch k {
			case "count":
				fmt.Fprintf(&b, "count=%v ", kv[i+1])
			case "age-seconds":
				age, err := strconv.ParseFloat(string(kv[i+1].(bulk)), 64)
				if err != nil || age < 0 || age > 60 {
					t.Errorf("age-seconds %v", kv[i+1])
				}
			case "client-info":
				b.WriteString("client=[")
				for j, m := range clientInfoFields.FindAllStringSubmatch(string(kv[i+1].(bulk)), -1) {
					if j > 0 {
						b.WriteString(" ")
					}
					b.WriteString(m[1] + "=" + m[2])
				}
				b.WriteString("]")
			default:
				fmt.Fprintf(&b, "%s=%s ", k, kv[i+1])
			}
		}
		b.WriteString("} ")
	}
	return fmt.Sprintf("%d entries: %s", len(entries), b.String())
}
