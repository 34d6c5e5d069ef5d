package emulation

import (
	"fmt"
	"math"
	"sort"

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

// MaxMin computes the max-min fair rates of the plan's flows over its directed links
// (capacity in Gb/s) by water-filling. It is the reference the fq queue model should
// reproduce; demand caps (Flow.DemandGbps) are honoured.
func MaxMin(n *network.Network, p *Plan) ([]Prediction, error) {
	capOf := map[string]float64{}
	for _, l := range n.Links {
		capOf[network.DirectedLinkID(l.ID, false)] = l.CapacityGbps
		capOf[network.DirectedLinkID(l.ID, true)] = l.CapacityGbps
	}
	demand := map[string]float64{}
	for _, f := range n.Flows {
		if f.DemandGbps != nil {
			demand[f.ID] = *f.DemandGbps
		}
	}
	type flow struct {
		id    string
		links []string
		rate  float64
		fixed bool
	}
	flows := make([]*flow, 0, len(p.Flows))
	for _, f := range p.Flows {
		links := append([]string(nil), f.Path...)
		if d, ok := demand[f.ID]; ok {
			v := "demand:" + f.ID
			capOf[v] = d
			links = append(links, v)
		}
		for _, l := range links {
			if c := capOf[l]; c <= 0 {
				return nil, fmt.Errorf("%w: flow %q crosses %q with no capacity", ErrInvalid, f.ID, l)
			}
		}
		flows = append(flows, &flow{id: f.ID, links: links})
	}
	remaining := map[string]float64{}
	for l, c := range capOf {
		remaining[l] = c
	}
	for {
		count := map[string]int{}
		for _, f := range flows {
			if !f.fixed {
				for _, l := range f.links {
					count[l]++
				}
			}
		}
		if len(count) == 0 {
			break
		}
		best := math.Inf(1)
		for l, c := range count {
			best = math.Min(best, remaining[l]/float64(c))
		}
		// Fix every unfixed flow crossing a link at the minimum share.
		tight := map[string]bool{}
		for l, c := range count {
			if remaining[l]/float64(c) <= best*(1+1e-12) {
				tight[l] = true
			}
		}
		for _, f := range flows {
			if f.fixed {
				continue
			}
			for _, l := range f.links {
				if tight[l] {
					f.fixed, f.rate = true, best
					break
				}
			}
		}
		for l := range remaining {
			used := 0.0
			for _, f := range flows {
				if f.fixed {
					for _, fl := range f.links {
						if fl == l {
							used += f.rate
						}
					}
				}
			}
			remaining[l] = capOf[l] - used
		}
	}
	out := make([]Prediction, len(flows))
	for i, f := range flows {
		out[i] = Prediction{Flow: f.id, RateGbps: f.rate}
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
