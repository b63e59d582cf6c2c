package tests

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"reflect"
	"sync"
	"testing"
	"time"
)

// TestPythonLimits drives Python's limits library (Debian python3-limits
// 2.8: fixed window, fixed window with elastic expiry, moving window, its
// Lua scripts over INCRBY/EXPIRE and LPUSH/LTRIM/LINDEX/LRANGE, and
// clear_keys' KEYS and DEL) and Flask-Limiter 3.3 (each strategy behind a
// Flask route) against rlserver and Redis 7 at the same time, and requires
// the same decisions from both and the ones the limits promise.
func TestPythonLimits(t *testing.T) {
	t.Parallel()
	requireTool(t, "/usr/bin/python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import limits, flask_limiter").Run(); err != nil {
		requireTool(t, "python3-limits and python3-flask-limiter (Debian packages)")
	}
	srv := startServer(t)
	ref := startRedis(t)
	prefix := fmt.Sprint("t", time.Now().UnixNano())
	run := func(port string) map[string]any {
		out, err := exec.Command("/usr/bin/python3", "py/limits_lib.py", port, prefix).Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Errorf("limits_lib.py on port %s: %v\n%s%s", port, err, out, stderr)
			return nil
		}
		var m map[string]any
		if err := json.Unmarshal(out, &m); err != nil {
			t.Errorf("%v in %q", err, out)
		}
		return m
	}
	var theirs map[string]any
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		theirs = run(ref.Port)
	}()
	ours := run(srv.Port)
	wg.Wait()
	if t.Failed() {
		return
	}
	if !reflect.DeepEqual(ours, theirs) {
		t.Fatalf("rlserver and Redis differ:\n  rlserver: %v\n  redis:    %v", ours, theirs)
	}
	if ours["version"] != "2.8.0" || ours["check"] != true {
		t.Errorf("limits %v, storage check %v", ours["version"], ours["check"])
	}
	for _, name := range []string{"fixed-window", "fixed-window-elastic-expiry", "moving-window"} {
		res, _ := ours[name].(map[string]any)
		seq, _ := res["seq"].([]any)
		allowed := 0
		for _, step := range seq {
			if s, _ := step.([]any); len(s) > 0 && s[0] == true {
				allowed++
			}
		}
		if allowed != 5 || len(seq) != 7 {
			t.Errorf("%s: %d of %d sequential calls allowed at 5 per window", name, allowed, len(seq))
		}
		if res["concurrent"] != float64(10) {
			t.Errorf("%s: %v of 50 concurrent callers admitted at 10 per minute", name, res["concurrent"])
		}
		if !reflect.DeepEqual(res["before"], []any{true, true, false}) || res["after"] != true || res["afterClear"] != true {
			t.Errorf("%s: expiry %v then %v, after clear %v", name, res["before"], res["after"], res["afterClear"])
		}
		calls, _ := ours["flask:"+name].([]any)
		var codes []any
		for _, c := range calls {
			if c, _ := c.([]any); len(c) > 0 {
				codes = append(codes, c[0])
			}
		}
		if !reflect.DeepEqual(codes, []any{200.0, 200.0, 200.0, 429.0, 429.0, 200.0}) {
			t.Errorf("Flask-Limiter %s: status codes %v (3 per 10 s, then reset)", name, codes)
		}
	}
}
