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

// ApplyEncoded applies batches from other nodes (broadcasts, or a peer's
// whole state) in one durable commit and returns how many of their
// changes were new here. Invalid changes and undecodable batches are
// skipped and reported in the error; the valid ones are applied.
func (e *Engine) ApplyEncoded(bs ...[]byte) (int, error) {
	var chs []*Change
	var errs []error
	for _, b := range bs {
		if len(b) > maxEncoded {
			errs = append(errs, fmt.Errorf("rules: a batch of %d bytes is over the %d-byte limit", len(b), maxEncoded))
			continue
		}
		var batch []Change
		if err := json.Unmarshal(b, &batch); err != nil {
			errs = append(errs, fmt.Errorf("rules: undecodable batch: %w", err))
			continue
		}
		for i := range batch {
			ch := &batch[i]
			if err := ch.check(e.cfg); err != nil {
				errs = append(errs, fmt.Errorf("%s %q v%d: %w", ch.Kind, ch.ID, ch.Version, err))
				continue
			}
			chs = append(chs, ch)
		}
	}
	if len(chs) == 0 {
		return 0, errors.Join(errs...)
	}
	e.mu.Lock()
	applied, err := e.apply(chs)
	e.mu.Unlock()
	return len(applied), errors.Join(append(errs, err)...)
}
