package emulation

import (
	"errors"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
)

// Calibrate recovers known parameters from runs the model itself generated with them.
func TestCalibrateRecoversParameters(t *testing.T) {
	truth := queue.DefaultParams()
	truth.QueueFill, truth.CubicGain = 0.9, 1.25
	runs := modelRuns(t, []int64{1, 2}, []int{20, 200}, truth)
	res, err := Calibrate(runs, queue.DefaultParams(), "test-1", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if res.Params.Version != "test-1" || res.Objective > 0.5 || res.StartObjective <= res.Objective {
		t.Errorf("objective %v (start %v), version %q", res.Objective, res.StartObjective, res.Params.Version)
	}
	if res.Params.QueueFill != 0.9 {
		t.Errorf("queue_fill %v, want 0.9", res.Params.QueueFill)
	}
	if _, err := Calibrate(nil, queue.DefaultParams(), "x", 0.5); !errors.Is(err, ErrInvalid) {
		t.Errorf("no runs: %v", err)
	}
}

// CalibrateOnly fits only the named parameters: port_loss recovered from runs the model
// generated with it (flow-tree seeds 1 and 4, where a node's own flows share a FIFO with
// an aggregate arriving over an equally fast link), every other parameter left alone.
func TestCalibrateOnlyPortLoss(t *testing.T) {
	truth := queue.DefaultParams()
	truth.PortLoss = 0.5
	runs := modelRuns(t, []int64{1, 4}, []int{20}, truth)
	start := queue.DefaultParams()
	start.BBRMinWindow = 8 // not fitted (and no BBR flow here): must stay
	res, err := CalibrateOnly(runs, start, "ports-test", 0.5, []string{"port_loss"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Params.PortLoss != 0.5 {
		t.Errorf("port_loss %v, want 0.5", res.Params.PortLoss)
	}
	if res.Params.BBRMinWindow != 8 || res.Params.QueueFill != 0.75 || res.Params.CubicGain != 1 || res.Params.HopLossGain != 1 {
		t.Errorf("fitted what it was not asked to: %+v", res.Params)
	}
	if _, err := CalibrateOnly(runs, start, "x", 0.5, []string{"nope"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown parameter: %v", err)
	}
}

// modelRuns is modelRun on the six-flow trees of the given seeds, at each buffer.
func modelRuns(t *testing.T, seeds []int64, bufs []int, truth queue.Params) []CalibrationRun {
	t.Helper()
	var runs []CalibrationRun
	for _, seed := range seeds {
		n, err := network.FlowTree(6, 6, seed)
		if err != nil {
			t.Fatal(err)
		}
		for _, buf := range bufs {
			runs = append(runs, modelRun(t, n, buf, truth))
		}
	}
	return runs
}

// modelRun is a calibration run "measured" by the queue model itself with parameters
// truth: n's cubic flows on FIFOs of buf packets (sender hosts), each flow's goodput
// and RTT as the model predicts them.
func modelRun(t *testing.T, n *network.Network, buf int, truth queue.Params) CalibrationRun {
	t.Helper()
	o := Options{Lab: "cal", Prefix: "tfe-", Queue: QueueFIFO, QueueLimit: buf, SenderHosts: true}
	p, err := NewPlan(n, o, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := QueueModelInput(n, p, "cubic")
	r, err := queue.Compute(in, truth)
	if err != nil {
		t.Fatal(err)
	}
	cr := CalibrationRun{Network: n, Options: o, CC: "cubic", MeasuredBps: map[string]float64{}, MeasuredRTTMs: map[string]float64{}}
	for _, f := range r.Flows {
		cr.MeasuredBps[f.ID] = f.RateGbps * 1e9 * GoodputFactor
		cr.MeasuredRTTMs[f.ID] = f.RTTMs
	}
	return cr
}

// port_gap is fitted with port_loss: from runs the model generated with port_loss 1 and
// port_gap 0.1 (the same networks as TestCalibrateOnlyPortLoss) the fit reproduces the
// rates (the two trade off: coordinate descent stops at a neighbouring pair), which
// port_loss alone cannot.
func TestCalibratePortGap(t *testing.T) {
	truth := queue.DefaultParams()
	truth.PortLoss, truth.PortGap = 1, 0.1
	runs := modelRuns(t, []int64{1, 4}, []int{20}, truth)
	both, err := CalibrateOnly(runs, queue.DefaultParams(), "gap-test", 0, []string{"port_loss", "port_gap"})
	if err != nil {
		t.Fatal(err)
	}
	one, err := CalibrateOnly(runs, queue.DefaultParams(), "gap-test", 0, []string{"port_loss"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("port_loss+port_gap: %.3f%% (%v, %v); port_loss alone: %.3f%% (%v)", both.Objective, both.Params.PortLoss, both.Params.PortGap, one.Objective, one.Params.PortLoss)
	if !(both.Objective < 0.5) || both.Params.PortGap <= 0 {
		t.Errorf("fitted port_loss %v, port_gap %v: objective %.3f%%, want under 0.5%% with a gap", both.Params.PortLoss, both.Params.PortGap, both.Objective)
	}
	if !(one.Objective > 2*both.Objective) {
		t.Errorf("port_loss alone fits to %.3f%%, both to %.3f%%: want the gap to matter", one.Objective, both.Objective)
	}
}
