package repository_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/twinflow/twinflow/repository"
)

// TestMonitoringContract: KPI descriptors, samples, alarms and predicted-vs-observed
// records behave the same on both backends (REQ-MON-01..08, docs/monitoring.md).
func TestMonitoringContract(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testMonitoring(t, openT(t, b.dsn(t)))
		})
	}
}

func testMonitoring(t *testing.T, st repository.Store) {
	ctx := context.Background()
	m := st.Monitoring()
	k, err := m.CreateKPI(ctx, repository.KPIRecord{ID: "k1", Doc: json.RawMessage(`{"id": "k1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if string(k.Doc) != `{"id":"k1"}` || k.Created.IsZero() {
		t.Errorf("created %+v", k)
	}
	_, err = m.CreateKPI(ctx, repository.KPIRecord{ID: "k1", Doc: json.RawMessage(`{}`)})
	wantErr(t, err, repository.ErrConflict, "k1")
	_, err = m.CreateKPI(ctx, repository.KPIRecord{ID: "k2", Doc: json.RawMessage(`{`)})
	wantErr(t, err, repository.ErrInvalid, "kpi.doc")
	_, err = m.CreateKPI(ctx, repository.KPIRecord{ID: "", Doc: json.RawMessage(`{}`)})
	wantErr(t, err, repository.ErrInvalid, "kpi.id")
	if ks, err := m.ListKPIs(ctx); err != nil || len(ks) != 1 || ks[0].ID != "k1" {
		t.Fatalf("list %v %v", ks, err)
	}
	t0 := time.Unix(1_700_000_000, 0)
	var samples []repository.KPISample
	for i := range 10 {
		samples = append(samples, repository.KPISample{KPI: "k1", Time: t0.Add(time.Duration(i) * time.Second), Value: float64(i)})
	}
	if err := m.AppendKPISamples(ctx, samples); err != nil {
		t.Fatal(err)
	}
	// A duplicate time is ignored; a NaN rejects the whole batch.
	if err := m.AppendKPISamples(ctx, samples[:2]); err != nil {
		t.Fatal(err)
	}
	err = m.AppendKPISamples(ctx, []repository.KPISample{{KPI: "k1", Time: t0.Add(time.Hour), Value: 1}, {KPI: "k1", Time: t0, Value: math.NaN()}})
	wantErr(t, err, repository.ErrInvalid, "samples[1].value")
	got, err := m.KPIRange(ctx, "k1", t0.Add(2*time.Second), t0.Add(time.Hour+time.Second), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Value != 2 || got[4].Value != 6 {
		t.Errorf("range %+v", got)
	}
	if got, _ := m.KPIRange(ctx, "k1", t0, t0.Add(2*time.Hour), 100); len(got) != 10 {
		t.Errorf("the rejected batch left %d samples, want 10", len(got))
	}
	_, err = m.KPIRange(ctx, "k1", t0, t0, 5)
	wantErr(t, err, repository.ErrInvalid, "range")
	_, err = m.KPIRange(ctx, "k1", t0, t0.Add(time.Second), repository.MaxKPIRange+1)
	wantErr(t, err, repository.ErrInvalid, "limit")
	if n, err := m.PruneKPISamples(ctx, t0.Add(3*time.Second)); err != nil || n != 3 {
		t.Errorf("prune %d %v", n, err)
	}
	// Batches larger than one multi-row insert (500).
	var many []repository.KPISample
	for i := range 1200 {
		many = append(many, repository.KPISample{KPI: "k9", Time: t0.Add(time.Duration(i) * time.Millisecond), Value: float64(i)})
	}
	if err := m.AppendKPISamples(ctx, many); err != nil {
		t.Fatal(err)
	}
	if got, err := m.KPIRange(ctx, "k9", t0, t0.Add(time.Hour), 5000); err != nil || len(got) != 1200 || got[1199].Value != 1199 {
		t.Fatalf("1200 samples: %d %v", len(got), err)
	}
	if err := m.DeleteKPI(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, m.DeleteKPI(ctx, "k1"), repository.ErrNotFound, "k1")
	if got, _ := m.KPIRange(ctx, "k1", t0, t0.Add(2*time.Hour), 100); len(got) != 0 {
		t.Errorf("samples outlived their KPI: %d", len(got))
	}

	a := repository.AlarmRecord{ID: "a1", Key: "link-down:L1", State: "raised", Raised: t0, Updated: t0, Doc: json.RawMessage(`{"id":"a1"}`)}
	if err := m.PutAlarm(ctx, a); err != nil {
		t.Fatal(err)
	}
	a2 := a
	a2.ID, a2.Key = "a2", "flow-affected:f1"
	if err := m.PutAlarm(ctx, a2); err != nil {
		t.Fatal(err)
	}
	a.State, a.Updated = "cleared", t0.Add(time.Minute)
	if err := m.PutAlarm(ctx, a); err != nil {
		t.Fatal(err)
	}
	bad := a
	bad.State = "open"
	wantErr(t, m.PutAlarm(ctx, bad), repository.ErrInvalid, "alarm.state")
	if got, err := m.GetAlarm(ctx, "a1"); err != nil || got.State != "cleared" || !got.Updated.Equal(t0.Add(time.Minute)) || !got.Raised.Equal(t0) {
		t.Errorf("get %+v %v", got, err)
	}
	if as, err := m.ListAlarms(ctx, repository.AlarmFilter{State: "raised"}); err != nil || len(as) != 1 || as[0].ID != "a2" {
		t.Errorf("raised %+v %v", as, err)
	}
	if as, err := m.ListAlarms(ctx, repository.AlarmFilter{AfterID: "a1", Limit: 1}); err != nil || len(as) != 1 || as[0].ID != "a2" {
		t.Errorf("page %+v %v", as, err)
	}
	_, err = m.ListAlarms(ctx, repository.AlarmFilter{Limit: -1})
	wantErr(t, err, repository.ErrInvalid, "limit")
	// Pruning removes cleared alarms only.
	if n, err := m.PruneAlarms(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("prune alarms: %d %v", n, err)
	}
	if as, _ := m.ListAlarms(ctx, repository.AlarmFilter{}); len(as) != 1 || as[0].ID != "a2" {
		t.Errorf("after prune: %+v", as)
	}
	_, err = m.GetAlarm(ctx, "nope")
	wantErr(t, err, repository.ErrNotFound, "nope")

	if err := m.PutComparison(ctx, "c1", json.RawMessage(`{"diverged":true}`)); err != nil {
		t.Fatal(err)
	}
	if doc, err := m.GetComparison(ctx, "c1"); err != nil || string(doc) != `{"diverged":true}` {
		t.Errorf("comparison %s %v", doc, err)
	}
	_, err = m.GetComparison(ctx, "c2")
	wantErr(t, err, repository.ErrNotFound, "c2")
}
