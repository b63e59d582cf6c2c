package shard

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/memberlist"
)

// NodeState is a member's state as this node's gossip sees it, after
// memberlist's node states.
type NodeState uint8

// Member states.
const (
	// StateAlive: the member answers probes (or has not been suspected).
	StateAlive NodeState = iota
	// StateSuspect: a probe from this node got no answer; memberlist
	// waits for the suspicion timeout (shortened as other members confirm
	// it) before it declares the member dead, and the member refutes it if
	// it is only slow. A suspect still owns its slots.
	StateSuspect
	// StateDead: memberlist declared the member failed (it stopped
	// answering, e.g. kill -9). Its slots have moved to the others.
	StateDead
	// StateLeft: the member announced a graceful departure (its metadata
	// said Leaving before memberlist lost it; a member that crashes while
	// handing its slots off before leaving is counted here too).
	StateLeft
)

var stateNames = [...]string{StateAlive: "alive", StateSuspect: "suspect", StateDead: "dead", StateLeft: "left"}

// String returns "alive", "suspect", "dead" or "left" (metrics label
// values: metrics.MemberStates).
func (s NodeState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// MemberState is one known member and its state.
type MemberState struct {
	Member
	State NodeState
	Since time.Time // when this node saw the state begin
}

// ForgetAfter is how long a member that died or left stays listed (as dead
// or left) before this node forgets it, unless it comes back first.
// memberlist itself forgets dead nodes sooner (GossipToTheDeadTime, 30 s),
// which would be too short for an operator's alert to see them: the
// member-down alert in deploy/ waits 2 minutes before it fires.
const ForgetAfter = 10 * time.Minute

// memberState is a States entry; Gossip.nodesMu guards it.
type memberState struct {
	m     Member
	state NodeState
	since time.Time
}

// States returns every member this node knows, itself included (alive),
// sorted by ID: the live ones (alive or suspect) and, for ForgetAfter,
// those that died or left.
func (g *Gossip) States() []MemberState {
	self, _ := decodeMeta(*g.meta.Load())
	self.GossipPort = g.Port()
	now := time.Now()
	g.nodesMu.Lock()
	out := make([]MemberState, 0, len(g.states)+1)
	out = append(out, MemberState{Member: self, State: StateAlive})
	for id, st := range g.states {
		switch {
		case id == self.ID:
		case st.state >= StateDead && now.Sub(st.since) > ForgetAfter:
			delete(g.states, id)
		default:
			out = append(out, MemberState{Member: st.m, State: st.state, Since: st.since})
		}
	}
	g.nodesMu.Unlock()
	slices.SortFunc(out, func(a, b MemberState) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// noteState records n's state from an event callback (memberlist holds its
// node lock, so n.State is stable here). Callers hold nodesMu.
func (g *Gossip) noteState(n *memberlist.Node, alive bool) {
	st := g.states[n.Name]
	if st == nil {
		st = &memberState{m: Member{ID: n.Name}}
		g.states[n.Name] = st
	}
	if m, err := decodeMeta(n.Meta); err == nil && m.ID == n.Name {
		m.GossipPort = int(n.Port)
		st.m = m
	}
	// memberlist does not say whether a node it lost left or failed (the
	// Node's State field is never set), so a graceful departure is told
	// by the Leaving flag the node publishes first (Gossip.Leave does).
	state := StateAlive
	switch {
	case alive:
	case st.m.Leaving:
		state = StateLeft
	default:
		state = StateDead
	}
	if st.state != state || st.since.IsZero() {
		st.state, st.since = state, time.Now()
	}
}

// setSuspect marks a live member suspect (suspect true) or alive again.
func (g *Gossip) setSuspect(id string, suspect bool) {
	from, to := StateAlive, StateSuspect
	if !suspect {
		from, to = to, from
	}
	g.nodesMu.Lock()
	if st := g.states[id]; st != nil && st.state == from {
		st.state, st.since = to, time.Now()
	}
	g.nodesMu.Unlock()
}

// memberlist has no event for suspicion, and the nodes Members returns
// change under its private lock. The one race-free signal is the line it
// logs when one of this node's probes fails, just before it marks the
// member suspect ("Suspect <name> has failed, no acks received"); the next
// probe it answers (NotifyPingComplete) or its declared death ends the
// suspicion here. A member suspected only by others is not seen as
// suspect by this node until its own probe of it fails.
var suspectLine = []byte("memberlist: Suspect ")

// suspectIn returns the member a memberlist log line reports suspect.
func suspectIn(line []byte) (string, bool) {
	i := bytes.Index(line, suspectLine)
	if i < 0 {
		return "", false
	}
	rest := line[i+len(suspectLine):]
	name, _, ok := bytes.Cut(rest, []byte(" has failed"))
	if !ok || len(name) == 0 {
		return "", false
	}
	return string(name), true
}

// gossipPing is memberlist's PingDelegate: a completed probe clears a
// suspicion.
type gossipPing Gossip

func (p *gossipPing) AckPayload() []byte { return nil }

func (p *gossipPing) NotifyPingComplete(other *memberlist.Node, _ time.Duration, _ []byte) {
	(*Gossip)(p).setSuspect(other.Name, false)
}

// DeadWithin bounds the time from a member's crash until this node
// declares it dead, in a cluster of n members: up to n probe intervals
// until one of its probes reaches the member and fails, then memberlist's
// suspicion timeout, which starts at SuspicionMaxTimeoutMult (6) ×
// SuspicionMult × max(1, log10 n) probe intervals and shrinks towards a
// sixth of that as other members confirm the suspicion. Detection is
// usually much quicker (FastTiming: about 1.5 s with 3 nodes); this is the
// bound tests and alerts can rely on.
func (t Timing) DeadWithin(n int) time.Duration {
	if t == (Timing{}) {
		t = LANTiming()
	}
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	suspicion := float64(memberlist.DefaultLANConfig().SuspicionMaxTimeoutMult*t.SuspicionMult) * scale * float64(t.ProbeInterval)
	return time.Duration(n)*t.ProbeInterval + time.Duration(suspicion) + t.GossipInterval
}
