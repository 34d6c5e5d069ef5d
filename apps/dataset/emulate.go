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
}

// Emulator measures a network's flows (each with its Path) by running them.
type Emulator interface {
	// Available says why the emulator cannot run here (nil if it can).
	Available() error
	// Measure runs the flows of n for d and returns one measurement per flow ID.
	Measure(ctx context.Context, n *network.Network, d time.Duration) (map[string]Measurement, error)
}

// NetnsEmulator runs a sample in the Linux network-namespace sandbox
// (twin/emulation.Netns, fq queue model: per-flow HTB classes on every link), one
// greedy TCP connection per flow, then destroys the lab.
type NetnsEmulator struct {
	// ProbeCmd is the argv prefix of the probe agent (as emulation.Netns.ProbeCmd).
	ProbeCmd []string
	// StateDir holds the lab's state file while it runs (default emulation's).
	StateDir string
	// Prefix of the lab's namespaces (default "tfds-") and Lab the lab's name (default
	// "ds<pid>"): a run killed mid-sample leaves the lab <Prefix><Lab>, which
	// `twinflow lab sweep --prefix tfds- --name ds<pid>` removes.
	Prefix, Lab string
	// CC is the TCP congestion control (default cubic).
	CC string
}

// MaxEmulatedBps is the line rate the largest link of an emulated sample is scaled to.
const MaxEmulatedBps = 100e6

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
// Capacities are scaled so that the largest link runs at MaxEmulatedBps (or at
// emulation.DefaultScale if that is slower).
func (e *NetnsEmulator) Measure(ctx context.Context, n *network.Network, d time.Duration) (map[string]Measurement, error) {
	maxCap, minCap := 0.0, 0.0
	for i, l := range n.Links {
		if i == 0 || l.CapacityGbps > maxCap {
			maxCap = l.CapacityGbps
		}
		if i == 0 || l.CapacityGbps < minCap {
			minCap = l.CapacityGbps
		}
	}
	if !(maxCap > 0) {
		return nil, fmt.Errorf("%w: the network has no link with capacity", ErrEmulation)
	}
	scale := min(emulation.DefaultScale, MaxEmulatedBps/(maxCap*1e9))
	if minCap*1e9*scale < emulation.MinRateBps {
		return nil, fmt.Errorf("%w: link capacities span %g..%g Gb/s: the slowest would be shaped below %d bit/s", ErrEmulation, minCap, maxCap, emulation.MinRateBps)
	}
	prefix := e.Prefix
	if prefix == "" {
		prefix = "tfds-"
	}
	cc := e.CC
	if cc == "" {
		cc = "cubic"
	}
	lab := e.Lab
	if lab == "" {
		lab = "ds" + strconv.Itoa(os.Getpid())
	}
	b := &emulation.Netns{
		Options:  emulation.Options{Lab: lab, Prefix: prefix, Scale: scale, Queue: emulation.QueueFQ},
		ProbeCmd: e.ProbeCmd, StateDir: e.StateDir,
	}
	res, err := emulation.MeasureFlows(ctx, b, n, cc, d, d/4)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEmulation, err)
	}
	out := make(map[string]Measurement, len(res))
	for _, r := range res {
		if !r.OK || r.TCP == nil {
			return nil, fmt.Errorf("%w: flow %s (%s -> %s) failed in emulation: %s", ErrEmulation, r.ID, r.Src, r.Dst, r.Error)
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
	return out, nil
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
	sm.emuRate, sm.emuRTT, sm.emuRetx, sm.emuLoss = make([]float64, F), make([]float64, F), make([]int32, F), make([]float64, F)
	for f := range F {
		r, ok := m[ids[f]]
		if !ok {
			return fmt.Errorf("%w: sample %d: flow %s was not measured", ErrEmulation, sm.index, ids[f])
		}
		sm.emuRate[f], sm.emuRTT[f], sm.emuRetx[f], sm.emuLoss[f] = r.RateGbps, r.RTTMs, int32(min(r.Retransmits, 1<<31-1)), r.Loss
	}
	sm.emulated = true
	sm.emuSeconds = float64(s.Emulate.Seconds)
	return nil
}
