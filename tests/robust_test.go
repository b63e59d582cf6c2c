package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Regression tests for issue 8's connection, transaction and tracking
// defects, each run against the real binary.

// cpuTime is the process's user+system CPU time from /proc.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Skip("no /proc")
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// clientLine polls CLIENT LIST on rc until the line of the client whose
// address is addr satisfies ok, and returns it; it fails after 20 s.
func clientLine(t *testing.T, rc *rawConn, addr string, ok func(fields map[string]string) bool) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		v, err := rc.do("CLIENT", "LIST")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(v.(bulk)), "\n") {
			f := clientFields(line)
			if f["addr"] == addr {
				last = line
				if ok(f) {
					return f
				}
			}
		}
	}
	t.Fatalf("client %s never reached the expected state; last: %s", addr, last)
	return nil
}

func clientFields(line string) map[string]string {
	f := map[string]string{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f[k] = v
		}
	}
	return f
}

func atoi(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

// Item 2: a multibulk that trickles in costs the server CPU in proportion
// to its bytes, not to their square: the parser resumes where it stopped.
func TestSlowMultibulkIsLinear(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			srv := startServer(t, "--io-model", model, "--client-query-buffer-limit", "64mb")
			pid := srv.cmd.Process.Pid
			c := dial(t, srv.Addr)
			other := newRaw(dial(t, srv.Addr))
			// 600,000 empty arguments, 200 per write, a write per
			// millisecond: the trickle of issue 8 (~1 MB/s), which made the
			// server re-parse the whole pending command on each read. The
			// baseline is the same number of writes of the same number of
			// empty requests (*0, which Redis skips): what reading and
			// parsing cost when nothing is re-parsed.
			const args, per = 600_000, 200
			trickle := func(header []byte, item string) time.Duration {
				before := cpuTime(t, pid)
				c.SetDeadline(time.Now().Add(120 * time.Second))
				if _, err := c.Write(header); err != nil {
					t.Fatal(err)
				}
				chunk := []byte(strings.Repeat(item, per))
				pace := time.NewTicker(time.Millisecond) // the client's pace, not synchronisation
				defer pace.Stop()
				for i := 0; i < args/per; i++ {
					<-pace.C
					if _, err := c.Write(chunk); err != nil {
						t.Fatalf("write %d: %v", i, err)
					}
				}
				if _, err := c.Write([]byte("PING\r\n")); err != nil {
					t.Fatal(err)
				}
				r := bufio.NewReader(c)
				line, err := r.ReadString('\n')
				if len(header) > 0 {
					if err != nil || !strings.HasPrefix(line, "-ERR unknown command 'FOO', with args beginning with: '' '' ") {
						t.Fatalf("reply to the trickled command: %.80q %v", line, err)
					}
					line, err = r.ReadString('\n')
				}
				if err != nil || line != "+PONG\r\n" {
					t.Fatalf("PING after the trickle: %q %v", line, err)
				}
				return cpuTime(t, pid) - before
			}
			base := trickle(nil, "*0\r\n")
			used := trickle([]byte("*"+strconv.Itoa(args+1)+"\r\n$3\r\nFOO\r\n"), "$0\r\n\r\n")
			t.Logf("%d empty arguments in %d writes: %v of server CPU (%v for as many empty requests)", args, args/per, used, base)
			if limit := 3*base + 500*time.Millisecond; used > limit {
				t.Fatalf("the server used %v of CPU for a trickled command of %d arguments (limit %v: 3x the %v of the baseline + 0.5s)", used, args, limit, base)
			}
			if got, err := other.do("PING"); err != nil || got != status("PONG") {
				t.Fatalf("PING = %v %v", got, err)
			}
		})
	}
}

