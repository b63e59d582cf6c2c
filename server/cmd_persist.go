package server

import (
	"errors"

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
	err := s.saver.Background()
	switch {
	case c.inExec && (err == nil || c.execBgsave && errors.Is(err, persistence.ErrSaveInProgress)):
		// Redis forks no child inside EXEC: it schedules the save for
		// after it. Ours waits for the shards the transaction holds, so it
		// is scheduled too, and answers in Redis's words (a second BGSAVE
		// in the same EXEC as well).
		c.execBgsave = true
		c.out = redcon.AppendString(c.out, "Background saving scheduled")
	case errors.Is(err, persistence.ErrSaveInProgress):
		c.out = appendError(c.out, "ERR Background save already in progress")
	case err != nil:
		c.out = appendError(c.out, "ERR "+err.Error())
	default:
		c.out = redcon.AppendString(c.out, "Background saving started")
	}
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
