package closedloop_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
)

func stepNames(rs closedloop.Restoration) []string {
	var out []string
	for _, s := range rs.Steps {
		out = append(out, s.Name)
	}
	return out
}

// REQ-REL-01: a link failure reported by telemetry (through telesync) is restored: the
// affected flow is rerouted in a fork, validated, approved by the rule, committed;
// detection and time to restore are recorded separately, in the record, the change
// and the ledger.
func TestRestoreLinkFailure(t *testing.T) {
	env := square(t, nil)
	ctx := context.Background()
	ck := newClock()
	r, err := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: env.m, Pipeline: env.svc,
		Approver: closedloop.NamedRule{Name: "auto-restore"}, Ledger: env.st.Ledger(), Now: ck.Now})
	if err != nil {
		t.Fatal(err)
	}
	fd := newFeeder(t, env.m)
	failedAt := ck.Now()
	ck.Add(40 * time.Millisecond) // the sample reaches the controller 40 ms later
	var recs []closedloop.Restoration
	for _, ev := range fd.link("bc", network.StatusDisabled, 0, failedAt) {
		r.Handle(ctx, ev)
	}
	recs = r.Records()
	if len(recs) != 1 {
		t.Fatalf("%d restorations", len(recs))
	}
	rs := recs[0]
	if rs.Outcome != closedloop.OutcomeCommitted || rs.Approver != "rule:auto-restore" || rs.DetectionMs != 40 {
		t.Fatalf("restoration %+v", rs)
	}
	want := []string{"detected", "fork", "computed", "proposed", "validated", "approved", "committed"}
	if !slices.Equal(stepNames(rs), want) {
		t.Fatalf("steps %v; want %v", stepNames(rs), want)
	}
	if p := flowPath(t, env.m, "gold"); !slices.Equal(p, []string{"ad", "dc"}) {
		t.Fatalf("gold path %v; want [ad dc]", p)
	}
	// back within its SLO: gold shares ad with silver (4 Gb/s): 6 >= 3
	if g := rs.PredictedGbps["gold"]; g < 3 || len(rs.SLOMisses) != 0 {
		t.Fatalf("predicted %v misses %v", rs.PredictedGbps, rs.SLOMisses)
	}
	c, err := env.svc.Get(ctx, rs.Change)
	if err != nil || c.State != change.StateCommitted || c.Author != closedloop.RestoreUser || len(c.ChangeSet.Intents) != 1 {
		t.Fatalf("change %+v %v", c, err)
	}
	var spec struct {
		DetectionMs float64 `json:"detection_ms"`
	}
	if err := json.Unmarshal(c.ChangeSet.Intents[0].Spec, &spec); err != nil || spec.DetectionMs != 40 {
		t.Fatalf("change intent %s: %v", c.ChangeSet.Intents[0].Spec, err)
	}
	led, err := env.st.Ledger().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, l := range led {
		if l.Kind == "restoration.completed" && l.Subject == rs.ID {
			found = true
		}
	}
	if !found {
		t.Fatal("no restoration record in the ledger")
	}
	// the same failure reported again does not restore twice
	for _, ev := range fd.link("bc", network.StatusDisabled, 0, ck.Now()) {
		r.Handle(ctx, ev)
	}
	if n := len(r.Records()); n != 1 {
		t.Fatalf("%d restorations after a repeated report", n)
	}
}

// A failure that leaves a flow no path restores what it can and names the rest.
func TestRestoreUnrestorable(t *testing.T) {
	env := square(t, nil)
	ck := newClock()
	r, _ := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: env.m, Pipeline: env.svc, Now: ck.Now})
	rs := r.Restore(context.Background(), "test", []string{"ab", "ad"}, time.Time{}, ck.Now())
	if !slices.Equal(rs.Unrestored, []string{"gold", "silver"}) || rs.Outcome != closedloop.OutcomeFailed ||
		rs.Reason != "no affected flow has a path left: gold, silver (a person decides)" {
		t.Fatalf("%+v", rs)
	}
}

// Re-optimisation on demand: once the failed link is back, flows return to the best
// path; without an approval rule the change waits for a person.
func TestOptimize(t *testing.T) {
	env := square(t, nil)
	ctx := context.Background()
	ck := newClock()
	r, _ := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: env.m, Pipeline: env.svc,
		Approver: closedloop.NamedRule{Name: "auto"}, Now: ck.Now})
	fd := newFeeder(t, env.m)
	for _, ev := range fd.link("ab", network.StatusDisabled, 0, ck.Now()) {
		r.Handle(ctx, ev)
	}
	if p := flowPath(t, env.m, "gold"); !slices.Equal(p, []string{"ad", "dc"}) {
		t.Fatalf("after failure: %v", p)
	}
	for _, ev := range fd.link("ab", network.StatusEnabled, 0, ck.Now()) {
		r.Handle(ctx, ev)
	}
	rs := r.Optimize(ctx, "on demand", nil)
	if rs.Outcome != closedloop.OutcomeCommitted || !slices.Equal(flowPath(t, env.m, "gold"), []string{"ab", "bc"}) {
		t.Fatalf("optimise: %+v path %v", rs, flowPath(t, env.m, "gold"))
	}
	if rs = r.Optimize(ctx, "again", nil); len(rs.Paths) != 0 || rs.Outcome != closedloop.OutcomeNothing || rs.Reason != "every flow is already on its best path" {
		t.Fatalf("second optimise: %+v", rs)
	}
}

// A failure whose event the restorer missed (its subscription lagged) is found by
// Resync, which Run calls on a lagged marker.
func TestRestoreResync(t *testing.T) {
	env := square(t, nil)
	ctx := context.Background()
	ck := newClock()
	r, _ := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: env.m, Pipeline: env.svc,
		Approver: closedloop.NamedRule{Name: "auto"}, Now: ck.Now})
	fd := newFeeder(t, env.m)
	fd.link("bc", network.StatusDisabled, 0, ck.Now()) // events not handed to r
	r.Resync(ctx)
	r.Resync(ctx) // known down now: no second restoration
	recs := r.Records()
	if len(recs) != 1 || recs[0].Outcome != closedloop.OutcomeCommitted || recs[0].Trigger != "link-down bc" {
		t.Fatalf("%+v", recs)
	}
}
