package tests

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/redis/rueidis"
)

// libraryOutcome is what tests/node/libs.js reports for one library: the
// replies to 7 sequential calls at limit 5, how many of 50 concurrent
// callers a limit of 10 admitted, and a 2 s window at limit 2 before and
// after it passes.
type libraryOutcome struct {
	Seq        []map[string]any `json:"seq"`
	Concurrent int              `json:"concurrent"`
	Expiry     struct {
		Before               []bool `json:"before"`
		ExistsBeforeNextCall int    `json:"existsBeforeNextCall"`
		After                bool   `json:"after"`
	} `json:"expiry"`
}

// runNodeLibrary runs one libs.js scenario against the server on port.
func runNodeLibrary(t *testing.T, node, scenario, port string) libraryOutcome {
	t.Helper()
	cmd := exec.Command(node, "libs.js", scenario, port)
	cmd.Dir = "node"
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("%s on port %s: %v\n%s%s", scenario, port, err, out, stderr)
	}
	var o libraryOutcome
	if err := json.Unmarshal(out, &o); err != nil {
		t.Fatalf("%s: %v in %q", scenario, err, out)
	}
	return o
}

// TestNodeLibraries drives rate-limiting libraries from npm through their
// own APIs against rlserver and against Redis 7 at the same time, and
// requires the same admissions from both, and the admissions the limits
// promise: 5 of 7 in sequence, exactly 10 of 50 concurrent callers, and a
// fresh allowance once the window has passed.
func TestNodeLibraries(t *testing.T) {
	t.Parallel()
	node := requireTool(t, "node")
	if m, _ := filepath.Glob("node/node_modules/rolling-rate-limiter/package.json"); len(m) == 0 {
		requireTool(t, "the npm packages (npm ci in tests/node)")
	}
	srv := startServer(t)
	ref := startRedis(t)
	for _, scenario := range []string{
		"ratelimiter/ioredis",
		"rolling-rate-limiter/ioredis",
		"rolling-rate-limiter/node-redis",
		"async-ratelimiter/ioredis",
		"rate-limiter-flexible/ioredis",
		"rate-limiter-flexible/node-redis",
		"rate-limit-redis/express",
	} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			var ours, theirs libraryOutcome
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				theirs = runNodeLibrary(t, node, scenario, ref.Port)
			}()
			ours = runNodeLibrary(t, node, scenario, srv.Port)
			wg.Wait()
			if t.Failed() {
				return
			}
			if !reflect.DeepEqual(ours, theirs) {
				t.Fatalf("rlserver and Redis differ:\n  rlserver: %+v\n  redis:    %+v", ours, theirs)
			}
			allowed := 0
			for i, r := range ours.Seq {
				if r["allowed"] == true {
					allowed++
					if i >= 5 {
						t.Errorf("call %d allowed past the limit of 5", i+1)
					}
				}
			}
			if allowed != 5 || ours.Concurrent != 10 {
				t.Errorf("admitted %d of 7 sequential (limit 5) and %d of 50 concurrent (limit 10)", allowed, ours.Concurrent)
			}
			if !reflect.DeepEqual(ours.Expiry.Before, []bool{true, true, false}) || !ours.Expiry.After {
				t.Errorf("expiry phase: %+v", ours.Expiry)
			}
		})
	}
}

// rueidis ships a builder for Redis 8.8's GCRA command (the README says so;
// ioredis 6, node-redis 6 and go-redis v9.23 do not): it reaches rlserver's
// GCRA and answers the five-integer reply.
func TestRueidisGcraBuilder(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var got [][]int64
	for range 3 {
		v, err := c.Do(ctx, c.B().Gcra().Key("rueidis:gcra").MaxBurst(1).TokensPerPeriod(5).Period(0.5).Count(1).Build()).AsIntSlice()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	// Burst 1 (limit 2), 5 per 0.5 s: two calls fit, the third waits.
	if got[0][0] != 0 || got[1][0] != 0 || got[2][0] != 1 || got[0][1] != 2 || got[1][2] != 0 {
		t.Fatalf("GCRA through rueidis's builder = %v", got)
	}
}
