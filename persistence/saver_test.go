package persistence

import (
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rlserver/rlserver/engine"
)

// TestSaverRunsOnItsInterval uses synctest's fake clock: 95 s of
// "time" pass instantly and three periodic snapshots are written.
func TestSaverRunsOnItsInterval(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		st := engine.NewStore(2)
		fill(t, st, 12)
		s := NewSaver(dir, st, func() int64 { return time.Now().UnixNano() }, slog.New(slog.DiscardHandler))
		done := make(chan struct{})
		go s.Run(30*time.Second, done)
		time.Sleep(95 * time.Second)
		synctest.Wait()
		close(done)
		if got := s.Stats(); got.Saves != 3 || !got.LastOK || got.LastKeys != 12 {
			t.Fatalf("after 95 s: %+v", got)
		}
		files, _ := List(dir)
		if len(files) != keepFiles {
			t.Fatalf("snapshots kept: %v", files)
		}
	})
}

func TestBackgroundRefusesASecondSave(t *testing.T) {
	dir := t.TempDir()
	st := engine.NewStore(2)
	s := NewSaver(dir, st, func() int64 { return now }, slog.New(slog.DiscardHandler))
	s.bg.Store(true) // as if a save were running
	if err := s.Background(); err != ErrSaveInProgress {
		t.Fatalf("second BGSAVE: %v", err)
	}
	s.bg.Store(false)
	s.Changed()
	if _, err := s.Save(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.ChangesPending != 0 || st.Saves != 1 {
		t.Fatalf("after SAVE: %+v", st)
	}
}
