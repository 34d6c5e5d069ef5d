package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
)

// fakeCommitter is a Committer whose Commit is the test's function; Confirm, Rollback
// and Recover find nothing to do.
type fakeCommitter struct {
	commit func(ctx context.Context, id string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error)
}

var errNoWindow = errors.New("fake committer: no window")

func (f *fakeCommitter) Commit(ctx context.Context, id string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error) {
	return f.commit(ctx, id, ops, confirm)
}
func (f *fakeCommitter) Confirm(context.Context, string) (*change.CommitRecord, error) {
	return nil, errNoWindow
}
func (f *fakeCommitter) Rollback(context.Context, string, string) (*change.CommitRecord, error) {
	return nil, errNoWindow
}
func (f *fakeCommitter) Recover(context.Context) ([]*change.CommitRecord, error) { return nil, nil }

// unitService is a Service over a live twin holding routers r1 and r2 (no links; the
// committer is fake, so their addresses are never dialled), a
// temporary sqlite repository and cm; authors may approve their own changes.
func unitService(t *testing.T, cm Committer) *Service {
	t.Helper()
	ctx := context.Background()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error {
		for _, id := range []string{"r1", "r2"} {
			d := network.Device{ID: id, Type: network.DeviceRouter, Drivers: []network.DriverKind{network.DriverGNMI},
				Address: "192.0.2.1:57400", Endpoints: []network.EndPoint{{ID: "eth1"}}}
			if _, err := tx.PutDevice(d, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "unit.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s, err := New(Config{Twins: m, Store: st, Committer: cm})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mtuOn is a raw-config change setting eth1's MTU on dev (it does not interact).
func mtuOn(dev string, mtu int) *change.ChangeSet {
	v, _ := json.Marshal(map[string]int{"mtu": mtu})
	return &change.ChangeSet{Label: "mtu", Kind: change.KindRawConfig, Level: change.L0,
		DeviceOps: map[string][]change.Op{dev: {{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth1]/config", Value: v}}}}
}

// approved proposes and approves cs.
func approved(t *testing.T, s *Service, cs *change.ChangeSet) *Change {
	t.Helper()
	ctx := context.Background()
	c, err := s.Propose(ctx, cs, "bo")
	if err != nil || c.State != change.StateValidated {
		t.Fatalf("propose: %v (report %+v)", err, c.Report)
	}
	if c, err = s.Approve(ctx, c.ID, "bo"); err != nil {
		t.Fatalf("approve: %v", err)
	}
	return c
}

// TestConfirmWindowResolvedBeforeCommitReturns: the committer's confirm window can
// end (expire, and the committer calls Resolve from its own goroutine) before the
// Commit call that opened it has returned to the pipeline. The change is then rolled
// back and its device must not stay marked as in a confirm window: it used to, for
// good, because Commit registered the window after Resolve had cleared it, and drift
// detection skipped the device from then on.
func TestConfirmWindowResolvedBeforeCommitReturns(t *testing.T) {
	var s *Service
	resolved := make(chan struct{})
	cm := &fakeCommitter{commit: func(ctx context.Context, id string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error) {
		now := time.Now()
		waiting := make(chan struct{})
		var once sync.Once
		s.lockWait = func() { once.Do(func() { close(waiting) }) }
		go func() {
			defer close(resolved)
			s.Resolve(&change.CommitRecord{ChangeID: id, Phase: change.PhaseRolledBack, Reason: "confirm window expired",
				Started: now, Updated: now})
		}()
		// Resolve either finishes before this Commit returns, or waits for the
		// commit's devices; both are what a committer's expiry may meet.
		select {
		case <-resolved:
		case <-waiting:
		}
		return &change.CommitRecord{ChangeID: id, Phase: change.PhaseAwaitingConfirm, ConfirmDeadline: now,
			Started: now, Updated: now}, nil
	}}
	s = unitService(t, cm)
	ctx := context.Background()
	c := approved(t, s, mtuOn("r1", 9000))
	if _, err := s.Commit(ctx, c.ID, "carla", time.Minute); err != nil {
		t.Fatalf("commit: %v", err)
	}
	<-resolved
	got, err := s.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != change.StateRolledBack {
		t.Fatalf("change is %s after its window expired, want rolled_back", got.State)
	}
	if !s.deviceQuiet("r1", s.releaseMark()) {
		t.Fatalf("r1 is still marked busy after the window of %s ended (drift detection would skip it for good)", c.ID)
	}
}

// TestDriftIgnoresCommitDuringScan: a commit that starts and ends on a device while a
// scan reads it (after the scan read the intent, before the device answered) is no
// drift: the device holds the new intent, the scan compares it with the old one. It
// used to be reported (a drift event and a warning) until the next scan.
func TestDriftIgnoresCommitDuringScan(t *testing.T) {
	var mu sync.Mutex
	running := map[string]json.RawMessage{} // r1's running /interfaces
	setMTU := func(mtu int) {
		mu.Lock()
		defer mu.Unlock()
		running["/interfaces"] = json.RawMessage(`{"interface":[{"name":"eth1","config":{"mtu":` + itoa(mtu) + `}}]}`)
	}
	cm := &fakeCommitter{commit: func(ctx context.Context, id string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error) {
		var v struct {
			MTU int `json:"mtu"`
		}
		if err := json.Unmarshal(ops["r1"][0].Value, &v); err != nil {
			return nil, err
		}
		setMTU(v.MTU)
		now := time.Now()
		return &change.CommitRecord{ChangeID: id, Phase: change.PhaseConfirmed, Started: now, Updated: now}, nil
	}}
	s := unitService(t, cm)
	ctx := context.Background()
	commitMTU := func(mtu int) {
		t.Helper()
		c := approved(t, s, mtuOn("r1", mtu))
		if c, err := s.Commit(ctx, c.ID, "carla", 0); err != nil || c.State != change.StateCommitted {
			t.Fatalf("commit mtu %d: %v", mtu, err)
		}
	}
	commitMTU(1500)
	reads := 0
	det := &DriftDetector{Service: s, Reader: readerFunc(func(ctx context.Context, dev string, paths []string) (map[string]json.RawMessage, error) {
		if reads++; reads == 1 {
			// the scan has read the intent (mtu 1500); a commit runs to its end now
			commitMTU(9000)
		}
		mu.Lock()
		defer mu.Unlock()
		out := map[string]json.RawMessage{}
		for _, p := range paths {
			if v, ok := running[p]; ok {
				out[p] = v
			}
		}
		return out, nil
	})}
	sub := s.cfg.Twins.Events().Subscribe(twin.LiveID, 0)
	defer sub.Close()
	det.Scan(ctx)
	if reads != 1 {
		t.Fatalf("the scan read r1 %d times, want 1", reads)
	}
	if cur := det.Current(); len(cur) != 0 {
		t.Fatalf("drift reported for a device that holds its intent: %s %+v", cur[0].Device, cur[0].Lines)
	}
	// the next scan compares the new intent with the device: no drift either, and a
	// real difference is still found
	det.Scan(ctx)
	if cur := det.Current(); len(cur) != 0 {
		t.Fatalf("drift on the second scan: %+v", cur[0].Lines)
	}
	setMTU(1400)
	det.Scan(ctx)
	if cur := det.Current(); len(cur) != 1 || cur[0].Device != "r1" || len(cur[0].Lines) != 1 || cur[0].Lines[0].After != "1400" {
		t.Fatalf("out-of-band mtu 1400 not reported as drift: %+v", cur)
	}
	for {
		select {
		case ev := <-sub.C:
			if ev.Table == TableDrift && ev.Op == twin.OpCreate && ev.Object.(*Drift).Lines[0].After != "1400" {
				t.Fatalf("drift event for the committed mtu: %+v", ev.Object.(*Drift).Lines)
			}
			continue
		default:
		}
		break
	}
}

type readerFunc func(ctx context.Context, dev string, paths []string) (map[string]json.RawMessage, error)

func (f readerFunc) ReadConfig(ctx context.Context, dev string, paths []string) (map[string]json.RawMessage, error) {
	return f(ctx, dev, paths)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// listHook is a Store whose Changes().List calls after once it has listed.
type listHook struct {
	repository.Store
	after func(f repository.ChangeFilter)
}

func (h listHook) Changes() repository.Changes { return hookedChanges{h.Store.Changes(), h.after} }

type hookedChanges struct {
	repository.Changes
	after func(f repository.ChangeFilter)
}

func (h hookedChanges) List(ctx context.Context, f repository.ChangeFilter) ([]repository.Change, error) {
	out, err := h.Changes.List(ctx, f)
	if h.after != nil {
		h.after(f)
	}
	return out, err
}

// leftInWindow commits mtuOn(r1) with a confirm window through a service whose
// committer journals the window (as physical/commit does) and returns the change ID,
// the store and a restarted service over the same twins and store (with store
// wrapped by after, and a committer whose Recover reopens the window: it resolves
// nothing itself).
func leftInWindow(t *testing.T, after func(repository.ChangeFilter)) (string, repository.Store, *Journal, *Service) {
	t.Helper()
	ctx := context.Background()
	var j *Journal
	cm := &fakeCommitter{commit: func(ctx context.Context, id string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error) {
		now := time.Now()
		rec := &change.CommitRecord{ChangeID: id, Phase: change.PhaseAwaitingConfirm, ConfirmDeadline: now.Add(confirm),
			Devices: map[string]*change.CommitDevice{"r1": {Ops: ops["r1"]}}, Started: now, Updated: now}
		return rec, j.Save(ctx, rec)
	}}
	s1 := unitService(t, cm)
	var err error
	if j, err = OpenJournal(ctx, s1.cfg.Store); err != nil {
		t.Fatal(err)
	}
	s1.cfg.Journal = j
	c := approved(t, s1, mtuOn("r1", 9000))
	if c, err = s1.Commit(ctx, c.ID, "carla", time.Minute); err != nil || c.State != change.StateCommitting {
		t.Fatalf("commit with a window: %v", err)
	}
	// the controller restarts
	j2, err := OpenJournal(ctx, s1.cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := New(Config{Twins: s1.cfg.Twins, Store: listHook{s1.cfg.Store, after}, Journal: j2,
		Committer: &fakeCommitter{commit: cm.commit}})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, s1.cfg.Store, j2, s2
}

// TestRecoverRegistersReopenedWindow: after a restart, a confirm window the committer
// reopened keeps drift detection off its devices until it resolves, as a window
// opened by Commit does (the devices hold the change, the live twin not yet). It used
// to be left unregistered: drift was reported for the devices during the window.
func TestRecoverRegistersReopenedWindow(t *testing.T) {
	ctx := context.Background()
	id, _, _, s := leftInWindow(t, nil)
	if err := s.Recover(ctx); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if s.deviceQuiet("r1", s.releaseMark()) {
		t.Fatal("r1 is not marked as in a confirm window after recovery reopened it")
	}
	now := time.Now()
	s.Resolve(&change.CommitRecord{ChangeID: id, Phase: change.PhaseRolledBack, Reason: "confirm window expired", Started: now, Updated: now})
	if c, err := s.Get(ctx, id); err != nil || c.State != change.StateRolledBack {
		t.Fatalf("after the reopened window expired: %v %+v", err, c)
	}
	if !s.deviceQuiet("r1", s.releaseMark()) {
		t.Fatal("r1 still marked as in a confirm window after it expired")
	}
}

// TestRecoverRacesResolve: a window the committer reopened at recovery can expire,
// and Resolve move the change, while Recover is between listing the committing
// changes and moving them. Recover then leaves the change alone; it used to move it
// again, fail with "changed concurrently", and so fail the server's start.
func TestRecoverRacesResolve(t *testing.T) {
	ctx := context.Background()
	var s *Service
	var j *Journal
	var id string
	raced := false
	id, _, j, s = leftInWindow(t, func(f repository.ChangeFilter) {
		if f.State != repository.StateCommitting || raced {
			return
		}
		raced = true
		// the reopened window expires now: the committer journals the rollback and
		// resolves the change from its own goroutine (here: before Recover goes on)
		now := time.Now()
		rec := &change.CommitRecord{ChangeID: id, Phase: change.PhaseRolledBack, Reason: "confirm window expired", Started: now, Updated: now}
		if err := j.Save(ctx, rec); err != nil {
			t.Error(err)
		}
		s.Resolve(rec)
	})
	if err := s.Recover(ctx); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if !raced {
		t.Fatal("the committing changes were never listed")
	}
	c, err := s.Get(ctx, id)
	if err != nil || c.State != change.StateRolledBack {
		t.Fatalf("after recovery: %v %+v", err, c)
	}
	n := 0
	for _, tr := range c.Transitions {
		if tr.To == repository.StateRolledBack {
			n++
		}
	}
	if n != 1 || c.Transitions[len(c.Transitions)-1].Reason != "confirm window expired" {
		t.Fatalf("transitions to rolled_back: %d, last %+v", n, c.Transitions[len(c.Transitions)-1])
	}
}

// TestCommitRefusedOnDeviceInAnotherWindow: a change touching a device in another
// change's confirm window is refused (busy, naming the device and the change) and
// nothing is sent: that window's rollback would restore the device's pre-images over
// its Sets. Disjoint devices still commit; once the window ends, the change commits.
func TestCommitRefusedOnDeviceInAnotherWindow(t *testing.T) {
	var mu sync.Mutex
	sent := map[string]int{} // change -> Commit calls
	cm := &fakeCommitter{commit: func(ctx context.Context, id string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error) {
		mu.Lock()
		sent[id]++
		mu.Unlock()
		now := time.Now()
		ph := change.PhaseConfirmed
		if confirm > 0 {
			ph = change.PhaseAwaitingConfirm
		}
		return &change.CommitRecord{ChangeID: id, Phase: ph, ConfirmDeadline: now.Add(confirm), Started: now, Updated: now}, nil
	}}
	s := unitService(t, cm)
	ctx := context.Background()
	a := approved(t, s, mtuOn("r1", 9000))
	if c, err := s.Commit(ctx, a.ID, "carla", time.Minute); err != nil || c.State != change.StateCommitting {
		t.Fatalf("commit %s with a window: %v (%v)", a.ID, err, c.State)
	}
	b := approved(t, s, mtuOn("r1", 1500))
	c, err := s.Commit(ctx, b.ID, "carla", 0)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("commit %s on r1 during %s's window: %v, want ErrBusy", b.ID, a.ID, err)
	}
	for _, want := range []string{b.ID, "r1", a.ID, "confirm window"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if c.State != change.StateApproved || sent[b.ID] != 0 {
		t.Fatalf("refused change is %s with %d commits sent; want approved, none", c.State, sent[b.ID])
	}
	d := approved(t, s, mtuOn("r2", 1500))
	if c, err := s.Commit(ctx, d.ID, "carla", 0); err != nil || c.State != change.StateCommitted {
		t.Fatalf("commit on disjoint r2: %v (%v)", err, c.State)
	}
	now := time.Now()
	s.Resolve(&change.CommitRecord{ChangeID: a.ID, Phase: change.PhaseConfirmed, Started: now, Updated: now})
	if got, err := s.Get(ctx, a.ID); err != nil || got.State != change.StateCommitted {
		t.Fatalf("%s after its window was confirmed: %v (%v)", a.ID, got.State, err)
	}
	if c, err := s.Commit(ctx, b.ID, "carla", 0); err != nil || c.State != change.StateCommitted {
		t.Fatalf("commit %s once %s's window ended: %v (%v)", b.ID, a.ID, err, c.State)
	}
}

// TestResolveRefusesARunningValidation: resolve leaves a change this process is
// still validating alone (ErrBusy, still validating); finishValidation's bookkeeping
// is empty after a proposal.
func TestResolveRefusesARunningValidation(t *testing.T) {
	s := unitService(t, &fakeCommitter{})
	ctx := context.Background()
	c, err := s.Propose(ctx, mtuOn("r1", 9000), "bo")
	if err != nil {
		t.Fatal(err)
	}
	s.validatingMu.Lock()
	left := len(s.validatingNow)
	s.validatingNow[c.ID] = true // as while its validation runs
	s.validatingMu.Unlock()
	if left != 0 {
		t.Fatalf("%d validations still marked running after Propose returned", left)
	}
	if _, _, err := s.cfg.Store.Changes().Transition(ctx, c.ID, repository.TransitionRequest{From: repository.StateValidated, To: repository.StateValidating}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveChange(ctx, c.ID, "ops"); !errors.Is(err, ErrBusy) {
		t.Fatalf("resolve of a running validation: %v, want ErrBusy", err)
	}
	if got, err := s.Get(ctx, c.ID); err != nil || got.State != change.StateValidating {
		t.Fatalf("after the refused resolve: %v %v", err, got.State)
	}
}
