// Package whatif runs what-if scenarios on a network with the bottleneck engine's
// incremental updates (seed 004 §4.2, §9.2; issue 18 item 1): a scenario lists
// perturbations (link and device failures, capacity changes, flows added, removed or
// scaled, traffic-matrix scaling) grouped in cases, and sweeps (every single link
// failure, pairs of failures, a capacity plan from the link gradients). Each case is
// applied to one engine State, its Delta read, and reverted; no case recomputes the
// structure from scratch.
package whatif

import (
	"fmt"
	"math"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/yamldoc"
)

// Bounds of a scenario document.
const (
	MaxDocumentBytes   = 4 << 20
	MaxCases           = 10_000
	MaxPerturbations   = 10_000 // per case, all kinds together
	MaxSLOs            = 10_000
	MaxN2Cases         = 100_000
	DefaultN2Cases     = 2_000
	MaxTop             = 1_000
	DefaultTop         = 10
	MaxScale           = 1e6
	DefaultPlanStepGbs = 10.0
)

// Scenario is a what-if document (YAML or JSON; JSON is read as YAML).
type Scenario struct {
	Name string `yaml:"name" json:"name,omitempty"`
	// Routing places flows without a path and reroutes flows after failures:
	// "shortest" (least latency, the default) or "ecmp".
	Routing string `yaml:"routing" json:"routing,omitempty"`
	// SLOs are rate objectives: each flow listed (or owned by Owner) must keep at
	// least MinRateGbps.
	SLOs []SLO `yaml:"slos" json:"slos,omitempty"`
	// Cases are explicit perturbation sets, each applied to the base and reverted.
	Cases  []Case `yaml:"cases" json:"cases,omitempty"`
	Sweeps Sweeps `yaml:"sweeps" json:"sweeps"`
	// Top bounds the rows of per-case flow listings and rankings (default 10).
	Top int `yaml:"top" json:"top,omitempty"`
}

// SLO is a minimum-rate objective over flows.
type SLO struct {
	Name        string   `yaml:"name" json:"name"`
	Flows       []string `yaml:"flows" json:"flows,omitempty"`
	Owner       string   `yaml:"owner" json:"owner,omitempty"`
	MinRateGbps float64  `yaml:"min_rate_gbps" json:"min_rate_gbps"`
}

// Case is a named set of perturbations applied together.
type Case struct {
	Name          string       `yaml:"name" json:"name"`
	Perturbations Perturbation `yaml:"perturbations" json:"perturbations"`
}

// Perturbation lists changes; they are applied in the order of the fields below.
type Perturbation struct {
	// AddDevices and AddLinks edit the topology, before everything else. A case with
	// them is computed on a new engine state of the edited network (the base's flows
	// without a fixed path re-routed over it): a full recomputation, not an
	// incremental update. A link endpoint a device lacks is added to it. Removing a
	// link or a device is fail_links / fail_devices. Not in sweeps.
	AddDevices  []network.Device `yaml:"add_devices" json:"add_devices,omitempty"`
	AddLinks    []network.Link   `yaml:"add_links" json:"add_links,omitempty"`
	FailLinks   []string         `yaml:"fail_links" json:"fail_links,omitempty"`     // link IDs (both directions) or directed link IDs
	FailDevices []string         `yaml:"fail_devices" json:"fail_devices,omitempty"` // every link of the device
	Capacities  []CapacityChange `yaml:"capacities" json:"capacities,omitempty"`
	RemoveFlows []string         `yaml:"remove_flows" json:"remove_flows,omitempty"`
	AddFlows    []network.Flow   `yaml:"add_flows" json:"add_flows,omitempty"`
	ScaleFlows  []FlowScale      `yaml:"scale_flows" json:"scale_flows,omitempty"`
	// ScaleTraffic multiplies the demand of every demand-capped flow (the traffic
	// matrix); elastic flows have no demand to scale. 0 or absent: unchanged.
	ScaleTraffic float64 `yaml:"scale_traffic" json:"scale_traffic,omitempty"`
}

