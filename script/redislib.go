package script

import (
	"strings"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// Log levels of redis.log, as Redis numbers them.
const (
	LogDebug   = 0
	LogVerbose = 1
	LogNotice  = 2
	LogWarning = 3
)

func (v *vm) newRedisLib() *lua.LTable {
	L := v.L
	t := L.NewTable()
	set := func(name string, f lua.LGFunction) { t.RawSetString(name, L.NewFunction(f)) }
	set("call", func(L *lua.LState) int { return v.redisCall(L, true) })
	set("pcall", func(L *lua.LState) int { return v.redisCall(L, false) })
	set("error_reply", redisErrorReply)
	set("status_reply", redisStatusReply)
	set("sha1hex", func(L *lua.LState) int {
		if L.GetTop() != 1 {
			raiseRedisError(L, "ERR wrong number of arguments")
		}
		L.Push(lua.LString(sha1hex(checkString(L, 1))))
		return 1
	})
	set("log", v.redisLog)
	set("setresp", v.redisSetResp)
	set("replicate_commands", func(L *lua.LState) int { L.Push(lua.LTrue); return 1 })
	set("set_repl", func(L *lua.LState) int {
		if L.GetTop() != 1 {
			raiseRedisError(L, "ERR redis.set_repl() requires one argument.")
		}
		if f := L.CheckNumber(1); f < 0 || f > 3 || f != lua.LNumber(int(f)) {
			raiseRedisError(L, "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.")
		}
		return 0
	})
	set("breakpoint", func(L *lua.LState) int { L.Push(lua.LFalse); return 1 })
	set("debug", func(L *lua.LState) int { return 0 })
	set("acl_check_cmd", v.redisACLCheck)
	for name, n := range map[string]int{"LOG_DEBUG": LogDebug, "LOG_VERBOSE": LogVerbose, "LOG_NOTICE": LogNotice,
		"LOG_WARNING": LogWarning, "REPL_NONE": 0, "REPL_AOF": 1, "REPL_SLAVE": 2, "REPL_REPLICA": 2, "REPL_ALL": 3} {
		t.RawSetString(name, lua.LNumber(n))
	}
	t.RawSetString("REDIS_VERSION", lua.LString(redisVersion))
	t.RawSetString("REDIS_VERSION_NUM", lua.LNumber(redisVersionNum))
	return t
}

// redisCall is redis.call (raise) and redis.pcall (!raise).
func (v *vm) redisCall(L *lua.LState, raise bool) int {
	fail := func(msg string) int {
		if raise {
			raiseRedisError(L, msg)
		}
		L.Push(errorTable(L, msg))
		return 1
	}
	args, msg := v.callArgs(L)
	if msg != "" {
		return fail(msg)
	}
	if v.req == nil || v.req.Host == nil {
		return fail("ERR no host to run commands")
	}
	reply := v.req.Host.Call(args, v.resp, v.replyBuf[:0])
	if cap(reply) <= 64<<10 {
		v.replyBuf = reply[:0]
	}
	// A command copies its arguments into the store, and its reply
	// becomes Lua values: past a megabyte of either since the last
	// check, check the heap now rather than some thousand instructions
	// later (a loop storing a long string can write gigabytes in those).
	v.traffic += len(reply)
	for _, a := range args {
		v.traffic += len(a)
	}
	if v.traffic > 1<<20 {
		v.traffic = 0
		if v.ctx.checkHeap() {
			clear(args)
			raiseRedisError(L, errMemory)
		}
	}
	clear(args)
	if len(reply) > 0 && reply[0] == '-' {
		line, _, _ := cutCRLF(reply)
		return fail(errorReplyText(string(line)))
	}
	val, _, _ := v.parseReply(L, reply, 0)
	L.Push(val)
	return 1
}

// redisACLCheck is redis.acl_check_cmd: whether the calling user may run
// the command with these arguments, without running it.
func (v *vm) redisACLCheck(L *lua.LState) int {
	args, msg := v.callArgs(L)
	if msg != "" {
		raiseRedisError(L, msg)
	}
	allowed, known := false, false
	if v.req != nil && v.req.Host != nil {
		allowed, known = v.req.Host.ACLCheck(args)
	}
	clear(args)
	if !known {
		raiseRedisError(L, "ERR Invalid command passed to redis.acl_check_cmd()")
	}
	L.Push(lua.LBool(allowed))
	return 1
}

// callArgs converts the Lua stack into command arguments (strings as they
// are, numbers as Lua formats them), or returns the error Redis gives.
// The slices alias the Lua strings and v's buffers: valid until the next
// call; clear them after use.
func (v *vm) callArgs(L *lua.LState) ([][]byte, string) {
	n := L.GetTop()
	if n == 0 {
		return nil, "ERR Please specify at least one argument for this redis lib call"
	}
	// Numbers are formatted into numBuf first; the argument slices are
	// taken once it no longer grows.
	v.numBuf = v.numBuf[:0]
	var offs [16]int
	numOffs := offs[:0]
	for i := 1; i <= n; i++ {
		switch x := L.Get(i).(type) {
		case lua.LString:
		case lua.LNumber:
			numOffs = append(numOffs, len(v.numBuf))
			v.numBuf = appendG(v.numBuf, float64(x), 17)
		default:
			return nil, "ERR Lua redis lib command arguments must be strings or integers"
		}
	}
	numOffs = append(numOffs, len(v.numBuf))
	args := v.argBuf[:0]
	ni := 0
	for i := 1; i <= n; i++ {
		switch x := L.Get(i).(type) {
		case lua.LString:
			args = append(args, unsafe.Slice(unsafe.StringData(string(x)), len(x)))
		case lua.LNumber:
			args = append(args, v.numBuf[numOffs[ni]:numOffs[ni+1]])
			ni++
		}
	}
	v.argBuf = args[:0]
	return args, ""
}

func redisErrorReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		L.Push(errorTable(L, "ERR wrong number or type of arguments"))
		return 1
	}
	L.Push(errorTable(L, errorReplyText(string(s))))
	return 1
}

