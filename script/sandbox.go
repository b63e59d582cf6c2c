package script

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"runtime/metrics"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// Redis's version constants as scripts read them.
const (
	redisVersion    = "7.0.15"
	redisVersionNum = 0x07000f
)

const errReadonly = "Attempt to modify a readonly table"

// sandbox builds what a Redis 7 script sees: the base library without file
// access or module loading, string, table, math, coroutine, cjson, bit and
// redis, all behind read-only proxies, with reads of unknown globals an
// error.
func (v *vm) sandbox() {
	L := v.L
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{"", lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath}, {lua.CoroutineLibName, lua.OpenCoroutine}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	g := L.G.Global
	v.globals = g
	for _, name := range []string{"dofile", "loadfile", "print", "getfenv", "setfenv", "module", "require",
		"newproxy", "_printregs", "_GOPHER_LUA_VERSION"} {
		g.RawSetString(name, lua.LNil)
	}

	fn := func(f lua.LGFunction) *lua.LFunction { return L.NewFunction(f) }
	g.RawSetString("tostring", fn(v.luaToString))
	g.RawSetString("pcall", fn(v.luaPCall))
	g.RawSetString("rawset", fn(v.luaRawSet))
	g.RawSetString("rawget", fn(v.luaRawGet))
	g.RawSetString("setmetatable", fn(v.luaSetMetatable))
	g.RawSetString("next", fn(v.luaNext))
	g.RawSetString("pairs", fn(v.luaPairs))
	g.RawSetString("collectgarbage", fn(v.luaCollectGarbage))
	g.RawSetString("gcinfo", fn(v.luaGCInfo))
	g.RawSetString("loadstring", fn(v.luaLoadString))
	g.RawSetString("load", fn(v.luaLoad))
	g.RawSetString(concatName, fn(v.luaConcat))
	g.RawSetString("error", fn(v.luaError))
	g.RawSetString("tonumber", fn(luaToNumber))
	g.RawSetString("unpack", fn(luaUnpack))
	v.handler = fn(v.errorHandler)

	str := g.RawGetString(lua.StringLibName).(*lua.LTable)
	str.RawSetString("__index", lua.LNil) // gopher-lua makes the library its own metatable
	str.RawSetString("rep", fn(v.strRep))
	str.RawSetString("byte", fn(strByte))
	str.RawSetString("format", fn(v.strFormat))
	origGsub := str.RawGetString("gsub").(*lua.LFunction)
	str.RawSetString("gsub", fn(v.strGsub(origGsub)))
	strMeta := L.NewTable()
	strMeta.RawSetString("__index", str)
	L.SetMetatable(lua.LString(""), strMeta)

	tab := g.RawGetString(lua.TabLibName).(*lua.LTable)
	tab.RawSetString("concat", fn(v.tabConcat))
	tab.RawSetString("foreach", fn(tabForeach))
	tab.RawSetString("foreachi", fn(tabForeachi))
	tab.RawSetString("setn", fn(func(L *lua.LState) int { L.RaiseError("'setn' is obsolete"); return 0 }))

	co := g.RawGetString(lua.CoroutineLibName).(*lua.LTable)
	origCreate := co.RawGetString("create").(*lua.LFunction)
	co.RawSetString("create", fn(v.coCreate(origCreate)))
	co.RawSetString("wrap", fn(v.coWrap))

	v.redisLib = v.newRedisLib()
	g.RawSetString("redis", v.redisLib)
	g.RawSetString("cjson", v.newCJSON())
	g.RawSetString("bit", newBitLib(L))

	// Every library table is shown through a read-only proxy.
	for _, name := range []string{lua.StringLibName, lua.TabLibName, lua.MathLibName, lua.CoroutineLibName, "redis", "cjson", "bit"} {
		g.RawSetString(name, v.readonlyProxy(g.RawGetString(name).(*lua.LTable)))
	}
	strMeta.RawSetString("__metatable", v.readonlyProxy(strMeta))

	// Reading a global that does not exist is an error.
	gm := L.NewTable()
	gm.RawSetString("__index", fn(func(L *lua.LState) int {
		L.RaiseError("Script attempted to access nonexistent global variable '%s'", L.ToString(2))
		return 0
	}))
	g.Metatable = gm
	v.env = v.readonlyProxy(g)
	g.RawSetString("_G", v.env)
	L.Env = v.env
	L.G.Global = g
}

