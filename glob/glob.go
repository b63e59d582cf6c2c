// Package glob matches Redis glob patterns (KEYS, SCAN MATCH, CONFIG GET,
// ACL key patterns) byte-wise, in time linear in the pattern times the
// subject: it never backtracks further than the last star.
package glob

// Match reports whether s matches the Redis glob pattern p: * ? [set]
// [^set] [a-z] and backslash escapes, byte-wise. It backtracks only to the
// last star, so it runs in O(len(p)·len(s)) on any pattern. It does not
// retain p or s.
func Match(p, s []byte) bool {
	px, sx := 0, 0
	starP, starS := -1, 0
	for sx < len(s) {
		if px < len(p) {
			switch p[px] {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				px++
				sx++
				continue
			case '[':
				if next, ok := matchClass(p, px+1, s[sx]); ok {
					px = next
					sx++
					continue
				}
			case '\\':
				if px+1 < len(p) && p[px+1] == s[sx] {
					px += 2
					sx++
					continue
				}
				if px+1 == len(p) && s[sx] == '\\' {
					px++
					sx++
					continue
				}
			default:
				if p[px] == s[sx] {
					px++
					sx++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		px = starP + 1
		starS++
		sx = starS
	}
	for px < len(p) && p[px] == '*' {
		px++
	}
	return px == len(p)
}

// matchClass matches ch against the class starting at p[i] (just after
// '[') and returns the index after the closing ']'.
func matchClass(p []byte, i int, ch byte) (int, bool) {
	not := i < len(p) && p[i] == '^'
	if not {
		i++
	}
	match := false
	for i < len(p) && p[i] != ']' {
		switch {
		case p[i] == '\\' && i+1 < len(p):
			match = match || p[i+1] == ch
			i += 2
		case i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']':
			lo, hi := p[i], p[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			match = match || (ch >= lo && ch <= hi)
			i += 3
		default:
			match = match || p[i] == ch
			i++
		}
	}
	if i < len(p) {
		i++
	}
	return i, match != not
}
