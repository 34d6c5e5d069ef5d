package pipeline_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/physical/commit"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

type readerFunc func(ctx context.Context, device string, paths []string) (map[string]json.RawMessage, error)

func (f readerFunc) ReadConfig(ctx context.Context, device string, paths []string) (map[string]json.RawMessage, error) {
	return f(ctx, device, paths)
}

// outOfBand changes a device behind the controller's back (its own gNMI Set).
func outOfBand(t *testing.T, l *lab, dev string, mtu int) {
	t.Helper()
	d, err := l.devices.Device(context.Background(), dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Set(context.Background(), []change.Op{{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(itoa(mtu))}}); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// waitDrift waits for a drift event about dev (op create or remove) and returns it.
func waitDrift(t *testing.T, sub *twin.Subscription, dev string, op twin.Op, within time.Duration) *pipeline.Drift {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-sub.C:
			if ev.Table == pipeline.TableDrift && ev.ID == dev && ev.Op == op {
				return ev.Object.(*pipeline.Drift)
			}
		case <-deadline:
			t.Fatalf("no drift %s event for %s within %s", op, dev, within)
		}
	}
}

// TestDrift: an out-of-band change raises a drift event within 2 s; reconcile pushes
// the intent back, adopt takes the device's value into the twin, both as changes.
func TestDrift(t *testing.T) {
	l := newLab(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	proposeCommit(t, l, mtuChange("base", 9000, "tfc-r1", "tfc-r2"))
	det := &pipeline.DriftDetector{Service: l.svc, Interval: 200 * time.Millisecond,
		Reader: readerFunc(func(ctx context.Context, dev string, paths []string) (map[string]json.RawMessage, error) {
			return l.devices.(*commit.GNMIDevices).ReadConfig(ctx, dev, paths)
		})}
	sub := l.twins.Events().Subscribe(twin.LiveID, 0)
	defer sub.Close()
	// one whole scan right after the commit (rather than sleeping and hoping Run
	// scanned meanwhile) finds nothing
	det.Scan(ctx)
	if cur := det.Current(); len(cur) != 0 {
		t.Fatalf("drift right after a commit: %+v", cur[0].Lines)
	}
	go func() { _ = det.Run(ctx) }()

	// reconcile
	start := time.Now()
	outOfBand(t, l, "tfc-r2", 1400)
	dr := waitDrift(t, sub, "tfc-r2", twin.OpCreate, 2*time.Second)
	t.Logf("drift detected after %s", time.Since(start))
	if len(dr.Lines) != 1 || dr.Lines[0].Sign != "~" || dr.Lines[0].Before != "9000" || dr.Lines[0].After != "1400" {
		t.Fatalf("drift lines %+v", dr.Lines)
	}
	c, err := det.Reconcile(ctx, "tfc-r2", "ops")
	if err != nil || c.State != change.StateValidated {
		t.Fatalf("reconcile: %v %+v", err, c)
	}
	if _, err := l.svc.Approve(ctx, c.ID, "carla"); err != nil {
		t.Fatal(err)
	}
	if c, err = l.svc.Commit(ctx, c.ID, "carla", 0); err != nil || c.State != change.StateCommitted {
		t.Fatalf("commit reconcile: %v", err)
	}
	waitDrift(t, sub, "tfc-r2", twin.OpRemove, 3*time.Second)
	if got := l.configOf(t, "tfc-r2"); !containsMTU(got, 9000) {
		t.Fatalf("device not reconciled: %v", got)
	}

	// adopt
	outOfBand(t, l, "tfc-r1", 1600)
	waitDrift(t, sub, "tfc-r1", twin.OpCreate, 2*time.Second)
	c, err = det.Adopt(ctx, "tfc-r1", "ops")
	if err != nil || c.State != change.StateValidated {
		t.Fatalf("adopt: %v %+v", err, c)
	}
	if _, err := l.svc.Approve(ctx, c.ID, "carla"); err != nil {
		t.Fatal(err)
	}
	if c, err = l.svc.Commit(ctx, c.ID, "carla", 0); err != nil || c.State != change.StateCommitted {
		t.Fatalf("commit adopt: %v", err)
	}
	waitDrift(t, sub, "tfc-r1", twin.OpRemove, 3*time.Second)
	var dc twin.DeviceConfig
	_ = l.twins.Live().View(func(r *twin.Reader) error { dc, _ = r.DeviceConfig("tfc-r1"); return nil })
	tr, _ := change.ParseTree(dc.Config)
	if !containsMTU(tr, 1600) {
		t.Fatalf("twin did not adopt mtu 1600: %s", dc.Config)
	}
	if got := l.configOf(t, "tfc-r1"); !containsMTU(got, 1600) {
		t.Fatalf("device changed by adopt: %v", got)
	}
}

func containsMTU(t change.Tree, mtu int) bool {
	want, _ := change.ParseTree([]byte(`{"interfaces":{"interface":[{"name":"eth1","config":{"mtu":` + itoa(mtu) + `}}]}}`))
	return change.Contains(t, want)
}
