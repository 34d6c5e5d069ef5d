package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/physical/commit"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// cutDevices makes devices unreachable on demand (a partition between the controller
// and the device: every Get and Set fails, the device keeps what it holds).
type cutDevices struct {
	inner commit.Devices
	mu    sync.Mutex
	cut   map[string]bool
}

func (c *cutDevices) set(dev string, cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut[dev] = cut
}

func (c *cutDevices) Device(ctx context.Context, id string) (commit.Device, error) {
	c.mu.Lock()
	cut := c.cut[id]
	c.mu.Unlock()
	if cut {
		return nil, errors.New("device " + id + " unreachable (partitioned)")
	}
	return c.inner.Device(ctx, id)
}

// TestDeviceLostInConfirmWindowResolves (REQ-REL-02, REQ-REL-03; torture: a device
// partitioned during the confirm window): the confirmation cannot read the lost
// device, so every device is rolled back; the lost one cannot be restored and the
// change ends failed with that device restore_failed and pending — never "unknown":
// the record says which device is where. Once the device is back, one command
// (ResolveChange, `twinflow change resolve`) restores it and reports every device at
// its pre-image.
func TestDeviceLostInConfirmWindowResolves(t *testing.T) {
	l := newLab(t, 3)
	ctx := context.Background()
	proposeCommit(t, l, mtuChange("base", 1500, "tfc-r1", "tfc-r2", "tfc-r3"))
	before := l.snapshot(t)
	l.close()
	cut := &cutDevices{cut: map[string]bool{}}
	l.open(t, func(d commit.Devices) commit.Devices { cut.inner = d; return cut })

	c := proposeApproved(t, l, mtuChange("window", 9000, "tfc-r1", "tfc-r2", "tfc-r3"))
	c, err := l.svc.Commit(ctx, c.ID, "carla", time.Minute)
	if err != nil || c.State != change.StateCommitting {
		t.Fatalf("commit with a window: %v %s", err, c.State)
	}
	cut.set("tfc-r2", true) // lost during the window, holding the intent
	c, _ = l.svc.Confirm(ctx, c.ID, "carla")
	if c.State != change.StateFailed || c.Commit == nil || !c.Commit.Pending {
		t.Fatalf("confirm with a lost device: state %s, record %+v", c.State, c.Commit)
	}
	if st := c.Commit.Devices["tfc-r2"].Status; st != change.DeviceRestoreFailed {
		t.Fatalf("lost device status %s; want restore_failed", st)
	}
	for _, d := range []string{"tfc-r1", "tfc-r3"} {
		if st := c.Commit.Devices[d].Status; st != change.DeviceRestored {
			t.Errorf("%s status %s; want restored", d, st)
		}
	}
	// resolve while the device is still away: it stays pending and is reported
	// unreachable, the others at their pre-image
	res, err := l.svc.ResolveChange(ctx, c.ID, "carla")
	if err != nil {
		t.Fatalf("resolve with the device away: %v", err)
	}
	if img := res.Devices["tfc-r2"]; img.Image != change.ImageUnreachable || !res.Change.Commit.Pending {
		t.Fatalf("device away: %+v, pending %v", img, res.Change.Commit.Pending)
	}
	if img := res.Devices["tfc-r1"]; img.Image != change.ImagePreImage {
		t.Fatalf("r1: %+v", img)
	}

	cut.set("tfc-r2", false) // back
	res, err = l.svc.ResolveChange(ctx, c.ID, "carla")
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if res.Change.State != change.StateFailed || res.Change.Commit.Pending || res.Change.Commit.Phase != change.PhaseRolledBack {
		t.Fatalf("after resolve: state %s, record %+v", res.Change.State, res.Change.Commit)
	}
	for _, d := range []string{"tfc-r1", "tfc-r2", "tfc-r3"} {
		if img := res.Devices[d]; img.Image != change.ImagePreImage {
			t.Errorf("%s after resolve: %+v; want pre-image", d, img)
		}
	}
	sameConfigs(t, "after resolve", before, l.snapshot(t))
	// the stored change shows the resolved record (the journal is ahead of the report)
	got, err := l.svc.Get(ctx, c.ID)
	if err != nil || got.Commit == nil || got.Commit.Pending {
		t.Fatalf("stored change after resolve: %v %+v", err, got.Commit)
	}
	res2, err := l.store.Ledger().Verify(ctx)
	if err != nil || !res2.OK {
		t.Fatalf("ledger: %+v %v", res2, err)
	}
}

