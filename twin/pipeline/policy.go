package pipeline

import (
	"encoding/json"
	"sort"
	"strings"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/twin"
)

// PolicyKind is the Kind of a policy rule's record in the twin's policies table; its
// Spec is the policy.Rule JSON and its Status the rule's state.
const PolicyKind = "policy"

// activeLimitRules returns the active rules of the twin that set limits (l1.policy
// enforces them), sorted by priority.
func activeLimitRules(r *twin.Reader) []policy.Rule {
	recs, _, err := r.Records(twin.TablePolicies, twin.ListOptions{})
	if err != nil {
		return nil
	}
	var out []policy.Rule
	for _, rec := range recs {
		if rec.Kind != PolicyKind || rec.Status != string(policy.StateActive) {
			continue
		}
		var rule policy.Rule
		if json.Unmarshal(rec.Spec, &rule) != nil || rule.State != policy.StateActive || len(rule.Limits) == 0 {
			continue
		}
		out = append(out, rule)
	}
	policy.Sort(out)
	return out
}

// linkLoads returns every usable directed link's predicted load in m.
func linkLoads(m *liveModel) map[string]float64 {
	loads := make(map[string]float64, len(m.dirCap))
	for id, f := range m.flows {
		if !pathUsable(m, f.Path) {
			continue
		}
		r := m.rate(id)
		for _, dl := range f.Path {
			loads[dl] += r
		}
	}
	return loads
}

// policyCheck is l1.policy: the predicted link loads after the change against the
// limits of the active rules. Only links whose load the change alters are judged (a
// link already over a limit is not this change's doing).
func policyCheck(rules []policy.Rule, before, after *liveModel) change.Check {
	if len(rules) == 0 {
		return change.Check{Name: "l1.policy", Level: change.L1, Status: change.Skip, Message: "no active policy rule sets a limit"}
	}
	lb, la := linkLoads(before), linkLoads(after)
	var loads []policy.LinkLoad
	ids := make([]string, 0, len(after.dirCap))
	for dl := range after.dirCap {
		ids = append(ids, dl)
	}
	sort.Strings(ids)
	for _, dl := range ids {
		id, _ := strings.CutSuffix(dl, network.ReverseSuffix)
		l := after.links[id]
		var ends [2]string
		if len(l.Endpoints) == 2 {
			ends = [2]string{l.Endpoints[0].Device, l.Endpoints[1].Device}
		}
		loads = append(loads, policy.LinkLoad{Link: id, Directed: dl, Ends: ends, LoadGbps: la[dl], CapacityGbps: after.dirCap[dl] + after.reserved[dl]})
	}
	changed := func(dl string) bool {
		d := la[dl] - lb[dl]
		return d > rateEps || d < -rateEps || after.dirCap[dl] != before.dirCap[dl]
	}
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.ID
	}
	vs := policy.CheckLimits(rules, loads, changed)
	c := change.Check{Name: "l1.policy", Level: change.L1, Status: change.Pass,
		Message:  "the change keeps every limit of the active policy rules (" + strings.Join(names, ", ") + ")",
		Evidence: map[string]any{"rules": names}}
	if len(vs) > 0 {
		c.Status, c.Message = change.Fail, policy.Summary(vs, 10)
		c.Evidence = map[string]any{"rules": names, "violations": vs}
	}
	return c
}

// FlowSLO returns the SLO the twin holds for a flow (nil: none). Closed loops that
// move a flow (replace it in a ChangeSet) carry it over with this.
func FlowSLO(r *twin.Reader, flow string) *change.SLO {
	rec, err := r.Record(twin.TableServices, sloPrefix+flow)
	if err != nil {
		return nil
	}
	var slo change.SLO
	if json.Unmarshal(rec.Spec, &slo) != nil {
		return nil
	}
	return &slo
}
