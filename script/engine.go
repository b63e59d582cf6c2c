package script

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
)

// Config bounds what the engine keeps. The zero value of a field means its
// default (DefaultConfig).
type Config struct {
	// MaxEvalScripts caps the scripts cached because EVAL ran them (not
	// SCRIPT LOAD). Past it the least recently used such script is
	// evicted; EVALSHA of it then answers NOSCRIPT and clients fall back
	// to EVAL, as they do after a restart. Default 500, Redis 7.4's bound.
	MaxEvalScripts int
	// MaxEvalBytes caps the total source size of the scripts cached
	// because EVAL ran them: past it the least recently used are evicted
	// as past MaxEvalScripts. A compiled script takes about ten times
	// its source (500 scripts of 1 MB would have taken gigabytes).
	// Default 32 MiB.
	MaxEvalBytes int64
	// MaxLoadedBytes caps the total source size of scripts added by SCRIPT
	// LOAD. They are never evicted (Redis guarantees they stay until SCRIPT
	// FLUSH); a LOAD past the cap is refused. Default 64 MiB.
	MaxLoadedBytes int64
	// MemoryLimit is how much a script may allocate: strings it builds
	// (concatenation, string.rep, string.format, table.concat, gsub,
	// cjson.encode) in total, and the growth of the Go heap while it runs
	// (checked every few thousand instructions). Past it the script stops
	// with an error. Default 256 MiB.
	MemoryLimit int64
	// MaxIdleVMs caps the VMs kept for reuse. Default 64.
	MaxIdleVMs int
	// NoNative turns off the native fast paths of well-known library
	// scripts (native.go): every script runs on the VM.
	NoNative bool
	// Log receives redis.log's messages (level LogDebug..LogWarning); nil
	// drops them. Called on the script's goroutine.
	Log func(level int, msg string)
}

// DefaultConfig returns the defaults documented on Config's fields.
func DefaultConfig() Config {
	return Config{MaxEvalScripts: 500, MaxEvalBytes: 32 << 20, MaxLoadedBytes: 64 << 20, MemoryLimit: 256 << 20, MaxIdleVMs: 64}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxEvalScripts <= 0 {
		c.MaxEvalScripts = d.MaxEvalScripts
	}
	if c.MaxEvalBytes <= 0 {
		c.MaxEvalBytes = d.MaxEvalBytes
	}
	if c.MaxLoadedBytes <= 0 {
		c.MaxLoadedBytes = d.MaxLoadedBytes
	}
	if c.MemoryLimit <= 0 {
		c.MemoryLimit = d.MemoryLimit
	}
	if c.MaxIdleVMs <= 0 {
		c.MaxIdleVMs = d.MaxIdleVMs
	}
	return c
}

// Host is the server side of a running script. Its methods are called on
// the goroutine that called Eval.
type Host interface {
	// Call runs one command for redis.call/redis.pcall and appends the
	// command's reply, encoded in RESP version resp (2 or 3), to out. args
	// are valid only during the call and must not be modified.
	Call(args [][]byte, resp int, out []byte) []byte
	// ACLCheck is redis.acl_check_cmd: whether the script's user may run
	// args (known false: no such command or subcommand). args are valid
	// only during the call.
	ACLCheck(args [][]byte) (allowed, known bool)
	// Tick is called every few thousand VM instructions while the script
	// runs, so a long script can let the host serve others or notice a
	// deadline. It may call Run.Kill.
	Tick()
}

// Request is one EVAL or EVALSHA.
type Request struct {
	Body     []byte // EVAL: the script source (SHA is ignored)
	SHA      []byte // EVALSHA: the script's SHA1 in hex, any case
	Keys     [][]byte
	Args     [][]byte
	Resp     int  // the calling client's protocol: the reply's encoding
	ReadOnly bool // EVAL_RO/EVALSHA_RO: the host refuses writes; kept for the host
	Host     Host
	// Run, when not nil, lets another goroutine kill the script.
	Run *Run
}

// Errors returned by Load.
var (
	ErrCacheFull = errors.New("ERR script cache is full (see MaxLoadedBytes); SCRIPT FLUSH to make room")
)

const errNoScript = "NOSCRIPT No matching script. Please use EVAL."

// Engine compiles, caches and runs scripts. Safe for concurrent use; the
// zero value is not usable, call New.
type Engine struct {
	cfg Config

	mu          sync.RWMutex
	scripts     map[[20]byte]*entry // guarded by mu
	evalLRU     entryList           // EVAL-only scripts, most recent first; guarded by mu
	evalCount   int                 // guarded by mu
	evalBytes   int64               // source bytes of the EVAL-only scripts; guarded by mu
	loadedBytes int64               // guarded by mu
	gen         atomic.Uint64       // bumped by Flush: VMs drop their closures

	poolMu sync.Mutex
	idle   []*vm // guarded by poolMu

	nativeRuns, nativeFallbacks atomic.Uint64
}

