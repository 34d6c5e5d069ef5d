package change

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/twinflow/twinflow/models/yamldoc"
)

// Approval rules (issue #15): an administrator lets some validated changes be approved
// without a person, e.g. "slices proposed by role orchestrator that pass L1 with a
// margin of at least 10% are approved by the rule auto-slices". A rule is evaluated
// after validation, on the validated report; the first rule that matches approves the
// change, and the pipeline records "rule:<name>" as the approver (in the change and in
// the ledger's transition record). Pure: no clock, no I/O.

// ApprovalRule matches validated changes. Every set condition must hold; a rule with no
// kinds or no roles matches any kind or role.
type ApprovalRule struct {
	// Name identifies the rule; the approver is recorded as "rule:<name>".
	Name string `json:"name" yaml:"name"`
	// Kinds the change's kind must be one of (empty: any kind).
	Kinds []Kind `json:"kinds,omitempty" yaml:"kinds,omitempty"`
	// Roles the proposer must hold one of (empty: any proposer).
	Roles []string `json:"roles,omitempty" yaml:"roles,omitempty"`
	// Authors the proposer's name must be one of (empty: any name).
	Authors []string `json:"authors,omitempty" yaml:"authors,omitempty"`
	// MinMargin is the least SLO margin the report must show (0.10 = 10%, see Margin);
	// 0 asks for none. A report with no objective at stake (a removal, a change that
	// moves no flow with an SLO) has an unbounded margin.
	MinMargin float64 `json:"min_margin,omitempty" yaml:"min_margin,omitempty"`
	// RequireObjective: a report with no objective at stake does not match.
	RequireObjective bool `json:"require_objective,omitempty" yaml:"require_objective,omitempty"`
	// MinLevel is the least validation level the report must have reached ("L1" by
	// default: L0 alone predicts nothing).
	MinLevel Level `json:"min_level,omitempty" yaml:"min_level,omitempty"`
}

// ApprovalRequest is what a rule is evaluated on: the validated change and who
// proposed it.
type ApprovalRequest struct {
	Kind   Kind
	Author string
	Roles  []string
	Report *Report
}

// Approval is a rule's decision.
type Approval struct {
	Rule string `json:"rule"`
	// Approver is what the change records as its approver: "rule:<name>".
	Approver string `json:"approver"`
	// Margin is the report's SLO margin (see Margin); -1 when it has no objective.
	Margin float64 `json:"margin"`
}

// RuleApproverPrefix prefixes the approver of a change approved by a rule.
const RuleApproverPrefix = "rule:"

var ruleNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ErrInvalidRule is wrapped by ValidateRules.
var ErrInvalidRule = errors.New("change: invalid approval rule")

// MaxApprovalRules bounds a rule set.
const MaxApprovalRules = 256

// ValidateRules checks a rule set: unique well-formed names, known levels, margins in
// [0, 10], bounded lists. Every problem is named.
func ValidateRules(rules []ApprovalRule) error {
	var errs []string
	if len(rules) > MaxApprovalRules {
		errs = append(errs, fmt.Sprintf("%d rules (at most %d)", len(rules), MaxApprovalRules))
	}
	seen := map[string]bool{}
	for i, r := range rules {
		f := fmt.Sprintf("rules[%d]", i)
		if !ruleNameRe.MatchString(r.Name) {
			errs = append(errs, fmt.Sprintf("%s.name: %q (letters, digits, _ . -; at most 64)", f, r.Name))
		} else if seen[r.Name] {
			errs = append(errs, fmt.Sprintf("%s.name: %q repeats another rule's", f, r.Name))
		}
		seen[r.Name] = true
		if math.IsNaN(r.MinMargin) || r.MinMargin < 0 || r.MinMargin > 10 {
			errs = append(errs, fmt.Sprintf("%s.min_margin: %v (0 to 10; 0.1 is 10%%)", f, r.MinMargin))
		}
		switch r.MinLevel {
		case "", L1, L2:
		default:
			errs = append(errs, fmt.Sprintf("%s.min_level: %q (L1 or L2)", f, r.MinLevel))
		}
		for _, l := range []struct {
			name string
			vs   []string
		}{{"kinds", kindStrings(r.Kinds)}, {"roles", r.Roles}, {"authors", r.Authors}} {
			if len(l.vs) > 64 {
				errs = append(errs, fmt.Sprintf("%s.%s: %d entries (at most 64)", f, l.name, len(l.vs)))
			}
			for j, v := range l.vs {
				if v == "" || len(v) > 64 || strings.ContainsFunc(v, func(c rune) bool { return c < 0x21 || c == 0x7f }) {
					errs = append(errs, fmt.Sprintf("%s.%s[%d]: %q (1 to 64 printable characters)", f, l.name, j, v))
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidRule, strings.Join(errs, "; "))
	}
	return nil
}

func kindStrings(ks []Kind) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = string(k)
	}
	return out
}

