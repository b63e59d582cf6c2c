package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/rlserver/rlserver/engine"
)

const (
	magic = "RLSNAP\r\n"
	// 4: lists and hashes (entry kinds 7 and 8); 3: sorted sets (entry
	// kind 6); 2: window states carry their own window; 1 derived it from
	// the expiry.
	version       = 4
	headerSize    = 8 + 4 + 8 + 4
	blockTarget   = 64 << 10 // a block is flushed once its payload passes this
	maxBlockBytes = 1 << 30  // a length above this is corruption, not data
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Entry kinds on disk. They are the format's own numbers, decoupled from
// engine.Kind so the engine can renumber freely.
const (
	diskString        = 1
	diskGCRA          = 2
	diskSlidingWindow = 3
	diskSlidingLog    = 4
	diskFixedWindow   = 5
	diskZset          = 6 // format version 3 on
	diskList          = 7 // format version 4 on
	diskHash          = 8 // format version 4 on
)

func diskKind(k engine.Kind) (byte, bool) {
	switch k {
	case engine.KindString:
		return diskString, true
	case engine.KindGCRA:
		return diskGCRA, true
	case engine.KindSlidingWindow:
		return diskSlidingWindow, true
	case engine.KindSlidingLog:
		return diskSlidingLog, true
	case engine.KindFixedWindow:
		return diskFixedWindow, true
	case engine.KindZset:
		return diskZset, true
	case engine.KindList:
		return diskList, true
	case engine.KindHash:
		return diskHash, true
	}
	return 0, false
}

func engineKind(b byte) (engine.Kind, bool) {
	switch b {
	case diskString:
		return engine.KindString, true
	case diskGCRA:
		return engine.KindGCRA, true
	case diskSlidingWindow:
		return engine.KindSlidingWindow, true
	case diskSlidingLog:
		return engine.KindSlidingLog, true
	case diskFixedWindow:
		return engine.KindFixedWindow, true
	case diskZset:
		return engine.KindZset, true
	case diskList:
		return engine.KindList, true
	case diskHash:
		return engine.KindHash, true
	}
	return 0, false
}

func appendHeader(b []byte, created int64) []byte {
	start := len(b)
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint64(b, uint64(created))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// appendEntry encodes one entry.
func appendEntry(b []byte, key []byte, e engine.Entry) []byte {
	k, ok := diskKind(e.Kind)
	if !ok {
		return b
	}
	b = append(b, k)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.ExpireMs))
	switch e.Kind {
	case engine.KindString:
		b = binary.AppendUvarint(b, uint64(len(e.Bytes)))
		b = append(b, e.Bytes...)
	case engine.KindSlidingLog:
		b = binary.AppendUvarint(b, uint64(len(e.Log)))
		for _, t := range e.Log {
			b = binary.LittleEndian.AppendUint64(b, uint64(t))
		}
	case engine.KindZset:
		b = e.Zset.AppendBinary(b)
	case engine.KindList:
		b = e.List.AppendBinary(b)
	case engine.KindHash:
		b = e.Hmap.AppendBinary(b)
	case engine.KindFixedWindow:
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Window.EmptyAtMs))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Window.Cur))
	case engine.KindSlidingWindow:
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Window.EmptyAtMs))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Window.Prev))
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Window.Cur))
	default:
		b = binary.LittleEndian.AppendUint64(b, uint64(e.Int))
	}
	return b
}

var errShort = errors.New("entry runs past the end of its block")