// entry is one cached script. proto is immutable and shared by every VM.
type entry struct {
	sha    [20]byte
	hexsha string
	proto  *lua.FunctionProto
	native nativeFunc // nil unless a native function does what it does
	size   int64
	loaded bool // added or confirmed by SCRIPT LOAD: never evicted
	// EVAL LRU links, guarded by Engine.mu.
	prev, next *entry
	lastUse    atomic.Int64 // a use counter; LRU order is refreshed lazily
}

// New returns an engine for cfg.
func New(cfg Config) *Engine {
	return &Engine{cfg: cfg.withDefaults(), scripts: make(map[[20]byte]*entry)}
}

// SHA1Hex returns the hex SHA1 of body, the script's name.
func SHA1Hex(body []byte) string {
	s := sha1.Sum(body)
	return hex.EncodeToString(s[:])
}

// Load compiles body and keeps it until Flush (SCRIPT LOAD). It returns the
// script's SHA1, or the compile error reply.
func (e *Engine) Load(body []byte) (string, error) {
	ent, err := e.lookupOrCompile(body, true)
	if err != nil {
		return "", err
	}
	return ent.hexsha, nil
}

// Exists reports whether the script with this hex SHA1 is cached.
func (e *Engine) Exists(hexsha []byte) bool {
	sha, ok := parseSHA(hexsha)
	if !ok {
		return false
	}
	e.mu.RLock()
	_, ok = e.scripts[sha]
	e.mu.RUnlock()
	return ok
}

// Flush empties the cache (SCRIPT FLUSH). Running scripts finish normally.
func (e *Engine) Flush() {
	e.mu.Lock()
	e.scripts = make(map[[20]byte]*entry)
	e.evalLRU = entryList{}
	e.evalCount = 0
	e.evalBytes = 0
	e.loadedBytes = 0
	e.mu.Unlock()
	e.gen.Add(1)
}

// NativeStats returns how many runs took a native fast path, and how many
// gave up on it and ran on the VM.
func (e *Engine) NativeStats() (runs, fallbacks uint64) {
	return e.nativeRuns.Load(), e.nativeFallbacks.Load()
}

// Len returns the number of cached scripts.
func (e *Engine) Len() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.scripts)
}

