package tests

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
)

func TestGoRedisDefaultOptions(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) { testGoRedis(t, startServer(t, "--io-model", model)) })
	}
}

func testGoRedis(t *testing.T, srv *proc) {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr}) // sends HELLO 3
	defer rdb.Close()

	got, err := rdb.Do(ctx, "CL.THROTTLE", "goredis", 15, 30, 60, 1).Int64Slice()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{0, 16, 15, -1, 2}) {
		t.Fatalf("CL.THROTTLE = %v", got)
	}
	pipe := rdb.Pipeline()
	cmds := make([]*redis.Cmd, 20)
	for i := range cmds {
		cmds[i] = pipe.Do(ctx, "CL.THROTTLE", "goredis:p", 4, 1, 60)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	allowed := 0
	for _, c := range cmds {
		v, _ := c.Int64Slice()
		if v[0] == 0 {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("pipeline allowed %d of 20 with max_burst 4, want 5", allowed)
	}
	tx := rdb.TxPipeline()
	a := tx.Do(ctx, "CL.THROTTLE", "goredis:tx", 0, 1, 60)
	b := tx.Do(ctx, "CL.THROTTLE", "goredis:tx", 0, 1, 60)
	ttl := tx.TTL(ctx, "goredis:tx")
	if _, err := tx.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	av, _ := a.Int64Slice()
	bv, _ := b.Int64Slice()
	if av[0] != 0 || bv[0] != 1 || ttl.Val() < 59*time.Second {
		t.Fatalf("MULTI/EXEC: %v %v ttl %v", av, bv, ttl.Val())
	}
	if typ := rdb.Type(ctx, "goredis").Val(); typ != "string" {
		t.Fatalf("TYPE = %q", typ)
	}
	if err := rdb.Do(ctx, "CL.THROTTLE", "goredis", "x", 1, 60).Err(); err == nil || err.Error() != "Cell error: Store error: Couldn't parse as integer: x" {
		t.Fatalf("error reply = %v", err)
	}
	if rdb.Get(ctx, "missing").Err() != redis.Nil {
		t.Fatal("GET missing should be nil")
	}
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil || !strings.Contains(info, "redis_version:") {
		t.Fatalf("INFO server = %q, %v", info, err)
	}
}

func TestRueidisDefaultOptions(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := context.Background()
	// Default options: HELLO 3, CLIENT TRACKING ON OPTIN, CLUSTER SLOTS.
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.Do(ctx, c.B().Arbitrary("CL.THROTTLE").Keys("rueidis").Args("1", "1", "60").Build()).AsIntSlice()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int64{0, 2, 1, -1, 60}) {
		t.Fatalf("CL.THROTTLE = %v", got)
	}
	// Client-side caching: the cached GET must be invalidated when the
	// limiter writes the key.
	get := func() string {
		v, err := c.DoCache(ctx, c.B().Get().Key("rueidis").Cache(), time.Minute).ToString()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := get()
	if get() != before {
		t.Fatal("cached GET changed without a write")
	}
	if err := c.Do(ctx, c.B().Arbitrary("CL.THROTTLE").Keys("rueidis").Args("1", "1", "60").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for get() == before {
		if time.Now().After(deadline) {
			t.Fatal("cached GET was never invalidated after CL.THROTTLE wrote the key")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisCLI(t *testing.T) {
	t.Parallel()
	cli := requireTool(t, "redis-cli")
	srv := startServer(t)
	run := func(args ...string) string {
		out, err := exec.Command(cli, append([]string{"-h", "127.0.0.1", "-p", srv.Port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if got := run("CL.THROTTLE", "user123", "15", "30", "60", "1"); got != "0\n16\n15\n-1\n2\n" {
		t.Fatalf("CL.THROTTLE via redis-cli = %q", got)
	}
	if got := run("CL.THROTTLE", "user123", "15", "30", "60", "abc"); !strings.Contains(got, "Cell error: Store error: Couldn't parse as integer: abc") {
		t.Fatalf("error via redis-cli = %q", got)
	}
	// Interactive mode asks COMMAND DOCS first; feed it commands on stdin.
	cmd := exec.Command(cli, "-h", "127.0.0.1", "-p", srv.Port)
	cmd.Stdin = strings.NewReader("PING\nCL.THROTTLE k 1 1 60\nTYPE k\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PONG") || !strings.Contains(string(out), "string") {
		t.Fatalf("redis-cli stdin session: %v\n%s", err, out)
	}
}

func TestRedisPy(t *testing.T) {
	t.Parallel()
	requireTool(t, "/usr/bin/python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import redis").Run(); err != nil {
		requireTool(t, "python3-redis (Debian package)")
	}
	srv := startServer(t)
	out, err := exec.Command("/usr/bin/python3", "py/throttle.py", srv.Port).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("redis-py: %v\n%s", err, out)
	}
}

func TestIORedis(t *testing.T) {
	t.Parallel()
	node := requireTool(t, "node")
	if m, _ := filepath.Glob("node/node_modules/ioredis/package.json"); len(m) == 0 {
		requireTool(t, "ioredis (npm install in tests/node)")
	}
	srv := startServer(t)
	cmd := exec.Command(node, "throttle.js", srv.Port)
	cmd.Dir = "node"
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("ioredis: %v\n%s", err, out)
	}
}

// CLIENT LIST reads every connection's state while the connections work.
func TestClientListWhileOthersWork(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := context.Background()
	worker := redis.NewClient(&redis.Options{Addr: srv.Addr, ClientName: "worker"})
	defer worker.Close()
	// Connected (and named) before the first CLIENT LIST: go-redis dials
	// on its first command, which the goroutine below may not have sent
	// yet on a loaded machine.
	if err := worker.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := range 2000 {
			if err := worker.Do(ctx, "CL.THROTTLE", "list:"+strconv.Itoa(i%10), 5, 1, 60).Err(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer admin.Close()
	for range 50 {
		list, err := admin.ClientList(ctx).Result()
		if err != nil || !strings.Contains(list, "name=worker") {
			t.Fatalf("CLIENT LIST = %q, %v", list, err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A tracked key that expires is invalidated by the sweeper with a RESP3
// push, without any write to it.
func TestTrackingInvalidatesOnExpiry(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	for _, cmd := range [][]string{{"HELLO", "3"}, {"CLIENT", "TRACKING", "ON"}, {"SET", "soon", "v", "PX", "150"}, {"GET", "soon"}} {
		if _, err := rc.do(cmd...); err != nil {
			t.Fatal(err)
		}
	}
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	push, err := readReply(rc.r)
	if err != nil {
		t.Fatalf("no invalidation push after expiry: %v", err)
	}
	if !equalReply(push, []any{bulk("invalidate"), []any{bulk("soon")}}) {
		t.Fatalf("push = %#v", push)
	}
}

// A write inside MULTI/EXEC invalidates tracked keys once EXEC is done.
func TestTrackingInvalidatesAfterExec(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	reader := newRaw(dial(t, srv.Addr))
	for _, cmd := range [][]string{{"HELLO", "3"}, {"CLIENT", "TRACKING", "ON"}, {"GET", "tx:key"}} {
		if _, err := reader.do(cmd...); err != nil {
			t.Fatal(err)
		}
	}
	writer := newRaw(dial(t, srv.Addr))
	if _, err := writer.pipeline([]string{"MULTI"}, []string{"CL.THROTTLE", "tx:key", "1", "1", "60"}, []string{"EXEC"}); err != nil {
		t.Fatal(err)
	}
	reader.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	push, err := readReply(reader.r)
	if err != nil || !equalReply(push, []any{bulk("invalidate"), []any{bulk("tx:key")}}) {
		t.Fatalf("push after EXEC = %#v, %v", push, err)
	}
}
