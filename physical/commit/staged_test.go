package commit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

// TestCommitStaged (issue #18 item 4, staged rollout): the stages are applied in
// order, no device of a later stage is set before the earlier stage is read back and
// the Verify hook passed, and the journal records the stages done.
func TestCommitStaged(t *testing.T) {
	fl, ops := fleet(4)
	j := newJournal()
	e := engine(fl, j)
	var mu sync.Mutex
	var events []string
	for id, d := range fl {
		d.onSet = func() { mu.Lock(); events = append(events, "set "+id); mu.Unlock() }
	}
	e.Verify = func(ctx context.Context, id string) error {
		mu.Lock()
		events = append(events, "verify")
		mu.Unlock()
		return nil
	}
	stages := [][]string{{"r1"}, {"r2", "r3"}, {"r4"}}
	rec, err := e.CommitStaged(context.Background(), "c1", ops, 0, stages)
	if err != nil || rec.Phase != PhaseConfirmed {
		t.Fatalf("commit: %v %+v", err, rec)
	}
	got := strings.Join(events, ",")
	// r2 and r3 run in parallel: either order
	if got != "set r1,verify,set r2,set r3,verify,set r4,verify" && got != "set r1,verify,set r3,set r2,verify,set r4,verify" {
		t.Errorf("events %s", got)
	}
	if rec.StagesDone != 3 || len(rec.Stages) != 3 {
		t.Errorf("stages done %d of %v", rec.StagesDone, rec.Stages)
	}
	atIntent(t, fl, "r1", "r2", "r3", "r4")
}

// TestCommitStagedFailureRollsBackEarlierStages: a failed verification after stage 1
// restores stage 1's devices and never sets stage 2's; a device refusing its Set in
// stage 2 restores stage 1 too.
func TestCommitStagedFailureRollsBackEarlierStages(t *testing.T) {
	fl, ops := fleet(3)
	e := engine(fl, newJournal())
	e.Verify = func(ctx context.Context, id string) error { return errors.New("telemetry says no") }
	rec, err := e.CommitStaged(context.Background(), "c1", ops, 0, [][]string{{"r1"}, {"r2", "r3"}})
	if !errors.Is(err, ErrRolledBack) || !strings.Contains(rec.Reason, "after stage 1 of 2") {
		t.Fatalf("err %v reason %q", err, rec.Reason)
	}
	if fl["r2"].sets.Load() != 0 || fl["r3"].sets.Load() != 0 {
		t.Error("a device of stage 2 was set after stage 1 failed verification")
	}
	if rec.Devices["r1"].Status != DeviceRestored || rec.Devices["r2"].Status != DeviceUnchanged {
		t.Errorf("statuses r1 %s r2 %s", rec.Devices["r1"].Status, rec.Devices["r2"].Status)
	}
	atPreImage(t, fl, "r1", "r2", "r3")

	fl, ops = fleet(3)
	fl["r3"].reject = true
	e = engine(fl, newJournal())
	rec, err = e.CommitStaged(context.Background(), "c2", ops, 0, [][]string{{"r1"}, {"r2", "r3"}})
	if !errors.Is(err, ErrRolledBack) || !strings.Contains(rec.Reason, "stage 2 of 2") || rec.StagesDone != 1 {
		t.Fatalf("err %v reason %q done %d", err, rec.Reason, rec.StagesDone)
	}
	atPreImage(t, fl, "r1", "r2", "r3")
}

func TestCommitStagedBadStages(t *testing.T) {
	fl, ops := fleet(2)
	e := engine(fl, newJournal())
	for _, st := range [][][]string{{{"r1"}}, {{"r1"}, {"r1", "r2"}}, {{"r1"}, {}}, {{"r1"}, {"r9"}}} {
		if _, err := e.CommitStaged(context.Background(), "c", ops, 0, st); err == nil {
			t.Errorf("stages %v accepted", st)
		}
	}
	if fl["r1"].sets.Load()+fl["r2"].sets.Load() != 0 {
		t.Error("bad stages sent a Set")
	}
}
