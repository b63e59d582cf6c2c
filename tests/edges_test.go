package tests

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startRedisRef runs a real redis-server on a free loopback port (no
// persistence) for comparisons, and stops it when the test ends.
func startRedisRef(t *testing.T, extra ...string) *rawConn {
	t.Helper()
	c := dial(t, startRedisWith(t, extra...))
	return newRaw(c)
}

// TestGCRAPeriodParsesLikeRedis: GCRA's decimal period accepts exactly the
// strings Redis 7 accepts as a float (INCRBYFLOAT's parser), not Go's
// float syntax (1_0 is not ten; 0x10 is sixteen).
func TestGCRAPeriodParsesLikeRedis(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	ref := startRedisRef(t)
	inputs := []string{"1_0", "0x10", "0X1p3", "0x.8", "inf", "-inf", "infinity", "nan", " 1", "1 ", "1e3", ".5",
		"5.", "+1", ".", "e3", "1e", "0x", "0x1p", "1e400", "1e5000", "1e-400", "1e-5000", "- 1", "1.5.",
		"1\x00", "\x00", "0x1P-2", "1d", "2.5", "00012", "1e0003", "+.5e-1", "-0", strings.Repeat("1", 5119),
		"1." + strings.Repeat("0", 5117), "1." + strings.Repeat("0", 5118)}
	for _, in := range inputs {
		ref.do("DEL", "f")
		r, err := ref.do("INCRBYFLOAT", "f", in)
		if err != nil {
			t.Fatal(err)
		}
		redisRejects := r == respError("ERR value is not a valid float")
		got, err := rc.do("GCRA", "gp", "1", "1", in)
		if err != nil {
			t.Fatal(err)
		}
		weReject := got == respError("ERR period is not a valid float")
		if redisRejects != weReject {
			t.Errorf("period %.20q: Redis INCRBYFLOAT %#v, GCRA %#v", in, r, got)
		}
	}
}

// TestTTLChangesNeverResetWindows: PERSIST or EXPIRE on a window key
// changes when the key is deleted, never its counts, also across a
// snapshot and restart (issue 8, item 9).
func TestTTLChangesNeverResetWindows(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, "--data-dir", dir, "--snapshot-interval", "0")
	rc := newRaw(dial(t, srv.Addr))
	denied := func(rc *rawConn, cmd, key string) bool {
		t.Helper()
		got, err := rc.do(cmd, key, "3", "3600")
		arr, ok := got.([]any)
		if err != nil || !ok || len(arr) != 5 {
			t.Fatalf("%s %s: %#v %v", cmd, key, got, err)
		}
		return arr[0] == int64(1)
	}
	cmds := []string{"FW.THROTTLE", "SW.THROTTLE", "SWLOG.THROTTLE"}
	for _, cmd := range cmds {
		key := "ttl:" + cmd
		for i := range 3 {
			if denied(rc, cmd, key) {
				t.Fatalf("%s call %d denied", cmd, i)
			}
		}
		steps := [][]string{{"PERSIST", key}, {"EXPIRE", key, "100000"}, {"PEXPIRE", key, "5000"}, {"EXPIRE", key, "7200", "GT"}, {"PERSIST", key}}
		for _, step := range steps {
			if got, _ := rc.do(step...); got != int64(1) {
				t.Fatalf("%v = %#v", step, got)
			}
			if !denied(rc, cmd, key) {
				t.Fatalf("%s allowed after %v: the window was reset", cmd, step)
			}
		}
		if got, _ := rc.do("TTL", key); got != int64(-1) {
			t.Fatalf("TTL after PERSIST = %#v", got)
		}
	}
	if got, _ := rc.do("SAVE"); got != status("OK") {
		t.Fatalf("SAVE = %#v", got)
	}
	killHard(t, srv)
	srv2 := startServer(t, "--data-dir", dir, "--snapshot-interval", "0")
	rc2 := newRaw(dial(t, srv2.Addr))
	for _, cmd := range cmds {
		if !denied(rc2, cmd, "ttl:"+cmd) {
			t.Fatalf("%s allowed after a restart from the snapshot", cmd)
		}
	}
}

