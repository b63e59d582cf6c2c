package tests

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestOutputLimitPubSubClass: a client with CLIENT TRACKING on is in the
// pubsub class. With the normal class unlimited and the pubsub class's
// hard limit at 64 KiB, a tracking client that stops reading while
// invalidations for its keys pile up is disconnected, on both I/O models,
// while the writer causing them is not.
func TestOutputLimitPubSubClass(t *testing.T) {
	t.Parallel()
	for _, model := range ioModels {
		t.Run(model, func(t *testing.T) {
			srv := startServer(t, "--io-model", model, "--client-output-buffer-limit", "normal 0 0 0 pubsub 64kb 0 0")
			tc := dial(t, srv.Addr)
			tr := newRaw(tc)
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := tr.do("HELLO", "3"); err != nil {
				t.Fatal(err)
			}
			if got, err := tr.do("CLIENT", "TRACKING", "on"); err != nil || got != status("OK") {
				t.Fatalf("CLIENT TRACKING on = %v %v", got, err)
			}
			// Track 1000 keys of 1 KiB: a megabyte of invalidations to come.
			const n = 1000
			key := func(i int) string {
				return strings.Repeat("k", 1000) + "-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
			}
			var gets [][]string
			for i := range n {
				gets = append(gets, []string{"GET", key(i)})
			}
			if _, err := tr.pipeline(gets...); err != nil {
				t.Fatal(err)
			}
			// tr reads no more; another client writes every key.
			w := newRaw(dial(t, srv.Addr))
			for i := 0; i < n; i += 100 {
				var sets [][]string
				for j := i; j < i+100; j++ {
					sets = append(sets, []string{"SET", key(j), "v"})
				}
				if _, err := w.pipeline(sets...); err != nil {
					t.Fatalf("the writer: %v", err)
				}
			}
			if got, err := w.do("PING"); err != nil || got != status("PONG") {
				t.Fatalf("the writer after the pushes: %v %v", got, err)
			}
			// The tracking client was closed: reading drains what the socket
			// held (less than the megabyte), then EOF.
			tc.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.Copy(io.Discard, bufio.NewReader(tc))
			if err != nil && !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("the tracking client was not closed: %v after %d bytes", err, got)
			}
			if got >= n*1000 {
				t.Fatalf("the tracking client received all %d bytes of invalidations", got)
			}
		})
	}
}
