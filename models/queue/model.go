package queue

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twinflow/twinflow/models/network"
)

// ErrInvalid marks malformed input; errors name the offending element.
var ErrInvalid = errors.New("queue: invalid input")

// Model names reported with every result.
const (
	// ModelMaxMin is per-flow fair queueing: max-min fair shares.
	ModelMaxMin = "maxmin"
	// ModelFIFO is the drop-tail FIFO fixed point (response functions and link loss).
	ModelFIFO = "fifo-fixed-point"
	// ModelMixed is a flow crossing both kinds of link.
	ModelMixed = "mixed"
	// ModelNone is a flow that crosses no queue (empty path).
	ModelNone = "none"
)

// Limits on the input size.
const (
	MaxLinks = 1 << 20
	MaxFlows = 1 << 22
)

// Link is one link direction: its capacity, propagation delay and egress queue (nil:
// network.DefaultQueueDiscipline, fq).
type Link struct {
	ID           string               `json:"id"`
	CapacityGbps float64              `json:"capacity_gbps"`
	LatencyMs    float64              `json:"latency_ms"`
	Queue        *network.QueueConfig `json:"queue,omitempty"`
}

// Flow is a long-lived TCP flow over a path of link IDs.
type Flow struct {
	ID         string                    `json:"id"`
	Path       []string                  `json:"path"`
	CC         network.CongestionControl `json:"cc,omitempty"`
	Class      string                    `json:"class,omitempty"`
	DemandGbps *float64                  `json:"demand_gbps,omitempty"`
}

// Input is the model's input.
type Input struct {
	Links []Link `json:"links"`
	Flows []Flow `json:"flows"`
}

// FlowResult is the model's prediction for one flow.
type FlowResult struct {
	ID string `json:"id"`
	// Model is maxmin (only fq links), fifo-fixed-point (only FIFO/classed links),
	// mixed, or none (empty path).
	Model    string  `json:"model"`
	RateGbps float64 `json:"rate_gbps"`
	// DelayMs is the one-way delay: propagation plus queueing along the path; RTTMs
	// the round trip the response function used (propagation both ways, queueing
	// forward, MinRTTMs).
	DelayMs      float64 `json:"delay_ms"`
	QueueDelayMs float64 `json:"queue_delay_ms"`
	RTTMs        float64 `json:"rtt_ms"`
	JitterMs     float64 `json:"jitter_ms"`
	// Loss is the probability a packet of the flow is dropped on its path.
	Loss float64 `json:"loss"`
}

// LinkResult is the model's prediction for one link direction (or one class of it).
type LinkResult struct {
	ID    string `json:"id"`
	Class string `json:"class,omitempty"`
	// Model is maxmin (fq) or fifo-fixed-point (FIFO, or a class of a classed queue).
	Model        string  `json:"model"`
	Discipline   string  `json:"discipline"`
	CapacityGbps float64 `json:"capacity_gbps"`
	// ServiceGbps is what the queue (class) can serve: the capacity, or for a class
	// what the higher-priority / other weighted classes leave it.
	ServiceGbps  float64 `json:"service_gbps"`
	LoadGbps     float64 `json:"load_gbps"`
	Utilization  float64 `json:"utilization"`
	QueueDelayMs float64 `json:"queue_delay_ms"`
	JitterMs     float64 `json:"jitter_ms"`
	Loss         float64 `json:"loss"`
	Flows        int     `json:"flows"`
}

// Result is the model's output.
type Result struct {
	// Model summarises the links: maxmin (all fq), fifo-fixed-point (none fq) or
	// mixed.
	Model         string       `json:"model"`
	ParamsVersion string       `json:"params_version"`
	Iterations    int          `json:"iterations"`
	Converged     bool         `json:"converged"`
	Residual      float64      `json:"residual"`
	Flows         []FlowResult `json:"flows"`
	Links         []LinkResult `json:"links"`
}

// sub is a queue: an fq link, a FIFO link, or one class of a classed link.
type sub struct {
	link      int // index in Input.Links
	class     int // class index, -1 for unclassed
	fq        bool
	bufPkts   float64
	capBps    float64 // service rate (updated for classes)
	load      float64 // bps
	p         float64 // loss
	q         float64 // queueing delay, s
	qvar      float64 // delay variance, s²
	hasLoss   bool    // carries a loss-based flow
	pi        float64 // BBR-only classed FIFO: congestion price, s/bit
	bbrMM     bool    // BBR-only unclassed FIFO: shared by max-min
	over      bool    // BBR-only unclassed FIFO overflowing (bbrOverflow): a window price pi
	bbrExcess float64 // BBR-only FIFO: in-flight beyond the BDP, bits
	step      float64 // adaptive step
	elast     float64 // Σ over its flows of rate × elasticity of the rate to this link's loss, bps
	delayW    float64 // Σ over its flows of −d rate / d (queueing delay on its path), bps/s
	lastSign  int8
	flows     int
	r0min     float64 // smallest propagation round trip of the flows whose RTT it is in, s
	// The delay side of a loss-based FIFO (set in build, but ackLoad every iteration):
	// saw is the mean fill of its flows' window sawtooth, rev the reverse direction's
	// queue (an unclassed FIFO, else -1), ackLoad the data rate (bps) of the flows whose
	// ACKs queue here, and fed marks a queue that cannot fill: every flow reaches it
	// through an upstream link and those links' capacities add up to no more than its own.
	saw     float64
	rev     int32
	ackLoad float64
	fed     bool
	feeds   int32 // fed: how many upstream links feed it
}

// ACK frames in a queue (the delay side of a FIFO shared with the reverse flows' ACKs).
const (
	// ackBytes is a pure ACK's frame: Ethernet 14 + IPv4 20 + TCP 20 + timestamps 12.
	ackBytes = 66
	// ackEvery is the data segments per ACK (delayed ACKs, RFC 9293 §3.8.6.3).
	ackEvery = 2
	// twoWayFill is the mean fill of each direction of a link whose two directions
	// are both full drop-tail FIFOs crossed by each other's ACKs: the two queues
	// oscillate out of phase and together hold about one buffer (measured,
	// docs/fidelity.md; the out-of-phase dynamics: Zhang, Shenker, Clark 1991).
	twoWayFill = 0.5
)

// ccKind is a congestion control as the solver's hot loop tests it.
type ccKind uint8

const (
	kindCubic ccKind = iota
	kindReno
	kindBBR
)

func kindOf(cc network.CongestionControl) ccKind {
	switch cc {
	case network.CCReno:
		return kindReno
	case network.CCBBR:
		return kindBBR
	}
	return kindCubic
}

// flowState is what the solver's passes do not read of a flow; the per-flow passes
// read flowHot (32 bytes a flow) and the rates in struct-of-arrays form (model.fx,
// model.fd, model.fw), so that a pass over 100k flows streams a few MB, not 16.
type flowState struct {
	subs  []int32
	acks  []int32 // the queues its ACKs cross: the reverse directions of its path
	cc    network.CongestionControl
	prop  float64 // one-way propagation, s
	anyFQ bool
	anyQ  bool // any FIFO/class
}

// flowHot is what the per-flow pass reads of a flow besides its queues
// (model.paths[pathOff[i]:pathOff[i+1]], model.ackQ[ackOff[i]:ackOff[i+1]]).
type flowHot struct {
	r0     float64 // propagation round trip + MinRTT, s
	capBps float64 // min(path capacity, demand)
	// respCap caps a loss-based flow's response: its demand, else twice its path
	// capacity. The path capacity itself is no cap: a TCP flow alone on a FIFO fills it
	// and loses packets there, so the link's loss must rise until the response equals
	// the capacity (capping at the capacity left every loss below that point a fixed
	// point, and the solver stopped wherever it first got there).
	respCap float64
	kind    ccKind
	anyQ    bool // any FIFO/class
}

// Compute runs the model. Input errors wrap ErrInvalid and name the element.
func Compute(in *Input, params Params) (*Result, error) {
	if err := params.Validate(); err != nil {
		return nil, err
	}
	m, err := build(in, params)
	if err != nil {
		return nil, err
	}
	m.solve()
	return m.result(), nil
}