// readonlyProxy returns an empty table that reads through to t and refuses
// writes with Redis's error.
func (v *vm) readonlyProxy(t *lua.LTable) *lua.LTable {
	L := v.L
	p := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", t)
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		L.RaiseError(errReadonly)
		return 0
	}))
	protected := L.NewTable()
	mt.RawSetString("__metatable", protected)
	p.Metatable = mt
	v.readonly[p] = t
	v.readonly[protected] = protected
	v.readonly[mt] = mt
	return p
}

func (v *vm) isReadonly(t *lua.LTable) bool {
	_, ok := v.readonly[t]
	return ok
}

// real returns the table a read-only proxy shows, or t itself.
func (v *vm) real(t *lua.LTable) *lua.LTable {
	if r, ok := v.readonly[t]; ok {
		return r
	}
	return t
}

func (v *vm) luaRawSet(L *lua.LState) int {
	t := L.CheckTable(1)
	if v.isReadonly(t) {
		L.Error(lua.LString(errReadonly), 0)
	}
	k := L.CheckAny(2)
	if k == lua.LNil {
		L.ArgError(2, "table index is nil")
	}
	t.RawSet(k, L.CheckAny(3))
	L.SetTop(1)
	return 1
}

// luaRawGet reads through the read-only proxies: in Redis _G and the
// library tables are the tables themselves (read-only by a flag), so
// rawget(_G, "KEYS") finds KEYS.
func (v *vm) luaRawGet(L *lua.LState) int {
	t := v.real(L.CheckTable(1))
	L.Push(t.RawGet(L.CheckAny(2)))
	return 1
}

func (v *vm) luaSetMetatable(L *lua.LState) int {
	t := L.CheckTable(1)
	if v.isReadonly(t) {
		L.Error(lua.LString(errReadonly), 0)
	}
	mv := L.Get(2)
	if mv != lua.LNil {
		if _, ok := mv.(*lua.LTable); !ok {
			L.ArgError(2, "nil or table expected")
		}
	}
	if mt, ok := t.Metatable.(*lua.LTable); ok && mt.RawGetString("__metatable") != lua.LNil {
		L.RaiseError("cannot change a protected metatable")
	}
	t.Metatable = mv
	L.SetTop(1)
	return 1
}

func (v *vm) luaNext(L *lua.LState) int {
	t := v.real(L.CheckTable(1))
	k, val := t.Next(L.Get(2))
	if k == lua.LString(concatName) && t == v.globals {
		k, val = t.Next(k) // our concatenation helper is not a global to list
	}
	if k == lua.LNil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(k)
	L.Push(val)
	return 2
}

func (v *vm) luaPairs(L *lua.LState) int {
	t := L.CheckTable(1)
	L.Push(v.globals.RawGetString("next"))
	L.Push(t)
	L.Push(lua.LNil)
	return 3
}

// luaPCall is Redis 7.0's pcall: an error raised as a table with an err
// field (what redis.call raises) is returned as its err string.
func (v *vm) luaPCall(L *lua.LState) int {
	L.CheckAny(1)
	nargs := L.GetTop() - 1
	if err := L.PCall(nargs, lua.MultRet, nil); err != nil {
		var obj lua.LValue = lua.LString(err.Error())
		if ae, ok := err.(*lua.ApiError); ok {
			obj = ae.Object
		}
		if t, ok := obj.(*lua.LTable); ok {
			if s := t.RawGetString("err"); s.Type() == lua.LTString || s.Type() == lua.LTNumber {
				obj = s
			}
		}
		L.Push(lua.LFalse)
		L.Push(obj)
		return 2
	}
	L.Insert(lua.LTrue, 1)
	return L.GetTop()
}

