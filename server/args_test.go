package server

import (
	"math"
	"strings"
	"testing"
)

// TestParseRedisFloat pins which decimals Redis 7.0.15 accepts for a long
// double (recorded with INCRBYFLOAT on a fresh key; "inf" passes the parse
// and fails later in INCRBYFLOAT's own NaN/Infinity check).
func TestParseRedisFloat(t *testing.T) {
	inf := math.Inf(1)
	for _, c := range []struct {
		in   string
		ok   bool
		want float64
	}{
		{"1", true, 1}, {"1e3", true, 1000}, {"1E3", true, 1000}, {".5", true, 0.5}, {"5.", true, 5},
		{"+1", true, 1}, {"-0", true, 0}, {"0e0", true, 0}, {"00012", true, 12}, {"1e0003", true, 1000},
		{"+.5e-1", true, 0.05}, {"0.0", true, 0},
		{"0x10", true, 16}, {"0X1p3", true, 8}, {"0x.8", true, 0.5}, {"0x1P-2", true, 0.25},
		{"0x1.8p1", true, 3}, {"0xAbC.dEp-1", true, 1374.43359375}, {"0x1P+3", true, 8},
		{"inf", true, inf}, {"-inf", true, -inf}, {"+inf", true, inf}, {"INF", true, inf}, {"Infinity", true, inf},
		{"1e400", true, inf}, {"1e4932", true, inf}, // beyond float64, inside a long double
		{"1e-400", true, math.SmallestNonzeroFloat64}, {"1e-4940", true, math.SmallestNonzeroFloat64},
		{"1e-4950", true, math.SmallestNonzeroFloat64}, {"0x1p-16445", true, math.SmallestNonzeroFloat64},
		{"1." + strings.Repeat("0", 5117), true, 1}, // 5119 bytes: fits Redis's buffer

		{"1_0", false, 0}, {"nan", false, 0}, {"NAN", false, 0}, {"-nan", false, 0}, {"nan(123)", false, 0},
		{"infinit", false, 0}, {" 1", false, 0}, {"1 ", false, 0}, {"\t1", false, 0}, {"1\n", false, 0},
		{".", false, 0}, {"e3", false, 0}, {"1e", false, 0}, {"1e+", false, 0}, {"0x", false, 0},
		{"0x1p", false, 0}, {"0x1g", false, 0}, {"", false, 0}, {"- 1", false, 0}, {"--1", false, 0},
		{"1.5.", false, 0}, {"1d", false, 0}, {"1f", false, 0}, {"1L", false, 0}, {"١", false, 0},
		{"1\x00x", false, 0}, {"\x00", false, 0}, {"\x001", false, 0}, {"1\x00", false, 0},
		{"1e4933", false, 0}, {"1e5000", false, 0}, {"1e99999999999999999999", false, 0},
		{"1e-4951", false, 0}, {"1e-5000", false, 0}, {"-1e-5000", false, 0}, {"0x1p-16446", false, 0},
		{strings.Repeat("1", 5119), false, 0},        // 1e5118 overflows
		{"1." + strings.Repeat("0", 5118), false, 0}, // 5120 bytes: too long for Redis's buffer
		{"0." + strings.Repeat("0", 5000) + "1", false, 0},
	} {
		got, ok := parseRedisFloat([]byte(c.in))
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseRedisFloat(%.30q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func FuzzParseRedisFloat(f *testing.F) {
	for _, s := range []string{"1", "0x1p3", "1e-4951", "inf", "1_0", ".5", "5."} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseRedisFloat(b)
		if ok && math.IsNaN(v) {
			t.Fatalf("%q parsed as NaN", b)
		}
	})
}
