package closedloop_test

import (
	"context"
	"testing"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// TestApprovalRulesForClosedLoops: the pipeline's approval rules (issue 15) approve a
// closed loop's change only when they name its identity among their authors; a rule
// for orchestrators (no authors, or others) never approves automated changes.
func TestApprovalRulesForClosedLoops(t *testing.T) {
	rules := []change.ApprovalRule{
		{Name: "orchestrators", Kinds: []change.Kind{change.KindIntent}, Roles: []string{"orchestrator"}},
		{Name: "anyone"},
		{Name: "auto-restore", Authors: []string{closedloop.RestoreUser}, MinMargin: 0.1},
	}
	ap := closedloop.ApprovalRules{Rules: func() []change.ApprovalRule { return rules }}
	passed := &change.Report{Level: change.L1, Passed: true}
	mk := func(author string, rep *change.Report) *pipeline.Change {
		return &pipeline.Change{Author: author, ChangeSet: &change.ChangeSet{Kind: change.KindIntent}, Report: rep}
	}
	ctx := context.Background()
	if got := ap.ApproverFor(ctx, mk(closedloop.RestoreUser, passed)); got != "rule:auto-restore" {
		t.Errorf("restoration: approver %q, want rule:auto-restore", got)
	}
	if got := ap.ApproverFor(ctx, mk(closedloop.EngineUser, passed)); got != "" {
		t.Errorf("policy engine: approver %q; no rule names it, so a person approves", got)
	}
	if got := ap.ApproverFor(ctx, mk(closedloop.RestoreUser, &change.Report{Level: change.L1})); got != "" {
		t.Errorf("a failed report was approved by %q", got)
	}
	if got := (closedloop.ApprovalRules{}).ApproverFor(ctx, mk(closedloop.RestoreUser, passed)); got != "" {
		t.Errorf("no rules: approver %q", got)
	}
}
