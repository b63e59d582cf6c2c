package script

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"
)

// The string-building functions are ours rather than gopher-lua's for two
// reasons: numbers must print as Lua prints them (%.14g), and every byte a
// script builds is charged to its memory budget before it is allocated.

// luaConcat implements "..": the compiler rewrites every concatenation
// chain into a call of this function with the chain's operands.
func (v *vm) luaConcat(L *lua.LState) int {
	n := L.GetTop()
	total := 0
	simple := true
	for i := 1; i <= n; i++ {
		switch x := L.Get(i).(type) {
		case lua.LString:
			total += len(x)
		case lua.LNumber:
			total += 24
		default:
			simple = false
		}
	}
	if simple {
		v.charge(L, total)
		buf := make([]byte, 0, total)
		for i := 1; i <= n; i++ {
			switch x := L.Get(i).(type) {
			case lua.LString:
				buf = append(buf, x...)
			case lua.LNumber:
				buf = appendLuaNumber(buf, float64(x))
			}
		}
		L.Push(lua.LString(unsafe.String(unsafe.SliceData(buf), len(buf))))
		return 1
	}
	// Right to left, pairwise, as Lua does, honouring __concat.
	acc := L.Get(n)
	for i := n - 1; i >= 1; i-- {
		acc = v.concat2(L, L.Get(i), acc)
	}
	L.Push(acc)
	return 1
}

func (v *vm) concat2(L *lua.LState, a, b lua.LValue) lua.LValue {
	as, aok := concatString(a)
	bs, bok := concatString(b)
	if aok && bok {
		v.charge(L, len(as)+len(bs))
		return lua.LString(as + bs)
	}
	mm := L.GetMetaField(a, "__concat")
	if mm == lua.LNil {
		mm = L.GetMetaField(b, "__concat")
	}
	if mm == lua.LNil {
		bad := a
		if aok {
			bad = b
		}
		L.RaiseError("attempt to concatenate a %s value", bad.Type().String())
	}
	L.Push(mm)
	L.Push(a)
	L.Push(b)
	L.Call(2, 1)
	r := L.Get(-1)
	L.Pop(1)
	return r
}

func concatString(v lua.LValue) (string, bool) {
	switch x := v.(type) {
	case lua.LString:
		return string(x), true
	case lua.LNumber:
		return luaNumberString(float64(x)), true
	}
	return "", false
}

// checkString is luaL_checkstring: strings, and numbers as Lua prints them.
func checkString(L *lua.LState, n int) string {
	switch x := L.Get(n).(type) {
	case lua.LString:
		return string(x)
	case lua.LNumber:
		return luaNumberString(float64(x))
	}
	L.TypeError(n, lua.LTString)
	return ""
}

func (v *vm) strRep(L *lua.LState) int {
	s := checkString(L, 1)
	n := checkInt(L, 2)
	if n <= 0 || len(s) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	if int64(n) > v.budget/int64(len(s)) {
		v.charge(L, math.MaxInt) // over budget: raises
	}
	v.charge(L, int(n)*len(s))
	L.Push(lua.LString(strings.Repeat(s, int(n))))
	return 1
}

// checkInt is luaL_checkint: a number (or a string that converts) cast to
// a C int the way Lua 5.1 does on x86-64, through a 64-bit integer whose
// low 32 bits are kept (2^32+2 is 2, 2^31 is negative).
func checkInt(L *lua.LState, n int) int32 {
	return int32(luaToInteger(float64(L.CheckNumber(n))))
}

// optInt is luaL_optint: def when argument n is absent or nil.
func optInt(L *lua.LState, n int, def int32) int32 {
	if L.Get(n) == lua.LNil {
		return def
	}
	return checkInt(L, n)
}

// maxCStack is Lua 5.1's LUAI_MAXCSTACK: how many values a C function may
// have on its stack, its arguments included. unpack and string.byte
// refuse to return more, with Lua's errors, instead of growing the stack
// one slot at a time, which gopher-lua makes quadratic and which no
// SCRIPT KILL can interrupt.
const maxCStack = 8000