type model struct {
	in     *Input
	p      Params
	subs   []sub
	linkS  [][]int // link index → its subs (one, or one per class)
	flows  []flowState
	fqSubs []int
	mmSubs []int // fq subs and BBR-only unclassed FIFOs: allocated by max-min
	iters  int
	conv   bool
	resid  float64
	// response-function constants: CUBIC's (C(3+β)/(4(1−β)))^¼ and 3(1+β)/(2(1−β))
	cubicK, aimdK float64
	// coupledStep's workspace
	cg cgSpace
	// flow i's queues are paths[pathOff[i]:pathOff[i+1]], its ACKs'
	// ackQ[ackOff[i]:ackOff[i+1]]; fx[i] is its rate and fd[i] its response (bps);
	// fw[i] is its x·ε/p_f where its response holds it, else 0 (its coupling weight),
	// set every iteration; fpf, feps its path loss and elasticity (kept between the
	// passes only when fq links split the pass in two)
	hotF            []flowHot
	paths, ackQ     []int32
	pathOff, ackOff []int32
	fx, fd, fw      []float64
	fpf, feps, frw  []float64
	// the flows crossing queue l: subFlows[subFlowOff[l]:subFlowOff[l+1]], ascending
	subFlowOff, subFlows []int32
	// Params.PortLoss > 0 only: the input port of every path element (index into
	// ports, −1: not an unclassed FIFO) and its loss multiplier pk (1: the queue's
	// loss), parallel to paths
	portOf              []int32
	pk                  []float64
	ports               []inPort
	portTotal, portNorm []float64 // per queue: its ports' load, Σ share × weight
}

// inPort is one input of an unclassed FIFO: the flows entering it from one upstream
// link direction (or from the node itself), with their load in the last iteration.
type inPort struct {
	sub int32
	// limited is min(1, FIFO capacity / upstream link capacity): 1 for a port no faster
	// than the FIFO (it cannot overflow it alone), 0 for the node's own senders
	limited float64
	load, k float64
}

func build(in *Input, p Params) (*model, error) {
	if in == nil {
		return nil, fmt.Errorf("%w: nil input", ErrInvalid)
	}
	if len(in.Links) > MaxLinks || len(in.Flows) > MaxFlows {
		return nil, fmt.Errorf("%w: at most %d links and %d flows", ErrInvalid, MaxLinks, MaxFlows)
	}
	m := &model{in: in, p: p, linkS: make([][]int, len(in.Links)), flows: make([]flowState, len(in.Flows))}
	b := p.CubicBeta
	m.cubicK = math.Sqrt(math.Sqrt(p.CubicC * (3 + b) / (4 * (1 - b))))
	m.aimdK = 3 * (1 + b) / (2 * (1 - b))
	idx := make(map[string]int, len(in.Links))
	checked := map[*network.QueueConfig]error{} // links often share one queue configuration
	for i, l := range in.Links {
		at := elem{"links", i}
		if l.ID == "" {
			return nil, fmt.Errorf("%w: %s.id: required", ErrInvalid, at)
		}
		if j, dup := idx[l.ID]; dup {
			return nil, fmt.Errorf("%w: %s %q: duplicate link ID (also links[%d])", ErrInvalid, at, l.ID, j)
		}
		idx[l.ID] = i
		if !(l.CapacityGbps > 0) || math.IsInf(l.CapacityGbps, 0) {
			return nil, fmt.Errorf("%w: %s %q: capacity_gbps must be a finite number > 0, got %v", ErrInvalid, at, l.ID, l.CapacityGbps)
		}
		if !(l.LatencyMs >= 0) || math.IsInf(l.LatencyMs, 0) {
			return nil, fmt.Errorf("%w: %s %q: latency_ms must be a finite number >= 0, got %v", ErrInvalid, at, l.ID, l.LatencyMs)
		}
		if l.Queue != nil {
			err, done := checked[l.Queue]
			if !done {
				err = validateQueue(network.Link{Queue: l.Queue})
				checked[l.Queue] = err
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %s %q: %v", ErrInvalid, at, l.ID, err)
			}
		}
		c := l.CapacityGbps * 1e9
		q := l.Queue
		switch q.EffectiveDiscipline() {
		case network.QueueFQ:
			m.linkS[i] = []int{len(m.subs)}
			m.fqSubs = append(m.fqSubs, len(m.subs))
			m.subs = append(m.subs, sub{link: i, class: -1, fq: true, bufPkts: float64(bufOf(q, -1)), capBps: c})
		case network.QueueFIFO:
			m.linkS[i] = []int{len(m.subs)}
			m.subs = append(m.subs, sub{link: i, class: -1, bufPkts: float64(bufOf(q, -1)), capBps: c})
		default:
			for k := range q.Classes {
				m.linkS[i] = append(m.linkS[i], len(m.subs))
				m.subs = append(m.subs, sub{link: i, class: k, bufPkts: float64(bufOf(q, k)), capBps: c})
			}
		}
	}
	// each link direction's reverse direction, if the input has it
	rev := make([]int32, len(in.Links))
	for i, l := range in.Links {
		rev[i] = -1
		if ri, ok := idx[reverseID(l.ID)]; ok {
			rev[i] = int32(ri)
		}
	}
	fids := make(map[string]int, len(in.Flows))
	// every flow's path and ACK queues in two shared arrays (the solver walks them all
	// every iteration)
	total := 0
	for _, f := range in.Flows {
		total += len(f.Path)
	}
	pathBuf, ackBuf := make([]int32, 0, total), make([]int32, 0, total)
	nf := len(in.Flows)
	m.pathOff, m.ackOff, m.hotF = make([]int32, nf+1), make([]int32, nf+1), make([]flowHot, nf)
	m.fx, m.fd, m.fw = make([]float64, nf), make([]float64, nf), make([]float64, nf)
	for i, f := range in.Flows {
		at := elem{"flows", i}
		if f.ID == "" {
			return nil, fmt.Errorf("%w: %s.id: required", ErrInvalid, at)
		}
		if j, dup := fids[f.ID]; dup {
			return nil, fmt.Errorf("%w: %s %q: duplicate flow ID (also flows[%d])", ErrInvalid, at, f.ID, j)
		}
		fids[f.ID] = i
		cc := f.CC
		if cc == "" {
			cc = network.DefaultCongestionControl
		}
		if !slices.Contains(network.KnownCongestionControls, cc) {
			return nil, fmt.Errorf("%w: %s %q.cc: unknown congestion control %q (known: %v)", ErrInvalid, at, f.ID, f.CC, network.KnownCongestionControls)
		}
		fs, fh := &m.flows[i], &m.hotF[i]
		fs.cc = cc
		fh.kind = kindOf(cc)
		fh.capBps = math.Inf(1)
		if f.DemandGbps != nil {
			if !(*f.DemandGbps > 0) || math.IsInf(*f.DemandGbps, 0) {
				return nil, fmt.Errorf("%w: %s %q.demand_gbps: must be a finite number > 0 when set, got %v", ErrInvalid, at, f.ID, *f.DemandGbps)
			}
			fh.capBps = *f.DemandGbps * 1e9
		}
		fh.respCap = fh.capBps
		p0, a0 := len(pathBuf), len(ackBuf)
		for j, lid := range f.Path {
			li, ok := idx[lid]
			if !ok {
				return nil, fmt.Errorf("%w: %s %q.path[%d]: unknown link %q", ErrInvalid, at, f.ID, j, lid)
			}
			if k := slices.Index(f.Path[:j], lid); k >= 0 {
				return nil, fmt.Errorf("%w: %s %q.path[%d]: link %q repeated (also path[%d])", ErrInvalid, at, f.ID, j, lid, k)
			}
			l := in.Links[li]
			fs.prop += l.LatencyMs / 1e3
			fh.capBps = min(fh.capBps, l.CapacityGbps*1e9)
			fh.respCap = min(fh.respCap, 2*fh.capBps)
			s := m.linkS[li][0]
			if k := l.Queue.ClassOf(f.Class); k >= 0 {
				s = m.linkS[li][k]
			}
			pathBuf = append(pathBuf, int32(s))
			if ri := rev[li]; ri >= 0 {
				rl := in.Links[ri]
				a := m.linkS[ri][0]
				if k := rl.Queue.ClassOf(f.Class); k >= 0 {
					a = m.linkS[ri][k]
				}
				ackBuf = append(ackBuf, int32(a))
			}
			m.subs[s].flows++
			if m.subs[s].fq {
				fs.anyFQ = true
			} else {
				fs.anyQ = true
				if cc != network.CCBBR {
					m.subs[s].hasLoss = true
				}
			}
		}
		fh.anyQ = fs.anyQ
		fs.subs = pathBuf[p0:len(pathBuf):len(pathBuf)]
		m.pathOff[i+1] = int32(len(pathBuf))
		m.ackOff[i+1] = int32(len(ackBuf))
		if len(ackBuf) > a0 {
			fs.acks = ackBuf[a0:len(ackBuf):len(ackBuf)]
		}
	}
	m.paths, m.ackQ = pathBuf, ackBuf
	m.subFlowOff = make([]int32, len(m.subs)+1)
	for _, si := range pathBuf {
		m.subFlowOff[si+1]++
	}
	for i := range m.subs {
		m.subFlowOff[i+1] += m.subFlowOff[i]
	}
	m.subFlows = make([]int32, len(pathBuf))
	fill := slices.Clone(m.subFlowOff[:len(m.subs)])
	for i := range m.flows {
		for _, si := range pathBuf[m.pathOff[i]:m.pathOff[i+1]] {
			m.subFlows[fill[si]] = int32(i)
			fill[si]++
		}
	}
	for i := range m.subs {
		m.subs[i].r0min = math.Inf(1)
	}
	for i := range m.flows {
		f := &m.flows[i]
		r0 := 2*f.prop + p.MinRTTMs/1e3
		m.hotF[i].r0 = r0
		for _, si := range f.subs {
			m.subs[si].r0min = min(m.subs[si].r0min, r0)
		}
		for _, si := range f.acks {
			m.subs[si].r0min = min(m.subs[si].r0min, r0)
		}
	}
	if p.PortLoss > 0 {
		m.buildPorts()
	}

	m.delaySide(rev)
	m.mmSubs = append([]int(nil), m.fqSubs...)
	m.bbrOverflow()
	for i := range m.subs {
		if s := &m.subs[i]; !s.fq && !s.hasLoss && s.class < 0 && s.flows > 0 && !s.over {
			s.bbrMM = true
			m.mmSubs = append(m.mmSubs, i)
		}
	}
	return m, nil
}

