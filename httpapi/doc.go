// Package httpapi is rlserver's HTTP listener (--http-addr): the rate-limit
// check for applications that do not want to manage keys, the admin API
// for rules, allow/deny lists and tiers, statistics, and GET /health.
//
// Other packages add their own endpoints (metrics, a status page) with
// Server.Handle between New and Serve; every route shares the listener,
// its timeouts and, with Options.TLSConfig, its TLS.
//
// Every error reply is JSON with a stable code:
//
//	{"error": {"code": "VALIDATION_FAILED", "message": "...", "fields": {"limit": "must be positive"}}}
//
// Routes use net/http's method patterns (Go 1.22+); requests no route
// matches get a JSON 404 or 405 too.
package httpapi
