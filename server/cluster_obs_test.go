package server

import (
	"net"
	"testing"
	"time"

	"github.com/rlserver/rlserver/metrics"
	"github.com/rlserver/rlserver/peer"
)

// kickConn signals when a client's late replies are ready.
type kickConn struct{ kicked chan struct{} }

func (k *kickConn) write([]byte) error { return nil }
func (k *kickConn) pending() int       { return 0 }
func (k *kickConn) close()             {}
func (k *kickConn) kick(*Client) {
	select {
	case k.kicked <- struct{}{}:
	default:
	}
}

// movedPeer answers every command with RLMOVED to itself: tables that
// keep disagreeing.
func movedPeer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	moved := "-RLMOVED 7 " + ln.Addr().String() + "\r\n"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var buf []byte
				b := make([]byte, 4096)
				for {
					n, err := c.Read(b)
					if err != nil {
						return
					}
					buf = append(buf, b[:n]...)
					var out []byte
					for {
						m, _ := peer.FrameLen(buf)
						if m == 0 {
							break
						}
						buf = buf[m:]
						out = append(out, moved...)
					}
					c.Write(out)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// A command redirected more than peer.MaxHops times is answered TRYAGAIN
// and counted as a redirect loop; every hop's reply was timed.
func TestRedirectLoopCounted(t *testing.T) {
	s, _ := testServer(t)
	addr := movedPeer(t)
	s.cl = &cluster{peers: map[string]*peer.Client{}, cfg: ClusterConfig{ForwardTimeout: 5 * time.Second}}
	t.Cleanup(func() {
		for _, p := range s.cl.peers {
			p.Close()
		}
	})
	kc := &kickConn{kicked: make(chan struct{}, 1)}
	c := s.newClient(kc, "probe", "probe", -1)
	args := toBytes([]string{"CL.THROTTLE", "k", "1", "1", "1"})
	f := &fwdReply{s: s, c: c, slot: 7, resp: 2, args: copyArgs(args), hops: 1, addr: addr}
	s.hold(c, f)
	p := s.cl.peerFor(addr)
	p.Forward(0, 2, 1, "default", args, f)
	p.Flush()
	select {
	case <-kc.kicked:
	case <-time.After(10 * time.Second):
		t.Fatal("no reply")
	}
	c.outMu.Lock()
	got := string(c.ready)
	c.outMu.Unlock()
	if got != "-"+errTryAgain+"\r\n" {
		t.Fatalf("reply %q", got)
	}
	var st metrics.ClusterStats
	s.cl.obs.fill(&st)
	if st.ForwardErrors["redirect_loop"] != 1 {
		t.Errorf("errors %v", st.ForwardErrors)
	}
	if st.ForwardDuration.Count != peer.MaxHops {
		t.Errorf("%d round trips timed, want %d (one per hop)", st.ForwardDuration.Count, peer.MaxHops)
	}
	for r, n := range st.ForwardErrors {
		if r != "redirect_loop" && n != 0 {
			t.Errorf("%s: %d", r, n)
		}
	}
	if len(st.ForwardErrors) != len(metrics.ForwardErrorReasons) {
		t.Errorf("reasons %v, want %v", st.ForwardErrors, metrics.ForwardErrorReasons)
	}
	for i, name := range fwdReasonNames {
		if metrics.ForwardErrorReasons[i] != name {
			t.Errorf("reason %d: %s here, %s in metrics", i, name, metrics.ForwardErrorReasons[i])
		}
	}
}