// bbrOverflow marks (Params.BBRShallow only) the BBR-only unclassed FIFOs shared by
// several flows whose buffer is shallower than what those flows keep beyond the
// propagation BDP: BBRQueuePackets each, plus (BBRCwndGain − 1) BDPs at an equal share
// of the link. BBR v1 does not back off on loss below about 20% (a bandwidth probe at
// 1.25× still refreshes its estimate while 1.25·(1 − loss) ≥ 1), so such a FIFO stays
// full and drops, and every flow through it is held by its in-flight cap: its rate is
// its window over its round trip, and a flow whose data or ACKs wait in more queues
// gets less than max-min gives it. The solver gives each such FIFO a window price π;
// a flow's rate is 1/(Σπ · RTT) over the overflowing FIFOs on its path.
func (m *model) bbrOverflow() {
	if m.p.BBRShallow == 0 {
		return
	}
	p := &m.p
	pkt := p.PacketBytes * 8
	excess := make([]float64, len(m.subs))
	for i := range m.flows {
		f := &m.hotF[i]
		if f.kind != kindBBR {
			continue
		}
		for _, si := range m.paths[m.pathOff[i]:m.pathOff[i+1]] {
			s := &m.subs[si]
			share := s.capBps / float64(max(1, s.flows))
			excess[si] += BBRQueuePackets(*p) + max(0, p.BBRCwndGain-1)*share*f.r0/pkt
		}
	}
	for i := range m.subs {
		s := &m.subs[i]
		s.over = !s.fq && !s.hasLoss && s.class < 0 && s.flows > 1 && excess[i] > s.bufPkts
	}
}

// delaySide sets each loss-based FIFO's sawtooth fill, reverse queue and whether its
// upstream links can fill it (sub.saw, rev, fed).
func (m *model) delaySide(rev []int32) {
	p := &m.p
	cubicSaw := CubicFIFOFill(*p)
	stamp := make([]int32, len(m.in.Links))
	for i := range stamp {
		stamp[i] = -1
	}
	for si := range m.subs {
		s := &m.subs[si]
		s.rev, s.saw = -1, p.QueueFill
		if s.fq || !s.hasLoss {
			continue
		}
		if s.class < 0 {
			if r := rev[s.link]; r >= 0 && len(m.linkS[r]) == 1 && !m.subs[m.linkS[r][0]].fq {
				s.rev = int32(m.linkS[r][0])
			}
		}
		sum, n := 0.0, 0
		feed, open, feeds := 0.0, false, int32(0)
		for _, fi := range m.subFlows[m.subFlowOff[si]:m.subFlowOff[si+1]] {
			f := &m.hotF[fi]
			switch f.kind {
			case kindCubic:
				sum += cubicSaw
				n++
			case kindReno:
				sum += p.QueueFill
				n++
			}
			path := m.paths[m.pathOff[fi]:m.pathOff[fi+1]]
			j := slices.Index(path, int32(si))
			if j <= 0 {
				open = true // its first hop: fed by the sender at any rate
				continue
			}
			if u := m.subs[path[j-1]].link; stamp[u] != int32(si) {
				stamp[u] = int32(si)
				feed += m.in.Links[u].CapacityGbps * 1e9
				feeds++
			}
		}
		if n > 0 {
			s.saw = sum / float64(n)
		}
		s.fed = s.class < 0 && !open && feed <= s.capBps*(1+1e-9)
		s.feeds = feeds
	}
}

// fill returns a full loss-based FIFO's mean queueing delay and the delay of its whole
// buffer (s). The buffer counts packets, and besides its data (load, full-size frames)
// it holds the ACKs of the flows whose data cross the reverse direction, one
// ackBytes frame per ackEvery of their segments: a queue with ACK share a drains a
// full buffer in B·((1−a)·pkt + a·ack)/c. Its mean fill is its flows' sawtooth (saw),
// or twoWayFill when the reverse direction is a full loss-based FIFO too.
//
// How full the reverse direction is weighs the two: its queue over half its buffer,
// capped at 1 (a step at its loss knee instead made the fixed point oscillate: k=16
// fat-tree, 317 iterations instead of 147).
func (s *sub) fill(subs []sub, pkt float64) (fill, full float64) {
	f := s.saw
	if s.rev >= 0 && s.ackLoad > 0 {
		if r := &subs[s.rev]; r.hasLoss && !r.fed {
			if rf := r.full(pkt); rf > 0 {
				f -= (f - twoWayFill) * min(1, r.q/(twoWayFill*rf))
			}
		}
	}
	full = s.full(pkt)
	return f * full, full
}

// full is the time a loss-based FIFO's whole buffer takes to drain with its mix of
// data frames and the reverse flows' ACKs.
func (s *sub) full(pkt float64) float64 {
	ackRate := s.ackLoad / ackEvery // ACK frames' rate in units of full-size frames
	a := 0.0
	if ackRate > 0 {
		a = ackRate / (max(s.load, 0) + ackRate)
	}
	return s.bufPkts * ((1-a)*pkt + a*ackBytes*8) / s.capBps
}

// bbrQuantum is the packets Linux BBR (v1) adds to its congestion window beyond
// cwnd_gain × BDP: 3 × its TSO goal, one segment without segmentation offload
// (bbr_quantization_budget).
const bbrQuantum = 3

// BBRQueuePackets is what a BBR flow keeps queued beyond its propagation BDP, in
// packets (without propagation delay, its whole in-flight): its min_rtt is measured in
// PROBE_RTT with BBRMinWindow packets in flight, so its BDP estimate is BBRMinWindow
// plus the propagation BDP, and its window is BBRCwndGain × that estimate plus the
// quantisation budget.
func BBRQueuePackets(p Params) float64 {
	return p.BBRCwndGain*p.BBRMinWindow + bbrQuantum
}

// CubicFIFOFill is the mean fill of a drop-tail FIFO held by CUBIC flows: in its
// Reno-friendly region (the RTTs of a few ms a shared FIFO sets) CUBIC's window grows
// linearly back from β·W to W, so the queue's sawtooth is Reno's with CUBIC's
// decrease: 1 − 2·(1 − QueueFill)·(1 − β), 0.85 with QueueFill 0.75 (Reno's
// 1 − (1 − ½)/2) and β 0.7.
func CubicFIFOFill(p Params) float64 {
	return max(0, min(1, 1-2*(1-p.QueueFill)*(1-p.CubicBeta)))
}

// elem names an input element in an error: links[3], flows[7] (a value, so that the
// loops build no string unless they fail).
type elem struct {
	kind string
	i    int
}

func (e elem) String() string { return e.kind + "[" + strconv.Itoa(e.i) + "]" }

// validateQueue checks a queue configuration with the network model's rules.
func validateQueue(l network.Link) error {
	n := network.Network{
		Devices: []network.Device{{ID: "a", Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "e"}}}, {ID: "b", Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "e"}}}},
		Links:   []network.Link{{ID: "x", Endpoints: []network.EndPointRef{{Device: "a", EndPoint: "e"}, {Device: "b", EndPoint: "e"}}, CapacityGbps: 1, Queue: l.Queue}},
	}
	return n.Validate()
}

func bufOf(q *network.QueueConfig, class int) int {
	if q == nil {
		return network.DefaultBufferPackets
	}
	if class >= 0 {
		c := q.Classes[class].Buffer
		if c.Packets > 0 || c.Bytes > 0 {
			return c.EffectivePackets()
		}
	}
	return q.Buffer.EffectivePackets()
}

