package server

import (
	"net"
	"strconv"
	"testing"
)

// The tracking table stays within its bound however many keys are read,
// invalidating the keys it drops.
func TestTrackingTableIsBounded(t *testing.T) {
	tr := newTracker(100)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	pushes := make(chan int, 1)
	go func() {
		n := 0
		buf := make([]byte, 1<<16)
		for {
			m, err := b.Read(buf)
			if err != nil {
				pushes <- n
				return
			}
			n += m
		}
	}()
	c := &Client{conn: &netConn{nc: a}, track: trackingState{on: true}}
	tr.clients.Add(1)
	for i := range 10_000 {
		tr.remember([]byte("k"+strconv.Itoa(i)), c)
		if len(tr.keys) > 100 {
			t.Fatalf("table holds %d keys, bound 100", len(tr.keys))
		}
	}
	a.Close()
	if got := <-pushes; got == 0 {
		t.Fatal("keys dropped from the table were not invalidated")
	}
}
