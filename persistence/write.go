package persistence

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rlserver/rlserver/engine"
)

// Info describes one snapshot written or loaded.
type Info struct {
	Path     string
	Created  int64 // Unix ns
	Keys     int64 // entries in the file (written), or restored (loaded)
	Expired  int64 // entries dropped on load because they had expired
	Bytes    int64
	Duration time.Duration
}

const (
	filePrefix = "snapshot-"     // both namings start with it
	seqPrefix  = "snapshot-seq-" // snapshot-seq-<sequence, 20 digits>.rls
	fileSuffix = ".rls"
	keepFiles  = 2 // the newest and the previous good one
)

// fileName names the snapshot with sequence number seq. Snapshots are
// ordered by this number, never by a clock: a clock that is behind the
// newest snapshot at start cannot make a new one look older.
func fileName(seq uint64) string { return fmt.Sprintf("%s%020d%s", seqPrefix, seq, fileSuffix) }

// snapshotName is a parsed file name: seq is true for sequence-numbered
// names (n is the sequence number) and false for the wall-clock names of
// earlier versions, snapshot-<created ns, 20 digits>.rls (n is the time),
// which are all older than any sequence-numbered one.
type snapshotName struct {
	seq bool
	n   uint64
}

func parseName(name string) (snapshotName, bool) {
	if !strings.HasSuffix(name, fileSuffix) {
		return snapshotName{}, false
	}
	digits, seq := strings.CutPrefix(name, seqPrefix)
	if !seq {
		var ok bool
		if digits, ok = strings.CutPrefix(name, filePrefix); !ok {
			return snapshotName{}, false
		}
	}
	digits = strings.TrimSuffix(digits, fileSuffix)
	if len(digits) != 20 {
		return snapshotName{}, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return snapshotName{}, false
	}
	return snapshotName{seq: seq, n: n}, true
}

// newer reports whether a names a later snapshot than b.
func (a snapshotName) newer(b snapshotName) bool {
	if a.seq != b.seq {
		return a.seq
	}
	return a.n > b.n
}

// Write snapshots st into dir at instant now (Unix ns). It walks the store
// one shard at a time, holding each shard's lock only while that shard's
// entries are encoded, so serving never stops. The file takes the next
// sequence number after the newest snapshot in dir (1 in an empty dir). It
// is complete and durable before Write returns; older snapshots beyond the
// newest two are removed only then. Callers serialize Writes to one dir.
func Write(dir string, st *engine.Store, now int64) (Info, error) {
	start := time.Now()
	names, err := list(dir)
	if err != nil {
		return Info{Created: now}, fmt.Errorf("persistence: list %s: %w", dir, err)
	}
	seq := uint64(1)
	if len(names) > 0 && names[0].name.seq {
		seq = names[0].name.n + 1
	}
	info := Info{Created: now, Path: filepath.Join(dir, fileName(seq))}
	tmp := info.Path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return info, fmt.Errorf("persistence: create %s: %w", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.Write(appendHeader(nil, now)); err != nil {
		return info, fmt.Errorf("persistence: write %s: %w", tmp, err)
	}
	// Each shard is encoded into buf under its lock (microseconds for
	// thousands of keys) and written after the lock is released, so a slow
	// disk never stalls a shard.
	var buf []byte
	var cuts []int
	nowMs := now / 1e6
	var werr error
	var worked time.Duration
	for i := 0; i < st.NumShards() && werr == nil; i++ {
		shardStart := time.Now()
		buf, cuts = buf[:0], cuts[:0]
		sh := st.Shard(i)
		sh.Lock()
		last := 0
		for key, e := range sh.Keys(nowMs) {
			buf = appendEntry(buf, key, e)
			info.Keys++
			if len(buf)-last >= blockTarget {
				cuts = append(cuts, len(buf))
				last = len(buf)
			}
		}
		sh.Unlock()
		if last < len(buf) {
			cuts = append(cuts, len(buf))
		}
		prev := 0
		for _, cut := range cuts {
			if werr = writeBlock(w, buf[prev:cut]); werr != nil {
				break
			}
			prev = cut
		}
		// Pace the snapshot to a third of a core: after each 2 ms of work,
		// rest twice as long. On a small machine it would otherwise take a
		// core from serving for its whole duration (p99 measured in the
		// README).
		if worked += time.Since(shardStart); worked >= 2*time.Millisecond {
			time.Sleep(2 * worked)
			worked = 0
		}
		if cap(buf) > 16<<20 {
			buf = nil
		}
	}
	if werr == nil {
		var end [16]byte
		binary.LittleEndian.PutUint64(end[4:12], uint64(info.Keys))
		binary.LittleEndian.PutUint32(end[12:], crc32.Checksum(end[:12], castagnoli))
		_, werr = w.Write(end[:])
	}
	if werr == nil {
		werr = w.Flush()
	}
	if werr == nil {
		werr = f.Sync()
	}
	if werr != nil {
		return info, fmt.Errorf("persistence: write %s: %w", tmp, werr)
	}
	if st, err := f.Stat(); err == nil {
		info.Bytes = st.Size()
	}
	if err := f.Close(); err != nil {
		return info, fmt.Errorf("persistence: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, info.Path); err != nil {
		return info, fmt.Errorf("persistence: rename %s: %w", tmp, err)
	}
	ok = true
	if err := syncDir(dir); err != nil {
		return info, fmt.Errorf("persistence: sync %s: %w", dir, err)
	}
	info.Duration = time.Since(start)
	prune(dir)
	return info, nil
}

func writeBlock(w *bufio.Writer, block []byte) error {
	var hdr [8]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(block)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(block, castagnoli))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(block)
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// List returns the snapshot files in dir, newest first: sequence-numbered
// ones by number, then wall-clock-named ones of earlier versions by time.
// Other files are ignored.
func List(dir string) ([]string, error) {
	names, err := list(dir)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.path
	}
	return out, nil
}

type snapshotFile struct {
	path string
	name snapshotName
}

func list(dir string) ([]snapshotFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []snapshotFile
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if n, ok := parseName(e.Name()); ok {
			out = append(out, snapshotFile{filepath.Join(dir, e.Name()), n})
		}
	}
	slices.SortFunc(out, func(a, b snapshotFile) int {
		switch {
		case a.name.newer(b.name):
			return -1
		case b.name.newer(a.name):
			return 1
		}
		return 0
	})
	return out, nil
}

// prune removes all but the newest keepFiles snapshots, and temp files
// left by a crash.
func prune(dir string) {
	files, err := List(dir)
	if err != nil {
		return
	}
	for _, f := range files[min(len(files), keepFiles):] {
		os.Remove(f)
	}
}

// RemoveStaleTemps deletes .tmp files a crash left behind in dir.
func RemoveStaleTemps(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, filePrefix) && strings.HasSuffix(n, fileSuffix+".tmp") {
			os.Remove(filepath.Join(dir, n))
		}
	}
}