// Thresholds of the loss price: below pLow a FIFO is not full, above pHigh it is.
const (
	pFloor  = 1e-14
	pLow    = 1e-10
	pHigh   = 1e-9
	pMax    = 0.5
	piFloor = 1e-30
)

// response returns the rate (bps) of a loss-based or BBR flow for path loss pf, round
// trip rtt and propagation round trip r0 (s).
func (m *model) response(cc network.CongestionControl, pf, rtt, r0 float64) float64 {
	x, _, _ := m.respond(kindOf(cc), pf, rtt, r0)
	return x
}

// respond is response plus, for a loss-based flow, the elasticity of its rate to its
// path loss, −d log x / d log pf: 1/2 for Reno (and CUBIC's Reno-friendly region), 3/4
// where CUBIC's own window is larger, weighted with Padhye's timeout term (3/2); and
// the elasticity of its rate to its round trip, epsR = −d log x / d log rtt (BBR:
// rtt / (rtt − gain·r0); Reno: the window term's share of the time per packet, a
// quarter of it in CUBIC's cubic region, plus the timeout term's where 2·rtt sets the
// timeout).
func (m *model) respond(cc ccKind, pf, rtt, r0 float64) (x, eps, epsR float64) {
	p := &m.p
	mss := p.MSSBytes * 8
	if cc == kindBBR {
		// In-flight cap W = min window + gain × BDP: x·R = Wmin·MSS + gain·x·r0.
		den := rtt - p.BBRCwndGain*r0
		if den <= 0 {
			return math.Inf(1), 0, 0
		}
		return BBRQueuePackets(*p) * mss / den, 0, rtt / den
	}
	if pf <= pFloor {
		return math.Inf(1), 0, 0
	}
	var w float64 // mean window, packets
	e, er := 0.5, 1.0
	switch cc {
	case kindReno:
		w = p.RenoGain * math.Sqrt(1.5/pf)
	default:
		sr := math.Sqrt(rtt / pf)
		wc := m.cubicK * sr * math.Sqrt(sr) // K·(R/p)^¾
		wa := math.Sqrt(m.aimdK / pf)
		if wc > wa {
			e, er = 0.75, 0.25
		}
		w = p.CubicGain * max(wc, wa)
	}
	// Padhye: time per packet = R/W + timeout share.
	t0 := max(p.RTOMinMs/1e3, 2*rtt)
	a := rtt / w
	tp := t0 * min(1, 3*math.Sqrt(3*pf/8)) * pf * (1 + 32*pf*pf)
	per := a + tp
	ar := a * er
	if 2*rtt > p.RTOMinMs/1e3 {
		ar += tp
	}
	return mss / per, (a*e + tp*1.5) / per, ar / per
}

