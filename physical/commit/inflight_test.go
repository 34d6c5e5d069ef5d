package commit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
)

// slowLinkDevice is a device behind a slow link (torture seed 186: 23 and 27 ms per
// message). Its first Set is on the wire when trigger closes. If the engine gives up on
// it then (its context is cancelled), the request has left all the same: the device
// executes it just after answering the next read, as a gNMI server does when the
// cancelled Set, its RST_STREAM and the rollback's read reach it in one burst and its
// handlers run concurrently. If the engine waits, the device answers after rtt.
type slowLinkDevice struct {
	*fakeDevice
	trigger <-chan struct{}
	rtt     time.Duration
	started chan struct{} // closed when the first Set is sent (if not nil)

	mu   sync.Mutex
	used bool
	late []change.Op // a Set the engine gave up on, still to be executed
}

func (d *slowLinkDevice) Set(ctx context.Context, ops []change.Op) error {
	d.mu.Lock()
	first := !d.used
	d.used = true
	d.mu.Unlock()
	if !first {
		return d.fakeDevice.Set(ctx, ops)
	}
	if d.started != nil {
		close(d.started)
	}
	<-d.trigger
	select {
	case <-ctx.Done():
		d.mu.Lock()
		d.late = ops
		d.mu.Unlock()
		return fmt.Errorf("gnmi: set: %w", ctx.Err())
	case <-time.After(d.rtt):
		return d.fakeDevice.Set(context.WithoutCancel(ctx), ops)
	}
}

func (d *slowLinkDevice) Get(ctx context.Context, paths []string) (map[string]json.RawMessage, error) {
	got, err := d.fakeDevice.Get(ctx, paths)
	d.mu.Lock()
	late := d.late
	d.late = nil
	d.mu.Unlock()
	if late != nil {
		_ = d.fakeDevice.Set(context.Background(), late)
	}
	return got, err
}

// lostDevice loses its connection on its first Set (the device was killed) once the
// Sets of others are on the wire: the Set fails with a transport error, not a refusal,
// and failed is closed. The device is back for later calls (it restarted with its
// saved configuration).
type lostDevice struct {
	*fakeDevice
	others []chan struct{}
	failed chan struct{}
	once   sync.Once
}

func (d *lostDevice) Set(ctx context.Context, ops []change.Op) error {
	lost := false
	d.once.Do(func() {
		lost = true
		for _, c := range d.others {
			<-c
		}
		close(d.failed)
	})
	if lost {
		return errors.New("gnmi: set: rpc error: code = Unavailable desc = error reading from server: EOF")
	}
	return d.fakeDevice.Set(ctx, ops)
}

type deviceMap map[string]Device

func (m deviceMap) Device(_ context.Context, id string) (Device, error) {
	d, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("unknown device %s", id)
	}
	return d, nil
}

// treeAt reports whether a fake holds initialCfg (intent false) or initialCfg with testOps applied.
func treeAt(t *testing.T, d *fakeDevice, intent bool) bool {
	t.Helper()
	want, _ := change.ParseTree([]byte(initialCfg))
	if intent {
		if err := change.ApplyOps(want, testOps()); err != nil {
			t.Fatal(err)
		}
	}
	return len(change.DiffTrees(want, d.snapshot())) == 0
}

// TestSiblingFailureDoesNotCancelSetsInFlight (REQ-REL-01) is torture seed 186: one device of a
// change was lost during its Set while the Sets to two slower devices were on the wire.
// The engine cancelled those Sets, found both devices still at their pre-image when
// rolling back (the Sets had not been executed yet), skipped them, and recorded the
// commit rolled back; then the devices executed the Sets and held the intent. A commit
// recorded rolled back must have every device at its pre-image: a Set once sent is
// waited for (up to the device timeout), so a device that applied it is known to have
// and is restored.
func TestSiblingFailureDoesNotCancelSetsInFlight(t *testing.T) {
	for rep := range 3 {
		failed := make(chan struct{})
		r1 := &slowLinkDevice{fakeDevice: newFake(initialCfg), trigger: failed, rtt: 50 * time.Millisecond, started: make(chan struct{})}
		r3 := newFake(initialCfg)
		r4 := &slowLinkDevice{fakeDevice: newFake(initialCfg), trigger: failed, rtt: 60 * time.Millisecond, started: make(chan struct{})}
		lost := &lostDevice{fakeDevice: newFake(initialCfg), others: []chan struct{}{r1.started, r4.started}, failed: failed}
		devs := deviceMap{"r1": r1, "r2": lost, "r3": r3, "r4": r4}
		ops := map[string][]change.Op{}
		for id := range devs {
			ops[id] = testOps()
		}
		j := newJournal()
		e := &Engine{Devices: devs, Journal: j, Concurrency: 4, DeviceTimeout: 2 * time.Second}
		rec, err := e.Commit(context.Background(), "c186", ops, 0)
		if !errors.Is(err, ErrRolledBack) || rec.Phase != PhaseRolledBack || rec.Pending || j.last("c186") != PhaseRolledBack {
			t.Fatalf("rep %d: err %v record %+v journal %s; want rolled back, nothing pending", rep, err, rec, j.last("c186"))
		}
		for id, d := range map[string]*fakeDevice{"r1": r1.fakeDevice, "r3": r3, "r4": r4.fakeDevice} {
			_, _ = devs[id].Get(context.Background(), []string{"/interfaces"}) // a late Set lands now at the latest
			if !treeAt(t, d, false) {
				t.Errorf("rep %d: %s does not hold its pre-image, yet the commit is rolled back (status %s): %v",
					rep, id, rec.Devices[id].Status, d.snapshot())
			}
		}
		for _, id := range []string{"r1", "r4"} {
			if dr := rec.Devices[id]; !dr.Acked || dr.Status != DeviceRestored {
				t.Errorf("rep %d: %s: status %s acked %v (%s); want acknowledged and restored", rep, id, dr.Status, dr.Acked, dr.Error)
			}
		}
	}
}

