// Package ratelog keeps repeated warnings from flooding the log: the first
// occurrence of a kind of event is logged at once, later ones within the
// interval are counted, and the next line after the interval says how many
// were suppressed. A client that trips a limit a thousand times a second
// costs one log line a minute, not a thousand.
package ratelog

import (
	"log/slog"
	"sync"
	"time"
)

// Limiter rate-limits log lines per key (a fixed string naming the kind of
// event, never request data). Create it with New; safe for concurrent use.
type Limiter struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*state
}

type state struct {
	last       time.Time
	suppressed int64
}

// New returns a limiter that logs each key at most once per every.
func New(log *slog.Logger, every time.Duration) *Limiter {
	return &Limiter{log: log, every: every, now: time.Now, keys: make(map[string]*state)}
}

// Warn logs msg at warning level unless key was logged less than the
// interval ago; then it only counts it. The line that follows a quiet
// spell carries "suppressed": how many were not logged.
func (l *Limiter) Warn(key, msg string, args ...any) {
	l.emit(slog.LevelWarn, key, msg, args)
}

// Error is Warn at error level.
func (l *Limiter) Error(key, msg string, args ...any) {
	l.emit(slog.LevelError, key, msg, args)
}

func (l *Limiter) emit(level slog.Level, key, msg string, args []any) {
	now := l.now()
	l.mu.Lock()
	st := l.keys[key]
	if st == nil {
		st = &state{}
		l.keys[key] = st
	} else if now.Sub(st.last) < l.every {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.last, st.suppressed = now, 0
	l.mu.Unlock()
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	l.log.Log(nil, level, msg, args...)
}
