package engine

// The store side of lists and hashes, as zset_store.go is for sorted
// sets: each lives in a side table of its shard, its bytes counted in the
// store's size as it changes. The caller holds the shard lock.

func (sh *Shard) storeList(l *List) int64 {
	l.remeasure()
	l.accounted = l.mem
	sh.addBytes(l.mem)
	if n := len(sh.freeList); n > 0 {
		i := sh.freeList[n-1]
		sh.freeList = sh.freeList[:n-1]
		sh.lists[i] = l
		return int64(i)
	}
	sh.lists = append(sh.lists, l)
	return int64(len(sh.lists) - 1)
}

func (sh *Shard) storeHmap(m *Hmap) int64 {
	m.l.remeasure()
	m.l.accounted = m.l.mem
	sh.addBytes(m.l.mem)
	if n := len(sh.freeHmap); n > 0 {
		i := sh.freeHmap[n-1]
		sh.freeHmap = sh.freeHmap[:n-1]
		sh.hmaps[i] = m
		return int64(i)
	}
	sh.hmaps = append(sh.hmaps, m)
	return int64(len(sh.hmaps) - 1)
}

// ListOf returns key's list at nowMs: nil if the key is missing,
// ErrWrongType if it holds another kind. After changing the list, call
// ListChanged.
func (sh *Shard) ListOf(h uint64, key []byte, nowMs int64) (*List, error) {
	r, ok := sh.find(h, key, nowMs)
	if !ok {
		return nil, nil
	}
	if r.kind != KindList {
		return nil, ErrWrongType
	}
	return sh.lists[r.val], nil
}

// NewList stores an empty list at key, which must not hold a live value,
// without an expiry, and returns it. Call ListChanged once elements are
// added (an empty list is removed there).
func (sh *Shard) NewList(h uint64, key []byte, nowMs int64) *List {
	r := sh.upsert(h, key, nowMs)
	sh.setKind(r, KindList)
	l := &List{}
	r.val = sh.storeList(l)
	sh.setExpiry(r, 0)
	return l
}

// ListChanged brings the store's byte count up to date with l, key's
// list, after a change, and deletes the key once the list is empty, as
// Redis does.
func (sh *Shard) ListChanged(h uint64, key []byte, l *List, nowMs int64) {
	sh.addBytes(l.mem - l.accounted)
	l.accounted = l.mem
	if l.n == 0 {
		sh.Delete(h, key, nowMs)
	}
}

// HmapOf returns key's hash at nowMs: nil if the key is missing,
// ErrWrongType if it holds another kind. After changing the hash, call
// HmapChanged.
func (sh *Shard) HmapOf(h uint64, key []byte, nowMs int64) (*Hmap, error) {
	r, ok := sh.find(h, key, nowMs)
	if !ok {
		return nil, nil
	}
	if r.kind != KindHash {
		return nil, ErrWrongType
	}
	return sh.hmaps[r.val], nil
}

// NewHmap stores an empty hash at key, which must not hold a live value,
// without an expiry, and returns it. Call HmapChanged once fields are set
// (an empty hash is removed there).
func (sh *Shard) NewHmap(h uint64, key []byte, nowMs int64) *Hmap {
	r := sh.upsert(h, key, nowMs)
	sh.setKind(r, KindHash)
	m := &Hmap{}
	r.val = sh.storeHmap(m)
	sh.setExpiry(r, 0)
	return m
}

// HmapChanged brings the store's byte count up to date with m, key's
// hash, after a change, and deletes the key once the hash is empty.
func (sh *Shard) HmapChanged(h uint64, key []byte, m *Hmap, nowMs int64) {
	sh.addBytes(m.l.mem - m.l.accounted)
	m.l.accounted = m.l.mem
	if m.l.n == 0 {
		sh.Delete(h, key, nowMs)
	}
}
