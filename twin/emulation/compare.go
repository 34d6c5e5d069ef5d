package emulation

import (
	"fmt"
	"math"
	"sort"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
)

// GoodputFactor converts a line rate (what HTB shapes: Ethernet frames) into TCP goodput
// at a 1500-byte MTU with TCP timestamps: 1448 payload bytes per 1514-byte frame.
const GoodputFactor = 1448.0 / 1514.0

// Prediction is the model's rate for one flow.
type Prediction struct {
	Flow string `json:"flow"`
	// RateGbps is the model rate in the network's units.
	RateGbps float64 `json:"rate_gbps"`
}

// MaxMin returns the max-min fair rates of the plan's flows over the network's directed
// links (Gb/s), computed by the bottleneck-structure engine (models/bottleneck). It is
// the reference the fq queue model should reproduce; demand caps are honoured.
func MaxMin(n *network.Network, p *Plan) ([]Prediction, error) {
	capOf := map[string]float64{}
	for _, l := range n.Links {
		capOf[network.DirectedLinkID(l.ID, false)] = l.CapacityGbps
		capOf[network.DirectedLinkID(l.ID, true)] = l.CapacityGbps
	}
	demand := map[string]*float64{}
	for _, f := range n.Flows {
		demand[f.ID] = f.DemandGbps
	}
	var in bottleneck.Network
	used := map[string]bool{}
	for _, f := range p.Flows {
		for _, d := range f.Path {
			if capOf[d] <= 0 {
				return nil, fmt.Errorf("%w: flow %q crosses %q, which has no capacity", ErrInvalid, f.ID, d)
			}
			if !used[d] {
				used[d] = true
				in.Links = append(in.Links, bottleneck.Link{ID: d, Capacity: capOf[d]})
			}
		}
		in.Flows = append(in.Flows, bottleneck.Flow{ID: f.ID, Path: f.Path, Demand: demand[f.ID]})
	}
	s, err := bottleneck.New(&in)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	out := make([]Prediction, len(p.Flows))
	for i, f := range p.Flows {
		r, err := s.Rate(f.ID)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		out[i] = Prediction{Flow: f.ID, RateGbps: r}
	}
	return out, nil
}

// Row compares one flow.
type Row struct {
	Flow string `json:"flow"`
	// PredictedGbps is the model rate; PredictedBps the goodput expected in emulation
	// (model rate × scale × goodput factor).
	PredictedGbps float64 `json:"predicted_gbps"`
	PredictedBps  float64 `json:"predicted_bps"`
	MeasuredBps   float64 `json:"measured_bps"`
	// ErrorPct is (measured − predicted) / predicted × 100.
	ErrorPct float64 `json:"error_pct"`
}

// Comparison is measured against predicted for a set of flows.
type Comparison struct {
	Scale         float64 `json:"scale"`
	GoodputFactor float64 `json:"goodput_factor"`
	Rows          []Row   `json:"rows"`
	// MedianAbsErrorPct and MaxAbsErrorPct summarize |ErrorPct| over the rows.
	MedianAbsErrorPct float64 `json:"median_abs_error_pct"`
	MaxAbsErrorPct    float64 `json:"max_abs_error_pct"`
	// Missing lists predicted flows without a successful TCP measurement.
	Missing []string `json:"missing,omitempty"`
}

// Compare matches TCP probe results (by ID = flow ID) with predictions. scale is the
// lab's scale factor and factor the goodput factor (GoodputFactor; 1 to compare line
// rates).
func Compare(pred []Prediction, measured []ProbeResult, scale, factor float64) Comparison {
	c := Comparison{Scale: scale, GoodputFactor: factor}
	got := map[string]float64{}
	for _, m := range measured {
		if m.Kind == ProbeTCP && m.OK && m.TCP != nil {
			got[m.ID] = m.TCP.GoodputBps
		}
	}
	var abs []float64
	for _, p := range pred {
		want := p.RateGbps * 1e9 * scale * factor
		m, ok := got[p.Flow]
		if !ok {
			c.Missing = append(c.Missing, p.Flow)
			continue
		}
		row := Row{Flow: p.Flow, PredictedGbps: p.RateGbps, PredictedBps: want, MeasuredBps: m}
		if want > 0 {
			row.ErrorPct = (m - want) / want * 100
		}
		c.Rows = append(c.Rows, row)
		abs = append(abs, math.Abs(row.ErrorPct))
	}
	if len(abs) > 0 {
		sort.Float64s(abs)
		c.MaxAbsErrorPct = abs[len(abs)-1]
		if n := len(abs); n%2 == 1 {
			c.MedianAbsErrorPct = abs[n/2]
		} else {
			c.MedianAbsErrorPct = (abs[n/2-1] + abs[n/2]) / 2
		}
	}
	return c
}
