package tests

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Garbage sent to the gossip port (anyone who reaches it can send it,
// from any source address over UDP) neither stops the node nor floods its
// log: each kind of complaint is logged once a minute with a count. It
// used to log an error line per packet.
func TestGossipGarbageIsNotLoggedPerPacket(t *testing.T) {
	t.Parallel()
	n := startNode(t, "")
	before := strings.Count(n.logs.String(), "\n")
	u, err := net.Dial("udp", n.gossip)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	const packets = 2000
	for i := range packets {
		b := make([]byte, 1+i%1400)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		u.Write(b)
	}
	// TCP garbage too, each connection a different first byte.
	for i := range 50 {
		c, err := net.DialTimeout("tcp", n.gossip, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{byte(i), 0xff, 0xff, 0xff, 0xff, 1, 2, 3})
		c.Close()
	}
	waitLog(t, n.proc, "memberlist")
	rc := newRaw(dial(t, n.Addr))
	if got, err := rc.do("PING"); err != nil || got != status("PONG") {
		t.Fatalf("PING after gossip garbage: %v %v", got, err)
	}
	// Count once the node has read every datagram the kernel queued.
	_, port, _ := net.SplitHostPort(n.gossip)
	for deadline := time.Now().Add(10 * time.Second); udpQueued(t, port) > 0; {
		if time.Now().After(deadline) {
			t.Fatal("the node does not read its gossip port")
		}
		time.Sleep(10 * time.Millisecond) // polling the kernel's queue
	}
	if lines := strings.Count(n.logs.String(), "\n") - before; lines > 20 {
		t.Fatalf("%d log lines for %d garbage packets:\n%.3000s", lines, packets, n.logs.String())
	}
}

// udpQueued returns the bytes waiting in the receive queue of the UDP
// socket bound to 127.0.0.1:port. It reads /proc/thread-self/net/udp:
// /proc/net is the main thread's namespace, and a namespaced dialer in
// another test may have locked the main thread into its namespace.
func udpQueued(t *testing.T, port string) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/net/udp")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	local := fmt.Sprintf("0100007F:%04X", p)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[1] == local {
			_, rx, _ := strings.Cut(f[4], ":")
			n, _ := strconv.ParseInt(rx, 16, 64)
			return n
		}
	}
	t.Fatalf("no UDP socket on %s in /proc/thread-self/net/udp", local)
	return 0
}
