package server

import (
	"net/netip"
)

// errDenied is Redis's protected-mode refusal, adapted to rlserver's flags.
const errDenied = "DENIED rlserver is running in protected mode because protected mode is enabled and no password is set for the default user. " +
	"In this mode connections are only accepted from the loopback interface. " +
	"If you want to connect from external computers to rlserver you may adopt one of the following solutions: " +
	"1) Restart rlserver with the '--protected-mode no' option, however MAKE SURE rlserver is not publicly accessible from internet if you do so. " +
	"2) Set up an authentication password for the default user (--requirepass), or switch the default user off and define ACL users (--user, --aclfile). " +
	"NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside."

// ProtectedRefuses is protected mode's decision, made when a connection is
// accepted: refuse it when protected mode is on, the default user can be
// used without a password (on and nopass: the server is open to whoever
// reaches it) and the client is not on the loopback interface. A listener
// bound to loopback only never sees such a client, so in effect this
// applies when rlserver is bound to another address. remote is the
// client's "host:port"; one that does not parse is treated as remote.
func ProtectedRefuses(enabled, defaultOpen bool, remote string) bool {
	if !enabled || !defaultOpen {
		return false
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return true
	}
	return !ap.Addr().Unmap().IsLoopback()
}
