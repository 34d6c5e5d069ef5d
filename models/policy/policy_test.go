package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/policy"
)

const ruleYAML = `
id: hot-link
description: move bulk traffic off a hot link
scope: {device: r1}
priority: 10
state: active
match: any
conditions:
  - {type: kpi, name: link.r1-r2.utilisation, op: ">", value: 80}
  - {type: alarm, kind: link-down}
actions:
  - {type: reroute, flow: bulk, avoid_links: [r1-r2]}
hold_down_seconds: 30
rate_limit: {max: 2, per_seconds: 600}
timeout_seconds: 3600
`

// REQ-POL-01/02/03/04: a rule with conditions, actions, scope, priority, state, timeout.
func TestDecodeRule(t *testing.T) {
	r, err := policy.Decode([]byte(ruleYAML))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != "hot-link" || r.Scope.Device != "r1" || r.Priority != 10 || r.State != policy.StateActive ||
		len(r.Conditions) != 2 || r.Actions[0].AvoidLinks[0] != "r1-r2" || r.HoldDown() != 30*time.Second {
		t.Fatalf("decoded %+v", r)
	}
	j, err := policy.Decode([]byte(`{"id":"cap","limits":[{"type":"max-link-utilisation","percent":70}]}`))
	if err != nil || j.State != policy.StatePlanned || j.Limits[0].Percent != 70 {
		t.Fatalf("json: %+v %v", j, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	cases := map[string]string{
		`{"id":"x"}`:           "actions: a rule needs actions",
		`{"id":"x","bogus":1}`: "bogus",
		`{"id":"x","actions":[{"type":"reroute","flow":"f","avoid_links":["l"]}]}`:                                    "conditions: a rule with actions needs",
		`{"id":"x","state":"on","limits":[{"type":"max-link-utilisation","percent":50}]}`:                             "state: unknown state",
		`{"id":"x","limits":[{"type":"max-link-utilisation","percent":150}]}`:                                         "limits[0].percent",
		`{"id":"x","conditions":[{"type":"kpi","name":"k","op":"~"}],"actions":[{"type":"raise-alarm","alarm":"a"}]}`: "conditions[0].op",
		`{"id":"x","conditions":[{"type":"alarm"}],"actions":[{"type":"shape","flow":"f","rate_gbps":-1}]}`:           "actions[0].rate_gbps",
		`{"id":"x","priority":5000,"limits":[{"type":"max-link-utilisation","percent":50}]}`:                          "priority",
		`{"id":"x","hold_down_seconds":-1,"limits":[{"type":"max-link-utilisation","percent":50}]}`:                   "hold_down_seconds",
		"id: x\nlimits: [{type: frob}]\n": "unknown limit type",
		"":                                "empty document",
	}
	for in, want := range cases {
		_, err := policy.Decode([]byte(in))
		if err == nil || !errors.Is(err, policy.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v; want %q", in, err, want)
		}
	}
	if _, err := policy.Decode(make([]byte, policy.MaxDocument+1)); err == nil {
		t.Error("oversized document accepted")
	}
}

func TestEvaluate(t *testing.T) {
	r, _ := policy.Decode([]byte(ruleYAML))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := &policy.Snapshot{KPIs: map[string]float64{"link.r1-r2.utilisation": 50}}
	if ok, _ := policy.Evaluate(r, f, now); ok {
		t.Fatal("fired below the threshold")
	}
	f.KPIs["link.r1-r2.utilisation"] = 85
	ok, why := policy.Evaluate(r, f, now)
	if !ok || len(why) != 1 || !strings.Contains(why[0], "85 > 80") {
		t.Fatalf("kpi: %v %v", ok, why)
	}
	f.KPIs = nil
	f.AlarmList = []policy.Alarm{{Name: "r1-r2 down", Kind: "link-down"}}
	if ok, _ := policy.Evaluate(r, f, now); !ok {
		t.Fatal("alarm condition did not fire")
	}
	// all: both conditions needed
	r.Match = "all"
	if ok, _ := policy.Evaluate(r, f, now); ok {
		t.Fatal("all-match fired with one condition")
	}
	// events within the window only
	ev := &policy.Rule{ID: "e", Conditions: []policy.Condition{{Type: policy.CondEvent, Kind: "link-down", Subject: "ab", WithinSeconds: 10}}}
	f.EventList = []policy.Event{{Kind: "link-down", Subject: "ab", At: now.Add(-20 * time.Second)}}
	if ok, _ := policy.Evaluate(ev, f, now); ok {
		t.Fatal("old event matched")
	}
	f.EventList = append(f.EventList, policy.Event{Kind: "link-down", Subject: "ab", At: now.Add(-5 * time.Second)})
	if ok, _ := policy.Evaluate(ev, f, now); !ok {
		t.Fatal("recent event did not match")
	}
}

// REQ-POL-06: a flapping condition produces at most one action per hold-down period.
func TestGuardFlapping(t *testing.T) {
	r := &policy.Rule{ID: "flap", HoldDownSeconds: 60}
	g := policy.NewGuard()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	actions := 0
	// the condition flaps every second for five minutes
	for s := 0; s < 300; s++ {
		now := t0.Add(time.Duration(s) * time.Second)
		if s%2 == 1 {
			continue // condition false
		}
		if v := g.Check(r, now); v.Allowed {
			g.Record(r, now)
			actions++
		} else if !strings.Contains(v.Reason, "held down") {
			t.Fatalf("reason %q", v.Reason)
		}
	}
	if actions != 5 {
		t.Fatalf("%d actions in 300 s with a 60 s hold-down; want 5", actions)
	}
	rl := &policy.Rule{ID: "rl", HoldDownSeconds: 1, RateLimit: &policy.RateLimit{Max: 2, PerSeconds: 100}}
	n := 0
	for s := 0; s < 100; s += 5 {
		now := t0.Add(time.Duration(s) * time.Second)
		if g.Check(rl, now).Allowed {
			g.Record(rl, now)
			n++
		}
	}
	if n != 2 {
		t.Fatalf("rate limit let %d actions through; want 2", n)
	}
}

func TestExpiredAndTransitions(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &policy.Rule{ID: "t", State: policy.StateActive, TimeoutSeconds: 60, ActivatedAt: &at}
	if r.Expired(at.Add(59*time.Second)) || !r.Expired(at.Add(60*time.Second)) {
		t.Fatal("timeout")
	}
	if !policy.CanTransition(policy.StatePlanned, policy.StateActive) || policy.CanTransition(policy.StateActive, policy.StatePlanned) {
		t.Fatal("transitions")
	}
}

// REQ-POL-05: the limits l1.policy enforces.
func TestCheckLimits(t *testing.T) {
	rules := []policy.Rule{
		{ID: "net", State: policy.StateActive, Limits: []policy.Limit{{Type: policy.LimitMaxLinkUtilisation, Percent: 80}}},
		{ID: "planned", State: policy.StatePlanned, Limits: []policy.Limit{{Type: policy.LimitMaxLinkUtilisation, Percent: 1}}},
		{ID: "dev", State: policy.StateActive, Scope: policy.Scope{Device: "c"}, Limits: []policy.Limit{{Type: policy.LimitMaxLinkUtilisation, Percent: 10}}},
	}
	loads := []policy.LinkLoad{
		{Link: "ab", Directed: "ab", Ends: [2]string{"a", "b"}, LoadGbps: 9, CapacityGbps: 10},
		{Link: "bc", Directed: "bc", Ends: [2]string{"b", "c"}, LoadGbps: 2, CapacityGbps: 10},
	}
	vs := policy.CheckLimits(rules, loads, nil)
	if len(vs) != 2 || vs[0].Rule != "dev" || vs[0].Subject != "bc" || vs[1].Rule != "net" || !strings.Contains(vs[1].Message, "90.0% utilised") {
		t.Fatalf("%+v", vs)
	}
	if vs := policy.CheckLimits(rules, loads, func(d string) bool { return d == "bc" }); len(vs) != 1 {
		t.Fatalf("changed filter: %+v", vs)
	}
}
