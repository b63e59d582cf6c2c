package tests

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// slowArgs returns the arguments of the newest SLOWLOG entry.
func slowArgs(t *testing.T, rc *rawConn) []any {
	t.Helper()
	v, err := rc.do("SLOWLOG", "GET", "1")
	if err != nil {
		t.Fatal(err)
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 1 {
		t.Fatalf("SLOWLOG GET 1 = %v", v)
	}
	e := arr[0].([]any)
	if len(e) != 6 {
		t.Fatalf("entry %v: want 6 fields", e)
	}
	return e[3].([]any)
}

// TestSlowlogLikeRedis runs the same SLOWLOG script against rlserver and
// Redis 7 and compares everything but ids, times and addresses.
func TestSlowlogLikeRedis(t *testing.T) {
	t.Parallel()
	ref := startRedisRef(t)
	srv := startServer(t, "--slowlog-log-slower-than", "0", "--slowlog-max-len", "3")
	rc := newRaw(dial(t, srv.Addr))
	if _, err := ref.do("CONFIG", "SET", "slowlog-log-slower-than", "0", "slowlog-max-len", "3"); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 200)
	del := []string{"DEL"}
	for i := range 40 {
		del = append(del, "k"+strconv.Itoa(i))
	}
	for _, step := range [][]string{
		{"SLOWLOG", "RESET"},
		{"SET", "a", "1"},
		{"@args"},
		{"ECHO", long},
		{"@args"},
		del,
		{"@args"},
		{"SLOWLOG", "LEN"},
		{"SLOWLOG", "GET", "-2"},
		{"SLOWLOG", "GET", "x"},
		{"SLOWLOG", "NOPE"},
		{"SLOWLOG", "HELP"},
		{"SLOWLOG", "RESET"},
		{"SLOWLOG", "LEN"},
		{"CONFIG", "SET", "slowlog-log-slower-than", "-1"},
		{"SLOWLOG", "RESET"},
		{"SET", "b", "2"},
		{"SLOWLOG", "LEN"},
		{"CONFIG", "GET", "slowlog-max-len"},
	} {
		if step[0] == "@args" {
			if got, want := slowArgs(t, rc), slowArgs(t, ref); !reflect.DeepEqual(got, want) {
				t.Errorf("logged arguments %v, Redis logs %v", got, want)
			}
			continue
		}
		got, gerr := rc.do(step...)
		want, werr := ref.do(step...)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Errorf("%v = %v %v, Redis: %v %v", step, got, gerr, want, werr)
		}
	}
}

func TestLatencyMonitor(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--latency-monitor-threshold", "1")
	rc := newRaw(dial(t, srv.Addr))
	if v, _ := rc.do("LATENCY", "LATEST"); !reflect.DeepEqual(v, []any{}) {
		t.Fatalf("LATENCY LATEST before any spike = %v", v)
	}
	// A command that takes well over a millisecond: KEYS over 50,000 keys.
	var cmds [][]string
	for i := range 50_000 {
		cmds = append(cmds, []string{"SET", "key:" + strconv.Itoa(i), "v"})
	}
	if _, err := rc.pipeline(cmds...); err != nil {
		t.Fatal(err)
	}
	if v, err := rc.do("KEYS", "*"); err != nil || len(v.([]any)) != 50_000 {
		t.Fatalf("KEYS: %v", err)
	}
	v, _ := rc.do("LATENCY", "LATEST")
	var found bool
	for _, e := range v.([]any) {
		ev := e.([]any)
		if ev[0] == bulk("command") {
			found = true
			if ev[2].(int64) < 1 || ev[3].(int64) < ev[2].(int64) {
				t.Errorf("command event %v: latest and max in ms, max >= latest >= 1", ev)
			}
		}
	}
	if !found {
		t.Fatalf("LATENCY LATEST = %v, want a command event", v)
	}
	if h, _ := rc.do("LATENCY", "HISTORY", "command"); len(h.([]any)) == 0 {
		t.Errorf("LATENCY HISTORY command = %v", h)
	}
	if n, _ := rc.do("LATENCY", "RESET", "command", "nosuch"); n != int64(1) {
		t.Errorf("LATENCY RESET command nosuch = %v, want 1", n)
	}
	if h, _ := rc.do("LATENCY", "HISTORY", "command"); len(h.([]any)) != 0 {
		t.Errorf("after RESET, HISTORY = %v", h)
	}
	// The per-command histogram: SET was called 50,000 times.
	hv, _ := rc.do("LATENCY", "HISTOGRAM", "set")
	m := hv.([]any)
	if len(m) != 2 || m[0] != bulk("set") {
		t.Fatalf("LATENCY HISTOGRAM set = %v", hv)
	}
	body := m[1].([]any)
	if body[0] != bulk("calls") || body[1] != int64(50_000) || body[2] != bulk("histogram_usec") {
		t.Fatalf("histogram body %v", body)
	}
	buckets := body[3].([]any)
	if last := buckets[len(buckets)-1]; last != int64(50_000) {
		t.Errorf("cumulative histogram ends at %v, want 50000", last)
	}
	if v, _ := rc.do("LATENCY", "NOPE"); v != respError("ERR unknown subcommand 'NOPE'. Try LATENCY HELP.") {
		t.Errorf("LATENCY NOPE = %v", v)
	}
	if v, _ := rc.do("LATENCY", "HISTORY"); v != respError("ERR wrong number of arguments for 'latency|history' command") {
		t.Errorf("LATENCY HISTORY = %v", v)
	}
}
