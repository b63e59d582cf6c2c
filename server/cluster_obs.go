package server

import (
	"sync"
	"sync/atomic"

	"github.com/rlserver/rlserver/metrics"
	"github.com/rlserver/rlserver/peer"
	"github.com/rlserver/rlserver/shard"
)

// Forwarding observability: each pooled peer connection times its
// answered commands into a histogram of its own (peer.Config.Latency; the
// reader goroutine reads the clock once per group of replies), and failed
// forwards are counted by reason. Scrapes fold them.

// Indexes of the forwarding error reasons (metrics.ForwardErrorReasons).
const (
	fwdTimeout = iota
	fwdRefused
	fwdReset
	fwdProtocol
	fwdRedirectLoop
	fwdAuth
	fwdOther
	numFwdReasons
)

// fwdReasonNames are the label values, in index order.
var fwdReasonNames = [numFwdReasons]string{"timeout", "refused", "reset", "protocol", "redirect_loop", "auth", "other"}

// fwdReasonOf maps a peer failure to its reason.
var fwdReasonOf = [peer.NumFailures]int{
	peer.FailOther:    fwdOther,
	peer.FailTimeout:  fwdTimeout,
	peer.FailRefused:  fwdRefused,
	peer.FailReset:    fwdReset,
	peer.FailProtocol: fwdProtocol,
	peer.FailAuth:     fwdAuth,
}

// clusterObs is the forwarding side of a cluster's metrics. The zero value
// is ready. Failures are rare: one shared atomic per failure is fine.
type clusterObs struct {
	errs [numFwdReasons]atomic.Int64

	mu  sync.Mutex
	lat []*metrics.Histogram // one per pooled peer connection
}

// latency returns a new histogram for one peer connection (peerFor).
func (o *clusterObs) latency() *metrics.Histogram {
	h := new(metrics.Histogram)
	o.mu.Lock()
	o.lat = append(o.lat, h)
	o.mu.Unlock()
	return h
}

// failed counts one forwarded command that got no reply.
func (o *clusterObs) failed(err error) { o.errs[fwdReasonOf[peer.Classify(err)]].Add(1) }

// redirectLoop counts one forwarded command given up after peer.MaxHops.
func (o *clusterObs) redirectLoop() { o.errs[fwdRedirectLoop].Add(1) }

// fill sets the forwarding fields of st.
func (o *clusterObs) fill(st *metrics.ClusterStats) {
	st.ForwardErrors = make(map[string]uint64, numFwdReasons)
	for i := range o.errs {
		st.ForwardErrors[fwdReasonNames[i]] = uint64(o.errs[i].Load())
	}
	var d metrics.HistogramSnapshot
	o.mu.Lock()
	for _, h := range o.lat {
		h.AddTo(&d)
	}
	o.mu.Unlock()
	st.ForwardDuration = &d
}

// memberStates fills st.Members (counts by state, this node included) and
// st.Nodes from gossip's view and the table's slot counts (slots[i] for
// the table's member i).
func memberStates(st *metrics.ClusterStats, g *shard.Gossip, t *shard.Table, slots []int) {
	st.Members = map[string]int{}
	for _, m := range g.States() {
		name := m.State.String()
		st.Members[name]++
		n := metrics.ClusterNode{ID: m.ID, Name: m.Name, Addr: m.Addr, State: name}
		if i := t.Index(m.ID); i >= 0 && i < len(slots) {
			n.Slots = slots[i]
		}
		st.Nodes = append(st.Nodes, n)
	}
}
