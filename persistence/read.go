package persistence

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/rlserver/rlserver/engine"
)

// CorruptError says what is wrong with a snapshot file and where.
type CorruptError struct {
	Path    string
	Offset  int64
	Problem string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("snapshot %s is unusable: at offset %d: %s", e.Path, e.Offset, e.Problem)
}

// Load restores the snapshot at path into st, dropping entries that have
// expired by now (Unix ns). Every block is verified before any of its
// entries is applied; on an error st may hold the entries of the blocks
// before the bad one, so callers load into a fresh store and discard it.
func Load(path string, st *engine.Store, now int64) (Info, error) {
	start := time.Now()
	info := Info{Path: path}
	f, err := os.Open(path)
	if err != nil {
		return info, fmt.Errorf("persistence: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	bad := func(off int64, format string, args ...any) error {
		return &CorruptError{Path: path, Offset: off, Problem: fmt.Sprintf(format, args...)}
	}
	var hdr [headerSize]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		if n == 0 {
			return info, bad(0, "empty file")
		}
		return info, bad(int64(n), "truncated header")
	}
	if string(hdr[:8]) != magic {
		return info, bad(0, "not an rlserver snapshot (bad magic)")
	}
	if crc32.Checksum(hdr[:20], castagnoli) != binary.LittleEndian.Uint32(hdr[20:]) {
		return info, bad(0, "header checksum mismatch")
	}
	ver := binary.LittleEndian.Uint32(hdr[8:])
	if ver < 1 || ver > version {
		return info, bad(8, "format version %d is not supported (this build reads versions 1 to %d)", ver, version)
	}
	info.Created = int64(binary.LittleEndian.Uint64(hdr[12:]))
	off := int64(headerSize)
	nowMs := now / 1e6
	var payload []byte
	var count int64
	for {
		var bh [8]byte
		if _, err := io.ReadFull(r, bh[:]); err != nil {
			return info, bad(off, "truncated: the end marker is missing")
		}
		size := binary.LittleEndian.Uint32(bh[:4])
		if size == 0 {
			var end [16]byte
			copy(end[:8], bh[:])
			if _, err := io.ReadFull(r, end[8:]); err != nil {
				return info, bad(off, "truncated end marker")
			}
			cnt := binary.LittleEndian.Uint64(end[4:12])
			if crc32.Checksum(end[:12], castagnoli) != binary.LittleEndian.Uint32(end[12:]) {
				return info, bad(off, "end marker checksum mismatch")
			}
			if int64(cnt) != count {
				return info, bad(off, "end marker counts %d entries, file holds %d", cnt, count)
			}
			if _, err := r.ReadByte(); err != io.EOF {
				return info, bad(off+16, "trailing data after the end marker")
			}
			break
		}
		if size > maxBlockBytes {
			return info, bad(off, "block length %d is implausible", size)
		}
		if cap(payload) < int(size) {
			payload = make([]byte, size)
		}
		payload = payload[:size]
		if _, err := io.ReadFull(r, payload); err != nil {
			return info, bad(off, "truncated block (%d bytes declared)", size)
		}
		if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(bh[4:]) {
			return info, bad(off, "block checksum mismatch")
		}
		for p := payload; len(p) > 0; {
			key, e, n, err := decodeEntry(p, ver)
			if err != nil {
				return info, bad(off+8+int64(len(payload)-len(p)), "%v", err)
			}
			p = p[n:]
			count++
			if e.ExpireMs != 0 && e.ExpireMs < nowMs {
				info.Expired++
				continue
			}
			h := engine.Hash(key)
			sh := st.ShardOf(h)
			sh.Lock()
			sh.Restore(h, key, e, nowMs)
			sh.Unlock()
			info.Keys++
		}
		off += 8 + int64(size)
	}
	info.Bytes = off + 16
	info.Duration = time.Since(start)
	return info, nil
}
