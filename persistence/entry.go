package persistence

import "github.com/rlserver/rlserver/engine"

// AppendEntry appends one key's state in the snapshot's entry encoding
// (the current version; see the package doc). Cluster handoff sends state
// between nodes in exactly this form, so one codec serves both.
func AppendEntry(b, key []byte, e engine.Entry) []byte { return appendEntry(b, key, e) }

// DecodeEntry reads one entry written by AppendEntry from p and returns it
// with the number of bytes used. The key and the entry's slices alias p
// (a sorted set is decoded into a fresh engine.Zset, which Restore adopts).
// Bad input is an error, never a panic.
func DecodeEntry(p []byte) (key []byte, e engine.Entry, n int, err error) {
	return decodeEntry(p, version)
}
