package tests

import "testing"

// configEdgesScript is CONFIG SET and RESETSTAT at the edges: names Redis
// does not know, a name given twice (nothing is applied), values just
// outside each range, as Redis 7.0.15 answers them.
const configEdgesScript = `
a: CONFIG SET nosuch 1
a: CONFIG SET timeout 5 nosuch 1
a: CONFIG SET nosuch 1 other 2
a: CONFIG SET timeout 1 timeout 2
a: CONFIG SET timeout 1 TIMEOUT 2
a: CONFIG GET timeout
a: CONFIG SET slowlog-log-slower-than -2
a: CONFIG SET slowlog-log-slower-than -1
a: CONFIG SET slowlog-log-slower-than 9223372036854775807
a: CONFIG SET slowlog-log-slower-than 9223372036854775808
a: CONFIG SET slowlog-log-slower-than 10000
a: CONFIG SET slowlog-max-len -1
a: CONFIG SET slowlog-max-len 0
a: CONFIG SET slowlog-max-len 128
a: CONFIG SET latency-monitor-threshold -1
a: CONFIG SET latency-monitor-threshold x
a: CONFIG SET latency-monitor-threshold 0
a: CONFIG SET acllog-max-len -1
a: CONFIG SET acllog-max-len 128
a: CONFIG SET timeout 0 slowlog-max-len -1
a: CONFIG GET timeout
a: CONFIG GET slowlog-max-len
a: CONFIG RESETSTAT x
a: CONFIG RESETSTAT
`

func TestConfigEdgesLikeRedis(t *testing.T) {
	t.Parallel()
	ref := startRedisWith(t)
	srv := startServer(t)
	replaySessions(t, configEdgesScript, srv.Addr, ref)
}
