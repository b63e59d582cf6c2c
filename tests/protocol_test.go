package tests

import (
	"bufio"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hostileCase is raw bytes sent on a fresh connection and the exact bytes
// Redis 7.0.15 answers; closed says the server then closes the connection.
// When it stays open, a PING after it must be answered +PONG (nothing more
// was queued, and the connection is usable).
type hostileCase struct {
	name   string
	in     string
	want   string
	closed bool
	// ours marks a case that depends on rlserver's own limits (Redis's
	// differ), not compared with redis-server.
	ours bool
	// pong overrides the expected reply to the PING after an open case.
	pong string
}

var hostileCases = []hostileCase{
	// Issue 8's crash: negative bulk lengths, before AUTH.
	{name: "bulk -2", in: "*1\r\n$-2\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk -100", in: "*1\r\n$-100\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk -1", in: "*1\r\n$-1\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk huge negative", in: "*1\r\n$-999999999999\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "negative bulk mid-command", in: "*2\r\n$4\r\nECHO\r\n$-5\r\nxx\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "negative bulk after a command", in: "*1\r\n$4\r\nPING\r\n*1\r\n$-2\r\n", want: "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n", closed: true},
	// Multibulk counts.
	{name: "negative count ignored", in: "*-10\r\nPING\r\n", want: "+PONG\r\n"},
	{name: "count -1 ignored", in: "*-1\r\nPING\r\n", want: "+PONG\r\n"},
	{name: "count zero ignored", in: "*0\r\nPING\r\n", want: "+PONG\r\n"},
	{name: "count min int64 ignored", in: "*-9223372036854775808\r\nPING\r\n", want: "+PONG\r\n"},
	{name: "count below int64", in: "*-9223372036854775809\r\nPING\r\n", want: "-ERR Protocol error: invalid multibulk length\r\n", closed: true},
	{name: "count plus sign", in: "*+1\r\n$4\r\nPING\r\n", want: "-ERR Protocol error: invalid multibulk length\r\n", closed: true},
	{name: "count leading zero", in: "*01\r\n$4\r\nPING\r\n", want: "-ERR Protocol error: invalid multibulk length\r\n", closed: true},
	{name: "count out of range", in: "*3000000000\r\n", want: "-ERR Protocol error: invalid multibulk length\r\n", closed: true},
	{name: "count above int32", in: "*2147483648\r\n", want: "-ERR Protocol error: invalid multibulk length\r\n", closed: true},
	{name: "count not a number", in: "*abc\r\n", want: "-ERR Protocol error: invalid multibulk length\r\n", closed: true},
	{name: "count empty", in: "*\r\nPING\r\n", want: "-ERR Protocol error: invalid multibulk length\r\n", closed: true},
	{name: "count line too long", in: "*" + strings.Repeat("1", 65536), want: "-ERR Protocol error: too big mbulk count string\r\n", closed: true},
	{name: "count line hidden by NUL", in: "*1\x00\r\n" + strings.Repeat("x", 65536), want: "-ERR Protocol error: too big mbulk count string\r\n", closed: true},
	{name: "star NUL", in: "*\x00" + strings.Repeat("A", 65537), want: "-ERR Protocol error: too big mbulk count string\r\n", closed: true},
	// Bulk lengths.
	{name: "bulk plus sign", in: "*1\r\n$+4\r\nPING\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk leading zero", in: "*1\r\n$04\r\nPING\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk not a number", in: "*1\r\n$abc\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk empty length", in: "*1\r\n$\r\nPING\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk length byte 0xff", in: "*2\r\n$4\r\nECHO\r\n$\xff\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk out of range", in: "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk int64 max", in: "*1\r\n$9223372036854775807\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "bulk above proto-max-bulk-len", in: "*1\r\n$1048577\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true, ours: true},
	{name: "bulk length line too long", in: "*1\r\n$" + strings.Repeat("1", 65537), want: "-ERR Protocol error: too big bulk count string\r\n", closed: true},
	{name: "empty bulk is a command", in: "*1\r\n$0\r\n\r\n", want: "-ERR unknown command '', with args beginning with: \r\n"},
	{name: "empty bulk argument", in: "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", want: "$0\r\n\r\n"},
	// Desync: what follows a header or a payload.
	{name: "expected dollar", in: "*1\r\nx4\r\n", want: "-ERR Protocol error: expected '$', got 'x'\r\n", closed: true},
	{name: "expected dollar got CR", in: "*1\r\n\r\nPING\r\n", want: "-ERR Protocol error: expected '$', got ' '\r\n", closed: true},
	{name: "expected dollar got 0xff", in: "*1\r\n\xff\r\n", want: "-ERR Protocol error: expected '$', got '\xff'\r\n", closed: true},
	{name: "wrong payload header", in: "*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n", want: "-ERR Protocol error: expected '$', got 'f'\r\n", closed: true},
	{name: "multibulk without bulks", in: "*1\r\nfoo\r\n", want: "-ERR Protocol error: expected '$', got 'f'\r\n", closed: true},
	{name: "bytes after payload skipped", in: "*1\r\n$4\r\nPINGxx\r\n", want: "+PONG\r\n"},
	{name: "inline after payload", in: "*1\r\n$4\r\nPINGxxPING\r\n", want: "+PONG\r\n+PONG\r\n"},
	{name: "header CR then any byte", in: "*1\r\n$4\rxPING\r\n", want: "+PONG\r\n"},
	{name: "NUL in a bulk", in: "*1\r\n$4\r\nPI\x00G\r\n", want: "-ERR unknown command 'PI', with args beginning with: \r\n"},
	{name: "dollar starts an inline request", in: "$4\r\nPING\r\n", want: "-ERR unknown command '$4', with args beginning with: \r\n+PONG\r\n"},
	// Inline requests.
	{name: "empty query", in: "\r\n\r\nPING\r\n", want: "+PONG\r\n"},
	{name: "blank query", in: "  \t \r\nPING\r\n", want: "+PONG\r\n"},
	{name: "LF only", in: "PING\n", want: "+PONG\r\n"},
	{name: "CR CR LF", in: "PING\r\r\n", want: "+PONG\r\n"},
	{name: "CR separates arguments", in: "PING\rPING\n", want: "$4\r\nPING\r\n"},
	{name: "hex escape", in: "ECHO \"a\\x41b\"\r\n", want: "$3\r\naAb\r\n"},
	{name: "bad hex escape", in: "ECHO \"\\x4g\"\r\n", want: "$3\r\nx4g\r\n"},
	{name: "escapes", in: "ECHO \"\\n\\r\\t\\b\\a\\\\\"\r\n", want: "$6\r\n\n\r\t\b\a\\\r\n"},
	{name: "single quote escape", in: "ECHO 'a\\'b'\r\n", want: "$3\r\na'b\r\n"},
	{name: "empty quoted", in: "ECHO \"\"\r\n", want: "$0\r\n\r\n"},
	{name: "quote mid-token", in: "ECHO a\"b c\" d\r\n", want: "-ERR wrong number of arguments for 'echo' command\r\n"},
	{name: "vertical tab and form feed", in: "ECHO \x0bab\x0c\r\n", want: "$3\r\nab\x0c\r\n"},
	{name: "unbalanced quotes", in: "ECHO \"a\r\n", want: "-ERR Protocol error: unbalanced quotes in request\r\n", closed: true},
	{name: "unbalanced triple quotes", in: "set \"\"\"test-key\"\"\" test-value\r\nping\r\n", want: "-ERR Protocol error: unbalanced quotes in request\r\n", closed: true},
	{name: "closing quote not followed by space", in: "ECHO \"a\"b\r\n", want: "-ERR Protocol error: unbalanced quotes in request\r\n", closed: true},
	{name: "escaped closing quote", in: "ECHO \"\\\"\r\n", want: "-ERR Protocol error: unbalanced quotes in request\r\n", closed: true},
	{name: "too big inline", in: strings.Repeat("x", 65537), want: "-ERR Protocol error: too big inline request\r\n", closed: true},
	{name: "inline line hidden by NUL", in: "PI\x00NG\r\n" + strings.Repeat("x", 65536), want: "-ERR Protocol error: too big inline request\r\n", closed: true},
	{name: "NULs", in: strings.Repeat("\x00", 65537), want: "-ERR Protocol error: too big inline request\r\n", closed: true},
	{name: "dollar NUL", in: "$\x00" + strings.Repeat("A", 65537), want: "-ERR Protocol error: too big inline request\r\n", closed: true},
	{name: "EXEC with arguments", in: "MULTI\r\nEXEC x\r\nEXEC\r\n", want: "+OK\r\n-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n-ERR EXEC without MULTI\r\n"},
	{name: "wrong number of args", in: "PING x y z\r\n", want: "-ERR wrong number of arguments for 'ping' command\r\n"},
}

// unauthCases run against a server with a password, before AUTH.
var unauthCases = []hostileCase{
	{name: "unauthenticated multibulk", in: "*11\r\n", want: "-ERR Protocol error: unauthenticated multibulk length\r\n", closed: true},
	{name: "unauthenticated bulk", in: "*2\r\n$4\r\nECHO\r\n$16385\r\n", want: "-ERR Protocol error: unauthenticated bulk length\r\n", closed: true},
	{name: "unauthenticated negative bulk", in: "*1\r\n$-2\r\n", want: "-ERR Protocol error: invalid bulk length\r\n", closed: true},
	{name: "ten arguments allowed", in: "*10\r\n$4\r\nECHO\r\n" + strings.Repeat("$1\r\na\r\n", 9), want: "-ERR wrong number of arguments for 'echo' command\r\n"},
	{name: "unknown command before NOAUTH", in: "*2\r\n$3\r\nFOO\r\n$1\r\na\r\n", want: "-ERR unknown command 'FOO', with args beginning with: 'a' \r\n"},
	{name: "EXEC before AUTH", in: "EXEC\r\n", want: "-EXECABORT Transaction discarded because of: NOAUTH Authentication required.\r\n"},
	{name: "arity before NOAUTH", in: "GET\r\n", want: "-ERR wrong number of arguments for 'get' command\r\n"},
	{name: "16 KiB bulk allowed", in: "*2\r\n$4\r\nECHO\r\n$16384\r\n" + strings.Repeat("a", 16384) + "\r\n", want: "-NOAUTH Authentication required.\r\n"},
	{name: "inline has no argument limit", in: "PING" + strings.Repeat(" a", 20) + "\r\n", want: "-NOAUTH Authentication required.\r\n"},
	{name: "after AUTH the limits lift", in: "AUTH pw\r\n*12\r\n$4\r\nPING\r\n" + strings.Repeat("$0\r\n\r\n", 11) + "AUTH x\r\n", want: "+OK\r\n-ERR wrong number of arguments for 'ping' command\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n", pong: "+PONG\r\n"},
}

// TestHostileInput sends each case on a fresh connection to the real
// binary, on both I/O models, and expects Redis 7's exact bytes; the server
// must keep serving others throughout. The same table runs against
// redis-server, so the expectations are Redis's own.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "--io-model", model)
			runHostile(t, hostileCases, func() net.Conn { return dial(t, srv.Addr) }, false, "+PONG\r\n")
			locked := startServer(t, "--io-model", model, "--requirepass", "pw")
			runHostile(t, unauthCases, func() net.Conn { return dial(t, locked.Addr) }, false, errNoAuthLine)
			if got, err := newRaw(dial(t, srv.Addr)).do("PING"); err != nil || got != status("PONG") {
				t.Fatalf("server after the hostile table: %v %v", got, err)
			}
		})
	}
	t.Run("redis-server", func(t *testing.T) {
		t.Parallel()
		sock := startRedisSocket(t)
		runHostile(t, hostileCases, func() net.Conn { return dialUnix(t, sock) }, true, "+PONG\r\n")
		locked := startRedisSocket(t, "--requirepass", "pw")
		runHostile(t, unauthCases, func() net.Conn { return dialUnix(t, locked) }, true, errNoAuthLine)
	})
}

