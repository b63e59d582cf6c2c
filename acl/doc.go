// Package acl is rlserver's user model: the subset of Redis's ACL rule
// language the README documents, users whose passwords are kept only as
// SHA-256 hashes and compared in constant time, the registry of users the
// server authenticates against, and the per-command permission check.
//
// The package is pure: it reads no files and knows nothing of RESP. The
// server describes its command table once (a Catalog: command names and
// the categories each belongs to, derived from the table's flags), and
// every user's command permissions are then a bitset over the catalog's
// command ids, so the check on every command is one bit test.
//
// A User is immutable once published; changing a user (SETUSER) builds a
// new value and swaps it into the user's Handle, so a connection holding a
// Handle sees the change at its next command, as in Redis.
package acl
