package queue

import (
	"fmt"
	"math"
)

// Params are the model's constants. The free ones (marked "calibrated") are fitted by
// `twinflow lab calibrate` against emulation; the others are protocol constants.
// Version names the parameter set and is reported with every result.
type Params struct {
	Version string `json:"version" yaml:"version"`
	// MSSBytes is the TCP payload per packet (1448 at a 1500-byte MTU with timestamps);
	// PacketBytes the wire size a buffer and a link count (1514 with Ethernet).
	MSSBytes    float64 `json:"mss_bytes" yaml:"mss_bytes"`
	PacketBytes float64 `json:"packet_bytes" yaml:"packet_bytes"`
	// RTOMinMs is the minimum retransmission timeout (Linux: 200 ms).
	RTOMinMs float64 `json:"rto_min_ms" yaml:"rto_min_ms"`
	// MinRTTMs is added to every round trip (host stacks, serialisation).
	MinRTTMs float64 `json:"min_rtt_ms" yaml:"min_rtt_ms"`
	// CubicC and CubicBeta are CUBIC's constants (RFC 9438: 0.4 and 0.7).
	CubicC    float64 `json:"cubic_c" yaml:"cubic_c"`
	CubicBeta float64 `json:"cubic_beta" yaml:"cubic_beta"`
	// QueueFill is the mean occupancy of a full drop-tail buffer as a fraction of the
	// buffer (calibrated).
	QueueFill float64 `json:"queue_fill" yaml:"queue_fill"`
	// LossGain multiplies the loss probability a flow responds to per congested FIFO
	// it crosses beyond the first (calibrated; 1 = independent losses).
	HopLossGain float64 `json:"hop_loss_gain" yaml:"hop_loss_gain"`
	// PortLoss (0..1) blends in how a drop-tail FIFO splits its drops between its input
	// ports: 0 (theory-1) drops every flow at the FIFO with the same probability; 1
	// drops the aggregate arriving over an upstream link no faster than the FIFO's own
	// only where it collides with other ports' packets (in proportion to the other
	// ports' share of the load), so that flows sent from the node itself, or merged
	// from a minority port, take most of the drops (docs/queueing.md, "Input ports").
	PortLoss float64 `json:"port_loss,omitempty" yaml:"port_loss,omitempty"`
	// PortGap (0..0.5) is the share of a full FIFO's service slots that a port over a
	// link no faster than the FIFO leaves to the other ports (used with PortLoss > 0):
	// such a port is fed by an upstream drop-tail FIFO that runs below its capacity
	// (measured 90–94% on seed 103, docs/fidelity.md), so it never takes more than
	// 1 − PortGap of the places a departure frees, and loses at least in that
	// proportion. 0 (ports-1): it can take them all, and the other ports' flows can be
	// starved to nothing.
	PortGap float64 `json:"port_gap,omitempty" yaml:"port_gap,omitempty"`
	// RenoGain, CubicGain scale the response functions' windows (calibrated).
	RenoGain  float64 `json:"reno_gain" yaml:"reno_gain"`
	CubicGain float64 `json:"cubic_gain" yaml:"cubic_gain"`
	// BBRMinWindow (packets) and BBRCwndGain give BBR's in-flight cap
	// W = BBRMinWindow + BBRCwndGain × BDP(propagation RTT) (calibrated).
	BBRMinWindow float64 `json:"bbr_min_window" yaml:"bbr_min_window"`
	BBRCwndGain  float64 `json:"bbr_cwnd_gain" yaml:"bbr_cwnd_gain"`
	// BBRShallow (0 or 1) selects how BBR-only FIFOs shallower than their flows'
	// in-flight excess share: 0 (theory-1) max-min, as the deeper ones; 1 by window,
	// each flow's rate its window over its RTT, one window price per such FIFO
	// (docs/fidelity.md, "BBR in shallow FIFOs").
	BBRShallow float64 `json:"bbr_shallow,omitempty" yaml:"bbr_shallow,omitempty"`
	// MaxIterations and Tolerance bound the fixed-point solver.
	MaxIterations int     `json:"max_iterations" yaml:"max_iterations"`
	Tolerance     float64 `json:"tolerance" yaml:"tolerance"`
}

// DefaultParams returns the model's theoretical constants, before calibration.
func DefaultParams() Params {
	return Params{
		Version:       "theory-1",
		MSSBytes:      1448,
		PacketBytes:   1514,
		RTOMinMs:      200,
		MinRTTMs:      0.05,
		CubicC:        0.4,
		CubicBeta:     0.7,
		QueueFill:     0.75,
		HopLossGain:   1,
		RenoGain:      1,
		CubicGain:     1,
		BBRMinWindow:  4,
		BBRCwndGain:   2,
		MaxIterations: 3000,
		Tolerance:     1e-3,
	}
}

// Validate checks every parameter is finite and in range.
func (p *Params) Validate() error {
	check := func(name string, v, lo, hi float64) error {
		if math.IsNaN(v) || v < lo || v > hi {
			return fmt.Errorf("%w: params.%s must be in [%g, %g], got %v", ErrInvalid, name, lo, hi, v)
		}
		return nil
	}
	if len(p.Version) == 0 || len(p.Version) > 64 {
		return fmt.Errorf("%w: params.version must be 1 to 64 characters", ErrInvalid)
	}
	for _, c := range []struct {
		n         string
		v, lo, hi float64
	}{
		{"mss_bytes", p.MSSBytes, 64, 65535}, {"packet_bytes", p.PacketBytes, 64, 65535},
		{"rto_min_ms", p.RTOMinMs, 0, 60000}, {"min_rtt_ms", p.MinRTTMs, 0, 60000},
		{"cubic_c", p.CubicC, 1e-3, 100}, {"cubic_beta", p.CubicBeta, 0.05, 0.95},
		{"queue_fill", p.QueueFill, 0, 1}, {"hop_loss_gain", p.HopLossGain, 0.01, 100},
		{"port_loss", p.PortLoss, 0, 1}, {"port_gap", p.PortGap, 0, 0.5},
		{"reno_gain", p.RenoGain, 1e-3, 1e3}, {"cubic_gain", p.CubicGain, 1e-3, 1e3},
		{"bbr_min_window", p.BBRMinWindow, 1, 1e6}, {"bbr_cwnd_gain", p.BBRCwndGain, 0, 100},
		{"bbr_shallow", p.BBRShallow, 0, 1},
		{"max_iterations", float64(p.MaxIterations), 1, 1e6}, {"tolerance", p.Tolerance, 1e-12, 0.5},
	} {
		if err := check(c.n, c.v, c.lo, c.hi); err != nil {
			return err
		}
	}
	if p.BBRShallow != 0 && p.BBRShallow != 1 {
		return fmt.Errorf("%w: params.bbr_shallow must be 0 or 1, got %v", ErrInvalid, p.BBRShallow)
	}
	return nil
}
