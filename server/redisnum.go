package server

import (
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Number parsing and formatting as Redis 7.0 does it. Redis hands numeric
// arguments to C's strtod/strtold and formats replies with printf, so the
// exact set of accepted strings (hex floats, "inf", leading blanks in some
// places but not others) and the digits printed are the C library's. These
// functions reproduce glibc's behaviour in the C locale.

// cfloat is the prefix of a string that C's strtod would convert. It
// records positions, not copies, so scanning allocates nothing.
type cfloat struct {
	n       int   // bytes consumed, leading blanks included; 0 = no conversion
	start   int   // where the sign (or the number) begins, after blanks
	mant    int   // where the mantissa's digits begin (after sign and 0x)
	mantEnd int   // where the mantissa ends (before any exponent)
	neg     bool  // a leading minus sign
	inf     bool  // "inf" or "infinity"
	nan     bool  // "nan" or "nan(...)"
	hex     bool  // 0x mantissa, binary exponent
	ndigits int   // mantissa digits
	lead0   int   // leading zero digits
	point   int   // digits after the radix point
	exp     int64 // the explicit exponent (saturated far beyond any float's range)
	nonzero bool  // some mantissa digit is not zero
}

// digits returns the mantissa's digits without the radix point.
func (f cfloat) digits(b []byte) string {
	var d strings.Builder
	d.Grow(f.ndigits)
	for _, ch := range b[f.mant:f.mantEnd] {
		if ch != '.' {
			d.WriteByte(ch)
		}
	}
	return d.String()
}

func isCSpace(ch byte) bool { return ch == ' ' || (ch >= '\t' && ch <= '\r') }

func isHexDigit(ch byte) bool {
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')
}

func hasPrefixFold(b []byte, i int, word string) bool {
	return len(b)-i >= len(word) && eqFold(b[i:i+len(word)], word)
}

// scanCFloat finds the longest prefix of b that glibc's strtod converts.
func scanCFloat(b []byte) cfloat {
	var f cfloat
	i := 0
	for i < len(b) && isCSpace(b[i]) {
		i++
	}
	f.start = i
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		f.neg = b[i] == '-'
		i++
	}
	switch {
	case hasPrefixFold(b, i, "infinity"):
		f.inf, f.n = true, i+8
		return f
	case hasPrefixFold(b, i, "inf"):
		f.inf, f.n = true, i+3
		return f
	case hasPrefixFold(b, i, "nan"):
		f.nan, f.n = true, i+3
		if j := i + 3; j < len(b) && b[j] == '(' {
			for k := j + 1; k < len(b); k++ {
				ch := b[k]
				if ch == ')' {
					f.n = k + 1
					break
				}
				if !(ch == '_' || (ch >= '0' && ch <= '9') || (ch|0x20 >= 'a' && ch|0x20 <= 'z')) {
					break
				}
			}
		}
		return f
	}
	isDigit := func(ch byte) bool { return ch >= '0' && ch <= '9' }
	if i+1 < len(b) && b[i] == '0' && b[i+1]|0x20 == 'x' {
		// A hex float needs a hex digit after "0x" (or "0x."); otherwise
		// only the "0" converts.
		j := i + 2
		if j < len(b) && b[j] == '.' {
			j++
		}
		if j < len(b) && isHexDigit(b[j]) {
			f.hex = true
			i += 2
			isDigit = isHexDigit
		}
	}
	f.mant = i
	sawPoint, any := false, false
	for ; i < len(b); i++ {
		ch := b[i]
		switch {
		case isDigit(ch):
			any = true
			f.ndigits++
			if ch != '0' {
				f.nonzero = true
			} else if !f.nonzero {
				f.lead0++
			}
			if sawPoint {
				f.point++
			}
			continue
		case ch == '.' && !sawPoint:
			sawPoint = true
			continue
		}
		break
	}
	if !any {
		return cfloat{}
	}
	f.mantEnd = i
	f.n = i
	// An exponent counts only when digits follow its letter and sign.
	if i < len(b) && ((!f.hex && b[i]|0x20 == 'e') || (f.hex && b[i]|0x20 == 'p')) {
		j := i + 1
		eneg := false
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			eneg = b[j] == '-'
			j++
		}
		if j < len(b) && b[j] >= '0' && b[j] <= '9' {
			var e int64
			for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
				if e < 1e9 {
					e = e*10 + int64(b[j]-'0')
				}
			}
			if eneg {
				e = -e
			}
			f.exp, f.n = e, j
		}
	}
	return f
}

