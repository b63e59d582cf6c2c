package peer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// Internal commands. Peers authenticate with AuthCommand and a token only
// cluster members can compute (Token); the server refuses the other
// internal commands on a connection that has not, so an ordinary client can
// never forge a command's instant, its protocol version, or bypass the
// checks the first node made.
const (
	// AuthCommand authenticates a peer connection: RL.PEER <token>.
	AuthCommand = "rl.peer"
	// ForwardCommand runs a forwarded command as the user who sent it:
	// RL.FWD <instant ns> <resp 2|3> <hops> <user> <command> [args...].
	ForwardCommand = "rl.fwd"
	// UnreachableCommand is RL.FWD for a command whose slot's holder did
	// not answer the first node: the receiver (the slot's first replica)
	// serves it if it holds the slot by now, and otherwise answers by the
	// unreachable-owner policy from its replica's copy. Same arguments.
	UnreachableCommand = "rl.fwdu"
)

// MaxHops bounds how many times one command may be forwarded; past it the
// node answers TRYAGAIN instead of forwarding again (tables disagree for a
// moment during handoffs).
const MaxHops = 4

// Token derives the peer authentication token from the cluster key. It is
// an HMAC, so the key itself never travels.
func Token(clusterKey []byte) string {
	m := hmac.New(sha256.New, clusterKey)
	m.Write([]byte("rlserver peer authentication v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// AppendCommand appends args as a RESP multibulk.
func AppendCommand(b []byte, args ...[]byte) []byte {
	b = appendHeader(b, '*', len(args))
	for _, a := range args {
		b = appendBulk(b, a)
	}
	return b
}

// AppendForward appends RL.FWD carrying args (the command and its
// arguments), the instant now (Unix ns) the first node received it, the
// client's protocol version, the hops made so far (0 from the first node)
// and the ACL user the client runs as: the owner runs the command, and
// every redis.call of a script, with that user's permissions. The peer
// connection is authenticated (RL.PEER), so the owner can trust the name.
// It does not allocate beyond growing b.
func AppendForward(b []byte, now int64, resp, hops int, user string, args [][]byte) []byte {
	return appendForward(b, "$6\r\nRL.FWD\r\n", now, resp, hops, user, args)
}

// AppendUnreachable is AppendForward with UnreachableCommand.
func AppendUnreachable(b []byte, now int64, resp, hops int, user string, args [][]byte) []byte {
	return appendForward(b, "$7\r\nRL.FWDU\r\n", now, resp, hops, user, args)
}

func appendForward(b []byte, name string, now int64, resp, hops int, user string, args [][]byte) []byte {
	b = appendHeader(b, '*', len(args)+5)
	b = append(b, name...)
	var num [20]byte
	b = appendBulk(b, strconv.AppendInt(num[:0], now, 10))
	b = append(b, '$', '1', '\r', '\n', byte('0'+resp%10), '\r', '\n')
	b = appendBulk(b, strconv.AppendInt(num[:0], int64(hops), 10))
	b = appendHeader(b, '$', len(user))
	b = append(b, user...)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = appendBulk(b, a)
	}
	return b
}

func appendHeader(b []byte, kind byte, n int) []byte {
	b = append(b, kind)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

func appendBulk(b, a []byte) []byte {
	b = appendHeader(b, '$', len(a))
	b = append(b, a...)
	return append(b, '\r', '\n')
}
