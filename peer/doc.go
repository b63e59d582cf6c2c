// Package peer is the RESP client rlserver nodes use to talk to each
// other: one pipelined connection per peer node, shared by every client
// whose commands go there, relaying each reply byte for byte.
//
// It is its own package because of where it sits: shard decides where a
// command goes and must know nothing of RESP framing (it is tested without
// a network), and server is the RESP *server*; a client that frames
// commands, splits a stream of replies and handles timeouts is a separate
// concern that server imports, and that is tested here against any RESP
// server, including a real redis-server.
//
// # Cost model
//
// Forwarding is on the hot path. A command to forward is appended to the
// peer's buffer with its Waiter (Forward, Do); Flush, called once per
// batch (a client's pipeline, an event-loop iteration), hands the buffer to
// the peer's single writer goroutine, which writes everything flushed
// since its last write in one call. A single reader goroutine splits
// replies with FrameLen and hands each to its Waiter in order, taking the
// waiters of up to 64 replies under one lock. No goroutine, timer or
// allocation is made per command; one timer per peer enforces the
// timeout.
//
// # Timeouts and failures
//
// Every command must be answered within Config.Timeout of its Flush
// (DefaultTimeout, 200 ms). When the oldest is late, the connection is
// closed and every waiting command fails with ErrTimeout, so a stopped
// peer costs clients at most one timeout; the next Flush dials again. The
// caller decides what a failure means (server applies
// --owner-unreachable).
//
// # Wire format
//
// Peers authenticate each connection with RL.PEER <token>, where the token
// is an HMAC of the cluster key (Token). Forwarded commands travel as
// RL.FWD <instant ns> <resp> <hops> <user> <command> [args...]
// (AppendForward): the owner decides at the instant the first node received
// the command, in the client's protocol version, with the ACL permissions
// of the client's user, and refuses to forward past MaxHops.
package peer