func (m *model) solve() {
	p := &m.p
	pkt := p.PacketBytes * 8
	for i := range m.subs {
		s := &m.subs[i]
		s.p = 1e-4
		s.step = 1
		if !s.hasLoss {
			s.p = 0
			s.pi = float64(max(1, s.flows)) / s.capBps
			if s.over {
				s.pi /= s.bufPkts * p.PacketBytes * 8 / s.capBps // a window price: 1/(π·RTT)
			}
		}
		if s.fed {
			s.p = 0
		}
	}
	anyQ := false
	for i := range m.flows {
		anyQ = anyQ || m.flows[i].anyQ
	}
	var fqState *fqSolver
	if len(m.mmSubs) > 0 {
		fqState = newFQSolver(m)
	}
	const damp = 0.3 // under-relaxation of the loss-based queues' delay
	var prevX []float64
	if fqState != nil {
		prevX = make([]float64, len(m.flows))
		m.fpf, m.feps, m.frw = make([]float64, len(m.flows)), make([]float64, len(m.flows)), make([]float64, len(m.flows))
	}
	maxIt := p.MaxIterations
	if !anyQ {
		maxIt = 1
	}
	hopGain := p.HopLossGain != 1 // count the congested queues on a path
	hot := make([]subHot, len(m.subs))
	acc := make([]subAcc, len(m.subs))
	for it := 1; it <= maxIt; it++ {
		m.iters = it
		for i := range m.subs {
			sb := &m.subs[i]
			hot[i] = subHot{p: sb.p, q: sb.q}
			if sb.fq {
				hot[i].p = -1
			}
		}
		// 1. Flow responses; without fq links also 3. (loads and elasticities) in the
		// same pass over the flows.
		change := 0.0
		fused := fqState == nil
		clear(acc)
		paths, ackQ, pathOff, ackOff := m.paths, m.ackQ, m.pathOff, m.ackOff
		fx, fd := m.fx, m.fd
		for i := range m.hotF {
			f := &m.hotF[i]
			prev := fx[i]
			path := paths[pathOff[i]:pathOff[i+1]]
			surv, q, congested := 1.0, 0.0, 0
			var pk []float64
			if m.pk != nil {
				pk = m.pk[pathOff[i]:pathOff[i+1]]
				for j, si := range path {
					h := hot[si]
					if h.p < 0 {
						continue
					}
					surv *= 1 - min(pMax, h.p*pk[j])
					q += h.q
				}
			} else {
				for _, si := range path {
					h := hot[si]
					if h.p < 0 {
						continue
					}
					surv *= 1 - h.p
					q += h.q
				}
			}
			if hopGain {
				for _, si := range path {
					if hot[si].p > pLow {
						congested++
					}
				}
			}
			pf := 1 - surv
			if congested > 1 {
				pf = min(pMax, pf*(1+(p.HopLossGain-1)*float64(congested-1)/float64(congested)))
			}
			for _, si := range ackQ[ackOff[i]:ackOff[i+1]] {
				q += hot[si].q      // ACKs wait behind the reverse direction's data
				acc[si].ack += prev // and take up places in its queue (last iteration's rate)
			}
			r0 := f.r0
			rtt := r0 + q
			d := f.capBps
			eps, epsR := 0.0, 0.0
			if f.anyQ {
				var x float64
				x, eps, epsR = m.respond(f.kind, pf, rtt, r0)
				d = min(f.respCap, x)
			}
			if f.kind == kindBBR && f.anyQ {
				// Against loss-based flows: the in-flight cap over the RTT their full
				// queue sets; on BBR-only FIFOs: the proportionally fair price.
				x, sumPi, lossy, winPi := f.capBps, 0.0, false, 0.0
				for _, si := range path {
					if s := &m.subs[si]; !s.fq {
						if s.hasLoss {
							lossy = true
						} else if s.over {
							winPi += s.pi
						} else if !s.bbrMM {
							sumPi += s.pi
						}
					}
				}
				bx, bR := f.capBps, 0.0
				if winPi > 0 {
					// overflowing BBR FIFOs: a window per flow, its rate window / RTT
					// (under-relaxed: the RTT moves with the other queues' loads)
					w := 1 / (winPi * rtt)
					if prev > 0 && !math.IsInf(prev, 1) {
						w = prev + 0.5*(w-prev)
					}
					x = min(x, w)
				}
				if lossy {
					bx, _, bR = m.respond(kindBBR, 0, rtt, r0)
					x = min(x, bx)
				}
				if sumPi > 0 {
					x = min(x, 1/sumPi)
				}
				d = x
				epsR = 0
				if lossy && x == bx {
					epsR = bR
				}
			} else if !(f.anyQ && d < f.respCap) {
				epsR = 0
			}
			fd[i], fx[i] = d, d
			if !(f.anyQ && f.kind != kindBBR && d < f.respCap) {
				eps = 0
			}
			rw := 0.0 // d·epsR/rtt: how fast its rate falls with a queue on its path
			if epsR > 0 && rtt > 0 {
				rw = d * epsR / rtt
			}
			if fused {
				change = rateChange(change, d, prev, it)
				m.fw[i] = m.accumulate(f, path, pk, d, d, pf, eps, rw, hot, acc)
			} else {
				prevX[i], m.fpf[i], m.feps[i], m.frw[i] = prev, pf, eps, rw
			}
		}
		// 2. fq links: max-min with the responses as demands.
		if !fused {
			fqState.apply(m)
			for i := range m.hotF {
				change = rateChange(change, fx[i], prevX[i], it)
			}
		}
		if !anyQ {
			m.conv = true
			break
		}
		// 3. Loads, class service rates, prices.
		if !fused {
			for i := range m.hotF {
				var pk []float64
				if m.pk != nil {
					pk = m.pk[pathOff[i]:pathOff[i+1]]
				}
				m.fw[i] = m.accumulate(&m.hotF[i], paths[pathOff[i]:pathOff[i+1]], pk, fx[i], fd[i], m.fpf[i], m.feps[i], m.frw[i], hot, acc)
			}
		}
		for i := range m.subs {
			m.subs[i].load, m.subs[i].bbrExcess, m.subs[i].elast, m.subs[i].ackLoad, m.subs[i].delayW = acc[i].load, acc[i].bbrExcess, acc[i].elast, acc[i].ack, acc[i].delayW
		}
		m.classRates()
		if m.pk != nil {
			m.portMultipliers()
		}
		newton := m.coupledStep()
		resid := 0.0
		for i := range m.subs {
			s := &m.subs[i]
			if s.fq {
				continue
			}
			bufDelay := s.bufPkts * pkt / s.capBps
			ratio := s.load / s.capBps
			if s.load == 0 {
				ratio = 0
			}
			rho := min(ratio, 0.95) // traffic held elsewhere is smoother than Poisson
			svc := pkt / s.capBps
			md1 := min(rho*svc/(2*(1-rho)), p.QueueFill*bufDelay)
			md1var := md1*md1 + rho*svc*svc/(3*(1-rho))
			if s.fed {
				// Fed through upstream links that cannot overfill it: never drops.
				// From one link (no faster than it serves) packets do not wait;
				// from several, the M/D/1 wait.
				s.p = 0
				w := md1
				if s.feeds == 1 {
					w, md1var = 0, 0
				}
				gap := w - s.q
				s.q += damp * gap
				if s.q > 0 {
					resid = max(resid, math.Abs(gap)/(s.q+s.r0min))
				}
				s.qvar = md1var
				continue
			}
			if s.hasLoss {
				// Multiplicative price update on the loss probability.
				var sign int8
				switch {
				case ratio > 1+p.Tolerance/4:
					sign = 1
				case ratio < 1-p.Tolerance/4 && s.p > pFloor:
					sign = -1
				}
				// The step grows ×1.5 while the excess keeps its sign and falls ×0.7 when
				// it flips (×1.2 and ×0.5 until 2026-12-08: the faster schedule was
				// held back while the knee's fixed point depended on the iteration's
				// path; with the load knee both reach the same fixed point).
				if sign != 0 && sign == -s.lastSign {
					s.step = max(s.step*0.7, 0.01)
				} else if sign != 0 {
					s.step = min(s.step*1.5, 1)
				}
				s.lastSign = sign
				if sign > 0 && s.p < pLow {
					s.p = pLow // a full link drops: start from the knee
				}
				switch {
				case sign != 0 && newton != nil && !math.IsNaN(newton[i]):
					// the coupled Newton step (coupledStep)
					s.p = max(pFloor, min(pMax, s.p*math.Exp(s.step*newton[i])))
				case sign != 0:
					// A diagonal Newton step in log p: the link's load moves by
					// −E·Δlog p, E = Σ rate × elasticity × (own share of the path loss) /
					// load; E = 1/2 (one Reno-like flow owning its loss) is the floor of
					// the old fixed step, and links whose flows' loss comes mostly from
					// elsewhere (small E) take proportionally larger steps.
					e := 0.5
					if s.load > 0 && s.elast > 0 {
						e = max(s.elast/s.load, 0.02)
					}
					r := max(ratio, 1e-3)
					s.p = max(pFloor, min(pMax, s.p*math.Pow(r, s.step/e)))
				}
				// Residual: load above capacity counts in full; a lossy link under
				// capacity counts a half (within 2×tolerance of full, its leftover
				// loss is negligible next to its flows'; a fifth with the diagonal
				// step, which let a lone FIFO stop 0.26% under its capacity with the
				// coupled one).
				if ratio > 1 {
					resid = max(resid, ratio-1)
				} else if s.p > pLow {
					resid = max(resid, (1-ratio)/2)
				}
				fill, full := s.fill(m.subs, pkt)
				// The queue fills as the load nears the capacity (kneeOf) or once
				// the link drops (satOf: its loss above the knee).
				sat, ks := satOf(s.p), 0.0
				if k, slope := kneeOf(ratio); k > sat {
					sat, ks = k, slope
				}
				// Sawtooth between (1-β)·B... B: uniform spread of width 2(1-fill)B.
				spread := 2 * (1 - fill/max(full, 1e-300)) * full
				if full <= 0 {
					spread = 0
				}
				// Newton on q = T(load(q)): the load answers the queue through its
				// flows' round trips, d load/d q = −delayW, so T moves by
				// −(fill − md1)·kneeSlope·delayW/c per unit of q.
				g := 0.0
				if satOf(s.p) < 1 {
					// outside the band the chord's slope: the step must not jump
					// across it (period-2 cycles between empty and full)
					ks = max(ks, 1/kneeWidth)
				}
				if ks > 0 && fill > md1 {
					g = (fill - md1) * ks * s.delayW / s.capBps
				}
				gap := (1-sat)*md1 + sat*fill - s.q
				s.q += gap / (1/damp + g)
				if s.q > 0 {
					// How far the queue is from its fixed point — the gap to its
					// target, over 1 + g where the target answers the queue (not the
					// damped step, which stopped a FIFO 0.2% short of it) — counts
					// against the shortest round trip it is part of: what its flows'
					// rates respond to (a few µs of a 20 µs queue at the knee of a
					// 200 µs path move nothing the flows see).
					resid = max(resid, math.Abs(gap)/(1+g)/(s.q+s.r0min))
				}
				s.qvar = (1-sat)*md1var + sat*spread*spread/12
			} else {
				if s.bbrMM {
					// BBR only, unclassed: max-min shares (BBR's bandwidth probing
					// converges to near-equal shares at a shared bottleneck; chosen by
					// measurement, docs/fidelity.md) and the standing queue of the
					// flows' in-flight caps when the link is full.
					q := md1
					if ratio > 1-10*p.Tolerance {
						q = min(bufDelay, s.bbrExcess/s.capBps)
					}
					dq := damp * (q - s.q)
					s.q += dq
					if s.q > 0 {
						resid = max(resid, math.Abs(dq)/s.q)
					}
					s.p = 0
					s.qvar = min(md1var, bufDelay*bufDelay/12)
					continue
				}
				// BBR only: a congestion price π (the flows' rates are 1/Σπ:
				// proportional fairness, what cwnd-limited delay-bound senders reach)
				// and the standing queue of their in-flight caps.
				var sign int8
				switch {
				case ratio > 1+p.Tolerance/4:
					sign = 1
				case ratio < 1-p.Tolerance/4 && s.pi > piFloor:
					sign = -1
				}
				if sign != 0 && sign == -s.lastSign {
					s.step = max(s.step*0.5, 0.01)
				} else if sign != 0 {
					s.step = min(s.step*1.2, 1.5)
				}
				s.lastSign = sign
				if sign != 0 {
					s.pi = max(piFloor, s.pi*math.Pow(max(ratio, 1e-3), s.step))
				}
				q := md1
				if ratio > 1-10*p.Tolerance {
					q = min(bufDelay, s.bbrExcess/s.capBps)
					resid = max(resid, math.Abs(ratio-1))
				}
				if s.over && s.pi > 10*piFloor {
					// overflowing and holding its flows: full whatever the load's last
					// step (its flows' rates are window / RTT, and a queue that came and
					// went with the load made them oscillate)
					q = bufDelay
					resid = max(resid, math.Abs(ratio-1))
				}
				s.q += damp * (q - s.q)
				if s.q > 0 {
					resid = max(resid, damp*math.Abs(q-s.q)/s.q)
				}
				s.p = 0
				s.qvar = min(md1var, bufDelay*bufDelay/12)
			}
		}
		m.resid = max(resid, change)
		if m.resid <= p.Tolerance && it > 2 {
			m.conv = true
			break
		}
	}
	if fqState != nil {
		fqState.delays(m)
	}
}

// The per-flow passes read and write compact copies of the queues' hot fields
// (16 and 24 bytes a queue instead of the whole sub), synced once per iteration.
type subHot struct {
	p, q float64 // loss (−1: fq) and queueing delay
}

type subAcc struct {
	load, bbrExcess, elast, ack, delayW float64
}

// rateChange folds a flow's relative rate change into the residual's max.
func rateChange(change, x, prev float64, it int) float64 {
	if prev > 0 && !math.IsInf(prev, 1) {
		// divides only where the change may pass the largest so far (the slack covers
		// the product's rounding, so the result is the same; NaN still propagates)
		if d := math.Abs(x - prev); !(d <= change*prev*(1-1e-9)) {
			return max(change, d/prev)
		}
		return change
	} else if it > 1 && x != prev {
		return max(change, 1)
	}
	return change
}