// luaToString formats numbers as Lua does (%.14g).
func (v *vm) luaToString(L *lua.LState) int {
	val := L.CheckAny(1)
	if n, ok := val.(lua.LNumber); ok {
		L.Push(lua.LString(luaNumberString(float64(n))))
		return 1
	}
	L.Push(L.ToStringMeta(val))
	return 1
}

// luaCollectGarbage never collects: a script must not make the whole
// server run a garbage collection. "count" reports the heap in KB.
func (v *vm) luaCollectGarbage(L *lua.LState) int {
	switch L.OptString(1, "collect") {
	case "count":
		L.Push(lua.LNumber(heapKB(v)))
	default:
		L.Push(lua.LNumber(0))
	}
	return 1
}

func (v *vm) luaGCInfo(L *lua.LState) int {
	L.Push(lua.LNumber(int64(heapKB(v))))
	return 1
}

func heapKB(v *vm) float64 {
	metrics.Read(v.ctx.sample)
	return float64(v.ctx.sample[0].Value.Uint64()) / 1024
}

// luaLoadString compiles a chunk the way scripts are compiled (so its
// concatenations are charged too) and gives it the sandboxed globals.
func (v *vm) luaLoadString(L *lua.LState) int {
	src := L.CheckString(1)
	name := L.OptString(2, src)
	return v.loadChunk(L, src, name)
}

func (v *vm) luaLoad(L *lua.LState) int {
	f := L.CheckFunction(1)
	name := L.OptString(2, "=(load)")
	var sb strings.Builder
	for {
		L.Push(f)
		L.Call(0, 1)
		ret := L.Get(-1)
		L.Pop(1)
		s, ok := ret.(lua.LString)
		if ret == lua.LNil || (ok && len(s) == 0) {
			break
		}
		if !ok {
			L.Push(lua.LNil)
			L.Push(lua.LString("reader function must return a string"))
			return 2
		}
		v.charge(L, len(s))
		sb.WriteString(string(s))
	}
	return v.loadChunk(L, sb.String(), name)
}

func (v *vm) loadChunk(L *lua.LState, src, name string) int {
	if line := syntaxLevelsLine([]byte(src)); line > 0 {
		L.Push(lua.LNil)
		L.Push(lua.LString(chunkID(name) + ":" + itoa(line) + ": " + errSyntaxLevels))
		return 2
	}
	chunk, err := parse.Parse(strings.NewReader(src), name)
	if err == nil {
		var rw rewriter
		rw.rewriteChunk(chunk)
		if rw.bad != nil || rw.limit != "" {
			L.Push(lua.LNil)
			L.Push(lua.LString(rw.badText(chunkID(name))))
			return 2
		}
		var proto *lua.FunctionProto
		proto, err = lua.Compile(chunk, name)
		if err == nil {
			fn := L.NewFunctionFromProto(proto)
			fn.Env = v.env
			L.Push(fn)
			return 1
		}
	}
	L.Push(lua.LNil)
	L.Push(lua.LString(strings.TrimSpace(err.Error())))
	return 2
}

// coCreate gives each coroutine this VM's context, so its instructions
// are counted and it stops with the script.
func (v *vm) coCreate(orig *lua.LFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		L.CheckFunction(1)
		L.Push(orig)
		L.Push(L.Get(1))
		L.Call(1, 1)
		th := L.CheckThread(-1)
		th.SetContext(v.ctx)
		return 1
	}
}

func (v *vm) coWrap(L *lua.LState) int {
	fn := L.CheckFunction(1)
	th, _ := L.NewThread()
	th.SetContext(v.ctx)
	L.Push(L.NewFunction(func(L *lua.LState) int {
		args := make([]lua.LValue, L.GetTop())
		for i := range args {
			args[i] = L.Get(i + 1)
		}
		st, err, vals := L.Resume(th, fn, args...)
		if st == lua.ResumeError {
			var obj lua.LValue = lua.LString(err.Error())
			if ae, ok := err.(*lua.ApiError); ok {
				obj = ae.Object
			}
			L.Error(obj, 1)
		}
		for _, r := range vals {
			L.Push(r)
		}
		return len(vals)
	}))
	return 1
}

