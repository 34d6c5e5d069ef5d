package closedloop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
)

// pgStore opens a scratch PostgreSQL database on TWINFLOW_TEST_PG (skipped without it,
// failed under TWINFLOW_REQUIRE_INTEGRATION=1), dropped when the test ends.
func pgStore(t *testing.T) repository.Store {
	t.Helper()
	admin := os.Getenv("TWINFLOW_TEST_PG")
	if admin == "" {
		if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("TWINFLOW_TEST_PG not set")
		}
		t.Skip("TWINFLOW_TEST_PG not set")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("tfc_closedloop_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = conn.Close(context.Background())
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	st, err := repository.Open(ctx, u.String(), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// Policy rules are intended state of the live twin: every write is journaled to the
// repository (PostgreSQL here) and a restarted twin replaying the journal has them,
// with their state and activation time.
func TestRulesPersistPostgres(t *testing.T) {
	st := pgStore(t)
	ctx := context.Background()
	journal := func(ctx context.Context, id string, e twin.JournalEntry) error {
		payload, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = st.Intents().Append(ctx, repository.IntentRecord{TwinID: id, Revision: int64(e.Revision), At: time.Now(), Payload: payload})
		return err
	}
	m, err := twin.NewManager(twin.Options{Journal: journal})
	if err != nil {
		t.Fatal(err)
	}
	ck := newClock()
	rules := &closedloop.Rules{Twins: m, Now: ck.Now}
	r, err := policy.Decode([]byte("id: cap-70\npriority: 5\nlimits: [{type: max-link-utilisation, percent: 70}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rules.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	if _, err := rules.SetState(ctx, "cap-70", policy.StateActive); err != nil {
		t.Fatal(err)
	}
	bad := &policy.Rule{ID: "bad", State: policy.StatePlanned}
	if _, err := rules.Create(ctx, bad); err == nil {
		t.Fatal("an invalid rule was stored")
	}
	m.Close()

	m2, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	ts, err := repository.LoadTwinState(ctx, st, twin.LiveID)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range ts.Journal {
		var e twin.JournalEntry
		if err := json.Unmarshal(rec.Payload, &e); err != nil {
			t.Fatal(err)
		}
		if err := m2.Live().ReplayJournal(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := (&closedloop.Rules{Twins: m2}).List()
	if err != nil || len(got) != 1 || got[0].ID != "cap-70" || got[0].State != policy.StateActive ||
		got[0].ActivatedAt == nil || !got[0].ActivatedAt.Equal(ck.Now()) || got[0].Limits[0].Percent != 70 {
		t.Fatalf("restored rules %+v %v", got, err)
	}
}

// The restoration scenario with the change store and ledger in PostgreSQL.
func TestRestorePostgres(t *testing.T) {
	st := pgStore(t)
	env := square(t, st)
	ctx := context.Background()
	r, _ := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: env.m, Pipeline: env.svc,
		Approver: closedloop.NamedRule{Name: "auto"}, Ledger: st.Ledger()})
	fd := newFeeder(t, env.m)
	for _, ev := range fd.link("bc", network.StatusDisabled, 0, time.Now()) {
		r.Handle(ctx, ev)
	}
	recs := r.Records()
	if len(recs) != 1 || recs[0].Outcome != closedloop.OutcomeCommitted {
		t.Fatalf("%+v", recs)
	}
	led, err := st.Ledger().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, l := range led {
		kinds[l.Kind]++
	}
	if kinds["restoration.completed"] != 1 || kinds[repository.KindChangeTransition] == 0 {
		t.Fatalf("ledger kinds %v", kinds)
	}
	if v, err := st.Ledger().Verify(ctx); err != nil || !v.OK {
		t.Fatalf("ledger verify %+v %v", v, err)
	}
}
