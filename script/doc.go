// Package script runs Redis 7 Lua scripts (EVAL, EVALSHA, SCRIPT LOAD) on
// gopher-lua, a pure-Go Lua 5.1 VM: no cgo, no second runtime, and the well-kept
// implementation of the Lua version Redis embeds, which is why it is a
// dependency rather than something we write.
//
// What Redis's scripts see is reproduced here: the sandbox (no os, io,
// loadfile, dofile, require; the global table and every library table are
// read-only, reading an unknown global is an error), KEYS and ARGV, the redis
// table (call, pcall, error_reply, status_reply, sha1hex, log, setresp,
// replicate_commands, set_repl, the log and replication constants), the
// string, table, math, coroutine, cjson and bit libraries, Lua's own number
// formatting (%.14g), and Redis's exact conversions between Lua values and
// RESP replies in both directions, RESP3 included. Error replies carry
// Redis's wording and its " script: <sha>, on @user_script:<line>." suffix.
//
// The package knows nothing of the server: a script's redis.call reaches the
// command table through the Host it is given with each request, which
// answers with the command's RESP reply. The caller is responsible for
// atomicity (it holds the locks of the script's keys while Eval runs).
//
// Resources: compiled scripts are cached by SHA1 (see Config for the bounds
// and what is evicted); VMs are pooled and reused, with their KEYS/ARGV tables
// and compiled closures, so a cached script runs without compiling and with
// few allocations. A running script can be killed (Run.Kill) at its next VM
// instruction, its Host is ticked every few thousand instructions (the
// server serves other clients from there while a script is busy), and a
// script that allocates without end is stopped with an error (Config.MemoryLimit).
package script
