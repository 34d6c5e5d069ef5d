package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// TestApprovalRuleApproves (REQ-COM-05): a slice proposed by an orchestrator that
// passes L1 with margin is approved by the rule, which is recorded as the approver in
// the change and in its ledgered transition; the same slice from another role, or with
// too little margin, waits for a person.
func TestApprovalRuleApproves(t *testing.T) {
	svc, _ := ringService(t, 6)
	ctx := context.Background()
	if err := svc.SetApprovalRules([]change.ApprovalRule{{Name: "x", MinMargin: -1}}); !errors.Is(err, pipeline.ErrInvalid) {
		t.Fatalf("invalid rule set accepted: %v", err)
	}
	if err := svc.SetApprovalRules([]change.ApprovalRule{{Name: "auto-slices", Kinds: []change.Kind{change.KindSlice},
		Roles: []string{"orchestrator"}, MinMargin: 0.10}}); err != nil {
		t.Fatal(err)
	}
	slice := func(id string, latency float64) *change.ChangeSet {
		env, err := svc.ServiceEnv(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sl := &service.Slice{ID: id, Constraints: service.Constraints{CapacityGbps: 1, MaxLatencyMs: latency},
			Services: []service.Service{{ID: "w", Type: service.L2VPN, L2: &service.L2Options{VNI: 77},
				Endpoints: []service.Endpoint{{Device: "r-2", Interface: "eth9"}, {Device: "r-4", Interface: "eth9"}}}}}
		cs, err := service.DefaultRegistry().CreateSlice(env, sl)
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	c, err := svc.ProposeAs(ctx, slice("s1", 10), pipeline.Proposer{Name: "osm", Roles: []string{"orchestrator"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != change.StateApproved || c.Approver != "rule:auto-slices" {
		t.Fatalf("state %s approver %q; want approved by rule:auto-slices (%+v)", c.State, c.Approver, c.Report.Failed())
	}
	got, err := svc.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	last := got.Transitions[len(got.Transitions)-1]
	if got.Approver != "rule:auto-slices" || last.Actor != "rule:auto-slices" || last.To != "approved" {
		t.Fatalf("stored approver %q, last transition %+v", got.Approver, last)
	}
	// another role: validated, waiting for a person
	c, err = svc.ProposeAs(ctx, slice("s2", 10), pipeline.Proposer{Name: "eve", Roles: []string{"engineer"}})
	if err != nil || c.State != change.StateValidated || c.Approver != "" {
		t.Fatalf("engineer's slice: %v state %s approver %q", err, c.State, c.Approver)
	}
	// r-2 -> r-4 is 2 ms on the ring: a 2.1 ms bound passes with a 5% margin only
	c, err = svc.ProposeAs(ctx, slice("s3", 2.1), pipeline.Proposer{Name: "osm", Roles: []string{"orchestrator"}})
	if err != nil || c.State != change.StateValidated {
		t.Fatalf("thin-margin slice: %v state %s; want validated (waiting)", err, c.State)
	}
	// a person still approves it
	if c, err = svc.Approve(ctx, c.ID, "alice"); err != nil || c.State != change.StateApproved || c.Approver != "alice" {
		t.Fatalf("person's approval: %v %+v", err, c)
	}
}
