package server

import (
	"bytes"
	"strconv"
	"sync"
	"testing"
)

// keyIn returns a key that lives in shard i.
func keyIn(s *Server, i int) []byte {
	for n := 0; ; n++ {
		k := []byte("k" + strconv.Itoa(n))
		if s.store.ShardIndex(s.locksHash(k)) == i {
			return k
		}
	}
}

func (s *Server) locksHash(k []byte) uint64 { var ls lockSet; return ls.hash(k) }

// A command that needs a shard outside its client's lock set never runs
// unlocked and never waits out of order: above the set it waits (order is
// kept), below it it takes the shard only if it is free, else it is
// refused.
func TestLockSetOrder(t *testing.T) {
	s, c := testServer(t) // 4 shards
	get := s.lookup([]byte("get"))
	run := func(key []byte) string {
		c.out = c.out[:0]
		s.call(c, get, [][]byte{[]byte("GET"), key}, s.clock.Now())
		return string(c.out)
	}
	s.acquire(c, []int{2}, nil)
	if got := run(keyIn(s, 0)); got != "$-1\r\n" {
		t.Fatalf("GET of a free shard below the set: %q", got)
	}
	other := s.store.Shard(0)
	other.Lock()
	if got := run(keyIn(s, 0)); got != "-"+errLockRefused+"\r\n" {
		t.Fatalf("GET of a busy shard below the set: %q", got)
	}
	other.Unlock()
	// Above the set: waits for the shard, which another goroutine frees.
	high := s.store.Shard(3)
	high.Lock()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); high.Unlock() }()
	if got := run(keyIn(s, 3)); got != "$-1\r\n" {
		t.Fatalf("GET of a shard above the set: %q", got)
	}
	wg.Wait()
	if len(c.locks.temp) != 0 {
		t.Fatalf("temporary locks left: %v", c.locks.temp)
	}
	s.release(c)
	for i := range s.store.NumShards() {
		if !s.store.Shard(i).TryLock() {
			t.Fatalf("shard %d still locked", i)
		}
		s.store.Shard(i).Unlock()
	}
}

// probeConn records what a client is sent and, at each kick, whether any
// shard was locked (a push must never be delivered under a shard lock).
type probeConn struct {
	s         *Server
	mu        sync.Mutex
	writes    [][]byte
	kicks     int
	sawLocked bool
}

func (p *probeConn) write(b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writes = append(p.writes, append([]byte(nil), b...))
	return nil
}
func (p *probeConn) pending() int { return 0 }
func (p *probeConn) close()       {}
func (p *probeConn) kick(c *Client) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.kicks++
	for i := range p.s.store.NumShards() {
		sh := p.s.store.Shard(i)
		if !sh.TryLock() {
			p.sawLocked = true
			continue
		}
		sh.Unlock()
	}
}

func trackingClient(t *testing.T, s *Server) (*Client, *probeConn) {
	p := &probeConn{s: s}
	c := s.newClient(p, "probe", "probe", -1)
	for _, cmd := range [][]string{{"HELLO", "3"}, {"CLIENT", "TRACKING", "ON"}, {"GET", "k"}} {
		c.out = c.out[:0]
		s.execute(c, toBytes(cmd))
	}
	return c, p
}

// FLUSHALL inside EXEC invalidates after EXEC has released every shard.
func TestFlushInsideExecInvalidatesUnlocked(t *testing.T) {
	s, w := testServer(t)
	_, p := trackingClient(t, s)
	for _, cmd := range [][]string{{"MULTI"}, {"FLUSHALL"}, {"EXEC"}} {
		s.execute(w, toBytes(cmd))
	}
	if p.kicks != 1 || p.sawLocked {
		t.Fatalf("kicks %d, delivered under a shard lock: %v", p.kicks, p.sawLocked)
	}
}

// A push for a client running a batch waits for the batch's replies.
func TestPushWaitsForBatch(t *testing.T) {
	s, w := testServer(t)
	r, p := trackingClient(t, s)
	r.begin()
	r.out = append(r.out[:0], "+REPLY\r\n"...)
	s.execute(w, toBytes([]string{"SET", "k", "1"}))
	if p.kicks != 0 {
		t.Fatal("a busy client was kicked")
	}
	if err := r.flush(true); err != nil {
		t.Fatal(err)
	}
	want := "+REPLY\r\n" + string(appendInvalidate(nil, []byte("k")))
	if len(p.writes) != 1 || !bytes.Equal(p.writes[0], []byte(want)) {
		t.Fatalf("writes %q, want %q", p.writes, want)
	}
}