// TestCancelledCommitWaitsForSetsInFlight (REQ-REL-01): the caller's context (an API request whose
// client went away) is cancelled while Sets are on the wire. The Sets already sent are
// waited for, so the record says what the devices hold: confirmed with every device at
// the intent, or rolled back with every device at its pre-image (the engine may stop
// at the cancellation once every Set sent has answered).
func TestCancelledCommitWaitsForSetsInFlight(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	sent := make(chan struct{})
	var once sync.Once
	r1 := &slowLinkDevice{fakeDevice: newFake(initialCfg), trigger: sent, rtt: 50 * time.Millisecond, started: make(chan struct{})}
	r2 := newFake(initialCfg)
	// the caller goes away once r1's Set is on the wire
	r2.onSet = func() { once.Do(func() { <-r1.started; cancel(); close(sent) }) }
	devs := deviceMap{"r1": r1, "r2": r2}
	ops := map[string][]change.Op{"r1": testOps(), "r2": testOps()}
	rec, err := (&Engine{Devices: devs, Journal: newJournal(), DeviceTimeout: 2 * time.Second}).Commit(ctx, "c", ops, 0)
	_, _ = r1.Get(context.Background(), []string{"/interfaces"}) // a late Set lands now at the latest
	switch {
	case err == nil && rec.Phase == PhaseConfirmed:
		for id, d := range map[string]*fakeDevice{"r1": r1.fakeDevice, "r2": r2} {
			if !treeAt(t, d, true) {
				t.Errorf("%s not at the intent of a confirmed commit: %v", id, d.snapshot())
			}
		}
	case errors.Is(err, ErrRolledBack) && rec.Phase == PhaseRolledBack && !rec.Pending:
		for id, d := range map[string]*fakeDevice{"r1": r1.fakeDevice, "r2": r2} {
			if !treeAt(t, d, false) {
				t.Errorf("%s not at the pre-image of a rolled-back commit (status %s): %v", id, rec.Devices[id].Status, d.snapshot())
			}
		}
	default:
		t.Fatalf("err %v record %+v", err, rec)
	}
}

// TestUnansweredSetIsRestoredEvenAtPreImage (REQ-REL-01): a device's Set got no answer within the
// device timeout and the device executes the request late, just after answering the
// rollback's read (the request, the client's cancellation and the read reached it in
// one burst). Its read at the pre-image proves nothing: it is sent its restore all the
// same, so the commit recorded rolled back has it at its pre-image.
func TestUnansweredSetIsRestoredEvenAtPreImage(t *testing.T) {
	now := make(chan struct{})
	close(now)
	r1 := &slowLinkDevice{fakeDevice: newFake(initialCfg), trigger: now, rtt: time.Hour}
	r2 := newFake(initialCfg)
	devs := deviceMap{"r1": r1, "r2": r2}
	ops := map[string][]change.Op{"r1": testOps(), "r2": testOps()}
	rec, err := (&Engine{Devices: devs, Journal: newJournal(), DeviceTimeout: 100 * time.Millisecond}).Commit(context.Background(), "c", ops, 0)
	if !errors.Is(err, ErrRolledBack) || rec.Phase != PhaseRolledBack || rec.Pending {
		t.Fatalf("err %v record %+v; want rolled back, nothing pending", err, rec)
	}
	_, _ = r1.Get(context.Background(), []string{"/interfaces"}) // a late Set lands now at the latest
	for id, d := range map[string]*fakeDevice{"r1": r1.fakeDevice, "r2": r2} {
		if !treeAt(t, d, false) {
			t.Errorf("%s not at the pre-image of a rolled-back commit (status %s): %v", id, rec.Devices[id].Status, d.snapshot())
		}
	}
	// the late Set and the restore
	if dr := rec.Devices["r1"]; dr.Acked || dr.Status != DeviceRestored || r1.sets.Load() != 2 {
		t.Errorf("r1: status %s acked %v, %d Sets executed; want restored by a restore Set after the late one", dr.Status, dr.Acked, r1.sets.Load())
	}
}
