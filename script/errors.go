package script

import (
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// The shape of a failed script's reply, as Redis 7.0 writes it:
//
//	a table {err=msg} raised (redis.call's errors, error({err=...})) -> "-<msg> script: <sha>, on @user_script:<line>."
//	any other value v raised (error("x"), runtime errors)         -> "-ERR <tostring(v)> script: ..."
//
// The line is where the error was raised: the Lua function that raised it,
// or the one that called the Go function that did.

// errorHandler is passed to PCall: it runs where the error is raised,
// before the stack unwinds, and records the line.
func (v *vm) errorHandler(L *lua.LState) int {
	if !v.errInfo.set {
		v.errInfo = errInfo{set: true, line: v.currentLine(1)}
	}
	L.Push(L.Get(1))
	return 1
}

// currentLine returns the line of the first Lua frame at or above level.
func (v *vm) currentLine(level int) int {
	L := v.L
	for ; level < 64; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return 0
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			return 0
		}
		if dbg.What != "G" {
			return dbg.CurrentLine
		}
	}
	return 0
}

func (v *vm) errLine() int {
	if v.errInfo.set && v.errInfo.line > 0 {
		return v.errInfo.line
	}
	return 1
}

// decorate appends Redis's " script: <sha>, on @user_script:<line>." suffix.
func (v *vm) decorate(msg string, line int) string {
	sha := ""
	if v.ent != nil {
		sha = v.ent.hexsha
	}
	return decorate(msg, sha, line)
}

func decorate(msg, hexsha string, line int) string {
	return msg + " script: " + hexsha + ", on @" + chunkName + ":" + strconv.Itoa(line) + "."
}

// appendLuaError turns the error PCall returned into the reply.
func (v *vm) appendLuaError(out []byte, err error) []byte {
	var obj lua.LValue = lua.LString(err.Error())
	if ae, ok := err.(*lua.ApiError); ok {
		obj = ae.Object
	}
	return appendErrorLine(out, v.decorate(errorMessage(obj), v.errLine()))
}

// errorMessage is the text of an error object: the err field of a table,
// or "ERR " and the value as Lua prints it.
func errorMessage(obj lua.LValue) string {
	switch o := obj.(type) {
	case *lua.LTable:
		if s, ok := o.RawGetString("err").(lua.LString); ok {
			return string(s)
		}
		if n, ok := o.RawGetString("err").(lua.LNumber); ok {
			return luaNumberString(float64(n))
		}
		// Redis 7.0.15 crashes on this; we answer instead.
		return "ERR the script raised a table without an err field"
	case lua.LNumber:
		return "ERR " + luaNumberString(float64(o))
	case lua.LString:
		return "ERR " + string(o)
	case *lua.LNilType:
		return "ERR nil"
	default:
		return "ERR " + obj.String()
	}
}

// raiseRedisError raises {err=msg}, the way Redis raises a command's error.
func raiseRedisError(L *lua.LState, msg string) {
	t := L.CreateTable(0, 1)
	t.RawSetString("err", lua.LString(msg))
	L.Error(t, 0)
}

// errorTable returns {err=msg}, redis.pcall's error value.
func errorTable(L *lua.LState, msg string) *lua.LTable {
	t := L.CreateTable(0, 1)
	t.RawSetString("err", lua.LString(msg))
	return t
}
