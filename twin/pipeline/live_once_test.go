package pipeline_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// wipe sets dev's eth1 to its factory configuration (MTU 1500, no description), as a
// device that restarted wiped.
func wipe(t *testing.T, l *lab, dev string) {
	t.Helper()
	ctx := context.Background()
	d, err := l.devices.Device(ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Set(ctx, []change.Op{{Op: change.OpReplace, Path: "/interfaces/interface[name=eth1]/config",
		Value: json.RawMessage(`{"name":"eth1","mtu":1500}`)}}); err != nil {
		t.Fatalf("wipe %s: %v", dev, err)
	}
}

// TestResolveDoesNotReapplyToTheLiveTwin (REQ-REL-05; torture seed 3435): a change was
// confirmed on its device and taken by the live twin, but its committed transition
// could not be stored (the repository's disk full). The device was then wiped (it
// came back with its factory configuration) before `change resolve` rolled the change
// forward. Resolve applied the change to the twin a second time, and that second
// application built the intent from a fresh read of the device: the twin's intent
// became the factory configuration, so reconciling the drift pushed the factory
// configuration instead of the change. The twin takes a confirmed change once.
func TestResolveDoesNotReapplyToTheLiveTwin(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 2)
	dev := l.nodes[0].name

	c := proposeApproved(t, l, mtuChange("once", 1603, dev))
	l.ledgerFailAfterLive.Store(true)
	_, err := l.svc.Commit(ctx, c.ID, "op", 0)
	l.ledgerFailAfterLive.Store(false)
	if err == nil {
		t.Fatal("commit with the committed transition refused succeeded")
	}
	if got, gerr := l.svc.Get(ctx, c.ID); gerr != nil || got.State != change.StateCommitting {
		t.Fatalf("state with the committed transition refused: %v %v, want committing", got.State, gerr)
	}
	if m := intendedMTU(t, l, dev); m != 1603 {
		t.Fatalf("twin MTU %d after the twin took the change, want 1603", m)
	}

	// the device is wiped: it comes back with its factory MTU and no description
	wipe(t, l, dev)

	l.ledgerFail.Store(false)
	res, err := l.svc.ResolveChange(ctx, c.ID, "op")
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if res.Change.State != change.StateCommitted {
		t.Fatalf("state after resolve: %s, want committed", res.Change.State)
	}
	if m := intendedMTU(t, l, dev); m != 1603 {
		t.Fatalf("twin MTU %d after resolve, want the change's 1603 (the device was wiped since; the twin took the change before)", m)
	}
}

// TestLiveTwinIgnoresAWipedReadBack (REQ-REL-05; torture seed 3435, the other order):
// the live twin could not take a confirmed change (its journal refused writes for
// longer than the commit retries), and the device was wiped before `change resolve`
// applied the change to the twin. The commit's verified read-back was used up by the
// first attempt, so the twin's intent was built from a fresh read of the device: its
// factory configuration. A read-back that does not hold the change's operations is
// not the change's intent: the twin takes the previous intent plus the operations.
func TestLiveTwinIgnoresAWipedReadBack(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 2)
	dev := l.nodes[0].name
	defer pipeline.SetLiveRetryFor(300 * time.Millisecond)()

	c := proposeApproved(t, l, mtuChange("wiped", 1604, dev))
	l.liveFail.Store(true)
	if _, err := l.svc.Commit(ctx, c.ID, "op", 0); err == nil {
		t.Fatal("commit with the twin's journal refusing writes succeeded")
	}
	if m := intendedMTU(t, l, dev); m == 1604 {
		t.Fatal("the twin took the change while its journal refused writes")
	}
	wipe(t, l, dev)
	l.liveFail.Store(false)
	res, err := l.svc.ResolveChange(ctx, c.ID, "op")
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if res.Change.State != change.StateCommitted {
		t.Fatalf("state after resolve: %s, want committed", res.Change.State)
	}
	if m := intendedMTU(t, l, dev); m != 1604 {
		t.Fatalf("twin MTU %d after resolve, want the change's 1604 (the device was wiped before the twin took it)", m)
	}
}
