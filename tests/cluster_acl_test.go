package tests

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// remoteTag returns a hash tag whose slot the other node serves, seen from
// the node at addr (its CLUSTER SLOTS names the owner of each range).
func remoteTag(t *testing.T, rc *rawConn, self string) string {
	t.Helper()
	slots, err := rc.do("CLUSTER", "SLOTS")
	if err != nil {
		t.Fatal(err)
	}
	owner := func(slot int64) string {
		for _, r := range slots.([]any) {
			r := r.([]any)
			n := r[2].([]any)
			if r[0].(int64) <= slot && slot <= r[1].(int64) {
				return fmt.Sprintf("%s:%d", n[0].(bulk), n[1].(int64))
			}
		}
		return ""
	}
	for i := range 1000 {
		tag := "t" + strconv.Itoa(i)
		sl, err := rc.do("CLUSTER", "KEYSLOT", tag)
		if err != nil {
			t.Fatal(err)
		}
		if o := owner(sl.(int64)); o != "" && o != self {
			return tag
		}
	}
	t.Fatal("no slot served by the other node")
	return ""
}

// TestClusterForwardedScriptRunsAsItsUser: a script sent to one node and
// run by the node owning its key calls redis.call with the permissions of
// the user who sent it, not those of the peer connection (the owner's
// default user). The default user here is narrower than svc and wider than
// narrow, so either mistake shows: svc refused, or narrow allowed.
func TestClusterForwardedScriptRunsAsItsUser(t *testing.T) {
	t.Parallel()
	users := []string{"--user", "default on nopass ~* +@all -incr", "--user", "svc on >pw ~* +@all", "--user", "narrow on >pw ~rl:* +@all -incr"}
	users = append([]string{"--forward-timeout", "5s"}, users...)
	// onlya exists on the first node only: what it sends to the other
	// runs as nobody there.
	nodes := []*node{startNode(t, "", append(users, "--user", "onlya on >pw ~* +@all")...)}
	nodes = append(nodes, startNode(t, nodes[0].gossip, users...))
	waitSettled(t, nodes)
	a := newRaw(dial(t, nodes[0].Addr))
	tag := remoteTag(t, a, nodes[0].Addr)
	key := "rl:{" + tag + "}"
	other := "other:{" + tag + "}" // same slot, outside narrow's keys
	const noPermCmd = "ERR The user executing the script can't run this command or subcommand"
	const noPermKey = "ERR The user executing the script can't access at least one of the keys mentioned in the command"
	check := func(user string, cmds [][]string, want []string) {
		t.Helper()
		rc := newRaw(dial(t, nodes[0].Addr))
		if got, err := rc.do("AUTH", user, "pw"); err != nil || got != status("OK") {
			t.Fatalf("AUTH %s: %v %v", user, got, err)
		}
		got, err := rc.pipeline(cmds...)
		if err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			g := fmt.Sprint(got[i])
			if strings.HasSuffix(w, "*") && strings.HasPrefix(g, strings.TrimSuffix(w, "*")) || g == w {
				continue
			}
			t.Errorf("%s: %q = %s, want %s", user, cmds[i], g, w)
		}
	}
	incr := "return redis.call('incr', KEYS[1])"
	setOther := "return redis.call('set', '" + other + "', '1')"
	check("svc", [][]string{
		{"EVAL", incr, "1", key},
		{"MULTI"}, {"EVAL", incr, "1", key}, {"EXEC"},
		{"EVAL", "return redis.acl_check_cmd('incr', KEYS[1])", "1", key},
	}, []string{"1", "OK", "QUEUED", "[2]", "1"})
	check("narrow", [][]string{
		{"EVAL", incr, "1", key},
		{"EVAL", setOther, "1", key},
		{"MULTI"}, {"EVAL", setOther, "1", key}, {"EXEC"},
		{"EVAL", "return redis.acl_check_cmd('set', '" + other + "', '1')", "1", key},
		{"EVAL", "return redis.call('get', KEYS[1])", "1", key},
	}, []string{noPermCmd + "*", noPermKey + "*", "OK", "QUEUED", "[" + noPermKey + "*", "{}", "2"})
	check("onlya", [][]string{{"CL.THROTTLE", key, "1", "1", "60"}, {"EVAL", "return 1", "1", key}, {"CLIENT", "ID"}},
		[]string{"NOPERM the user who sent this command does not exist on the node serving its slot", "NOPERM*", "*"})
	if got, _ := a.do("GET", other); got != (null{}) {
		t.Fatalf("%s = %v: narrow's script wrote outside its keys", other, got)
	}
	if f := atoi(clusterInfo(t, nodes[0].Addr)["cluster_forwarded"]); f < 8 {
		t.Fatalf("only %d commands were forwarded: the test ran them locally", f)
	}
}

// TestClusterInternalCommandsHidden: a client without the peer token
// cannot run the commands peers send one another; they do not exist for
// it, in or out of MULTI, before and after a wrong RL.PEER, and on a
// single node RL.PEER does not exist either.
func TestClusterInternalCommandsHidden(t *testing.T) {
	t.Parallel()
	nodes := startNodes(t, 2)
	single := startServer(t)
	ref := startRedis(t).Addr
	tag := remoteTag(t, newRaw(dial(t, nodes[0].Addr)), nodes[0].Addr)
	fwd := []string{"RL.FWD", "0", "2", "0", "default", "SET", "{" + tag + "}x", "1"}
	cmds := [][]string{
		fwd,
		{"RL.FWD", "x"},
		{"RL.IMPORT", "BEGIN", "0-16383"},
		{"RL.IMPORT", "DATA", "garbage"},
		{"rl.import"},
		{"MULTI"}, fwd, {"RL.IMPORT", "DONE", "0"}, {"EXEC"},
		{"RL.PEER", "not-the-token"},
		fwd,
		{"GET", "{" + tag + "}x"},
	}
	// The reference: Redis, which has none of these commands.
	want, err := newRaw(dial(t, ref)).pipeline(cmds...)
	if err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{nodes[0].Addr, single.Addr} {
		got, err := newRaw(dial(t, addr)).pipeline(cmds...)
		if err != nil {
			t.Fatal(err)
		}
		for i := range cmds {
			if i == 9 && addr == nodes[0].Addr {
				// A cluster node must answer RL.PEER (its peers use it).
				if got[i] != respError("ERR invalid peer token") {
					t.Errorf("RL.PEER with a wrong token: %v", got[i])
				}
				continue
			}
			if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
				t.Errorf("%s: %q = %v, redis %v", addr, cmds[i], got[i], want[i])
			}
		}
	}
}