// decodeEntry reads one entry of format version ver from p, returning the
// bytes it used. The returned key and bytes alias p.
func decodeEntry(p []byte, ver uint32) (key []byte, e engine.Entry, n int, err error) {
	if len(p) < 1 {
		return nil, e, 0, errShort
	}
	kind, ok := engineKind(p[0])
	if !ok {
		return nil, e, 0, fmt.Errorf("unknown entry kind %d", p[0])
	}
	e.Kind = kind
	n = 1
	klen, m := binary.Uvarint(p[n:])
	if m <= 0 || klen > uint64(len(p)) {
		return nil, e, 0, errors.New("bad key length")
	}
	n += m
	if uint64(len(p)-n) < klen+8 {
		return nil, e, 0, errShort
	}
	key = p[n : n+int(klen)]
	n += int(klen)
	e.ExpireMs = int64(binary.LittleEndian.Uint64(p[n:]))
	n += 8
	switch kind {
	case engine.KindString:
		vlen, m := binary.Uvarint(p[n:])
		if m <= 0 || vlen > uint64(len(p)-n-m) {
			return nil, e, 0, errors.New("bad value length")
		}
		n += m
		e.Bytes = p[n : n+int(vlen)]
		n += int(vlen)
	case engine.KindSlidingLog:
		cnt, m := binary.Uvarint(p[n:])
		if m <= 0 || cnt > uint64(len(p)-n-m)/8 || cnt > math.MaxInt32 {
			return nil, e, 0, errors.New("bad log length")
		}
		n += m
		e.Log = make([]int64, cnt)
		for i := range e.Log {
			e.Log[i] = int64(binary.LittleEndian.Uint64(p[n:]))
			n += 8
		}
	case engine.KindZset:
		if ver < 3 {
			return nil, e, 0, fmt.Errorf("entry kind %d in a version %d file", p[0], ver)
		}
		z, m, err := engine.DecodeZset(p[n:])
		if err != nil {
			return nil, e, 0, err
		}
		e.Zset = z
		n += m
	case engine.KindList:
		if ver < 4 {
			return nil, e, 0, fmt.Errorf("entry kind %d in a version %d file", p[0], ver)
		}
		l, m, err := engine.DecodeList(p[n:])
		if err != nil {
			return nil, e, 0, err
		}
		e.List = l
		n += m
	case engine.KindHash:
		if ver < 4 {
			return nil, e, 0, fmt.Errorf("entry kind %d in a version %d file", p[0], ver)
		}
		hm, m, err := engine.DecodeHash(p[n:])
		if err != nil {
			return nil, e, 0, err
		}
		e.Hmap = hm
		n += m
	case engine.KindFixedWindow, engine.KindSlidingWindow:
		if ver == 1 {
			return decodeWindowV1(p, key, e, n)
		}
		words := 2
		if kind == engine.KindSlidingWindow {
			words = 3
		}
		if len(p)-n < 8*words {
			return nil, e, 0, errShort
		}
		e.Window.EmptyAtMs = int64(binary.LittleEndian.Uint64(p[n:]))
		n += 8
		if kind == engine.KindSlidingWindow {
			e.Window.Prev = int64(binary.LittleEndian.Uint64(p[n:]))
			n += 8
		}
		e.Window.Cur = int64(binary.LittleEndian.Uint64(p[n:]))
		n += 8
		if e.Window.Prev < 0 || e.Window.Cur < 0 {
			return nil, e, 0, errors.New("negative window count")
		}
	default:
		if len(p)-n < 8 {
			return nil, e, 0, errShort
		}
		e.Int = int64(binary.LittleEndian.Uint64(p[n:]))
		n += 8
	}
	return key, e, n, nil
}

// decodeWindowV1 reads a version-1 window state: one int64 (FW: the
// count; SW: prev<<32 | cur, both unsigned 32-bit), its window implied by
// the key's expiry, which was always the instant the state empties.
func decodeWindowV1(p, key []byte, e engine.Entry, n int) ([]byte, engine.Entry, int, error) {
	if len(p)-n < 8 {
		return nil, e, 0, errShort
	}
	v := binary.LittleEndian.Uint64(p[n:])
	n += 8
	e.Window.EmptyAtMs = e.ExpireMs
	if e.Kind == engine.KindSlidingWindow {
		e.Window.Prev, e.Window.Cur = int64(v>>32), int64(v&0xffffffff)
	} else {
		e.Window.Cur = int64(v)
	}
	return key, e, n, nil
}
