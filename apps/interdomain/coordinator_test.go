package interdomain

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// fakePipeline holds sub-slice changes in memory (unit test only; the real pipeline is
// exercised by cmd/twinflow TestInterdomainSliceThreeDomains).
type fakePipeline struct {
	mu      sync.Mutex
	changes map[string]*pipeline.Change
	calls   []string
}

func (f *fakePipeline) Propose(context.Context, *change.ChangeSet, string) (*pipeline.Change, error) {
	panic("not used")
}
func (f *fakePipeline) Approve(context.Context, string, string) (*pipeline.Change, error) {
	panic("not used")
}
func (f *fakePipeline) Commit(context.Context, string, string, time.Duration) (*pipeline.Change, error) {
	panic("not used")
}
func (f *fakePipeline) end(id, op string, to change.State) (*pipeline.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, op+" "+id)
	c := f.changes[id]
	c.State = to
	cp := *c
	return &cp, nil
}
func (f *fakePipeline) Confirm(_ context.Context, id, _ string) (*pipeline.Change, error) {
	return f.end(id, "confirm", change.StateCommitted)
}
func (f *fakePipeline) Rollback(_ context.Context, id, _, _ string) (*pipeline.Change, error) {
	return f.end(id, "rollback", change.StateRolledBack)
}
func (f *fakePipeline) Get(_ context.Context, id string) (*pipeline.Change, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.changes[id]
	if !ok {
		return nil, pipeline.ErrNotFound
	}
	cp := *c
	return &cp, nil
}

func subsliceChange(t *testing.T, id, slice string) *pipeline.Change {
	t.Helper()
	r := &SubSliceRequest{Slice: slice, Coordinator: "AS1", Src: "a", Dst: "b", SLO: SLO{MinRateGbps: 1}}
	cs, err := r.ChangeSet("op", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline.Change{ID: id, State: change.StateCommitting, ChangeSet: cs}
}

// TestResumeAfterCrash: a coordinator that died mid-way left its record; the next one
// ends it from the record alone — rolled back everywhere when not every domain had
// accepted, confirmed everywhere once the decision to commit was recorded.
func TestResumeAfterCrash(t *testing.T) {
	for _, c := range []struct {
		phase, wantPhase, wantCall string
		wantState                  change.State
	}{
		{PhasePreparing, PhaseAborted, "rollback c1", change.StateRolledBack},
		{PhaseConfirming, PhaseActive, "confirm c1", change.StateCommitted},
	} {
		t.Run(c.phase, func(t *testing.T) {
			dir := t.TempDir()
			rec := Record{Name: "s1", Phase: c.phase, Request: SliceRequest{Name: "s1", Domains: []string{"AS1", "AS2"}},
				Domains: []DomainStep{{Domain: "AS1", Src: "a", Dst: "b", Change: "c1", Step: StepPrepared}}}
			b, _ := json.Marshal(rec)
			if err := os.WriteFile(filepath.Join(dir, "s1.json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			fp := &fakePipeline{changes: map[string]*pipeline.Change{"c1": subsliceChange(t, "c1", "s1")}}
			co, err := NewCoordinator(&Settings{Domain: "AS1", StateDir: dir}, NewAgent(fp, nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			co.Resume(context.Background())
			if len(fp.calls) != 1 || fp.calls[0] != c.wantCall {
				t.Fatalf("calls %v, want [%s]", fp.calls, c.wantCall)
			}
			got, err := co.Get(context.Background(), "s1")
			if err != nil || got.Phase != c.wantPhase || got.Domains[0].Status == nil || got.Domains[0].Status.State != c.wantState {
				t.Fatalf("%+v %v", got, err)
			}
			// the record on disk says so too
			b, _ = os.ReadFile(filepath.Join(dir, "s1.json"))
			var disk Record
			if err := json.Unmarshal(b, &disk); err != nil || disk.Phase != c.wantPhase {
				t.Fatalf("on disk: %s", b)
			}
		})
	}
}

// TestAgentRefusesOtherChanges: a peer can confirm or roll back sub-slices only.
func TestAgentRefusesOtherChanges(t *testing.T) {
	fp := &fakePipeline{changes: map[string]*pipeline.Change{
		"other": {ID: "other", State: change.StateCommitting, ChangeSet: &change.ChangeSet{Kind: change.KindIntent}},
	}}
	a := NewAgent(fp, nil)
	if _, err := a.Confirm(context.Background(), "peer", "other"); err == nil || len(fp.calls) != 0 {
		t.Fatalf("confirmed a change that is not a sub-slice: %v %v", err, fp.calls)
	}
	if _, err := a.Rollback(context.Background(), "peer", "other", ""); err == nil || len(fp.calls) != 0 {
		t.Fatalf("rolled back a change that is not a sub-slice: %v %v", err, fp.calls)
	}
}
