package server

// parseInt64 accepts exactly what strconv.ParseInt(s, 10, 64) accepts (an
// optional sign, then decimal digits, within range), without allocating.
// redis-cell parses its arguments this way.
func parseInt64(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	switch b[0] {
	case '+', '-':
		neg = b[0] == '-'
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var u uint64
	const limit = 1 << 63
	for _, ch := range b {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		if u > (limit)/10 {
			return 0, false
		}
		u = u*10 + uint64(ch-'0')
		if u > limit {
			return 0, false
		}
	}
	if neg {
		return -int64(u), true // -(1<<63) wraps to MinInt64, which is right
	}
	if u == limit {
		return 0, false
	}
	return int64(u), true
}

// parseRedisInt accepts what Redis's string2ll accepts: an optional minus,
// no plus sign, no leading zeros, within int64.
func parseRedisInt(b []byte) (int64, bool) {
	if len(b) == 0 || b[0] == '+' {
		return 0, false
	}
	digits := b
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || (digits[0] == '0' && (len(digits) > 1 || len(b) > 1)) {
		return 0, false
	}
	return parseInt64(b)
}
