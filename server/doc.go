// Package server is rlserver's network edge: a RESP listener that reads
// commands with redcon's parser, dispatches them through one command table
// and appends replies with redcon's encoders; plus the monotone clock every
// command reads once.
//
// The edge is defensive: argument count, bulk length and buffered bytes per
// connection are capped before they are buffered, every command runs under
// a panic guard, and a protocol error closes only the offending connection.
package server
