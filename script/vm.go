package script

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// vm is one Lua state with Redis's sandbox. It is used by one Eval at a
// time (the pool hands it out), so nothing in it is locked.
type vm struct {
	e   *Engine
	L   *lua.LState
	ctx *vmCtx
	gen uint64

	env      *lua.LTable // the read-only global table scripts see (_G)
	globals  *lua.LTable // the real globals behind env
	redisLib *lua.LTable
	keys     *lua.LTable
	argv     *lua.LTable
	nkeys    int
	nargv    int
	handler  *lua.LFunction // the error handler passed to PCall
	jsonNull *lua.LUserData // cjson.null
	// readonly maps each read-only proxy to the table it shows.
	readonly map[*lua.LTable]*lua.LTable

	fns      map[*entry]*lua.LFunction // closures of cached scripts
	interned map[string]lua.LValue     // ARGV values seen lately (internArg)

	// Per run.
	req    *Request
	ent    *entry
	resp   int // redis.setresp
	budget int64
	// The reply being built: where it starts in out, and whether it
	// outgrew the budget (a table can repeat one long string many times).
	replyStart int
	replyOver  bool
	traffic    int // bytes through redis.call since the last heap check
	errInfo    errInfo
	broken     bool     // the state may be inconsistent: do not reuse
	argBuf     [][]byte // redis.call arguments, reused
	numBuf     []byte   // formatted number arguments, reused
	replyBuf   []byte   // a command's reply, reused
}

// errInfo is what the error handler records where an error is raised.
type errInfo struct {
	set  bool
	line int
}

func newVM(e *Engine) *vm {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:    true,
		CallStackSize:   200, // Lua's C-call depth limit, LUAI_MAXCCALLS
		RegistrySize:    1024,
		RegistryMaxSize: 1 << 18, // 4 MiB of stack slots
		// Grown by 32 slots at a time (the default), a deep stack is
		// copied over and over: quadratic.
		RegistryGrowStep: 4096,
	})
	v := &vm{e: e, L: L, fns: make(map[*entry]*lua.LFunction), interned: make(map[string]lua.LValue),
		readonly: make(map[*lua.LTable]*lua.LTable), resp: 2}
	v.ctx = newVMCtx(v)
	L.SetContext(v.ctx)
	v.sandbox()
	return v
}

// run executes ent for req and appends the reply to out.
func (v *vm) run(ent *entry, req *Request, out []byte) (reply []byte) {
	L := v.L
	start := len(out)
	defer func() {
		// gopher-lua raises some errors (a full stack) where its own
		// error handling runs out of stack too: the error escapes
		// PCall. Answer it as the script's error; the state is
		// dropped rather than reused.
		if r := recover(); r != nil {
			ae, ok := r.(*lua.ApiError)
			if !ok {
				panic(r)
			}
			v.broken = true
			msg := ae.Object.String()
			if i := strings.IndexByte(msg, '\n'); i >= 0 {
				msg = msg[:i] // the traceback
			}
			reply = appendErrorLine(out[:start], decorate("ERR "+msg, ent.hexsha, v.errLine()))
		}
	}()
	v.req, v.ent, v.resp, v.budget, v.traffic = req, ent, 2, v.e.cfg.MemoryLimit, 0
	v.errInfo = errInfo{}
	v.ctx.reset()
	defer func() {
		v.req, v.ent = nil, nil
		L.SetTop(0)
	}()
	if !req.Run.attach(v) {
		return appendErrorLine(out, v.decorate(killedByUser, 1))
	}
	defer req.Run.detach()

	fn := v.fns[ent]
	if fn == nil {
		if len(v.fns) >= 1024 {
			clear(v.fns)
		}
		fn = L.NewFunctionFromProto(ent.proto)
		fn.Env = v.env
		v.fns[ent] = fn
	}
	v.setArgs(req.Keys, req.Args)

	L.Push(fn)
	err := L.PCall(0, 1, v.handler)
	if reason, stopped := v.ctx.stopped(); stopped {
		return appendErrorLine(out, v.decorate(reason, v.errLine()))
	}
	if err != nil {
		return v.appendLuaError(out, err)
	}
	v.replyStart, v.replyOver = len(out), false
	out = v.appendReply(out, L.Get(-1), req.Resp, 0)
	if v.replyOver {
		return appendErrorLine(out[:v.replyStart], v.decorate(errMemory, v.errLine()))
	}
	return out
}

// setArgs fills KEYS and ARGV, reusing the tables while scripts leave them
// as plain arrays.
func (v *vm) setArgs(keys, args [][]byte) {
	v.keys, v.nkeys = v.fillTable(v.keys, v.nkeys, keys, false)
	v.argv, v.nargv = v.fillTable(v.argv, v.nargv, args, true)
	v.globals.RawSetString("KEYS", v.keys)
	v.globals.RawSetString("ARGV", v.argv)
}

func (v *vm) fillTable(t *lua.LTable, prev int, vals [][]byte, intern bool) (*lua.LTable, int) {
	// A script may have added fields or a metatable: start afresh then.
	if t == nil || t.Metatable != lua.LNil || t.MaxN() != prev {
		t = v.L.CreateTable(len(vals), 0)
		prev = 0
	} else if k, _ := t.Next(lua.LNumber(prev)); k != lua.LNil || (prev == 0 && hasAny(t)) {
		t = v.L.CreateTable(len(vals), 0)
		prev = 0
	}
	for i, b := range vals {
		if intern {
			t.RawSetInt(i+1, v.internArg(b))
		} else {
			t.RawSetInt(i+1, lua.LString(b))
		}
	}
	for i := len(vals) + 1; i <= prev; i++ {
		t.RawSetInt(i, lua.LNil)
	}
	return t, len(vals)
}

// Interned ARGV values: libraries send the same few limits and windows on
// every call, and a fresh Lua string costs two allocations (its bytes and
// its interface box). Lua strings are immutable, so runs share them.
const (
	maxInternLen   = 32
	maxInternCount = 256
)

func (v *vm) internArg(b []byte) lua.LValue {
	if len(b) > maxInternLen {
		return lua.LString(b)
	}
	if lv, ok := v.interned[string(b)]; ok {
		return lv
	}
	s := string(b)
	lv := lua.LValue(lua.LString(s))
	if len(v.interned) >= maxInternCount {
		clear(v.interned) // values that never repeat (timestamps) turn it over
	}
	v.interned[s] = lv
	return lv
}

func hasAny(t *lua.LTable) bool {
	k, _ := t.Next(lua.LNil)
	return k != lua.LNil
}

// charge takes n bytes from the run's memory budget, raising Redis-style
// an error when it is spent.
func (v *vm) charge(L *lua.LState, n int) {
	v.budget -= int64(n)
	if v.budget < 0 {
		v.ctx.cancel(errMemory)
		raiseRedisError(L, errMemory)
	}
}

// chargeable reports whether n more bytes fit the budget, without taking them.
func (v *vm) fits(n int64) bool { return n >= 0 && n <= v.budget }

func itoa(i int) string { return strconv.Itoa(i) }
