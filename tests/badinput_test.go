package tests

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestBadInputKeepsServing sends malformed and hostile commands: each gets
// a Redis-style error and the connection stays usable.
func TestBadInputKeepsServing(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) { testBadInput(t, startServer(t, "--io-model", model)) })
	}
}

// ioModels are the network fronts every edge test runs against.
var ioModels = []string{"epoll", "goroutine"}

func testBadInput(t *testing.T, srv *proc) {
	rc := newRaw(dial(t, srv.Addr))
	longKey := strings.Repeat("k", 10<<10)
	cases := []struct {
		cmd  []string
		want any
	}{
		{[]string{"GET"}, respError("ERR wrong number of arguments for 'get' command")},
		{[]string{"foo", "a", "b"}, respError("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")},
		{[]string{"EXPIRE", "k", "1.5"}, respError("ERR value is not an integer or out of range")},
		{[]string{"EXPIRE", "k", "9223372036854775807"}, respError("ERR invalid expire time in 'expire' command")},
		{[]string{"CL.THROTTLE", "k", "99999999999999999999", "1", "60"}, respError("Cell error: Store error: Couldn't parse as integer: 99999999999999999999")},
		{[]string{"CL.THROTTLE", "k\x00\xff\xfe", "1", "1", "60"}, []any{int64(0), int64(2), int64(1), int64(-1), int64(60)}},
		{[]string{"TYPE", "k\x00\xff\xfe"}, status("string")},
		{[]string{"CL.THROTTLE", "k", "\xff", "1", "60"}, respError("Cell error: Store error: Couldn't parse as integer: \xff")},
		{[]string{"CL.THROTTLE", longKey, "1", "1", "60"}, []any{int64(0), int64(2), int64(1), int64(-1), int64(60)}},
		{[]string{"CL.THROTTLE", strings.Repeat("k", 65<<10), "1", "1", "60"}, respError("ERR key is too large (see max-key-bytes)")},
		{[]string{"SET", "text", "hello"}, status("OK")},
		{[]string{"CL.THROTTLE", "text", "1", "1", "60"}, respError("WRONGTYPE Operation against a key holding the wrong kind of value")},
		{[]string{"SELECT", "1"}, respError("ERR DB index is out of range")},
		{[]string{"EXEC"}, respError("ERR EXEC without MULTI")},
		{[]string{"CLUSTER", "SLOTS"}, respError("ERR This instance has cluster support disabled")},
		{[]string{"SET", "k", "v", "EX", "0"}, respError("ERR invalid expire time in 'set' command")},
		{[]string{"SET", "k", "v", "NX", "XX"}, respError("ERR syntax error")},
		{[]string{"PING"}, status("PONG")},
	}
	for _, tc := range cases {
		got, err := rc.do(tc.cmd...)
		if err != nil {
			t.Fatalf("%.40q: %v", tc.cmd, err)
		}
		if !equalReply(got, tc.want) {
			t.Errorf("%.60q: got %#v, want %#v", tc.cmd, got, tc.want)
		}
	}
}

// A MULTI with a rejected command aborts at EXEC, as in Redis.
func TestMultiAbortsAfterQueueingError(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	got, err := rc.pipeline([]string{"MULTI"}, []string{"CL.THROTTLE", "m", "1", "1", "60"}, []string{"GET"}, []string{"EXEC"}, []string{"EXISTS", "m"})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{status("OK"), status("QUEUED"), respError("ERR wrong number of arguments for 'get' command"),
		respError("EXECABORT Transaction discarded because of previous errors."), int64(0)}
	for i := range want {
		if !equalReply(got[i], want[i]) {
			t.Fatalf("reply %d: got %#v, want %#v", i, got[i], want[i])
		}
	}
}

// Protocol errors close only the offending connection, before the
// oversized parts are buffered, and memory stays bounded.
func TestProtocolErrorsCloseOnlyThatConnection(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) { testProtocolErrors(t, startServer(t, "--io-model", model)) })
	}
}

func testProtocolErrors(t *testing.T, srv *proc) {
	other := newRaw(dial(t, srv.Addr))
	for _, garbage := range []string{
		"*abc\r\n",
		"*2\r\n$3\r\nGET\r\n$999999999999\r\n",
		"*99999999999\r\n",
		"*1\r\n#4\r\nPING\r\n",
	} {
		c := dial(t, srv.Addr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte(garbage)); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "-ERR Protocol error: ") {
			t.Fatalf("%q: got %q, %v", garbage, line, err)
		}
		if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
			t.Fatalf("%q: connection still open after a protocol error", garbage)
		}
	}
	// Stream 64 MiB declared as one bulk argument: refused at the header,
	// so the server closes the connection long before the data is sent
	// and its memory does not grow with it.
	base := rssBytes(t, srv.cmd.Process.Pid)
	c := dial(t, srv.Addr)
	c.Write([]byte("*2\r\n$4\r\nECHO\r\n$" + strconv.Itoa(64<<20) + "\r\n"))
	chunk := make([]byte, 1<<20)
	sent := 0
	for ; sent < 64; sent++ {
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	if sent == 64 {
		t.Fatal("the server accepted 64 MiB for a bulk above proto-max-bulk-len")
	}
	if grew := rssBytes(t, srv.cmd.Process.Pid) - base; grew > 16<<20 {
		t.Fatalf("server RSS grew %d MiB after an oversized bulk", grew>>20)
	}
	if got, err := other.do("PING"); err != nil || got != status("PONG") {
		t.Fatalf("other client after garbage: %v %v", got, err)
	}
}