// Item 3: replies are checked as they are appended. A client that
// pipelines commands with large replies and reads none stops being served
// once its output is not drained, with its input left unparsed, so the
// server's memory does not grow with the replies it has not sent.
func TestReplyAmplificationIsBounded(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			srv := startServer(t, "--io-model", model)
			rc := newRaw(dial(t, srv.Addr))
			for i := 0; i < 20_000; i += 2000 {
				args := []string{"MSET"}
				for j := i; j < i+2000; j++ {
					args = append(args, "key:"+strconv.Itoa(j), "v")
				}
				if got, err := rc.do(args...); err != nil || got != status("OK") {
					t.Fatalf("MSET = %v %v", got, err)
				}
			}
			base := rssBytes(t, srv.cmd.Process.Pid)
			c := dial(t, srv.Addr)
			c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write([]byte(strings.Repeat("KEYS *\r\n", 1000))); err != nil {
				t.Fatal(err)
			}
			// Each reply is ~300 KB: 300 MB if the server ran the batch.
			clientLine(t, rc, c.LocalAddr().String(), func(f map[string]string) bool { return atoi(f["qbuf"]) > 0 })
			if grew := rssBytes(t, srv.cmd.Process.Pid) - base; grew > 64<<20 {
				t.Fatalf("server RSS grew %d MiB for a client that does not read", grew>>20)
			}
			// The client reads: its replies come, complete and in order.
			r := bufio.NewReaderSize(c, 1<<16)
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			for i := range 20 {
				v, err := readReply(r)
				if err != nil {
					t.Fatalf("reply %d: %v", i, err)
				}
				if arr, ok := v.([]any); !ok || len(arr) != 20_000 {
					t.Fatalf("reply %d is not the 20000 keys", i)
				}
			}
		})
	}
}

// Item 3: the MULTI queue is bounded by client-query-buffer-limit; past it
// commands are refused and the transaction is aborted.
func TestMultiQueueIsBounded(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--client-query-buffer-limit", "2mb")
	rc := newRaw(dial(t, srv.Addr))
	big := strings.Repeat("x", 900<<10)
	got, err := rc.pipeline([]string{"MULTI"}, []string{"SET", "a", big}, []string{"SET", "b", big}, []string{"SET", "c", big}, []string{"EXEC"}, []string{"EXISTS", "a"})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{status("OK"), status("QUEUED"), status("QUEUED"),
		respError("ERR MULTI queue is full (client-query-buffer-limit); the transaction will be discarded"),
		respError("EXECABORT Transaction discarded because of previous errors."), int64(0)}
	for i := range want {
		if !equalReply(got[i], want[i]) {
			t.Fatalf("reply %d: got %.80v, want %v", i, got[i], want[i])
		}
	}
}

