package tests

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rlserver/rlserver/engine"
)

// TestScriptBusyAndKill: a script that loops makes clients that need its
// key wait and then get BUSY once it has run past --busy-reply-threshold;
// clients with other keys are served; SCRIPT KILL stops it with Redis's
// error, and a script that wrote is UNKILLABLE. Both I/O models.
func TestScriptBusyAndKill(t *testing.T) {
	t.Parallel()
	for _, model := range []string{"epoll", "goroutine"} {
		t.Run(model, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "--io-model", model, "--busy-reply-threshold", "200ms")
			looper := newRaw(dial(t, srv.Addr))
			other := newRaw(dial(t, srv.Addr))
			if _, err := looper.c.Write(encode("EVAL", "local i = 0 while true do i = i + 1 end", "1", "busykey")); err != nil {
				t.Fatal(err)
			}
			// Until the script is busy, a client needing its key waits;
			// then it gets BUSY. Bounded: the threshold is 200 ms.
			deadline := time.Now().Add(10 * time.Second)
			var r any
			for {
				var err error
				r, err = other.do("GET", "busykey")
				if err != nil {
					t.Fatal(err)
				}
				if e, ok := r.(respError); ok && strings.HasPrefix(string(e), "BUSY") || time.Now().After(deadline) {
					break
				}
			}
			if r != respError("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.") {
				t.Fatalf("GET of the script's key: %#v", r)
			}
			if r, _ := other.do("SET", "elsewhere", "1"); r != status("OK") {
				t.Fatalf("a key the script does not hold: %#v", r)
			}
			if r, _ := other.do("SCRIPT", "KILL"); r != status("OK") {
				t.Fatalf("SCRIPT KILL: %#v", r)
			}
			looper.c.SetDeadline(time.Now().Add(10 * time.Second))
			got, err := readReply(looper.r)
			if err != nil {
				t.Fatal(err)
			}
			if e, ok := got.(respError); !ok || !strings.HasPrefix(string(e), "ERR Script killed by user with SCRIPT KILL... script: ") {
				t.Fatalf("killed script's reply: %#v", got)
			}
			if r, _ := other.do("GET", "busykey"); r != (null{}) {
				t.Fatalf("after the kill: %#v", r)
			}
			if r, _ := other.do("SCRIPT", "KILL"); r != respError("NOTBUSY No scripts in execution right now.") {
				t.Fatalf("SCRIPT KILL with nothing running: %#v", r)
			}

			// A script that wrote cannot be killed; it ends by itself here.
			if _, err := looper.c.Write(encode("EVAL", "redis.call('set', KEYS[1], 'w') local t = redis.call('time') local stop = t[1] + 1 while tonumber(redis.call('time')[1]) <= stop do end return 'done'", "1", "busykey")); err != nil {
				t.Fatal(err)
			}
			// Busy means it is past its first statement, the write.
			deadline = time.Now().Add(10 * time.Second)
			for {
				r, err = other.do("GET", "busykey")
				if err != nil {
					t.Fatal(err)
				}
				if e, ok := r.(respError); ok && strings.HasPrefix(string(e), "BUSY") || time.Now().After(deadline) {
					break
				}
			}
			r, err = other.do("SCRIPT", "KILL")
			if err != nil {
				t.Fatal(err)
			}
			if e, ok := r.(respError); !ok || !strings.HasPrefix(string(e), "UNKILLABLE Sorry the script already executed write commands") {
				t.Fatalf("SCRIPT KILL of a script that wrote: %#v", r)
			}
			got, err = readReply(looper.r)
			if err != nil || got != bulk("done") {
				t.Fatalf("unkillable script's reply: %#v %v", got, err)
			}
		})
	}
}

