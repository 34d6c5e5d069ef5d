package dataset

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin/emulation"
)

// ErrEmulation is wrapped by every error about emulated labels (spec.emulate).
var ErrEmulation = errors.New("dataset: emulate")

// Measurement is what emulation measured for one flow.
type Measurement struct {
	// RateGbps is the measured TCP goodput in the network's units (Gb/s): goodput
	// divided by the lab's scale and the goodput factor (frame overhead), so that it
	// compares with the models' rates.
	RateGbps float64
	// RTTMs is the kernel's smoothed RTT at the end of the run.
	RTTMs float64
	// Retransmits counts the segments retransmitted within the measurement window.
	Retransmits uint32
	// Loss estimates the loss ratio the flow saw: segments retransmitted over data
	// segments sent within the window (NaN if it sent none).
	Loss float64
	// Error, if set, says why the flow was not measured (its probe failed: e.g. no
	// data acknowledged within the window); its values are then NaN.
	Error string
}

// Emulated is what emulation measured for one sample.
type Emulated struct {
	// Scale is the lab's rate scale: a link of c Gb/s ran at c × 1e9 × Scale bit/s.
	Scale float64
	// Flows holds one measurement per flow ID.
	Flows map[string]Measurement
	// Latency says how the lab applied the links' latencies: one of emulation's
	// LatencyNetem, LatencyDelayLine, LatencyNotApplied (the network has latencies,
	// the lab did not apply them) or LatencyNone (the network has none).
	Latency string
}

// Emulator measures a network's flows (each with its Path) by running them.
type Emulator interface {
	// Available says why the emulator cannot run here (nil if it can).
	Available() error
	// Measure runs the flows of n for d and returns one measurement per flow ID.
	Measure(ctx context.Context, n *network.Network, d time.Duration) (Emulated, error)
}

// NetnsEmulator runs a sample in the Linux network-namespace sandbox
// (twin/emulation.Netns, fq queue model: per-flow HTB classes on every link), one
// greedy TCP connection per flow, then destroys the lab.
type NetnsEmulator struct {
	// ProbeCmd is the argv prefix of the probe agent (as emulation.Netns.ProbeCmd).
	ProbeCmd []string
	// DelayCmd is the argv prefix of the userspace delay line (as
	// emulation.Netns.DelayCmd, e.g. {"twinflow-node", "delay"}): where the kernel has
	// no netem, links with a latency get it from a delay line; without DelayCmd they
	// get none (Emulated.Latency says which).
	DelayCmd []string
	// StateDir holds the lab's state file while it runs (default emulation's).
	StateDir string
	// Prefix of the lab's namespaces (default "tfds-") and Lab the lab's name (default
	// "ds<pid>"): a run killed mid-sample leaves the lab <Prefix><Lab>, which
	// `twinflow lab sweep --prefix tfds- --name ds<pid>` removes.
	Prefix, Lab string
	// CC is the TCP congestion control (default cubic).
	CC string
	// LoadBps bounds the lab's total forwarding load (default DefaultLoadBps).
	LoadBps float64
	// QueueLimit is the packet limit of every per-flow queue (default
	// DefaultQueueLimit): short queues keep low-rate flows' RTTs short, so that they
	// converge within seconds.
	QueueLimit int
}

