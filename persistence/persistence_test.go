package persistence

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/rlserver/rlserver/engine"
)

const now = int64(1_795_730_160) * 1e9

// fill puts every kind of state into a store and returns a description of
// each key for comparison.
func fill(t testing.TB, st *engine.Store, n int) {
	t.Helper()
	nowMs := now / 1e6
	for i := range n {
		k := []byte(fmt.Sprintf("key:%d", i))
		h := engine.Hash(k)
		sh := st.ShardOf(h)
		sh.Lock()
		switch i % 6 {
		case 0:
			sh.ThrottleGCRA(h, k, engine.GCRAParams{MaxBurst: 5, Count: 1, Period: 60, Quantity: 2}, now)
		case 1:
			sh.ThrottleSlidingWindow(h, k, engine.WindowParams{Limit: 10, Period: 60, Quantity: 3}, now, false)
		case 2:
			for j := range 4 {
				sh.ThrottleSlidingLog(h, k, engine.WindowParams{Limit: 10, Period: 60, Quantity: 1}, now+int64(j)*1e6, false)
			}
		case 3:
			sh.ThrottleFixedWindow(h, k, engine.WindowParams{Limit: 10, Period: 60, Quantity: 4}, now, false)
		case 4:
			if i%12 == 4 {
				sh.SetString(h, k, []byte("value\x00\xff"), 0, nowMs)
				break
			}
			if i%18 == 10 {
				l := sh.NewList(h, k, nowMs)
				for j := range 1 + i%400 {
					l.Insert(l.Len(), []byte(fmt.Sprint("element:", j)))
				}
				sh.ListChanged(h, k, l, nowMs)
				sh.SetExpire(h, k, nowMs+int64(i)*60_000, nowMs)
				break
			}
			if i%18 == 16 {
				m := sh.NewHmap(h, k, nowMs)
				for j := range 1 + i%200 { // some pass the small form's limit
					m.Set([]byte(fmt.Sprint("field:", j*7%200)), []byte(fmt.Sprint(j)))
				}
				sh.HmapChanged(h, k, m, nowMs)
				sh.SetExpire(h, k, nowMs+int64(i)*60_000, nowMs)
				break
			}
			z := sh.NewZset(h, k, nowMs)
			for j := range 3 + i%300 { // some sets pass the member-index threshold
				z.Insert(float64(j%7)-2.5, []byte(fmt.Sprintf("member:%d", j)))
			}
			sh.ZsetChanged(h, k, z, nowMs)
			sh.SetExpire(h, k, nowMs+int64(i)*60_000, nowMs)
		case 5:
			sh.SetString(h, append(k, ":long-key-beyond-the-inline-limit"...), []byte(""), nowMs+5000, nowMs)
		}
		sh.Unlock()
	}
}

func dump(st *engine.Store, nowMs int64) []string {
	var out []string
	for i := range st.NumShards() {
		sh := st.Shard(i)
		sh.Lock()
		for k, e := range sh.Keys(nowMs) {
			var zs []byte
			if e.Zset != nil {
				zs = e.Zset.AppendBinary(nil)
			}
			if e.List != nil {
				zs = e.List.AppendBinary(nil)
			}
			if e.Hmap != nil {
				zs = e.Hmap.AppendBinary(nil)
			}
			out = append(out, fmt.Sprintf("%q %v %d %+v %q %v %d %x", k, e.Kind, e.Int, e.Window, e.Bytes, e.Log, e.ExpireMs, zs))
		}
		sh.Unlock()
	}
	slices.Sort(out)
	return out
}