// luaUnpack is Lua 5.1's unpack.
func luaUnpack(L *lua.LState) int {
	t := L.CheckTable(1)
	i := optInt(L, 2, 1)
	var e int32
	if L.Get(3) == lua.LNil {
		e = int32(t.Len())
	} else {
		e = checkInt(L, 3)
	}
	if i > e {
		return 0
	}
	n := int32(uint32(e) - uint32(i) + 1) // wraps as C's int arithmetic does
	if n <= 0 || int(n)+L.GetTop() > maxCStack {
		L.RaiseError("too many results to unpack")
	}
	for k := i; ; k++ {
		L.Push(t.RawGetInt(int(k)))
		if k == e {
			break
		}
	}
	return int(n)
}

// strByte is Lua 5.1's string.byte.
func strByte(L *lua.LState) int {
	s := checkString(L, 1)
	l := int64(len(s))
	posrelat := func(pos int64) int64 {
		if pos < 0 {
			pos += l + 1
		}
		return max(pos, 0)
	}
	optInteger := func(n int, def int64) int64 {
		if L.Get(n) == lua.LNil {
			return def
		}
		return luaToInteger(float64(L.CheckNumber(n)))
	}
	posi := posrelat(optInteger(2, 1))
	pose := posrelat(optInteger(3, posi))
	posi = max(posi, 1)
	pose = min(pose, l)
	if posi > pose {
		return 0
	}
	n := pose - posi + 1
	if n+int64(L.GetTop()) > maxCStack {
		L.RaiseError("stack overflow (string slice too long)")
	}
	for i := posi; i <= pose; i++ {
		L.Push(lua.LNumber(s[i-1]))
	}
	return int(n)
}

func (v *vm) tabConcat(L *lua.LState) int {
	t := L.CheckTable(1)
	sep := ""
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		sep = checkString(L, 2)
	}
	i := L.OptInt(3, 1)
	j := L.OptInt(4, t.Len())
	var b strings.Builder
	for k := i; k <= j; k++ {
		s, ok := concatString(t.RawGetInt(k))
		if !ok {
			L.RaiseError("invalid value (at index %d) in table for 'concat'", k)
		}
		v.charge(L, len(s)+len(sep))
		b.WriteString(s)
		if k < j {
			b.WriteString(sep)
		}
	}
	L.Push(lua.LString(b.String()))
	return 1
}

