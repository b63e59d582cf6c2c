package server

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rlserver/rlserver/engine"
	"github.com/rlserver/rlserver/peer"
	"github.com/rlserver/rlserver/persistence"
	"github.com/rlserver/rlserver/shard"
	"github.com/tidwall/redcon"
)

// Handoff: the sending side runs on the cluster loop, the receiving side
// is the RL.IMPORT command on a connection of its own (ctrlFor). The
// sender forwards commands for the slots only after DONE's +OK, which the
// receiver sends once it serves them, so they can never arrive first. The
// protocol is shard's package doc; this is its wire form:
//
//	RL.IMPORT BEGIN <slots>   receiver: forget stale keys of slots it does
//	                          not hold; merge into those it holds
//	RL.IMPORT DATA <entries>  snapshot-encoded entries (persistence.AppendEntry)
//	RL.IMPORT DONE <slots>    receiver holds the slots from now on; +OK
//
// <slots> is "a-b,c,d-e". The sender waits for DONE's +OK before it stops
// holding the slots; commands for them meanwhile are parked.

const (
	handoffBatchSlots = 256      // slots per transfer
	handoffChunkBytes = 64 << 10 // entries per DATA message
	handoffTimeout    = 5 * time.Second
)

// parked is a command held while its slot is in transit.
type parked struct {
	f    *fwdReply
	hops int
}

// park holds a command for a slot being handed off; unpark sends it on
// once the transfer has ended either way.
func (s *Server) park(c *Client, slot uint16, args [][]byte, now int64, inval [][]byte) {
	f := &fwdReply{s: s, c: c, slot: slot, resp: c.resp, now: now, args: copyArgs(args), inval: inval, user: c.user.Load()}
	s.hold(c, f)
	s.cl.parkMu.Lock()
	s.cl.parked = append(s.cl.parked, parked{f: f, hops: c.fwdHops})
	s.cl.parkMu.Unlock()
	s.cl.st.parked.Add(1)
}

// unpark re-dispatches parked commands with the current table: run here
// (a failed transfer) or forwarded to the new holder. Cluster loop.
func (cl *cluster) unpark(s *Server) {
	cl.parkMu.Lock()
	list := cl.parked
	cl.parked = nil
	cl.parkMu.Unlock()
	if len(list) == 0 {
		return
	}
	t := cl.router.Load()
	var peers []*peer.Client
	for _, p := range list {
		f := p.f
		if t.Local(f.slot) || t.Holder(f.slot) == shard.Handing {
			pc := &cl.loopClient
			pc.out, pc.resp, pc.fwdHops = pc.out[:0], f.resp, p.hops
			if t.Local(f.slot) {
				f.runAs(pc, func() { s.executeAt(pc, f.args, f.now) })
			} else {
				pc.out = appendError(pc.out, errTryAgain)
			}
			f.c.complete(f, pc.out)
			continue
		}
		h := t.Holder(f.slot)
		if h < 0 || h == shard.NoHolder || f.hops+1 > peer.MaxHops {
			f.c.complete(f, appendError(nil, errTryAgain))
			continue
		}
		if f.c.peer {
			// Forwarded to us: its first node sends it on (see sendAway).
			f.c.complete(f, appendMoved(nil, "-RLMOVED ", f.slot, t.Member(h).Addr))
			continue
		}
		f.hops++
		f.addr = t.Member(h).Addr
		pc := cl.peerFor(f.addr)
		pc.Forward(f.now, f.resp, f.hops, f.userName(), f.args, f)
		cl.st.forwarded.Add(1)
		peers = append(peers, pc)
	}
	for _, p := range peers {
		p.Flush()
	}
}

// handOff runs every planned transfer, one batch of slots at a time.
// Cluster loop.
func (cl *cluster) handOff(s *Server) {
	for {
		cl.authMu.Lock()
		plan := cl.auth.Plan(handoffBatchSlots)
		cl.authMu.Unlock()
		if len(plan) == 0 {
			return
		}
		for _, tr := range plan {
			select {
			case <-cl.done:
				return
			default:
			}
			cl.transfer(s, tr)
		}
		cl.rebuild(s) // a change may have arrived meanwhile
	}
}

