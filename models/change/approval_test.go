package change

import (
	"errors"
	"math"
	"testing"
)

func approvalReport(lat, latObj, rippleAfter, rippleMin float64) *Report {
	rep := &Report{Level: L1}
	rep.Add(Check{Name: "l1.latency", Level: L1, Status: Pass})
	rep.KPIs = []KPI{
		{Name: "rate", Subject: "s/g1/0-1/p0", After: F64(2), Objective: F64(2)}, // demand-capped: not counted
		{Name: "latency", Subject: "s/g1/0-1/p0", After: F64(lat), Objective: F64(latObj)},
	}
	rep.Ripple = []FlowImpact{{Flow: "gold", AfterGbps: rippleAfter, MinRateGbps: rippleMin}}
	return rep
}

// TestApprovalRules (REQ-COM-05): the first matching rule approves; kind, role,
// author, margin and level are each required; a failed report is never approved.
func TestApprovalRules(t *testing.T) {
	rules := []ApprovalRule{
		{Name: "auto-slices", Kinds: []Kind{KindSlice}, Roles: []string{"orchestrator"}, MinMargin: 0.10},
		{Name: "ops-bot", Authors: []string{"bot"}},
	}
	if err := ValidateRules(rules); err != nil {
		t.Fatal(err)
	}
	ok := approvalReport(4, 5, 8, 6) // latency margin 20%, ripple margin 33%
	cases := []struct {
		name string
		req  ApprovalRequest
		rule string
	}{
		{"slice by orchestrator", ApprovalRequest{Kind: KindSlice, Author: "osm", Roles: []string{"orchestrator"}, Report: ok}, "auto-slices"},
		{"service kind", ApprovalRequest{Kind: KindService, Author: "osm", Roles: []string{"orchestrator"}, Report: ok}, ""},
		{"other role", ApprovalRequest{Kind: KindSlice, Author: "eve", Roles: []string{"engineer"}, Report: ok}, ""},
		{"latency margin 4%", ApprovalRequest{Kind: KindSlice, Roles: []string{"orchestrator"}, Report: approvalReport(4.8, 5, 8, 6)}, ""},
		{"ripple margin 5%", ApprovalRequest{Kind: KindSlice, Roles: []string{"orchestrator"}, Report: approvalReport(4, 5, 6.3, 6)}, ""},
		{"author rule", ApprovalRequest{Kind: KindRawConfig, Author: "bot", Report: ok}, "ops-bot"},
		{"L0 only", ApprovalRequest{Kind: KindRawConfig, Author: "bot", Report: &Report{Level: L0, Passed: true}}, ""},
	}
	for _, c := range cases {
		a, matched := MatchRule(rules, c.req)
		if c.rule == "" && matched || c.rule != "" && (!matched || a.Rule != c.rule || a.Approver != "rule:"+c.rule) {
			t.Errorf("%s: got %+v matched=%v; want rule %q", c.name, a, matched, c.rule)
		}
	}
	failed := approvalReport(4, 5, 8, 6)
	failed.Add(Check{Name: "l1.ripple", Level: L1, Status: Fail})
	if _, m := MatchRule(rules, ApprovalRequest{Kind: KindRawConfig, Author: "bot", Report: failed}); m {
		t.Fatal("a failed report was approved by a rule")
	}
	// no objective at stake (a removal): unbounded margin, unless the rule requires one
	none := &Report{Level: L1, Passed: true}
	if _, m := MatchRule(rules[:1], ApprovalRequest{Kind: KindSlice, Roles: []string{"orchestrator"}, Report: none}); !m {
		t.Fatal("a report without objectives at stake did not match a margin rule")
	}
	strict := rules[0]
	strict.RequireObjective = true
	if _, m := MatchRule([]ApprovalRule{strict}, ApprovalRequest{Kind: KindSlice, Roles: []string{"orchestrator"}, Report: none}); m {
		t.Fatal("a report without objectives matched a rule requiring one")
	}
	if m, ok := Margin(ok); !ok || math.Abs(m-0.2) > 1e-9 {
		t.Fatalf("margin %v %v; want 0.2", m, ok)
	}
}

func TestValidateRules(t *testing.T) {
	err := ValidateRules([]ApprovalRule{{Name: "a"}, {Name: "a"}, {Name: "bad name"}, {Name: "m", MinMargin: math.NaN()},
		{Name: "l", MinLevel: "L9"}, {Name: "r", Roles: []string{""}}})
	if !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"rules[1].name", "rules[2].name", "rules[3].min_margin", "rules[4].min_level", "rules[5].roles[0]"} {
		if !contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestDecodeRules(t *testing.T) {
	rules, err := DecodeRules([]byte("rules:\n  - name: auto-slices\n    kinds: [slice]\n    roles: [orchestrator]\n    min_margin: 0.1\n"))
	if err != nil || len(rules) != 1 || rules[0].Kinds[0] != KindSlice || rules[0].MinMargin != 0.1 {
		t.Fatalf("%v %+v", err, rules)
	}
	if _, err := DecodeRules([]byte("rules:\n  - name: x\n    min_marign: 0.1\n")); !errors.Is(err, ErrInvalidRule) || !contains(err.Error(), "min_marign") {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := DecodeRules([]byte(`{"rules": [{"name": "x", "min_margin": -1}]}`)); !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("negative margin: %v", err)
	}
}
