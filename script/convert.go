package script

import (
	"bytes"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// maxReplyDepth bounds the nesting of a script's reply (a table that
// contains itself would otherwise recurse forever).
const maxReplyDepth = 1000

// appendReply converts a script's return value to RESP, as Redis does:
// strings are bulk strings, numbers are truncated to integers, true is 1
// and false nil (RESP3 booleans once the script called redis.setresp(3)),
// tables with an err/ok field are error/status replies, {double=},
// {big_number=}, {map=}, {set=}, {verbatim_string=} the RESP3 types, and any
// other table is an array of its elements up to the first nil.
func (v *vm) appendReply(b []byte, val lua.LValue, resp, depth int) []byte {
	if depth > maxReplyDepth {
		return append(b, "-ERR reached lua stack limit\r\n"...)
	}
	if v.replyOver || int64(len(b)-v.replyStart) > v.budget {
		v.replyOver = true
		return b
	}
	switch x := val.(type) {
	case lua.LString:
		return appendBulkString(b, string(x))
	case lua.LNumber:
		b = append(b, ':')
		b = strconv.AppendInt(b, luaToInteger(float64(x)), 10)
		return append(b, '\r', '\n')
	case lua.LBool:
		if v.resp == 2 {
			if x {
				return append(b, ":1\r\n"...)
			}
			return appendNull(b, resp)
		}
		switch {
		case resp == 3 && bool(x):
			return append(b, "#t\r\n"...)
		case resp == 3:
			return append(b, "#f\r\n"...)
		case bool(x):
			return append(b, ":1\r\n"...)
		default:
			return append(b, ":0\r\n"...)
		}
	case *lua.LTable:
		return v.appendTable(b, x, resp, depth)
	}
	return appendNull(b, resp)
}

func (v *vm) appendTable(b []byte, t *lua.LTable, resp, depth int) []byte {
	if s, ok := t.RawGetString("err").(lua.LString); ok {
		return appendErrorLine(b, string(s))
	}
	if s, ok := t.RawGetString("ok").(lua.LString); ok {
		b = append(b, '+')
		b = appendFolded(b, string(s))
		return append(b, '\r', '\n')
	}
	if n, ok := t.RawGetString("double").(lua.LNumber); ok {
		return appendDouble(b, float64(n), resp)
	}
	if s, ok := t.RawGetString("big_number").(lua.LString); ok {
		if resp != 3 {
			return appendBulkString(b, string(s))
		}
		b = append(b, '(')
		b = appendFolded(b, string(s))
		return append(b, '\r', '\n')
	}
	if m, ok := t.RawGetString("map").(*lua.LTable); ok {
		n := 0
		m.ForEach(func(lua.LValue, lua.LValue) { n++ })
		if resp == 3 {
			b = appendHeader(b, '%', n)
		} else {
			b = appendHeader(b, '*', 2*n)
		}
		for k, val := m.Next(lua.LNil); k != lua.LNil; k, val = m.Next(k) {
			b = v.appendReply(b, k, resp, depth+1)
			b = v.appendReply(b, val, resp, depth+1)
		}
		return b
	}
	if s, ok := t.RawGetString("set").(*lua.LTable); ok {
		n := 0
		s.ForEach(func(lua.LValue, lua.LValue) { n++ })
		if resp == 3 {
			b = appendHeader(b, '~', n)
		} else {
			b = appendHeader(b, '*', n)
		}
		for k, _ := s.Next(lua.LNil); k != lua.LNil; k, _ = s.Next(k) {
			b = v.appendReply(b, k, resp, depth+1)
		}
		return b
	}
	if vt, ok := t.RawGetString("verbatim_string").(*lua.LTable); ok {
		format, ok1 := vt.RawGetString("format").(lua.LString)
		str, ok2 := vt.RawGetString("string").(lua.LString)
		if ok1 && ok2 {
			if resp != 3 {
				return appendBulkString(b, string(str))
			}
			b = appendHeader(b, '=', len(format)+1+len(str))
			b = append(b, format...)
			b = append(b, ':')
			b = append(b, str...)
			return append(b, '\r', '\n')
		}
	}
	n := 0
	for t.RawGetInt(n+1) != lua.LNil {
		n++
	}
	b = appendHeader(b, '*', n)
	for i := 1; i <= n && !v.replyOver; i++ {
		b = v.appendReply(b, t.RawGetInt(i), resp, depth+1)
	}
	return b
}

func appendHeader(b []byte, kind byte, n int) []byte {
	b = append(b, kind)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

func appendBulkString(b []byte, s string) []byte {
	b = appendHeader(b, '$', len(s))
	b = append(b, s...)
	return append(b, '\r', '\n')
}

func appendNull(b []byte, resp int) []byte {
	if resp == 3 {
		return append(b, "_\r\n"...)
	}
	return append(b, "$-1\r\n"...)
}

func appendDouble(b []byte, f float64, resp int) []byte {
	var buf [32]byte
	s := appendG(buf[:0], f, 17)
	if resp != 3 {
		return appendBulkString(b, string(s))
	}
	b = append(b, ',')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// appendFolded appends s with CR and LF turned into spaces, as Redis does
// for status and error lines.
func appendFolded(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

// pushReply converts a command's RESP reply to a Lua value, as Redis does:
// integers are numbers, bulk strings strings, nil bulk/array false (RESP2)
// or nil (RESP3 null), arrays tables, status {ok=}, errors {err=}; RESP3
// maps {map=}, sets {set=}, doubles {double=}, booleans booleans, big
// numbers {big_number=}, verbatim strings {verbatim_string=}. It reports
// whether the reply is an error.
func (v *vm) parseReply(L *lua.LState, p []byte, depth int) (lua.LValue, []byte, bool) {
	if len(p) < 3 || depth > maxReplyDepth {
		return lua.LFalse, nil, false
	}
	kind := p[0]
	line, rest, ok := cutCRLF(p[1:])
	if !ok {
		return lua.LFalse, nil, false
	}
	switch kind {
	case '+':
		t := L.CreateTable(0, 1)
		if string(line) == "OK" {
			t.RawSetString("ok", luaOK)
		} else {
			t.RawSetString("ok", lua.LString(line))
		}
		return t, rest, false
	case '-':
		return errorTable(L, string(line)), rest, true
	case ':':
		n, _ := strconv.ParseInt(string(line), 10, 64)
		return lua.LNumber(n), rest, false
	case '$', '=':
		n, err := strconv.Atoi(string(line))
		if err != nil || n < 0 {
			return lua.LFalse, rest, false
		}
		if len(rest) < n+2 {
			return lua.LFalse, nil, false
		}
		s, rest := rest[:n], rest[n+2:]
		if kind == '=' {
			format, text := "txt", s
			if len(s) >= 4 && s[3] == ':' {
				format, text = string(s[:3]), s[4:]
			}
			inner := L.CreateTable(0, 2)
			inner.RawSetString("format", lua.LString(format))
			inner.RawSetString("string", lua.LString(text))
			t := L.CreateTable(0, 1)
			t.RawSetString("verbatim_string", inner)
			return t, rest, false
		}
		return lua.LString(s), rest, false
	case '*', '>', '~', '%':
		n, err := strconv.Atoi(string(line))
		if err != nil || n < 0 {
			return lua.LFalse, rest, false
		}
		switch kind {
		case '%':
			m := L.CreateTable(0, n)
			for i := 0; i < n && rest != nil; i++ {
				var k, val lua.LValue
				k, rest, _ = v.parseReply(L, rest, depth+1)
				val, rest, _ = v.parseReply(L, rest, depth+1)
				if k != lua.LNil {
					m.RawSet(k, val)
				}
			}
			t := L.CreateTable(0, 1)
			t.RawSetString("map", m)
			return t, rest, false
		case '~':
			s := L.CreateTable(0, n)
			for i := 0; i < n && rest != nil; i++ {
				var k lua.LValue
				k, rest, _ = v.parseReply(L, rest, depth+1)
				if k != lua.LNil {
					s.RawSet(k, lua.LTrue)
				}
			}
			t := L.CreateTable(0, 1)
			t.RawSetString("set", s)
			return t, rest, false
		}
		t := L.CreateTable(n, 0)
		for i := 1; i <= n && rest != nil; i++ {
			var e lua.LValue
			e, rest, _ = v.parseReply(L, rest, depth+1)
			t.RawSetInt(i, e)
		}
		return t, rest, false
	case '_':
		return lua.LNil, rest, false
	case '#':
		return lua.LBool(len(line) == 1 && line[0] == 't'), rest, false
	case ',':
		t := L.CreateTable(0, 1)
		t.RawSetString("double", lua.LNumber(parseDouble(line)))
		return t, rest, false
	case '(':
		t := L.CreateTable(0, 1)
		t.RawSetString("big_number", lua.LString(line))
		return t, rest, false
	case '|':
		// An attribute precedes the reply it annotates: skip it.
		n, _ := strconv.Atoi(string(line))
		for i := 0; i < 2*n && rest != nil; i++ {
			_, rest, _ = v.parseReply(L, rest, depth+1)
		}
		return v.parseReply(L, rest, depth)
	}
	return lua.LFalse, nil, false
}

// luaOK is the Lua string "OK", boxed once: most status replies are OK.
var luaOK lua.LValue = lua.LString("OK")

func parseDouble(s []byte) float64 {
	switch string(s) {
	case "inf", "+inf":
		return math.Inf(1)
	case "-inf":
		return math.Inf(-1)
	case "nan", "-nan":
		return math.NaN()
	}
	f, _ := strconv.ParseFloat(string(s), 64)
	return f
}

func cutCRLF(p []byte) (line, rest []byte, ok bool) {
	i := bytes.Index(p, []byte("\r\n"))
	if i < 0 {
		return nil, nil, false
	}
	return p[:i], p[i+2:], true
}
