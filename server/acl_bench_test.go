package server

import (
	"runtime"
	"strconv"
	"syscall"
	"testing"
)

// threadCPU returns the calling thread's CPU time in ns (user+system),
// which, unlike wall time, does not grow while other processes run.
func threadCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// cpuLoop runs body b.N times on one locked thread and reports its CPU
// time per iteration as cpu-ns/op.
func cpuLoop(b *testing.B, body func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	start := threadCPU()
	n := 0
	for b.Loop() {
		body()
		n++
	}
	b.ReportMetric(float64(threadCPU()-start)/float64(n), "cpu-ns/op")
}

// The cost of ACL checks per command: the check alone for the default user
// (+@all ~*) and for a limiter-only user (+@limiter ~key:*), and one
// CL.THROTTLE through the dispatcher as each (compare with
// BenchmarkExecuteThrottle, which runs as the default user).

func aclBenchUser(b *testing.B, s *Server, c *Client) {
	b.Helper()
	if err := s.acl.SetUser("svc", []string{"on", ">pw", "~key:*", "+@limiter"}); err != nil {
		b.Fatal(err)
	}
	if !s.authenticate(c, []byte("AUTH"), []byte("svc"), []byte("pw")) {
		b.Fatal("auth failed")
	}
}

func BenchmarkACLCheck(b *testing.B) {
	for _, restricted := range []bool{false, true} {
		name := "default"
		if restricted {
			name = "limiter-user"
		}
		b.Run(name, func(b *testing.B) {
			s, c := testServer(b)
			if restricted {
				aclBenchUser(b, s, c)
			}
			cmd := s.lookup([]byte("CL.THROTTLE"))
			args := [][]byte{[]byte("CL.THROTTLE"), []byte("key:12345"), []byte("100"), []byte("1000"), []byte("60"), []byte("1")}
			cpuLoop(b, func() {
				if msg, _ := aclDenied(c.user.Load().User(), cmd, args); msg != "" {
					b.Fatal(msg)
				}
			})
		})
	}
}

func BenchmarkExecuteThrottleACL(b *testing.B) {
	for _, restricted := range []bool{false, true} {
		name := "default"
		if restricted {
			name = "limiter-user"
		}
		b.Run(name, func(b *testing.B) {
			s, c := testServer(b)
			if restricted {
				aclBenchUser(b, s, c)
			}
			keys := make([][]byte, 100_000)
			for i := range keys {
				keys[i] = []byte("key:" + strconv.Itoa(i))
			}
			args := [][]byte{[]byte("CL.THROTTLE"), nil, []byte("100"), []byte("1000"), []byte("60"), []byte("1")}
			i := 0
			cpuLoop(b, func() {
				args[1] = keys[i%len(keys)]
				i++
				c.out = c.out[:0]
				s.execute(c, args)
			})
			if c.out[0] != '*' {
				b.Fatalf("reply %q", c.out)
			}
		})
	}
}
