//go:build !linux

package server

import "errors"

const epollSupported = false

func (s *Server) serveEpoll() error { return errors.New("epoll needs Linux") }