// CapacityChange sets a link's capacity (both directions of a link ID, or one
// directed link).
type CapacityChange struct {
	Link         string  `yaml:"link" json:"link"`
	CapacityGbps float64 `yaml:"capacity_gbps" json:"capacity_gbps"`
}

// FlowScale multiplies a demand-capped flow's demand.
type FlowScale struct {
	Flow   string  `yaml:"flow" json:"flow"`
	Factor float64 `yaml:"factor" json:"factor"`
}

// Sweeps are generated cases.
type Sweeps struct {
	// N1 fails every link in turn (both directions).
	N1 bool `yaml:"n1" json:"n1,omitempty"`
	// N2 fails every pair of links; beyond MaxCases pairs a deterministic sample
	// (by Seed) of MaxCases pairs.
	N2 *N2Sweep `yaml:"n2" json:"n2,omitempty"`
	// CapacityPlan ranks link upgrades by the total-throughput gradient and
	// measures the top ones by applying +StepGbps to each.
	CapacityPlan *PlanSweep `yaml:"capacity_plan" json:"capacity_plan,omitempty"`
}

// N2Sweep bounds the pairs sweep.
type N2Sweep struct {
	MaxCases int   `yaml:"max_cases" json:"max_cases,omitempty"`
	Seed     int64 `yaml:"seed" json:"seed,omitempty"`
}

// PlanSweep configures the capacity plan.
type PlanSweep struct {
	StepGbps float64 `yaml:"step_gbps" json:"step_gbps,omitempty"`
	Top      int     `yaml:"top" json:"top,omitempty"`
}

// ParseScenario decodes a scenario strictly (unknown fields, wrong kinds and values out
// of bounds are errors naming the field and line) and fills in defaults.
func ParseScenario(data []byte) (*Scenario, error) {
	if len(data) > MaxDocumentBytes {
		return nil, fmt.Errorf("whatif: scenario: larger than %d bytes", MaxDocumentBytes)
	}
	var s Scenario
	if err := yamldoc.Decode(data, &s); err != nil {
		return nil, fmt.Errorf("whatif: scenario: %w", err)
	}
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("whatif: scenario: %w", err)
	}
	return &s, nil
}

func (s *Scenario) check() error {
	bad := func(field, format string, a ...any) error {
		return &yamldoc.Error{Field: field, Msg: fmt.Sprintf(format, a...)}
	}
	switch s.Routing {
	case "":
		s.Routing = "shortest"
	case "shortest", "ecmp":
	default:
		return bad("routing", "must be shortest or ecmp, got %q", s.Routing)
	}
	switch {
	case s.Top == 0:
		s.Top = DefaultTop
	case s.Top < 0 || s.Top > MaxTop:
		return bad("top", "must be from 1 to %d, got %d", MaxTop, s.Top)
	}
	if len(s.SLOs) > MaxSLOs {
		return bad("slos", "at most %d, got %d", MaxSLOs, len(s.SLOs))
	}
	names := map[string]int{}
	for i, o := range s.SLOs {
		f := fmt.Sprintf("slos[%d]", i)
		if o.Name == "" {
			return bad(f+".name", "required")
		}
		if j, dup := names[o.Name]; dup {
			return bad(f+".name", "duplicate SLO %q (also slos[%d])", o.Name, j)
		}
		names[o.Name] = i
		if (len(o.Flows) == 0) == (o.Owner == "") {
			return bad(f, "give exactly one of flows and owner")
		}
		if msg := network.CheckRate(o.MinRateGbps); msg != "" {
			return bad(f+".min_rate_gbps", "%s", msg)
		}
	}
	if len(s.Cases) > MaxCases {
		return bad("cases", "at most %d, got %d", MaxCases, len(s.Cases))
	}
	cases := map[string]int{}
	for i := range s.Cases {
		c := &s.Cases[i]
		f := fmt.Sprintf("cases[%d]", i)
		if c.Name == "" {
			return bad(f+".name", "required")
		}
		if j, dup := cases[c.Name]; dup {
			return bad(f+".name", "duplicate case %q (also cases[%d])", c.Name, j)
		}
		cases[c.Name] = i
		if err := c.Perturbations.check(f + ".perturbations"); err != nil {
			return err
		}
	}
	if n2 := s.Sweeps.N2; n2 != nil {
		switch {
		case n2.MaxCases == 0:
			n2.MaxCases = DefaultN2Cases
		case n2.MaxCases < 0 || n2.MaxCases > MaxN2Cases:
			return bad("sweeps.n2.max_cases", "must be from 1 to %d, got %d", MaxN2Cases, n2.MaxCases)
		}
	}
	if p := s.Sweeps.CapacityPlan; p != nil {
		if p.StepGbps == 0 {
			p.StepGbps = DefaultPlanStepGbs
		} else if msg := network.CheckRate(p.StepGbps); msg != "" {
			return bad("sweeps.capacity_plan.step_gbps", "%s", msg)
		}
		switch {
		case p.Top == 0:
			p.Top = s.Top
		case p.Top < 0 || p.Top > MaxTop:
			return bad("sweeps.capacity_plan.top", "must be from 1 to %d, got %d", MaxTop, p.Top)
		}
	}
	if len(s.Cases) == 0 && !s.Sweeps.N1 && s.Sweeps.N2 == nil && s.Sweeps.CapacityPlan == nil {
		return bad("", "nothing to do: give cases or sweeps")
	}
	return nil
}

