package monitor

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestThresholdHysteresis (seed 000 §3.5.1, operator-defined threshold-crossing alerts): a value hovering around the raise level raises
// once and does not clear until it falls below the clear level; no flapping.
func TestThresholdHysteresis(t *testing.T) {
	th := Threshold{Direction: Above, Raise: 0.8, Clear: 0.6}
	values := []float64{0.5, 0.79, 0.81, 0.79, 0.81, 0.7, 0.61, 0.8, 0.59, 0.79, 0.8, 0.81}
	want := []bool{false, false, true, true, true, true, true, true, false, false, false, true}
	active, raises, clears := false, 0, 0
	for i, v := range values {
		next := th.Next(active, v)
		if next != want[i] {
			t.Fatalf("step %d value %v: active %v, want %v", i, v, next, want[i])
		}
		if next && !active {
			raises++
		}
		if !next && active {
			clears++
		}
		active = next
	}
	if raises != 2 || clears != 1 {
		t.Errorf("raises %d clears %d; want 2 and 1", raises, clears)
	}
	// Below thresholds mirror it.
	lo := Threshold{Direction: Below, Raise: 1, Clear: 2}
	if !lo.Next(false, 0.5) || !lo.Next(true, 1.5) || lo.Next(true, 2.5) || lo.Next(false, 1.5) {
		t.Error("below threshold: wrong hysteresis")
	}
	// NaN keeps the state.
	if !th.Next(true, nan()) || th.Next(false, nan()) {
		t.Error("NaN changed the state")
	}
}

func nan() float64 { var z float64; return z / z }

// TestNoFlapping drives a noisy signal around the raise level: with hysteresis it
// raises once; with Clear == Raise (no band) the same signal flaps.
func TestNoFlapping(t *testing.T) {
	count := func(th Threshold) int {
		active, n := false, 0
		for i := range 200 {
			v := 0.8 + 0.02*float64(i%3-1) // 0.78, 0.80, 0.82 ...
			if next := th.Next(active, v); next != active {
				n++
				active = next
			}
		}
		return n
	}
	if n := count(Threshold{Direction: Above, Raise: 0.81, Clear: 0.7}); n != 1 {
		t.Errorf("with hysteresis: %d transitions, want 1", n)
	}
	if n := count(Threshold{Direction: Above, Raise: 0.79, Clear: 0.79}); n < 50 {
		t.Errorf("without a band: only %d transitions; the test signal should flap", n)
	}
}

