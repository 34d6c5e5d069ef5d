package commit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
)

// fakeDevice is an in-memory device with fault injection.
type fakeDevice struct {
	mu       sync.Mutex
	tree     change.Tree
	reject   bool          // refuse every Set
	hang     bool          // block Set until ctx is done
	dead     atomic.Bool   // every call fails
	dieOnSet bool          // apply the Set, then die before answering
	sets     atomic.Int32  // successful Sets
	delay    time.Duration // added to every Set
	onSet    func()
	afterSet func() // after a Set was applied and before it is acknowledged
	mangle   bool   // acknowledge the next Set but store mtu 1234 on eth1 (a device that lies once)
	inSet    *atomic.Int32
	maxIn    *atomic.Int32
}

type rejectErr struct{}

func (rejectErr) Error() string  { return "device refused the set" }
func (rejectErr) Rejected() bool { return true }

var errDead = errors.New("connection refused")

func newFake(initial string) *fakeDevice {
	t, err := change.ParseTree([]byte(initial))
	if err != nil {
		panic(err)
	}
	return &fakeDevice{tree: t}
}

func (f *fakeDevice) Get(ctx context.Context, paths []string) (map[string]json.RawMessage, error) {
	if f.dead.Load() {
		return nil, errDead
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]json.RawMessage{}
	for _, s := range paths {
		p, err := change.ParsePath(s)
		if err != nil {
			return nil, err
		}
		if v, ok := change.Lookup(f.tree, p); ok {
			b, _ := json.Marshal(v)
			out[s] = b
		}
	}
	return out, nil
}

func (f *fakeDevice) Set(ctx context.Context, ops []change.Op) error {
	if f.dead.Load() {
		return errDead
	}
	if f.inSet != nil {
		n := f.inSet.Add(1)
		defer f.inSet.Add(-1)
		for {
			m := f.maxIn.Load()
			if n <= m || f.maxIn.CompareAndSwap(m, n) {
				break
			}
		}
	}
	if f.onSet != nil {
		f.onSet()
	}
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if f.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.reject {
		return rejectErr{}
	}
	f.mu.Lock()
	next := change.Clone(f.tree).(map[string]any)
	if err := change.ApplyOps(next, ops); err != nil {
		f.mu.Unlock()
		return rejectErr{}
	}
	if f.mangle {
		f.mangle = false
		_ = change.ApplyOp(next, change.Op{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth1]/config", Value: json.RawMessage(`{"mtu":1234}`)})
	}
	f.tree = next
	f.mu.Unlock()
	f.sets.Add(1)
	if f.afterSet != nil {
		f.afterSet()
	}
	if f.dieOnSet {
		f.dead.Store(true)
		return errDead
	}
	return nil
}

func (f *fakeDevice) snapshot() change.Tree {
	f.mu.Lock()
	defer f.mu.Unlock()
	return change.Clone(f.tree).(map[string]any)
}

type fakeFleet map[string]*fakeDevice

func (fl fakeFleet) Device(ctx context.Context, id string) (Device, error) {
	d, ok := fl[id]
	if !ok {
		return nil, fmt.Errorf("unknown device %s", id)
	}
	return d, nil
}

// memJournal is an in-memory journal that keeps every saved phase.
type memJournal struct {
	mu     sync.Mutex
	recs   map[string]*Record
	phases map[string][]Phase
}

func newJournal() *memJournal {
	return &memJournal{recs: map[string]*Record{}, phases: map[string][]Phase{}}
}

func (j *memJournal) Save(ctx context.Context, rec *Record) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recs[rec.ChangeID] = rec.Clone()
	j.phases[rec.ChangeID] = append(j.phases[rec.ChangeID], rec.Phase)
	return nil
}

func (j *memJournal) Load(ctx context.Context, id string) (*Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.recs[id]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCommit, id)
	}
	return r.Clone(), nil
}

func (j *memJournal) Unfinished(ctx context.Context) ([]*Record, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*Record
	for _, r := range j.recs {
		if !r.Phase.Final() || r.Pending {
			out = append(out, r.Clone())
		}
	}
	return out, nil
}

