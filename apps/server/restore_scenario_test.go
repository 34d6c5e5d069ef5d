package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/monitor"
)

// TestRestorationOnStandIn is the done-when scenario of issue 17 item 6 (REQ-REL-01)
// on the stand-in network: twinflow-node processes for a square a-b-c / a-d-c, the
// server's telemetry, change pipeline (real commit engine over gNMI) and closed loops
// with an approval rule. A sim node is told its port to c is down (the standin fault
// endpoint); telemetry reports the link down through telesync; restoration reroutes
// the flow crossing it in a fork, the pipeline validates and commits the move; the
// flow is back within its SLO on the other path; the event stream and the ledger show
// each step; detection and time to restore are recorded separately.
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
	for _, d := range []string{"a", "b", "c", "d"} {
		net.Devices = append(net.Devices, network.Device{ID: d, Type: network.DeviceRouter})
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
	// back within its SLO: 10 Gb/s predicted on a-d-c (nothing else there), 4 ms
	if r := rec.PredictedGbps["gold"]; r < 3 || len(rec.SLOMisses) != 0 {
		t.Fatalf("predicted %v, misses %v", rec.PredictedGbps, rec.SLOMisses)
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
	alarmed := false
	for done := false; !done; {
		select {
		case ev := <-events.C:
			if ev.Table == monitor.TableAlarms && ev.Op == twin.OpCreate {
				if ae, ok := ev.Object.(*monitor.AlarmEvent); ok && ae.Alarm.Key == "link-down:bc" {
					alarmed = true
				}
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
	// the ledger: the change's transitions and the restoration record
	led, err := st.Ledger().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, l := range led {
		if l.Subject == rec.Change || l.Subject == rec.ID {
			kinds = append(kinds, l.Kind)
		}
	}
	if !slices.Contains(kinds, "restoration.completed") || !slices.Contains(kinds, repository.KindChangeTransition) {
		t.Fatalf("ledger records of the restoration: %v", kinds)
	}
}
