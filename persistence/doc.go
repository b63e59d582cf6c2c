// Package persistence writes and reads snapshots of the engine's store, and
// schedules them.
//
// # File format (version 4)
//
// All integers are little-endian. CRC is CRC-32C (Castagnoli).
//
//	header   magic "RLSNAP\r\n" (8 bytes)
//	         version    uint32 (4; versions 1 to 3 still load)
//	         created    int64  Unix ns when the snapshot began
//	         crc        uint32 of the 20 bytes above
//	blocks   length     uint32 payload bytes (> 0)
//	         crc        uint32 of the payload
//	         payload    entries, back to back (never split across blocks)
//	end      length     uint32 0
//	         entries    uint64 entries in the file
//	         crc        uint32 of the 12 bytes above
//
// An entry is:
//
//	kind     uint8  1 string, 2 GCRA, 3 sliding window, 4 sliding log, 5 fixed window, 6 sorted set,
//	         7 list, 8 hash
//	keylen   uvarint, then the key's bytes
//	expire   int64  absolute Unix ms; 0 = none
//	state    string:  uvarint length, then the bytes
//	         GCRA:    int64 TAT (ns since the epoch, as redis-cell stores it)
//	         sliding window: int64 emptyAt, int64 prev, int64 cur
//	         fixed window:   int64 emptyAt, int64 count
//	         sliding log:    uvarint n, then n int64 request times (ns), ascending
//	         sorted set:     uvarint n, then n members in (score, member) order, each
//	                         float64 score bits (uint64), uvarint length, member bytes
//	                         (engine.Zset's AppendBinary; cluster handoff uses it too)
//	         list:    uvarint n, then n elements head to tail, each uvarint length, bytes
//	                  (engine.List's AppendBinary)
//	         hash:    uint8 form (0 small, pairs in insertion order; 1 large, pairs in
//	                  field order), uvarint n, then n pairs, each uvarint field length,
//	                  field, uvarint value length, value (engine.Hmap's AppendBinary)
//
// emptyAt (absolute Unix ms) names the window the counts belong to: when
// the state is empty again (FW: the window's end; SW: the end of the
// window after cur's). It is independent of the key's expiry, which
// EXPIRE and PERSIST change. Version 3 is version 4 without lists and
// hashes; version 2 is version 3 without sorted sets.
// Version 1 stored one int64 instead (FW: the
// count; SW: prev<<32 | cur) and implied emptyAt = expire; a version-1
// file loads with that reading.
//
// A reader verifies every CRC before using what it covers and reports the
// offset of the first problem. Snapshots persist effects (state and absolute
// expiry), never commands: a restored key answers exactly as it would have.
//
// Files are named snapshot-seq-<sequence number, 20 digits>.rls: each
// snapshot takes the number after the newest one in the directory, read
// from the directory at every save, so their order never depends on a clock
// (a clock behind the newest snapshot at start once made every new snapshot
// look older and pruned it). Files named snapshot-<created ns, 20 digits>.rls
// by earlier versions still load and count as older than any numbered one.
// A snapshot is written to a .tmp name, fsynced, renamed and its directory
// fsynced, and only then are older snapshots removed (the newest two are
// kept).
package persistence
