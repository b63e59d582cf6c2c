package script

import (
	"math"
	"strconv"
)

// appendLuaNumber formats n as Lua 5.1 does (LUA_NUMBER_FMT "%.14g"):
// tostring, concatenation, string.format("%s"), table.concat.
func appendLuaNumber(b []byte, n float64) []byte {
	return appendG(b, n, 14)
}

// appendG formats n like C's printf("%.<prec>g") on glibc, inf and nan
// included. Go's 'g' with an explicit precision picks the same notation
// and exponent width as C.
func appendG(b []byte, n float64, prec int) []byte {
	switch {
	case math.IsInf(n, 1):
		return append(b, "inf"...)
	case math.IsInf(n, -1):
		return append(b, "-inf"...)
	case math.IsNaN(n):
		if math.Signbit(n) {
			return append(b, "-nan"...)
		}
		return append(b, "nan"...)
	}
	if n == math.Trunc(n) && math.Abs(n) < 1e14 && !(n == 0 && math.Signbit(n)) {
		return strconv.AppendInt(b, int64(n), 10)
	}
	return strconv.AppendFloat(b, n, 'g', prec, 64)
}

func luaNumberString(n float64) string {
	var buf [32]byte
	return string(appendLuaNumber(buf[:0], n))
}

// luaToInteger converts a Lua number to a RESP integer the way Redis does,
// a C cast to long long: truncation toward zero; NaN and values out of
// range give x86's "integer indefinite", the minimum int64.
func luaToInteger(n float64) int64 {
	if n != n || n >= 9223372036854775808.0 || n < -9223372036854775808.0 {
		return math.MinInt64
	}
	return int64(n)
}