func (p *Perturbation) check(at string) error {
	bad := func(field, format string, a ...any) error {
		return &yamldoc.Error{Field: at + field, Msg: fmt.Sprintf(format, a...)}
	}
	n := len(p.AddDevices) + len(p.AddLinks) + len(p.FailLinks) + len(p.FailDevices) + len(p.Capacities) + len(p.RemoveFlows) + len(p.AddFlows) + len(p.ScaleFlows)
	if n > MaxPerturbations {
		return bad("", "at most %d perturbations, got %d", MaxPerturbations, n)
	}
	if n == 0 && p.ScaleTraffic == 0 {
		return bad("", "empty: give at least one perturbation")
	}
	for i, c := range p.Capacities {
		if c.Link == "" {
			return bad(fmt.Sprintf(".capacities[%d].link", i), "required")
		}
		if msg := network.CheckRate(c.CapacityGbps); msg != "" {
			return bad(fmt.Sprintf(".capacities[%d].capacity_gbps", i), "%s", msg)
		}
	}
	for i, f := range p.ScaleFlows {
		if !(f.Factor > 0 && f.Factor <= MaxScale) {
			return bad(fmt.Sprintf(".scale_flows[%d].factor", i), "must be > 0 and <= %g, got %v", float64(MaxScale), f.Factor)
		}
	}
	if p.ScaleTraffic != 0 && !(p.ScaleTraffic > 0 && p.ScaleTraffic <= MaxScale) || math.IsNaN(p.ScaleTraffic) {
		return bad(".scale_traffic", "must be > 0 and <= %g, got %v", float64(MaxScale), p.ScaleTraffic)
	}
	for i, d := range p.AddDevices {
		if d.ID == "" {
			return bad(fmt.Sprintf(".add_devices[%d].id", i), "required")
		}
	}
	for i, l := range p.AddLinks {
		if l.ID == "" {
			return bad(fmt.Sprintf(".add_links[%d].id", i), "required")
		}
		if len(l.Endpoints) != 2 {
			return bad(fmt.Sprintf(".add_links[%d].endpoints", i), "a link has two endpoints, got %d", len(l.Endpoints))
		}
	}
	for i, f := range p.AddFlows {
		if f.ID == "" {
			return bad(fmt.Sprintf(".add_flows[%d].id", i), "required")
		}
		if d := f.DemandGbps; d != nil {
			if msg := network.CheckRate(*d); msg != "" {
				return bad(fmt.Sprintf(".add_flows[%d].demand_gbps", i), "%s", msg)
			}
		}
	}
	return nil
}