func TestRoundTripEveryKind(t *testing.T) {
	dir := t.TempDir()
	st := engine.NewStore(8)
	fill(t, st, 600)
	info, err := Write(dir, st, now)
	if err != nil {
		t.Fatal(err)
	}
	if info.Keys != 600 || info.Bytes == 0 {
		t.Fatalf("wrote %+v", info)
	}
	back := engine.NewStore(4) // a different shard count must not matter
	li, err := Load(info.Path, back, now)
	if err != nil {
		t.Fatal(err)
	}
	if li.Keys != 600 {
		t.Fatalf("loaded %d keys", li.Keys)
	}
	if a, b := dump(st, now/1e6), dump(back, now/1e6); !slices.Equal(a, b) {
		t.Fatalf("round trip differs:\n%v\n%v", a[:3], b[:3])
	}
	// A restored GCRA key answers exactly as the original would.
	k := []byte("key:0")
	h := engine.Hash(k)
	later := now + 7e9
	r1, _ := st.ShardOf(h).ThrottleGCRA(h, k, engine.GCRAParams{MaxBurst: 5, Count: 1, Period: 60, Quantity: 1}, later)
	r2, _ := back.ShardOf(h).ThrottleGCRA(h, k, engine.GCRAParams{MaxBurst: 5, Count: 1, Period: 60, Quantity: 1}, later)
	if r1 != r2 {
		t.Fatalf("restored key answers %+v, original %+v", r2, r1)
	}
	// Loading after expiry drops the keys that expired meanwhile.
	gone := engine.NewStore(4)
	li, err = Load(info.Path, gone, now+6e9)
	if err != nil || li.Expired != 100 {
		t.Fatalf("load 6 s later: %+v %v, want 100 expired", li, err)
	}
}

func writeSample(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	st := engine.NewStore(4)
	fill(t, st, 300)
	info, err := Write(dir, st, now)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Path, data
}

// Every flipped byte and every truncation is detected with an offset.
func TestCorruptionIsDetected(t *testing.T) {
	path, data := writeSample(t)
	bad := filepath.Join(t.TempDir(), "bad.rls")
	check := func(what string, b []byte) {
		t.Helper()
		if err := os.WriteFile(bad, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(bad, engine.NewStore(4), now)
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: got %v, want a CorruptError", what, err)
		}
	}
	for off := 0; off < len(data); off += max(1, len(data)/500) {
		b := slices.Clone(data)
		b[off] ^= 0x40
		check(fmt.Sprintf("flip at %d", off), b)
	}
	for n := 0; n < len(data); n += max(1, len(data)/500) {
		check(fmt.Sprintf("truncated to %d", n), data[:n])
	}
	check("trailing garbage", append(slices.Clone(data), 0))
	_, err := Load(path, engine.NewStore(4), now)
	if err != nil {
		t.Fatal("the original must still load:", err)
	}
	if err := os.WriteFile(bad, []byte("REDIS0011\xfa\tredis-ver"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad, engine.NewStore(4), now); err == nil || !errors.As(err, new(*CorruptError)) {
		t.Fatalf("an RDB file: %v", err)
	}
}

func TestFutureVersionIsRefused(t *testing.T) {
	_, data := writeSample(t)
	b := slices.Clone(data)
	copy(b, appendHeaderVersion(now, version+1)) // a valid header of a later version
	p := filepath.Join(t.TempDir(), "future.rls")
	os.WriteFile(p, b, 0o644)
	_, err := Load(p, engine.NewStore(4), now)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Offset != 8 {
		t.Fatalf("future version: %v", err)
	}
}

// A crash between writing the temp file and renaming it leaves the
// previous snapshot as the newest, loadable one.
func TestCrashBeforeRenameKeepsPreviousSnapshot(t *testing.T) {
	dir := t.TempDir()
	st := engine.NewStore(4)
	fill(t, st, 60)
	first, err := Write(dir, st, now)
	if err != nil {
		t.Fatal(err)
	}
	// The crashed writer's leftovers: a partial temp file for a newer one.
	partial := filepath.Join(dir, fileName(2)+".tmp")
	os.WriteFile(partial, []byte(magic+"half"), 0o644)
	files, _ := List(dir)
	if len(files) != 1 || files[0] != first.Path {
		t.Fatalf("List = %v", files)
	}
	if _, err := Load(files[0], engine.NewStore(4), now); err != nil {
		t.Fatal(err)
	}
	RemoveStaleTemps(dir)
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Fatal("stale temp file not removed")
	}
}

