package server

import (
	"os"
	"strconv"
	"syscall"
	"testing"
)

// BenchmarkExecuteThrottle measures one CL.THROTTLE through the dispatcher:
// lookup, parsing, the engine and the reply, without the network.
func BenchmarkExecuteThrottle(b *testing.B) {
	s, c := testServer(b)
	keys := make([][]byte, 100_000)
	for i := range keys {
		keys[i] = []byte("key:" + strconv.Itoa(i))
	}
	args := [][]byte{[]byte("CL.THROTTLE"), nil, []byte("100"), []byte("1000"), []byte("60"), []byte("1")}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		args[1] = keys[i%len(keys)]
		i++
		c.out = c.out[:0]
		s.execute(c, args)
	}
}

func BenchmarkExecuteThrottleParallel(b *testing.B) {
	s, _ := testServer(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		_, c := testServer(b)
		c.resp = 2
		args := [][]byte{[]byte("CL.THROTTLE"), nil, []byte("100"), []byte("1000"), []byte("60"), []byte("1")}
		var kb [24]byte
		i := 0
		for pb.Next() {
			args[1] = strconv.AppendInt(append(kb[:0], "key:"...), int64(i%100_000), 10)
			i += 7
			c.out = c.out[:0]
			s.execute(c, args)
		}
	})
}

// libraryScripts are the limiter libraries' scripts in bench/lua, with the
// arguments bench/lua.sh sends.
var libraryScripts = []struct {
	name string
	args []string
}{
	{"redis_rate", []string{"10", "10", "1", "1"}},
	{"rate_limiter_flexible", []string{"1", "10", "5", "10"}},
	{"rate_limit_redis", []string{"60000"}},
}

// BenchmarkExecuteScript measures EVALSHA of each library script through
// the dispatcher on 100,000 keys, without the network: native (the
// library's exact script) and on the VM (the script with a trailing space:
// another SHA1, the same behaviour).
func BenchmarkExecuteScript(b *testing.B) {
	for _, mode := range []string{"native", "vm"} {
		for _, ls := range libraryScripts {
			b.Run(mode+"/"+ls.name, func(b *testing.B) { benchScript(b, ls.name, ls.args, mode == "vm") })
		}
	}
}

func benchScript(b *testing.B, name string, scriptArgs []string, vm bool) {
	s, c := testServer(b)
	body, err := os.ReadFile("../bench/lua/" + name + ".lua")
	if err != nil {
		b.Fatal(err)
	}
	if vm {
		body = append(body, ' ')
	}
	sha, err := s.scripts.Load(body)
	if err != nil {
		b.Fatal(err)
	}
	keys := make([][]byte, 100_000)
	for i := range keys {
		keys[i] = []byte("b:" + name + ":" + strconv.Itoa(i))
	}
	args := [][]byte{[]byte("EVALSHA"), []byte(sha), []byte("1"), nil}
	for _, a := range scriptArgs {
		args = append(args, []byte(a))
	}
	b.ReportAllocs()
	i := 0
	c0 := cpuNs()
	for b.Loop() {
		args[3] = keys[i%len(keys)]
		i += 7
		c.out = c.out[:0]
		s.execute(c, args)
	}
	b.ReportMetric(float64(cpuNs()-c0)/float64(b.N), "cpu-ns/op")
	if len(c.out) == 0 || c.out[0] != '*' {
		b.Fatalf("reply %q", c.out)
	}
	runs, _ := s.scripts.NativeStats()
	if (runs > 0) == vm {
		b.Fatalf("vm %v, native runs %d", vm, runs)
	}
}

// cpuNs returns the process's user+system CPU time in ns: on a shared
// machine CPU per operation is steadier than wall time.
func cpuNs() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