// accumulate adds a flow's rate x, BBR in-flight excess and elasticity to the queues on
// its path (d: its response, pf: its path loss, eps: its elasticity where the response
// holds it, else 0).
func (m *model) accumulate(f *flowHot, path []int32, pk []float64, x, d, pf, eps, rw float64, hot []subHot, acc []subAcc) float64 {
	p := &m.p
	ex := 0.0
	if f.kind == kindBBR {
		ex = BBRQueuePackets(*p)*p.MSSBytes*8 + max(0, p.BBRCwndGain-1)*x*f.r0
	}
	// a flow held by the response function at its own rate (not an fq share or its
	// cap) responds to a link's loss in proportion to that link's part of its path loss
	w := 0.0 // x·eps/pf: a link of loss p adds w·min(p, pf) to its elasticity
	if eps > 0 && x >= d*(1-1e-9) {
		w = x * eps / pf
	}
	if x < d*(1-1e-9) {
		rw = 0 // held below its response (an fq share): the queue does not move it
	}
	switch {
	case ex != 0: // BBR: no elasticity
		for _, si := range path {
			a := &acc[si]
			a.load += x
			a.bbrExcess += ex
			a.delayW += rw
		}
	case w > 0 && pk != nil:
		for j, si := range path {
			a := &acc[si]
			a.load += x
			a.delayW += rw
			if p := hot[si].p; p > 0 {
				a.elast += w * min(p*pk[j], pf)
			}
		}
	case w > 0:
		for _, si := range path {
			a := &acc[si]
			a.load += x
			a.delayW += rw
			if p := hot[si].p; p > 0 {
				a.elast += w * min(p, pf)
			}
		}
	default:
		for _, si := range path {
			a := &acc[si]
			a.load += x
			a.delayW += rw
		}
	}
	return w
}

// kneeWidth is the load band below capacity over which a lossless FIFO's queue rises
// from the M/D/1 wait to the full buffer's (kneeOf).
const kneeWidth = 0.01

// kneeOf returns how full a FIFO's queue is at load ratio r (load / service rate):
// 0 below 1 − kneeWidth, 1 at and above capacity, a smoothstep between; and its
// derivative in r.
func kneeOf(r float64) (k, slope float64) {
	t := (r - (1 - kneeWidth)) / kneeWidth
	if t <= 0 {
		return 0, 0
	}
	if t >= 1 {
		return 1, 0
	}
	return t * t * (3 - 2*t), 6 * t * (1 - t) / kneeWidth
}

func satOf(p float64) float64 {
	if p <= pLow {
		return 0
	}
	if p >= pHigh {
		return 1
	}
	return (math.Log(p) - math.Log(pLow)) / (math.Log(pHigh) - math.Log(pLow))
}

// classRates sets the service rate of each class of a priority or weighted link from
// the loads of the other classes.
func (m *model) classRates() {
	for li, ss := range m.linkS {
		old := make([]float64, len(ss))
		for k, si := range ss {
			old[k] = m.subs[si].capBps
		}
		m.classRatesOf(li, ss)
		for k, si := range ss {
			if s := &m.subs[si]; old[k] > 0 && len(ss) > 1 {
				s.capBps = old[k] + 0.5*(s.capBps-old[k]) // under-relaxed
			}
		}
	}
}

func (m *model) classRatesOf(li int, ss []int) {
	{
		q := m.in.Links[li].Queue
		d := q.EffectiveDiscipline()
		if d != network.QueuePriority && d != network.QueueWeighted {
			return
		}
		c := m.in.Links[li].CapacityGbps * 1e9
		if d == network.QueuePriority {
			order := make([]int, len(ss))
			for k := range order {
				order[k] = k
			}
			slices.SortFunc(order, func(a, b int) int { return q.Classes[a].Priority - q.Classes[b].Priority })
			left := c
			for _, k := range order {
				s := &m.subs[ss[k]]
				s.capBps = max(left, c*1e-6)
				left = max(0, left-s.load)
			}
			return
		}
		// Weighted, work-conserving: water-fill the classes' loads by weight. A class
		// under its share and not congested here is served in full and its rest
		// redistributed; a loss-based class that drops here wants more than it gets (its
		// load follows its service rate), so it takes its weighted part of what is left.
		active := make([]int, 0, len(ss))
		for k := range ss {
			active = append(active, k)
		}
		left := c
		for len(active) > 0 {
			wsum := 0.0
			for _, k := range active {
				wsum += q.Classes[k].Weight
			}
			done := false
			next := active[:0]
			for _, k := range active {
				share := left * q.Classes[k].Weight / wsum
				s := &m.subs[ss[k]]
				if s.load < share && !(s.hasLoss && s.p > pLow) && len(active) > 1 {
					s.capBps = share
					left -= s.load
					done = true
					continue
				}
				next = append(next, k)
			}
			if !done {
				for _, k := range next {
					m.subs[ss[k]].capBps = max(left*q.Classes[k].Weight/wsum, c*1e-6)
				}
				break
			}
			active = next
		}
	}
}

// fqSolver runs the max-min allocation over the fq links (and BBR-only FIFOs) with
// the flows' responses as demand caps: progressive filling over the model's own index
// arrays (maxmin.go), built once and reused every iteration. It gives the allocation
// models/bottleneck computes (max-min fairness with demands is unique), without
// building that engine's input, names and index maps again in every iteration.
type fqSolver struct {
	flows []int // flow indexes crossing an fq link
	mm    waterFill
}

func newFQSolver(m *model) *fqSolver {
	s := &fqSolver{}
	local := make([]int32, len(m.subs)) // sub → local link + 1
	caps := make([]float64, 0, len(m.mmSubs))
	for k, si := range m.mmSubs {
		local[si] = int32(k + 1)
		caps = append(caps, m.in.Links[m.subs[si].link].CapacityGbps*1e9)
	}
	off := []int32{0}
	var idx []int32
	for i := range m.flows {
		n := len(idx)
		for _, si := range m.paths[m.pathOff[i]:m.pathOff[i+1]] {
			if k := local[si]; k > 0 {
				idx = append(idx, k-1)
			}
		}
		if len(idx) == n {
			continue
		}
		s.flows = append(s.flows, i)
		off = append(off, int32(len(idx)))
	}
	s.mm.init(caps, off, idx)
	return s
}

func (s *fqSolver) apply(m *model) {
	d := s.mm.demand
	for k, fi := range s.flows {
		d[k] = m.fd[fi]
	}
	s.mm.solve()
	for k, fi := range s.flows {
		m.fx[fi] = min(m.fd[fi], s.mm.rate[k])
	}
}

// delays sets the fq links' loads, per-flow queueing delay and loss: a flow held at an
// fq link's fair share keeps QueueFill of its per-flow buffer there (Linux fq's
// flow_limit and the emulation's per-class pfifo are both 100 packets by default);
// other flows see the M/D/1 wait.
func (s *fqSolver) delays(m *model) {
	pkt := m.p.PacketBytes * 8
	for _, si := range m.fqSubs {
		m.subs[si].load = 0
	}
	for i := range m.flows {
		f := &m.flows[i]
		for _, si := range f.subs {
			if m.subs[si].fq {
				m.subs[si].load += m.fx[i]
			}
		}
	}
	for _, si := range m.fqSubs {
		sb := &m.subs[si]
		rho := min(sb.load/sb.capBps, 0.95)
		svc := pkt / sb.capBps
		if sb.load >= sb.capBps*(1-1e-6) {
			// Full: each flow has its own queue (counted per flow in result).
			sb.q, sb.qvar = svc/2, svc*svc/12
			continue
		}
		sb.q = rho * svc / (2 * (1 - rho))
		sb.qvar = sb.q*sb.q + rho*svc*svc/(3*(1-rho))
	}
}