func TestOnlyTheNewestTwoAreKept(t *testing.T) {
	dir := t.TempDir()
	st := engine.NewStore(2)
	fill(t, st, 10)
	for i := range 5 {
		if _, err := Write(dir, st, now+int64(i)*1e9); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := List(dir)
	if len(files) != 2 || files[0] != filepath.Join(dir, fileName(5)) || files[1] != filepath.Join(dir, fileName(4)) {
		t.Fatalf("kept %v", files)
	}
}

func TestUnwritableDirectory(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	if _, err := Write(notDir, engine.NewStore(1), now); err == nil {
		t.Fatal("writing into a file path succeeded")
	}
}

// appendHeaderVersion is appendHeader with another version number, for
// tests of files from other versions.
func appendHeaderVersion(created int64, v uint32) []byte {
	b := append([]byte(nil), magic...)
	b = binary.LittleEndian.AppendUint32(b, v)
	b = binary.LittleEndian.AppendUint64(b, uint64(created))
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestVersion1WindowsLoad: a version-1 file (window implied by the expiry,
// SW's counts packed in one word) loads into version 2's window states,
// and the restored keys keep limiting, also after PERSIST.
func TestVersion1WindowsLoad(t *testing.T) {
	const minute = int64(60e9)
	start := now - now%minute // a window boundary
	endMs := (start + minute) / 1e6
	var payload []byte
	entry := func(kind byte, key string, expireMs int64, state uint64) {
		payload = append(payload, kind)
		payload = binary.AppendUvarint(payload, uint64(len(key)))
		payload = append(payload, key...)
		payload = binary.LittleEndian.AppendUint64(payload, uint64(expireMs))
		payload = binary.LittleEndian.AppendUint64(payload, state)
	}
	entry(diskFixedWindow, "fw", endMs, 3)
	// SW written in this window: prev 2^32−1 (v1's cap), cur 2^31; half of
	// prev still weighs at +30 s, so the window is full.
	entry(diskSlidingWindow, "sw", endMs+60_000, 0xffffffff<<32|1<<31)
	entry(diskGCRA, "g", endMs, uint64(start))
	file := appendHeaderVersion(now, 1)
	file = binary.LittleEndian.AppendUint32(file, uint32(len(payload)))
	file = binary.LittleEndian.AppendUint32(file, crc32.Checksum(payload, castagnoli))
	file = append(file, payload...)
	var end [16]byte
	binary.LittleEndian.PutUint64(end[4:12], 3)
	binary.LittleEndian.PutUint32(end[12:], crc32.Checksum(end[:12], castagnoli))
	file = append(file, end[:]...)
	path := filepath.Join(t.TempDir(), "v1.rls")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	st := engine.NewStore(1)
	if info, err := Load(path, st, start); err != nil || info.Keys != 3 {
		t.Fatalf("load v1: %+v %v", info, err)
	}
	sh := st.Shard(0)
	sh.Lock()
	defer sh.Unlock()
	at := start + 30e9
	for _, k := range []string{"fw", "sw"} {
		e, _ := sh.Get(engine.Hash([]byte(k)), []byte(k), at/1e6)
		want := engine.WindowState{EmptyAtMs: endMs, Cur: 3}
		if k == "sw" {
			want = engine.WindowState{EmptyAtMs: endMs + 60_000, Prev: 0xffffffff, Cur: 1 << 31}
		}
		if e.Window != want {
			t.Fatalf("%s: window %+v, want %+v", k, e.Window, want)
		}
		sh.SetExpire(engine.Hash([]byte(k)), []byte(k), 0, at/1e6) // PERSIST
	}
	fw, _ := sh.ThrottleFixedWindow(engine.Hash([]byte("fw")), []byte("fw"), engine.WindowParams{Limit: 3, Period: 60, Quantity: 1}, at, false)
	sw, _ := sh.ThrottleSlidingWindow(engine.Hash([]byte("sw")), []byte("sw"), engine.WindowParams{Limit: 0xffffffff, Period: 60, Quantity: 1}, at, false)
	if fw.Limited != 1 || sw.Limited != 1 {
		t.Fatalf("restored v1 windows after PERSIST: fw %+v sw %+v", fw, sw)
	}
}

// TestSequenceOutranksClockNames: snapshots are ordered by sequence
// number, not by a clock. Files named by an earlier version's wall clock,
// even far in the future (a clock that was ahead, or is behind now), are
// older than any numbered one, and a new snapshot is never pruned in their
// favour (issue 8, item 13).
func TestSequenceOutranksClockNames(t *testing.T) {
	dir := t.TempDir()
	st := engine.NewStore(2)
	fill(t, st, 12)
	first, err := Write(dir, st, now)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(first.Path)
	os.Remove(first.Path)
	future := []string{"snapshot-09000000000000000000.rls", "snapshot-08000000000000000000.rls", "snapshot-01795730160000000000.rls"}
	for _, name := range future {
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "snapshot-notes.rls"), nil, 0o644) // not a snapshot name: ignored
	if files, _ := List(dir); len(files) != 3 || files[0] != filepath.Join(dir, future[0]) {
		t.Fatalf("clock-named files only: %v", files)
	}
	// A clock behind every file name: the new snapshot is still the newest.
	for i, at := range []int64{now - 3600e9, now - 7200e9, 1} {
		info, err := Write(dir, st, at)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, fileName(uint64(i+1))); info.Path != want {
			t.Fatalf("save %d named %s, want %s", i, info.Path, want)
		}
		files, _ := List(dir)
		if len(files) != keepFiles || files[0] != info.Path {
			t.Fatalf("after save %d the newest is %v, want %s", i, files, info.Path)
		}
	}
	files, _ := List(dir)
	if files[1] != filepath.Join(dir, fileName(2)) {
		t.Fatalf("kept %v", files)
	}
	loaded, info, err := LoadNewest(dir, func() *engine.Store { return engine.NewStore(2) }, now, RecoverRefuse, nil)
	if err != nil || info.Path != files[0] || info.Created != 1 || loaded == nil {
		t.Fatalf("LoadNewest: %+v %v", info, err)
	}
}

// v3File wraps entries in a version-3 file.
func v3File(t *testing.T, payload []byte, entries uint64) string {
	t.Helper()
	file := appendHeaderVersion(now, 3)
	file = binary.LittleEndian.AppendUint32(file, uint32(len(payload)))
	file = binary.LittleEndian.AppendUint32(file, crc32.Checksum(payload, castagnoli))
	file = append(file, payload...)
	var end [16]byte
	binary.LittleEndian.PutUint64(end[4:12], entries)
	binary.LittleEndian.PutUint32(end[12:], crc32.Checksum(end[:12], castagnoli))
	file = append(file, end[:]...)
	path := filepath.Join(t.TempDir(), "v3.rls")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A version-3 file (sorted sets, no lists or hashes) still loads; one
// claiming a list is corrupt.
func TestVersion3FileLoads(t *testing.T) {
	var payload []byte
	payload = AppendEntry(payload, []byte("z"), engine.Entry{Kind: engine.KindZset, Zset: sampleZset()})
	payload = AppendEntry(payload, []byte("s"), engine.Entry{Kind: engine.KindString, Bytes: []byte("v")})
	st := engine.NewStore(1)
	if info, err := Load(v3File(t, payload, 2), st, now); err != nil || info.Keys != 2 {
		t.Fatalf("load v3: %+v %v", info, err)
	}
	withList := AppendEntry(slices.Clone(payload), []byte("l"), engine.Entry{Kind: engine.KindList, List: sampleList()})
	_, err := Load(v3File(t, withList, 3), engine.NewStore(1), now)
	if !errors.As(err, new(*CorruptError)) {
		t.Fatalf("a list in a v3 file: %v", err)
	}
}