// TestResolveStuckCommitting (REQ-REL-02; torture seed 314: PostgreSQL restarted 68 ms
// into a commit with a confirm window, so neither the journal's rollback result nor
// the final transition was stored and the change stayed committing in a live
// controller): resolve rolls the commit back from the journal and what the devices
// hold, and the change ends rolled_back.
func TestResolveStuckCommitting(t *testing.T) {
	l := newLab(t, 3)
	ctx := context.Background()
	proposeCommit(t, l, mtuChange("base", 1500, "tfc-r1", "tfc-r2", "tfc-r3"))
	before := l.snapshot(t)
	c := proposeApproved(t, l, mtuChange("stuck", 9000, "tfc-r1", "tfc-r2", "tfc-r3"))
	l.close()
	// A controller killed with two of three devices set leaves the journal at applying and
	// the change committing; this process plays the controller that lived on (no
	// Recover at start).
	sets := 0
	l.killController(t, controllerSpec{ChangeID: c.ID, Slow: "tfc-r3"}, func(line string) bool {
		if len(line) > 4 && line[:4] == "SET " {
			sets++
		}
		return sets == 2
	})
	l.open(t, nil)
	got, _ := l.svc.Get(ctx, c.ID)
	if got.State != change.StateCommitting {
		t.Fatalf("state %s; want committing", got.State)
	}
	res, err := l.svc.ResolveChange(ctx, c.ID, "carla")
	if err != nil || res.Change.State != change.StateRolledBack {
		t.Fatalf("resolve: %v %+v", err, res)
	}
	for _, d := range []string{"tfc-r1", "tfc-r2", "tfc-r3"} {
		if img := res.Devices[d]; img.Image != change.ImagePreImage {
			t.Errorf("%s: %+v", d, img)
		}
	}
	sameConfigs(t, "after resolve", before, l.snapshot(t))
	if got, _ = l.svc.Get(ctx, c.ID); got.State != change.StateRolledBack {
		t.Fatalf("stored state %s", got.State)
	}
	// on a change that ended, resolve only reads the devices
	if res, err = l.svc.ResolveChange(ctx, c.ID, "carla"); err != nil || res.Devices["tfc-r1"].Image != change.ImagePreImage {
		t.Fatalf("resolve of a rolled-back change: %v %+v", err, res)
	}
	// a change without a commit cannot be resolved
	d := proposeApproved(t, l, mtuChange("never", 9100, "tfc-r1"))
	if _, err := l.svc.ResolveChange(ctx, d.ID, "carla"); !errors.Is(err, pipeline.ErrState) {
		t.Fatalf("resolve of an approved change: %v", err)
	}
}

// setCut fails every Set of a cut device (a device that answers reads but whose Sets
// time out: they may or may not have been applied).
type setCut struct {
	commit.Device
	cut *cutDevices
	id  string
}

func (d setCut) Set(ctx context.Context, ops []change.Op) error {
	d.cut.mu.Lock()
	cut := d.cut.cut["set:"+d.id]
	if cut {
		d.cut.cut[d.id] = true // and it stays away for the rollback
	}
	d.cut.mu.Unlock()
	if cut {
		return errors.New("set " + d.id + ": deadline exceeded")
	}
	return d.Device.Set(ctx, ops)
}

type setCutDevices struct{ *cutDevices }

func (c setCutDevices) Device(ctx context.Context, id string) (commit.Device, error) {
	d, err := c.cutDevices.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	return setCut{Device: d, cut: c.cutDevices, id: id}, nil
}