func (m *model) result() *Result {
	p := &m.p
	r := &Result{ParamsVersion: p.Version, Iterations: m.iters, Converged: m.conv, Residual: m.resid}
	nfq := len(m.fqSubs)
	switch {
	case nfq == len(m.subs):
		r.Model = ModelMaxMin
	case nfq == 0:
		r.Model = ModelFIFO
	default:
		r.Model = ModelMixed
	}
	// Per-flow queueing at saturated fq links (a flow held at its fair share there).
	fqq := make([]float64, len(m.subs))
	fqn := make([]int, len(m.subs))
	r.Flows = make([]FlowResult, len(m.flows))
	for i := range m.flows {
		f := &m.flows[i]
		fx, fd := m.fx[i], m.fd[i]
		fr := FlowResult{ID: m.in.Flows[i].ID, RateGbps: fx / 1e9}
		switch {
		case f.anyFQ && f.anyQ:
			fr.Model = ModelMixed
		case f.anyFQ:
			fr.Model = ModelMaxMin
		case f.anyQ:
			fr.Model = ModelFIFO
		default:
			fr.Model = ModelNone
		}
		q, v, surv := 0.0, 0.0, 1.0
		fqHeld := -1
		// A flow wants more than it gets: below its response, or (on fq links only, where
		// the response is the path capacity) below its demand — a TCP flow alone at its
		// fq bottleneck fills its queue there as one held at a share does.
		wants := fx < fd*(1-1e-6)
		if !f.anyQ {
			d := m.in.Flows[i].DemandGbps
			wants = fx > 0 && (d == nil || fx < *d*1e9*(1-1e-6))
		}
		for j, si := range f.subs {
			s := &m.subs[si]
			if s.fq && s.load >= s.capBps*(1-1e-6) && wants {
				fqHeld = int(si) // held at a full fq link
			}
			q += s.q
			v += s.qvar
			if !s.fq {
				k := 1.0
				if m.pk != nil {
					k = m.pk[int(m.pathOff[i])+j]
				}
				surv *= 1 - min(pMax, s.p*k)
			}
		}
		loss := 1 - surv
		if fqHeld >= 0 && fx > 0 {
			s := &m.subs[fqHeld]
			own, std := FQHeldDelayCC(*p, f.cc, int(s.bufPkts), fx)
			spread := std * math.Sqrt(12)
			if f.cc == network.CCBBR {
				own = min(own, max(BBRQueuePackets(*p)*p.MSSBytes*8/fx, 0))
				spread = 0
			} else {
				// The loss this flow's response needs to stay at its share.
				loss = 1 - (1-loss)*(1-m.lossFor(f, fx, 2*f.prop+p.MinRTTMs/1e3+q+own))
			}
			q += own
			v += spread * spread / 12
			fqq[fqHeld] += own
			fqn[fqHeld]++
		}
		ack := 0.0
		for _, si := range f.acks {
			ack += m.subs[si].q
		}
		fr.QueueDelayMs = q * 1e3
		fr.DelayMs = (f.prop + q) * 1e3
		fr.RTTMs = (2*f.prop + p.MinRTTMs/1e3 + q + ack) * 1e3
		fr.JitterMs = math.Sqrt(v) * 1e3
		fr.Loss = loss
		r.Flows[i] = fr
	}
	for i := range m.subs {
		s := &m.subs[i]
		l := m.in.Links[s.link]
		lr := LinkResult{ID: l.ID, Discipline: string(l.Queue.EffectiveDiscipline()), CapacityGbps: l.CapacityGbps,
			ServiceGbps: s.capBps / 1e9, LoadGbps: s.load / 1e9, Flows: s.flows, QueueDelayMs: s.q * 1e3,
			JitterMs: math.Sqrt(s.qvar) * 1e3, Loss: s.p}
		if s.class >= 0 {
			lr.Class = l.Queue.Classes[s.class].Name
		}
		lr.Utilization = s.load / (l.CapacityGbps * 1e9)
		if s.fq {
			lr.Model = ModelMaxMin
			if fqn[i] > 0 {
				lr.QueueDelayMs = (s.q + fqq[i]/float64(fqn[i])) * 1e3
			}
		} else {
			lr.Model = ModelFIFO
		}
		r.Links = append(r.Links, lr)
	}
	return r
}

// buildPorts sets up the input ports of the unclassed FIFOs (Params.PortLoss): a path
// element's port is its queue and the link direction before it on the path (none: the
// flow starts at the queue's node). A port over a link no faster than the queue's
// delivers at most one packet per service time and cannot overflow the queue alone
// (limited 1); over a link c times faster, limited 1/c.
func (m *model) buildPorts() {
	m.portOf = make([]int32, len(m.paths))
	m.pk = make([]float64, len(m.paths))
	type key struct{ sub, up int32 }
	idx := map[key]int32{}
	for i := range m.flows {
		path := m.paths[m.pathOff[i]:m.pathOff[i+1]]
		for j, si := range path {
			e := int(m.pathOff[i]) + j
			m.pk[e] = 1
			m.portOf[e] = -1
			s := &m.subs[si]
			if s.fq || s.class >= 0 {
				continue
			}
			up := int32(-1)
			if j > 0 {
				up = int32(m.subs[path[j-1]].link)
			}
			g, ok := idx[key{si, up}]
			if !ok {
				g = int32(len(m.ports))
				idx[key{si, up}] = g
				limited := 0.0
				if up >= 0 {
					limited = min(1, m.in.Links[s.link].CapacityGbps/m.in.Links[up].CapacityGbps)
				}
				m.ports = append(m.ports, inPort{sub: si, limited: limited, k: 1})
			}
			m.portOf[e] = g
		}
	}
}

// portMultipliers sets each path element's loss multiplier from its FIFO's input ports
// (Params.PortLoss). At a full drop-tail FIFO a departure frees one place and the next
// arrival takes it. A limited port (at most one packet per service time) loses a packet
// only when another port's packet took the place first, so its loss goes with the
// other ports' share of the load, 1 − s_g; a port that can burst (the node's own
// senders) collides with itself as well: weight 1; between them, a port over a faster
// link: 1 − limited·s_g (measured on seed 103 with r-4's link 5% faster than r-1's: the
// same split as at equal speeds; twice as fast: none, docs/fidelity.md). The weights
// are normalised so that the load-weighted mean multiplier is 1 (the FIFO drops as
// many packets as before), blended with 1 by PortLoss and under-relaxed (½) between
// iterations.
func (m *model) portMultipliers() {
	for g := range m.ports {
		m.ports[g].load = 0
	}
	for i := range m.flows {
		x := m.fx[i]
		for e := m.pathOff[i]; e < m.pathOff[i+1]; e++ {
			if g := m.portOf[e]; g >= 0 {
				m.ports[g].load += x
			}
		}
	}
	if len(m.portTotal) != len(m.subs) {
		m.portTotal, m.portNorm = make([]float64, len(m.subs)), make([]float64, len(m.subs))
	}
	total, norm := m.portTotal, m.portNorm
	clear(total)
	clear(norm)
	for _, pt := range m.ports {
		total[pt.sub] += pt.load
	}
	busy := 1 - m.p.PortGap // the most of a FIFO's freed places a limited port takes
	weight := func(pt *inPort) float64 {
		if t := total[pt.sub]; t > 0 {
			return 1 - pt.limited*min(pt.load/t, busy)
		}
		return 1
	}
	for g := range m.ports {
		pt := &m.ports[g]
		if t := total[pt.sub]; t > 0 {
			norm[pt.sub] += pt.load / t * weight(pt)
		}
	}
	w := m.p.PortLoss
	for g := range m.ports {
		pt := &m.ports[g]
		k := 1.0
		if n := norm[pt.sub]; n > 1e-9 {
			k = weight(pt) / n
		}
		k = 1 + w*(k-1)
		pt.k += 0.5 * (k - pt.k)
	}
	for e, g := range m.portOf {
		if g >= 0 {
			m.pk[e] = m.ports[g].k
		}
	}
}

