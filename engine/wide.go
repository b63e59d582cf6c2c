package engine

import (
	"math"
	"math/big"
	"math/bits"
)

// wide is a signed 128-bit integer in two's complement. redis-cell does its
// time arithmetic with durations wider than 64 bits, so sums of TATs and
// increments near the int64 limits must not wrap; wide reproduces that.
type wide struct {
	hi int64
	lo uint64
}

func wideOf(v int64) wide { return wide{hi: v >> 63, lo: uint64(v)} }

func wideOfUnsigned(v uint64) wide { return wide{lo: v} }

func (a wide) add(b wide) wide {
	lo, carry := bits.Add64(a.lo, b.lo, 0)
	return wide{hi: a.hi + b.hi + int64(carry), lo: lo}
}

func (a wide) sub(b wide) wide {
	lo, borrow := bits.Sub64(a.lo, b.lo, 0)
	return wide{hi: a.hi - b.hi - int64(borrow), lo: lo}
}

func (a wide) neg() wide { return wide{}.sub(a) }

func (a wide) cmp(b wide) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a wide) negative() bool { return a.hi < 0 }

// fitsInt64 reports whether a is representable as an int64.
func (a wide) fitsInt64() bool { return a.hi == int64(a.lo)>>63 }

// saturate returns a as an int64, clamped to the int64 range.
func (a wide) saturate() int64 {
	switch {
	case a.fitsInt64():
		return int64(a.lo)
	case a.negative():
		return math.MinInt64
	}
	return math.MaxInt64
}

// low64 returns the low 64 bits, i.e. the value wrapped to an int64, as a Rust
// `as i64` cast does.
func (a wide) low64() int64 { return int64(a.lo) }

// quo divides by d (> 0), truncating toward zero.
func (a wide) quo(d uint64) wide {
	if a.hi == 0 { // the common case: a non-negative value below 2^64
		return wide{lo: a.lo / d}
	}
	neg := a.negative()
	m := a
	if neg {
		m = a.neg()
	}
	qhi := uint64(m.hi) / d
	rhi := uint64(m.hi) % d
	qlo, _ := bits.Div64(rhi, m.lo, d)
	q := wide{hi: int64(qhi), lo: qlo}
	if neg {
		return q.neg()
	}
	return q
}

// rem returns a - trunc(a/d)*d: the remainder with the sign of a.
func (a wide) rem(d uint64) int64 {
	q := a.quo(d)
	// d * q fits because |q*d| <= |a|.
	hi, lo := bits.Mul64(q.absLo(), d)
	p := wide{hi: int64(hi), lo: lo}
	if q.negative() {
		p = p.neg()
	}
	return a.sub(p).low64()
}

func (a wide) absLo() uint64 {
	if a.negative() {
		return a.neg().lo
	}
	return a.lo
}

// float64 converts to the nearest float64, as Rust's `i128 as f64`.
func (a wide) float64() float64 {
	if a.fitsInt64() {
		return float64(int64(a.lo))
	}
	var b big.Int
	mag := a
	if a.negative() {
		mag = a.neg()
	}
	b.SetUint64(uint64(mag.hi))
	b.Lsh(&b, 64)
	b.Or(&b, new(big.Int).SetUint64(mag.lo))
	f, _ := new(big.Float).SetInt(&b).Float64()
	if a.negative() {
		return -f
	}
	return f
}

// saturatingInt64 converts a float64 to int64 the way Rust's `as` does:
// truncation toward zero, saturation at the limits, NaN to zero.
func saturatingInt64(f float64) int64 {
	switch {
	case f != f:
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// mulWide returns the exact product of two int64s.
func mulWide(a, b int64) wide {
	neg := (a < 0) != (b < 0)
	hi, lo := bits.Mul64(absU(a), absU(b))
	w := wide{hi: int64(hi), lo: lo}
	if neg {
		return w.neg()
	}
	return w
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-v) // -MinInt64 wraps to itself, which is the right magnitude as uint64
	}
	return uint64(v)
}