func parseSHA(h []byte) ([20]byte, bool) {
	var sha [20]byte
	if len(h) != 40 {
		return sha, false
	}
	for i := 0; i < 20; i++ {
		hi, ok1 := unhex(h[2*i])
		lo, ok2 := unhex(h[2*i+1])
		if !ok1 || !ok2 {
			return sha, false
		}
		sha[i] = hi<<4 | lo
	}
	return sha, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// lookupOrCompile finds or compiles body. load marks it as SCRIPT LOAD'ed.
func (e *Engine) lookupOrCompile(body []byte, load bool) (*entry, error) {
	sha := sha1.Sum(body)
	e.mu.RLock()
	ent := e.scripts[sha]
	e.mu.RUnlock()
	if ent != nil && (!load || ent.loaded) {
		return ent, nil
	}
	if ent == nil {
		proto, err := compile(body)
		if err != nil {
			return nil, err
		}
		ent = &entry{sha: sha, hexsha: hex.EncodeToString(sha[:]), proto: proto, size: int64(len(body))}
		if !e.cfg.NoNative {
			ent.native = nativeScripts[ent.hexsha]
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if cur := e.scripts[sha]; cur != nil {
		ent = cur
	}
	if load {
		if ent.loaded {
			return ent, nil
		}
		if e.loadedBytes+ent.size > e.cfg.MaxLoadedBytes {
			return nil, ErrCacheFull
		}
		if e.scripts[sha] == ent {
			e.evalLRU.remove(ent)
			e.evalCount--
			e.evalBytes -= ent.size
		}
		ent.loaded = true
		e.loadedBytes += ent.size
		e.scripts[sha] = ent
		return ent, nil
	}
	if e.scripts[sha] == nil {
		for e.evalCount > 0 && (e.evalCount >= e.cfg.MaxEvalScripts || e.evalBytes+ent.size > e.cfg.MaxEvalBytes) {
			old := e.evalLRU.back()
			e.evalLRU.remove(old)
			delete(e.scripts, old.sha)
			e.evalCount--
			e.evalBytes -= old.size
		}
		e.scripts[sha] = ent
		e.evalLRU.pushFront(ent)
		e.evalCount++
		e.evalBytes += ent.size
	}
	return ent, nil
}

// touch refreshes an EVAL script's place in the LRU. Only every 64th use
// takes the write lock, so hot scripts do not serialise on it.
func (e *Engine) touch(ent *entry) {
	if ent.loaded || ent.lastUse.Add(1)&63 != 0 {
		return
	}
	e.mu.Lock()
	if !ent.loaded && e.scripts[ent.sha] == ent {
		e.evalLRU.remove(ent)
		e.evalLRU.pushFront(ent)
	}
	e.mu.Unlock()
}

// Eval runs a script and appends its reply (or error reply) to out.
func (e *Engine) Eval(req *Request, out []byte) []byte {
	var ent *entry
	if req.Body != nil {
		var err error
		ent, err = e.lookupOrCompile(req.Body, false)
		if err != nil {
			return appendErrorLine(out, err.Error())
		}
	} else {
		sha, ok := parseSHA(req.SHA)
		if ok {
			e.mu.RLock()
			ent = e.scripts[sha]
			e.mu.RUnlock()
		}
		if ent == nil {
			return appendErrorLine(out, errNoScript)
		}
	}
	e.touch(ent)
	if ent.native != nil && !req.Run.isKilled() {
		n := nativeRunPool.Get().(*nativeRun)
		n.h, n.sha = req.Host, ent.hexsha
		res, ok := ent.native(n, req, out)
		n.h = nil
		nativeRunPool.Put(n)
		if ok {
			e.nativeRuns.Add(1)
			return res
		}
		e.nativeFallbacks.Add(1)
		out = res[:len(out)]
	}
	v := e.getVM()
	out = v.run(ent, req, out)
	e.putVM(v)
	return out
}

func (e *Engine) getVM() *vm {
	e.poolMu.Lock()
	if n := len(e.idle); n > 0 {
		v := e.idle[n-1]
		e.idle = e.idle[:n-1]
		e.poolMu.Unlock()
		if g := e.gen.Load(); v.gen != g {
			clear(v.fns)
			v.gen = g
		}
		return v
	}
	e.poolMu.Unlock()
	v := newVM(e)
	v.gen = e.gen.Load()
	return v
}

func (e *Engine) putVM(v *vm) {
	if v.broken {
		v.L.Close()
		return
	}
	e.poolMu.Lock()
	if len(e.idle) < e.cfg.MaxIdleVMs {
		e.idle = append(e.idle, v)
		v = nil
	}
	e.poolMu.Unlock()
	if v != nil {
		v.L.Close()
	}
}

// entryList is an intrusive doubly linked list of EVAL-cached entries.
type entryList struct{ head, tail *entry }

func (l *entryList) pushFront(e *entry) {
	e.prev, e.next = nil, l.head
	if l.head != nil {
		l.head.prev = e
	}
	l.head = e
	if l.tail == nil {
		l.tail = e
	}
}

func (l *entryList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if l.head == e {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if l.tail == e {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (l *entryList) back() *entry { return l.tail }

// Run is a handle on one running script, for SCRIPT KILL. The zero value
// is ready to use; a Run serves one Eval at a time. Safe for concurrent use.
type Run struct {
	mu     sync.Mutex
	v      *vm  // the VM running the script; guarded by mu
	killed bool // guarded by mu
}

// Kill stops the script at its next VM instruction: it fails with Redis's
// "Script killed by user with SCRIPT KILL..." error. Killing a Run that is
// not running marks it so the next Eval with it fails at once.
func (r *Run) Kill() { r.stop(killedByUser) }

func (r *Run) stop(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.killed = true
	if r.v != nil {
		r.v.ctx.cancel(reason)
	}
}

// isKilled reports whether Kill was called on r before it ran.
func (r *Run) isKilled() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.killed
}

func (r *Run) attach(v *vm) bool {
	if r == nil {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.killed {
		return false
	}
	r.v = v
	return true
}

func (r *Run) detach() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.v = nil
	r.killed = false
	r.mu.Unlock()
}

const killedByUser = "ERR Script killed by user with SCRIPT KILL..."

// appendErrorLine writes "-msg\r\n", folding CR and LF into spaces.
func appendErrorLine(b []byte, msg string) []byte {
	b = append(b, '-')
	if strings.ContainsAny(msg, "\r\n") {
		msg = strings.NewReplacer("\r", " ", "\n", " ").Replace(msg)
	}
	b = append(b, msg...)
	return append(b, '\r', '\n')
}