// float64 converts f with correct rounding, as strtod does. erange
// reports what sets errno to ERANGE with a result Redis rejects: overflow
// to infinity, or underflow of a nonzero value to zero.
func (f cfloat) float64(b []byte) (v float64, erange bool) {
	switch {
	case f.nan:
		return math.NaN(), false
	case f.inf:
		if f.neg {
			return math.Inf(-1), false
		}
		return math.Inf(1), false
	case !f.nonzero:
		if f.neg {
			return math.Copysign(0, -1), false
		}
		return 0, false
	}
	switch {
	case f.hex:
		exp := f.exp - 4*int64(f.point)
		v, err := strconv.ParseFloat("0x"+f.digits(b)+"p"+strconv.FormatInt(exp, 10), 64)
		if err != nil && !math.IsInf(v, 0) {
			return 0, true // unreachable: the text is well formed
		}
		if f.neg {
			v = -v
		}
		return v, math.IsInf(v, 0) || v == 0
	case f.ndigits > 700:
		// strconv.ParseFloat misreads mantissas of more than 800 digits
		// ("1" and 800 zeros "e-800" gives 0.1): convert those exactly.
		sig := strings.TrimLeft(f.digits(b), "0")
		trimmed := strings.TrimRight(sig, "0")
		v, erange := longDecimalFloat64(trimmed, f.exp-int64(f.point)+int64(len(sig)-len(trimmed)))
		if f.neg {
			v = -v
		}
		return v, erange
	}
	// The scanned text is in strconv's decimal syntax (sign, digits, one
	// point, e and digits); a short one converts without allocating.
	v, err := strconv.ParseFloat(string(b[f.start:f.n]), 64)
	if err != nil && !math.IsInf(v, 0) {
		return 0, true // unreachable: the text is well formed
	}
	return v, math.IsInf(v, 0) || v == 0
}

// longDecimalFloat64 converts sig·10^e10 (sig: decimal digits, no leading
// or trailing zero) to the nearest float64, reporting erange as float64
// does.
func longDecimalFloat64(sig string, e10 int64) (float64, bool) {
	lead := e10 + int64(len(sig)) - 1
	switch {
	case lead > 310:
		return math.Inf(1), true
	case lead < -330:
		return 0, true
	}
	mant, _ := new(big.Int).SetString(sig, 10)
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs64(e10)), nil)
	z := new(big.Float).SetPrec(53).SetMode(big.ToNearestEven)
	if e10 >= 0 {
		z.SetInt(mant.Mul(mant, pow))
	} else {
		num := new(big.Float).SetPrec(uint(mant.BitLen())).SetInt(mant)
		den := new(big.Float).SetPrec(uint(pow.BitLen())).SetInt(pow)
		z.Quo(num, den)
	}
	v, _ := z.Float64()
	return v, math.IsInf(v, 0) || v == 0
}

// parseStrictFloat is Redis's string2d (ZADD scores, ZINCRBY): the whole
// argument must convert, no leading blank, no NaN, no overflow or
// underflow to zero.
func parseStrictFloat(b []byte) (float64, bool) {
	if len(b) == 0 || isCSpace(b[0]) {
		return 0, false
	}
	f := scanCFloat(b)
	if f.n != len(b) || f.nan {
		return 0, false
	}
	v, erange := f.float64(b)
	if erange {
		return 0, false
	}
	return v, true
}

// parseLenientFloat is plain strtod as Redis's score ranges use it: leading
// blanks are skipped, overflow gives an infinity, an empty string is 0,
// and the C string ends at the first NUL byte.
func parseLenientFloat(b []byte) (float64, bool) {
	for i, ch := range b {
		if ch == 0 {
			b = b[:i]
			break
		}
	}
	f := scanCFloat(b)
	if f.n != len(b) || f.nan {
		return 0, false
	}
	if f.n == 0 {
		return 0, true
	}
	v, _ := f.float64(b)
	return v, true
}

// x87 extended precision, which long double is on x86-64 Linux, the
// platform Redis's INCRBYFLOAT replies were recorded on.
const (
	ldPrec     = 64
	ldMaxExp   = 16384  // |x| < 2^16384 (big.Float's mantissa is in [0.5, 1))
	ldMinExp   = -16444 // smallest denormal 2^-16445 = 0.5 * 2^-16444
	ldMaxChars = 5 * 1024
)

func newLD() *big.Float { return new(big.Float).SetPrec(ldPrec).SetMode(big.ToNearestEven) }