// strFormat is Lua 5.1's string.format: C printf conversions, %q, and
// numbers printed as Lua prints them for %s.
func (v *vm) strFormat(L *lua.LState) int {
	fs := checkString(L, 1)
	arg := 1
	var out []byte
	for i := 0; i < len(fs); i++ {
		c := fs[i]
		if c != '%' {
			out = append(out, c)
			continue
		}
		i++
		if i < len(fs) && fs[i] == '%' {
			out = append(out, '%')
			continue
		}
		start := i
		for i < len(fs) && strings.IndexByte("-+ #0", fs[i]) >= 0 {
			i++
		}
		if i-start > 5 {
			L.RaiseError("invalid format (repeated flags)")
		}
		digits := func() {
			d := 0
			for i < len(fs) && fs[i] >= '0' && fs[i] <= '9' {
				i++
				d++
			}
			if d > 2 {
				L.RaiseError("invalid format (width or precision too long)")
			}
		}
		digits()
		hasPrec := false
		if i < len(fs) && fs[i] == '.' {
			hasPrec = true
			i++
			digits()
		}
		arg++
		if L.GetTop() < arg {
			L.ArgError(arg, "no value")
		}
		if i >= len(fs) {
			// Lua reads the string's terminating NUL as the option and
			// prints it as nothing.
			L.RaiseError("%s", "invalid option '%' to 'format'")
		}
		spec := fs[start:i]
		conv := fs[i]
		switch conv {
		case 'c':
			// C's %c of (int)n: the low byte, padded to the width;
			// Lua 5.1 then keeps what precedes the first NUL.
			c := byte(int32(luaToInteger(float64(L.CheckNumber(arg)))))
			out = appendCString(out, appendPadded(nil, spec, []byte{c}))
		case 'd', 'i':
			n := luaToInteger(float64(L.CheckNumber(arg)))
			out = fmt.Appendf(out, "%"+spec+"d", n)
		case 'o', 'u', 'x', 'X':
			n := uint64(luaToInteger(float64(L.CheckNumber(arg))))
			verb := conv
			if verb == 'u' {
				verb = 'd'
			}
			out = fmt.Appendf(out, "%"+spec+string(verb), n)
		case 'e', 'E', 'f', 'g', 'G':
			f := float64(L.CheckNumber(arg))
			if math.IsInf(f, 0) || math.IsNaN(f) {
				out = appendNonFinite(out, spec, conv, f)
				break
			}
			if !hasPrec {
				spec += ".6"
			}
			out = fmt.Appendf(out, "%"+spec+string(conv), f)
		case 'q':
			out = appendQuoted(out, checkString(L, arg))
		case 's':
			s := checkString(L, arg)
			if hasPrec || len(s) < 100 {
				// Lua 5.1 formats these through C's sprintf: the
				// string ends at its first NUL.
				if z := strings.IndexByte(s, 0); z >= 0 {
					s = s[:z]
				}
			}
			if hasPrec {
				p, _ := strconv.Atoi(spec[strings.IndexByte(spec, '.')+1:])
				if p < len(s) {
					s = s[:p]
				}
				spec = spec[:strings.IndexByte(spec, '.')]
			}
			width, _ := strconv.Atoi(strings.TrimLeft(spec, "-+ #0"))
			pad := width - len(s)
			left := strings.Contains(spec, "-")
			if pad > 0 && !left {
				out = append(out, strings.Repeat(" ", pad)...)
			}
			v.charge(L, len(s))
			out = append(out, s...)
			if pad > 0 && left {
				out = append(out, strings.Repeat(" ", pad)...)
			}
		default:
			L.RaiseError("invalid option '%%%c' to 'format'", conv)
		}
	}
	v.charge(L, len(out))
	L.Push(lua.LString(out))
	return 1
}

// specFlags returns the flags of a format spec ("-05.2" -> "-0") and its
// width (5; 0 without one).
func specFlags(spec string) (flags string, width int) {
	w := strings.TrimLeft(spec, "-+ #0")
	flags = spec[:len(spec)-len(w)]
	if i := strings.IndexByte(w, '.'); i >= 0 {
		w = w[:i]
	}
	width, _ = strconv.Atoi(w)
	return flags, width
}

// appendPadded appends item padded with spaces to spec's width, on the
// right with the '-' flag.
func appendPadded(out []byte, spec string, item []byte) []byte {
	flags, width := specFlags(spec)
	pad := width - len(item)
	left := strings.Contains(flags, "-")
	if pad > 0 && !left {
		out = append(out, strings.Repeat(" ", pad)...)
	}
	out = append(out, item...)
	if pad > 0 && left {
		out = append(out, strings.Repeat(" ", pad)...)
	}
	return out
}

// appendCString appends item up to its first NUL, as Lua 5.1 adds what
// sprintf wrote (strlen).
func appendCString(out, item []byte) []byte {
	if z := bytes.IndexByte(item, 0); z >= 0 {
		item = item[:z]
	}
	return append(out, item...)
}

// appendNonFinite is C's printf of an infinity or NaN for %e, %f, %g (and
// upper case): the sign or the '+'/' ' flag, "inf" or "nan" (glibc prints
// x86's default NaN as "-nan"), padded with spaces to the width; the
// precision and the '0' flag do not apply.
func appendNonFinite(out []byte, spec string, conv byte, f float64) []byte {
	var item []byte
	flags, _ := specFlags(spec)
	switch {
	case math.Signbit(f):
		item = append(item, '-')
	case strings.Contains(flags, "+"):
		item = append(item, '+')
	case strings.Contains(flags, " "):
		item = append(item, ' ')
	}
	word := "inf"
	if math.IsNaN(f) {
		word = "nan"
	}
	if conv == 'E' || conv == 'G' {
		word = strings.ToUpper(word)
	}
	item = append(item, word...)
	return appendPadded(out, spec, item)
}

