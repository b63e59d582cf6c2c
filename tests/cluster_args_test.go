package tests

import (
	"strings"
	"testing"
)

// CLUSTER subcommands with hostile arguments answer as Redis 7.0.15 with
// cluster support does (integers parsed by Redis's rules: no sign, no
// leading zero), byte for byte.
func TestClusterCommandArgsLikeRedis(t *testing.T) {
	t.Parallel()
	node := startNode(t, "")
	sock := startRedisSocket(t, "--cluster-enabled", "yes")
	var cmds [][]string
	for _, line := range []string{
		"CLUSTER", "CLUSTER FOO", "CLUSTER HELP x", "CLUSTER KEYSLOT", "CLUSTER KEYSLOT {}", "CLUSTER KEYSLOT a b",
		"CLUSTER COUNTKEYSINSLOT", "CLUSTER COUNTKEYSINSLOT -1", "CLUSTER COUNTKEYSINSLOT 16384", "CLUSTER COUNTKEYSINSLOT 0",
		"CLUSTER COUNTKEYSINSLOT 16383", "CLUSTER COUNTKEYSINSLOT 01", "CLUSTER COUNTKEYSINSLOT +1", "CLUSTER COUNTKEYSINSLOT -0",
		"CLUSTER COUNTKEYSINSLOT 1.0", "CLUSTER COUNTKEYSINSLOT 9223372036854775807", "CLUSTER COUNTKEYSINSLOT 9223372036854775808",
		"CLUSTER COUNTKEYSINSLOT -9223372036854775808", "CLUSTER COUNTKEYSINSLOT  1", "CLUSTER GETKEYSINSLOT 0 0",
		"CLUSTER GETKEYSINSLOT 0 -1", "CLUSTER GETKEYSINSLOT 0 9223372036854775807", "CLUSTER GETKEYSINSLOT 16384 1",
		"CLUSTER GETKEYSINSLOT -1 1", "CLUSTER GETKEYSINSLOT x 1", "CLUSTER GETKEYSINSLOT 0 x", "CLUSTER GETKEYSINSLOT 0 +1",
		"CLUSTER GETKEYSINSLOT 00 1", "CLUSTER GETKEYSINSLOT 1 1 1", "CLUSTER INFO x", "CLUSTER MYID x", "CLUSTER SLOTS x",
		"CLUSTER NODES x", "CLUSTER SHARDS x", "READONLY x", "READWRITE x",
	} {
		cmds = append(cmds, strings.Split(line, " "))
	}
	want, err := newRaw(dialUnix(t, sock)).pipeline(cmds...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := newRaw(dial(t, node.Addr)).pipeline(cmds...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range cmds {
		if !equalReply(got[i], want[i]) {
			t.Errorf("%q: rlserver %#v, redis %#v", cmds[i], got[i], want[i])
		}
	}
}
