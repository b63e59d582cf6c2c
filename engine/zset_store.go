package engine

// The store side of sorted sets. A set lives in the shard's zsets side
// table; its bytes are counted in the store's size as it changes. The
// caller holds the shard lock.

func (sh *Shard) storeZset(z *Zset) int64 {
	z.remeasure()
	z.accounted = z.mem
	sh.addBytes(z.mem)
	if n := len(sh.freeZset); n > 0 {
		i := sh.freeZset[n-1]
		sh.freeZset = sh.freeZset[:n-1]
		sh.zsets[i] = z
		return int64(i)
	}
	sh.zsets = append(sh.zsets, z)
	return int64(len(sh.zsets) - 1)
}

// ZsetOf returns key's sorted set at nowMs: nil if the key is missing,
// ErrWrongType if it holds another kind. After changing the set, call
// ZsetChanged.
func (sh *Shard) ZsetOf(h uint64, key []byte, nowMs int64) (*Zset, error) {
	r, ok := sh.find(h, key, nowMs)
	if !ok {
		return nil, nil
	}
	if r.kind != KindZset {
		return nil, ErrWrongType
	}
	return sh.zsets[r.val], nil
}

// NewZset stores an empty sorted set at key, which must not hold a live
// value, without an expiry, and returns it. Call ZsetChanged once members
// are added (an empty set is removed there).
func (sh *Shard) NewZset(h uint64, key []byte, nowMs int64) *Zset {
	r := sh.upsert(h, key, nowMs)
	sh.setKind(r, KindZset)
	z := &Zset{}
	r.val = sh.storeZset(z)
	sh.setExpiry(r, 0)
	return z
}

// ZsetChanged brings the store's byte count up to date with z, key's set,
// after a change, and deletes the key once the set is empty, as Redis
// does.
func (sh *Shard) ZsetChanged(h uint64, key []byte, z *Zset, nowMs int64) {
	sh.addBytes(z.mem - z.accounted)
	z.accounted = z.mem
	if z.n == 0 {
		sh.Delete(h, key, nowMs)
	}
}