// Item 5: commands Redis flags no-multi are refused inside MULTI (the
// transaction is then aborted), so MULTI + SAVE cannot deadlock and MULTI
// + SHUTDOWN does not stop the server; AUTH and HELLO are queued and run
// inside EXEC. The same transcripts run against redis-server.
func TestTransactionCommandRules(t *testing.T) {
	t.Parallel()
	const notAllowed = respError("ERR Command not allowed inside a transaction")
	const aborted = respError("EXECABORT Transaction discarded because of previous errors.")
	scripts := []struct {
		name string
		cmds [][]string
		want []any
	}{
		{"save", [][]string{{"MULTI"}, {"SET", "k", "1"}, {"SAVE"}, {"EXEC"}, {"PING"}},
			[]any{status("OK"), status("QUEUED"), notAllowed, aborted, status("PONG")}},
		{"shutdown", [][]string{{"MULTI"}, {"SHUTDOWN"}, {"EXEC"}, {"PING"}},
			[]any{status("OK"), notAllowed, aborted, status("PONG")}},
		{"auth queued", [][]string{{"AUTH", "pw"}, {"MULTI"}, {"AUTH", "pw"}, {"PING"}, {"EXEC"}},
			[]any{status("OK"), status("OK"), status("QUEUED"), status("QUEUED"), []any{status("OK"), status("PONG")}}},
		{"nested multi", [][]string{{"AUTH", "pw"}, {"MULTI"}, {"MULTI"}, {"EXEC"}},
			[]any{status("OK"), status("OK"), respError("ERR MULTI calls can not be nested"), []any{}}},
	}
	check := func(t *testing.T, connect func() net.Conn, password bool) {
		for _, sc := range scripts {
			if password != (sc.cmds[0][0] == "AUTH") {
				continue
			}
			rc := newRaw(connect())
			got, err := rc.pipeline(sc.cmds...)
			if err != nil {
				t.Fatalf("%s: %v", sc.name, err)
			}
			for i := range sc.want {
				if !equalReply(got[i], sc.want[i]) {
					t.Errorf("%s: reply %d: got %#v, want %#v", sc.name, i, got[i], sc.want[i])
				}
			}
		}
		// HELLO inside MULTI is queued and answers inside EXEC.
		if password {
			rc := newRaw(connect())
			got, err := rc.pipeline([]string{"AUTH", "pw"}, []string{"MULTI"}, []string{"HELLO", "2"}, []string{"EXEC"})
			if err != nil {
				t.Fatal(err)
			}
			if got[2] != status("QUEUED") {
				t.Errorf("HELLO inside MULTI: %#v", got[2])
			}
			if arr, ok := got[3].([]any); !ok || len(arr) != 1 || len(arr[0].([]any)) != 14 {
				t.Errorf("EXEC of HELLO 2: %#v", got[3])
			}
		}
	}
	t.Run("rlserver", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t) // persistence on: SAVE would have to lock every shard
		check(t, func() net.Conn { return dial(t, srv.Addr) }, false)
		locked := startServer(t, "--requirepass", "pw")
		check(t, func() net.Conn { return dial(t, locked.Addr) }, true)
		// The deadlock issue 8 found: EXEC holding k's shard, SAVE waiting.
		rc := newRaw(dial(t, srv.Addr))
		got, err := rc.pipeline([]string{"MULTI"}, []string{"CL.THROTTLE", "k", "1", "1", "60"}, []string{"SAVE"}, []string{"EXEC"}, []string{"SAVE"}, []string{"PING"})
		if err != nil || !equalReply(got[2], notAllowed) || !equalReply(got[4], status("OK")) || got[5] != status("PONG") {
			t.Fatalf("MULTI, CL.THROTTLE, SAVE, EXEC, SAVE, PING: %#v %v", got, err)
		}
	})
	t.Run("redis-server", func(t *testing.T) {
		t.Parallel()
		sock := startRedisSocket(t)
		check(t, func() net.Conn { return dialUnix(t, sock) }, false)
		locked := startRedisSocket(t, "--requirepass", "pw")
		check(t, func() net.Conn { return dialUnix(t, locked) }, true)
	})
}

