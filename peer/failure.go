package peer

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// Failure is what a Waiter's error means, in a small fixed set, so that
// callers can count failures by kind without looking at error text.
type Failure uint8

// Failure kinds.
const (
	// FailOther is anything else: ErrClosed (this node shutting down), a
	// TLS handshake error, an unknown network error.
	FailOther Failure = iota
	// FailTimeout: no reply within the timeout (ErrTimeout), or the dial
	// or a write timed out: the peer is stopped or the network drops
	// packets.
	FailTimeout
	// FailRefused: the dial was refused: nothing listens at the address
	// (the peer process is gone).
	FailRefused
	// FailReset: an established connection broke: reset by the peer,
	// closed by it (EOF), or a broken pipe.
	FailReset
	// FailProtocol: the peer sent bytes that are not RESP (ErrProtocol).
	FailProtocol
	// FailAuth: the peer refused this node's token (ErrAuth): another
	// cluster key.
	FailAuth
	numFailures
)

// NumFailures is the number of Failure kinds (for arrays indexed by kind).
const NumFailures = int(numFailures)

// Classify returns the kind of a Waiter's non-nil error.
func Classify(err error) Failure {
	var ne net.Error
	switch {
	case errors.Is(err, ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return FailTimeout
	case errors.Is(err, ErrProtocol):
		return FailProtocol
	case errors.Is(err, ErrAuth):
		return FailAuth
	case errors.Is(err, syscall.ECONNREFUSED):
		return FailRefused
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, net.ErrClosed):
		return FailReset
	}
	return FailOther
}
