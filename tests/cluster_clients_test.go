package tests

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Cluster-aware clients of other languages against 3 nodes: they learn
// slots from CLUSTER SLOTS and follow MOVED (with --cluster-redirect no
// node forwards for them), and go straight to owners (go-redis, rueidis
// and redis-cli -c are in TestClusterAwareClients).

func clusterPorts(nodes []*node) []string {
	var ports []string
	for _, n := range nodes {
		ports = append(ports, n.Port)
	}
	return ports
}

// runClusterClient runs a client script against 3 nodes in both modes:
// --cluster-redirect (non-owners answer MOVED) and forwarding (the
// default). With straight, the client must send every command to its
// key's node: no node forwards or redirects any.
func runClusterClient(t *testing.T, straight bool, dir, name string, args ...string) {
	for _, mode := range []string{"redirect", "forward"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			var nodes []*node
			if mode == "redirect" {
				nodes = startNodes(t, 3, "--cluster-redirect")
			} else {
				// 200 ms expires under a load average of 30, and a forward
				// answered by policy may admit a key over its limit.
				nodes = startNodes(t, 3, "--forward-timeout", "10s")
			}
			cmd := exec.Command(name, append(args, clusterPorts(nodes)...)...)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("%s: %v\n%s", args[0], err, out)
			}
			forwarded, redirected := int64(0), int64(0)
			for _, n := range nodes {
				in := clusterInfo(t, n.Addr)
				forwarded += atoi(in["cluster_forwarded"])
				redirected += atoi(in["cluster_redirected"])
			}
			t.Logf("%d commands forwarded, %d redirected", forwarded, redirected)
			if straight && forwarded+redirected != 0 {
				t.Fatal("the client did not go straight to owners")
			}
		})
	}
}

func TestRedisPyCluster(t *testing.T) {
	t.Parallel()
	requireTool(t, "/usr/bin/python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import redis.cluster").Run(); err != nil {
		requireTool(t, "python3-redis 4.1+ (Debian package, with redis.cluster)")
	}
	runClusterClient(t, true, ".", "/usr/bin/python3", "py/cluster.py")
}

func TestIORedisCluster(t *testing.T) {
	t.Parallel()
	node := requireTool(t, "node")
	if m, _ := filepath.Glob("node/node_modules/ioredis/package.json"); len(m) == 0 {
		requireTool(t, "ioredis (npm install in tests/node)")
	}
	// ioredis sends commands missing from its own list (CL.THROTTLE) to
	// any node; cluster.js checks that the others go straight.
	runClusterClient(t, false, "node", node, "cluster.js")
}