// scale returns the lab scale for n (see Measure).
func (e *NetnsEmulator) scale(n *network.Network, o emulation.Options) (float64, error) {
	maxCap, minCap := 0.0, math.Inf(1)
	for _, l := range n.Links {
		maxCap, minCap = max(maxCap, l.CapacityGbps), min(minCap, l.CapacityGbps)
	}
	if !(maxCap > 0) {
		return 0, fmt.Errorf("%w: the network has no link with capacity", ErrEmulation)
	}
	p, err := emulation.NewPlan(n, o, nil, 0)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrEmulation, err)
	}
	pred, err := emulation.MaxMin(n, p) // the flows carry no demand: elastic rates
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrEmulation, err)
	}
	load := 0.0 // Gb/s × hops
	for i, f := range p.Flows {
		load += pred[i].RateGbps * float64(len(f.Path))
	}
	budget := e.LoadBps
	if budget <= 0 {
		budget = DefaultLoadBps
	}
	scale := min(emulation.DefaultScale, MaxEmulatedBps/(maxCap*1e9))
	if load > 0 {
		scale = min(scale, budget/(load*1e9))
	}
	if minCap*1e9*scale < emulation.MinRateBps {
		return 0, fmt.Errorf("%w: at scale %g (link capacities %g..%g Gb/s, forwarding load %g Gb/s) the slowest link would be shaped below %d bit/s", ErrEmulation, scale, minCap, maxCap, load, emulation.MinRateBps)
	}
	return scale, nil
}

// Scale bounds of an emulated sample: the largest link runs at most at MaxEmulatedBps,
// and the lab forwards at most DefaultLoadBps in total (Σ over flows of the elastic
// max-min rate × hops, scaled), so that the machine's CPU, not the shaping, never
// limits the measured rates (a 2-core machine forwarding several hundred Mb/s through
// veths and HTB saturates: measured, docs/benchmarks.md).
const (
	MaxEmulatedBps    = 100e6
	DefaultLoadBps    = 200e6
	DefaultQueueLimit = 20
)

// Available reports why the sandbox cannot run here (ErrEmulation wrapping
// emulation.ErrUnavailable: not Linux, no network namespaces, not root, no iproute2),
// or that no probe agent is configured.
func (e *NetnsEmulator) Available() error {
	if err := emulation.Available(); err != nil {
		return fmt.Errorf("%w: %w; run without emulate, or as root on Linux", ErrEmulation, err)
	}
	if len(e.ProbeCmd) == 0 {
		return fmt.Errorf("%w: no probe agent command configured", ErrEmulation)
	}
	return nil
}

// Measure deploys n, runs one TCP probe per flow for d (warmup d/4) and destroys the lab.
// The lab's scale is the largest that keeps every link at most MaxEmulatedBps and the
// total forwarding load at most LoadBps (emulation.DefaultScale at most).
func (e *NetnsEmulator) Measure(ctx context.Context, n *network.Network, d time.Duration) (Emulated, error) {
	lab := e.Lab
	if lab == "" {
		lab = "ds" + strconv.Itoa(os.Getpid())
	}
	o := emulation.Options{Lab: lab, Prefix: e.Prefix, Queue: emulation.QueueFQ, QueueLimit: e.QueueLimit}
	if o.QueueLimit == 0 {
		o.QueueLimit = DefaultQueueLimit
	}
	if o.Prefix == "" {
		o.Prefix = "tfds-"
	}
	scale, err := e.scale(n, o)
	if err != nil {
		return Emulated{}, err
	}
	o.Scale = scale
	cc := e.CC
	if cc == "" {
		cc = "cubic"
	}
	b := &emulation.Netns{
		Options:  o,
		ProbeCmd: e.ProbeCmd, DelayCmd: e.DelayCmd, StateDir: e.StateDir,
	}
	res, latency, err := emulation.MeasureFlows(ctx, b, n, cc, d, d/4)
	if err != nil {
		return Emulated{}, fmt.Errorf("%w: %w", ErrEmulation, err)
	}
	out := make(map[string]Measurement, len(res))
	failed := 0
	for _, r := range res {
		if !r.OK || r.TCP == nil {
			failed++
			nan := math.NaN()
			out[r.ID] = Measurement{RateGbps: nan, RTTMs: nan, Loss: nan, Error: fmt.Sprintf("%s -> %s: %s", r.Src, r.Dst, r.Error)}
			continue
		}
		out[r.ID] = Measurement{
			RateGbps:    emulation.NetworkGbps(r.TCP.GoodputBps, scale),
			RTTMs:       r.TCP.RTTMs,
			Retransmits: r.TCP.WindowRetransmits,
			Loss:        math.NaN(),
		}
		if seg := r.TCP.WindowDataSegments; seg > 0 {
			m := out[r.ID]
			m.Loss = float64(r.TCP.WindowRetransmits) / float64(seg)
			out[r.ID] = m
		}
	}
	if failed == len(res) && failed > 0 {
		r := res[0]
		return Emulated{}, fmt.Errorf("%w: no flow could be measured (flow %s %s -> %s: %s)", ErrEmulation, r.ID, r.Src, r.Dst, r.Error)
	}
	return Emulated{Scale: scale, Flows: out, Latency: latency}, nil
}

