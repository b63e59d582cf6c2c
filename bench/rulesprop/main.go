// Command rulesprop measures how long a rule change takes to reach the
// other nodes of a cluster: it creates rules through the admin API of
// each node in turn and polls the others' GET /v1/admin/rules/{id} (every
// millisecond, keep-alive connections) until they have it. Each sample
// is timed from the creating node's acknowledgement (the change is then
// fsynced there) to the first 200 from the other node.
//
//	rulesprop -token T -n 60 127.0.0.1:8081 127.0.0.1:8082 127.0.0.1:8083
//
// It prints the acknowledgement latency and the propagation time
// (p50, p90, p99, max over every (change, other node) pair).
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	token := flag.String("token", "", "admin bearer token")
	n := flag.Int("n", 60, "rules to create (round-robin over the nodes)")
	prefix := flag.String("prefix", fmt.Sprintf("prop-%d-", time.Now().UnixNano()), "rule id prefix")
	timeout := flag.Duration("timeout", 30*time.Second, "give up on a change after this long")
	flag.Parse()
	nodes := flag.Args()
	if len(nodes) < 2 || *token == "" {
		fmt.Fprintln(os.Stderr, "usage: rulesprop -token T [-n N] http-addr http-addr [...]")
		os.Exit(2)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	do := func(method, addr, path, body string) (int, error) {
		req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+*token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var acks, props []time.Duration
	for i := range *n {
		from := nodes[i%len(nodes)]
		id := fmt.Sprintf("%s%d", *prefix, i)
		start := time.Now()
		code, err := do("POST", from, "/v1/admin/rules", fmt.Sprintf(`{"id":%q,"per":["user_id"],"limit":10,"window":"1m"}`, id))
		if err != nil || code != 201 {
			fmt.Fprintf(os.Stderr, "create %s on %s: %d %v\n", id, from, code, err)
			os.Exit(1)
		}
		acked := time.Now()
		acks = append(acks, acked.Sub(start))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, to := range nodes {
			if to == from {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(acked) < *timeout {
					if code, _ := do("GET", to, "/v1/admin/rules/"+id, ""); code == 200 {
						mu.Lock()
						props = append(props, time.Since(acked))
						mu.Unlock()
						return
					}
					time.Sleep(time.Millisecond)
				}
				fmt.Fprintf(os.Stderr, "%s never reached %s\n", id, to)
				os.Exit(1)
			}()
		}
		wg.Wait()
	}
	fmt.Printf("ack   %s\n", summary(acks))
	fmt.Printf("reach %s\n", summary(props))
}

func summary(d []time.Duration) string {
	slices.Sort(d)
	q := func(p float64) string {
		return d[min(len(d)-1, int(p*float64(len(d))))].Round(100 * time.Microsecond).String()
	}
	return fmt.Sprintf("n=%d p50=%s p90=%s p99=%s max=%s", len(d), q(0.5), q(0.9), q(0.99), d[len(d)-1].Round(100*time.Microsecond))
}
