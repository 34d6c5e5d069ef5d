package pipeline_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// policyNet: a - b - c, 10 Gb/s links, flow "gold" a->b shaped at 5 Gb/s on ab.
func policyNet(t *testing.T) (*twin.Manager, *pipeline.Service) {
	t.Helper()
	five := 5.0
	m := chainTwin(t, network.Flow{ID: "gold", Src: "a", Dst: "b", Path: []string{"ab"}, DemandGbps: &five})
	return m, sqlitePipeline(t, m)
}

// chainTwin is a live twin of the chain a - b - c (links "ab" and "bc", 10 Gb/s,
// 2 ms; each device's e2 faces the next one's e1) holding flows.
func chainTwin(t *testing.T, flows ...network.Flow) *twin.Manager {
	t.Helper()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error {
		for _, d := range []string{"a", "b", "c"} {
			if _, err := tx.PutDevice(network.Device{ID: d, Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "e1"}, {ID: "e2"}}}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		for _, l := range [][3]string{{"ab", "a", "b"}, {"bc", "b", "c"}} {
			if _, err := tx.PutLink(network.Link{ID: l[0], CapacityGbps: 10, LatencyMs: 2,
				Endpoints: []network.EndPointRef{{Device: l[1], EndPoint: "e2"}, {Device: l[2], EndPoint: "e1"}}}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		for _, f := range flows {
			if _, err := tx.PutFlow(f, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func putRule(t *testing.T, m *twin.Manager, r policy.Rule) {
	t.Helper()
	spec, _ := json.Marshal(r)
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error {
		_, err := tx.PutRecord(twin.TablePolicies, twin.Record{ID: r.ID, Kind: pipeline.PolicyKind, Spec: spec, Status: string(r.State)}, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func checkOf(c *pipeline.Change, name string) change.Check {
	for _, ck := range c.Report.Checks {
		if ck.Name == name {
			return ck
		}
	}
	return change.Check{}
}

// REQ-POL-05: l1.policy evaluates a change against the active rules' limits and names
// the rule it breaks; planned rules are not enforced.
func TestL1Policy(t *testing.T) {
	m, svc := policyNet(t)
	ctx := context.Background()
	three := 3.0
	add := &change.ChangeSet{Kind: change.KindIntent, Twin: change.TwinDelta{AddFlows: []change.FlowSpec{
		{Flow: network.Flow{ID: "bulk", Src: "a", Dst: "b", DemandGbps: &three}}}}}
	c, err := svc.Propose(ctx, add, "bo")
	if err != nil {
		t.Fatal(err)
	}
	if ck := checkOf(c, "l1.policy"); ck.Status != change.Skip || c.State != change.StateValidated {
		t.Fatalf("no rules: %s %+v", c.State, ck)
	}
	rule := policy.Rule{ID: "ab-70", State: policy.StatePlanned, Limits: []policy.Limit{{Type: policy.LimitMaxLinkUtilisation, Link: "ab", Percent: 70}}}
	putRule(t, m, rule)
	add.ID = ""
	if c, err = svc.Propose(ctx, add, "bo"); err != nil || checkOf(c, "l1.policy").Status != change.Skip {
		t.Fatalf("planned rule enforced: %v %+v", err, checkOf(c, "l1.policy"))
	}
	rule.State = policy.StateActive
	putRule(t, m, rule)
	add.ID = ""
	c, err = svc.Propose(ctx, add, "bo")
	if err != nil {
		t.Fatal(err)
	}
	ck := checkOf(c, "l1.policy")
	if c.State != change.StateRejected || ck.Status != change.Fail || !strings.Contains(ck.Message, "rule ab-70: link ab would be 80.0% utilised") {
		t.Fatalf("active rule: %s %+v", c.State, ck)
	}
	// a change on another link passes the same rule
	other := &change.ChangeSet{Kind: change.KindIntent, Twin: change.TwinDelta{AddFlows: []change.FlowSpec{
		{Flow: network.Flow{ID: "bulk2", Src: "b", Dst: "c", DemandGbps: &three}}}}}
	if c, err = svc.Propose(ctx, other, "bo"); err != nil || c.State != change.StateValidated || checkOf(c, "l1.policy").Status != change.Pass {
		t.Fatalf("other link: %v %s %+v", err, c.State, checkOf(c, "l1.policy"))
	}
}

// A flow in both remove_flows and add_flows is replaced: a reroute or reshaping.
func TestReplaceFlow(t *testing.T) {
	_, svc := policyNet(t)
	ctx := context.Background()
	two := 2.0
	cs := &change.ChangeSet{Kind: change.KindIntent, Twin: change.TwinDelta{RemoveFlows: []string{"gold"},
		AddFlows: []change.FlowSpec{{Flow: network.Flow{ID: "gold", Src: "a", Dst: "b", Path: []string{"ab"}, DemandGbps: &two}}}}}
	c, err := svc.Propose(ctx, cs, "bo")
	if err != nil || c.State != change.StateValidated {
		t.Fatalf("replace: %v %+v", err, c.Report)
	}
}
