package pipeline

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
)

// TestDeviceTextWithNULIsStored: a device refused a path holding a NUL and said so in
// its error; the transition to rolled_back then failed (its reason held the NUL) and the
// change stayed committing for good (fuzzer finding, issue #13 item 7; seed 004 §11). Text
// from devices is sanitised before it is stored.
func TestDeviceTextWithNULIsStored(t *testing.T) {
	cm := &fakeCommitter{commit: func(ctx context.Context, id string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error) {
		return &change.CommitRecord{ChangeID: id, Phase: change.PhaseRolledBack,
				Reason:  "r1 refused /interfaces/interface[name=eth1]/config/mtu\x00: unknown path \xff",
				Devices: map[string]*change.CommitDevice{"r1": {Ops: ops["r1"], Status: "failed", Error: "rpc error: mtu\x00\x01"}}},
			errors.New("set refused: mtu\x00")
	}}
	s := unitService(t, cm)
	ctx := context.Background()
	c := approved(t, s, mtuOn("r1", 9000))
	c, _ = s.Commit(ctx, c.ID, "carla", 0)
	got, err := s.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != change.StateRolledBack {
		t.Fatalf("change is %s after its commit rolled back, want rolled_back", got.State)
	}
	last := got.Transitions[len(got.Transitions)-1]
	if strings.ContainsAny(last.Reason, "\x00\x01") || !strings.Contains(last.Reason, "config/mtu") {
		t.Fatalf("reason not sanitised: %q", last.Reason)
	}
	if e := got.Commit.Devices["r1"].Error; strings.ContainsAny(e, "\x00\x01") || !strings.Contains(e, "rpc error") {
		t.Fatalf("device error not sanitised: %q", e)
	}
}

// failingFinal is a Store whose TransitionSteps refuses moves to a final state while
// fail is set (a database outage at the worst moment).
type failingFinal struct {
	repository.Store
	fail *atomic.Bool
}

func (f failingFinal) Changes() repository.Changes { return failingChanges{f.Store.Changes(), f.fail} }

type failingChanges struct {
	repository.Changes
	fail *atomic.Bool
}

func (f failingChanges) TransitionSteps(ctx context.Context, id string, steps ...repository.TransitionRequest) (repository.Change, []repository.Transition, error) {
	if f.fail.Load() && len(steps) > 0 && change.State(steps[len(steps)-1].To).Terminal() {
		return repository.Change{}, nil, errors.New("store unavailable")
	}
	return f.Changes.TransitionSteps(ctx, id, steps...)
}

// TestStuckCommittingIsResolvable: when the final transition of a commit could not be
// stored, the change stayed committing and rollback answered success doing nothing
// (issue #13 item 7). The caller is told the commit failed, and a later rollback (or
// confirm) moves the change to the state its commit record says.
func TestStuckCommittingIsResolvable(t *testing.T) {
	cm := &fakeCommitter{commit: func(ctx context.Context, id string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error) {
		return &change.CommitRecord{ChangeID: id, Phase: change.PhaseRolledBack, Reason: "device refused the Set",
			Devices: map[string]*change.CommitDevice{"r1": {Ops: ops["r1"]}}}, errors.New("set refused")
	}}
	s := unitService(t, cm)
	fail := &atomic.Bool{}
	s.cfg.Store = failingFinal{s.cfg.Store, fail}
	ctx := context.Background()
	c := approved(t, s, mtuOn("r1", 9000))
	fail.Store(true)
	if _, err := s.Commit(ctx, c.ID, "carla", 0); err == nil {
		t.Fatal("commit whose outcome could not be stored reported success")
	}
	got, _ := s.Get(ctx, c.ID)
	if got.State != change.StateCommitting {
		t.Fatalf("state %s; the store refused the final transition, so it must still be committing", got.State)
	}
	fail.Store(false)
	got, err := s.Rollback(ctx, c.ID, "carla", "")
	if err != nil || got.State != change.StateRolledBack {
		t.Fatalf("rollback of a stuck change: %v, state %s", err, got.State)
	}
	if got, _ = s.Get(ctx, c.ID); got.State != change.StateRolledBack {
		t.Fatalf("stored state %s after resolving, want rolled_back", got.State)
	}
}

// TestReportThatCannotBeEncoded: a report holding a non-finite number was stored as
// an empty report with the change "validated", and the API answered 500 (issue #13
// item 7). Such a report now rejects the change, with a report saying why.
func TestReportThatCannotBeEncoded(t *testing.T) {
	s := unitService(t, &fakeCommitter{})
	c := &Change{ID: "x", State: change.StateValidating,
		Report: &change.Report{Passed: true, Checks: []change.Check{{Name: "l1.ripple", Status: change.Pass, Evidence: math.Inf(1)}},
			KPIs: []change.KPI{{Name: "rate", After: change.F64(math.NaN())}}}}
	if _, err := c.stepRequests("bo", []step{{change.StateValidated, "ok"}}); err == nil {
		t.Fatal("a report that cannot be encoded was accepted for storage")
	}
	to, _ := s.checkedReport(c, change.StateValidated, "all checks passed")
	if to != change.StateRejected || c.Report.Passed {
		t.Fatalf("state %s, passed %v; want rejected", to, c.Report.Passed)
	}
	if _, err := c.stepRequests("bo", []step{{to, "x"}}); err != nil {
		t.Fatalf("the replacement report does not encode: %v", err)
	}
}

// TestInvalidIDIsNotFound: the pipeline answers an ID no change can have with
// ErrNotFound, not an internal error (the NBI refuses such IDs first; issue #13).
func TestInvalidIDIsNotFound(t *testing.T) {
	s := unitService(t, &fakeCommitter{})
	ctx := context.Background()
	for _, id := range []string{"", "a\x00b", "\xff", strings.Repeat("x", 300)} {
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), "\x00") {
			t.Errorf("Get(%q): %v", id, err)
		}
		if _, err := s.Rollback(ctx, id, "carla", ""); !errors.Is(err, ErrNotFound) {
			t.Errorf("Rollback(%q): %v", id, err)
		}
	}
}
