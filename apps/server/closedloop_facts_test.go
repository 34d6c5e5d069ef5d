package server

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	mon "github.com/twinflow/twinflow/models/monitor"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/monitor"
)

// TestMonitorFactsForPolicies: policy conditions see the monitoring service's alarms
// beside the engine's own telemetry facts (issue 17: "rules with conditions on KPIs,
// alarms and events"; REQ-POL-01).
func TestMonitorFactsForPolicies(t *testing.T) {
	ctx := context.Background()
	tm, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tm.Close)
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "f.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m, err := monitor.New(ctx, monitor.Config{Twins: tm, Store: st.Monitoring()})
	if err != nil {
		t.Fatal(err)
	}
	rec := closedloop.NewRecorder(nil)
	rec.SetKPI("link.L1.utilisation", 91)
	facts := closedloop.Merged{rec, MonitorFacts{m}}

	rule := &policy.Rule{Conditions: []policy.Condition{{Type: "alarm", Kind: string(mon.TypePolicy)}}}
	if ok, _ := policy.Evaluate(rule, facts, time.Now()); ok {
		t.Fatal("the rule fired with no alarm raised")
	}
	if _, err := m.Raise(ctx, mon.Condition{Key: "policy:hot", Type: mon.TypePolicy, SubjectKind: mon.KindLink, Subject: "L1", Text: "hot"}); err != nil {
		t.Fatal(err)
	}
	if ok, why := policy.Evaluate(rule, facts, time.Now()); !ok {
		t.Fatalf("the monitor's alarm did not reach the rule: %v", why)
	}
	got := facts.Alarms()
	if len(got) != 1 || got[0] != (policy.Alarm{Name: "policy:hot", Kind: "policy", Subject: "L1"}) {
		t.Errorf("alarms %+v", got)
	}
	// KPIs: the recorder's telemetry KPI is found; a monitor KPI that does not exist is not
	if v, ok := facts.KPI("link.L1.utilisation"); !ok || v != 91 {
		t.Errorf("KPI from the recorder: %v %v", v, ok)
	}
	if _, ok := facts.KPI("no-such-kpi"); ok {
		t.Error("an unknown KPI was found")
	}
	m.Clear(ctx, "policy:hot")
	if ok, _ := policy.Evaluate(rule, facts, time.Now()); ok {
		t.Error("the rule still fires after the alarm cleared")
	}
}
