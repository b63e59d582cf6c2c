package rules

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Kinds of object a Change carries.
const (
	KindRule = "rule"
	KindList = "list"
	KindTier = "tier"
)

// Change is one versioned object as stored and as sent to other nodes:
// the new state of a rule, list entry or tier assignment, or its deletion
// (a tombstone, kept so that an older update arriving late cannot bring
// the object back). Of two changes to the same object the one with the
// higher (Version, Origin) wins, on every node, whatever the order they
// arrive in: applying a change is idempotent.
type Change struct {
	Kind    string `json:"kind"`
	ID      string `json:"id"`
	Version uint64 `json:"version"`
	Origin  string `json:"origin"`
	Deleted bool   `json:"deleted,omitempty"`
	// Exactly one of these is set unless Deleted.
	Rule  *Rule           `json:"rule,omitempty"`
	Entry *ListEntry      `json:"entry,omitempty"`
	Tier  *TierAssignment `json:"tier,omitempty"`
	// Actor and Action say who did what, for the audit log of every node.
	Actor  string    `json:"actor,omitempty"`
	Action string    `json:"action,omitempty"`
	At     time.Time `json:"at"`
}

// newer reports whether a supersedes b (b may be nil).
func (a *Change) newer(b *Change) bool {
	if b == nil {
		return true
	}
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	return a.Origin > b.Origin
}

// object returns the changed object as JSON (null for a deletion).
func (a *Change) object() json.RawMessage {
	var v any
	switch {
	case a == nil || a.Deleted:
		return json.RawMessage("null")
	case a.Rule != nil:
		v = a.Rule
	case a.Entry != nil:
		v = a.Entry
	case a.Tier != nil:
		v = a.Tier
	default:
		return json.RawMessage("null")
	}
	b, _ := json.Marshal(v)
	return b
}

// AuditEntry records one change: who, when, what, and the object before
// and after (null when it did not exist or was deleted).
type AuditEntry struct {
	Seq     uint64          `json:"seq"`
	At      time.Time       `json:"at"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Kind    string          `json:"kind"`
	ID      string          `json:"id"`
	Version uint64          `json:"version"`
	Origin  string          `json:"origin"`
	Before  json.RawMessage `json:"before"`
	After   json.RawMessage `json:"after"`
	// Superseded: the change reached this node after a newer version of
	// the object had (gossip does not keep order): recorded as history,
	// not applied. Before is then null.
	Superseded bool `json:"superseded,omitempty"`
}

// auditKey identifies the change an audit entry records (object, version,
// origin): a change is recorded at most once per node.
func auditKey(kind, id string, version uint64, origin string) []byte {
	k := append(objectKey(kind, id), 0)
	k = binary.BigEndian.AppendUint64(k, version)
	return append(k, origin...)
}

// store is the durable side: a bbolt file with every object's latest
// change (tombstones included) and the audit log. Every commit is fsynced
// before it returns.
type store struct {
	db       *bolt.DB
	maxAudit int
	audits   int // entries in the audit bucket
}

var (
	bucketObjects = []byte("objects")
	bucketAudit   = []byte("audit")
	// bucketAudited indexes the audit log by auditKey (value: its seq).
	bucketAudited = []byte("audited")
)

func openStore(path string, maxAudit int) (*store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("rules: %s is locked by another process", path)
		}
		return nil, fmt.Errorf("rules: open %s: %w", path, err)
	}
	s := &store{db: db, maxAudit: maxAudit}
	err = db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketObjects); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketAudit)
		if err != nil {
			return err
		}
		s.audits = b.Stats().KeyN
		if tx.Bucket(bucketAudited) != nil {
			return nil
		}
		// A store from before the index: build it.
		idx, err := tx.CreateBucket(bucketAudited)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var a AuditEntry
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			return idx.Put(auditKey(a.Kind, a.ID, a.Version, a.Origin), k)
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("rules: %s: %w", path, err)
	}
	return s, nil
}

func (s *store) close() error { return s.db.Close() }

func objectKey(kind, id string) []byte { return []byte(kind + "\x00" + id) }

// load returns every stored change.
func (s *store) load() ([]*Change, error) {
	var out []*Change
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketObjects).ForEach(func(k, v []byte) error {
			ch := new(Change)
			if err := json.Unmarshal(v, ch); err != nil {
				return fmt.Errorf("object %q: %w", k, err)
			}
			out = append(out, ch)
			return nil
		})
	})
	return out, err
}

// commit stores chs and their audit entries in one transaction, fsynced
// before it returns; audit entries get their sequence numbers here.
func (s *store) commit(chs []*Change, audits []*AuditEntry) error {
	var kept int
	err := s.db.Update(func(tx *bolt.Tx) error {
		objs := tx.Bucket(bucketObjects)
		for _, ch := range chs {
			v, err := json.Marshal(ch)
			if err != nil {
				return err
			}
			if err := objs.Put(objectKey(ch.Kind, ch.ID), v); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketAudit)
		idx := tx.Bucket(bucketAudited)
		for _, a := range audits {
			seq, err := b.NextSequence()
			if err != nil {
				return err
			}
			a.Seq = seq
			v, err := json.Marshal(a)
			if err != nil {
				return err
			}
			if err := b.Put(seqKey(seq), v); err != nil {
				return err
			}
			if err := idx.Put(auditKey(a.Kind, a.ID, a.Version, a.Origin), seqKey(seq)); err != nil {
				return err
			}
		}
		n := s.audits + len(audits)
		// Keep the newest maxAudit entries. Keys are collected first:
		// deleting under a moving cursor can skip keys.
		var old, oldIdx [][]byte
		c := b.Cursor()
		for k, v := c.First(); k != nil && n-len(old) > s.maxAudit; k, v = c.Next() {
			old = append(old, k)
			var a AuditEntry
			if json.Unmarshal(v, &a) == nil {
				oldIdx = append(oldIdx, auditKey(a.Kind, a.ID, a.Version, a.Origin))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		for _, k := range oldIdx {
			if err := idx.Delete(k); err != nil {
				return err
			}
		}
		kept = n - len(old)
		return nil
	})
	if err == nil {
		s.audits = kept
	}
	return err
}

// audited reports whether the audit log records ch (as kept: entries
// beyond MaxAudit are forgotten).
func (s *store) audited(ch *Change) bool {
	found := false
	s.db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketAudited).Get(auditKey(ch.Kind, ch.ID, ch.Version, ch.Origin)) != nil
		return nil
	})
	return found
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	// Before: only entries with Seq < Before (0: from the newest).
	Before uint64
	// Limit caps the entries returned (1-1000; default 50).
	Limit int
	// Kind and ID, when set, filter on the object.
	Kind, ID string
}

// audit returns the entries q selects, newest first, and the Before to
// pass for the next page (0 when there is none).
func (s *store) audit(q AuditQuery) ([]AuditEntry, uint64, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	out := []AuditEntry{}
	var next uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if q.Before == 0 {
			k, v = c.Last()
		} else {
			k, v = c.Seek(seqKey(q.Before))
			if k == nil {
				k, v = c.Last()
			} else {
				k, v = c.Prev()
			}
		}
		for ; k != nil; k, v = c.Prev() {
			var a AuditEntry
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("audit entry %d: %w", binary.BigEndian.Uint64(k), err)
			}
			if (q.Kind != "" && a.Kind != q.Kind) || (q.ID != "" && a.ID != q.ID) {
				continue
			}
			if len(out) == q.Limit {
				next = out[len(out)-1].Seq
				break
			}
			out = append(out, a)
		}
		return nil
	})
	return out, next, err
}