// waitLog polls the server's log until it contains s (bounded).
func waitLog(t *testing.T, p *proc, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log never showed %q:\n%s", s, p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// breakDir replaces dir with a plain file (root ignores permission bits,
// so chmod would not stop a save) and returns a function that puts it back.
func breakDir(t *testing.T, dir string) (restore func()) {
	t.Helper()
	moved := dir + ".moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		os.Remove(dir)
		if err := os.Rename(moved, dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShutdownKeepsRunningWhenSaveFails: SHUTDOWN whose snapshot fails
// answers Redis's error and the server keeps serving; so does SIGTERM (as
// Redis 7 does); once the disk is back SHUTDOWN saves and exits, and a
// restart has every write (issue 8, item 12).
func TestShutdownKeepsRunningWhenSaveFails(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, "--data-dir", dir, "--snapshot-interval", "0")
	rc := newRaw(dial(t, srv.Addr))
	loadKeys(t, rc, "before:", 50)
	restore := breakDir(t, dir)
	if got, _ := rc.do("SHUTDOWN"); got != respError("ERR Errors trying to SHUTDOWN. Check logs.") {
		t.Fatalf("SHUTDOWN with a failing save = %#v", got)
	}
	if got, _ := rc.do("SHUTDOWN", "SAVE", "NOW"); got != respError("ERR Errors trying to SHUTDOWN. Check logs.") {
		t.Fatalf("SHUTDOWN SAVE NOW with a failing save = %#v", got)
	}
	loadKeys(t, rc, "during:", 50)
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitLog(t, srv, "errors trying to shut down")
	if got, _ := rc.do("PING"); got != status("PONG") {
		t.Fatalf("PING after a SIGTERM whose save failed = %#v", got)
	}
	loadKeys(t, rc, "after:", 50)
	restore()
	if got, err := rc.do("SHUTDOWN"); err == nil {
		t.Fatalf("SHUTDOWN with a working disk answered %#v instead of closing", got)
	}
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("exit after SHUTDOWN: %v\n%s", err, srv.logs.String())
	}
	srv2 := startServer(t, "--data-dir", dir, "--snapshot-interval", "0")
	rc2 := newRaw(dial(t, srv2.Addr))
	if got, _ := rc2.do("DBSIZE"); got != int64(150) {
		t.Fatalf("DBSIZE after restart = %#v, want 150", got)
	}
	// NOSAVE and FORCE still exit with a broken disk.
	for _, mode := range []string{"NOSAVE", "FORCE"} {
		d := filepath.Join(t.TempDir(), "data")
		p := startServer(t, "--data-dir", d, "--snapshot-interval", "0")
		c := newRaw(dial(t, p.Addr))
		loadKeys(t, c, "x:", 10)
		defer breakDir(t, d)()
		if got, err := c.do("SHUTDOWN", mode); err == nil {
			t.Fatalf("SHUTDOWN %s answered %#v", mode, got)
		}
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("exit after SHUTDOWN %s: %v", mode, err)
		}
	}
}

// TestSnapshotsFromAFutureClock: the data dir holds snapshots named by a
// wall clock far ahead of this machine's (as an earlier version named them,
// with mtimes in the future too). A SAVE must produce the snapshot the next
// start loads, never one pruned in favour of the stale files (issue 8,
// item 13).
func TestSnapshotsFromAFutureClock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := startServer(t, "--data-dir", dir, "--snapshot-interval", "0")
	rc := newRaw(dial(t, srv.Addr))
	loadKeys(t, rc, "old:", 20)
	if got, _ := rc.do("SAVE"); got != status("OK") {
		t.Fatalf("SAVE = %#v", got)
	}
	killHard(t, srv)
	files, _ := filepath.Glob(filepath.Join(dir, "snapshot-*.rls"))
	if len(files) != 1 {
		t.Fatalf("snapshots: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(files[0])
	year2100 := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, at := range []time.Time{year2100, year2100.Add(time.Hour)} {
		p := filepath.Join(dir, "snapshot-0"+strconv.FormatInt(at.UnixNano(), 10)+".rls")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, at, at)
	}
	for round := range 3 {
		srv := startServer(t, "--data-dir", dir, "--snapshot-interval", "0")
		rc := newRaw(dial(t, srv.Addr))
		if got, _ := rc.do("DBSIZE"); got != int64(20+10*round) {
			t.Fatalf("round %d: DBSIZE at start = %#v, want %d (a stale snapshot was loaded)", round, got, 20+10*round)
		}
		loadKeys(t, rc, "new"+strconv.Itoa(round)+":", 10)
		if got, _ := rc.do("SAVE"); got != status("OK") {
			t.Fatalf("SAVE = %#v", got)
		}
		killHard(t, srv)
	}
}
