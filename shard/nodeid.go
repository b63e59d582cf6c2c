package shard

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// IDFile is the name of the file in the data directory that keeps a
// node's ID across restarts.
const IDFile = "node-id"

// NewID returns a random 40-hex node ID, the shape of Redis Cluster's.
func NewID() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ValidID reports whether id is 40 lowercase hex characters.
func ValidID(id string) bool {
	if len(id) != 40 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// LoadID returns the node ID kept in dir, creating and durably writing a
// new one when dir has none. With dir empty (no persistence) it returns a
// fresh ID each time: such a node is a new member after every restart. A
// file that exists but does not hold an ID is an error naming it (it is
// left untouched): a node that silently changed identity would reshuffle
// slot ownership.
func LoadID(dir string) (string, error) {
	if dir == "" {
		return NewID(), nil
	}
	path := filepath.Join(dir, IDFile)
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if !ValidID(id) {
			return "", fmt.Errorf("shard: %s does not hold a 40-hex node id", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("shard: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("shard: %w", err)
	}
	id := NewID()
	if err := writeDurably(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("shard: writing %s: %w", path, err)
	}
	return id, nil
}

// writeDurably writes a temp file, fsyncs it, renames it over path and
// fsyncs the directory, so a crash leaves either no file or the whole one.
func writeDurably(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
