// Command slowclient measures what hostile slow clients cost the other
// clients of an rlserver (or a Redis) on this machine: a normal client's
// CL.THROTTLE latency and the server's RSS, first quiet, then while 4
// clients trickle huge multibulk requests and 100 clients pipeline
// commands without reading any reply.
//
//	go run ./bench/slowclient -addr 127.0.0.1:6379 -pid 1234
//
// It prints one Markdown table row per phase and fails (exit 1) when the
// attack's p99 exceeds 2x the quiet p99 or its peak RSS exceeds 2x the
// quiet RSS. bench/slowclient.sh starts the server and runs it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "server address")
	pid := flag.Int("pid", 0, "server process id (for RSS and CPU)")
	keys := flag.Int("keys", 100_000, "limiter keys loaded before measuring (a small deployment)")
	quiet := flag.Duration("quiet", 5*time.Second, "length of the quiet phase")
	attack := flag.Duration("attack", 15*time.Second, "length of the attack phase")
	tricklers := flag.Int("tricklers", 4, "clients trickling huge multibulks")
	pipeliners := flag.Int("pipeliners", 100, "clients pipelining without reading")
	rate := flag.Int("trickle-rate", 300<<10, "bytes per second each trickler sends")
	cmd := flag.String("cmd", "CL.THROTTLE", "the measured command (CL.THROTTLE, or SET for servers without it)")
	flag.Parse()
	if err := run(*addr, *pid, *keys, *quiet, *attack, *tricklers, *pipeliners, *rate, *cmd); err != nil {
		fmt.Fprintln(os.Stderr, "slowclient:", err)
		os.Exit(1)
	}
}

func request(cmd, key string) []byte {
	args := []string{"CL.THROTTLE", key, "1000000", "1000000", "60"}
	if cmd == "SET" {
		args = []string{"SET", key, "1"}
	}
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// readReply skips one RESP2 reply.
func readReply(r *bufio.Reader) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	switch line[0] {
	case '*':
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		for range n {
			if err := readReply(r); err != nil {
				return err
			}
		}
	case '$':
		n, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		if n >= 0 {
			if _, err := r.Discard(n + 2); err != nil {
				return err
			}
		}
	case '-':
		return fmt.Errorf("error reply %q", strings.TrimSpace(line))
	}
	return nil
}

func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func cpu(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// load creates n limiter keys through one pipelined connection.
func load(addr, cmd string, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 1<<16)
	for i := 0; i < n; i += 1000 {
		var batch []byte
		for j := i; j < min(i+1000, n); j++ {
			batch = append(batch, request(cmd, "load:"+strconv.Itoa(j))...)
		}
		if _, err := c.Write(batch); err != nil {
			return err
		}
		for j := i; j < min(i+1000, n); j++ {
			if err := readReply(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// measure runs request/response calls for d and returns their latencies.
func measure(addr, cmd string, d time.Duration) ([]time.Duration, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	var lat []time.Duration
	for i, end := 0, time.Now().Add(d); time.Now().Before(end); i++ {
		req := request(cmd, "normal:"+strconv.Itoa(i%1000))
		start := time.Now()
		c.SetDeadline(start.Add(30 * time.Second))
		if _, err := c.Write(req); err != nil {
			return lat, err
		}
		if err := readReply(r); err != nil {
			return lat, err
		}
		lat = append(lat, time.Since(start))
	}
	return lat, nil
}

func pct(lat []time.Duration, p float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// trickle sends a multibulk header announcing 1M arguments, then empty
// arguments at rate bytes/s, reconnecting whenever the server closes it.
func trickle(addr string, rate int, stop <-chan struct{}, sent *atomic.Int64, reconnects *atomic.Int64) {
	chunk := []byte(strings.Repeat("$0\r\n\r\n", 500)) // 3000 bytes
	every := time.Duration(float64(time.Second) * float64(len(chunk)) / float64(rate))
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		c.Write([]byte("*1048576\r\n"))
		t := time.NewTicker(every)
		for alive := true; alive; {
			select {
			case <-stop:
				t.Stop()
				c.Close()
				return
			case <-t.C:
				c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(chunk); err != nil {
					alive = false
					break
				}
				sent.Add(int64(len(chunk)))
			}
		}
		t.Stop()
		c.Close()
		reconnects.Add(1)
	}
}

// pipeline writes commands without ever reading a reply, until the
// server stops reading (its writes block) or stop.
func pipeline(addr, cmd string, id int, stop <-chan struct{}, sent *atomic.Int64) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return
	}
	defer c.Close()
	var batch []byte
	for j := range 200 {
		batch = append(batch, request(cmd, "pipe:"+strconv.Itoa(id)+":"+strconv.Itoa(j))...)
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := c.Write(batch)
		sent.Add(int64(n))
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue // the server has stopped reading us: keep pressing
			}
			return
		}
	}
}

func run(addr string, pid, keys int, quiet, attack time.Duration, tricklers, pipeliners, rate int, cmd string) error {
	if err := load(addr, cmd, keys); err != nil {
		return fmt.Errorf("loading keys: %w", err)
	}
	cpu0 := cpu(pid)
	qlat, err := measure(addr, cmd, quiet)
	if err != nil {
		return fmt.Errorf("quiet phase: %w", err)
	}
	quietCPU := cpu(pid) - cpu0
	quietRSS := rss(pid)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var trickled, pipelined, reconnects atomic.Int64
	for range tricklers {
		wg.Add(1)
		go func() { defer wg.Done(); trickle(addr, rate, stop, &trickled, &reconnects) }()
	}
	for i := range pipeliners {
		wg.Add(1)
		go func() { defer wg.Done(); pipeline(addr, cmd, i, stop, &pipelined) }()
	}
	var peak atomic.Int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if r := rss(pid); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	time.Sleep(time.Second) // let the attack build up before measuring
	cpu1 := cpu(pid)
	alat, err := measure(addr, cmd, attack)
	attackCPU := cpu(pid) - cpu1
	close(stop)
	wg.Wait()
	<-sampled
	if err != nil {
		return fmt.Errorf("attack phase: %w", err)
	}

	fmt.Println("| phase | calls | p50 | p99 | max | server CPU | RSS |")
	fmt.Println("|---|---|---|---|---|---|---|")
	fmt.Printf("| quiet | %d | %v | %v | %v | %.2f s / %v | %.1f MiB |\n", len(qlat), pct(qlat, .5), pct(qlat, .99), pct(qlat, 1),
		quietCPU.Seconds(), quiet, float64(quietRSS)/(1<<20))
	fmt.Printf("| attack | %d | %v | %v | %v | %.2f s / %v | %.1f MiB peak |\n", len(alat), pct(alat, .5), pct(alat, .99), pct(alat, 1),
		attackCPU.Seconds(), attack, float64(peak.Load())/(1<<20))
	fmt.Printf("\nattack: %d tricklers sent %.1f MB (%d reconnects after the server closed them), %d pipeliners sent %.1f MB\n",
		tricklers, float64(trickled.Load())/1e6, reconnects.Load(), pipeliners, float64(pipelined.Load())/1e6)
	p99ratio := float64(pct(alat, .99)) / float64(pct(qlat, .99))
	rssRatio := float64(peak.Load()) / float64(quietRSS)
	fmt.Printf("p99 ratio %.2f, RSS ratio %.2f (limits 2.00)\n", p99ratio, rssRatio)
	if p99ratio > 2 || rssRatio > 2 {
		return fmt.Errorf("over the limits")
	}
	return nil
}
