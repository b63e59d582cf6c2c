package rules

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/rlserver/rlserver/engine"
)

// t0 is an hour boundary, so fixed windows of a minute, 15 minutes and
// an hour all start there.
const t0 = int64(1_699_999_200) * 1e9

func newEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := Open(Config{Counters: engine.NewStore(16), Path: filepath.Join(t.TempDir(), "rules.db"), MaxLogLimit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// mustRule creates a rule from JSON.
func mustRule(t testing.TB, e *Engine, js string) Rule {
	t.Helper()
	var spec RuleSpec
	if err := strictJSON([]byte(js), &spec); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	r, err := e.CreateRule(&spec, "test", t0)
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return r
}

// step is one row of a check script: n identical requests at t0+at, each
// expected to be decided as stated (remaining is checked on the last).
type step struct {
	at        time.Duration
	req       Request
	n         int
	allowed   bool
	rule      string // deciding rule id ("" = none)
	limit     int64  // 0: do not check
	remaining *int64 // nil: do not check
	retry     *int64 // nil: do not check
	reason    string
}

func p(v int64) *int64 { return &v }

func runSteps(t *testing.T, e *Engine, steps []step) {
	t.Helper()
	var d Decision
	for i, s := range steps {
		n := max(s.n, 1)
		for j := range n {
			q := s.req
			if err := q.Prepare(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if err := e.Check(&q, t0+int64(s.at), &d, CheckOptions{}); err != nil {
				t.Fatalf("step %d request %d: %v", i, j, err)
			}
			id := ""
			if d.Rule != nil {
				id = d.Rule.ID
			}
			if d.Allowed != s.allowed || id != s.rule {
				t.Fatalf("step %d request %d/%d %+v: allowed=%v rule=%q reason=%s (remaining %d); want allowed=%v rule=%q",
					i, j+1, n, s.req, d.Allowed, id, d.Reason, d.Remaining, s.allowed, s.rule)
			}
		}
		if s.limit != 0 && d.Limit != s.limit {
			t.Errorf("step %d: limit %d, want %d", i, d.Limit, s.limit)
		}
		if s.remaining != nil && d.Remaining != *s.remaining {
			t.Errorf("step %d: remaining %d, want %d", i, d.Remaining, *s.remaining)
		}
		if s.retry != nil && d.RetryAfter != *s.retry {
			t.Errorf("step %d: retry_after %d, want %d", i, d.RetryAfter, *s.retry)
		}
		if s.reason != "" && d.Reason != s.reason {
			t.Errorf("step %d: reason %s, want %s", i, d.Reason, s.reason)
		}
	}
}

func dump(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func engineHash(k []byte) uint64 { return engine.Hash(k) }