const errNoAuthLine = "-NOAUTH Authentication required.\r\n"

// runHostile runs cases; pong is the reply to PING on a connection a case
// leaves open.
func runHostile(t *testing.T, cases []hostileCase, connect func() net.Conn, redis bool, pong string) {
	t.Helper()
	for _, tc := range cases {
		if redis && tc.ours {
			continue
		}
		c := connect()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(tc.in)); err != nil {
			t.Errorf("%s: write: %v", tc.name, err)
			continue
		}
		if tc.closed {
			got, err := io.ReadAll(c)
			if err != nil && !isReset(err) {
				t.Errorf("%s: %v after %q (want the connection closed)", tc.name, err, got)
			} else if string(got) != tc.want {
				t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
			}
			c.Close()
			continue
		}
		got := make([]byte, len(tc.want))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != tc.want {
			t.Errorf("%s: got %q (%v), want %q", tc.name, got, err, tc.want)
			c.Close()
			continue
		}
		c.Write([]byte("PING\r\n"))
		line, err := bufio.NewReader(c).ReadString('\n')
		want := pong
		if tc.pong != "" {
			want = tc.pong
		}
		if err != nil || line != want {
			t.Errorf("%s: after the case, PING got %q, %v", tc.name, line, err)
		}
		c.Close()
	}
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// startRedisSocket runs redis-server on a Unix socket in a temporary directory
// (no TCP port at all) and returns the socket's path.
func startRedisSocket(t *testing.T, extra ...string) string {
	t.Helper()
	bin := requireTool(t, "redis-server")
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	args := append([]string{"--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", dir}, extra...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(strings.ToLower(sc.Text()), "ready to accept connections") {
				ready <- true
				io.Copy(io.Discard, out)
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("redis-server exited before it was ready")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("redis-server did not start")
	}
	return sock
}

func dialUnix(t *testing.T, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