func rssBytes(t *testing.T, pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skip("no /proc")
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func equalReply(a, b any) bool {
	as, aok := a.([]any)
	bs, bok := b.([]any)
	if aok || bok {
		if !aok || !bok || len(as) != len(bs) {
			return false
		}
		for i := range as {
			if !equalReply(as[i], bs[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// TestAuth covers --requirepass with Redis's error words.
func TestAuth(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--requirepass", "s3cret")
	rc := newRaw(dial(t, srv.Addr))
	steps := []struct {
		cmd  []string
		want any
	}{
		{[]string{"CL.THROTTLE", "a", "1", "1", "60"}, respError("NOAUTH Authentication required.")},
		{[]string{"AUTH", "wrong"}, respError("WRONGPASS invalid username-password pair or user is disabled.")},
		{[]string{"AUTH", "default", "s3cret"}, status("OK")},
		{[]string{"CL.THROTTLE", "a", "1", "1", "60"}, []any{int64(0), int64(2), int64(1), int64(-1), int64(60)}},
	}
	for _, s := range steps {
		got, err := rc.do(s.cmd...)
		if err != nil || !equalReply(got, s.want) {
			t.Fatalf("%q: got %#v %v, want %#v", s.cmd, got, err, s.want)
		}
	}
}

// Connections beyond --maxclients get Redis's error and are closed.
func TestMaxClients(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--maxclients", "2")
	a := newRaw(dial(t, srv.Addr))
	b := newRaw(dial(t, srv.Addr))
	for _, rc := range []*rawConn{a, b} {
		if got, err := rc.do("PING"); err != nil || got != status("PONG") {
			t.Fatalf("PING = %v %v", got, err)
		}
	}
	c := dial(t, srv.Addr)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "-ERR max number of clients reached\r\n" {
		t.Fatalf("third connection got %q, %v", line, err)
	}
}

// go-redis with a password authenticates inside HELLO 3.
func TestHelloAuthGoRedis(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--requirepass", "s3cret")
	ctx := context.Background()
	good := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "s3cret"})
	defer good.Close()
	if err := good.Do(ctx, "CL.THROTTLE", "a", 1, 1, 60).Err(); err != nil {
		t.Fatalf("with the password: %v", err)
	}
	bad := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "wrong", MaxRetries: -1})
	defer bad.Close()
	if err := bad.Ping(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGPASS") {
		t.Fatalf("with a wrong password: %v", err)
	}
}

// A client that pipelines far more than it reads: the server stops
// reading while its replies wait, so its memory grows by far less than the
// 50 MB of replies, and every reply arrives, in order, once the client reads.
func TestSlowReaderBackpressure(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			srv := startServer(t, "--io-model", model)
			c := dial(t, srv.Addr)
			const n = 50_000
			payload := strings.Repeat("x", 1024)
			cmd := encode("ECHO", payload)
			base := rssBytes(t, srv.cmd.Process.Pid)
			sent := make(chan error, 1)
			var sentBytes atomic.Int64
			go func() {
				buf := make([]byte, 0, len(cmd)*100)
				for i := 0; i < n; i += 100 {
					buf = buf[:0]
					for range 100 {
						buf = append(buf, cmd...)
					}
					c.SetWriteDeadline(time.Now().Add(60 * time.Second))
					if _, err := c.Write(buf); err != nil {
						sent <- err
						return
					}
					sentBytes.Add(int64(len(buf)))
				}
				sent <- nil
			}()
			// Wait until the writer stalls: the server has stopped reading
			// because its output for us is full.
			for last, deadline := int64(-1), time.Now().Add(20*time.Second); time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				cur := sentBytes.Load()
				if cur == last {
					break
				}
				last = cur
			}
			if sentBytes.Load() == int64(n*len(cmd)) {
				t.Fatal("the server read everything while its replies were not being read")
			}
			if grew := rssBytes(t, srv.cmd.Process.Pid) - base; grew > 16<<20 {
				t.Fatalf("server RSS grew %d MiB while a client does not read", grew>>20)
			}
			r := bufio.NewReaderSize(c, 1<<16)
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			for i := range n {
				v, err := readReply(r)
				if err != nil {
					t.Fatalf("reply %d: %v", i, err)
				}
				if v != bulk(payload) {
					t.Fatalf("reply %d is not the echoed payload", i)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}
