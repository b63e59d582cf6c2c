package tests

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The conformance data: replies recorded from Redis 7.0.15 + redis-cell
// v0.5.0. See testdata/README for the format.
type compatFile struct {
	Scenarios []struct {
		Name  string       `json:"name"`
		Group string       `json:"group"`
		Steps []compatStep `json:"steps"`
	} `json:"scenarios"`
}

type compatStep struct {
	Cmd   []string        `json:"cmd"`
	Reply json.RawMessage `json:"reply"`
	Tol   map[string]any  `json:"tol"`
	Sleep float64         `json:"sleep"`
}

// TestConformanceRedisCell replays every recorded scenario against the real
// server and requires every reply to match (within the recorded
// tolerances for time-sensitive steps).
func TestConformanceRedisCell(t *testing.T) {
	raw, err := os.ReadFile("testdata/redis-cell.json")
	if err != nil {
		t.Fatal(err)
	}
	var data compatFile
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t)
	var rnd [6]byte
	rand.Read(rnd[:])
	prefix := "golden:" + hex.EncodeToString(rnd[:]) + ":"

	compared, skipped := 0, 0
	for _, sc := range data.Scenarios {
		if sc.Name == "extras/lua-call" {
			skipped++
			continue
		}
		rc := newRaw(dial(t, srv.Addr))
		if sc.Name == "keys/special-keys" {
			if _, err := rc.do("DEL", ""); err != nil {
				t.Fatal(err)
			}
		}
		steps := sc.Steps
		for len(steps) > 0 {
			n := 0
			for n < len(steps) && steps[n].Sleep == 0 {
				n++
			}
			batch := steps[:n]
			cmds := make([][]string, len(batch))
			for i, st := range batch {
				cmds[i] = substitute(st.Cmd, prefix)
			}
			if len(cmds) > 0 {
				replies, err := rc.pipeline(cmds...)
				if err != nil {
					t.Fatalf("%s: %v", sc.Name, err)
				}
				for i, st := range batch {
					if st.Tol["info_only"] == true {
						continue
					}
					compared++
					if msg := compare(replies[i], st); msg != "" {
						t.Errorf("%s step %v: %s", sc.Name, cmds[i], msg)
					}
				}
			}
			steps = steps[n:]
			if len(steps) > 0 {
				time.Sleep(time.Duration(steps[0].Sleep * float64(time.Second)))
				steps = steps[1:]
			}
		}
	}
	t.Logf("conformance: compared %d steps from %d scenarios (%d skipped scenarios)", compared, len(data.Scenarios)-skipped, skipped)
	if compared < 3000 {
		t.Fatalf("compared only %d steps", compared)
	}
}

func substitute(cmd []string, prefix string) []string {
	out := make([]string, len(cmd))
	for i, a := range cmd {
		a = strings.ReplaceAll(a, "{P}", prefix)
		if strings.Contains(a, "{NOW+120s as ns}") {
			a = strings.ReplaceAll(a, "{NOW+120s as ns}", strconv.FormatInt(time.Now().Add(120*time.Second).UnixNano(), 10))
		}
		out[i] = a
	}
	return out
}

// toJSONShape converts a reply into the data file's encoding.
func toJSONShape(v any) any {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case status:
		return map[string]any{"status": string(x)}
	case respError:
		return map[string]any{"error": string(x)}
	case bulk:
		return map[string]any{"bulk": string(x)}
	case null:
		return nil
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = toJSONShape(x[i])
		}
		return out
	}
	return fmt.Sprintf("unexpected %T", v)
}

func compare(got any, st compatStep) string {
	var want any
	if err := json.Unmarshal(st.Reply, &want); err != nil {
		return err.Error()
	}
	g := toJSONShape(got)
	// Integers beyond 2^53 lose precision as float64: compare them exactly.
	if gi, ok := got.(int64); ok {
		var wi int64
		if json.Unmarshal(st.Reply, &wi) == nil && st.Tol == nil {
			if gi != wi {
				return fmt.Sprintf("got %d, want %d", gi, wi)
			}
			return ""
		}
	}
	if ga, ok := got.([]any); ok && st.Tol == nil {
		var wa []json.Number
		if json.Unmarshal(st.Reply, &wa) == nil {
			return compareInts(ga, wa, nil)
		}
	}
	if st.Tol == nil {
		if !reflect.DeepEqual(g, want) {
			return fmt.Sprintf("got %v, want %v", g, want)
		}
		return ""
	}
	switch {
	case st.Tol["fields"] != nil:
		ga, ok := got.([]any)
		var wa []json.Number
		if !ok || json.Unmarshal(st.Reply, &wa) != nil {
			return fmt.Sprintf("got %v, want array %s", g, st.Reply)
		}
		return compareInts(ga, wa, st.Tol["fields"].(map[string]any))
	case st.Tol["abs"] != nil:
		gi, _ := got.(int64)
		w, _ := want.(float64)
		if math.Abs(float64(gi)-w) > st.Tol["abs"].(float64) {
			return fmt.Sprintf("got %v, want %v ± %v", g, want, st.Tol["abs"])
		}
	case st.Tol["range"] != nil:
		r := st.Tol["range"].([]any)
		gi, ok := got.(int64)
		if !ok || float64(gi) < r[0].(float64) || float64(gi) > r[1].(float64) {
			return fmt.Sprintf("got %v, want in %v", g, r)
		}
	case st.Tol["oneof"] != nil:
		for _, o := range st.Tol["oneof"].([]any) {
			if reflect.DeepEqual(g, o) {
				return ""
			}
		}
		return fmt.Sprintf("got %v, want one of %v", g, st.Tol["oneof"])
	case st.Tol["tat_offset_s"] != nil:
		r := st.Tol["tat_offset_s"].([]any)
		b, ok := got.(bulk)
		tat, err := strconv.ParseInt(string(b), 10, 64)
		if !ok || err != nil {
			return fmt.Sprintf("got %v, want a TAT", g)
		}
		off := float64(tat)/1e9 - float64(time.Now().UnixNano())/1e9
		if off < r[0].(float64) || off > r[1].(float64) {
			return fmt.Sprintf("TAT offset %.3fs not in %v", off, r)
		}
	default:
		return fmt.Sprintf("unknown tolerance %v", st.Tol)
	}
	return ""
}

func compareInts(got []any, want []json.Number, tol map[string]any) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %v, want %v", got, want)
	}
	for i := range want {
		gi, ok := got[i].(int64)
		wi, err := want[i].Int64()
		if !ok || err != nil {
			return fmt.Sprintf("element %d: got %v, want %v", i, got[i], want[i])
		}
		var slack int64
		if tol != nil {
			if s, ok := tol[strconv.Itoa(i)].(float64); ok {
				slack = int64(s)
			}
		}
		d := gi - wi
		if d < 0 {
			d = -d
		}
		if d > slack {
			return fmt.Sprintf("element %d: got %d, want %d (±%d); reply %v", i, gi, wi, slack, got)
		}
	}
	return ""
}
