package tests

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var updateInfo = flag.Bool("update-info", false, "rewrite testdata/info-redis7.golden from a live redis-server")

const infoGolden = "testdata/info-redis7.golden"

// infoSections parses INFO text into sections in order, each an ordered
// list of "key:value" lines.
func parseInfo(text string) (order []string, sections map[string][][2]string) {
	sections = map[string][][2]string{}
	cur := ""
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# "):
			cur = line[2:]
			order = append(order, cur)
			sections[cur] = nil
		case line == "":
		default:
			k, v, _ := strings.Cut(line, ":")
			sections[cur] = append(sections[cur], [2]string{k, v})
		}
	}
	return order, sections
}

// valueClass names the shape of an INFO value, so that fields are compared
// by format, not by value.
func valueClass(v string) string {
	switch {
	case regexp.MustCompile(`^-?\d+$`).MatchString(v):
		return "int"
	case regexp.MustCompile(`^-?\d+\.\d+$`).MatchString(v):
		return fmt.Sprintf("float%d", len(v)-strings.IndexByte(v, '.')-1)
	case regexp.MustCompile(`^\d+(\.\d+)?[BKMGT]$`).MatchString(v):
		return "human"
	case regexp.MustCompile(`^\d+\.\d\d%$`).MatchString(v):
		return "perc"
	}
	return "str"
}

// Lines of the sections whose keys depend on what ran.
var dynamicInfo = map[string]*regexp.Regexp{
	"Commandstats": regexp.MustCompile(`^cmdstat_[a-z.|_-]+:calls=\d+,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=\d+,failed_calls=\d+$`),
	"Errorstats":   regexp.MustCompile(`^errorstat_[A-Za-z]+:count=\d+$`),
	"Latencystats": regexp.MustCompile(`^latency_percentiles_usec_[a-z.|_-]+:p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}$`),
	"Keyspace":     regexp.MustCompile(`^db0:keys=\d+,expires=\d+,avg_ttl=\d+$`),
}

var infoWorkload = [][]string{
	{"SET", "k", "1", "EX", "100"},
	{"GET", "k"},
	{"NOSUCHCOMMAND"},
	{"INCR", "k"},
	{"INCRBY", "k"},
}

