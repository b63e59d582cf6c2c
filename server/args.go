package server

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

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

// maxFloatArgBytes mirrors Redis's MAX_LONG_DOUBLE_CHARS: string2ld copies
// the argument into a 5 KiB buffer and refuses anything that does not fit.
const maxFloatArgBytes = 5 * 1024

// parseRedisFloat accepts exactly the decimals Redis 7 accepts for a long
// double argument (string2ld: strtold in the C locale over the whole
// argument). That is an optional sign, then decimal digits with an optional
// point and e-exponent, hexadecimal digits after 0x with an optional point
// and p-exponent, or inf/infinity (any case). Refused: leading or trailing
// spaces, NUL bytes, underscores, NaN, an exponent without digits, and
// values that overflow a long double or round to zero from a non-zero
// mantissa. The value is returned as a float64: ±Inf beyond its range,
// ±SmallestNonzeroFloat64 for non-zero values below it.
func parseRedisFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) >= maxFloatArgBytes {
		return 0, false
	}
	s := b
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		s = s[1:]
	}
	sign := func(v float64) float64 {
		if neg {
			return -v
		}
		return v
	}
	if eqFold(s, "inf") || eqFold(s, "infinity") {
		return sign(math.Inf(1)), true
	}
	hex := len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
	if hex {
		s = s[2:]
	}
	// Mantissa: digits with at most one point, at least one digit.
	// scale is the mantissa's magnitude in exponent units (decimal
	// digits, or bits for hex) counted from its first non-zero digit.
	digits, point, nonzero := 0, false, false
	scale := int64(0)
	i := 0
	for ; i < len(s); i++ {
		ch := s[i]
		if ch == '.' {
			if point {
				break
			}
			point = true
			continue
		}
		d, ok := digitValue(ch, hex)
		if !ok {
			break
		}
		digits++
		switch {
		case !nonzero && d != 0:
			nonzero = true
			if !point {
				scale = 1
			}
		case nonzero && !point:
			scale++
		case !nonzero && point:
			scale--
		}
	}
	if digits == 0 {
		return 0, false
	}
	exp := int64(0)
	if i < len(s) && (hex && (s[i] == 'p' || s[i] == 'P') || !hex && (s[i] == 'e' || s[i] == 'E')) {
		j := i + 1
		expNeg := false
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			expNeg = s[j] == '-'
			j++
		}
		start := j
		for ; j < len(s) && s[j] >= '0' && s[j] <= '9'; j++ {
			exp = min(exp*10+int64(s[j]-'0'), 1<<40) // saturate: far past any range
		}
		if j == start {
			return 0, false // strtold stops before the 'e': the rest is unparsed
		}
		if expNeg {
			exp = -exp
		}
		i = j
	}
	if i != len(s) {
		return 0, false
	}
	if !nonzero {
		return sign(0), true
	}
	// Magnitude in bits (hex: scale counts hex digits of 4 bits).
	var bitsMag int64
	if hex {
		bitsMag = scale*4 + exp
	} else {
		bitsMag = (scale + exp) * 3322 / 1000 // log2(10) ≈ 3.322
	}
	// A long double (x87, 64-bit mantissa) spans about 2^-16445 to 2^16384.
	switch {
	case bitsMag > 16400:
		return 0, false
	case bitsMag < -16470:
		return 0, false
	case bitsMag > -1000 && bitsMag < 1000:
		// Well inside float64's range: strconv is exact and cheap.
	default:
		return longDoubleEdge(b, neg)
	}
	text := string(b)
	if hex && !strings.ContainsAny(text, "pP") {
		text += "p0" // Go insists on a binary exponent for hex floats
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return 0, false // cannot happen after the grammar check above
	}
	return v, true
}

// longDoubleEdge decides values near a long double's limits exactly (rare,
// so big.Float's allocations do not matter).
func longDoubleEdge(b []byte, neg bool) (float64, bool) {
	f, _, err := new(big.Float).SetPrec(64).Parse(string(b), 0)
	if err != nil {
		return 0, false
	}
	exp := f.MantExp(nil) // |f| = m·2^exp with 0.5 ≤ m < 1
	mant := new(big.Float).SetMantExp(f, -exp)
	mant.Abs(mant)
	switch {
	case exp > 16384:
		return 0, false // overflow: strtold returns HUGE_VAL with ERANGE
	case exp < -16445 || (exp == -16445 && mant.Cmp(big.NewFloat(0.5)) == 0):
		return 0, false // rounds to zero: ERANGE with a zero result
	}
	v, _ := f.Float64()
	if v == 0 {
		v = math.SmallestNonzeroFloat64
		if neg {
			v = -v
		}
	}
	return v, true
}

func digitValue(ch byte, hex bool) (byte, bool) {
	switch {
	case ch >= '0' && ch <= '9':
		return ch - '0', true
	case hex && ch >= 'a' && ch <= 'f':
		return ch - 'a' + 10, true
	case hex && ch >= 'A' && ch <= 'F':
		return ch - 'A' + 10, true
	}
	return 0, false
}
