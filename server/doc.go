// Package server is rlserver's network edge: a RESP listener that parses
// requests with its own incremental parser (Redis 7's multibulk and inline
// grammar and error texts, resp.go), dispatches them through one command
// table under the client's shard lock set (lock.go), and appends replies
// with redcon's encoders to the one output path that invalidation pushes
// share (conn.go); plus the monotone clock every command reads once.
//
// The edge is defensive: argument count, bulk length and buffered bytes per
// connection are capped before they are buffered (smaller before AUTH),
// output is bounded as it is produced, every command runs under a panic
// guard, and a protocol error closes only the offending connection.
package server
