package queue

import (
	"errors"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// portNet is the shape of flow-tree seed 103's r-1 (docs/fidelity.md): two flows arrive
// at FIFO l over link u, one starts at l's node; u is upCap Gb/s, l 1 Gb/s.
func portNet(upCap float64) *Input {
	q := fifo(50)
	return &Input{
		Links: []Link{{ID: "u", CapacityGbps: upCap, LatencyMs: 1, Queue: q}, {ID: "l", CapacityGbps: 1, LatencyMs: 1, Queue: q}},
		Flows: []Flow{{ID: "far1", Path: []string{"u", "l"}, CC: network.CCCubic}, {ID: "far2", Path: []string{"u", "l"}, CC: network.CCCubic},
			{ID: "local", Path: []string{"l"}, CC: network.CCCubic}},
	}
}

func computeWith(t *testing.T, in *Input, p Params) *Result {
	t.Helper()
	r, err := Compute(in, p)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Converged {
		t.Fatalf("did not converge: %d iterations, residual %g", r.Iterations, r.Residual)
	}
	return r
}

func flowOf(r *Result, id string) FlowResult {
	for _, f := range r.Flows {
		if f.ID == id {
			return f
		}
	}
	return FlowResult{}
}

func linkOf(r *Result, id string) LinkResult {
	for _, l := range r.Links {
		if l.ID == id {
			return l
		}
	}
	return LinkResult{}
}

// With PortLoss the aggregate arriving over a link no faster than the FIFO is dropped
// less than the node's own flow (measured on seed 103: the local flows lost 4–10× as
// many packets); the FIFO still runs full and drops what it did.
func TestPortLossLocalFlowTakesTheDrops(t *testing.T) {
	base := computeWith(t, portNet(1), DefaultParams())
	p := DefaultParams()
	p.PortLoss = 0.5
	r := computeWith(t, portNet(1), p)
	far, local := flowOf(r, "far1"), flowOf(r, "local")
	bfar, blocal := flowOf(base, "far1"), flowOf(base, "local")
	// theory-1: one queue, one loss for both
	if !near(blocal.Loss, bfar.Loss, 1e-6) {
		t.Errorf("PortLoss 0: local loss %g, far loss %g, want equal", blocal.Loss, bfar.Loss)
	}
	// shares at l: far ≈ 0.63, local ≈ 0.37; multipliers 0.61 and 1.66, blended ½ with 1
	if ratio := local.Loss / far.Loss; !(ratio > 1.5 && ratio < 1.8) {
		t.Errorf("local loss %g / far loss %g = %.2f, want ≈ 1.64", local.Loss, far.Loss, ratio)
	}
	if r0, r1 := blocal.RateGbps/bfar.RateGbps, local.RateGbps/far.RateGbps; !(r1 < 0.9*r0) {
		t.Errorf("local/far rate %.3f with PortLoss, %.3f without: want the local flow beaten down", r1, r0)
	}
	if l := linkOf(r, "l"); !near(l.LoadGbps, 1, 2e-3) {
		t.Errorf("link l load %g Gb/s, want full (1)", l.LoadGbps)
	}
	// the drops are split, not added: the load-weighted mean of the flows' loss at l is the link's
	lt := linkOf(r, "l")
	got := 0.0
	for _, f := range r.Flows {
		got += f.RateGbps * f.Loss // u does not drop: it is not full
	}
	if !near(got/lt.LoadGbps, lt.Loss, 0.05) {
		t.Errorf("flows' mean loss %g, link loss %g", got/lt.LoadGbps, lt.Loss)
	}
}

// A port whose upstream link is much faster than the FIFO can overflow it alone and
// counts like the node's own senders: the multipliers are ≈ 1 and the answer theory-1's.
func TestPortLossFasterUpstreamUnchanged(t *testing.T) {
	base := rates(computeWith(t, portNet(400), DefaultParams()))
	p := DefaultParams()
	p.PortLoss = 1
	got := rates(computeWith(t, portNet(400), p))
	for id, x := range base {
		if !near(got[id], x, 5e-3) {
			t.Errorf("%s: %g Gb/s with PortLoss, %g without", id, got[id], x)
		}
	}
}

// Two limited ports with equal shares collide with each other alike: multipliers 1.
func TestPortLossSymmetricPortsUnchanged(t *testing.T) {
	q := fifo(50)
	in := &Input{
		Links: []Link{{ID: "a", CapacityGbps: 1, Queue: q}, {ID: "b", CapacityGbps: 1, Queue: q}, {ID: "l", CapacityGbps: 1, Queue: q}},
		Flows: []Flow{{ID: "fa", Path: []string{"a", "l"}}, {ID: "fb", Path: []string{"b", "l"}}},
	}
	base := rates(computeWith(t, in, DefaultParams()))
	p := DefaultParams()
	p.PortLoss = 1
	got := rates(computeWith(t, in, p))
	for id, x := range base {
		if !near(got[id], x, 1e-3) {
			t.Errorf("%s: %g Gb/s with PortLoss, %g without", id, got[id], x)
		}
	}
}

func TestPortLossValidated(t *testing.T) {
	p := DefaultParams()
	p.PortLoss = 1.5
	if _, err := Compute(portNet(1), p); !errors.Is(err, ErrInvalid) {
		t.Errorf("port_loss 1.5: err %v, want ErrInvalid", err)
	}
}

// With PortGap g a port over a link no faster than the FIFO takes at most 1 − g of the
// places a departure frees, so its loss multiplier is at least g times the node's own
// flow's: the local flow's loss is at most 1/g times the far flows' at l (u does not
// drop), and it is no longer starved (seed 103: the r-4 link ran at 90–94%).
func TestPortGapBoundsTheSplit(t *testing.T) {
	p := DefaultParams()
	p.PortLoss = 1
	r0 := computeWith(t, portNet(1), p)
	p.PortGap = 0.4
	r := computeWith(t, portNet(1), p)
	far, local := flowOf(r, "far1"), flowOf(r, "local")
	if far.Loss <= 0 {
		t.Fatalf("far loss %g, want > 0", far.Loss)
	}
	if ratio := local.Loss / far.Loss; !(ratio > 1 && ratio <= 1/p.PortGap*(1+1e-3)) {
		t.Errorf("local loss / far loss = %.3f, want in (1, %g]", ratio, 1/p.PortGap)
	}
	l0, l1 := flowOf(r0, "local").RateGbps, local.RateGbps
	t.Logf("local %g → %g Gb/s, loss ratio %.3f", l0, l1, local.Loss/far.Loss)
	if !(l1 > 1.2*l0) {
		t.Errorf("local flow %g Gb/s with PortGap 0.4, %g without: want more (the far port leaves it 40%% of the places)", l1, l0)
	}
	if l := linkOf(r, "l"); !near(l.LoadGbps, 1, 2e-3) {
		t.Errorf("link l load %g Gb/s, want full (1)", l.LoadGbps)
	}
	// PortGap alone (PortLoss 0) changes nothing
	q := DefaultParams()
	q.PortGap = 0.2
	a, b := computeWith(t, portNet(1), DefaultParams()), computeWith(t, portNet(1), q)
	for i := range a.Flows {
		if a.Flows[i].RateGbps != b.Flows[i].RateGbps {
			t.Errorf("PortGap without PortLoss changed %s: %g → %g", a.Flows[i].ID, a.Flows[i].RateGbps, b.Flows[i].RateGbps)
		}
	}
}

func TestPortGapValidated(t *testing.T) {
	p := DefaultParams()
	p.PortGap = 0.6
	if _, err := Compute(portNet(1), p); !errors.Is(err, ErrInvalid) {
		t.Errorf("port_gap 0.6: err %v, want ErrInvalid", err)
	}
}
