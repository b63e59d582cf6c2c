package server

// Now reads the server's clock: Unix nanoseconds that never go backwards.
// Other listeners (HTTP) decide with it so that every path shares one time.
func (s *Server) Now() int64 { return s.clock.Now() }
