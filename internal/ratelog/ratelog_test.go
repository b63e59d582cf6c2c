package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiterSuppressesRepeats(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range 1000 {
		l.Warn("output-limit", "closing client", "bytes", 1)
	}
	l.Warn("other", "another kind")
	now = now.Add(59 * time.Second)
	l.Warn("output-limit", "closing client")
	now = now.Add(2 * time.Second)
	l.Warn("output-limit", "closing client")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	if strings.Contains(lines[0], "suppressed") || !strings.Contains(lines[1], "another kind") || !strings.Contains(lines[2], "suppressed=1000") {
		t.Fatalf("lines:\n%s", buf.String())
	}
}