// transfer hands tr.Slots to tr.To (see shard's package doc, steps 1-4).
func (cl *cluster) transfer(s *Server, tr shard.Transfer) {
	start := time.Now()
	cl.authMu.Lock()
	t := cl.auth.BeginHandoff(tr.Slots)
	cl.router.Store(t)
	to := t.Index(tr.To)
	cl.authMu.Unlock()
	var keys, bytes int64
	err := errors.New("target gone")
	if to >= 0 {
		keys, bytes, err = cl.send(s, t.Member(to).Addr, tr.Slots)
	}
	ok := err == nil
	cl.authMu.Lock()
	t = cl.auth.EndHandoff(tr.Slots, tr.To, ok)
	cl.router.Store(t)
	cl.authMu.Unlock()
	cl.unpark(s)
	if ok {
		cl.st.handoffSlots.Add(int64(len(tr.Slots)))
		cl.st.handoffKeys.Add(keys)
		cl.st.handoffBytes.Add(bytes)
		s.log.Info("cluster: handed off", "to", tr.To[:8], "slots", len(tr.Slots), "keys", keys, "took", time.Since(start))
		cl.dropSlots(s, tr.Slots)
	} else {
		cl.st.handoffFailures.Add(1)
		s.log.Warn("cluster: handoff failed; keeping the slots", "to", tr.To[:8], "slots", len(tr.Slots), "error", err)
		select {
		case <-cl.done:
		case <-time.After(time.Second): // retried by the next plan
		}
	}
}

// send streams the slots' entries to addr and waits for DONE's reply.
// Each shard is locked only while its entries are encoded; between chunks
// the sender pauses as long as it worked, so serving keeps the CPU.
func (cl *cluster) send(s *Server, addr string, slots []uint16) (keys, bytes int64, err error) {
	p := cl.ctrlFor(addr)
	var in [shard.NumSlots / 64]uint64
	for _, sl := range slots {
		in[sl>>6] |= 1 << (sl & 63)
	}
	spec := slotSpec(slots)
	w := newWaitReply(2)
	p.Do(w.part(0), []byte("RL.IMPORT"), []byte("BEGIN"), []byte(spec))
	p.Flush()
	var chunk []byte
	emit := func() {
		if len(chunk) == 0 {
			return
		}
		bytes += int64(len(chunk))
		p.Do(discard{}, []byte("RL.IMPORT"), []byte("DATA"), chunk)
		p.Flush()
		chunk = nil
	}
	nowMs := s.clock.Now() / 1e6
	for i := 0; i < s.store.NumShards(); i++ {
		began := time.Now()
		sh := s.store.Shard(i)
		sh.Lock()
		for k, e := range sh.Keys(nowMs) {
			sl := shard.Slot(k)
			if in[sl>>6]&(1<<(sl&63)) != 0 {
				chunk = persistence.AppendEntry(chunk, k, e)
				keys++
			}
		}
		sh.Unlock()
		if len(chunk) >= handoffChunkBytes {
			emit()
		}
		if d := time.Since(began); d > 50*time.Microsecond {
			time.Sleep(d)
		}
	}
	emit()
	p.Do(w.part(1), []byte("RL.IMPORT"), []byte("DONE"), []byte(spec))
	p.Flush()
	replies, err := w.wait(handoffTimeout)
	if err != nil {
		return keys, bytes, err
	}
	for _, r := range replies {
		if r != "+OK\r\n" {
			return keys, bytes, errors.New("refused: " + strings.TrimSpace(r))
		}
	}
	return keys, bytes, nil
}

// dropSlots deletes this node's copies of slots it no longer holds.
func (cl *cluster) dropSlots(s *Server, slots []uint16) {
	var in [shard.NumSlots / 64]uint64
	for _, sl := range slots {
		in[sl>>6] |= 1 << (sl & 63)
	}
	s.deleteSlots(&in)
}

// deleteSlots removes every key whose slot is in the set, a shard at a
// time. The caller guarantees nothing serves those slots here.
func (s *Server) deleteSlots(in *[shard.NumSlots / 64]uint64) int {
	n := 0
	nowMs := s.clock.Now() / 1e6
	var doomed [][]byte
	for i := 0; i < s.store.NumShards(); i++ {
		sh := s.store.Shard(i)
		sh.Lock()
		doomed = doomed[:0]
		for k := range sh.Keys(nowMs) {
			sl := shard.Slot(k)
			if in[sl>>6]&(1<<(sl&63)) != 0 {
				doomed = append(doomed, append([]byte(nil), k...))
			}
		}
		for _, k := range doomed {
			sh.Delete(engine.Hash(k), k, nowMs)
		}
		sh.Unlock()
		n += len(doomed)
	}
	return n
}