func (j *memJournal) last(id string) Phase {
	j.mu.Lock()
	defer j.mu.Unlock()
	ps := j.phases[id]
	if len(ps) == 0 {
		return ""
	}
	return ps[len(ps)-1]
}

const initialCfg = `{"interfaces":{"interface":[{"name":"eth1","config":{"name":"eth1","mtu":1500,"description":"old"}}]}}`

func testOps() []change.Op {
	return []change.Op{
		{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth1]/config", Value: json.RawMessage(`{"mtu":9000,"description":"new"}`)},
		{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth2]/config", Value: json.RawMessage(`{"name":"eth2","enabled":true}`)},
		{Op: change.OpDelete, Path: "/interfaces/interface[name=eth1]/config/description"},
	}
}

func fleet(n int) (fakeFleet, map[string][]change.Op) {
	fl := fakeFleet{}
	ops := map[string][]change.Op{}
	for i := range n {
		id := fmt.Sprintf("r%d", i+1)
		fl[id] = newFake(initialCfg)
		ops[id] = testOps()
	}
	return fl, ops
}

func atPreImage(t *testing.T, fl fakeFleet, ids ...string) {
	t.Helper()
	want, _ := change.ParseTree([]byte(initialCfg))
	for _, id := range ids {
		if d := change.DiffTrees(want, fl[id].snapshot()); len(d) != 0 {
			t.Errorf("%s not at its pre-image: %v", id, d)
		}
	}
}

func atIntent(t *testing.T, fl fakeFleet, ids ...string) {
	t.Helper()
	want, _ := change.ParseTree([]byte(initialCfg))
	if err := change.ApplyOps(want, testOps()); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if d := change.DiffTrees(want, fl[id].snapshot()); len(d) != 0 {
			t.Errorf("%s not at the intent: %v", id, d)
		}
	}
}

func engine(fl fakeFleet, j *memJournal) *Engine {
	return &Engine{Devices: fl, Journal: j, Concurrency: 4, DeviceTimeout: 300 * time.Millisecond}
}

func TestCommitSuccess(t *testing.T) {
	fl, ops := fleet(5)
	j := newJournal()
	// The journal must hold the pre-images before any device is set.
	for id, d := range fl {
		d.onSet = func() {
			r, err := j.Load(context.Background(), "c1")
			if err != nil || r.Phase != PhaseApplying || len(r.Devices[id].PreImage) != 4 {
				t.Errorf("set on %s before pre-images were journaled: %+v %v", id, r, err)
			}
		}
	}
	rec, err := engine(fl, j).Commit(context.Background(), "c1", ops, 0)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Phase != PhaseConfirmed || j.last("c1") != PhaseConfirmed {
		t.Fatalf("phase %s, journal %s", rec.Phase, j.last("c1"))
	}
	atIntent(t, fl, "r1", "r2", "r3", "r4", "r5")
	for id, dr := range rec.Devices {
		if dr.Status != DeviceApplied || fl[id].sets.Load() != 1 {
			t.Errorf("%s: status %s sets %d", id, dr.Status, fl[id].sets.Load())
		}
		// eth2 (created) is absent from the pre-image, eth1's config is the old config
		if dr.PreImage[0].Path != "/interfaces/interface[name=eth2]" || dr.PreImage[0].Value != nil ||
			dr.PreImage[1].Path != "/interfaces/interface[name=eth1]/config" || !strings.Contains(string(dr.PreImage[1].Value), `"old"`) {
			t.Errorf("%s: pre-image %+v", id, dr.PreImage)
		}
	}
}

func TestCommitBoundedConcurrency(t *testing.T) {
	fl, ops := fleet(12)
	var in, max atomic.Int32
	for _, d := range fl {
		d.inSet, d.maxIn, d.delay = &in, &max, 10*time.Millisecond
	}
	e := engine(fl, newJournal())
	e.Concurrency = 3
	if _, err := e.Commit(context.Background(), "c", ops, 0); err != nil {
		t.Fatal(err)
	}
	if got := max.Load(); got > 3 || got < 2 {
		t.Errorf("max concurrent sets %d; want 2..3", got)
	}
}