// emulateSample runs sm of sc through em and records the measured labels and the
// elastic (demand-free) max-min reference of the same flows.
func emulateSample(ctx context.Context, s *Spec, sc *scenario, sm *sample, em Emulator) error {
	F := len(sm.src)
	if F > s.Emulate.MaxFlows {
		return fmt.Errorf("%w: sample %d has %d flows, the sandbox runs at most %d (emulate.max_flows)", ErrEmulation, sm.index, F, s.Emulate.MaxFlows)
	}
	if sc.n() > MaxEmulateNodes {
		return fmt.Errorf("%w: sample %d: topology %q has %d devices, the sandbox runs at most %d", ErrEmulation, sm.index, sc.topology, sc.n(), MaxEmulateNodes)
	}
	nn := *sc.net
	nn.Flows = make([]network.Flow, F)
	ids := flowIDs(F)
	n := sc.n()
	flows := make([]bottleneck.Flow, F)
	for f := range F {
		p := sc.pathIDs[int(sm.src[f])*n+int(sm.dst[f])]
		// no demand: the emulated TCP flows are greedy (the probe does not pace)
		nn.Flows[f] = network.Flow{ID: ids[f], Src: sc.nodes[sm.src[f]], Dst: sc.nodes[sm.dst[f]], Path: p}
		flows[f] = bottleneck.Flow{ID: ids[f], Path: p}
	}
	st, err := bottleneck.New(&bottleneck.Network{Links: sc.links, Flows: flows})
	if err != nil {
		return fmt.Errorf("dataset: sample %d: %w", sm.index, err)
	}
	sm.elastic = make([]float64, F)
	for f := range F {
		if sm.elastic[f], err = st.Rate(ids[f]); err != nil {
			return err
		}
	}
	m, err := em.Measure(ctx, &nn, time.Duration(s.Emulate.Seconds)*time.Second)
	if err != nil {
		return fmt.Errorf("sample %d: %w", sm.index, err)
	}
	if !(m.Scale > 0 && m.Scale <= 1) {
		return fmt.Errorf("%w: sample %d: the emulator reported scale %v", ErrEmulation, sm.index, m.Scale)
	}
	switch m.Latency {
	case emulation.LatencyNetem, emulation.LatencyDelayLine, emulation.LatencyNotApplied, emulation.LatencyNone:
	default:
		return fmt.Errorf("%w: sample %d: the emulator reported latency emulation %q", ErrEmulation, sm.index, m.Latency)
	}
	sm.emuRate, sm.emuRTT, sm.emuRetx, sm.emuLoss, sm.emuOK = make([]float64, F), make([]float64, F), make([]int32, F), make([]float64, F), make([]bool, F)
	for f := range F {
		r, ok := m.Flows[ids[f]]
		if !ok {
			return fmt.Errorf("%w: sample %d: flow %s was not measured", ErrEmulation, sm.index, ids[f])
		}
		if r.Error != "" {
			sm.emuFailed++
			continue
		}
		sm.emuRate[f], sm.emuRTT[f], sm.emuRetx[f], sm.emuLoss[f] = r.RateGbps, r.RTTMs, int32(min(r.Retransmits, 1<<31-1)), r.Loss
		sm.emuOK[f] = true
	}
	sm.emulated = true
	sm.emuSeconds, sm.emuScale, sm.emuLatency = float64(s.Emulate.Seconds), m.Scale, m.Latency
	return nil
}