func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', '\n')
		case '\r':
			b = append(b, '\\', 'r')
		case 0:
			b = append(b, '\\', '0', '0', '0')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// strGsub is Lua 5.1's string.gsub built in one pass over gopher-lua's
// pattern matcher, charging what it builds.
func (v *vm) strGsub(_ *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		str := checkString(L, 1)
		pat := checkString(L, 2)
		L.CheckTypes(3, lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction)
		repl := L.Get(3)
		limit := L.OptInt(4, -1)
		mds, err := pm.Find(pat, unsafe.Slice(unsafe.StringData(str), len(str)), 0, limit)
		if err != nil {
			L.RaiseError("%s", err.Error())
		}
		var out []byte
		prev := 0
		for _, m := range mds {
			start, end := m.Capture(0), m.Capture(1)
			v.charge(L, start-prev)
			out = append(out, str[prev:start]...)
			whole := str[start:end]
			var rs string
			keep := false
			switch r := repl.(type) {
			case lua.LString, lua.LNumber:
				rs = v.expandRepl(L, checkString(L, 3), str, m)
			case *lua.LTable:
				val := L.GetTable(r, captureValue(L, m, str, 1))
				rs, keep = replValue(L, val)
			case *lua.LFunction:
				L.Push(r)
				nc := m.CaptureLength()/2 - 1
				if nc == 0 {
					L.Push(lua.LString(whole))
					nc = 1
				} else {
					for i := 1; i <= nc; i++ {
						L.Push(captureValue(L, m, str, i))
					}
				}
				L.Call(nc, 1)
				val := L.Get(-1)
				L.Pop(1)
				rs, keep = replValue(L, val)
			}
			if keep {
				rs = whole
			}
			v.charge(L, len(rs))
			out = append(out, rs...)
			prev = end
		}
		v.charge(L, len(str)-prev)
		out = append(out, str[prev:]...)
		L.Push(lua.LString(out))
		L.Push(lua.LNumber(len(mds)))
		return 2
	}
}

// captureValue returns capture i (1-based) of m; the whole match when the
// pattern has no captures.
func captureValue(L *lua.LState, m *pm.MatchData, str string, i int) lua.LValue {
	idx := 2 * i
	if idx >= m.CaptureLength() {
		if i == 1 {
			return lua.LString(str[m.Capture(0):m.Capture(1)])
		}
		L.RaiseError("invalid capture index")
	}
	if m.IsPosCapture(idx) {
		return lua.LNumber(m.Capture(idx))
	}
	return lua.LString(str[m.Capture(idx):m.Capture(idx+1)])
}

func replValue(L *lua.LState, val lua.LValue) (string, bool) {
	switch x := val.(type) {
	case lua.LString:
		return string(x), false
	case lua.LNumber:
		return luaNumberString(float64(x)), false
	case *lua.LNilType:
		return "", true
	case lua.LBool:
		if !x {
			return "", true
		}
	}
	L.RaiseError("invalid replacement value (a %s)", val.Type().String())
	return "", false
}

func (v *vm) expandRepl(L *lua.LState, repl, str string, m *pm.MatchData) string {
	if strings.IndexByte(repl, '%') < 0 {
		return repl
	}
	var b []byte
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '%' || i+1 >= len(repl) {
			b = append(b, c)
			continue
		}
		i++
		d := repl[i]
		switch {
		case d == '0':
			b = append(b, str[m.Capture(0):m.Capture(1)]...)
		case d >= '1' && d <= '9':
			cv := captureValue(L, m, str, int(d-'0'))
			s, _ := concatString(cv)
			b = append(b, s...)
		default:
			b = append(b, d)
		}
		if !v.fits(int64(len(b))) {
			v.charge(L, len(b)) // raises
		}
	}
	return string(b)
}