func TestCommitFaults(t *testing.T) {
	cases := []struct {
		name      string
		fault     func(d *fakeDevice)
		wantErr   error
		wantPhase Phase
		pending   bool
	}{
		{"reject", func(d *fakeDevice) { d.reject = true }, ErrRolledBack, PhaseRolledBack, false},
		// a Set that got no answer may still be executed: the device is sent its
		// restore, which hangs too, so it stays pending (resolve or recovery retries)
		{"timeout", func(d *fakeDevice) { d.hang = true }, ErrRolledBack, PhaseRolledBack, true},
		{"dead-before-set", func(d *fakeDevice) { d.dead.Store(true); d.reject = false }, ErrRolledBack, PhaseRolledBack, false},
		{"dies-after-set", func(d *fakeDevice) { d.dieOnSet = true }, ErrRolledBack, PhaseRolledBack, true},
	}
	for _, tc := range cases {
		for rep := range 3 {
			t.Run(fmt.Sprintf("%s/%d", tc.name, rep), func(t *testing.T) {
				fl, ops := fleet(6)
				faulty := fmt.Sprintf("r%d", 1+rep*2)
				if tc.name == "dead-before-set" {
					// dead from the start: pre-image capture fails, no Set anywhere
					fl[faulty].dead.Store(true)
				} else {
					tc.fault(fl[faulty])
				}
				j := newJournal()
				rec, err := engine(fl, j).Commit(context.Background(), "c", ops, 0)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v; want %v", err, tc.wantErr)
				}
				if rec.Phase != tc.wantPhase || j.last("c") != tc.wantPhase {
					t.Fatalf("phase %s journal %s; want %s (reason %s)", rec.Phase, j.last("c"), tc.wantPhase, rec.Reason)
				}
				if rec.Pending != tc.pending {
					t.Errorf("pending %v; want %v", rec.Pending, tc.pending)
				}
				var others []string
				for id := range fl {
					if id != faulty {
						others = append(others, id)
					}
				}
				atPreImage(t, fl, others...)
				if tc.name == "dead-before-set" {
					for id, d := range fl {
						if d.sets.Load() != 0 {
							t.Errorf("%s was set although the commit aborted before applying", id)
						}
					}
				}
				if tc.name == "reject" || tc.name == "timeout" {
					atPreImage(t, fl, faulty)
				}
				if tc.name == "dies-after-set" {
					if got := rec.Devices[faulty].Status; got != DeviceRestoreFailed {
						t.Errorf("dead device status %s", got)
					}
					// it comes back: Recover restores it and clears Pending
					fl[faulty].dead.Store(false)
					fl[faulty].dieOnSet = false
					recs, err := engine(fl, j).Recover(context.Background())
					if err != nil || len(recs) != 1 {
						t.Fatalf("recover: %v %v", recs, err)
					}
					if recs[0].Pending || recs[0].Phase != PhaseRolledBack {
						t.Errorf("after recovery: %+v", recs[0])
					}
					atPreImage(t, fl, faulty)
				}
			})
		}
	}
}

func TestCommitAckedDeviceNotRestoredFails(t *testing.T) {
	for rep := range 3 {
		fl, ops := fleet(3)
		// r1 acknowledges its Set, then dies: its change cannot be undone. r2 refuses
		// its Set once r1 has applied its own (and kills r1 then), so the commit rolls
		// back with r1 changed and gone, whatever order the Sets run in.
		r1Applied := make(chan struct{})
		fl["r1"].afterSet = func() { close(r1Applied) }
		fl["r2"].onSet = func() {
			<-r1Applied
			fl["r1"].dead.Store(true)
		}
		fl["r2"].reject = true
		j := newJournal()
		rec, err := engine(fl, j).Commit(context.Background(), "c", ops, 0)
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("rep %d: err %v; want ErrFailed", rep, err)
		}
		if rec.Phase != PhaseFailed || !rec.Pending || !rec.Devices["r1"].Acked || rec.Devices["r1"].Status != DeviceRestoreFailed {
			t.Fatalf("rep %d: record %+v r1 %+v", rep, rec, rec.Devices["r1"])
		}
		atPreImage(t, fl, "r2", "r3")
		// the device comes back: Recover restores it; the record ends rolled back
		fl["r1"].dead.Store(false)
		fl["r1"].afterSet = nil
		recs, err := engine(fl, j).Recover(context.Background())
		if err != nil || len(recs) != 1 || recs[0].Phase != PhaseRolledBack || recs[0].Pending {
			t.Fatalf("rep %d: recover %+v %v", rep, recs, err)
		}
		atPreImage(t, fl, "r1", "r2", "r3")
	}
}

