package emulation

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/twinflow/twinflow/models/network"
)

// Configurer pushes configuration rules to one node's gNMI agent. The change pipeline
// passes the production gNMI driver (physical/gnmi) here, so that L2 pushes the very
// same device configs, over the same driver, as a commit would.
type Configurer interface {
	Push(ctx context.Context, node NodeInfo, rules []network.ConfigRule) error
}

// Sandbox is the L2 validation API: mirror a network (typically a twin fork) into an
// emulation backend, push its device configs, probe, and compare with the models.
type Sandbox struct {
	Backend Backend
	// Config pushes device config rules; nil refuses networks that carry config rules.
	Config Configurer
	// Tolerance is the largest accepted |measured − predicted| / predicted for TCP
	// goodput checks, in percent (default 25: well above the fq model's measured error,
	// see docs/fidelity.md, and far below what a broken path does).
	TolerancePct float64
}

// Mirror makes the sandbox look like n: deploys it (or reconfigures the deployed lab
// in place) and pushes every device's config rules through the Configurer.
func (s *Sandbox) Mirror(ctx context.Context, n *network.Network) error {
	if _, err := s.Backend.Nodes(ctx); err == nil {
		if err := s.Backend.Reconfigure(ctx, n); err != nil {
			return err
		}
	} else if errors.Is(err, ErrNotDeployed) {
		if err := s.Backend.Deploy(ctx, n); err != nil {
			return err
		}
	} else {
		return err
	}
	return s.PushConfigs(ctx, n)
}

// PushConfigs pushes each device's config rules to its node agent.
func (s *Sandbox) PushConfigs(ctx context.Context, n *network.Network) error {
	nodes, err := s.Backend.Nodes(ctx)
	if err != nil {
		return err
	}
	byID := map[string]NodeInfo{}
	for _, ni := range nodes {
		byID[ni.ID] = ni
	}
	for i, d := range n.Devices {
		if len(d.ConfigRules) == 0 {
			continue
		}
		if s.Config == nil {
			return fmt.Errorf("%w: devices[%d] %q has config rules but the sandbox has no configurer", ErrUnavailable, i, d.ID)
		}
		ni, ok := byID[d.ID]
		if !ok {
			return fmt.Errorf("%w: devices[%d] %q is not in the lab", ErrNotDeployed, i, d.ID)
		}
		if ni.GNMIAddress == "" {
			return fmt.Errorf("%w: devices[%d] %q: no node agent runs (set NodeCmd)", ErrUnavailable, i, d.ID)
		}
		if err := s.Config.Push(ctx, ni, d.ConfigRules); err != nil {
			return fmt.Errorf("emulation: push config to %q: %w", d.ID, err)
		}
	}
	return nil
}

// Probe runs probes in the sandbox.
func (s *Sandbox) Probe(ctx context.Context, specs []ProbeSpec) ([]ProbeResult, error) {
	return s.Backend.Probe(ctx, specs)
}

// Check is one L2 verdict with its evidence.
type Check struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
	// Evidence is the probe result the verdict rests on.
	Evidence *ProbeResult `json:"evidence,omitempty"`
}

// Report is the outcome of an L2 validation.
type Report struct {
	Pass       bool        `json:"pass"`
	Checks     []Check     `json:"checks"`
	Comparison *Comparison `json:"comparison,omitempty"`
	Took       float64     `json:"took_seconds"`
}

// ImpliedProbes returns the probes a network's flows imply: a ping from each flow's
// source to its destination (reachability and RTT), and, if tcp is positive, one TCP
// flow per network flow for that long (goodput against the max-min prediction).
func ImpliedProbes(n *network.Network, cc string, tcp time.Duration) []ProbeSpec {
	var specs []ProbeSpec
	seen := map[[2]string]bool{}
	for _, f := range n.Flows {
		k := [2]string{f.Src, f.Dst}
		if seen[k] {
			continue
		}
		seen[k] = true
		specs = append(specs, ProbeSpec{ID: "ping:" + f.Src + "->" + f.Dst, Kind: ProbePing, Src: f.Src, Dst: f.Dst, Count: 3, Timeout: 500 * time.Millisecond})
	}
	if tcp > 0 {
		for _, f := range n.Flows {
			specs = append(specs, ProbeSpec{ID: f.ID, Kind: ProbeTCP, Src: f.Src, Dst: f.Dst, CC: cc, Duration: tcp, Warmup: tcp / 4})
		}
	}
	return specs
}

// Validate mirrors n, runs specs (ImpliedProbes if nil) and judges them: every ping
// must be answered; every TCP flow's goodput must be within TolerancePct of the max-min
// prediction (goodput-corrected; checked only when the lab runs the fq model, which is
// the one the bottleneck model describes). The first failing probes are the evidence.
func (s *Sandbox) Validate(ctx context.Context, n *network.Network, specs []ProbeSpec) (*Report, error) {
	start := time.Now()
	if err := s.Mirror(ctx, n); err != nil {
		return nil, err
	}
	if specs == nil {
		specs = ImpliedProbes(n, "cubic", 0)
	}
	res, err := s.Backend.Probe(ctx, specs)
	if err != nil {
		return nil, err
	}
	rep := &Report{Pass: true}
	tol := s.TolerancePct
	if tol == 0 {
		tol = 25
	}
	var tcp []ProbeResult
	for i := range res {
		r := res[i]
		switch r.Kind {
		case ProbePing:
			c := Check{Name: "reachability " + r.Src + " -> " + r.Dst, Pass: r.OK, Evidence: &res[i]}
			if r.OK {
				c.Detail = fmt.Sprintf("%d/%d replies, median rtt %.3f ms", r.Ping.Received, r.Ping.Sent, r.Ping.RTTMedianMs)
			} else {
				c.Detail = r.Error
			}
			rep.Checks = append(rep.Checks, c)
		case ProbeTCP:
			tcp = append(tcp, r)
			if !r.OK {
				rep.Checks = append(rep.Checks, Check{Name: "tcp " + r.ID, Pass: false, Detail: r.Error, Evidence: &res[i]})
			}
		}
	}
	if len(tcp) > 0 {
		if nb, ok := s.Backend.(*Netns); ok && nb.Plan() != nil && nb.Plan().Options.Queue == QueueFQ {
			pred, err := MaxMin(n, nb.Plan())
			if err != nil {
				return nil, err
			}
			cmp := Compare(pred, tcp, nb.Plan().Options.Scale, GoodputFactor)
			rep.Comparison = &cmp
			for _, row := range cmp.Rows {
				c := Check{Name: "goodput " + row.Flow, Pass: math.Abs(row.ErrorPct) <= tol,
					Detail: fmt.Sprintf("measured %.3f Mb/s, predicted %.3f Mb/s (%+.1f%%, tolerance %.0f%%)", row.MeasuredBps/1e6, row.PredictedBps/1e6, row.ErrorPct, tol)}
				for i := range res {
					if res[i].ID == row.Flow && res[i].Kind == ProbeTCP {
						c.Evidence = &res[i]
					}
				}
				rep.Checks = append(rep.Checks, c)
			}
		}
	}
	sort.SliceStable(rep.Checks, func(i, j int) bool { return !rep.Checks[i].Pass && rep.Checks[j].Pass })
	for _, c := range rep.Checks {
		if !c.Pass {
			rep.Pass = false
		}
	}
	rep.Took = time.Since(start).Seconds()
	return rep, nil
}
