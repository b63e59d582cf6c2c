package script

import (
	"math"
	"strconv"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// The cjson library Redis bundles (lua-cjson 2.1 with its default
// settings): numbers with 14 significant digits, "/" escaped, empty tables
// as objects, excessively sparse arrays refused, 1000 levels of nesting.

const cjsonMaxDepth = 1000

func (v *vm) newCJSON() *lua.LTable {
	L := v.L
	t := L.NewTable()
	null := L.NewUserData()
	v.jsonNull = null
	t.RawSetString("null", null)
	t.RawSetString("_NAME", lua.LString("cjson"))
	t.RawSetString("_VERSION", lua.LString("2.1.0"))
	t.RawSetString("encode", L.NewFunction(v.cjsonEncode))
	t.RawSetString("decode", L.NewFunction(v.cjsonDecode))
	// Settings are per-process in Redis; here they are fixed at the
	// defaults, so no script can change another's encoding.
	setting := func(vals ...lua.LValue) *lua.LFunction {
		return L.NewFunction(func(L *lua.LState) int {
			for _, x := range vals {
				L.Push(x)
			}
			return len(vals)
		})
	}
	t.RawSetString("encode_sparse_array", setting(lua.LFalse, lua.LNumber(2), lua.LNumber(10)))
	t.RawSetString("encode_max_depth", setting(lua.LNumber(cjsonMaxDepth)))
	t.RawSetString("decode_max_depth", setting(lua.LNumber(cjsonMaxDepth)))
	t.RawSetString("encode_number_precision", setting(lua.LNumber(14)))
	t.RawSetString("encode_keep_buffer", setting(lua.LTrue))
	t.RawSetString("encode_invalid_numbers", setting(lua.LFalse))
	t.RawSetString("decode_invalid_numbers", setting(lua.LTrue))
	t.RawSetString("new", L.NewFunction(func(L *lua.LState) int {
		L.Push(v.globals.RawGetString("cjson"))
		return 1
	}))
	return t
}

// jsonError raises msg with the calling script line's position, as
// luaL_error does from a C library.
func jsonError(L *lua.LState, msg string) {
	L.RaiseError("%s", msg)
}

func (v *vm) cjsonEncode(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.ArgError(1, "expected 1 argument")
	}
	b := v.jsonEncode(L, nil, L.Get(1), 0)
	v.charge(L, len(b))
	L.Push(lua.LString(b))
	return 1
}

func (v *vm) jsonEncode(L *lua.LState, b []byte, val lua.LValue, depth int) []byte {
	if !v.fits(int64(len(b))) {
		v.charge(L, len(b))
	}
	switch x := val.(type) {
	case *lua.LNilType:
		return append(b, "null"...)
	case lua.LBool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case lua.LNumber:
		f := float64(x)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			jsonError(L, "Cannot serialise number: must not be NaN or Inf")
		}
		return appendLuaNumber(b, f)
	case lua.LString:
		return appendJSONString(b, string(x))
	case *lua.LUserData:
		if x == v.jsonNull {
			return append(b, "null"...)
		}
	case *lua.LTable:
		depth++
		if depth > cjsonMaxDepth {
			jsonError(L, "Cannot serialise, excessive nesting ("+strconv.Itoa(depth)+")")
		}
		n, isArray := jsonArrayLength(L, x)
		if isArray && n > 0 {
			b = append(b, '[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					b = append(b, ',')
				}
				b = v.jsonEncode(L, b, x.RawGetInt(i), depth)
			}
			return append(b, ']')
		}
		b = append(b, '{')
		first := true
		for k, e := x.Next(lua.LNil); k != lua.LNil; k, e = x.Next(k) {
			if !first {
				b = append(b, ',')
			}
			first = false
			switch kk := k.(type) {
			case lua.LString:
				b = appendJSONString(b, string(kk))
			case lua.LNumber:
				b = append(b, '"')
				b = appendLuaNumber(b, float64(kk))
				b = append(b, '"')
			default:
				jsonError(L, "Cannot serialise "+k.Type().String()+": table key must be a number or string")
			}
			b = append(b, ':')
			b = v.jsonEncode(L, b, e, depth)
		}
		return append(b, '}')
	}
	jsonError(L, "Cannot serialise "+val.Type().String()+": type not supported")
	return b
}

// jsonArrayLength reports whether t's keys are all positive integers and
// the highest; sparse arrays past lua-cjson's default ratio are refused.
func jsonArrayLength(L *lua.LState, t *lua.LTable) (int, bool) {
	maxIdx, items := 0, 0
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		n, ok := k.(lua.LNumber)
		if !ok || float64(n) < 1 || float64(n) != math.Floor(float64(n)) {
			return 0, false
		}
		if int(n) > maxIdx {
			maxIdx = int(n)
		}
		items++
	}
	if maxIdx > 10 && maxIdx > items*2 {
		jsonError(L, "Cannot serialise table: excessively sparse array")
	}
	return maxIdx, true
}

