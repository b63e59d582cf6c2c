package script

import (
	"math"

	lua "github.com/yuin/gopher-lua"
)

// The bit library Redis bundles (LuaBitOp): operands are numbers reduced
// to 32 bits, results are signed 32-bit numbers.

func newBitLib(L *lua.LState) *lua.LTable {
	t := L.NewTable()
	set := func(name string, f lua.LGFunction) { t.RawSetString(name, L.NewFunction(f)) }
	set("tobit", func(L *lua.LState) int { return pushBit(L, tobit(L, 1)) })
	set("bnot", func(L *lua.LState) int { return pushBit(L, ^tobit(L, 1)) })
	fold := func(op func(a, b uint32) uint32) lua.LGFunction {
		return func(L *lua.LState) int {
			r := tobit(L, 1)
			for i := 2; i <= L.GetTop(); i++ {
				r = op(r, tobit(L, i))
			}
			return pushBit(L, r)
		}
	}
	set("band", fold(func(a, b uint32) uint32 { return a & b }))
	set("bor", fold(func(a, b uint32) uint32 { return a | b }))
	set("bxor", fold(func(a, b uint32) uint32 { return a ^ b }))
	shift := func(op func(a uint32, n uint) uint32) lua.LGFunction {
		return func(L *lua.LState) int {
			return pushBit(L, op(tobit(L, 1), uint(tobit(L, 2)&31)))
		}
	}
	set("lshift", shift(func(a uint32, n uint) uint32 { return a << n }))
	set("rshift", shift(func(a uint32, n uint) uint32 { return a >> n }))
	set("arshift", shift(func(a uint32, n uint) uint32 { return uint32(int32(a) >> n) }))
	set("rol", shift(func(a uint32, n uint) uint32 { return a<<n | a>>((32-n)&31) }))
	set("ror", shift(func(a uint32, n uint) uint32 { return a>>n | a<<((32-n)&31) }))
	set("bswap", func(L *lua.LState) int {
		x := tobit(L, 1)
		return pushBit(L, x>>24|(x>>8)&0xff00|(x&0xff00)<<8|x<<24)
	})
	set("tohex", func(L *lua.LState) int {
		x := tobit(L, 1)
		n := int32(8)
		if L.GetTop() >= 2 {
			n = int32(tobit(L, 2))
		}
		if n == math.MinInt32 {
			n++ // as LuaBitOp: its negation would overflow
		}
		const lower, upper = "0123456789abcdef", "0123456789ABCDEF"
		digits := lower
		if n < 0 {
			n = -n
			digits = upper
		}
		if n > 8 {
			n = 8
		}
		buf := make([]byte, n)
		for i := n - 1; i >= 0; i-- {
			buf[i] = digits[x&15]
			x >>= 4
		}
		L.Push(lua.LString(buf))
		return 1
	})
	return t
}

// tobit reduces a number to 32 bits as LuaBitOp does: it adds 2^52+2^51
// and keeps the low 32 bits of the double's representation, which rounds
// to the nearest integer (ties to even) modulo 2^32 below 2^51, and keeps
// whatever bits the sum has beyond (bit.tobit(1e300) is -2013235812 in
// Redis).
func tobit(L *lua.LState, n int) uint32 {
	f := float64(L.CheckNumber(n)) + 6755399441055744.0
	return uint32(math.Float64bits(f))
}

func pushBit(L *lua.LState, x uint32) int {
	L.Push(lua.LNumber(int32(x)))
	return 1
}
