package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoClockReads: the rules engine decides with the time it is given
// (the server's monotone clock), never its own.
func TestNoClockReads(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"time.Now", "time.Since", "time.Until"} {
			if strings.Contains(string(src), bad) {
				t.Errorf("%s calls %s", f, bad)
			}
		}
	}
}
