package closedloop_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/observation"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
	"github.com/twinflow/twinflow/twin/telesync"
)

// feeder writes telemetry into the live twin through telesync (as the collector does)
// and hands the resulting twin events to a Recorder.
type feeder struct {
	t    testing.TB
	m    *twin.Manager
	sink *telesync.Sink
	sub  *twin.Subscription
}

func newFeeder(t testing.TB, m *twin.Manager) *feeder {
	sub := m.Events().Subscribe(twin.LiveID, m.Events().Seq())
	t.Cleanup(sub.Close)
	return &feeder{t: t, m: m, sink: telesync.NewSink(context.Background(), m.Live(), nil), sub: sub}
}

func (f *feeder) link(id string, status network.OperStatus, util float64, at time.Time) []twin.Event {
	f.sink.Observe(&observation.Batch{Links: []observation.LinkSample{{Link: id, At: at, Status: status,
		Utilisation: [2]float64{util, 0}, RateGbps: [2]float64{util * 10, 0}, HasRates: true}}})
	var out []twin.Event
	for {
		select {
		case ev := <-f.sub.C:
			out = append(out, ev)
		default: // the hub delivers during Observe
			return out
		}
	}
}

func activate(t testing.TB, e *closedloop.Engine, yaml string) {
	t.Helper()
	r, err := policy.Decode([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := e.Rules().Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Rules().SetState(ctx, r.ID, policy.StateActive); err != nil {
		t.Fatal(err)
	}
}

// REQ-POL-01/02/06: a rule fires on a KPI fed from telemetry, its action (a reroute) is
// proposed by the engine's own identity, approved by the configured approval rule and
// committed through the pipeline.
func TestEngineActsThroughPipeline(t *testing.T) {
	env := square(t, nil)
	ck := newClock()
	eng, err := closedloop.NewEngine(closedloop.EngineConfig{Twins: env.m, Pipeline: env.svc,
		Approver: closedloop.NamedRule{Name: "auto-policy"}, Now: ck.Now})
	if err != nil {
		t.Fatal(err)
	}
	activate(t, eng, `
id: hot-ab
scope: {device: a}
conditions: [{type: kpi, name: link.ab.utilisation, op: ">", value: 80}]
actions: [{type: reroute, flow: gold, avoid_links: [ab]}]
`)
	fd := newFeeder(t, env.m)
	for _, ev := range fd.link("ab", network.StatusEnabled, 0.5, ck.Now()) {
		eng.Recorder().Observe(ev)
	}
	if recs := eng.Tick(context.Background()); len(recs) != 0 {
		t.Fatalf("fired at 50%%: %+v", recs)
	}
	for _, ev := range fd.link("ab", network.StatusEnabled, 0.9, ck.Now()) {
		eng.Recorder().Observe(ev)
	}
	recs := eng.Tick(context.Background())
	if len(recs) != 1 || recs[0].Outcome != closedloop.OutcomeCommitted || recs[0].Approver != "rule:auto-policy" {
		t.Fatalf("records %+v", recs)
	}
	if p := flowPath(t, env.m, "gold"); !slices.Equal(p, []string{"ad", "dc"}) {
		t.Fatalf("gold path %v; want [ad dc]", p)
	}
	c, err := env.svc.Get(context.Background(), recs[0].Change)
	if err != nil || c.Author != closedloop.EngineUser || c.Approver != "rule:auto-policy" || c.State != change.StateCommitted {
		t.Fatalf("change %+v %v", c, err)
	}
	if got := eng.Actions("hot-ab"); len(got) != 1 || !strings.Contains(strings.Join(got[0].Why, " "), "90 > 80") ||
		!slices.Equal(got[0].Devices, []string{"a", "b", "c", "d"}) {
		t.Fatalf("actions %+v", got)
	}
}

// REQ-POL-02: a rule associated with a service acts only on that service's flows.
func TestEngineServiceOfRule(t *testing.T) {
	env := square(t, nil)
	ck := newClock()
	eng, _ := closedloop.NewEngine(closedloop.EngineConfig{Twins: env.m, Pipeline: env.svc, Now: ck.Now})
	activate(t, eng, `
id: shop-only
service: shop
conditions: [{type: alarm, name: x}]
actions: [{type: shape, flow: gold, rate_gbps: 5}]
`)
	eng.Recorder().RaiseAlarm(policy.Alarm{Name: "x"})
	recs := eng.Tick(context.Background())
	if len(recs) != 1 || recs[0].Outcome != closedloop.OutcomeFailed || !strings.Contains(recs[0].Reason, `flow gold belongs to "bank", not to the rule's service "shop"`) {
		t.Fatalf("%+v", recs)
	}
}

// Done-when: a policy whose action would violate another service's SLO is not applied,
// and says why.
func TestEngineRefusesSLOViolation(t *testing.T) {
	env := square(t, nil)
	ck := newClock()
	eng, _ := closedloop.NewEngine(closedloop.EngineConfig{Twins: env.m, Pipeline: env.svc,
		Approver: closedloop.NamedRule{Name: "auto-policy"}, Now: ck.Now})
	activate(t, eng, `
id: save-power
conditions: [{type: event, kind: link-down, subject: dc}]
actions: [{type: capacity, link: bc, capacity_gbps: 2}]
`)
	eng.Recorder().AddEvent(policy.Event{Kind: "link-down", Subject: "dc", At: ck.Now()})
	recs := eng.Tick(context.Background())
	if len(recs) != 1 || recs[0].Outcome != closedloop.OutcomeRejected ||
		!strings.Contains(recs[0].Reason, "l1.ripple: flow gold (bank): 10.0000 -> 2.0000 Gb/s, below its SLO 3.0000 Gb/s") {
		t.Fatalf("records %+v", recs)
	}
	if l, _ := env.m.Live().Link("bc"); l.CapacityGbps != 10 {
		t.Fatalf("capacity applied: %v", l.CapacityGbps)
	}
	if env.fc.count != 0 {
		t.Fatal("a rejected change was committed")
	}
}

// Done-when: a flapping condition (a link going down and up every 2 s for 5 minutes)
// produces at most one action per hold-down period (60 s): 5 proposals, not 75.
func TestEngineFlappingHoldDown(t *testing.T) {
	env := square(t, nil)
	ck := newClock()
	eng, _ := closedloop.NewEngine(closedloop.EngineConfig{Twins: env.m, Pipeline: env.svc, Now: ck.Now})
	activate(t, eng, `
id: flappy
conditions: [{type: event, kind: link-down, subject: ab, within_seconds: 1}]
actions: [{type: priority, flow: gold, class: ef}]
hold_down_seconds: 60
`)
	fd := newFeeder(t, env.m)
	status := []network.OperStatus{network.StatusDisabled, network.StatusEnabled}
	outcomes := map[closedloop.Outcome]int{}
	for s := 0; s < 300; s++ {
		for _, ev := range fd.link("ab", status[(s/2)%2], 0.1, ck.Now()) {
			eng.Recorder().Observe(ev)
		}
		for _, r := range eng.Tick(context.Background()) {
			outcomes[r.Outcome]++
		}
		ck.Add(time.Second)
	}
	list, err := env.svc.List(context.Background(), pipeline.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 5 || outcomes[closedloop.OutcomeAwaiting] != 5 {
		t.Fatalf("%d changes proposed, outcomes %v; want 5 (one per 60 s hold-down)", len(list), outcomes)
	}
	for _, c := range list {
		if c.State != change.StateValidated || c.Author != closedloop.EngineUser {
			t.Errorf("change %s: %s by %s; want validated, waiting for a person (no approval rule)", c.ID, c.State, c.Author)
		}
	}
	if outcomes[closedloop.OutcomeHeld] == 0 {
		t.Error("no held record: the hold-down was not reported")
	}
}

// A clear answer when the pipeline is busy with another change on the same device.
func TestEngineBusyDevice(t *testing.T) {
	env := square(t, nil)
	ctx := context.Background()
	if _, err := env.m.Live().Update(ctx, func(tx *twin.Txn) error {
		d, err := tx.Device("a")
		if err != nil {
			return err
		}
		nd := d.Device
		nd.Address = "127.0.0.1:9339"
		_, err = tx.PutDevice(nd, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	c, err := env.svc.Propose(ctx, &change.ChangeSet{Kind: change.KindRawConfig, DeviceOps: map[string][]change.Op{
		"a": {{Op: change.OpUpdate, Path: "/interfaces/interface[name=e1]/config", Value: []byte(`{"mtu":9000}`)}}}}, "alice")
	if err != nil || c.State != change.StateValidated {
		t.Fatalf("propose: %v %+v", err, c.Report)
	}
	if _, err := env.svc.Approve(ctx, c.ID, "carla"); err != nil {
		t.Fatal(err)
	}
	ck := newClock()
	eng, _ := closedloop.NewEngine(closedloop.EngineConfig{Twins: env.m, Pipeline: env.svc, Now: ck.Now,
		Approver: closedloop.NamedRule{Name: "auto"}})
	activate(t, eng, `
id: shut-e1
scope: {device: a}
conditions: [{type: alarm, kind: errors}]
actions: [{type: disable-interface, device: a, interface: e1}]
`)
	eng.Recorder().RaiseAlarm(policy.Alarm{Name: "a/e1 errors", Kind: "errors"})
	recs := eng.Tick(ctx)
	if len(recs) != 1 || recs[0].Outcome != closedloop.OutcomeBusy || !strings.Contains(recs[0].Reason, "change "+c.ID+" is in flight on device a") {
		t.Fatalf("records %+v", recs)
	}
}

// REQ-POL-03: an active rule is withdrawn when its timeout passes.
func TestEngineTimeout(t *testing.T) {
	env := square(t, nil)
	ck := newClock()
	eng, _ := closedloop.NewEngine(closedloop.EngineConfig{Twins: env.m, Pipeline: env.svc, Now: ck.Now})
	activate(t, eng, "id: short\ntimeout_seconds: 10\nlimits: [{type: max-link-utilisation, percent: 90}]\n")
	if recs := eng.Tick(context.Background()); len(recs) != 0 {
		t.Fatalf("%+v", recs)
	}
	ck.Add(11 * time.Second)
	recs := eng.Tick(context.Background())
	if len(recs) != 1 || recs[0].Outcome != closedloop.OutcomeWithdrawn {
		t.Fatalf("%+v", recs)
	}
	if r, _ := eng.Rules().Get("short"); r.State != policy.StateInactive {
		t.Fatalf("state %s", r.State)
	}
}