// TestScriptGoRedis: go-redis's Script.Run tries EVALSHA, falls back to EVAL
// on NOSCRIPT; after SCRIPT FLUSH EVALSHA answers NOSCRIPT again.
func TestScriptGoRedis(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	incr := redis.NewScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
	for i := 1; i <= 3; i++ {
		n, err := incr.Run(ctx, rdb, []string{"gr:counter"}, 2).Int()
		if err != nil || n != 2*i {
			t.Fatalf("run %d: %d %v", i, n, err)
		}
	}
	if ok, err := incr.Exists(ctx, rdb).Result(); err != nil || !ok[0] {
		t.Fatalf("SCRIPT EXISTS after Run: %v %v", ok, err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := incr.EvalSha(ctx, rdb, []string{"gr:counter"}, 1).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOSCRIPT") {
		t.Fatalf("EVALSHA after SCRIPT FLUSH: %v", err)
	}
	if n, err := incr.Run(ctx, rdb, []string{"gr:counter"}, 1).Int(); err != nil || n != 7 {
		t.Fatalf("Run after flush: %d %v", n, err)
	}
}

// TestScriptMemoryLimit: a script that allocates without end is stopped
// with an error, and the server keeps serving.
func TestScriptMemoryLimit(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--lua-memory-limit", "32mb")
	rc := newRaw(dial(t, srv.Addr))
	for _, body := range []string{
		"local s = 'x' while true do s = s .. s end",
		"local t = {} local i = 0 while true do i = i + 1 t[i] = {i, i, i} end",
		// 2^31-1: string.rep's count is a C int (1e12 wraps to a negative one: "").
		"return string.rep('x', 2147483647)",
		"local s = string.rep('x', 1e6) local t = {} for i = 1, 1e6 do t[i] = s .. i end",
	} {
		r, err := rc.do("EVAL", body, "0")
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := r.(respError); !ok || !strings.Contains(string(e), "memory limit") {
			t.Fatalf("%s: %#v", body, r)
		}
	}
	if r, _ := rc.do("PING"); r != status("PONG") {
		t.Fatalf("after: %#v", r)
	}
}

// TestScriptUndeclaredKeys: a key the script does not declare joins its
// lock set for the rest of the script (when that cannot deadlock, else the
// call fails with an error the script sees; it is never accessed
// unlocked), and a script that declared no keys takes every shard at its
// first command touching a key: scripts are atomic, as in Redis. Shown by
// the keys another client finds BUSY while the script loops.
func TestScriptUndeclaredKeys(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--shards", "1")
	rc := newRaw(dial(t, srv.Addr))
	// Declared "declared": the undeclared key shares its (only) shard.
	if r, _ := rc.do("EVAL", "redis.call('set', 'undeclared', 'v') return redis.call('get', 'undeclared')", "1", "declared"); r != bulk("v") {
		t.Fatalf("undeclared key in a held shard: %#v", r)
	}
	if r, _ := rc.do("EVAL", "return redis.call('incr', 'u2')", "0"); r != int64(1) {
		t.Fatalf("no declared keys: %#v", r)
	}

	// 256 shards: pick undeclared keys above and below the declared one's
	// shard, and a key in neither.
	shard := func(k string) uint64 { return engine.Hash([]byte(k)) & 255 }
	var above, below, elsewhere string
	for i := 0; above == "" || below == "" || elsewhere == ""; i++ {
		k := "u" + strconv.Itoa(i)
		switch d := shard("d"); {
		case shard(k) > d && above == "":
			above = k
		case shard(k) < d && below == "":
			below = k
		case shard(k) != d && elsewhere == "" && above != "" && below != "" && shard(k) != shard(above) && shard(k) != shard(below):
			elsewhere = k
		}
	}
	srv = startServer(t, "--busy-reply-threshold", "100ms")
	for _, c := range []struct {
		name           string
		numkeys, probe string
		free           string // a key other clients still reach, or ""
	}{
		{"undeclared-above", "1", above, elsewhere},
		{"undeclared-below", "1", below, elsewhere},
		{"no-declared-keys", "0", elsewhere, ""},
	} {
		looper := newRaw(dial(t, srv.Addr))
		other := newRaw(dial(t, srv.Addr))
		args := []string{"EVAL", "redis.call('get', ARGV[1]) while true do end", c.numkeys}
		if c.numkeys == "1" {
			args = append(args, "d")
		}
		if _, err := looper.c.Write(encode(append(args, c.probe)...)); err != nil {
			t.Fatal(err)
		}
		probe := elsewhere // what the keyless script's global hold blocks
		if c.numkeys == "1" {
			probe = c.probe
		}
		deadline := time.Now().Add(10 * time.Second)
		var r any
		for {
			var err error
			if r, err = other.do("GET", probe); err != nil {
				t.Fatal(err)
			}
			if e, ok := r.(respError); ok && strings.HasPrefix(string(e), "BUSY") || time.Now().After(deadline) {
				break
			}
		}
		if e, ok := r.(respError); !ok || !strings.HasPrefix(string(e), "BUSY") {
			t.Fatalf("%s: GET %s while the script loops: %#v", c.name, probe, r)
		}
		if c.free != "" {
			if r, _ := other.do("SET", c.free, "1"); r != status("OK") {
				t.Fatalf("%s: a key the script does not hold: %#v", c.name, r)
			}
		}
		if r, _ := other.do("SCRIPT", "KILL"); r != status("OK") {
			t.Fatalf("%s: SCRIPT KILL: %#v", c.name, r)
		}
		looper.c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err := readReply(looper.r)
		if e, ok := got.(respError); err != nil || !ok || !strings.HasPrefix(string(e), "ERR Script killed by user") {
			t.Fatalf("%s: killed script's reply: %#v %v", c.name, got, err)
		}
	}
}

// TestShutdownNosaveStopsScripts: SHUTDOWN NOSAVE while a script that has
// written loops (SCRIPT KILL cannot stop it) exits at once with status 0,
// as Redis does. The server used to wait for the script until its 10 s
// close deadline and exit with an error.
func TestShutdownNosaveStopsScripts(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--busy-reply-threshold", "100ms")
	writer := newRaw(dial(t, srv.Addr))
	other := newRaw(dial(t, srv.Addr))
	if _, err := writer.c.Write(encode("EVAL", "redis.call('set', KEYS[1], 'w') while true do end", "1", "w")); err != nil {
		t.Fatal(err)
	}
	// Busy once its key answers BUSY (bounded: 100 ms).
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := other.do("GET", "w")
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := r.(respError); ok && strings.HasPrefix(string(e), "BUSY") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET never answered BUSY: %#v", r)
		}
	}
	if r, _ := other.do("SCRIPT", "KILL"); r == status("OK") {
		t.Fatal("SCRIPT KILL stopped a script that wrote")
	}
	if r, err := other.do("SHUTDOWN", "NOSAVE"); err == nil {
		t.Fatalf("SHUTDOWN NOSAVE answered %#v instead of closing", r)
	}
	start := time.Now()
	if err := srv.cmd.Wait(); err != nil {
		t.Fatalf("exit after SHUTDOWN NOSAVE with a script running: %v\n%s", err, srv.logs.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("SHUTDOWN NOSAVE took %v with a script running", d)
	}
}
