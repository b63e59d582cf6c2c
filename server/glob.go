package server

import "github.com/rlserver/rlserver/glob"

// globMatch reports whether s matches the Redis glob pattern p.
func globMatch(p, s []byte) bool { return glob.Match(p, s) }
