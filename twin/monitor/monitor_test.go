package monitor_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	mon "github.com/twinflow/twinflow/models/monitor"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/monitor"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func ptr(v float64) *float64 { return &v }

// setup: A -L1- B -L2- C, flows f1 (A→C, 2 Gb/s, service svc) and f2 (A→B, elastic).
func setup(t *testing.T) (*twin.Manager, repository.Store, *monitor.Service, *clock) {
	t.Helper()
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "m.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ep := func(d, e string) network.EndPointRef { return network.EndPointRef{Device: d, EndPoint: e} }
	dev := func(id string) network.Device {
		return network.Device{ID: id, Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "eth1"}, {ID: "eth2"}}}
	}
	n := &network.Network{
		Devices: []network.Device{dev("A"), dev("B"), dev("C")},
		Links: []network.Link{{ID: "L1", Endpoints: []network.EndPointRef{ep("A", "eth1"), ep("B", "eth1")}, CapacityGbps: 10},
			{ID: "L2", Endpoints: []network.EndPointRef{ep("B", "eth2"), ep("C", "eth1")}, CapacityGbps: 10}},
		Flows: []network.Flow{{ID: "f1", Src: "A", Dst: "C", Path: []string{"L1", "L2"}, DemandGbps: ptr(2), Owner: "svc"},
			{ID: "f2", Src: "A", Dst: "B", Path: []string{"L1"}}},
	}
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err }); err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Unix(1_800_000_000, 0).UTC()}
	s, err := monitor.New(ctx, monitor.Config{Twins: m, Store: st.Monitoring(), Now: c.now, Settle: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return m, st, s, c
}

func observeLink(t *testing.T, m *twin.Manager, id string, up bool, ab, ba float64, at time.Time) {
	t.Helper()
	status := network.StatusEnabled
	if !up {
		status = network.StatusDisabled
	}
	if err := m.Live().ObserveLink(context.Background(), id, twin.LinkState{OperStatus: status, RateGbps: [2]float64{ab, ba},
		Utilisation: [2]float64{ab / 10, ba / 10}, At: at}); err != nil {
		t.Fatal(err)
	}
}

// TestPredictions: the twin's own prediction feeds KPIs (REQ-MON-08: the twin's
// bottleneck rates): f1 is capped at 2, f2 gets the rest of L1 (8).
func TestPredictions(t *testing.T) {
	m, _, s, _ := setup(t)
	var n *network.Network
	_ = m.Live().View(func(r *twin.Reader) error { n = r.Network(); return nil })
	p := monitor.Predict(n)
	if p.FlowRates["f1"] != 2 || p.FlowRates["f2"] != 8 {
		t.Fatalf("rates %v", p.FlowRates)
	}
	v, ok, err := s.Value(mon.Descriptor{Kind: mon.KindLink, Subject: "L1", Metric: "predicted_load_gbps"})
	if err != nil || !ok || v != 10 {
		t.Errorf("L1 predicted load %v %v %v, want 10", v, ok, err)
	}
	v, ok, _ = s.Value(mon.Descriptor{Kind: mon.KindService, Subject: "svc", Metric: "predicted_min_rate_gbps"})
	if !ok || v != 2 {
		t.Errorf("svc min rate %v %v", v, ok)
	}
}

// TestAlarmsGrouped (REQ-MON-07): a failed link raises one root alarm with its flows
// and service as children; restoring it clears them all; events reach the hub and
// subscribers; alarms are stored.
func TestAlarmsGrouped(t *testing.T) {
	m, st, s, c := setup(t)
	ctx := context.Background()
	hub := m.Events().Subscribe("", 0)
	defer hub.Close()
	sub := s.Subscribe(16)
	defer sub.Close()
	observeLink(t, m, "L1", false, 0, 0, c.now())
	if err := s.Step(ctx); err != nil {
		t.Fatal(err)
	}
	f := s.Facts()
	byKey := map[string]mon.Alarm{}
	for _, a := range f.Alarms {
		byKey[a.Key] = a
	}
	root, ok := byKey["link-down:L1"]
	if !ok || len(f.Alarms) != 4 {
		t.Fatalf("alarms %+v", f.Alarms)
	}
	for _, k := range []string{"flow-affected:f1", "flow-affected:f2", "service-affected:svc"} {
		if byKey[k].ParentID != root.ID {
			t.Errorf("%s: parent %q, want root %q", k, byKey[k].ParentID, root.ID)
		}
	}
	raises := 0
	for range 4 {
		select {
		case ev := <-sub.C:
			if ev.Op == monitor.AlarmRaise {
				raises++
			}
		case <-time.After(time.Second):
			t.Fatal("no alarm event")
		}
	}
	if raises != 4 {
		t.Errorf("%d raise events", raises)
	}
	sawHub := false
	for len(hub.C) > 0 {
		if ev := <-hub.C; ev.Table == monitor.TableAlarms && ev.Op == twin.OpCreate {
			sawHub = true
		}
	}
	if !sawHub {
		t.Error("no alarm event on the twin's hub")
	}
	// Steady: nothing new.
	c.add(time.Second)
	_ = s.Step(ctx)
	if n := len(sub.C); n != 0 {
		t.Errorf("%d events while nothing changed", n)
	}
	// Acknowledge, then restore: every alarm clears.
	if a, err := s.Acknowledge(ctx, root.ID, "op1"); err != nil || !a.Acknowledged || a.AckedBy != "op1" {
		t.Fatalf("ack %+v %v", a, err)
	}
	observeLink(t, m, "L1", true, 0, 0, c.now())
	c.add(time.Second)
	_ = s.Step(ctx)
	if f := s.Facts(); len(f.Alarms) != 0 {
		t.Errorf("after restore: %+v", f.Alarms)
	}
	got, err := s.Alarm(ctx, root.ID)
	if err != nil || got.State != mon.Cleared || !got.Acknowledged {
		t.Errorf("stored root %+v %v", got, err)
	}
	// A restarted service finds no active alarm; a raised one survives restarts.
	observeLink(t, m, "L2", false, 0, 0, c.now())
	_ = s.Step(ctx)
	s2, err := monitor.New(ctx, monitor.Config{Twins: m, Store: st.Monitoring(), Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	if f := s2.Facts(); len(f.Alarms) != 3 { // L2, f1, svc
		t.Errorf("restarted: %d active alarms, want 3", len(f.Alarms))
	}
}

// TestKPIThreshold (seed 000 §3.5.1, threshold-crossing alerts): a utilisation KPI with hysteresis raises once while
// the value hovers around the raise level and clears below the clear level; samples
// are stored and ranged.
func TestKPIThreshold(t *testing.T) {
	m, _, s, c := setup(t)
	ctx := context.Background()
	_, err := s.CreateKPI(ctx, mon.Descriptor{ID: "u1", Kind: mon.KindLink, Subject: "L1", Metric: "utilisation",
		SampleIntervalS: 1, Threshold: &mon.Threshold{Direction: mon.Above, Raise: 0.8, Clear: 0.6}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKPI(ctx, mon.Descriptor{ID: "u1", Kind: mon.KindLink, Subject: "L1", Metric: "utilisation", SampleIntervalS: 1}); !errors.Is(err, monitor.ErrConflict) {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := s.CreateKPI(ctx, mon.Descriptor{ID: "u2", Kind: mon.KindLink, Subject: "L1", Metric: "nope", SampleIntervalS: 1}); !errors.Is(err, mon.ErrInvalid) {
		t.Errorf("bad metric: %v", err)
	}
	sub := s.Subscribe(64)
	defer sub.Close()
	start := c.now()
	for _, gbps := range []float64{5, 8.5, 7.9, 8.1, 7.5, 8.2, 6.5, 5.5, 7} {
		observeLink(t, m, "L1", true, gbps, 0, c.now())
		if err := s.Step(ctx); err != nil {
			t.Fatal(err)
		}
		c.add(time.Second)
	}
	var ops []monitor.AlarmOp
	for len(sub.C) > 0 {
		ops = append(ops, (<-sub.C).Op)
	}
	if len(ops) != 2 || ops[0] != monitor.AlarmRaise || ops[1] != monitor.AlarmClear {
		t.Errorf("alarm ops %v; want one raise and one clear", ops)
	}
	_, latest, _ := s.KPI("u1")
	if latest == nil || latest.Value != 0.7 {
		t.Errorf("latest %+v", latest)
	}
	pts, err := s.Range(ctx, "u1", start, c.now(), 100)
	if err != nil || len(pts) != 9 {
		t.Fatalf("range %d %v", len(pts), err)
	}
	if err := s.DeleteKPI(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.KPI("u1"); !errors.Is(err, monitor.ErrNotFound) {
		t.Errorf("deleted kpi: %v", err)
	}
}

// TestModelDivergence: a committed change is compared Settle after its commit; the
// observed load on L2 is half the prediction, so a divergence alarm names L2 and f1.
func TestModelDivergence(t *testing.T) {
	m, _, s, c := setup(t)
	ctx := context.Background()
	observeLink(t, m, "L1", true, 10, 0, c.now())
	observeLink(t, m, "L2", true, 2, 0, c.now())
	s.Watch("chg-ok")
	_ = s.Step(ctx)
	if _, err := s.Comparison(ctx, "chg-ok"); !errors.Is(err, monitor.ErrNotFound) {
		t.Fatalf("compared before the settle time: %v", err)
	}
	c.add(5 * time.Second)
	_ = s.Step(ctx)
	cmp, err := s.Comparison(ctx, "chg-ok")
	if err != nil || cmp.Diverged {
		t.Fatalf("within the bound: %+v %v", cmp, err)
	}
	observeLink(t, m, "L2", true, 1, 0, c.now())
	cmp, err = s.Compare(ctx, "chg-bad")
	if err != nil || !cmp.Diverged || len(cmp.DivergedLinks) != 1 || cmp.DivergedLinks[0] != "L2" || len(cmp.DivergedFlows) != 1 || cmp.DivergedFlows[0] != "f1" {
		t.Fatalf("diverged: %+v %v", cmp, err)
	}
	var div *mon.Alarm
	for _, a := range s.Facts().Alarms {
		if a.Type == mon.TypeModelDivergence {
			div = &a
		}
	}
	if div == nil || div.Change != "chg-bad" || div.Links[0] != "L2" || div.Flows[0] != "f1" {
		t.Fatalf("divergence alarm %+v", div)
	}
	// Back within the bound at the next change: the alarm clears.
	observeLink(t, m, "L2", true, 2, 0, c.now())
	if cmp, _ := s.Compare(ctx, "chg-fix"); cmp.Diverged {
		t.Fatal("still diverged")
	}
	for _, a := range s.Facts().Alarms {
		if a.Type == mon.TypeModelDivergence {
			t.Errorf("divergence alarm not cleared: %+v", a)
		}
	}
}

// TestRaiseClear: another service (the policy engine) raises and clears its own
// alarms; the monitor's own types cannot be raised from outside; Step leaves them alone.
func TestRaiseClear(t *testing.T) {
	_, _, s, c := setup(t)
	ctx := context.Background()
	sub := s.Subscribe(8)
	defer sub.Close()
	a, err := s.Raise(ctx, mon.Condition{Key: "policy:p1", Type: mon.TypePolicy, SubjectKind: mon.KindLink, Subject: "L1", Text: "p1 fired"})
	if err != nil || a.ID == "" || a.State != mon.Raised || a.Severity != mon.SeverityMajor {
		t.Fatalf("raise %+v %v", a, err)
	}
	again, err := s.Raise(ctx, mon.Condition{Key: "policy:p1", Type: mon.TypePolicy, SubjectKind: mon.KindLink, Subject: "L1", Text: "p1 fired twice"})
	if err != nil || again.ID != a.ID || again.Text != "p1 fired twice" {
		t.Fatalf("raise again %+v %v", again, err)
	}
	for _, bad := range []mon.Condition{{Key: "link-down:L1", Type: mon.TypeLinkDown}, {Key: "bad key", Type: mon.TypePolicy},
		{Key: "p", Type: mon.TypePolicy, Severity: "fatal"}, {Key: "p", Type: mon.TypePolicy, Subject: "a b"}} {
		if _, err := s.Raise(ctx, bad); err == nil {
			t.Errorf("raised %+v", bad)
		}
	}
	c.add(time.Second)
	_ = s.Step(ctx)
	if f := s.Facts(); len(f.Alarms) != 1 || f.Alarms[0].Key != "policy:p1" {
		t.Fatalf("after a step: %+v", f.Alarms)
	}
	if !s.Clear(ctx, "policy:p1") || s.Clear(ctx, "policy:p1") {
		t.Error("clear: want true once, then false")
	}
	var ops []monitor.AlarmOp
	for len(sub.C) > 0 {
		ops = append(ops, (<-sub.C).Op)
	}
	if len(ops) != 3 || ops[0] != monitor.AlarmRaise || ops[1] != monitor.AlarmUpdate || ops[2] != monitor.AlarmClear {
		t.Errorf("ops %v", ops)
	}
	if _, _, err := s.Value(mon.Descriptor{Kind: mon.KindLink, Subject: "L1", Metric: "reachable"}); !errors.Is(err, mon.ErrInvalid) {
		t.Errorf("ad-hoc value of a bad metric: %v", err)
	}
}
