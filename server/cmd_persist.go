package server

import (
	"errors"
	"strconv"

	"github.com/rlserver/rlserver/persistence"
	"github.com/tidwall/redcon"
)

const errNoPersistence = "ERR persistence is disabled (start rlserver with --data-dir)"

func cmdSave(s *Server, c *Client, args [][]byte, now int64) {
	if s.saver == nil {
		c.out = appendError(c.out, errNoPersistence)
		return
	}
	if _, err := s.saver.Save(); err != nil {
		c.out = appendError(c.out, "ERR "+err.Error())
		return
	}
	c.out = redcon.AppendOK(c.out)
}

func cmdBgsave(s *Server, c *Client, args [][]byte, now int64) {
	if len(args) > 2 || (len(args) == 2 && !eqFold(args[1], "schedule")) {
		c.out = appendError(c.out, errSyntax)
		return
	}
	if s.saver == nil {
		c.out = appendError(c.out, errNoPersistence)
		return
	}
	if err := s.saver.Background(); err != nil {
		if errors.Is(err, persistence.ErrSaveInProgress) {
			c.out = appendError(c.out, "ERR Background save already in progress")
			return
		}
		c.out = appendError(c.out, "ERR "+err.Error())
		return
	}
	c.out = redcon.AppendString(c.out, "Background saving started")
}

// cmdLastsave answers the Unix time of the last successful save; like
// Redis, the start time before any.
func cmdLastsave(s *Server, c *Client, args [][]byte, now int64) {
	t := s.started.Unix()
	if s.saver != nil {
		if st := s.saver.Stats(); st.LastSave != 0 {
			t = st.LastSave
		}
	}
	c.out = redcon.AppendInt(c.out, t)
}

// persistenceInfo is INFO's Persistence section.
func (s *Server) persistenceInfo() []string {
	kv := []string{"loading", "0"}
	if s.saver == nil {
		return append(kv, "rdb_changes_since_last_save", "0", "rdb_bgsave_in_progress", "0",
			"rdb_last_save_time", strconv.FormatInt(s.started.Unix(), 10), "rdb_last_bgsave_status", "ok",
			"aof_enabled", "0", "snapshot_enabled", "0")
	}
	st := s.saver.Stats()
	status := "ok"
	if !st.LastOK {
		status = "err"
	}
	last := st.LastSave
	if last == 0 {
		last = s.started.Unix()
	}
	inProgress := "0"
	if st.InProgress {
		inProgress = "1"
	}
	return append(kv,
		"rdb_changes_since_last_save", strconv.FormatInt(st.ChangesPending, 10),
		"rdb_bgsave_in_progress", inProgress,
		"rdb_last_save_time", strconv.FormatInt(last, 10),
		"rdb_last_bgsave_status", status,
		"rdb_last_bgsave_time_sec", strconv.FormatInt(int64(st.LastDuration.Seconds()+0.5), 10),
		"rdb_saves", strconv.FormatInt(st.Saves, 10),
		"aof_enabled", "0",
		"snapshot_enabled", "1",
		"snapshot_dir", s.cfg.DataDir,
		"snapshot_interval_sec", strconv.FormatInt(s.cfg.SnapshotInterval/1e9, 10),
		"snapshot_last_duration_ms", strconv.FormatInt(st.LastDuration.Milliseconds(), 10),
		"snapshot_last_bytes", strconv.FormatInt(st.LastBytes, 10),
		"snapshot_last_keys", strconv.FormatInt(st.LastKeys, 10),
		"snapshot_failures", strconv.FormatInt(st.Failures, 10),
		"snapshot_last_error", st.LastError,
	)
}
