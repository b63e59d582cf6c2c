// Package engine holds rlserver's limiter algorithms and the sharded
// in-memory store they keep their state in.
//
// The package is pure: it performs no I/O, starts no goroutines and never
// reads a clock. Every time-dependent function takes the current time as an
// argument (nanoseconds since the Unix epoch), so callers decide what "now"
// is and tests are exact.
package engine
