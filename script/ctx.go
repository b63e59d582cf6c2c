package script

import (
	"context"
	"runtime/metrics"
	"sync"
	"time"
)

// tickEvery is how many VM instructions pass between two host ticks (and
// memory checks). A power of two; about 10-40 µs of Lua at gopher-lua's speed.
const tickEvery = 4096

// vmCtx is the context.Context gopher-lua polls before every instruction
// (its Done is called once per instruction). Done doubles as the
// instruction hook: every tickEvery calls it ticks the host and checks the
// heap, and it is how a running script is stopped, by closing done.
//
// Done, Err and tick run on the VM's goroutine; cancel may be called from
// any goroutine (SCRIPT KILL), hence mu.
type vmCtx struct {
	v     *vm
	steps uint32

	mu     sync.Mutex
	done   chan struct{} // closed to stop the script; replaced after
	reason string        // why it was stopped; guarded by mu
	closed bool          // guarded by mu

	heapBase uint64 // heap bytes at the first check of this run; 0 = not taken
	sample   []metrics.Sample
}

func newVMCtx(v *vm) *vmCtx {
	return &vmCtx{v: v, done: make(chan struct{}),
		sample: []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}}
}

func (c *vmCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *vmCtx) Value(any) any               { return nil }

func (c *vmCtx) Done() <-chan struct{} {
	c.steps++
	if c.steps&(tickEvery-1) == 0 {
		c.tick()
	}
	return c.done
}

// AfterFunc lets context.WithCancel (gopher-lua makes one per coroutine)
// skip starting a goroutine to watch us; coroutines get this very context
// back (see coCreate), so the callback is never needed.
func (c *vmCtx) AfterFunc(func()) func() bool { return func() bool { return true } }

func (c *vmCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		return nil
	}
	return stopError(c.reason)
}

type stopError string

func (e stopError) Error() string { return string(e) }

func (c *vmCtx) cancel(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	c.reason = reason
	close(c.done)
}

// stopped returns the reason the current run was stopped, if it was.
func (c *vmCtx) stopped() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason, c.closed
}

// reset prepares the context for the next run.
func (c *vmCtx) reset() {
	c.mu.Lock()
	if c.closed {
		c.done = make(chan struct{})
		c.closed = false
		c.reason = ""
	}
	c.mu.Unlock()
	c.heapBase = 0
	c.steps = 0
}

func (c *vmCtx) tick() {
	v := c.v
	if v.req != nil && v.req.Host != nil {
		v.req.Host.Tick()
	}
	c.checkHeap()
}

// checkHeap stops the script if the heap grew past the memory limit since
// the run's first check; it reports whether it did.
func (c *vmCtx) checkHeap() bool {
	v := c.v
	metrics.Read(c.sample)
	heap := c.sample[0].Value.Uint64()
	if c.heapBase == 0 || heap < c.heapBase {
		// The first check of a run, or a collection freed memory:
		// growth is measured from here.
		c.heapBase = heap
		return false
	}
	if int64(heap-c.heapBase) > v.e.cfg.MemoryLimit {
		c.cancel(errMemory)
		return true
	}
	return false
}

// ensure vmCtx satisfies context.Context.
var _ context.Context = (*vmCtx)(nil)

const errMemory = "ERR script exceeded the memory limit for one script (lua-memory-limit)"
