package monitor

import (
	"math"
	"sort"
	"time"
)

// Bound says when an observation diverges from a prediction: when
// |observed − predicted| > max(Relative × predicted, AbsoluteGbps). The absolute floor
// keeps measurement noise on lightly loaded links from counting.
type Bound struct {
	Relative     float64 `json:"relative"`
	AbsoluteGbps float64 `json:"absolute_gbps"`
}

// DefaultBound is 20% with a 10 Mb/s floor.
var DefaultBound = Bound{Relative: 0.2, AbsoluteGbps: 0.01}

// Validate checks the bound: Relative in (0, 10], AbsoluteGbps in [0, 1e6].
func (b Bound) Validate() error {
	if math.IsNaN(b.Relative) || b.Relative <= 0 || b.Relative > 10 {
		return invalidf("bound.relative", "must be in (0, 10], got %v", b.Relative)
	}
	if math.IsNaN(b.AbsoluteGbps) || b.AbsoluteGbps < 0 || b.AbsoluteGbps > 1e6 {
		return invalidf("bound.absolute_gbps", "must be in [0, 1e6], got %v", b.AbsoluteGbps)
	}
	return nil
}

// Diverges reports whether observed is outside the bound around predicted.
func (b Bound) Diverges(predicted, observed float64) bool {
	return math.Abs(observed-predicted) > math.Max(b.Relative*math.Abs(predicted), b.AbsoluteGbps)
}

// Prediction is what the twin's model says: each flow's rate and path (directed link
// IDs). Link loads are the sums of the rates of the flows crossing them.
type Prediction struct {
	FlowRates map[string]float64  `json:"flow_rates_gbps"`
	FlowPaths map[string][]string `json:"flow_paths"`
}

// LinkLoads sums the predicted flow rates per directed link.
func (p Prediction) LinkLoads() map[string]float64 {
	out := map[string]float64{}
	for f, path := range p.FlowPaths {
		for _, dl := range path {
			out[dl] += p.FlowRates[f]
		}
	}
	return out
}

// LinkComparison is one directed link's predicted and observed load.
type LinkComparison struct {
	Link          string   `json:"link"`
	PredictedGbps float64  `json:"predicted_gbps"`
	ObservedGbps  float64  `json:"observed_gbps"`
	Diverged      bool     `json:"diverged"`
	Flows         []string `json:"flows,omitempty"`
}

// FlowComparison is one flow's predicted rate and its estimated observed rate (the
// observed load of each link on its path shared in proportion to the predicted rates,
// the smallest over the path: per-flow rates are not measured by interface telemetry).
type FlowComparison struct {
	Flow          string  `json:"flow"`
	PredictedGbps float64 `json:"predicted_gbps"`
	ObservedGbps  float64 `json:"observed_gbps"`
	Diverged      bool    `json:"diverged"`
}

// Comparison is a change's "predicted vs observed" record.
type Comparison struct {
	Change string    `json:"change,omitempty"`
	At     time.Time `json:"at"`
	// SettleS is how long after the commit the network was measured.
	SettleS float64          `json:"settle_s"`
	Bound   Bound            `json:"bound"`
	Links   []LinkComparison `json:"links"`
	Flows   []FlowComparison `json:"flows"`
	// Diverged is true when any link or flow diverged; DivergedLinks and DivergedFlows
	// name them.
	Diverged      bool     `json:"diverged"`
	DivergedLinks []string `json:"diverged_links,omitempty"`
	DivergedFlows []string `json:"diverged_flows,omitempty"`
	// Unobserved lists directed links with predicted load but no telemetry (not compared).
	Unobserved []string `json:"unobserved,omitempty"`
	// Latency is not compared: telemetry measures no latency (a probe-based check is planned).
	Note string `json:"note,omitempty"`
}

// Compare compares the prediction with observed directed link loads (a link missing
// from observed has no telemetry and is listed as unobserved, not compared). Links
// observed with traffic but no predicted flow are compared too (against zero).
func Compare(p Prediction, observed map[string]float64, b Bound) Comparison {
	loads := p.LinkLoads()
	onLink := map[string][]string{}
	for f, path := range p.FlowPaths {
		for _, dl := range path {
			onLink[dl] = append(onLink[dl], f)
		}
	}
	links := map[string]bool{}
	for l := range loads {
		links[l] = true
	}
	for l := range observed {
		links[l] = true
	}
	ids := make([]string, 0, len(links))
	for l := range links {
		ids = append(ids, l)
	}
	sort.Strings(ids)
	c := Comparison{Bound: b, Links: []LinkComparison{}, Flows: []FlowComparison{}}
	for _, l := range ids {
		obs, ok := observed[l]
		if !ok {
			c.Unobserved = append(c.Unobserved, l)
			continue
		}
		fs := onLink[l]
		sort.Strings(fs)
		lc := LinkComparison{Link: l, PredictedGbps: loads[l], ObservedGbps: obs, Flows: fs}
		lc.Diverged = b.Diverges(lc.PredictedGbps, obs)
		if lc.Diverged {
			c.Diverged = true
			c.DivergedLinks = append(c.DivergedLinks, l)
		}
		c.Links = append(c.Links, lc)
	}
	flows := make([]string, 0, len(p.FlowPaths))
	for f := range p.FlowPaths {
		flows = append(flows, f)
	}
	sort.Strings(flows)
	for _, f := range flows {
		est, ok := EstimateFlow(p.FlowRates[f], p.FlowPaths[f], loads, observed)
		if !ok {
			continue
		}
		fc := FlowComparison{Flow: f, PredictedGbps: p.FlowRates[f], ObservedGbps: est}
		fc.Diverged = b.Diverges(fc.PredictedGbps, est)
		if fc.Diverged {
			c.Diverged = true
			c.DivergedFlows = append(c.DivergedFlows, f)
		}
		c.Flows = append(c.Flows, fc)
	}
	return c
}

// EstimateFlow estimates a flow's observed rate from the observed loads of the links
// on its path (see FlowComparison); ok is false when no link of the path is observed.
func EstimateFlow(rate float64, path []string, loads, observed map[string]float64) (float64, bool) {
	est, ok := math.Inf(1), false
	for _, dl := range path {
		obs, has := observed[dl]
		if !has {
			continue
		}
		share := 1.0
		if l := loads[dl]; l > 0 {
			share = rate / l
		}
		est, ok = math.Min(est, obs*share), true
	}
	if !ok {
		return 0, false
	}
	return est, true
}
