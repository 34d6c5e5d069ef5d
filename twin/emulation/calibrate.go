package emulation

import (
	"fmt"
	"math"
	"slices"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
)

// CalibrationRun is one measured fidelity run the queue model is fitted to: the lab's
// network and plan options, the run's congestion control and its per-flow
// measurements (goodput b/s, smoothed RTT ms).
type CalibrationRun struct {
	Network *network.Network
	Options Options
	CC      string
	// MeasuredBps and MeasuredRTTMs by flow ID.
	MeasuredBps   map[string]float64
	MeasuredRTTMs map[string]float64
}

// CalibrationResult is the fitted parameter set and how well it and the starting set
// fit the runs.
type CalibrationResult struct {
	Params queue.Params `json:"params"`
	// Objective is the mean over runs of (median |rate error| + RTTWeight × median
	// |RTT error|), in %; Start is the starting set's.
	Objective      float64 `json:"objective"`
	StartObjective float64 `json:"start_objective"`
	RTTWeight      float64 `json:"rtt_weight"`
	Runs           int     `json:"runs"`
	Evaluations    int     `json:"evaluations"`
}

// calibrated names the free parameters Calibrate fits and the grid it searches.
var calibrated = []struct {
	name string
	set  func(p *queue.Params, v float64)
	grid []float64
}{
	{"queue_fill", func(p *queue.Params, v float64) { p.QueueFill = v }, []float64{0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1}},
	{"cubic_gain", func(p *queue.Params, v float64) { p.CubicGain = v }, []float64{0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2}},
	{"reno_gain", func(p *queue.Params, v float64) { p.RenoGain = v }, []float64{0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2}},
	{"bbr_min_window", func(p *queue.Params, v float64) { p.BBRMinWindow = v }, []float64{2, 3, 4, 6, 8, 12, 16, 24}},
	{"hop_loss_gain", func(p *queue.Params, v float64) { p.HopLossGain = v }, []float64{0.5, 0.75, 1, 1.5, 2, 3}},
	{"port_loss", func(p *queue.Params, v float64) { p.PortLoss = v }, []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1}},
	{"port_gap", func(p *queue.Params, v float64) { p.PortGap = v }, []float64{0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3}},
	{"bbr_shallow", func(p *queue.Params, v float64) { p.BBRShallow = v }, []float64{0, 1}},
}

// CalibratedParams names the parameters Calibrate can fit, in the order it fits them.
func CalibratedParams() []string {
	out := make([]string, len(calibrated))
	for i, c := range calibrated {
		out[i] = c.name
	}
	return out
}

// Calibrate fits the queue model's free parameters (QueueFill, CubicGain, RenoGain,
// BBRMinWindow, HopLossGain, PortLoss, PortGap, BBRShallow) to measured runs by coordinate descent over a
// grid, from start, and names the result version. The runs must come from networks not
// used to evaluate the result (docs/fidelity.md says which seeds are which).
func Calibrate(runs []CalibrationRun, start queue.Params, version string, rttWeight float64) (CalibrationResult, error) {
	return CalibrateOnly(runs, start, version, rttWeight, nil)
}

// CalibrateOnly is Calibrate fitting only the named parameters (CalibratedParams; nil:
// all of them); the others keep start's values.
func CalibrateOnly(runs []CalibrationRun, start queue.Params, version string, rttWeight float64, fit []string) (CalibrationResult, error) {
	if len(runs) == 0 {
		return CalibrationResult{}, fmt.Errorf("%w: no runs to calibrate on", ErrInvalid)
	}
	for _, name := range fit {
		if !slices.Contains(CalibratedParams(), name) {
			return CalibrationResult{}, fmt.Errorf("%w: unknown parameter %q to fit (known: %v)", ErrInvalid, name, CalibratedParams())
		}
	}
	type prepared struct {
		in  *queue.Input
		run *CalibrationRun
	}
	var ps []prepared
	for i := range runs {
		r := &runs[i]
		p, err := NewPlan(r.Network, r.Options, nil, 0)
		if err != nil {
			return CalibrationResult{}, fmt.Errorf("calibration run %d: %w", i, err)
		}
		in, err := QueueModelInput(r.Network, p, r.CC)
		if err != nil {
			return CalibrationResult{}, err
		}
		ps = append(ps, prepared{in, r})
	}
	evals := 0
	objective := func(par queue.Params) float64 {
		evals++
		total := 0.0
		for _, p := range ps {
			res, err := queue.Compute(p.in, par)
			if err != nil {
				return math.Inf(1)
			}
			var rate, rtt []float64
			for _, f := range res.Flows {
				m, ok := p.run.MeasuredBps[f.ID]
				pred := f.RateGbps * 1e9 * GoodputFactor
				if !ok || pred <= 0 {
					continue
				}
				rate = append(rate, math.Abs(m-pred)/pred*100)
				if mr, ok := p.run.MeasuredRTTMs[f.ID]; ok && f.RTTMs > 0 {
					rtt = append(rtt, math.Abs(mr-f.RTTMs)/f.RTTMs*100)
				}
			}
			mr, _ := medianMax(rate)
			mt, _ := medianMax(rtt)
			total += mr + rttWeight*mt
		}
		return total / float64(len(ps))
	}
	best := start
	best.Version = version
	if err := best.Validate(); err != nil {
		return CalibrationResult{}, err
	}
	res := CalibrationResult{RTTWeight: rttWeight, Runs: len(runs)}
	res.StartObjective = objective(best)
	bestObj := res.StartObjective
	for range 2 {
		for _, c := range calibrated {
			if fit != nil && !slices.Contains(fit, c.name) {
				continue
			}
			for _, v := range c.grid {
				cand := best
				c.set(&cand, v)
				if o := objective(cand); o < bestObj-1e-9 {
					best, bestObj = cand, o
				}
			}
		}
	}
	res.Params, res.Objective, res.Evaluations = best, bestObj, evals
	return res, nil
}
