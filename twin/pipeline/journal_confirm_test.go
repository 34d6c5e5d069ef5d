package pipeline_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/physical/commit"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin/pipeline"
)

var errNoSpace = errors.New("ledger writes: no space left on device (test)")

// ledgerFailStore refuses ledger appends and change transitions while fail is set (a
// repository whose disk is full for the ledger's tables), and passes everything else.
type ledgerFailStore struct {
	repository.Store
	fail *atomic.Bool
}

func (s ledgerFailStore) Ledger() repository.Ledger {
	return ledgerFailLedger{Ledger: s.Store.Ledger(), fail: s.fail}
}

func (s ledgerFailStore) Changes() repository.Changes {
	return ledgerFailChanges{Changes: s.Store.Changes(), fail: s.fail}
}

type ledgerFailLedger struct {
	repository.Ledger
	fail *atomic.Bool
}

func (l ledgerFailLedger) Append(ctx context.Context, e repository.LedgerEntry) (repository.LedgerRecord, error) {
	if l.fail.Load() {
		return repository.LedgerRecord{}, errNoSpace
	}
	return l.Ledger.Append(ctx, e)
}

type ledgerFailChanges struct {
	repository.Changes
	fail *atomic.Bool
}

func (c ledgerFailChanges) Transition(ctx context.Context, id string, req repository.TransitionRequest) (repository.Change, repository.Transition, error) {
	if c.fail.Load() {
		return repository.Change{}, repository.Transition{}, errNoSpace
	}
	return c.Changes.Transition(ctx, id, req)
}

func (c ledgerFailChanges) TransitionSteps(ctx context.Context, id string, steps ...repository.TransitionRequest) (repository.Change, []repository.Transition, error) {
	if c.fail.Load() {
		return repository.Change{}, nil, errNoSpace
	}
	return c.Changes.TransitionSteps(ctx, id, steps...)
}

// failAfterSet makes the ledger refuse writes once a device has taken its Set, while
// armed.
type failAfterSet struct {
	commit.Devices
	armed, fail *atomic.Bool
}

func (f failAfterSet) Device(ctx context.Context, id string) (commit.Device, error) {
	d, err := f.Devices.Device(ctx, id)
	if err != nil {
		return nil, err
	}
	return failAfterSetDevice{Device: d, armed: f.armed, fail: f.fail}, nil
}

type failAfterSetDevice struct {
	commit.Device
	armed, fail *atomic.Bool
}

func (d failAfterSetDevice) Set(ctx context.Context, ops []change.Op) error {
	err := d.Device.Set(ctx, ops)
	if d.armed.Load() {
		d.fail.Store(true)
	}
	return err
}

// TestLiveTwinWaitsForTheConfirmedJournal (REQ-REL-05; torture seed 18 after seed 12): the devices
// were verified at a change's intent, but the commit journal's confirmed record could
// not be saved (disk full for the ledger), nor the committed transition; the live
// twin's update went through. `change resolve` then found the journal at applying and
// rolled the devices back, and the twin kept the change (the twin and the devices
// differed). The twin now takes a change only once the journal says confirmed, so
// whatever resolve decides, the twin and the devices agree.
func TestLiveTwinWaitsForTheConfirmedJournal(t *testing.T) {
	ctx := context.Background()
	l := newLab(t, 2)
	var armed atomic.Bool
	l.close()
	l.open(t, func(d commit.Devices) commit.Devices {
		return failAfterSet{Devices: d, armed: &armed, fail: &l.ledgerFail}
	})
	devs := []string{l.nodes[0].name, l.nodes[1].name}
	c := proposeApproved(t, l, mtuChange("base", 1601, devs...))
	if c, err := l.svc.Commit(ctx, c.ID, "op", 0); err != nil || c.State != change.StateCommitted {
		t.Fatalf("commit: %v %v", c.State, err)
	}
	defer pipeline.SetLiveRetryFor(300 * time.Millisecond)()

	c = proposeApproved(t, l, mtuChange("full", 1602, devs...))
	armed.Store(true)
	_, err := l.svc.Commit(ctx, c.ID, "op", 0)
	armed.Store(false)
	if err == nil {
		t.Fatal("commit with the ledger refusing writes succeeded")
	}
	for _, d := range devs {
		if m := intendedMTU(t, l, d); m != 1601 {
			t.Errorf("%s: the twin took the change (MTU %d) while the commit journal could not say confirmed", d, m)
		}
	}
	l.ledgerFail.Store(false)
	res, err := l.svc.ResolveChange(ctx, c.ID, "op")
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	var wantMTU int
	var wantImage string
	switch res.Change.State {
	case change.StateCommitted:
		wantMTU, wantImage = 1602, string(change.ImageIntent)
	case change.StateRolledBack:
		wantMTU, wantImage = 1601, string(change.ImagePreImage)
	default:
		t.Fatalf("state after resolve: %s", res.Change.State)
	}
	for _, d := range devs {
		if m := intendedMTU(t, l, d); m != wantMTU {
			t.Errorf("%s: the twin's MTU is %d, the change is %s: want %d", d, m, res.Change.State, wantMTU)
		}
		if img := res.Devices[d]; string(img.Image) != wantImage {
			t.Errorf("%s: resolve reports %+v for a change %s", d, img, res.Change.State)
		}
	}
}