func tabForeach(L *lua.LState) int {
	t := L.CheckTable(1)
	f := L.CheckFunction(2)
	for k, val := t.Next(lua.LNil); k != lua.LNil; k, val = t.Next(k) {
		L.Push(f)
		L.Push(k)
		L.Push(val)
		L.Call(2, 1)
		if r := L.Get(-1); r != lua.LNil {
			return 1
		}
		L.Pop(1)
	}
	return 0
}

func tabForeachi(L *lua.LState) int {
	t := L.CheckTable(1)
	f := L.CheckFunction(2)
	n := t.Len()
	for i := 1; i <= n; i++ {
		L.Push(f)
		L.Push(lua.LNumber(i))
		L.Push(t.RawGetInt(i))
		L.Call(2, 1)
		if r := L.Get(-1); r != lua.LNil {
			return 1
		}
		L.Pop(1)
	}
	return 0
}

func sha1hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// luaError is Lua 5.1's error: a string or number message gets the
// position of the function at level (1: error's caller), and none when
// that function is not Lua code (pcall(error, "x")).
func (v *vm) luaError(L *lua.LState) int {
	obj := L.Get(1)
	level := L.OptInt(2, 1)
	if _, isTable := obj.(*lua.LTable); !isTable && obj != lua.LNil && level > 0 {
		if s, ok := concatString(obj); ok {
			if dbg, ok := L.GetStack(level); ok {
				if _, err := L.GetInfo("Sl", dbg, lua.LNil); err == nil && dbg.What != "G" && dbg.CurrentLine > 0 {
					s = chunkName + ":" + itoa(dbg.CurrentLine) + ": " + s
				}
			}
			obj = lua.LString(s)
		}
	}
	L.Error(obj, 0)
	return 0
}

// luaToNumber is Lua 5.1's tonumber: decimal (with exponent) and 0x hex
// numbers surrounded by spaces, or integers in base 2..36.
func luaToNumber(L *lua.LState) int {
	val := L.CheckAny(1)
	base := L.OptInt(2, 10)
	if base == 10 {
		switch x := val.(type) {
		case lua.LNumber:
			L.Push(x)
			return 1
		case lua.LString:
			if f, ok := parseLuaNumber(string(x)); ok {
				L.Push(lua.LNumber(f))
				return 1
			}
		}
		L.Push(lua.LNil)
		return 1
	}
	if base < 2 || base > 36 {
		L.ArgError(2, "base out of range")
	}
	s := L.CheckString(1)
	if z := strings.IndexByte(s, 0); z >= 0 {
		s = s[:z] // C's strtoul stops at the NUL
	}
	s = strings.ToLower(strings.TrimSpace(s))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil || s == "" {
		L.Push(lua.LNil)
		return 1
	}
	f := float64(n)
	if neg {
		f = -f
	}
	L.Push(lua.LNumber(f))
	return 1
}

// parseLuaNumber converts a string as Lua's lua_str2number does (strtod,
// then hexadecimal integers), allowing surrounding whitespace.
func parseLuaNumber(s string) (float64, bool) {
	// Lua reads the string as C does: up to its first NUL.
	if z := strings.IndexByte(s, 0); z >= 0 {
		s = s[:z]
	}
	s = strings.Trim(s, " \t\n\r\v\f")
	if s == "" || strings.ContainsRune(s, '_') {
		return 0, false
	}
	body := strings.TrimLeft(s, "+-")
	if len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') {
		n, err := strconv.ParseUint(body[2:], 16, 64)
		if err != nil {
			return 0, false
		}
		if strings.HasPrefix(s, "-") {
			return -float64(n), true
		}
		return float64(n), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return f, true
		}
		return 0, false
	}
	return f, true
}