// BGSAVE inside MULTI is queued; inside EXEC it answers "Background saving
// scheduled", as Redis 7.0.15 does (it forks no child inside EXEC), twice
// in one EXEC as well, and the save then happens.
func TestBackgroundSaveInTransaction(t *testing.T) {
	t.Parallel()
	cmds := [][]string{{"MULTI"}, {"SET", "bg", "1"}, {"BGSAVE"}, {"BGSAVE", "SCHEDULE"}, {"EXEC"}, {"PING"}}
	sock := startRedisSocket(t)
	want, err := newRaw(dialUnix(t, sock)).pipeline(cmds...)
	if err != nil {
		t.Fatal(err)
	}
	if arr, ok := want[4].([]any); !ok || len(arr) != 3 || !equalReply(arr[1], status("Background saving scheduled")) {
		t.Fatalf("redis-server: %#v", want)
	}
	srv := startServer(t, "--snapshot-interval", "0")
	rc := newRaw(dial(t, srv.Addr))
	got, err := rc.pipeline(cmds...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cmds {
		if !equalReply(got[i], want[i]) {
			t.Errorf("%q: got %#v, redis %#v", cmds[i], got[i], want[i])
		}
	}
	waitLog(t, srv, "snapshot written")
}

// Item 6: every command inside EXEC runs under the transaction's lock set
// (INFO keyspace used to run unlocked and raced with writers: the -race
// build of the server reports it), and transactions spanning the keyspace
// neither deadlock with single-key commands nor starve them.
func TestTransactionsHoldTheirLocks(t *testing.T) {
	t.Parallel()
	// One goroutine per connection, so that commands really run in
	// parallel (one epoll loop would serialize them).
	srv := startServer(t, "--shards", "8", "--io-model", "goroutine")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	work := func(cmds func(i int) [][]string) {
		defer wg.Done()
		rc := newRaw(dial(t, srv.Addr))
		for i := range 200 {
			if _, err := rc.pipeline(cmds(i)...); err != nil {
				errs <- err
				return
			}
		}
	}
	wg.Add(4)
	go work(func(i int) [][]string {
		var cmds [][]string
		for j := range 20 {
			cmds = append(cmds, []string{"SET", "w:" + strconv.Itoa(i*20+j), "v"})
		}
		return cmds
	})
	go work(func(i int) [][]string {
		return [][]string{{"MULTI"}, {"INFO", "keyspace"}, {"CL.THROTTLE", "t:" + strconv.Itoa(i%7), "5", "1", "60"}, {"EXEC"}}
	})
	go work(func(i int) [][]string {
		return [][]string{{"MULTI"}, {"DBSIZE"}, {"KEYS", "t:*"}, {"DEL", "w:" + strconv.Itoa(i)}, {"EXEC"}}
	})
	go work(func(i int) [][]string {
		return [][]string{{"MULTI"}, {"CL.THROTTLE", "t:" + strconv.Itoa(i%5), "5", "1", "60"}, {"MGET", "w:1", "w:2", "t:3"}, {"EXEC"}}
	})
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(60 * time.Second):
		t.Fatal("transactions did not finish: deadlock")
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// resp3 is a connection switched to RESP3 with CLIENT TRACKING on.
func resp3Tracking(t *testing.T, c net.Conn) *rawConn {
	t.Helper()
	rc := newRaw(c)
	got, err := rc.pipeline([]string{"HELLO", "3"}, []string{"CLIENT", "TRACKING", "ON"})
	if err != nil || got[1] != status("OK") {
		t.Fatalf("HELLO 3, CLIENT TRACKING ON: %v %v", got, err)
	}
	return rc
}

func invalidation(keys ...string) any {
	arr := []any{}
	for _, k := range keys {
		arr = append(arr, bulk(k))
	}
	return []any{bulk("invalidate"), arr}
}

// Item 14: an invalidation push follows the replies already due: in a
// pipeline the push SET a 2 causes comes after that SET's reply and never
// before the reply to the earlier GET a (a cache would keep a stale value).
// The transcript is Redis 7's, compared live.
func TestPushFollowsRepliesAlreadyDue(t *testing.T) {
	t.Parallel()
	script := [][]string{{"SET", "a", "1"}, {"GET", "a"}, {"PING", "one"}, {"SET", "a", "2"}, {"PING", "two"}}
	want := []any{status("OK"), bulk("1"), bulk("one"), status("OK"), invalidation("a"), bulk("two")}
	check := func(t *testing.T, c net.Conn) {
		rc := resp3Tracking(t, c)
		var out []byte
		for _, cmd := range script {
			out = append(out, encode(cmd...)...)
		}
		rc.c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := rc.c.Write(out); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			got, err := readReply(rc.r)
			if err != nil || !equalReply(got, w) {
				t.Fatalf("frame %d: got %#v (%v), want %#v", i, got, err, w)
			}
		}
	}
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "--io-model", model)
			check(t, dial(t, srv.Addr))
		})
	}
	t.Run("redis-server", func(t *testing.T) {
		t.Parallel()
		check(t, dialUnix(t, startRedisSocket(t)))
	})
}

