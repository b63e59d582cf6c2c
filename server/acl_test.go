package server

import (
	"slices"
	"testing"
)

// TestACLCategories pins the categories derived from the command table for
// the commands whose category matters most to operators.
func TestACLCategories(t *testing.T) {
	s, _ := testServer(t)
	cat := s.acl.Catalog()
	members := func(c string) []string {
		t.Helper()
		list, ok := cat.CategoryCommands(c)
		if !ok {
			t.Fatalf("no category %s", c)
		}
		return list
	}
	for _, n := range []string{"cl.throttle", "cl.peek", "gcra", "sw.throttle", "swlog.throttle", "fw.throttle", "rl.check"} {
		if !slices.Contains(members("limiter"), n) {
			t.Errorf("@limiter lacks %s", n)
		}
	}
	for _, n := range []string{"flushall", "flushdb", "keys", "config", "shutdown", "acl", "info"} {
		if !slices.Contains(members("dangerous"), n) {
			t.Errorf("@dangerous lacks %s", n)
		}
	}
	for _, n := range []string{"cl.throttle", "get", "scan", "rl.check", "dbsize"} {
		if slices.Contains(members("dangerous"), n) {
			t.Errorf("@dangerous has %s", n)
		}
	}
	for _, n := range []string{"info", "rl.check", "cl.throttle"} {
		if slices.Contains(members("keyspace"), n) {
			t.Errorf("@keyspace has %s", n)
		}
	}
	if w := members("write"); !slices.Contains(w, "cl.throttle") || slices.Contains(w, "cl.peek") {
		t.Errorf("@write = %v", w)
	}
	// Every command has exactly one of @fast and @slow.
	fast, slow := members("fast"), members("slow")
	for name := range s.cmds {
		if slices.Contains(fast, name) == slices.Contains(slow, name) {
			t.Errorf("%s: fast %v, slow %v", name, slices.Contains(fast, name), slices.Contains(slow, name))
		}
	}
}
