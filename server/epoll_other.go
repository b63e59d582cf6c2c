//go:build !linux

package server

import "errors"

const epollSupported = false

func (s *Server) serveEpoll() error { return errors.New("epoll needs Linux") }

// Without event loops every connection has its own goroutine: a busy
// script blocks only its own.
func nestedServing(*Client) bool { return false }
func serveOthers(*Client)        {}
