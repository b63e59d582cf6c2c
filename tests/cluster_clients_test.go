package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Cluster-aware clients of other languages against --cluster-redirect
// nodes: they learn slots from CLUSTER SLOTS and follow MOVED, since no
// node forwards for them (go-redis, rueidis and redis-cli -c are in
// TestClusterAwareClients).

func clusterPorts(nodes []*node) []string {
	var ports []string
	for _, n := range nodes {
		ports = append(ports, n.Port)
	}
	return ports
}

func TestRedisPyCluster(t *testing.T) {
	t.Parallel()
	requireTool(t, "/usr/bin/python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import redis.cluster").Run(); err != nil {
		requireTool(t, "python3-redis 4.1+ (Debian package, with redis.cluster)")
	}
	nodes := startNodes(t, 3, "--cluster-redirect")
	out, err := exec.Command("/usr/bin/python3", append([]string{"py/cluster.py"}, clusterPorts(nodes)...)...).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("redis-py RedisCluster: %v\n%s", err, out)
	}
}

func TestIORedisCluster(t *testing.T) {
	t.Parallel()
	node := requireTool(t, "node")
	if m, _ := filepath.Glob("node/node_modules/ioredis/package.json"); len(m) == 0 {
		requireTool(t, "ioredis (npm install in tests/node)")
	}
	nodes := startNodes(t, 3, "--cluster-redirect")
	cmd := exec.Command(node, append([]string{"cluster.js"}, clusterPorts(nodes)...)...)
	cmd.Dir = "node"
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("ioredis Cluster: %v\n%s", err, out)
	}
}
