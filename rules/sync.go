package rules

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Propagation seam for a cluster. Rule changes reach other nodes as
// encoded batches of Change (gossip broadcasts of one change each, and
// push/pull anti-entropy of the whole State when nodes join); any node
// applies any batch, in any order, any number of times, and all converge
// on the same objects (last writer wins by version, then origin).
//
// A membership layer wires it like this: OnChange(fn) where fn queues
// EncodeChanges(ch) for broadcast (fn must not block); a received
// broadcast or remote state goes to ApplyEncoded, off the gossip thread
// (it commits to disk); the local state for push/pull is EncodedState.

// EncodeChanges encodes changes for another node.
func EncodeChanges(chs ...Change) []byte {
	b, _ := json.Marshal(chs)
	return b
}

// EncodedState is State, encoded for another node.
func (e *Engine) EncodedState() []byte { return EncodeChanges(e.State()...) }

// maxEncoded bounds a batch a node accepts (the state of 100,000 rules
// fits).
const maxEncoded = 256 << 20

// ApplyEncoded applies a batch from another node and returns how many of
// its changes were new here. Invalid changes are skipped and reported in
// the error; the valid ones are applied.
func (e *Engine) ApplyEncoded(b []byte) (int, error) {
	if len(b) > maxEncoded {
		return 0, fmt.Errorf("rules: a batch of %d bytes is over the %d-byte limit", len(b), maxEncoded)
	}
	var chs []Change
	if err := json.Unmarshal(b, &chs); err != nil {
		return 0, fmt.Errorf("rules: undecodable batch: %w", err)
	}
	n := 0
	var errs []error
	for _, ch := range chs {
		ok, err := e.ApplyRemote(ch)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q v%d: %w", ch.Kind, ch.ID, ch.Version, err))
			continue
		}
		if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}