// parseLongDouble is Redis's string2ld (INCRBYFLOAT): strtold over the
// whole argument, no leading blank, no NaN, no overflow or underflow to
// zero. Infinity is accepted (INCRBYFLOAT then refuses the sum).
// Denormal results keep the full 64-bit mantissa, which x87 would not: a
// difference only below 1e-4931.
func parseLongDouble(b []byte) (*big.Float, bool) {
	if len(b) == 0 || len(b) >= ldMaxChars || isCSpace(b[0]) {
		return nil, false
	}
	f := scanCFloat(b)
	if f.n != len(b) || f.nan {
		return nil, false
	}
	z := newLD()
	switch {
	case f.inf:
		return z.SetInf(f.neg), true
	case !f.nonzero:
		if f.neg {
			z.Neg(z)
		}
		return z, true
	}
	base := 10
	if f.hex {
		base = 16
	}
	significant := strings.TrimLeft(f.digits(b), "0")
	mant, _ := new(big.Int).SetString(significant, base)
	if f.hex {
		z.SetInt(mant)
		shift := f.exp - 4*int64(f.point)
		if e := int64(z.MantExp(nil)) + shift; e > ldMaxExp || e < ldMinExp {
			return nil, false
		}
		z.SetMantExp(z, int(shift))
	} else {
		// The decimal exponent of the leading digit bounds the magnitude:
		// far outside the range is a certain overflow or underflow, and
		// never worth an exact computation.
		e10 := f.exp - int64(f.point)
		lead := e10 + int64(len(significant)) - 1
		if lead > 4933 || lead < -4952 {
			return nil, false
		}
		pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs64(e10)), nil)
		if e10 >= 0 {
			z.SetInt(mant.Mul(mant, pow)) // rounds once, to 64 bits
		} else {
			// Both operands exact; Quo rounds the quotient once.
			num := new(big.Float).SetPrec(uint(max(mant.BitLen(), 1))).SetInt(mant)
			den := new(big.Float).SetPrec(uint(pow.BitLen())).SetInt(pow)
			z.Quo(num, den)
		}
		if e := z.MantExp(nil); e > ldMaxExp || e < ldMinExp {
			return nil, false
		}
	}
	if f.neg {
		z.Neg(z)
	}
	return z, true
}

// parseRedisFloat accepts exactly what Redis 7's string2ld accepts (as
// parseLongDouble) and returns the value as a float64, for arguments used
// in float64 arithmetic (GCRA's period): ±Inf beyond float64's range,
// ±SmallestNonzeroFloat64 for non-zero values below it. Values well inside
// float64's range take strconv's exact path without big arithmetic.
func parseRedisFloat(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) >= ldMaxChars || isCSpace(b[0]) {
		return 0, false
	}
	f := scanCFloat(b)
	if f.n != len(b) || f.nan {
		return 0, false
	}
	if f.nonzero && !f.inf && !f.wellInsideFloat64() {
		z, ok := parseLongDouble(b)
		if !ok {
			return 0, false
		}
		v, _ := z.Float64()
		if v == 0 {
			v = math.Copysign(math.SmallestNonzeroFloat64, float64(z.Sign()))
		}
		return v, true
	}
	v, _ := f.float64(b)
	return v, true
}

// wellInsideFloat64 reports whether a finite scan's magnitude is far from
// both ends of float64's range, judged by its leading digit.
func (f cfloat) wellInsideFloat64() bool {
	sig := int64(f.ndigits - f.lead0)
	if f.hex {
		lead := 4*(sig-int64(f.point)) + f.exp
		return lead > -1000 && lead < 1000
	}
	lead := f.exp - int64(f.point) + sig - 1
	return lead > -300 && lead < 300
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// longDoubleOverflows reports whether z, a rounded long double sum, is
// beyond the largest finite long double (x87 would give infinity).
func longDoubleOverflows(z *big.Float) bool {
	return z.IsInf() || (z.Sign() != 0 && z.MantExp(nil) > ldMaxExp)
}

// formatLongDouble is Redis's "human" long double format: printf's
// "%.17Lf" without trailing zeros or a trailing point, "-0" as "0", and
// an empty string when the text would not fit Redis's 5 KiB buffer.
func formatLongDouble(z *big.Float) string {
	s := z.Text('f', 17)
	if len(s)+1 > ldMaxChars {
		return ""
	}
	if strings.IndexByte(s, '.') >= 0 {
		s = strings.TrimRight(s, "0")
		s = strings.TrimSuffix(s, ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// appendDouble writes a double reply as Redis 7.0 does: printf's "%.17g"
// in a bulk string (RESP2) or a RESP3 double; infinities as inf/-inf.
func appendDouble(b []byte, resp int, d float64) []byte {
	var num [32]byte
	var text []byte
	switch {
	case math.IsInf(d, 1):
		text = append(num[:0], "inf"...)
	case math.IsInf(d, -1):
		text = append(num[:0], "-inf"...)
	default:
		text = strconv.AppendFloat(num[:0], d, 'g', 17, 64)
	}
	if resp == 3 {
		b = append(b, ',')
		b = append(b, text...)
		return append(b, '\r', '\n')
	}
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(text)), 10)
	b = append(b, '\r', '\n')
	b = append(b, text...)
	return append(b, '\r', '\n')
}