// TestPendingRestoreBlocksLaterCommits (REQ-REL-01; torture seed 455): a commit whose
// Set to a device timed out rolls back, but the device cannot be restored yet, so the
// change ends rolled_back with that device pending. A later commit onto the device
// used to succeed, and the pending restore, retried when the controller restarted,
// put the device back to the first commit's pre-image — undoing the later commits (a
// device holding a mix of changes). Now the later commit is refused (busy, naming the
// change to resolve); after `resolve` it commits, and a restart leaves it in place.
func TestPendingRestoreBlocksLaterCommits(t *testing.T) {
	l := newLab(t, 2)
	ctx := context.Background()
	proposeCommit(t, l, mtuChange("base", 1500, "tfc-r1", "tfc-r2"))
	l.close()
	cut := &cutDevices{cut: map[string]bool{}}
	l.open(t, func(d commit.Devices) commit.Devices { cut.inner = d; return setCutDevices{cut} })

	a := proposeApproved(t, l, mtuChange("a", 9000, "tfc-r1", "tfc-r2"))
	cut.set("set:tfc-r2", true)
	a, _ = l.svc.Commit(ctx, a.ID, "carla", 0)
	if a.Commit == nil || !a.Commit.Pending || a.Commit.Devices["tfc-r2"].Status != change.DeviceRestoreFailed {
		t.Fatalf("commit with a Set timing out: state %s, record %+v", a.State, a.Commit)
	}
	cut.set("set:tfc-r2", false)
	cut.set("tfc-r2", false) // back

	b := proposeApproved(t, l, mtuChange("b", 9100, "tfc-r2"))
	if _, err := l.svc.Commit(ctx, b.ID, "carla", 0); !errors.Is(err, pipeline.ErrBusy) {
		t.Fatalf("commit onto a device with a pending restore: %v; want busy", err)
	}
	if res, err := l.svc.ResolveChange(ctx, a.ID, "carla"); err != nil || res.Change.Commit.Pending || res.Devices["tfc-r2"].Image != change.ImagePreImage {
		t.Fatalf("resolve: %v %+v", err, res)
	}
	b, err := l.svc.Commit(ctx, b.ID, "carla", 0)
	if err != nil || b.State != change.StateCommitted {
		t.Fatalf("commit after resolve: %v %s", err, b.State)
	}
	// a restart's recovery finds nothing pending: r2 keeps change b
	l.close()
	l.open(t, nil)
	if err := l.svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg := l.configOf(t, "tfc-r2"); !containsMTU(cfg, 9100) {
		t.Fatalf("r2 after a restart: %v; want change b (mtu 9100)", cfg)
	}
}

// TestStaleJournalDoesNotUndoLaterCommits (REQ-REL-01; torture seed 286: PostgreSQL
// restarted during a commit, so the journal kept a non-final record while the change's
// outcome was stored later from memory; at the next controller restart recovery rolled
// that commit back again, restoring its pre-images over the changes committed since).
// Recovery now journals the stored outcome first; the later change stays.
func TestStaleJournalDoesNotUndoLaterCommits(t *testing.T) {
	l := newLab(t, 1)
	ctx := context.Background()
	proposeCommit(t, l, mtuChange("base", 1500, "tfc-r1"))
	l.nodes[0].failNextApply(t)
	a := proposeApproved(t, l, mtuChange("a", 9000, "tfc-r1"))
	a, _ = l.svc.Commit(ctx, a.ID, "carla", 0)
	if a.State != change.StateRolledBack {
		t.Fatalf("a: %s", a.State)
	}
	// the journal as a failed final save leaves it: rolling back, the device applied
	stale, err := l.journal.Load(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	stale.Phase, stale.Pending = change.PhaseRollingBack, false
	stale.Devices["tfc-r1"].Status, stale.Devices["tfc-r1"].Acked = change.DeviceApplied, true
	if err := l.journal.Save(ctx, stale); err != nil {
		t.Fatal(err)
	}
	b := proposeApproved(t, l, mtuChange("b", 9100, "tfc-r1"))
	if b, err = l.svc.Commit(ctx, b.ID, "carla", 0); err != nil || b.State != change.StateCommitted {
		t.Fatalf("b: %v %s", err, b.State)
	}
	l.close()
	l.open(t, nil)
	if err := l.svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg := l.configOf(t, "tfc-r1"); !containsMTU(cfg, 9100) {
		t.Fatalf("r1 after a restart: %v; want change b (mtu 9100): recovery rolled back a again", cfg)
	}
	if rec, err := l.journal.Load(ctx, a.ID); err != nil || rec.Phase != change.PhaseRolledBack {
		t.Fatalf("a's journal after recovery: %v %+v", err, rec)
	}
}