// lossFor inverts a loss-based flow's response: the path loss at which it sends x
// with round trip rtt (bisection in log p).
func (m *model) lossFor(f *flowState, x, rtt float64) float64 {
	r0 := 2*f.prop + m.p.MinRTTMs/1e3
	lo, hi := math.Log(pFloor*10), math.Log(pMax)
	for range 50 {
		mid := (lo + hi) / 2
		if m.response(f.cc, math.Exp(mid), rtt, r0) > x {
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2)
}

// FQHeldDelay returns the queueing delay (s) and its standard deviation of a flow held
// at rate rateBps by an fq link whose per-flow buffer is bufPackets: the flow keeps
// QueueFill of its own buffer there. Compute uses it for every flow bottlenecked at an
// fq link; callers with max-min rates at hand (the L1 check on an all-fq twin) use it
// without running the whole model.
func FQHeldDelay(p Params, bufPackets int, rateBps float64) (delay, std float64) {
	return heldDelay(p.QueueFill, bufPackets, p.PacketBytes, rateBps)
}

// FQHeldDelayCC is FQHeldDelay for a flow of congestion control cc: alone in its
// per-flow buffer, the flow's own window sawtooth sets the fill. Reno's window grows
// linearly from half the buffer back to full: QueueFill (0.75 by default, the Reno
// value). CUBIC's returns from β·W to W along a cubic that flattens at W (RFC 9438
// §4.2): W(t) = W − (1−β)·W·(1 − t/K)³, whose mean over 0…K is W·(1 − (1−β)/4) (0.925 for
// β = 0.7), spread over (1−β)·W. BBR is bounded by its in-flight cap (Compute).
func FQHeldDelayCC(p Params, cc network.CongestionControl, bufPackets int, rateBps float64) (delay, std float64) {
	if cc == network.CCCubic && rateBps > 0 {
		d, _ := heldDelay(1-(1-p.CubicBeta)/4, bufPackets, p.PacketBytes, rateBps)
		b := float64(bufPackets) * p.PacketBytes * 8 / rateBps
		// The cubic's values over a uniform time: (1−β)·b·u³, u uniform on [0, 1]:
		// variance (1−β)²·b²·(1/7 − 1/16).
		return d, (1 - p.CubicBeta) * b * math.Sqrt(1.0/7-1.0/16)
	}
	return FQHeldDelay(p, bufPackets, rateBps)
}

func heldDelay(fill float64, bufPackets int, packetBytes, rateBps float64) (delay, std float64) {
	if rateBps <= 0 {
		return 0, 0
	}
	b := float64(bufPackets) * packetBytes * 8 / rateBps
	spread := 2 * (1 - fill) * b
	return fill * b, spread / math.Sqrt(12)
}

// reverseID names the other direction of a directed link ID (network.DirectedLinkID):
// "l" ↔ "l~r". A flow's ACKs cross the reverse directions of its path when the input
// has them.
func reverseID(id string) string {
	if r, ok := strings.CutSuffix(id, network.ReverseSuffix); ok {
		return r
	}
	return id + network.ReverseSuffix
}

// cgIters is the number of conjugate-gradient iterations of the coupled Newton step;
// more (10, 30) overshoot, as the step ignores the queues' response (measured on
// k=8 fat-trees: 4 gave 65–102 iterations, 10 gave 133–212, 1 gave 93–122).
const cgIters = 4

// cgSpace is coupledStep's reusable workspace.
type cgSpace struct {
	act                 []bool
	act01               []int32 // act as 0/1: the compaction appends without a branch
	g, diag, extra, out []float64
	u, r, z, d, ad      []float64
	w                   []float64 // per coupling flow: x·ε/p_f
	idx, off            []int32   // its active queues: idx[off[k]:off[k+1]]
	mark                []int32   // mark[f] = epoch: flow f crosses an active queue
	epoch               int32
}

// coupledStep is a Newton step on the loss of the active loss-based queues (over or
// under capacity by more than a quarter of the tolerance, loss at or above the knee):
// with the round trips fixed, the load of queue l moves by
// Δload_l = −Σ_k H_lk Δlog p_k, H_lk = Σ_{f∋l,k} w_f·p_k, w_f = x_f·ε_f/p_f (the dual
// of a network utility maximisation: H = A·W·Aᵀ·diag(p) on the active queues). It
// solves H δ = g, g_l = load_l·log(load_l/c_l), as the symmetric system (A W Aᵀ) u = g,
// δ = u/p, with cgIters Jacobi-preconditioned conjugate-gradient iterations started
// from the diagonal step (each O(Σ|path|) over the flows that couple active queues),
// the diagonal floored as the diagonal step's E ≥ 0.02. It returns δ per queue (NaN:
// not active, the diagonal step applies; nil: none active), clamped to ±5.
func (m *model) coupledStep() []float64 {
	tol := m.p.Tolerance
	n := len(m.subs)
	c := &m.cg
	if len(c.act) != n {
		c.act, c.act01 = make([]bool, n), make([]int32, n)
		c.g, c.diag, c.extra, c.out = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
		c.u, c.r, c.z, c.d, c.ad = make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	}
	act := c.act
	na := 0
	for i := range m.subs {
		act[i], c.act01[i], c.out[i], c.g[i], c.diag[i], c.extra[i] = false, 0, math.NaN(), 0, 0, 0
		s := &m.subs[i]
		if s.fq || !s.hasLoss || s.load <= 0 || s.elast <= 0 || s.p <= 0 {
			continue
		}
		ratio := s.load / s.capBps
		pe := s.p
		switch {
		case ratio > 1+tol/4:
			pe = max(pe, pLow) // the price loop starts a full link from the knee
		case ratio < 1-tol/4 && s.p > pFloor:
		default:
			continue
		}
		if pe < pLow {
			continue // below the knee: not full, the diagonal step lets its loss fade
		}
		act[i], c.act01[i] = true, 1
		na++
		c.g[i] = s.load * math.Log(max(ratio, 1e-3))
		own := s.elast / s.p // Σ_f∋l w_f·min(p, p_f)/p
		c.diag[i] = max(own, 0.02*s.load/pe)
		c.extra[i] = c.diag[i] - own
	}
	if na == 0 {
		return nil
	}
	// the flows that couple active queues, with their active queues, compacted (a
	// flow crossing one active queue adds its weight to that queue's diagonal)
	c.w, c.idx, c.off = c.w[:0], c.idx[:0], c.off[:0]
	path := m.paths
	// Few active queues (the tail of the iteration): only the flows crossing them can
	// couple; marked from the queues' flow lists and visited in flow order, so that the
	// sums below run in the same order as over all flows.
	act1 := 0
	for i := range act {
		if act[i] {
			act1 += int(m.subFlowOff[i+1] - m.subFlowOff[i])
		}
	}
	sparse := act1*4 < len(path)
	if sparse {
		if len(c.mark) != len(m.fw) {
			c.mark, c.epoch = make([]int32, len(m.fw)), 0
		}
		c.epoch++
		for i := range act {
			if act[i] {
				for _, fi := range m.subFlows[m.subFlowOff[i]:m.subFlowOff[i+1]] {
					c.mark[fi] = c.epoch
				}
			}
		}
	}
	if cap(c.idx) < len(path) {
		c.idx = make([]int32, len(path))
	}
	idx, nidx, act01 := c.idx[:len(path)], 0, c.act01
	for fi, w := range m.fw {
		if w == 0 || sparse && c.mark[fi] != c.epoch {
			continue
		}
		start := nidx
		// nidx never passes this entry's position in path: the write is in bounds
		for _, si := range path[m.pathOff[fi]:m.pathOff[fi+1]] {
			idx[nidx] = si
			nidx += int(act01[si])
		}
		switch nidx - start {
		case 0:
			continue
		case 1: // couples nothing: its part of the product is diagonal
			c.extra[idx[start]] += w
			nidx = start
			continue
		}
		c.w = append(c.w, w)
		c.off = append(c.off, int32(start))
	}
	c.idx = idx[:nidx]
	c.off = append(c.off, int32(nidx))
	mul := func(v, res []float64) { // res = (A W Aᵀ + diag(floor)) v
		for i := range res {
			res[i] = c.extra[i] * v[i]
		}
		for k, w := range c.w {
			path := c.idx[c.off[k]:c.off[k+1]]
			switch len(path) { // the common cases unrolled, summed in the loop's order
			case 2:
				a, b := path[0], path[1]
				t := (0 + v[a] + v[b]) * w
				res[a] += t
				res[b] += t
				continue
			case 3:
				a, b, e := path[0], path[1], path[2]
				t := (0 + v[a] + v[b] + v[e]) * w
				res[a] += t
				res[b] += t
				res[e] += t
				continue
			case 4:
				a, b, e, g := path[0], path[1], path[2], path[3]
				t := (0 + v[a] + v[b] + v[e] + v[g]) * w
				res[a] += t
				res[b] += t
				res[e] += t
				res[g] += t
				continue
			}
			t := 0.0
			for _, si := range path {
				t += v[si]
			}
			t *= w
			for _, si := range path {
				res[si] += t
			}
		}
	}
	u, r, z, d, ad := c.u, c.r, c.z, c.d, c.ad
	for i := range u {
		u[i] = 0
		if act[i] {
			u[i] = c.g[i] / c.diag[i] // the diagonal step
		}
	}
	mul(u, r)
	rz := 0.0
	for i := range r {
		r[i], z[i] = 0, 0
		if act[i] {
			r[i] = c.g[i] - r[i]
			z[i] = r[i] / c.diag[i]
			rz += r[i] * z[i]
		}
	}
	copy(d, z)
	for range cgIters {
		mul(d, ad)
		dad := 0.0
		for i := range ad {
			dad += d[i] * ad[i]
		}
		if !(dad > 0) {
			break
		}
		alpha := rz / dad
		rz2 := 0.0
		for i := range u {
			if act[i] {
				u[i] += alpha * d[i]
				r[i] -= alpha * ad[i]
				z[i] = r[i] / c.diag[i]
				rz2 += r[i] * z[i]
			}
		}
		if rz == 0 {
			break
		}
		beta := rz2 / rz
		rz = rz2
		for i := range d {
			if act[i] {
				d[i] = z[i] + beta*d[i]
			}
		}
	}
	for i := range c.out {
		if act[i] {
			c.out[i] = max(-5, min(5, u[i]/max(m.subs[i].p, pLow)))
		}
	}
	return c.out
}