func TestDescriptorValidate(t *testing.T) {
	good := `{"id":"k1","kind":"link","subject":"L1","metric":"utilisation","sample_interval_s":1,
		"threshold":{"direction":"above","raise":0.9,"clear":0.8}}`
	d, err := ParseDescriptor([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if d.Threshold.Severity != SeverityMajor || d.Interval() != time.Second {
		t.Errorf("defaults: %+v", d)
	}
	bad := map[string]string{
		"kind":              `{"id":"k","kind":"router","subject":"a","metric":"x","sample_interval_s":1}`,
		"metric":            `{"id":"k","kind":"link","subject":"a","metric":"reachable","sample_interval_s":1}`,
		"sample_interval_s": `{"id":"k","kind":"device","subject":"a","metric":"reachable","sample_interval_s":0.01}`,
		"id":                `{"id":"k k","kind":"device","subject":"a","metric":"reachable","sample_interval_s":1}`,
		"endpoint":          `{"id":"k","kind":"endpoint","subject":"a","metric":"oper_up","sample_interval_s":1}`,
		"clear":             `{"id":"k","kind":"device","subject":"a","metric":"reachable","sample_interval_s":1,"threshold":{"direction":"above","raise":1,"clear":2}}`,
		"raise":             `{"id":"k","kind":"device","subject":"a","metric":"reachable","sample_interval_s":1,"threshold":{"direction":"above","raise":1e13,"clear":2}}`,
		"severity":          `{"id":"k","kind":"device","subject":"a","metric":"reachable","sample_interval_s":1,"threshold":{"direction":"below","raise":1,"clear":2,"severity":"fatal"}}`,
		"unknown":           `{"id":"k","kind":"device","subject":"a","metric":"reachable","sample_interval_s":1,"x":1}`,
		"trailing":          `{"id":"k","kind":"device","subject":"a","metric":"reachable","sample_interval_s":1} {}`,
	}
	for field, doc := range bad {
		_, err := ParseDescriptor([]byte(doc))
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", field, err)
			continue
		}
		if field != "unknown" && field != "trailing" && !strings.Contains(err.Error(), field) {
			t.Errorf("%s: error %q does not name the field", field, err)
		}
	}
	if _, err := ParseDescriptor(make([]byte, MaxDescriptorBytes+1)); !errors.Is(err, ErrInvalid) {
		t.Error("oversized descriptor accepted")
	}
}

// TestCorrelate (REQ-MON-04, REQ-MON-07, seed 000 §3.5.1 intelligent grouping): one failed link gives one root with the
// flows and the services on it as children; a link of an unreachable device is that
// device's child.
func TestCorrelate(t *testing.T) {
	rel := Relations{
		LinkFlows:   map[string][]string{"L1": {"f2", "f1"}, "L2": {"f3"}, "L3": {"f1"}},
		FlowOwner:   map[string]string{"f1": "svc-a", "f2": "svc-a", "f3": "sl-b"},
		OwnerKind:   map[string]Kind{"sl-b": KindSlice},
		LinkDevices: map[string][2]string{"L1": {"A", "B"}, "L2": {"C", "D"}, "L3": {"B", "C"}},
	}
	conds := Correlate(nil, []string{"L1"}, rel)
	got := map[string]string{}
	for _, c := range conds {
		got[c.Key] = c.Parent
	}
	want := map[string]string{"link-down:L1": "", "flow-affected:f1": "link-down:L1", "flow-affected:f2": "link-down:L1",
		"service-affected:svc-a": "link-down:L1"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups %v\nwant %v", got, want)
	}
	conds = Correlate([]string{"D"}, []string{"L2", "L3", "L1"}, rel)
	got = map[string]string{}
	kinds := map[string]Kind{}
	for _, c := range conds {
		got[c.Key] = c.Parent
		kinds[c.Key] = c.SubjectKind
	}
	if got["link-down:L2"] != "device-unreachable:D" || got["link-down:L1"] != "" || got["flow-affected:f1"] != "link-down:L1" ||
		got["flow-affected:f3"] != "link-down:L2" || got["service-affected:sl-b"] != "link-down:L2" || kinds["service-affected:sl-b"] != KindSlice {
		t.Errorf("groups %v", got)
	}
	// A threshold alarm on a failed link's KPI joins the link's group.
	th := []Condition{{Key: "threshold:k1", Type: TypeThreshold, SubjectKind: KindLink, Subject: "L1"},
		{Key: "threshold:k2", Type: TypeThreshold, SubjectKind: KindLink, Subject: "L9"}}
	Adopt(th, RootsOf(conds))
	if th[0].Parent != "link-down:L1" || th[1].Parent != "" {
		t.Errorf("adopt: %+v", th)
	}
}

func TestReconcile(t *testing.T) {
	n := 0
	newID := func() string { n++; return fmt.Sprintf("a%d", n) }
	t0 := time.Unix(1000, 0)
	scope := []AlarmType{TypeLinkDown, TypeFlowAffected, TypeServiceAffected, TypeDeviceUnreachable}
	rel := Relations{LinkFlows: map[string][]string{"L1": {"f1"}}}
	tr := Reconcile(nil, Correlate(nil, []string{"L1"}, rel), scope, t0, newID)
	if len(tr) != 2 || !tr[0].New || !tr[1].New {
		t.Fatalf("raise: %+v", tr)
	}
	active := map[string]Alarm{}
	for _, x := range tr {
		active[x.Alarm.Key] = x.Alarm
	}
	if active["flow-affected:f1"].ParentID != active["link-down:L1"].ID {
		t.Errorf("child's parent ID %q, root %q", active["flow-affected:f1"].ParentID, active["link-down:L1"].ID)
	}
	// Same conditions again: nothing happens.
	if tr := Reconcile(active, Correlate(nil, []string{"L1"}, rel), scope, t0.Add(time.Second), newID); len(tr) != 0 {
		t.Errorf("steady state: %+v", tr)
	}
	// An out-of-scope alarm stays; the failure cleared clears root and child.
	active["threshold:k"] = Alarm{ID: "x", Condition: Condition{Key: "threshold:k", Type: TypeThreshold}, State: Raised}
	tr = Reconcile(active, nil, scope, t0.Add(2*time.Second), newID)
	if len(tr) != 2 {
		t.Fatalf("clear: %+v", tr)
	}
	for _, x := range tr {
		if x.New || x.Alarm.State != Cleared || !x.Alarm.Cleared.Equal(t0.Add(2*time.Second)) {
			t.Errorf("clear: %+v", x)
		}
	}
}

func TestCompare(t *testing.T) {
	p := Prediction{FlowRates: map[string]float64{"f1": 1, "f2": 3}, FlowPaths: map[string][]string{"f1": {"L1", "L2"}, "f2": {"L2"}}}
	b := Bound{Relative: 0.2, AbsoluteGbps: 0.01}
	ok := Compare(p, map[string]float64{"L1": 0.95, "L2": 4.1, "L3": 0}, b)
	if ok.Diverged {
		t.Errorf("within bound: %+v", ok)
	}
	bad := Compare(p, map[string]float64{"L1": 0.5, "L2": 3.5}, b)
	if !bad.Diverged || fmt.Sprint(bad.DivergedLinks) != "[L1]" || fmt.Sprint(bad.DivergedFlows) != "[f1]" {
		t.Errorf("diverged: links %v flows %v", bad.DivergedLinks, bad.DivergedFlows)
	}
	for _, f := range bad.Flows {
		if f.Flow == "f1" && f.ObservedGbps != 0.5 {
			t.Errorf("f1 estimate %v, want 0.5 (its share of L2 is 0.875, of L1 0.5)", f.ObservedGbps)
		}
	}
	if un := Compare(p, map[string]float64{"L2": 4}, b); fmt.Sprint(un.Unobserved) != "[L1]" {
		t.Errorf("unobserved %v", un.Unobserved)
	}
	// Unexpected traffic on a link with no predicted flow diverges too.
	if x := Compare(p, map[string]float64{"L1": 1, "L2": 4, "L9": 1}, b); fmt.Sprint(x.DivergedLinks) != "[L9]" {
		t.Errorf("unexpected traffic: %v", x.DivergedLinks)
	}
	if err := (Bound{Relative: 0}).Validate(); err == nil {
		t.Error("zero relative bound accepted")
	}
}
