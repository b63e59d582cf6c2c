package persistence

import (
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rlserver/rlserver/engine"
)

// ErrSaveInProgress is returned when a background save is already running.
var ErrSaveInProgress = errors.New("background save already in progress")

// Saver takes the store's snapshots: on demand (Save), in the background
// (Background), and on a timer (Run). One snapshot is written at a time.
// Create it with NewSaver; safe for concurrent use.
type Saver struct {
	dir   string
	store *engine.Store
	now   func() int64 // Unix ns; the server's monotone clock
	log   *slog.Logger

	writing sync.Mutex  // held while a snapshot is being written
	bg      atomic.Bool // a background save is running
	changes atomic.Int64

	mu   sync.Mutex // guards last
	last Stats
}

// Stats describes the saver's state for INFO persistence and LASTSAVE.
type Stats struct {
	LastSave       int64 // Unix s of the last successful save (0: none)
	LastOK         bool  // whether the last attempt succeeded
	LastError      string
	LastDuration   time.Duration
	LastBytes      int64
	LastKeys       int64
	Saves          int64 // successful saves since start
	Failures       int64
	InProgress     bool
	ChangesPending int64 // write commands since the last successful save began
}

// NewSaver returns a saver writing snapshots of st into dir.
func NewSaver(dir string, st *engine.Store, now func() int64, log *slog.Logger) *Saver {
	return &Saver{dir: dir, store: st, now: now, log: log, last: Stats{LastOK: true}}
}

// Changed records one write command, for "changes since last save".
func (s *Saver) Changed() { s.changes.Add(1) }

// Save writes a snapshot now and returns when it is durable.
func (s *Saver) Save() (Info, error) {
	s.writing.Lock()
	defer s.writing.Unlock()
	pending := s.changes.Load()
	info, err := Write(s.dir, s.store, s.now())
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.last.LastOK = false
		s.last.LastError = err.Error()
		s.last.Failures++
		s.log.Error("snapshot failed", "dir", s.dir, "error", err)
		return info, err
	}
	s.changes.Add(-pending)
	s.last.LastOK = true
	s.last.LastError = ""
	s.last.LastSave = info.Created / 1e9
	s.last.LastDuration = info.Duration
	s.last.LastBytes = info.Bytes
	s.last.LastKeys = info.Keys
	s.last.Saves++
	s.log.Info("snapshot written", "path", info.Path, "keys", info.Keys, "bytes", info.Bytes, "duration", info.Duration)
	return info, nil
}

// Background starts a save in its own goroutine, or returns
// ErrSaveInProgress.
func (s *Saver) Background() error {
	if !s.bg.CompareAndSwap(false, true) {
		return ErrSaveInProgress
	}
	go func() {
		defer s.bg.Store(false)
		s.Save()
	}()
	return nil
}

// Run saves every interval until done is closed, skipping a tick while a
// save is running.
func (s *Saver) Run(interval time.Duration, done <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if s.bg.CompareAndSwap(false, true) {
				s.Save()
				s.bg.Store(false)
			}
		}
	}
}

// Stats returns the current statistics.
func (s *Saver) Stats() Stats {
	s.mu.Lock()
	st := s.last
	s.mu.Unlock()
	st.InProgress = s.bg.Load()
	st.ChangesPending = s.changes.Load()
	return st
}

// Recover says what LoadNewest does when the newest snapshot is unusable.
type Recover int

const (
	// RecoverRefuse: return the error; the server does not start.
	RecoverRefuse Recover = iota
	// RecoverPrevious: load the previous good snapshot instead.
	RecoverPrevious
)

// LoadNewest loads the newest snapshot in dir (creating dir if needed)
// into a fresh store made by newStore, which it returns. It leaves every
// file as it found it, except temp files a crash left behind.
func LoadNewest(dir string, newStore func() *engine.Store, now int64, mode Recover, log *slog.Logger) (*engine.Store, Info, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, Info{}, err
	}
	RemoveStaleTemps(dir)
	files, err := List(dir)
	if err != nil {
		return nil, Info{}, err
	}
	if len(files) == 0 {
		return newStore(), Info{}, nil
	}
	st := newStore()
	info, err := Load(files[0], st, now)
	if err == nil {
		return st, info, nil
	}
	if mode != RecoverPrevious || len(files) < 2 {
		return nil, info, err
	}
	log.Warn("newest snapshot unusable; starting from the previous one as --snapshot-recover=previous asks", "bad", files[0], "error", err, "using", files[1])
	st = newStore()
	info, err2 := Load(files[1], st, now)
	if err2 != nil {
		return nil, info, errors.Join(err, err2)
	}
	return st, info, nil
}
