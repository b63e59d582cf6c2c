package server

import "testing"

// TestACLLogGrouping: a repeat within a minute among the ten newest
// entries bumps that entry and moves it first; one a minute later, or
// further back, is a new entry; the log keeps maxLen entries.
func TestACLLogGrouping(t *testing.T) {
	var l aclLog
	l.maxLen.Store(12)
	ev := func(obj string) *aclLogEntry {
		return &aclLogEntry{reason: aclReasonKey, context: aclCtxTop, object: obj, username: "u"}
	}
	l.add(ev("a"), 1000)
	l.add(ev("b"), 2000)
	l.add(ev("a"), 61_000) // 60 s after the first a: grouped
	if len(l.entries) != 2 || l.entries[0].object != "a" || l.entries[0].count != 2 || l.entries[0].ms != 61_000 {
		t.Fatalf("grouping: %+v", l.entries)
	}
	l.add(ev("a"), 121_001) // more than 60 s after: new
	if len(l.entries) != 3 || l.entries[0].count != 1 {
		t.Fatalf("a minute later: %+v", l.entries)
	}
	other := ev("a")
	other.context = aclCtxMulti
	l.add(other, 121_002)
	if len(l.entries) != 4 {
		t.Fatalf("another context grouped: %+v", l.entries)
	}
	for i := range 10 {
		l.add(ev(string(rune('c'+i))), 130_000)
	}
	if len(l.entries) != 12 {
		t.Fatalf("kept %d entries, want 12", len(l.entries))
	}
	// "b" is now 12th: outside the ten scanned, so a new entry.
	l.add(ev("b"), 130_000)
	if l.entries[0].count != 1 || len(l.entries) != 12 {
		t.Fatalf("old entry grouped: %+v", l.entries[0])
	}
	l.setMaxLen(3)
	if len(l.entries) != 3 {
		t.Fatalf("after setMaxLen(3): %d", len(l.entries))
	}
}
