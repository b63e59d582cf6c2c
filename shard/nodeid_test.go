package shard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestIDIsStableAcrossRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	id, err := LoadID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidID(id) {
		t.Fatalf("id %q is not 40 hex", id)
	}
	again, err := LoadID(dir)
	if err != nil || again != id {
		t.Fatalf("second load: %q %v, want %q", again, err, id)
	}
	if other, _ := LoadID(t.TempDir()); other == id {
		t.Fatal("two directories share an id")
	}
	if a, b := mustID(t, ""), mustID(t, ""); a == b || !ValidID(a) {
		t.Fatalf("ephemeral ids %q %q", a, b)
	}
}

func mustID(t *testing.T, dir string) string {
	id, err := LoadID(dir)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestCorruptIDFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, IDFile)
	os.WriteFile(path, []byte("not-an-id\n"), 0o644)
	_, err := LoadID(dir)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
	if b, _ := os.ReadFile(path); string(b) != "not-an-id\n" {
		t.Fatal("the bad file was changed")
	}
}

func TestValidID(t *testing.T) {
	for id, ok := range map[string]bool{
		strings.Repeat("a", 40): true, strings.Repeat("0", 40): true,
		strings.Repeat("A", 40): false, strings.Repeat("a", 39): false, strings.Repeat("g", 40): false,
	} {
		if ValidID(id) != ok {
			t.Errorf("ValidID(%q) = %v", id, !ok)
		}
	}
}
