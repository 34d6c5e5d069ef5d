package pipeline

import (
	"context"
	"fmt"
	"slices"

	"github.com/twinflow/twinflow/models/change"
)

// Approval rules (issue #15). An administrator configures rules (Config.ApprovalRules
// or SetApprovalRules); ProposeAs evaluates them once validation has passed, on the
// report and on who proposed (change.MatchRule), and the first matching rule approves
// the change in the same call: the change's approver and the ledger's transition record
// say "rule:<name>". Without a matching rule the change stays validated and waits for a
// person (Approve). Rules never approve a rejected or failed change, and Approve by a
// person is unchanged.

// Proposer is who proposes a change: the name recorded as its author and actor, and
// the roles rules match on.
type Proposer struct {
	Name  string
	Roles []string
}

// SetApprovalRules replaces the rule set atomically (nil: no rules). An invalid set is
// refused (ErrInvalid, every problem named) and the old one kept.
func (s *Service) SetApprovalRules(rules []change.ApprovalRule) error {
	if err := change.ValidateRules(rules); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	cp := slices.Clone(rules)
	s.rules.Store(&cp)
	return nil
}

// ApprovalRules returns the rule set in force (a copy).
func (s *Service) ApprovalRules() []change.ApprovalRule {
	if p := s.rules.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// ProposeAs is Propose by p, followed by the approval rules: a validated change that a
// rule matches is returned approved (Approver "rule:<name>").
func (s *Service) ProposeAs(ctx context.Context, cs *change.ChangeSet, p Proposer) (*Change, error) {
	c, err := s.Propose(ctx, cs, p.Name)
	if err != nil || c == nil || c.State != change.StateValidated {
		return c, err
	}
	return c, s.applyRules(ctx, c, p)
}

// applyRules approves a validated change when a rule matches.
func (s *Service) applyRules(ctx context.Context, c *Change, p Proposer) error {
	rules := s.ApprovalRules()
	if len(rules) == 0 {
		return nil
	}
	a, ok := change.MatchRule(rules, change.ApprovalRequest{Kind: c.ChangeSet.Kind, Author: c.Author, Roles: p.Roles, Report: c.Report})
	if !ok {
		return nil
	}
	c.Approver = a.Approver
	reason := fmt.Sprintf("approved by rule %s", a.Rule)
	if a.Margin >= 0 {
		reason += fmt.Sprintf(" (SLO margin %.1f%%)", 100*a.Margin)
	}
	if err := s.transition(ctx, c, change.StateApproved, a.Approver, reason); err != nil {
		c.Approver = ""
		return err
	}
	return nil
}
