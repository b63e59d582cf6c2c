package server

import (
	"strconv"
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