func TestConfirmWindow(t *testing.T) {
	t.Run("confirm", func(t *testing.T) {
		fl, ops := fleet(3)
		j := newJournal()
		e := engine(fl, j)
		rec, err := e.Commit(context.Background(), "c", ops, time.Minute)
		if err != nil || rec.Phase != PhaseAwaitingConfirm {
			t.Fatalf("%v %v", rec, err)
		}
		if got := e.Pending(); len(got) != 1 {
			t.Fatalf("pending %v", got)
		}
		rec, err = e.Confirm(context.Background(), "c")
		if err != nil || rec.Phase != PhaseConfirmed || j.last("c") != PhaseConfirmed {
			t.Fatalf("%v %v", rec, err)
		}
		atIntent(t, fl, "r1", "r2", "r3")
		if _, err := e.Confirm(context.Background(), "c"); !errors.Is(err, ErrNotPending) {
			t.Errorf("second confirm: %v", err)
		}
		// rollback after confirmation restores the pre-images from the journal
		rec, err = e.Rollback(context.Background(), "c", "operator")
		if !errors.Is(err, ErrRolledBack) || rec.Phase != PhaseRolledBack {
			t.Fatalf("rollback: %v %v", rec, err)
		}
		atPreImage(t, fl, "r1", "r2", "r3")
	})
	for rep := range 3 {
		t.Run(fmt.Sprintf("expire/%d", rep), func(t *testing.T) {
			fl, ops := fleet(3)
			j := newJournal()
			e := engine(fl, j)
			resolved := make(chan *Record, 1)
			e.OnResolved = func(r *Record) { resolved <- r }
			if _, err := e.Commit(context.Background(), "c", ops, 50*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			atIntent(t, fl, "r1", "r2", "r3")
			select {
			case r := <-resolved:
				if r.Phase != PhaseRolledBack || r.Reason != "confirm window expired" {
					t.Fatalf("resolved %+v", r)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("window did not expire")
			}
			atPreImage(t, fl, "r1", "r2", "r3")
			if _, err := e.Confirm(context.Background(), "c"); !errors.Is(err, ErrNotPending) {
				t.Errorf("confirm after expiry: %v", err)
			}
		})
	}
	t.Run("confirm-verify-fails", func(t *testing.T) {
		fl, ops := fleet(2)
		e := engine(fl, newJournal())
		verr := errors.New("telemetry: eth1 oper-status down")
		e.Verify = func(context.Context, string) error { return verr }
		if _, err := e.Commit(context.Background(), "c", ops, time.Minute); err != nil {
			t.Fatal(err)
		}
		rec, err := e.Confirm(context.Background(), "c")
		if !errors.Is(err, ErrRolledBack) || rec.Phase != PhaseRolledBack {
			t.Fatalf("%v %v", rec, err)
		}
		atPreImage(t, fl, "r1", "r2")
	})
	t.Run("confirm-readback-drift", func(t *testing.T) {
		fl, ops := fleet(2)
		e := engine(fl, newJournal())
		if _, err := e.Commit(context.Background(), "c", ops, time.Minute); err != nil {
			t.Fatal(err)
		}
		// someone changes r2 during the window
		_ = change.ApplyOp(fl["r2"].tree, change.Op{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: json.RawMessage(`1400`)})
		if _, err := e.Confirm(context.Background(), "c"); !errors.Is(err, ErrRolledBack) {
			t.Fatalf("confirm with drift: %v", err)
		}
		atPreImage(t, fl, "r1", "r2")
	})
	t.Run("rollback-in-window", func(t *testing.T) {
		fl, ops := fleet(2)
		e := engine(fl, newJournal())
		if _, err := e.Commit(context.Background(), "c", ops, time.Minute); err != nil {
			t.Fatal(err)
		}
		rec, err := e.Rollback(context.Background(), "c", "operator")
		if !errors.Is(err, ErrRolledBack) || rec.Reason != "operator" {
			t.Fatalf("%v %v", rec, err)
		}
		atPreImage(t, fl, "r1", "r2")
		if len(e.Pending()) != 0 {
			t.Error("window still open")
		}
	})
}

// TestRecover simulates a crash: the journal says applying and some devices were set.
func TestRecover(t *testing.T) {
	for _, phase := range []Phase{PhasePrepared, PhaseApplying, PhaseRollingBack, PhaseAwaitingConfirm} {
		t.Run(string(phase), func(t *testing.T) {
			fl, ops := fleet(4)
			j := newJournal()
			rec := &Record{ChangeID: "c", Phase: phase, Devices: map[string]*DeviceRecord{}}
			for id, dops := range ops {
				pre, err := capture(context.Background(), fl[id], dops)
				if err != nil {
					t.Fatal(err)
				}
				dr := &DeviceRecord{Ops: dops, Status: DevicePending, PreImage: pre}
				rec.Devices[id] = dr
			}
			if phase == PhaseAwaitingConfirm {
				rec.ConfirmDeadline = time.Now().Add(-time.Second) // expired while down
			}
			_ = j.Save(context.Background(), rec)
			// the crashed process had set r1 and r3
			if phase != PhasePrepared {
				for _, id := range []string{"r1", "r3"} {
					if err := fl[id].Set(context.Background(), ops[id]); err != nil {
						t.Fatal(err)
					}
				}
			}
			recs, err := engine(fl, j).Recover(context.Background())
			if err != nil || len(recs) != 1 || recs[0].Phase != PhaseRolledBack {
				t.Fatalf("recover: %+v %v", recs, err)
			}
			atPreImage(t, fl, "r1", "r2", "r3", "r4")
			// devices already at the pre-image are not set again
			if n := fl["r2"].sets.Load(); n != 0 {
				t.Errorf("r2 set %d times during recovery", n)
			}
			if again, _ := engine(fl, j).Recover(context.Background()); len(again) != 0 {
				t.Errorf("second recover found %d records", len(again))
			}
		})
	}
	t.Run("window-still-open", func(t *testing.T) {
		fl, ops := fleet(2)
		j := newJournal()
		e1 := engine(fl, j)
		if _, err := e1.Commit(context.Background(), "c", ops, time.Minute); err != nil {
			t.Fatal(err)
		}
		e1.Close() // crash: the timer is gone, the journal says awaiting_confirm
		e2 := engine(fl, j)
		recs, err := e2.Recover(context.Background())
		if err != nil || len(recs) != 0 {
			t.Fatalf("%v %v", recs, err)
		}
		if p := e2.Pending(); len(p) != 1 {
			t.Fatalf("window not reopened: %v", p)
		}
		if _, err := e2.Confirm(context.Background(), "c"); err != nil {
			t.Fatal(err)
		}
		atIntent(t, fl, "r1", "r2")
	})
}

func TestCommitRejectsBadPath(t *testing.T) {
	fl, _ := fleet(1)
	_, err := engine(fl, newJournal()).Commit(context.Background(), "c", map[string][]change.Op{"r1": {{Op: change.OpDelete, Path: "nope"}}}, 0)
	if err == nil || fl["r1"].sets.Load() != 0 {
		t.Fatalf("bad path: %v", err)
	}
}

// TestKeepReadBack: with KeepReadBack the read-back verification reads the top-level
// containers, still catches a device that does not hold the intent, and hands the
// verified read-back to TakeReadBack once (dropped on rollback).
func TestKeepReadBack(t *testing.T) {
	ctx := context.Background()
	fl, ops := fleet(3)
	j := newJournal()
	e := engine(fl, j)
	e.KeepReadBack = true
	if _, err := e.Commit(ctx, "c1", ops, 0); err != nil {
		t.Fatal(err)
	}
	atIntent(t, fl, "r1", "r2", "r3")
	rb := e.TakeReadBack("c1")
	if len(rb) != 3 {
		t.Fatalf("read-back of %d devices; want 3", len(rb))
	}
	for id, got := range rb {
		if len(got) != 1 {
			t.Fatalf("%s: read-back %v; want only /interfaces", id, got)
		}
		var v any
		if err := json.Unmarshal(got["/interfaces"], &v); err != nil {
			t.Fatal(err)
		}
		if !change.Equal(v, fl[id].snapshot()["interfaces"]) {
			t.Errorf("%s: read-back %s is not the device's /interfaces", id, got["/interfaces"])
		}
	}
	if e.TakeReadBack("c1") != nil {
		t.Error("read-back taken twice")
	}

	// a device that acknowledges the Set but holds something else is caught
	fl, ops = fleet(3)
	fl["r2"].mangle = true
	e = engine(fl, newJournal())
	e.KeepReadBack = true
	rec, err := e.Commit(ctx, "c2", ops, 0)
	if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), "mtu") || rec.Devices["r2"].Status != DeviceRestored {
		t.Fatalf("mangled device: %v %+v", err, rec.Devices["r2"])
	}
	atPreImage(t, fl, "r1", "r2", "r3")
	if rb := e.TakeReadBack("c2"); rb != nil {
		t.Errorf("read-back kept after rollback: %v", rb)
	}

	// confirm window: the confirmation's read-back is kept
	fl, ops = fleet(2)
	e = engine(fl, newJournal())
	e.KeepReadBack = true
	if _, err := e.Commit(ctx, "c3", ops, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Confirm(ctx, "c3"); err != nil {
		t.Fatal(err)
	}
	if rb := e.TakeReadBack("c3"); len(rb) != 2 {
		t.Errorf("read-back after confirm: %v", rb)
	}
}

// TestWindowExpiresWhileCommitFinishes: a confirm window that ends while Commit is still
// returning (it holds the change) is not lost: the expiry waits for Commit and rolls
// back. Hooks hold Commit after the window opened until the expiry found the change
// busy, so the interleaving is forced.
func TestWindowExpiresWhileCommitFinishes(t *testing.T) {
	fl, ops := fleet(2)
	j := newJournal()
	e := engine(fl, j)
	resolved := make(chan *Record, 1)
	e.OnResolved = func(r *Record) { resolved <- r }
	busy := make(chan struct{})
	testHookWindowOpened = func(string) { <-busy }
	var once sync.Once
	testHookBusy = func(string) { once.Do(func() { close(busy) }) }
	t.Cleanup(func() { testHookWindowOpened, testHookBusy = nil, nil })
	rec, err := e.Commit(context.Background(), "c", ops, time.Millisecond)
	if err != nil || rec.Phase != PhaseAwaitingConfirm {
		t.Fatalf("commit: %+v %v", rec, err)
	}
	select {
	case r := <-resolved:
		if r.Phase != PhaseRolledBack || r.Reason != "confirm window expired" {
			t.Fatalf("resolved %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("the window expired while Commit held the change and was never resolved (journal: %s, pending %v)", j.last("c"), e.Pending())
	}
	atPreImage(t, fl, "r1", "r2")
	if got := j.last("c"); got != PhaseRolledBack {
		t.Errorf("journal %s; want rolled_back", got)
	}
}

// TestConfirmWhileCommitFinishes: Confirm and Rollback called while Commit still holds
// the change answer ErrBusy and leave the window open, so a later Confirm (or the
// expiry) still resolves it.
func TestConfirmWhileCommitFinishes(t *testing.T) {
	for _, op := range []string{"confirm", "rollback"} {
		t.Run(op, func(t *testing.T) {
			fl, ops := fleet(2)
			j := newJournal()
			e := engine(fl, j)
			var early error
			testHookWindowOpened = func(id string) {
				if op == "confirm" {
					_, early = e.Confirm(context.Background(), id)
				} else {
					_, early = e.Rollback(context.Background(), id, "operator")
				}
			}
			t.Cleanup(func() { testHookWindowOpened = nil })
			if _, err := e.Commit(context.Background(), "c", ops, time.Hour); err != nil {
				t.Fatal(err)
			}
			testHookWindowOpened = nil
			if !errors.Is(early, ErrBusy) {
				t.Fatalf("%s during Commit: %v; want ErrBusy", op, early)
			}
			if p := e.Pending(); len(p) != 1 {
				t.Fatalf("pending %v after a refused %s; want the window still open", p, op)
			}
			if op == "confirm" {
				rec, err := e.Confirm(context.Background(), "c")
				if err != nil || rec.Phase != PhaseConfirmed {
					t.Fatalf("confirm after Commit returned: %+v %v", rec, err)
				}
				atIntent(t, fl, "r1", "r2")
				return
			}
			rec, err := e.Rollback(context.Background(), "c", "operator")
			if !errors.Is(err, ErrRolledBack) || rec.Phase != PhaseRolledBack {
				t.Fatalf("rollback after Commit returned: %+v %v", rec, err)
			}
			atPreImage(t, fl, "r1", "r2")
		})
	}
}

// TestCommitRefusedDuringWindow: a change awaiting confirmation is not committed again
// (its devices are at the first commit's intent, which an expiry would later undo).
func TestCommitRefusedDuringWindow(t *testing.T) {
	fl, ops := fleet(2)
	e := engine(fl, newJournal())
	if _, err := e.Commit(context.Background(), "c", ops, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Commit(context.Background(), "c", ops, 0); !errors.Is(err, ErrBusy) {
		t.Fatalf("second commit in the window: %v; want ErrBusy", err)
	}
	if n := fl["r1"].sets.Load(); n != 1 {
		t.Errorf("r1 set %d times; want 1", n)
	}
	if _, err := e.Confirm(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Commit(context.Background(), "c", ops, 0); err != nil {
		t.Fatalf("commit after the window closed: %v", err)
	}
}

// TestTwinOnlyChangeHonoursWindow: a change without device operations (an
// inter-domain sub-slice's reservation, issue 19 item 3) opens its confirm window like
// any other: it is confirmed, rolled back, or rolled back when the window expires —
// never confirmed at once.
func TestTwinOnlyChangeHonoursWindow(t *testing.T) {
	ctx := context.Background()
	for _, end := range []string{"confirm", "rollback", "expire"} {
		t.Run(end, func(t *testing.T) {
			fl, _ := fleet(1)
			j := newJournal()
			e := engine(fl, j)
			resolved := make(chan *Record, 1)
			e.OnResolved = func(r *Record) { resolved <- r }
			window := time.Minute
			if end == "expire" {
				window = 50 * time.Millisecond
			}
			rec, err := e.Commit(ctx, "c", nil, window)
			if err != nil || rec.Phase != PhaseAwaitingConfirm || j.last("c") != PhaseAwaitingConfirm {
				t.Fatalf("%+v %v", rec, err)
			}
			switch end {
			case "confirm":
				rec, err = e.Confirm(ctx, "c")
				if err != nil || rec.Phase != PhaseConfirmed || j.last("c") != PhaseConfirmed {
					t.Fatalf("%+v %v", rec, err)
				}
			case "rollback":
				rec, err = e.Rollback(ctx, "c", "coordinator aborted")
				if !errors.Is(err, ErrRolledBack) || rec.Phase != PhaseRolledBack || j.last("c") != PhaseRolledBack {
					t.Fatalf("%+v %v", rec, err)
				}
			case "expire":
				select {
				case r := <-resolved:
					if r.Phase != PhaseRolledBack {
						t.Fatalf("resolved %+v", r)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("window did not expire")
				}
			}
		})
	}
	// without a window it is confirmed at once, as before
	fl, _ := fleet(1)
	e := engine(fl, newJournal())
	if rec, err := e.Commit(ctx, "d", nil, 0); err != nil || rec.Phase != PhaseConfirmed {
		t.Fatalf("%+v %v", rec, err)
	}
}
