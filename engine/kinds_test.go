package engine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestKindCountsMatchWalk drives a shard through every way a key is
// created, retyped, expired, swept, deleted and cleared, and checks the
// per-kind counts against a walk of the records after each step.
func TestKindCountsMatchWalk(t *testing.T) {
	st := NewStore(1)
	sh := st.Shard(0)
	rng := rand.New(rand.NewPCG(3, 4))
	now := int64(1000)
	kinds := []Kind{KindString, KindGCRA, KindSlidingWindow, KindSlidingLog, KindFixedWindow}
	check := func(step int) {
		t.Helper()
		var walk [NumKinds]int
		for i := uint32(0); i < sh.nrec; i++ {
			if r := sh.rec(i); r.kind != KindNone {
				walk[r.kind]++
			}
		}
		got := sh.KindCounts()
		if got[KindNone] != 0 {
			t.Fatalf("step %d: %d records without a kind", step, got[KindNone])
		}
		if got != walk {
			t.Fatalf("step %d: KindCounts %v, walk %v", step, got, walk)
		}
		total := 0
		for _, n := range got {
			total += n
		}
		if total != sh.Len() {
			t.Fatalf("step %d: kinds sum to %d, Len %d", step, total, sh.Len())
		}
	}
	for i := range 20_000 {
		k := []byte(fmt.Sprintf("k%d", rng.IntN(300)))
		h := Hash(k)
		exp := int64(0)
		if rng.IntN(2) == 0 {
			exp = now + int64(rng.IntN(20)+1)
		}
		switch op := rng.IntN(12); op {
		case 0, 1:
			sh.SetString(h, k, []byte("v"), exp, now)
		case 2, 3:
			if rng.IntN(2) == 0 {
				sh.SetInt(h, k, KindGCRA, 7, exp, now)
			} else {
				// Replaced, never updated in place: r is nil.
				sh.putWindow(h, k, nil, []Kind{KindSlidingWindow, KindFixedWindow}[rng.IntN(2)], WindowState{EmptyAtMs: exp}, now)
			}
		case 4:
			sh.Restore(h, k, Entry{Kind: kinds[rng.IntN(len(kinds))], Int: 1, Bytes: []byte("x"), Log: []int64{1}, ExpireMs: exp}, now)
		case 5:
			sh.putLog(h, k, []int64{now}, exp, now)
		case 6, 7:
			sh.Delete(h, k, now)
		case 8:
			sh.Get(h, k, now) // lazy expiry
		case 9:
			sh.Sweep(now, 16, nil)
		case 10:
			now += int64(rng.IntN(5))
		case 11:
			if rng.IntN(200) == 0 {
				sh.Clear()
			}
		}
		check(i)
	}
}

// TestKindAssignedOnlyBySetKind keeps the per-kind counts honest: any
// other assignment to a record's kind would bypass them.
func TestKindAssignedOnlyBySetKind(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	assign := regexp.MustCompile(`\.kind\s*(,[^=]*)?=[^=]`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(src), "\n") {
			if assign.MatchString(line) && strings.TrimSpace(line) != "r.kind = k" {
				t.Errorf("%s:%d assigns a record's kind outside setKind: %s", f, n+1, strings.TrimSpace(line))
			}
		}
	}
}