// errorReplyText is what redis.error_reply stores: "-CODE msg" keeps CODE,
// a dash without a space and text gets ERR, plain text is kept as is.
func errorReplyText(s string) string {
	if !strings.HasPrefix(s, "-") {
		s = "-" + s
	}
	code, msg, found := strings.Cut(s[1:], " ")
	if !found {
		code, msg = "ERR", s[1:]
	}
	return code + " " + strings.Trim(msg, "\r\n")
}

func redisStatusReply(L *lua.LState) int {
	s, ok := L.Get(1).(lua.LString)
	if L.GetTop() != 1 || !ok {
		L.Push(errorTable(L, "ERR wrong number or type of arguments"))
		return 1
	}
	t := L.CreateTable(0, 1)
	t.RawSetString("ok", s)
	L.Push(t)
	return 1
}

func (v *vm) redisLog(L *lua.LState) int {
	n := L.GetTop()
	if n < 2 {
		raiseRedisError(L, "ERR redis.log() requires two arguments or more.")
	}
	lv, ok := L.Get(1).(lua.LNumber)
	if !ok {
		raiseRedisError(L, "ERR First argument must be a number (log level).")
	}
	level := int(lv)
	if level < LogDebug || level > LogWarning {
		raiseRedisError(L, "ERR Invalid debug level.")
	}
	var b strings.Builder
	for i := 2; i <= n; i++ {
		if i > 2 {
			b.WriteByte(' ')
		}
		s, ok := concatString(L.Get(i))
		if !ok {
			continue
		}
		b.WriteString(s)
	}
	if f := v.e.cfg.Log; f != nil {
		f(level, b.String())
	}
	return 0
}

func (v *vm) redisSetResp(L *lua.LState) int {
	if L.GetTop() != 1 {
		raiseRedisError(L, "ERR redis.setresp() requires one argument.")
	}
	n := L.ToNumber(1)
	if n != 2 && n != 3 {
		raiseRedisError(L, "ERR RESP version must be 2 or 3.")
	}
	v.resp = int(n)
	return 0
}
