package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/monitor"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// TestRestorationOnStandIn is the done-when scenario of issue 17 item 6 (REQ-REL-01)
// on the stand-in network: twinflow-node processes for a square a-b-c / a-d-c, the
// server's telemetry, change pipeline (real commit engine over gNMI) and closed loops
// with an approval rule. A sim node is told its port to c is down (the standin fault
// endpoint); telemetry reports the link down through telesync; restoration reroutes
// the flow crossing it in a fork, the pipeline validates and commits the move; the
// flow is back within its SLO on the other path; the event stream and the ledger show
// each step; detection and time to restore are recorded separately. A compiled
// service crosses the link too, the SR policy te1 (a to c, committed to a over gNMI
// before the failure): the restoration recompiles it onto a-d-c, its change carries the
// device operations, and after the commit a's configuration read back over gNMI has the
// route out of p-ad with the segments of d and c, the record is active at generation 2
// with the validation's rate and latency KPIs within its SLOs, and a service_events
// update and the ledger's restoration record name it.
func TestRestorationOnStandIn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs twinflow-node processes")
	}
	bin := nodetest.Binary(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "r.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	live := m.Live()

	net := network.Network{}
	for i, d := range []string{"a", "b", "c", "d"} {
		net.Devices = append(net.Devices, network.Device{ID: d, Type: network.DeviceRouter,
			Labels: map[string]string{service.LabelSID: fmt.Sprintf("fc00::%d", i+1)}})
	}
	for _, l := range []struct {
		id, a, b string
		lat      float64
	}{{"ab", "a", "b", 1}, {"bc", "b", "c", 1}, {"ad", "a", "d", 2}, {"dc", "d", "c", 2}} {
		net.Links = append(net.Links, network.Link{ID: l.id, CapacityGbps: 10, LatencyMs: l.lat,
			Endpoints: []network.EndPointRef{{Device: l.a, EndPoint: "p-" + l.id}, {Device: l.b, EndPoint: "p-" + l.id}}})
		for i := range net.Devices {
			if d := &net.Devices[i]; d.ID == l.a || d.ID == l.b {
				d.Endpoints = append(d.Endpoints, network.EndPoint{ID: "p-" + l.id})
			}
		}
	}
	w, err := standin.Start(ctx, net, standin.Options{Bin: bin, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	addrs := w.Addresses()
	slo, _ := json.Marshal(change.SLO{MinRateGbps: 3, MaxLatencyMs: 10})
	if _, err := live.Update(ctx, func(tx *twin.Txn) error {
		for _, d := range net.Devices {
			d.Address, d.Drivers = addrs[d.ID], []network.DriverKind{network.DriverGNMI}
			if _, err := tx.PutDevice(d, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		for _, l := range net.Links {
			if _, err := tx.PutLink(l, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		if _, err := tx.PutFlow(network.Flow{ID: "gold", Src: "a", Dst: "c", Path: []string{"ab", "bc"}, Owner: "bank"}, twin.Upsert, twin.Any); err != nil {
			return err
		}
		_, err := tx.PutRecord(twin.TableServices, twin.Record{ID: "slo:gold", Kind: "flow_slo", Spec: slo}, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}

	env := &assembly{cfg: &Config{Demo: true}, log: log, twins: m, store: st}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		for i := len(env.shutdown) - 1; i >= 0; i-- {
			_ = env.shutdown[i](sctx)
		}
	}()
	if err := startChangePipeline(ctx, env, ChangesConfig{}); err != nil {
		t.Fatal(err)
	}
	// the monitor raises the alarms (issue 17's scenario: failure -> alarm -> restoration)
	if err := startMonitor(ctx, env, MonitorConfig{Tick: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := startClosedLoops(ctx, env, ClosedLoopConfig{ApprovalRule: "auto-restore", Restore: true}); err != nil {
		t.Fatal(err)
	}
	g := env.cfg.gnmi()
	sup := &telemetrySupervisor{live: live, sample: 100 * time.Millisecond, poll: 20 * time.Millisecond, log: log,
		dial: func(id, addr string) gnmi.Options { return g.dialOptions(id, addr, log) }}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); sup.run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	observed := func(link string) network.OperStatus {
		var got network.OperStatus
		_ = live.View(func(r *twin.Reader) error {
			if ol, err := r.ObservedLink(link); err == nil {
				got = ol.OperStatus
			}
			return nil
		})
		return got
	}
	waitFor("link bc observed up", func() bool { return observed("bc") == network.StatusEnabled })

	// a compiled service crossing bc: the SR policy te1 from a to c (1 Gb/s, 10 ms),
	// created through the pipeline (committed to a over gNMI) on a-b-c
	pl := env.nbi.Changes
	senv, err := pl.ServiceEnv(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	create, err := service.DefaultRegistry().Create(senv, &service.Service{ID: "te1", Type: service.SRPolicy,
		SR: &service.SROptions{Prefix: "10.9.0.0/16"}, Constraints: service.Constraints{CapacityGbps: 1, MaxLatencyMs: 10},
		Endpoints: []service.Endpoint{{Device: "a"}, {Device: "c"}}})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := pl.Propose(ctx, create, "alice")
	if err != nil || sc.State != change.StateValidated {
		t.Fatalf("propose te1: %v %+v", err, sc)
	}
	if _, err := pl.Approve(ctx, sc.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if sc, err = pl.Commit(ctx, sc.ID, "alice", 0); err != nil || sc.State != change.StateCommitted {
		t.Fatalf("commit te1: %v %+v", err, sc)
	}
	ga, err := gnmi.Dial(g.dialOptions("a", addrs["a"], log))
	if err != nil {
		t.Fatal(err)
	}
	defer ga.Close()
	srRoute := func() (iface string, sids []string) {
		t.Helper()
		vals, err := ga.GetJSON(ctx, gpb.GetRequest_CONFIG, "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.9.0.0/16]")
		if err != nil {
			t.Fatalf("read te1's route back from a: %v", err)
		}
		for _, v := range vals {
			iface, sids = srv6Of(t, v.JSON)
		}
		return iface, sids
	}
	if iface, sids := srRoute(); iface != "p-ab" || !slices.Equal(sids, []string{"fc00::2", "fc00::3"}) {
		t.Fatalf("te1 on a before the failure: out of %q, segments %v; want p-ab [fc00::2 fc00::3]", iface, sids)
	}

	events := m.Events().Subscribe(twin.LiveID, m.Events().Seq())
	defer events.Close()
	nb, _ := w.Node("b")
	if err := nb.Fault(ctx, "/interfaces/p-bc/down", ""); err != nil {
		t.Fatal(err)
	}
	rs := env.nbi.Restorer
	var rec closedloop.Restoration
	waitFor("a finished restoration", func() bool {
		recs := rs.Records()
		if len(recs) == 0 {
			return false
		}
		rec = recs[0]
		return true
	})
	if rec.Outcome != closedloop.OutcomeCommitted || rec.Trigger != "link-down bc" || rec.Approver != "rule:auto-restore" {
		t.Fatalf("restoration %+v", rec)
	}
	if f, err := live.Flow("gold"); err != nil || !slices.Equal(f.Path, []string{"ad", "dc"}) {
		t.Fatalf("gold after restoration: %+v %v", f, err)
	}
	// back within its SLO: 9 Gb/s predicted on a-d-c (te1 takes 1), 4 ms
	if r := rec.PredictedGbps["gold"]; r < 3 || len(rec.SLOMisses) != 0 {
		t.Fatalf("predicted %v, misses %v", rec.PredictedGbps, rec.SLOMisses)
	}
	// te1 was recompiled onto a-d-c; the devices' configuration read back over gNMI
	// has its route out of p-ad with the segments d, c
	const te1 = "te1/g2/0-1/p0"
	if len(rec.Recompiled) != 1 || rec.Recompiled[0].ID != "te1" || !slices.Equal(rec.Recompiled[0].Paths[te1], []string{"ad", "dc"}) {
		t.Fatalf("recompiled %+v (errors %v)", rec.Recompiled, rec.ServiceErrors)
	}
	if iface, sids := srRoute(); iface != "p-ad" || !slices.Equal(sids, []string{"fc00::4", "fc00::3"}) {
		t.Fatalf("te1 on a after the restoration: out of %q, segments %v; want p-ad [fc00::4 fc00::3]", iface, sids)
	}
	if f, err := live.Flow(te1); err != nil || !slices.Equal(f.Path, []string{"ad", "dc"}) {
		t.Fatalf("te1's flow after restoration: %+v %v", f, err)
	}
	var svcRec twin.Record
	_ = live.View(func(r *twin.Reader) error { svcRec, _ = r.Record(twin.TableServices, "te1"); return nil })
	var spec service.Service
	if err := json.Unmarshal(svcRec.Spec, &spec); err != nil || svcRec.Status != string(service.StatusActive) || spec.Generation != 2 {
		t.Fatalf("te1's record after restoration: %+v %v", svcRec, err)
	}
	// the SLA status from telemetry (bc still reported down): te1 stays active
	if st := observed("bc"); st != network.StatusDisabled && st != network.StatusUnreachable {
		t.Fatalf("bc observed %s after the fault", st)
	}
	slaEvs, err := pl.CheckSLAs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range slaEvs {
		if ev.ID == "te1" {
			t.Fatalf("te1's SLA status after restoration: %+v", ev)
		}
	}
	_ = live.View(func(r *twin.Reader) error { svcRec, _ = r.Record(twin.TableServices, "te1"); return nil })
	if svcRec.Status != string(service.StatusActive) {
		t.Fatalf("te1 after the SLA check: %s", svcRec.Status)
	}
	c, err := env.nbi.Changes.Get(ctx, rec.Change)
	if err != nil || c.State != change.StateCommitted || c.Author != closedloop.RestoreUser || c.Commit == nil {
		t.Fatalf("change %+v %v", c, err)
	}
	for _, ck := range c.Report.Checks {
		if ck.Status == change.Fail {
			t.Fatalf("check %s failed: %s", ck.Name, ck.Message)
		}
	}
	// te1 within its SLOs on the new path: the validation's KPIs of its flow
	kpis := map[string]bool{}
	for _, k := range c.Report.KPIs {
		if k.Subject == te1 && k.After != nil && k.Objective != nil {
			switch k.Name {
			case "rate":
				kpis[k.Name] = *k.After >= *k.Objective
			case "latency":
				kpis[k.Name] = *k.After <= *k.Objective
			}
		}
	}
	if !kpis["rate"] || !kpis["latency"] {
		t.Fatalf("te1's KPIs in the restoration's report: %v (%+v)", kpis, c.Report.KPIs)
	}
	if len(c.ChangeSet.DeviceOps["a"]) == 0 {
		t.Fatalf("the restoration's change carries no device operations for a: %+v", c.ChangeSet.DeviceOps)
	}
	if rec.FailureAt.IsZero() || rec.DetectionMs < 0 || rec.TimeToRestoreMs <= 0 {
		t.Fatalf("times: failure %v detection %v ms restore %v ms", rec.FailureAt, rec.DetectionMs, rec.TimeToRestoreMs)
	}
	t.Logf("detection %.1f ms (telemetry sample to controller), time to restore %.1f ms (detection to commit), compute %.1f ms",
		rec.DetectionMs, rec.TimeToRestoreMs, rec.ComputeMs)
	// the event trail: each step on the stream
	// the link-down alarm: raised by the monitor from the same telemetry, with the
	// affected flow as its child
	waitFor("the link-down alarm", func() bool {
		for _, a := range env.nbi.Monitor.Facts().Alarms {
			if a.Key == "link-down:bc" {
				return true
			}
		}
		return false
	})
	var steps []string
	alarmed, svcMoved := false, false
	for done := false; !done; {
		select {
		case ev := <-events.C:
			if ev.Table == monitor.TableAlarms && ev.Op == twin.OpCreate {
				if ae, ok := ev.Object.(*monitor.AlarmEvent); ok && ae.Alarm.Key == "link-down:bc" {
					alarmed = true
				}
			}
			if se, ok := ev.Object.(*pipeline.ServiceEvent); ok && ev.Table == pipeline.TableServiceEvents && se.ID == "te1" &&
				se.Event == "update" && se.Change == rec.Change && slices.Equal(se.Paths[te1], []string{"ad", "dc"}) {
				svcMoved = true
			}
			if ev.Table == closedloop.TableRestorations && ev.Op == twin.OpUpdate {
				if o, ok := ev.Object.(map[string]any); ok {
					if s, ok := o["step"].(closedloop.Step); ok {
						steps = append(steps, s.Name)
					}
				}
			}
		default:
			done = true
		}
	}
	want := []string{"detected", "fork", "computed", "proposed", "validated", "approved", "committed"}
	if !slices.Equal(steps, want) {
		t.Fatalf("event trail %v; want %v", steps, want)
	}
	if !alarmed {
		t.Fatal("no link-down:bc alarm on the event stream")
	}
	if !svcMoved {
		t.Fatal("no service_events update of te1 by the restoration's change, with its new path, on the event stream")
	}
	// the ledger: the change's transitions and the restoration record
	led, err := st.Ledger().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	named := false
	for _, l := range led {
		if l.Subject == rec.Change || l.Subject == rec.ID {
			kinds = append(kinds, l.Kind)
		}
		if l.Kind == "restoration.completed" && l.Subject == rec.ID && strings.Contains(string(l.Payload), `"id":"te1"`) {
			named = true
		}
	}
	if !slices.Contains(kinds, "restoration.completed") || !slices.Contains(kinds, repository.KindChangeTransition) || !named {
		t.Fatalf("ledger records of the restoration: %v (te1 named: %v)", kinds, named)
	}
}

// srv6Segment is one segment of an SRv6 next hop read back as JSON_IETF.
type srv6Segment struct {
	Index  json.Number `json:"index"`
	Config struct {
		SID string `json:"sid"`
	} `json:"config"`
}

// srv6Of returns the SRv6 next hop's interface and segment SIDs (in index order) of a
// static route read back as JSON_IETF.
func srv6Of(t *testing.T, js []byte) (string, []string) {
	t.Helper()
	var st struct {
		NextHops struct {
			NextHop []struct {
				SRv6 struct {
					Config struct {
						Interface string `json:"interface"`
					} `json:"config"`
					Segments struct {
						Segment []srv6Segment `json:"segment"`
					} `json:"segments"`
				} `json:"srv6"`
			} `json:"next-hop"`
		} `json:"next-hops"`
	}
	// module-qualified member names (JSON_IETF) are reduced to their local names
	var raw any
	if err := json.Unmarshal(js, &raw); err != nil {
		t.Fatalf("route %s: %v", js, err)
	}
	b, _ := json.Marshal(unqualify(raw))
	if err := json.Unmarshal(b, &st); err != nil || len(st.NextHops.NextHop) != 1 {
		t.Fatalf("route %s: %v", js, err)
	}
	nh := st.NextHops.NextHop[0].SRv6
	segs := nh.Segments.Segment
	slices.SortFunc(segs, func(a, b srv6Segment) int { return strings.Compare(a.Index.String(), b.Index.String()) })
	var sids []string
	for _, sg := range segs {
		sids = append(sids, sg.Config.SID)
	}
	return nh.Config.Interface, sids
}

func unqualify(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if _, local, ok := strings.Cut(k, ":"); ok {
				k = local
			}
			out[k] = unqualify(e)
		}
		return out
	case []any:
		for i := range x {
			x[i] = unqualify(x[i])
		}
		return x
	}
	return v
}