// Item 15: every way a key goes away invalidates it for the clients that
// read it, lazy expiry included (the first access after its TTL).
func TestEveryRemovalInvalidates(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	removals := []struct {
		name   string
		remove func(t *testing.T, rc *rawConn, key string)
	}{
		{"del", func(t *testing.T, rc *rawConn, key string) { rc.do("DEL", key) }},
		{"overwrite", func(t *testing.T, rc *rawConn, key string) { rc.do("SET", key, "new") }},
		{"expire in the past", func(t *testing.T, rc *rawConn, key string) { rc.do("PEXPIREAT", key, "1") }},
		{"flushall", func(t *testing.T, rc *rawConn, key string) { rc.do("FLUSHALL") }},
	}
	for _, rm := range removals {
		t.Run(rm.name, func(t *testing.T) {
			key := "track:" + rm.name
			writer := newRaw(dial(t, srv.Addr))
			if _, err := writer.do("SET", key, "v"); err != nil {
				t.Fatal(err)
			}
			reader := resp3Tracking(t, dial(t, srv.Addr))
			if got, err := reader.do("GET", key); err != nil || got != bulk("v") {
				t.Fatalf("GET = %v %v", got, err)
			}
			rm.remove(t, writer, key)
			reader.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := readReply(reader.r)
			if err != nil {
				t.Fatalf("no invalidation after %s: %v", rm.name, err)
			}
			if !equalReply(got, invalidation(key)) && !equalReply(got, []any{bulk("invalidate"), null{}}) {
				t.Fatalf("after %s: got %#v", rm.name, got)
			}
		})
	}
	// Lazy expiry: the key's TTL is set before the reader reads it (so no
	// write invalidates it), then another client touches it until the
	// access that finds it expired removes it.
	t.Run("lazy expiry", func(t *testing.T) {
		writer := newRaw(dial(t, srv.Addr))
		reader := resp3Tracking(t, dial(t, srv.Addr))
		key := ""
		for _, ttl := range []string{"200", "1000", "5000"} {
			key = "track:lazy:" + ttl
			if _, err := writer.do("SET", key, "v", "PX", ttl); err != nil {
				t.Fatal(err)
			}
			if got, err := reader.do("GET", key); err != nil {
				t.Fatal(err)
			} else if got == bulk("v") {
				break // read before it expired
			}
			key = ""
		}
		if key == "" {
			t.Fatal("the reader never read the key before it expired")
		}
		for deadline := time.Now().Add(20 * time.Second); ; {
			v, err := writer.do("PTTL", key)
			if err != nil {
				t.Fatal(err)
			}
			if v == int64(-2) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the key never expired")
			}
		}
		reader.c.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := readReply(reader.r)
		if err != nil || !equalReply(got, invalidation(key)) {
			t.Fatalf("after lazy expiry: got %#v, %v", got, err)
		}
	})
}

// Item 16: a push to a client that does not read never blocks the client
// whose write caused it.
func TestPushNeverBlocksWriter(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "--io-model", model)
			slow := resp3Tracking(t, dial(t, srv.Addr))
			if _, err := slow.do("GET", "hot"); err != nil {
				t.Fatal(err)
			}
			// Fill the slow reader's socket and the server's output for it.
			go func() {
				cmd := encode("ECHO", strings.Repeat("x", 1024))
				buf := []byte{}
				for range 100 {
					buf = append(buf, cmd...)
				}
				slow.c.SetWriteDeadline(time.Now().Add(60 * time.Second))
				for range 500 {
					if _, err := slow.c.Write(buf); err != nil {
						return
					}
				}
			}()
			other := newRaw(dial(t, srv.Addr))
			clientLine(t, other, slow.c.LocalAddr().String(), func(f map[string]string) bool { return atoi(f["qbuf"]) > 0 })
			done := make(chan error, 1)
			go func() {
				_, err := other.do("SET", "hot", "1")
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("SET blocked behind the push to a client that does not read")
			}
		})
	}
}

