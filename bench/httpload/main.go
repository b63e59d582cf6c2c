// Command httpload drives POST /v1/ratelimit/check with keep-alive
// connections and reports throughput and latency percentiles; with
// -gen-rules N it prints a rules file of N rules instead (the shape of the
// rules package's benchmark: a few global and tier rules, per-endpoint
// rules and per-customer overrides).
//
//	httpload -addr 127.0.0.1:8080 -conns 16 -duration 10s -users 10000
//	httpload -gen-rules 10000 > rules.yaml
//
// It speaks HTTP/1.1 over raw sockets (one request in flight per
// connection) so that the client costs little CPU next to the server.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server HTTP address")
	conns := flag.Int("conns", 16, "keep-alive connections")
	dur := flag.Duration("duration", 10*time.Second, "how long to run (bounded)")
	maxReq := flag.Int("requests", 0, "stop after this many requests (0: duration only)")
	users := flag.Int("users", 10000, "distinct user ids")
	gen := flag.Int("gen-rules", 0, "print a rules file with this many rules and exit")
	get := flag.String("get", "", "send GET requests to this path instead of checks (the HTTP stack's floor, e.g. /health)")
	flag.Parse()
	if *gen > 0 {
		genRules(os.Stdout, *gen)
		return
	}
	if *dur > 10*time.Minute {
		*dur = 10 * time.Minute
	}
	deadline := time.Now().Add(*dur)
	var (
		mu       sync.Mutex
		lat      []time.Duration
		statuses = map[int]int{}
		wg       sync.WaitGroup
		errs     int
	)
	perConn := 0
	if *maxReq > 0 {
		perConn = (*maxReq + *conns - 1) / *conns
	}
	start := time.Now()
	for c := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine, st, err := run(*addr, c, *users, deadline, perConn, *get)
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, mine...)
			for k, v := range st {
				statuses[k] += v
			}
			if err != nil {
				errs++
				fmt.Fprintln(os.Stderr, "conn", c, err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("requests=%d seconds=%.2f rps=%.0f p50_us=%.0f p99_us=%.0f statuses=%v conn_errors=%d\n",
		len(lat), elapsed.Seconds(), float64(len(lat))/elapsed.Seconds(),
		float64(pct(0.50).Microseconds()), float64(pct(0.99).Microseconds()), statuses, errs)
}

// run sends checks on one connection until the deadline (or n requests).
func run(addr string, id, users int, deadline time.Time, n int, get string) ([]time.Duration, map[int]int, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	defer nc.Close()
	rng := rand.New(rand.NewPCG(uint64(id), 7))
	br := bufio.NewReaderSize(nc, 16<<10)
	var lat []time.Duration
	st := map[int]int{}
	var req []byte
	for i := 0; time.Now().Before(deadline) && (n == 0 || i < n); i++ {
		u := rng.IntN(users)
		body := `{"user_id":"user-` + strconv.Itoa(u*4) + `","ip_address":"192.0.2.` + strconv.Itoa(u%250) + `","endpoint":"/api/v6/items","method":"GET"}`
		if get != "" {
			req = append(req[:0], "GET "+get+" HTTP/1.1\r\nHost: bench\r\n\r\n"...)
		} else {
			req = append(req[:0], "POST /v1/ratelimit/check HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: "...)
			req = strconv.AppendInt(req, int64(len(body)), 10)
			req = append(req, "\r\n\r\n"...)
			req = append(req, body...)
		}
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		t := time.Now()
		if _, err := nc.Write(req); err != nil {
			return lat, st, err
		}
		code, err := readResponse(br)
		if err != nil {
			return lat, st, err
		}
		lat = append(lat, time.Since(t))
		st[code]++
	}
	return lat, st, nil
}

// readResponse reads one response (status line, headers, a
// Content-Length body) and returns its status.
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, err
	}
	length := -1
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(h) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if length < 0 {
		return 0, fmt.Errorf("response without Content-Length")
	}
	_, err = br.Discard(length)
	return code, err
}

func genRules(w io.Writer, n int) {
	base := []string{
		`{id: global-ip, per: [ip], algorithm: gcra, limit: 1000, window: 1s, burst: 2000}`,
		`{id: tier-free, match: {tier: free}, per: [user_id], algorithm: sliding_window, limit: 100000, window: 1h}`,
		`{id: tier-premium, match: {tier: premium}, per: [user_id], algorithm: sliding_window, limit: 10000, window: 1h}`,
		`{id: writes, match: {method: "POST,PUT,PATCH,DELETE"}, per: [user_id], algorithm: token_bucket, limit: 25, window: 1s}`,
		`{id: reads, match: {method: "GET,HEAD"}, per: [user_id], algorithm: token_bucket, limit: 100, window: 1s}`,
		`{id: search, match: {endpoint: /api/search}, per: [user_id], algorithm: fixed_window, limit: 30, window: 1m}`,
		`{id: anon, match: {tier: anonymous}, per: [ip], algorithm: fixed_window, limit: 60, window: 1h}`,
		`{id: office, match: {ip: 10.0.0.0/8}, per: [ip], algorithm: fixed_window, limit: 100000, window: 1m}`,
		`{id: trial, action: shadow, per: [user_id, endpoint], algorithm: sliding_log, limit: 50, window: 1m}`,
		`{id: payments, match: {endpoint: /api/payments}, per: [api_key], algorithm: gcra, limit: 50, window: 1s}`,
	}
	fmt.Fprintln(w, "rules:")
	for i := range n {
		var r string
		switch {
		case i < len(base):
			r = base[i]
		case i%4 < 2:
			r = fmt.Sprintf(`{id: cust-%d, match: {user_id: user-%d}, per: [user_id], algorithm: gcra, limit: 500, window: 1s}`, i, i)
		case i%4 == 2:
			r = fmt.Sprintf(`{id: ep-%d, match: {endpoint: /api/v%d/items}, per: [user_id, endpoint], algorithm: fixed_window, limit: 60, window: 1m}`, i, i)
		default:
			r = fmt.Sprintf(`{id: key-%d, match: {api_key: key-%d, method: GET}, per: [api_key], algorithm: sliding_window, limit: 1000, window: 1m}`, i, i)
		}
		fmt.Fprintln(w, "  - "+r)
	}
}