// Margin is the report's least SLO margin, as a fraction of the objective: for every
// KPI with an upper-bound objective (latency, queue delay, jitter, loss),
// (objective - after) / objective; for every existing flow in the ripple with a minimum
// rate, (after - min) / min. The rate KPIs of the change's own flows are not counted: a
// service's flow demands exactly its capacity, so a met rate objective is met with
// margin 0 by construction (and an unmet one fails the report). A report without any
// counted objective has margin +Inf and ok false.
func Margin(rep *Report) (m float64, ok bool) {
	m = math.Inf(1)
	if rep == nil {
		return m, false
	}
	take := func(v float64) {
		if !math.IsNaN(v) && v < m {
			m = v
		}
		ok = true
	}
	for _, k := range rep.KPIs {
		if k.Objective == nil || k.After == nil || *k.Objective <= 0 || k.Name == "rate" || k.Name == "total_throughput" {
			continue
		}
		o, a := *k.Objective, *k.After
		take((o - a) / o)
	}
	for _, f := range rep.Ripple {
		if f.MinRateGbps > 0 {
			take((f.AfterGbps - f.MinRateGbps) / f.MinRateGbps)
		}
	}
	if math.IsNaN(m) {
		return math.Inf(-1), ok
	}
	return m, ok
}

// Matches reports whether r approves req (a passed report at or above the rule's level,
// and every condition met).
func (r ApprovalRule) Matches(req ApprovalRequest) bool {
	if req.Report == nil || !req.Report.Passed {
		return false
	}
	min := r.MinLevel
	if min == "" {
		min = L1
	}
	if !req.Report.Level.Includes(min) {
		return false
	}
	if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, req.Kind) {
		return false
	}
	if len(r.Authors) > 0 && !slices.Contains(r.Authors, req.Author) {
		return false
	}
	if len(r.Roles) > 0 && !slices.ContainsFunc(req.Roles, func(role string) bool { return slices.Contains(r.Roles, role) }) {
		return false
	}
	m, ok := Margin(req.Report)
	if (!ok && r.RequireObjective) || (r.MinMargin > 0 && m < r.MinMargin) {
		return false
	}
	return true
}

// MatchRule returns the decision of the first rule of rules that approves req, or
// false when none does (the change waits for a person).
func MatchRule(rules []ApprovalRule, req ApprovalRequest) (Approval, bool) {
	for _, r := range rules {
		if r.Matches(req) {
			m, ok := Margin(req.Report)
			if !ok || math.IsInf(m, 0) {
				m = -1
			}
			return Approval{Rule: r.Name, Approver: RuleApproverPrefix + r.Name, Margin: m}, true
		}
	}
	return Approval{}, false
}

// RuleFile is the document an administrator writes (serve --approval-rules FILE).
type RuleFile struct {
	Rules []ApprovalRule `json:"rules" yaml:"rules"`
}

// DecodeRules parses and validates a rule document (YAML or JSON; unknown fields are
// refused, as is every invalid rule, named).
func DecodeRules(data []byte) ([]ApprovalRule, error) {
	var f RuleFile
	if err := yamldoc.Decode(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRule, err)
	}
	if err := ValidateRules(f.Rules); err != nil {
		return nil, err
	}
	return f.Rules, nil
}