// slotSpec writes slots (ascending) as "a-b,c".
func slotSpec(slots []uint16) string {
	var b []byte
	for i := 0; i < len(slots); {
		j := i
		for j+1 < len(slots) && slots[j+1] == slots[j]+1 {
			j++
		}
		if len(b) > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(slots[i]), 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendInt(b, int64(slots[j]), 10)
		}
		i = j + 1
	}
	return string(b)
}

// parseSlotSpec reads slotSpec's form.
func parseSlotSpec(b []byte) ([]uint16, bool) {
	var out []uint16
	for _, part := range strings.Split(string(b), ",") {
		lo, hi, rng := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		z := a
		var err2 error
		if rng {
			z, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || z < a || z >= shard.NumSlots || len(out)+z-a >= shard.NumSlots {
			return nil, false
		}
		for sl := a; sl <= z; sl++ {
			out = append(out, uint16(sl))
		}
	}
	return out, true
}

// waitReply collects the replies of a few commands for a goroutine that
// waits for them.
type waitReply struct {
	ch      chan struct{}
	mu      sync.Mutex
	replies []string
	errs    []error
	left    int
}

func newWaitReply(n int) *waitReply {
	return &waitReply{ch: make(chan struct{}), replies: make([]string, n), errs: make([]error, n), left: n}
}

type waitPart struct {
	w *waitReply
	i int
}

func (w *waitReply) part(i int) waitPart { return waitPart{w, i} }

func (p waitPart) Reply(frame []byte, err error) {
	p.w.mu.Lock()
	p.w.replies[p.i], p.w.errs[p.i] = string(frame), err
	p.w.left--
	if p.w.left == 0 {
		close(p.w.ch)
	}
	p.w.mu.Unlock()
}

func (w *waitReply) wait(d time.Duration) ([]string, error) {
	select {
	case <-w.ch:
	case <-time.After(d):
		return nil, errors.New("no acknowledgement in " + d.String())
	}
	for _, e := range w.errs {
		if e != nil {
			return nil, e
		}
	}
	return w.replies, nil
}

type discard struct{}

func (discard) Reply([]byte, error) {}

// cmdImport is RL.IMPORT BEGIN|DATA|DONE, a peer's handoff (see above).
func cmdImport(s *Server, c *Client, args [][]byte, now int64) {
	if !c.peer || s.cl == nil {
		c.out = appendError(c.out, unknownCommand(args))
		return
	}
	cl := s.cl
	switch {
	case eqFold(args[1], "begin") || eqFold(args[1], "done"):
		slots, ok := parseSlotSpec(args[2])
		if !ok {
			c.out = appendError(c.out, "ERR bad slot list")
			return
		}
		cl.authMu.Lock()
		if eqFold(args[1], "begin") {
			var fresh [shard.NumSlots / 64]uint64
			c.importMerge = new([shard.NumSlots / 64]uint64)
			for _, sl := range slots {
				if cl.auth.Holds(sl) {
					c.importMerge[sl>>6] |= 1 << (sl & 63)
				} else {
					fresh[sl>>6] |= 1 << (sl & 63)
				}
			}
			cl.authMu.Unlock()
			s.deleteSlots(&fresh) // stale copies: never served, never restored from
		} else {
			cl.router.Store(cl.auth.Import(slots))
			cl.authMu.Unlock()
			cl.st.importedSlots.Add(int64(len(slots)))
		}
		c.out = redcon.AppendOK(c.out)
	case eqFold(args[1], "data"):
		p := args[2]
		nowMs := now / 1e6
		for len(p) > 0 {
			key, e, n, err := persistence.DecodeEntry(p)
			if err != nil {
				c.out = appendError(c.out, "ERR bad handoff entry: "+err.Error())
				return
			}
			p = p[n:]
			sl := shard.Slot(key)
			h := engine.Hash(key)
			sh := s.store.ShardOf(h)
			sh.Lock()
			if m := c.importMerge; m != nil && m[sl>>6]&(1<<(sl&63)) != 0 {
				cur, _ := sh.Get(h, key, nowMs)
				e = engine.MergeOverlap(cur, e)
			}
			sh.Restore(h, key, e, nowMs)
			sh.Unlock()
			cl.st.importedKeys.Add(1)
		}
		c.out = redcon.AppendOK(c.out)
	default:
		c.out = appendError(c.out, "ERR unknown RL.IMPORT step")
	}
}
