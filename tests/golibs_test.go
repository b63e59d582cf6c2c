package tests

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	ululeredis "github.com/ulule/limiter/v3/drivers/store/redis"
)

// goLimiter makes one call of a Go rate-limiting library: whether it was
// allowed and the remaining allowance the library reports.
type goLimiter func(ctx context.Context) (allowed bool, remaining int64, err error)

// goLibrary builds a limiter of limit calls per window on key.
type goLibrary struct {
	name string
	key  func(id string) string // the Redis key the library keeps its state in
	make func(t *testing.T, rdb *redis.Client, id string, limit int, window time.Duration) goLimiter
}

var goLibraries = []goLibrary{
	{
		name: "go-redis/redis_rate/v10",
		key:  func(id string) string { return "rate:" + id },
		make: func(t *testing.T, rdb *redis.Client, id string, limit int, window time.Duration) goLimiter {
			l := redis_rate.NewLimiter(rdb)
			rate := redis_rate.Limit{Rate: limit, Burst: limit, Period: window}
			return func(ctx context.Context) (bool, int64, error) {
				res, err := l.Allow(ctx, id, rate)
				if err != nil {
					return false, 0, err
				}
				return res.Allowed > 0, int64(res.Remaining), nil
			}
		},
	},
	{
		name: "ulule/limiter/v3",
		key:  func(id string) string { return "ulule:" + id },
		make: func(t *testing.T, rdb *redis.Client, id string, limit int, window time.Duration) goLimiter {
			store, err := ululeredis.NewStoreWithOptions(rdb, limiter.StoreOptions{Prefix: "ulule", MaxRetry: 3})
			if err != nil {
				t.Fatalf("ulule store: %v", err)
			}
			l := limiter.New(store, limiter.Rate{Period: window, Limit: int64(limit)})
			return func(ctx context.Context) (bool, int64, error) {
				res, err := l.Get(ctx, id)
				if err != nil {
					return false, 0, err
				}
				return !res.Reached, res.Remaining, nil
			}
		},
	},
}

// goLibraryOutcome mirrors libs.js's phases for a Go library.
type goLibraryOutcome struct {
	Seq          [][2]int64 // allowed (0/1), remaining
	Concurrent   int
	ExpiryBefore []bool
	KeyExists    int64
	ExpiryAfter  bool
}

func runGoLibrary(t *testing.T, lib goLibrary, addr string) goLibraryOutcome {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 50})
	defer rdb.Close()
	run := fmt.Sprintf("go%d", time.Now().UnixNano())
	var out goLibraryOutcome
	check := func(err error) {
		if err != nil {
			t.Fatalf("%s on %s: %v", lib.name, addr, err)
		}
	}
	seq := lib.make(t, rdb, run+":seq", 5, 10*time.Second)
	for range 7 {
		ok, rem, err := seq(ctx)
		check(err)
		a := int64(0)
		if ok {
			a = 1
		}
		out.Seq = append(out.Seq, [2]int64{a, rem})
	}
	// An hour, not seconds: this phase is about atomicity, so nothing may
	// refill while it runs. At 10 per 10 s redis_rate's GCRA frees one call
	// per second, and a legitimate 11th was admitted once when dialing and
	// running the 50 calls took over a second (-race, load average 30). At
	// 10 per hour the next call frees after 6 minutes, so 10 is exact.
	conc := lib.make(t, rdb, run+":conc", 10, time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := conc(ctx)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				mu.Lock()
				out.Concurrent++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(err)
	}
	const window = 2 * time.Second // three calls fit in it on a loaded machine
	exp := lib.make(t, rdb, run+":exp", 2, window)
	for range 3 {
		ok, _, err := exp(ctx)
		check(err)
		out.ExpiryBefore = append(out.ExpiryBefore, ok)
	}
	// The window is the behaviour under test: let it pass, counted from the
	// last call.
	time.Sleep(window + 300*time.Millisecond)
	n, err := rdb.Exists(ctx, lib.key(run+":exp")).Result()
	check(err)
	out.KeyExists = n
	ok, _, err := exp(ctx)
	check(err)
	out.ExpiryAfter = ok
	return out
}

// TestGoLibraries drives Go rate-limiting libraries through their own APIs
// against rlserver and Redis 7 side by side, as TestNodeLibraries does.
func TestGoLibraries(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ref := startRedis(t)
	for _, lib := range goLibraries {
		t.Run(lib.name, func(t *testing.T) {
			t.Parallel()
			var theirs goLibraryOutcome
			done := make(chan struct{})
			go func() { defer close(done); theirs = runGoLibrary(t, lib, ref.Addr) }()
			ours := runGoLibrary(t, lib, srv.Addr)
			<-done
			if !reflect.DeepEqual(ours, theirs) {
				t.Fatalf("rlserver and Redis differ:\n  rlserver: %+v\n  redis:    %+v", ours, theirs)
			}
			allowed := 0
			for i, s := range ours.Seq {
				if s[0] == 1 {
					allowed++
					if i >= 5 {
						t.Errorf("call %d allowed past the limit of 5", i+1)
					}
				}
			}
			if allowed != 5 || ours.Concurrent != 10 {
				t.Errorf("admitted %d of 7 sequential (limit 5) and %d of 50 concurrent (limit 10)", allowed, ours.Concurrent)
			}
			if !reflect.DeepEqual(ours.ExpiryBefore, []bool{true, true, false}) || !ours.ExpiryAfter {
				t.Errorf("expiry phase: %+v", ours)
			}
		})
	}
}
