package engine

// EvictSoonest implements the volatile-ttl policy on one shard: it samples
// up to samples random records and removes, among those with an expiry,
// the one that would expire first (Redis samples the same way). onEvict,
// if not nil, sees the key before it goes. It reports whether a key was
// removed. The caller holds the shard lock.
func (sh *Shard) EvictSoonest(samples int, onEvict func(key []byte)) bool {
	best := uint32(0)
	var bestExp int64
	for ; samples > 0 && sh.nrec > 0; samples-- {
		i := randomIndex(&sh.evictRNG, sh.nrec)
		r := sh.rec(i)
		if r.kind == KindNone || r.expireMs == 0 {
			continue
		}
		if bestExp == 0 || r.expireMs < bestExp {
			best, bestExp = i, r.expireMs
		}
	}
	if bestExp == 0 {
		return false
	}
	r := sh.rec(best)
	key := sh.keyOf(r)
	if onEvict != nil {
		onEvict(key)
	}
	if pos, idx, ok := sh.lookup(Hash(key), key); ok && idx == best {
		sh.removeAt(pos, idx)
		return true
	}
	return false
}

// Exists reports whether key holds a live value at nowMs.
func (sh *Shard) Exists(h uint64, key []byte, nowMs int64) bool {
	_, ok := sh.find(h, key, nowMs)
	return ok
}

// randomIndex returns a pseudo-random index below n from a xorshift64*
// state (seeded on first use): deterministic, allocation-free, good enough
// for sampling.
func randomIndex(state *uint64, n uint32) uint32 {
	x := *state
	if x == 0 {
		x = 0x9E3779B97F4A7C15
	}
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*state = x
	return uint32((x * 0x2545F4914F6CDD1D) % uint64(n))
}