func infoOf(t *testing.T, rc *rawConn, args ...string) string {
	t.Helper()
	v, err := rc.do(append([]string{"INFO"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := v.(bulk)
	if !ok {
		t.Fatalf("INFO %v = %T %v", args, v, v)
	}
	return string(s)
}

// TestInfoMatchesRedis7 holds INFO everything to Redis 7.0's field names
// and formats, section by section (golden file from redis-server 7.0.15;
// go test ./tests -run TestInfoMatchesRedis7 -update-info rewrites it).
func TestInfoMatchesRedis7(t *testing.T) {
	t.Parallel()
	if *updateInfo {
		rc := startRedisRef(t)
		rc.pipeline(infoWorkload...)
		order, secs := parseInfo(infoOf(t, rc, "everything"))
		var b strings.Builder
		b.WriteString("# INFO everything of redis-server " + "7.0.15: section, then field and value class per line\n")
		for _, name := range order {
			b.WriteString("# " + name + "\n")
			if dynamicInfo[name] != nil {
				continue
			}
			for _, kv := range secs[name] {
				b.WriteString(kv[0] + " " + valueClass(kv[1]) + "\n")
			}
		}
		if err := os.WriteFile(infoGolden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden, err := os.ReadFile(infoGolden)
	if err != nil {
		t.Fatal(err)
	}
	var wantOrder []string
	wantFields := map[string][][2]string{}
	for _, line := range strings.Split(string(golden), "\n")[1:] {
		if name, ok := strings.CutPrefix(line, "# "); ok {
			wantOrder = append(wantOrder, name)
			continue
		}
		if k, class, ok := strings.Cut(line, " "); ok {
			sec := wantOrder[len(wantOrder)-1]
			wantFields[sec] = append(wantFields[sec], [2]string{k, class})
		}
	}

	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	rc.pipeline(infoWorkload...)
	order, secs := parseInfo(infoOf(t, rc, "everything"))
	if !slices.Equal(order, wantOrder) {
		t.Fatalf("sections %v, Redis 7 has %v", order, wantOrder)
	}
	for _, name := range order {
		if re := dynamicInfo[name]; re != nil {
			if len(secs[name]) == 0 {
				t.Errorf("# %s is empty after a workload", name)
			}
			for _, kv := range secs[name] {
				if line := kv[0] + ":" + kv[1]; !re.MatchString(line) {
					t.Errorf("# %s: %q does not match Redis's format %s", name, line, re)
				}
			}
			continue
		}
		got := map[string]string{}
		var gotKeys []string
		for _, kv := range secs[name] {
			got[kv[0]] = kv[1]
			gotKeys = append(gotKeys, kv[0])
		}
		prev := -1
		for _, w := range wantFields[name] {
			v, ok := got[w[0]]
			if !ok {
				t.Errorf("# %s lacks %s", name, w[0])
				continue
			}
			if c := valueClass(v); c != w[1] && !(w[1] == "str" && v != "") && !(w[1] == "str" && c != "") {
				t.Errorf("# %s %s:%s is %s, Redis prints %s", name, w[0], v, c, w[1])
			}
			// Redis's fields come first, in Redis's order.
			if i := slices.Index(gotKeys, w[0]); i < prev {
				t.Errorf("# %s %s is out of Redis's order", name, w[0])
			} else {
				prev = i
			}
		}
	}
	for _, want := range []string{"cmdstat_set:calls=1,", "cmdstat_incrby:calls=0,", "rejected_calls=1,failed_calls=0", "errorstat_ERR:count=2", "latency_percentiles_usec_get:p50="} {
		if !strings.Contains(infoOf(t, rc, "everything"), want) {
			t.Errorf("INFO everything lacks %q", want)
		}
	}
}

// TestInfoSectionSelection compares which sections each INFO argument
// selects with a live Redis 7.
func TestInfoSectionSelection(t *testing.T) {
	t.Parallel()
	ref := startRedisRef(t)
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	ref.pipeline(infoWorkload...)
	rc.pipeline(infoWorkload...)
	for _, args := range [][]string{nil, {"default"}, {"all"}, {"everything"}, {"commandstats"}, {"SERVER", "clients"},
		{"latencystats", "errorstats"}, {"nosuch"}, {"keyspace"}, {"default", "commandstats"}} {
		want, _ := parseInfo(infoOf(t, ref, args...))
		got, _ := parseInfo(infoOf(t, rc, args...))
		if !slices.Equal(got, want) {
			t.Errorf("INFO %v: sections %v, Redis 7: %v", args, got, want)
		}
	}
}

// TestRedisCLIStat runs redis-cli --stat against the server: it reads
// keys, memory, clients and request counts from INFO every interval.
func TestRedisCLIStat(t *testing.T) {
	t.Parallel()
	cli := requireTool(t, "redis-cli")
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	rc.pipeline([]string{"CL.THROTTLE", "a", "1", "1", "60"}, []string{"CL.THROTTLE", "b", "1", "1", "60"})
	out, err := exec.Command("timeout", "2", "stdbuf", "-oL", cli, "-p", srv.Port, "--stat", "-i", "0.1").CombinedOutput()
	// --stat runs until stopped: timeout ends it (exit 124).
	if err != nil && !strings.Contains(err.Error(), "124") {
		t.Fatalf("redis-cli --stat: %v\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) < 3 || !strings.Contains(string(out), "keys") || !strings.Contains(string(out), "requests") {
		t.Fatalf("redis-cli --stat output:\n%s", out)
	}
	// Data lines: keys, mem, clients, blocked, requests, connections.
	re := regexp.MustCompile(`^(\d+)\s+\S+\s+(\d+)\s+0\s+\d+ \(\+\d+\)\s+\d+`)
	n := 0
	for _, l := range lines[1:] {
		if m := re.FindStringSubmatch(l); m != nil {
			n++
			if m[1] != "2" || m[2] != "2" {
				t.Errorf("keys %s clients %s in %q, want 2 and 2", m[1], m[2], l)
			}
		}
	}
	if n == 0 {
		t.Fatalf("no data line in redis-cli --stat output:\n%s", out)
	}
}

// TestRedisExporter scrapes the server through Debian's redis_exporter,
// which reads INFO, commandstats, latencystats and LATENCY like Redis's.
func TestRedisExporter(t *testing.T) {
	t.Parallel()
	exporter := requireTool(t, "prometheus-redis-exporter")
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	rc.pipeline([]string{"CL.THROTTLE", "a", "1", "1", "60"}, []string{"CL.THROTTLE", "b", "1", "1", "60"}, []string{"NOSUCH"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(exporter, "--redis.addr=redis://"+srv.Addr, "--web.listen-address="+addr)
	var logs logBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis_exporter did not serve: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		"\nredis_up 1\n",
		`redis_commands_total{cmd="cl.throttle"} 2`,
		`redis_db_keys{db="db0"} 2`,
		`redis_errors_total{err="ERR"} 1`,
		`redis_latency_percentiles_usec_count{cmd="cl.throttle"} 2`,
		`redis_exporter_last_scrape_error{err=""} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("redis_exporter output lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), "unknown command") {
		t.Errorf("redis_exporter sent a command rlserver does not know:\n%s", logs.String())
	}
}

func TestInfoCountsCachedScripts(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	rc := newRaw(dial(t, srv.Addr))
	if _, err := rc.do("SCRIPT", "LOAD", "return 1"); err != nil {
		t.Fatal(err)
	}
	if got := infoField(t, rc, "memory", "number_of_cached_scripts"); got != "1" {
		t.Errorf("number_of_cached_scripts = %q, want 1", got)
	}
}