// Protocol details: CLIENT LIST reports subcommands as Redis does and the
// real buffer sizes and descriptor.
func TestClientListFields(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "--io-model", model)
			x := dial(t, srv.Addr)
			partial := "*2\r\n$4\r\nECHO\r\n$10\r\nabc"
			if _, err := x.Write([]byte(partial)); err != nil {
				t.Fatal(err)
			}
			rc := newRaw(dial(t, srv.Addr))
			f := clientLine(t, rc, x.LocalAddr().String(), func(f map[string]string) bool { return f["qbuf"] == strconv.Itoa(len(partial)) })
			if f["argv-mem"] != "4" || atoi(f["fd"]) <= 0 || atoi(f["tot-mem"]) <= 0 || atoi(f["qbuf-free"]) < 0 {
				t.Fatalf("fields of a client with a pending ECHO: %v", f)
			}
			self := clientLine(t, rc, rc.c.LocalAddr().String(), func(map[string]string) bool { return true })
			if self["cmd"] != "client|list" {
				t.Fatalf("cmd = %q, want client|list", self["cmd"])
			}
		})
	}
}

// Protocol details: INFO's total_error_replies counts every error reply,
// as Redis does (compared live).
func TestTotalErrorReplies(t *testing.T) {
	t.Parallel()
	script := [][]string{{"GET"}, {"FOO"}, {"SET", "s", "x"}, {"INCR", "s"}, {"MULTI"}, {"GET"}, {"EXEC"}, {"PING"}}
	count := func(t *testing.T, c net.Conn) int64 {
		rc := newRaw(c)
		if _, err := rc.pipeline(script...); err != nil {
			t.Fatal(err)
		}
		n := atoi(infoField(t, rc, "stats", "total_error_replies"))
		return n
	}
	srv := startServer(t)
	got := count(t, dial(t, srv.Addr))
	redis := count(t, dialUnix(t, startRedisSocket(t)))
	if got != 5 || got != redis {
		t.Fatalf("total_error_replies = %d, redis-server says %d, want 5", got, redis)
	}
}

var _ = fmt.Sprint

// Item 2: the parser and the input buffers resume exactly where a read
// stopped: a pipeline of commands of every size, sent in writes of odd
// sizes, gets exactly the replies it gets in one write, on both fronts.
func TestChunkedInputKeepsCommands(t *testing.T) {
	t.Parallel()
	var stream []byte
	var want []string
	sizes := []int{0, 1, 7, 100, 4095, 16 << 10, 32<<10 - 1, 32 << 10, 70000, 300 << 10, 1 << 20}
	for i := range 60 {
		n := sizes[i%len(sizes)]
		payload := strings.Repeat(string(rune('a'+i%26)), n)
		if i%7 == 3 {
			stream = append(stream, "ECHO "+strconv.Itoa(i)+"\r\n"...)
			want = append(want, strconv.Itoa(i))
			continue
		}
		stream = append(stream, encode("ECHO", payload)...)
		want = append(want, payload)
	}
	// Commands of many arguments: the parser keeps the first positions and
	// finds the others again at the end.
	mset, mget := []string{"MSET"}, []string{"MGET"}
	var values []any
	for i := range 300 {
		k, v := "many:"+strconv.Itoa(i), strings.Repeat("v", i)
		mset, mget = append(mset, k, v), append(mget, k)
		values = append(values, bulk(v))
	}
	stream = append(append(stream, encode(mset...)...), encode(mget...)...)
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "--io-model", model)
			for _, step := range []int{1 << 20, 65537, 4099, 333} {
				c := dial(t, srv.Addr)
				go func() {
					for off := 0; off < len(stream); off += step {
						c.SetWriteDeadline(time.Now().Add(30 * time.Second))
						if _, err := c.Write(stream[off:min(off+step, len(stream))]); err != nil {
							return
						}
					}
				}()
				r := bufio.NewReaderSize(c, 1<<16)
				c.SetReadDeadline(time.Now().Add(60 * time.Second))
				for i, w := range want {
					got, err := readReply(r)
					if err != nil || got != bulk(w) {
						t.Fatalf("writes of %d bytes: reply %d: %.40q (%v), want %d bytes", step, i, got, err, len(w))
					}
				}
				if got, err := readReply(r); err != nil || got != status("OK") {
					t.Fatalf("MSET: %v %v", got, err)
				}
				if got, err := readReply(r); err != nil || !equalReply(got, values) {
					t.Fatalf("MGET of 300 keys: %v", err)
				}
				c.Close()
			}
		})
	}
}