func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '/':
			b = append(b, '\\', '/')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 || c == 0x7f {
				b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

func (v *vm) cjsonDecode(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.ArgError(1, "expected 1 argument")
	}
	s := checkString(L, 1)
	d := jsonDecoder{L: L, v: v, s: s}
	val := d.value(0)
	d.skipSpace()
	if d.i < len(s) {
		d.fail("the end")
	}
	L.Push(val)
	return 1
}

type jsonDecoder struct {
	L *lua.LState
	v *vm
	s string
	i int
}

func (d *jsonDecoder) fail(expected string) {
	found := "invalid token"
	if d.i >= len(d.s) {
		found = "T_END"
	}
	jsonError(d.L, "Expected "+expected+" but found "+found+" at character "+strconv.Itoa(d.i+1))
}

func (d *jsonDecoder) skipSpace() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) lua.LValue {
	d.skipSpace()
	if d.i >= len(d.s) {
		d.fail("value")
	}
	switch c := d.s[d.i]; {
	case c == '{' || c == '[':
		depth++
		if depth > cjsonMaxDepth {
			jsonError(d.L, "Found too many nested data structures ("+strconv.Itoa(depth)+") at character "+strconv.Itoa(d.i+1))
		}
		d.i++
		t := d.L.NewTable()
		if c == '[' {
			d.skipSpace()
			if d.i < len(d.s) && d.s[d.i] == ']' {
				d.i++
				return t
			}
			for n := 1; ; n++ {
				t.RawSetInt(n, d.value(depth))
				d.skipSpace()
				if d.i < len(d.s) && d.s[d.i] == ',' {
					d.i++
					continue
				}
				if d.i < len(d.s) && d.s[d.i] == ']' {
					d.i++
					return t
				}
				d.fail("comma or array end")
			}
		}
		d.skipSpace()
		if d.i < len(d.s) && d.s[d.i] == '}' {
			d.i++
			return t
		}
		for {
			d.skipSpace()
			if d.i >= len(d.s) || d.s[d.i] != '"' {
				d.fail("object key string")
			}
			k := d.str()
			d.skipSpace()
			if d.i >= len(d.s) || d.s[d.i] != ':' {
				d.fail("colon")
			}
			d.i++
			t.RawSetString(k, d.value(depth))
			d.skipSpace()
			if d.i < len(d.s) && d.s[d.i] == ',' {
				d.i++
				continue
			}
			if d.i < len(d.s) && d.s[d.i] == '}' {
				d.i++
				return t
			}
			d.fail("comma or object end")
		}
	case c == '"':
		return lua.LString(d.str())
	case c == 't' && len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "true":
		d.i += 4
		return lua.LTrue
	case c == 'f' && len(d.s)-d.i >= 5 && d.s[d.i:d.i+5] == "false":
		d.i += 5
		return lua.LFalse
	case c == 'n' && len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "null":
		d.i += 4
		return d.v.jsonNull
	case c == '-' || (c >= '0' && c <= '9'):
		j := d.i + 1
		for j < len(d.s) && (d.s[j] >= '0' && d.s[j] <= '9' || d.s[j] == '.' || d.s[j] == 'e' || d.s[j] == 'E' || d.s[j] == '+' || d.s[j] == '-') {
			j++
		}
		f, err := strconv.ParseFloat(d.s[d.i:j], 64)
		if err != nil && !math.IsInf(f, 0) {
			d.fail("value")
		}
		d.i = j
		return lua.LNumber(f)
	}
	d.fail("value")
	return lua.LNil
}

// str reads a JSON string starting at the opening quote.
func (d *jsonDecoder) str() string {
	d.i++
	var b []byte
	for {
		if d.i >= len(d.s) {
			jsonError(d.L, "Expected string but found T_END at character "+strconv.Itoa(d.i+1))
		}
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return string(b)
		case c == '\\':
			if d.i+1 >= len(d.s) {
				d.fail("string")
			}
			e := d.s[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				if d.i+4 > len(d.s) {
					d.fail("string")
				}
				r, err := strconv.ParseUint(d.s[d.i:d.i+4], 16, 32)
				if err != nil {
					d.fail("string")
				}
				d.i += 4
				if r >= 0xd800 && r < 0xdc00 && d.i+6 <= len(d.s) && d.s[d.i] == '\\' && d.s[d.i+1] == 'u' {
					if lo, err := strconv.ParseUint(d.s[d.i+2:d.i+6], 16, 32); err == nil && lo >= 0xdc00 && lo < 0xe000 {
						r = 0x10000 + (r-0xd800)<<10 + (lo - 0xdc00)
						d.i += 6
					}
				}
				b = utf8.AppendRune(b, rune(r))
			default:
				d.fail("string")
			}
		default:
			b = append(b, c)
			d.i++
		}
	}
}
