package server

import (
	"math"
	"strings"
	"testing"
)

func TestStrictFloat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"1", 1, true}, {"-2.5", -2.5, true}, {"+3", 3, true}, {".5", 0.5, true}, {"5.", 5, true},
		{"1e3", 1000, true}, {"1e", 0, false}, {"inf", math.Inf(1), true}, {"-Infinity", math.Inf(-1), true},
		{"nan", 0, false}, {"0x10", 16, true}, {"0x1p-2", 0.25, true}, {"0x", 0, false},
		{" 1", 0, false}, {"1 ", 0, false}, {"", 0, false}, {"1e400", 0, false}, {"1e-400", 0, false},
		{"0e999999", 0, true}, {"5e-324", 5e-324, true}, {"1_0", 0, false}, {"1\x00", 0, false},
		// strconv.ParseFloat alone reads these as 0.1 and 0.
		{"1" + strings.Repeat("0", 800) + "e-800", 1, true},
		{"-1" + strings.Repeat("0", 5000) + "1e-5001", -1, true},
		{"2." + strings.Repeat("5", 900), 2.5555555555555554, true},
	} {
		got, ok := parseStrictFloat([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseStrictFloat(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLenientFloat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"", 0, true}, {"  5", 5, true}, {"5 ", 0, false}, {"1e400", math.Inf(1), true},
		{"1\x00junk", 1, true}, {"nan", 0, false}, {"x", 0, false}, {" ", 0, false},
	} {
		got, ok := parseLenientFloat([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseLenientFloat(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLongDouble(t *testing.T) {
	t.Parallel()
	add := func(a, b string) string {
		x, ok1 := parseLongDouble([]byte(a))
		y, ok2 := parseLongDouble([]byte(b))
		if !ok1 || !ok2 {
			t.Fatalf("parse %q %q", a, b)
		}
		return formatLongDouble(newLD().Add(x, y))
	}
	// Recorded from Redis 7.0.15 on x86-64.
	for _, tc := range [][3]string{
		{"0", "0.1", "0.1"},
		{"0.00003", "1.5e10", "15000000000.00002999976277351"},
		{"5000", "0x10", "5016"},
		{"0", "-0", "0"},
	} {
		if got := add(tc[0], tc[1]); got != tc[2] {
			t.Errorf("%s + %s = %s, want %s", tc[0], tc[1], got, tc[2])
		}
	}
}

// FuzzNumberParsers: the C-number parsers never panic and agree with each
// other where their rules overlap.
func FuzzNumberParsers(f *testing.F) {
	for _, s := range []string{"1", "-0x1.8p3", "inf", "nan(abc)", "1e99999999999", " .5e-3", "0x.", "1e4932"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		strict, okS := parseStrictFloat([]byte(s))
		lenient, okL := parseLenientFloat([]byte(s))
		if okS && okL && strict != lenient && !(math.IsNaN(strict) && math.IsNaN(lenient)) {
			t.Fatalf("%q: strict %v lenient %v", s, strict, lenient)
		}
		z, okLD := parseLongDouble([]byte(s))
		if okLD && !z.IsInf() {
			_ = formatLongDouble(z)
		}
		// string2ld's two readings accept the same strings and agree on
		// the value (within the long double's double rounding).
		v, okF := parseRedisFloat([]byte(s))
		if okF != okLD {
			t.Fatalf("%q: parseRedisFloat %v, parseLongDouble %v", s, okF, okLD)
		}
		if okF && !z.IsInf() {
			w, _ := z.Float64()
			if w != v && math.Abs(w-v) > 1e-15*math.Abs(v) && math.Abs(v) != math.SmallestNonzeroFloat64 {
				t.Fatalf("%q: float64 %v, long double %v", s, v, w)
			}
		}
		_ = appendDouble(nil, 3, strict)
	})
}
