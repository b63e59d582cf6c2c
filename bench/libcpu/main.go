// Command libcpu drives a Go rate-limiting library against a Redis-protocol
// server for bench/libraries.sh: calls limiter calls over 1,000 keys (never
// limited) from conc goroutines, each with a connection of its own, and
// prints the wall time as JSON. The script reads the server's CPU time
// around the run.
//
//	go run ./bench/libcpu -addr 127.0.0.1:6379 -lib redis_rate -calls 50000 -conc 50
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	ululeredis "github.com/ulule/limiter/v3/drivers/store/redis"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "server address")
	lib := flag.String("lib", "redis_rate", "redis_rate or ulule")
	calls := flag.Int("calls", 50000, "limiter calls in total")
	conc := flag.Int("conc", 1, "concurrent callers")
	flag.Parse()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: *conc, MinIdleConns: *conc})
	defer rdb.Close()
	call, err := newCall(*lib, rdb)
	if err != nil {
		log.Fatal(err)
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("bench:%d:%d", os.Getpid(), i)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, *conc)
	start := time.Now()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(*calls) {
					return
				}
				allowed, err := call(ctx, keys[i%int64(len(keys))])
				if err == nil && !allowed {
					err = fmt.Errorf("limited during the benchmark")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		log.Fatal(err)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{"calls": *calls, "conc": *conc, "seconds": time.Since(start).Seconds()})
}

func newCall(lib string, rdb *redis.Client) (func(context.Context, string) (bool, error), error) {
	switch lib {
	case "redis_rate":
		l := redis_rate.NewLimiter(rdb)
		rate := redis_rate.Limit{Rate: 1_000_000_000, Burst: 1_000_000_000, Period: 10 * time.Minute}
		return func(ctx context.Context, key string) (bool, error) {
			res, err := l.Allow(ctx, key, rate)
			return err == nil && res.Allowed > 0, err
		}, nil
	case "ulule":
		store, err := ululeredis.NewStoreWithOptions(rdb, limiter.StoreOptions{Prefix: "ulule", MaxRetry: 3})
		if err != nil {
			return nil, err
		}
		l := limiter.New(store, limiter.Rate{Period: 10 * time.Minute, Limit: 1_000_000_000})
		return func(ctx context.Context, key string) (bool, error) {
			res, err := l.Get(ctx, key)
			return err == nil && !res.Reached, err
		}, nil
	}
	return nil, fmt.Errorf("unknown library %q", lib)
}
