package repository_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twinflow/twinflow/repository"
)

// TestContract runs the same suite against every backend.
func TestContract(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			t.Run("changes", func(t *testing.T) { testChanges(t, openT(t, b.dsn(t))) })
			t.Run("change-list", func(t *testing.T) { testChangeList(t, openT(t, b.dsn(t))) })
			t.Run("concurrent-transitions", func(t *testing.T) { testConcurrentTransitions(t, openT(t, b.dsn(t))) })
			t.Run("ledger", func(t *testing.T) { testLedger(t, openT(t, b.dsn(t))) })
			t.Run("ledger-concurrent", func(t *testing.T) { testLedgerConcurrent(t, openT(t, b.dsn(t))) })
			t.Run("group-commit", func(t *testing.T) { testGroupCommit(t, openT(t, b.dsn(t))) })
			t.Run("transition-steps", func(t *testing.T) { testTransitionSteps(t, openT(t, b.dsn(t))) })
			t.Run("ledger-tamper", func(t *testing.T) { testLedgerTamper(t, b) })
			t.Run("telemetry", func(t *testing.T) { testTelemetry(t, openT(t, b.dsn(t))) })
			t.Run("telemetry-order", func(t *testing.T) { testTelemetryOrder(t, openT(t, b.dsn(t))) })
			t.Run("telemetry-compact", func(t *testing.T) { testTelemetryCompact(t, openT(t, b.dsn(t))) })
			t.Run("telemetry-bad-input", func(t *testing.T) { testTelemetryBad(t, openT(t, b.dsn(t))) })
			t.Run("snapshots", func(t *testing.T) { testSnapshots(t, openT(t, b.dsn(t))) })
			t.Run("intents", func(t *testing.T) { testIntents(t, openT(t, b.dsn(t))) })
			t.Run("twin-restore", func(t *testing.T) { testTwinRestore(t, b) })
			t.Run("datasets-certifications", func(t *testing.T) { testDatasetsCerts(t, openT(t, b.dsn(t))) })
			t.Run("policies", func(t *testing.T) { testPolicies(t, openT(t, b.dsn(t))) })
			t.Run("users-tokens", func(t *testing.T) { testUsersTokens(t, openT(t, b.dsn(t))) })
			t.Run("migrations", func(t *testing.T) { testMigrations(t, b) })
			t.Run("reopen", func(t *testing.T) { testReopen(t, b) })
		})
	}
}

func wantErr(t *testing.T, err error, sentinel error, contains string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("got error %v; want %v", err, sentinel)
	}
	if contains != "" && !strings.Contains(err.Error(), contains) {
		t.Fatalf("error %q does not name %q", err, contains)
	}
}

func mustVerify(t *testing.T, st repository.Store, records int) {
	t.Helper()
	res, err := st.Ledger().Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK || (records >= 0 && res.Records != records) {
		t.Fatalf("verify: %+v; want OK with %d records", res, records)
	}
}

func testChanges(t *testing.T, st repository.Store) {
	ctx := context.Background()
	c, err := st.Changes().Create(ctx, repository.Change{ID: "c1", TwinID: "live", Title: "add slice", Author: "alice",
		Payload: json.RawMessage(`{ "devices": [ "r1" ] }`)})
	if err != nil {
		t.Fatal(err)
	}
	if c.State != repository.StateDraft || c.Version != 0 || string(c.Payload) != `{"devices":["r1"]}` {
		t.Fatalf("created %+v", c)
	}
	got, err := st.Changes().Get(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" {
		t.Fatalf("get differs from create (-create +get):\n%s", diff)
	}

	_, err = st.Changes().Create(ctx, repository.Change{ID: "c1", TwinID: "live"})
	wantErr(t, err, repository.ErrConflict, `"c1"`)
	_, err = st.Changes().Create(ctx, repository.Change{ID: "", TwinID: "live"})
	wantErr(t, err, repository.ErrInvalid, "change.id")
	_, err = st.Changes().Create(ctx, repository.Change{ID: "c2"})
	wantErr(t, err, repository.ErrInvalid, "change.twin_id")
	_, err = st.Changes().Create(ctx, repository.Change{ID: "c2", TwinID: "live", Payload: json.RawMessage(`{bad`)})
	wantErr(t, err, repository.ErrInvalid, "change.payload")
	_, err = st.Changes().Create(ctx, repository.Change{ID: "c2", TwinID: "live", State: repository.StateCommitted})
	wantErr(t, err, repository.ErrInvalid, "change.state")
	_, err = st.Changes().Create(ctx, repository.Change{ID: "c\x01", TwinID: "live"})
	wantErr(t, err, repository.ErrInvalid, "control character")
	_, err = st.Changes().Get(ctx, "nope")
	wantErr(t, err, repository.ErrNotFound, `"nope"`)

	// The full happy path, each with a report.
	path := []repository.ChangeState{repository.StateDraft, repository.StateValidating, repository.StateValidated,
		repository.StateApproved, repository.StateCommitting, repository.StateCommitted}
	for i := 1; i < len(path); i++ {
		rep := json.RawMessage(fmt.Sprintf(`{"step":%d}`, i))
		c, tr, err := st.Changes().Transition(ctx, "c1", repository.TransitionRequest{From: path[i-1], To: path[i],
			Actor: "bob", Reason: "because", Report: rep})
		if err != nil {
			t.Fatalf("transition %s -> %s: %v", path[i-1], path[i], err)
		}
		if c.State != path[i] || c.Version != int64(i) || string(c.Report) != string(rep) {
			t.Fatalf("after transition %d: %+v", i, c)
		}
		if tr.LedgerSeq != int64(i+1) || tr.Version != int64(i) {
			t.Fatalf("transition record %+v", tr)
		}
	}
	// Terminal state, stale from-state, illegal pair, unknown change, unknown state, bad report.
	_, _, err = st.Changes().Transition(ctx, "c1", repository.TransitionRequest{From: repository.StateCommitted, To: repository.StateRolledBack})
	wantErr(t, err, repository.ErrIllegalTransition, "committed -> rolled_back")
	if !errors.Is(err, repository.ErrInvalid) {
		t.Fatalf("illegal transition %v should also match ErrInvalid", err)
	}
	_, _, err = st.Changes().Transition(ctx, "c1", repository.TransitionRequest{From: repository.StateDraft, To: repository.StateValidating})
	wantErr(t, err, repository.ErrConflict, "is committed, not draft")
	_, _, err = st.Changes().Transition(ctx, "ghost", repository.TransitionRequest{From: repository.StateDraft, To: repository.StateValidating})
	wantErr(t, err, repository.ErrNotFound, `"ghost"`)
	_, _, err = st.Changes().Transition(ctx, "c1", repository.TransitionRequest{From: "limbo", To: repository.StateValidating})
	wantErr(t, err, repository.ErrInvalid, "transition.from")
	_, _, err = st.Changes().Transition(ctx, "", repository.TransitionRequest{From: repository.StateDraft, To: repository.StateValidating})
	wantErr(t, err, repository.ErrInvalid, "change.id")
	if _, err := st.Changes().Create(ctx, repository.Change{ID: "c3", TwinID: "live"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = st.Changes().Transition(ctx, "c3", repository.TransitionRequest{From: repository.StateDraft, To: repository.StateValidating, Report: json.RawMessage("[")})
	wantErr(t, err, repository.ErrInvalid, "transition.report")
	if c3, _ := st.Changes().Get(ctx, "c3"); c3.State != repository.StateDraft || c3.Version != 0 {
		t.Fatalf("rejected transition changed the change: %+v", c3)
	}

	trs, err := st.Changes().Transitions(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(trs) != 5 {
		t.Fatalf("got %d transitions; want 5", len(trs))
	}
	// Every transition has its ledger record, with matching kind/subject/payload.
	recs, err := st.Ledger().List(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[int64]repository.LedgerRecord{}
	for _, r := range recs {
		bySeq[r.Seq] = r
	}
	if r := bySeq[1]; r.Kind != repository.KindChangeCreated || r.Subject != "c1" {
		t.Fatalf("ledger record 1: %+v", r)
	}
	for i, tr := range trs {
		if tr.From != path[i] || tr.To != path[i+1] || tr.Actor != "bob" || tr.Reason != "because" {
			t.Fatalf("transition %d: %+v", i, tr)
		}
		r, ok := bySeq[tr.LedgerSeq]
		if !ok || r.Kind != repository.KindChangeTransition || r.Subject != "c1" {
			t.Fatalf("transition %d ledger record %d: %+v", i, tr.LedgerSeq, r)
		}
		var ev struct {
			From, To repository.ChangeState
			Version  int64
		}
		if err := json.Unmarshal(r.Payload, &ev); err != nil || ev.From != tr.From || ev.To != tr.To || ev.Version != tr.Version {
			t.Fatalf("ledger payload %s does not describe %+v (%v)", r.Payload, tr, err)
		}
	}
	_, err = st.Changes().Transitions(ctx, "ghost")
	wantErr(t, err, repository.ErrNotFound, "ghost")
	mustVerify(t, st, 7)
}

func testChangeList(t *testing.T, st repository.Store) {
	ctx := context.Background()
	for i := range 10 {
		twin := "a"
		if i%2 == 1 {
			twin = "b"
		}
		if _, err := st.Changes().Create(ctx, repository.Change{ID: fmt.Sprintf("ch%02d", i), TwinID: twin}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.Changes().Transition(ctx, "ch03", repository.TransitionRequest{From: repository.StateDraft, To: repository.StateRejected}); err != nil {
		t.Fatal(err)
	}
	ids := func(cs []repository.Change) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.ID)
		}
		return strings.Join(s, ",")
	}
	cases := []struct {
		name string
		f    repository.ChangeFilter
		want string
	}{
		{"all", repository.ChangeFilter{}, "ch00,ch01,ch02,ch03,ch04,ch05,ch06,ch07,ch08,ch09"},
		{"twin-b", repository.ChangeFilter{TwinID: "b"}, "ch01,ch03,ch05,ch07,ch09"},
		{"rejected", repository.ChangeFilter{State: repository.StateRejected}, "ch03"},
		{"page", repository.ChangeFilter{AfterID: "ch04", Limit: 3}, "ch05,ch06,ch07"},
		{"twin-a-draft", repository.ChangeFilter{TwinID: "a", State: repository.StateDraft, Limit: 2}, "ch00,ch02"},
	}
	for _, tc := range cases {
		got, err := st.Changes().List(ctx, tc.f)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ids(got) != tc.want {
			t.Errorf("%s: got %s; want %s", tc.name, ids(got), tc.want)
		}
	}
	_, err := st.Changes().List(ctx, repository.ChangeFilter{State: "bogus"})
	wantErr(t, err, repository.ErrInvalid, "filter.state")
	_, err = st.Changes().List(ctx, repository.ChangeFilter{Limit: -1})
	wantErr(t, err, repository.ErrInvalid, "filter.limit")
}

// testConcurrentTransitions: many writers race to move the same change out of draft;
// exactly one wins, the others get ErrConflict, and the ledger stays linear.
func testConcurrentTransitions(t *testing.T, st repository.Store) {
	ctx := context.Background()
	const changes, writers = 5, 8
	for i := range changes {
		if _, err := st.Changes().Create(ctx, repository.Change{ID: fmt.Sprintf("race%d", i), TwinID: "live"}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := map[string]int{}
	conflicts := 0
	for c := range changes {
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				to := repository.StateValidating
				if w%2 == 1 {
					to = repository.StateRejected
				}
				_, _, err := st.Changes().Transition(ctx, fmt.Sprintf("race%d", c), repository.TransitionRequest{
					From: repository.StateDraft, To: to, Actor: fmt.Sprintf("w%d", w)})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins[fmt.Sprintf("race%d", c)]++
				case errors.Is(err, repository.ErrConflict):
					conflicts++
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
	}
	wg.Wait()
	for c := range changes {
		id := fmt.Sprintf("race%d", c)
		if wins[id] != 1 {
			t.Errorf("%s: %d writers won; want exactly 1", id, wins[id])
		}
		trs, err := st.Changes().Transitions(ctx, id)
		if err != nil || len(trs) != 1 {
			t.Errorf("%s: transitions %v, %v; want 1", id, trs, err)
		}
	}
	if conflicts != changes*(writers-1) {
		t.Errorf("conflicts = %d; want %d", conflicts, changes*(writers-1))
	}
	mustVerify(t, st, 2*changes)
}

func testLedger(t *testing.T, st repository.Store) {
	ctx := context.Background()
	mustVerify(t, st, 0)
	r1, err := st.Ledger().Append(ctx, repository.LedgerEntry{Kind: repository.KindDeviceSoftware, Subject: "r1",
		Payload: json.RawMessage(`{"from":"1.0","to":"1.1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := st.Ledger().Append(ctx, repository.LedgerEntry{Kind: repository.KindCommitResult, Subject: "c9"})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Seq != 1 || r2.Seq != 2 || string(r2.PrevHash) != string(r1.Hash) || len(r1.Hash) != 32 {
		t.Fatalf("records %+v %+v", r1, r2)
	}
	if want := repository.LedgerHash(r1.Seq, r1.Time, r1.Kind, r1.Subject, r1.Payload, r1.PrevHash); string(want) != string(r1.Hash) {
		t.Fatal("returned hash does not match LedgerHash")
	}
	recs, err := st.Ledger().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]repository.LedgerRecord{r1, r2}, recs); diff != "" {
		t.Fatalf("list differs from appended (-want +got):\n%s", diff)
	}
	if recs, _ := st.Ledger().List(ctx, 2, 1); len(recs) != 1 || recs[0].Seq != 2 {
		t.Fatalf("List(2,1) = %+v", recs)
	}
	for _, tc := range []struct {
		e     repository.LedgerEntry
		field string
	}{
		{repository.LedgerEntry{Kind: "", Subject: "x"}, "kind"},
		{repository.LedgerEntry{Kind: "Bad Kind", Subject: "x"}, "kind"},
		{repository.LedgerEntry{Kind: "a.b", Subject: ""}, "ledger.subject"},
		{repository.LedgerEntry{Kind: "a.b", Subject: "x", Payload: json.RawMessage(`{`)}, "ledger.payload"},
	} {
		_, err := st.Ledger().Append(ctx, tc.e)
		wantErr(t, err, repository.ErrInvalid, tc.field)
	}
	_, err = st.Ledger().List(ctx, 0, -1)
	wantErr(t, err, repository.ErrInvalid, "limit")
	// Appends through the normal API cannot edit: the triggers refuse UPDATE/DELETE.
	if _, err := repository.RawExec(ctx, st, `UPDATE ledger SET subject = 'evil' WHERE seq = 1`); err == nil {
		t.Fatal("UPDATE of a ledger row succeeded; want the append-only trigger to refuse it")
	}
	if _, err := repository.RawExec(ctx, st, `DELETE FROM ledger WHERE seq = 2`); err == nil {
		t.Fatal("DELETE of a ledger row succeeded; want the append-only trigger to refuse it")
	}
	mustVerify(t, st, 2)
}

func testLedgerConcurrent(t *testing.T, st repository.Store) {
	ctx := context.Background()
	const workers, each = 8, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := st.Ledger().Append(ctx, repository.LedgerEntry{Kind: repository.KindDeviceSoftware,
					Subject: fmt.Sprintf("dev%d", w), Payload: json.RawMessage(fmt.Sprintf(`{"v":%d}`, i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	mustVerify(t, st, workers*each)
}

// testTransitionSteps: CreateWith and TransitionSteps store every step (transition row
// and ledger record, then the request's extra ledger records) in one transaction, or
// nothing when any part is refused.
func testTransitionSteps(t *testing.T, st repository.Store) {
	ctx := context.Background()
	chs := st.Changes()
	step := func(from, to repository.ChangeState) repository.TransitionRequest {
		return repository.TransitionRequest{From: from, To: to, Actor: "a", Reason: string(from) + "->" + string(to)}
	}
	c, trs, err := chs.CreateWith(ctx, repository.Change{ID: "s1", TwinID: "live", Author: "a"},
		step(repository.StateDraft, repository.StateValidating))
	if err != nil {
		t.Fatal(err)
	}
	if c.State != repository.StateValidating || c.Version != 1 || len(trs) != 1 || trs[0].Version != 1 {
		t.Fatalf("CreateWith: %+v %+v", c, trs)
	}
	mustVerify(t, st, 2)
	journal := repository.LedgerEntry{Kind: "commit.journal", Subject: "s1", Payload: json.RawMessage(`{"phase":"applying"}`)}
	last := step(repository.StateApproved, repository.StateCommitting)
	last.Ledger = []repository.LedgerEntry{journal, {Kind: "commit.journal", Subject: "s1", Payload: json.RawMessage(`{"n":2}`)}}
	c, trs, err = chs.TransitionSteps(ctx, "s1", step(repository.StateValidating, repository.StateValidated),
		step(repository.StateValidated, repository.StateApproved), last)
	if err != nil {
		t.Fatal(err)
	}
	if c.State != repository.StateCommitting || c.Version != 4 || len(trs) != 3 {
		t.Fatalf("TransitionSteps: %+v %+v", c, trs)
	}
	recs, err := st.Ledger().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	want := []string{"change.created", "change.transition", "change.transition", "change.transition", "change.transition",
		"commit.journal", "commit.journal"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Fatalf("ledger kinds (-want +got):\n%s", diff)
	}
	for i, tr := range trs {
		if tr.Version != int64(i+2) || recs[tr.LedgerSeq-1].Kind != "change.transition" {
			t.Errorf("transition %d: %+v", i, tr)
		}
	}
	if string(recs[5].Payload) != `{"phase":"applying"}` || recs[5].Subject != "s1" {
		t.Errorf("journal record %+v", recs[5])
	}
	mustVerify(t, st, 7)

	// refused requests store nothing
	bad := []struct {
		name     string
		call     func() error
		sentinel error
		contains string
	}{
		{"broken chain", func() error {
			_, _, err := chs.TransitionSteps(ctx, "s1", step(repository.StateCommitting, repository.StateCommitted),
				step(repository.StateApproved, repository.StateCommitting))
			return err
		}, repository.ErrInvalid, "transition[1].from"},
		{"illegal step", func() error {
			_, _, err := chs.TransitionSteps(ctx, "s1", step(repository.StateCommitting, repository.StateApproved))
			return err
		}, repository.ErrIllegalTransition, "committing -> approved"},
		{"illegal later step", func() error {
			r := step(repository.StateCommitted, repository.StateRejected)
			r.Ledger = []repository.LedgerEntry{{Kind: "Bad", Subject: "s1"}}
			_, _, err := chs.TransitionSteps(ctx, "s1", step(repository.StateCommitting, repository.StateCommitted), r)
			return err
		}, repository.ErrIllegalTransition, "committed -> rejected"},
		{"bad ledger kind in a legal step", func() error {
			r := step(repository.StateCommitting, repository.StateCommitted)
			r.Ledger = []repository.LedgerEntry{{Kind: "Bad", Subject: "s1"}}
			_, _, err := chs.TransitionSteps(ctx, "s1", r)
			return err
		}, repository.ErrInvalid, "transition.ledger[0].kind"},
		{"bad ledger payload (refused inside the transaction)", func() error {
			r := step(repository.StateCommitting, repository.StateCommitted)
			r.Ledger = []repository.LedgerEntry{{Kind: "commit.journal", Subject: "s1", Payload: json.RawMessage(`{`)}}
			_, _, err := chs.TransitionSteps(ctx, "s1", r)
			return err
		}, repository.ErrInvalid, "ledger.payload"},
		{"stale from", func() error {
			_, _, err := chs.TransitionSteps(ctx, "s1", step(repository.StateApproved, repository.StateCommitting))
			return err
		}, repository.ErrConflict, "is committing, not approved"},
		{"duplicate create", func() error {
			_, _, err := chs.CreateWith(ctx, repository.Change{ID: "s1", TwinID: "live"}, step(repository.StateDraft, repository.StateValidating))
			return err
		}, repository.ErrConflict, "already exists"},
		{"create with a refused later step", func() error {
			r := step(repository.StateValidating, repository.StateValidated)
			r.Ledger = []repository.LedgerEntry{{Kind: "commit.journal", Subject: "s2", Payload: json.RawMessage(`[1,`)}}
			_, _, err := chs.CreateWith(ctx, repository.Change{ID: "s2", TwinID: "live"}, step(repository.StateDraft, repository.StateValidating), r)
			return err
		}, repository.ErrInvalid, "ledger.payload"},
		{"create with a first step not from draft", func() error {
			_, _, err := chs.CreateWith(ctx, repository.Change{ID: "s3", TwinID: "live"}, step(repository.StateValidating, repository.StateValidated))
			return err
		}, repository.ErrInvalid, "transition.from"},
		{"no steps", func() error { _, _, err := chs.TransitionSteps(ctx, "s1"); return err }, repository.ErrInvalid, "no steps"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			wantErr(t, b.call(), b.sentinel, b.contains)
			mustVerify(t, st, 7)
			got, err := chs.Get(ctx, "s1")
			if err != nil || got.State != repository.StateCommitting || got.Version != 4 {
				t.Fatalf("s1 after refused request: %+v %v", got, err)
			}
			for _, id := range []string{"s2", "s3"} {
				if _, err := chs.Get(ctx, id); !errors.Is(err, repository.ErrNotFound) {
					t.Fatalf("%s exists after a refused create: %v", id, err)
				}
			}
			trs, err := chs.Transitions(ctx, "s1")
			if err != nil || len(trs) != 4 {
				t.Fatalf("s1 transitions %d %v; want 4", len(trs), err)
			}
		})
	}
}

// testGroupCommit: concurrent ledger-appending writes, some of which fail (duplicate
// IDs, which abort a PostgreSQL transaction; transitions from the wrong state; invalid
// ledger entries), are group-committed: every call that succeeded is stored with its
// ledger record, no call that failed left anything, and the chain verifies.
func testGroupCommit(t *testing.T, st repository.Store) {
	ctx := context.Background()
	const workers, rounds = 16, 12
	var mu sync.Mutex
	okCreates, okTransitions, okAppends, failures := 0, 0, 0, 0
	seqs := map[int64]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				// every pair of workers races to create the same ID: one wins
				id := fmt.Sprintf("g%d-%d", w/2, r)
				_, cerr := st.Changes().Create(ctx, repository.Change{ID: id, TwinID: "live", Author: "w"})
				// both race to move it draft -> validating: one wins
				_, tr, terr := st.Changes().Transition(ctx, id, repository.TransitionRequest{
					From: repository.StateDraft, To: repository.StateValidating, Actor: fmt.Sprintf("w%d", w)})
				// an invalid entry fails validation; a valid one is appended
				_, berr := st.Ledger().Append(ctx, repository.LedgerEntry{Kind: "Bad Kind", Subject: id})
				rec, aerr := st.Ledger().Append(ctx, repository.LedgerEntry{Kind: repository.KindDeviceSoftware, Subject: id,
					Payload: json.RawMessage(fmt.Sprintf(`{"w":%d}`, w))})
				mu.Lock()
				switch {
				case cerr == nil:
					okCreates++
				case errors.Is(cerr, repository.ErrConflict):
					failures++
				default:
					t.Errorf("create %s: %v", id, cerr)
				}
				switch {
				case terr == nil:
					okTransitions++
					if prev, dup := seqs[tr.LedgerSeq]; dup {
						t.Errorf("ledger seq %d returned to %s and %s", tr.LedgerSeq, prev, id)
					}
					seqs[tr.LedgerSeq] = id
				case errors.Is(terr, repository.ErrConflict):
					failures++
				default:
					t.Errorf("transition %s: %v", id, terr)
				}
				if !errors.Is(berr, repository.ErrInvalid) {
					t.Errorf("bad append: %v; want ErrInvalid", berr)
				}
				if aerr != nil {
					t.Errorf("append: %v", aerr)
				} else {
					okAppends++
					if prev, dup := seqs[rec.Seq]; dup {
						t.Errorf("ledger seq %d returned to %s and %s", rec.Seq, prev, id)
					}
					seqs[rec.Seq] = id
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	pairs := workers / 2 * rounds
	if okCreates != pairs || okTransitions != pairs || okAppends != workers*rounds || failures != 2*pairs {
		t.Fatalf("creates %d transitions %d appends %d failures %d; want %d, %d, %d, %d",
			okCreates, okTransitions, okAppends, failures, pairs, pairs, workers*rounds, 2*pairs)
	}
	// nothing of a failed call is stored: exactly one record per successful call
	mustVerify(t, st, okCreates+okTransitions+okAppends)
	recs, err := st.Ledger().List(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if want, ok := seqs[r.Seq]; ok && r.Subject != want {
			t.Errorf("ledger record %d is about %s; the call that got it was about %s", r.Seq, r.Subject, want)
		}
	}
	list, err := st.Changes().List(ctx, repository.ChangeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list {
		trs, err := st.Changes().Transitions(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != repository.StateValidating || c.Version != 1 || len(trs) != 1 {
			t.Errorf("%s: state %s version %d transitions %d; want validating, 1, 1", c.ID, c.State, c.Version, len(trs))
		}
	}
	// a canceled caller gets its context's error and stores nothing
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := st.Ledger().Append(cctx, repository.LedgerEntry{Kind: repository.KindDeviceSoftware, Subject: "x"}); !errors.Is(err, context.Canceled) {
		t.Errorf("append with canceled context: %v; want context.Canceled", err)
	}
	mustVerify(t, st, okCreates+okTransitions+okAppends)
}

// testLedgerTamper: each kind of tampering is detected and located.
func testLedgerTamper(t *testing.T, b backend) {
	ctx := context.Background()
	build := func(t *testing.T) repository.Store {
		st := openT(t, b.dsn(t))
		for i := range 6 {
			if _, err := st.Ledger().Append(ctx, repository.LedgerEntry{Kind: repository.KindDeviceSoftware,
				Subject: fmt.Sprintf("r%d", i+1), Payload: json.RawMessage(fmt.Sprintf(`{"version":"%d.0"}`, i))}); err != nil {
				t.Fatal(err)
			}
		}
		mustVerify(t, st, 6)
		return st
	}
	cases := []struct {
		name    string
		stmts   []string
		bad     int64
		keyword string
	}{
		{"edit-payload", []string{`UPDATE ledger SET payload = '{"version":"9.9"}' WHERE seq = 3`}, 3, "edited"},
		{"edit-time", []string{`UPDATE ledger SET at = at + 1 WHERE seq = 4`}, 4, "edited"},
		{"edit-and-rehash", []string{`UPDATE ledger SET payload = '{}', hash = prev_hash WHERE seq = 2`}, 2, "edited"},
		{"delete-middle", []string{`DELETE FROM ledger WHERE seq = 3`}, 3, "missing"},
		{"delete-tail", []string{`DELETE FROM ledger WHERE seq = 6`}, 6, "missing"},
		{"swap", []string{`UPDATE ledger SET seq = 100 WHERE seq = 2`, `UPDATE ledger SET seq = 2 WHERE seq = 5`,
			`UPDATE ledger SET seq = 5 WHERE seq = 100`}, 2, "prev_hash"},
		{"insert-extra", []string{`INSERT INTO ledger (seq, at, kind, subject, payload, prev_hash, hash)
			SELECT 7, at, kind, subject, payload, hash, hash FROM ledger WHERE seq = 6`}, 7, "edited"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := build(t)
			tamper(t, st, tc.stmts...)
			res, err := st.Ledger().Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.OK || res.FirstBad == nil || *res.FirstBad != tc.bad || !strings.Contains(res.Reason, tc.keyword) {
				t.Fatalf("verify after %s: %+v (first_bad %v); want first bad %d, reason with %q",
					tc.name, res, deref(res.FirstBad), tc.bad, tc.keyword)
			}
		})
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testTelemetry(t *testing.T, st repository.Store) {
	ctx := context.Background()
	var samples []repository.Sample
	// r1/eth0/in_octets: one sample per second, value = i; r1//cpu: value = 2*i.
	for i := range 100 {
		ts := t0.Add(time.Duration(i) * time.Second)
		samples = append(samples,
			repository.Sample{Device: "r1", Interface: "eth0", Metric: "in_octets", Time: ts, Value: float64(i)},
			repository.Sample{Device: "r1", Metric: "cpu", Time: ts.Add(time.Nanosecond), Value: float64(2 * i)})
	}
	if err := st.Telemetry().Append(ctx, samples[:50]); err != nil {
		t.Fatal(err)
	}
	if err := st.Telemetry().Append(ctx, samples[50:]); err != nil {
		t.Fatal(err)
	}
	raw, err := st.Telemetry().Range(ctx, repository.RangeQuery{Device: "r1", Interface: "eth0", Metric: "in_octets",
		From: t0.Add(10 * time.Second), To: t0.Add(20 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 10 || raw[0].Avg != 10 || raw[9].Avg != 19 || !raw[0].Time.Equal(t0.Add(10*time.Second)) || raw[3].Count != 1 {
		t.Fatalf("raw range: %+v", raw)
	}
	// Nanosecond precision is kept.
	cpu, err := st.Telemetry().Range(ctx, repository.RangeQuery{Device: "r1", Metric: "cpu", From: t0, To: t0.Add(2 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if len(cpu) != 2 || !cpu[1].Time.Equal(t0.Add(time.Second+time.Nanosecond)) || cpu[1].Avg != 2 {
		t.Fatalf("cpu range: %+v", cpu)
	}
	// Downsampled: 10 s buckets from t0+5s: bucket k holds i in [5+10k, 15+10k).
	ds, err := st.Telemetry().Range(ctx, repository.RangeQuery{Device: "r1", Interface: "eth0", Metric: "in_octets",
		From: t0.Add(5 * time.Second), To: t0.Add(200 * time.Second), Step: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 10 {
		t.Fatalf("got %d buckets; want 10: %+v", len(ds), ds)
	}
	for k, p := range ds {
		lo := float64(5 + 10*k)
		hi := math.Min(lo+9, 99)
		n := int64(hi - lo + 1)
		if !p.Time.Equal(t0.Add(time.Duration(5+10*k)*time.Second)) || p.Min != lo || p.Max != hi || p.Count != n || p.Avg != (lo+hi)/2 {
			t.Errorf("bucket %d: %+v; want min %v max %v count %d avg %v", k, p, lo, hi, n, (lo+hi)/2)
		}
	}
	series, err := st.Telemetry().Series(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]repository.Series{{"r1", "", "cpu"}, {"r1", "eth0", "in_octets"}}, series); diff != "" {
		t.Fatalf("series (-want +got):\n%s", diff)
	}
	// Retention.
	n, err := st.Telemetry().Prune(ctx, t0.Add(50*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n != 100 { // 50 of each series (cpu sample 49 is at 49s+1ns < 50s)
		t.Fatalf("pruned %d; want 100", n)
	}
	left, err := st.Telemetry().Range(ctx, repository.RangeQuery{Device: "r1", Interface: "eth0", Metric: "in_octets",
		From: t0, To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 50 || left[0].Avg != 50 {
		t.Fatalf("after prune: %d points, first %+v", len(left), left[0])
	}
}

func testTelemetryBad(t *testing.T, st repository.Store) {
	ctx := context.Background()
	good := repository.Sample{Device: "r1", Interface: "eth0", Metric: "m", Time: t0, Value: 1}
	bad := func(mut func(*repository.Sample)) []repository.Sample {
		s := good
		mut(&s)
		return []repository.Sample{good, s}
	}
	cases := []struct {
		name    string
		samples []repository.Sample
		field   string
	}{
		{"nan", bad(func(s *repository.Sample) { s.Value = math.NaN() }), "samples[1].value"},
		{"inf", bad(func(s *repository.Sample) { s.Value = math.Inf(-1) }), "samples[1].value"},
		{"no-device", bad(func(s *repository.Sample) { s.Device = "" }), "samples[1].device"},
		{"no-metric", bad(func(s *repository.Sample) { s.Metric = "" }), "samples[1].metric"},
		{"zero-time", bad(func(s *repository.Sample) { s.Time = time.Time{} }), "samples[1].time"},
		{"bad-utf8", bad(func(s *repository.Sample) { s.Interface = "\xff" }), "samples[1].interface"},
	}
	for _, tc := range cases {
		err := st.Telemetry().Append(ctx, tc.samples)
		wantErr(t, err, repository.ErrInvalid, tc.field)
	}
	// Nothing of the rejected batches was stored.
	_, err := st.Telemetry().Range(ctx, repository.RangeQuery{Device: "r1", Interface: "eth0", Metric: "m", From: t0, To: t0.Add(time.Hour)})
	wantErr(t, err, repository.ErrNotFound, "r1/eth0/m")
	if err := st.Telemetry().Append(ctx, nil); err != nil {
		t.Fatalf("empty append: %v", err)
	}
	if err := st.Telemetry().Append(ctx, []repository.Sample{good}); err != nil {
		t.Fatal(err)
	}
	q := repository.RangeQuery{Device: "r1", Interface: "eth0", Metric: "m", From: t0, To: t0}
	_, err = st.Telemetry().Range(ctx, q)
	wantErr(t, err, repository.ErrInvalid, "query.to")
	q.To, q.Step = t0.Add(time.Hour), -time.Second
	_, err = st.Telemetry().Range(ctx, q)
	wantErr(t, err, repository.ErrInvalid, "query.step")
	q.Step = time.Nanosecond
	_, err = st.Telemetry().Range(ctx, q)
	wantErr(t, err, repository.ErrInvalid, "buckets")
	q.Metric = ""
	_, err = st.Telemetry().Range(ctx, q)
	wantErr(t, err, repository.ErrInvalid, "query.metric")
	_, err = st.Telemetry().Prune(ctx, time.Time{})
	wantErr(t, err, repository.ErrInvalid, "older_than")
}

func testSnapshots(t *testing.T, st repository.Store) {
	ctx := context.Background()
	for rev := int64(1); rev <= 3; rev++ {
		if _, err := st.Snapshots().Save(ctx, repository.Snapshot{TwinID: "live", Revision: rev * 10,
			Data: []byte(fmt.Sprintf(`{"rev":%d}`, rev*10))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Snapshots().Save(ctx, repository.Snapshot{TwinID: "fork-1", Revision: 5, Data: []byte{0, 1, 2, 255}}); err != nil {
		t.Fatal(err)
	}
	latest, err := st.Snapshots().Latest(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	if latest.Revision != 30 || string(latest.Data) != `{"rev":30}` || latest.Taken.IsZero() {
		t.Fatalf("latest: %+v", latest)
	}
	fork, err := st.Snapshots().Get(ctx, "fork-1", 5)
	if err != nil || string(fork.Data) != "\x00\x01\x02\xff" {
		t.Fatalf("fork: %+v %v", fork, err)
	}
	_, err = st.Snapshots().Save(ctx, repository.Snapshot{TwinID: "live", Revision: 20, Data: []byte("x")})
	wantErr(t, err, repository.ErrConflict, "live@20")
	_, err = st.Snapshots().Save(ctx, repository.Snapshot{TwinID: "live", Revision: 40})
	wantErr(t, err, repository.ErrInvalid, "snapshot.data")
	_, err = st.Snapshots().Save(ctx, repository.Snapshot{Revision: 40, Data: []byte("x")})
	wantErr(t, err, repository.ErrInvalid, "snapshot.twin_id")
	_, err = st.Snapshots().Latest(ctx, "nobody")
	wantErr(t, err, repository.ErrNotFound, "nobody")
	_, err = st.Snapshots().Get(ctx, "live", 11)
	wantErr(t, err, repository.ErrNotFound, "live@11")
	list, err := st.Snapshots().List(ctx, "")
	if err != nil || len(list) != 4 || list[0].TwinID != "fork-1" || list[1].Revision != 10 || list[1].Data != nil {
		t.Fatalf("list: %+v %v", list, err)
	}
	if err := st.Snapshots().Delete(ctx, "live", 30); err != nil {
		t.Fatal(err)
	}
	wantErr(t, st.Snapshots().Delete(ctx, "live", 30), repository.ErrNotFound, "live@30")
	if latest, _ := st.Snapshots().Latest(ctx, "live"); latest.Revision != 20 {
		t.Fatalf("latest after delete: %+v", latest)
	}
}

func testIntents(t *testing.T, st repository.Store) {
	ctx := context.Background()
	for rev := int64(1); rev <= 4; rev++ {
		if _, err := st.Intents().Append(ctx, repository.IntentRecord{TwinID: "live", Revision: rev, ChangeID: fmt.Sprintf("c%d", rev),
			Payload: []byte(fmt.Sprintf(`{"op":%d}`, rev))}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := st.Intents().Append(ctx, repository.IntentRecord{TwinID: "live", Revision: 3, Payload: []byte("x")})
	wantErr(t, err, repository.ErrConflict, "already at revision 4")
	_, err = st.Intents().Append(ctx, repository.IntentRecord{TwinID: "live", Revision: 0, Payload: []byte("x")})
	wantErr(t, err, repository.ErrInvalid, "intent.revision")
	_, err = st.Intents().Append(ctx, repository.IntentRecord{TwinID: "live", Revision: 9})
	wantErr(t, err, repository.ErrInvalid, "intent.payload")
	recs, err := st.Intents().Since(ctx, "live", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Revision != 3 || recs[1].ChangeID != "c4" || string(recs[1].Payload) != `{"op":4}` {
		t.Fatalf("since 2: %+v", recs)
	}
	n, err := st.Intents().Truncate(ctx, "live", 3)
	if err != nil || n != 3 {
		t.Fatalf("truncate: %d %v", n, err)
	}
	if recs, _ := st.Intents().Since(ctx, "live", 0); len(recs) != 1 || recs[0].Revision != 4 {
		t.Fatalf("after truncate: %+v", recs)
	}
	// Another twin's journal is independent.
	if _, err := st.Intents().Append(ctx, repository.IntentRecord{TwinID: "fork", Revision: 1, Payload: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	// Discard drops the records from a revision on (only that twin's); the revision
	// can then be appended again.
	for rev := int64(5); rev <= 6; rev++ {
		if _, err := st.Intents().Append(ctx, repository.IntentRecord{TwinID: "live", Revision: rev, Payload: []byte("z")}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.Intents().Discard(ctx, "live", 5); err != nil || n != 2 {
		t.Fatalf("discard from 5: %d %v", n, err)
	}
	if _, err := st.Intents().Append(ctx, repository.IntentRecord{TwinID: "live", Revision: 5, Payload: []byte(`{"op":5}`)}); err != nil {
		t.Fatalf("append 5 after discard: %v", err)
	}
	if recs, _ := st.Intents().Since(ctx, "live", 0); len(recs) != 2 || recs[1].Revision != 5 || string(recs[1].Payload) != `{"op":5}` {
		t.Fatalf("after discard and append: %+v", recs)
	}
	if recs, _ := st.Intents().Since(ctx, "fork", 0); len(recs) != 1 {
		t.Fatalf("another twin's journal after discard: %+v", recs)
	}
	_, err = st.Intents().Discard(ctx, "live", 0)
	wantErr(t, err, repository.ErrInvalid, "at least 1")
}

func testDatasetsCerts(t *testing.T, st repository.Store) {
	ctx := context.Background()
	d, err := st.Datasets().Put(ctx, repository.Dataset{ID: "ds1", Name: "failures", Status: "running", Params: json.RawMessage(`{"n": 10}`)})
	if err != nil {
		t.Fatal(err)
	}
	d2, err := st.Datasets().Put(ctx, repository.Dataset{ID: "ds1", Name: "failures", Status: "done", Params: d.Params, Meta: json.RawMessage(`{"rows":10}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !d2.Created.Equal(d.Created) {
		t.Fatalf("update changed created: %v -> %v", d.Created, d2.Created)
	}
	got, err := st.Datasets().Get(ctx, "ds1")
	if err != nil || got.Status != "done" || string(got.Params) != `{"n":10}` || string(got.Meta) != `{"rows":10}` {
		t.Fatalf("get dataset: %+v %v", got, err)
	}
	_, err = st.Datasets().Put(ctx, repository.Dataset{ID: "ds2", Name: "x", Status: "new", Meta: json.RawMessage("nope")})
	wantErr(t, err, repository.ErrInvalid, "dataset.meta")
	if l, _ := st.Datasets().List(ctx); len(l) != 1 {
		t.Fatalf("datasets: %+v", l)
	}
	if err := st.Datasets().Delete(ctx, "ds1"); err != nil {
		t.Fatal(err)
	}
	_, err = st.Datasets().Get(ctx, "ds1")
	wantErr(t, err, repository.ErrNotFound, "ds1")

	if _, err := st.Certifications().Create(ctx, repository.Certification{ID: "cert1", ChangeID: "c1", Verdict: "pass",
		Report: json.RawMessage(`{"checks":3}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Certifications().Create(ctx, repository.Certification{ID: "cert2", ChangeID: "c2", Verdict: "fail"}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Certifications().Create(ctx, repository.Certification{ID: "cert2", Verdict: "fail"})
	wantErr(t, err, repository.ErrConflict, "cert2")
	_, err = st.Certifications().Create(ctx, repository.Certification{ID: "cert3"})
	wantErr(t, err, repository.ErrInvalid, "certification.verdict")
	l, err := st.Certifications().List(ctx, "c1")
	if err != nil || len(l) != 1 || string(l[0].Report) != `{"checks":3}` {
		t.Fatalf("list certs: %+v %v", l, err)
	}
	_, err = st.Certifications().Get(ctx, "zzz")
	wantErr(t, err, repository.ErrNotFound, "zzz")
}

func testUsersTokens(t *testing.T, st repository.Store) {
	ctx := context.Background()
	u, err := st.Users().Create(ctx, repository.User{ID: "u1", Name: "alice", Role: "operator", PasswordHash: []byte("kdf")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Users().Create(ctx, repository.User{ID: "u2", Name: "alice", Role: "viewer"})
	wantErr(t, err, repository.ErrConflict, "alice")
	_, err = st.Users().Create(ctx, repository.User{ID: "u2", Name: "bob"})
	wantErr(t, err, repository.ErrInvalid, "user.role")
	byName, err := st.Users().GetByName(ctx, "alice")
	if err != nil || byName.ID != "u1" || string(byName.PasswordHash) != "kdf" || !byName.Created.Equal(u.Created) {
		t.Fatalf("by name: %+v %v", byName, err)
	}
	u.Role = "admin"
	if _, err := st.Users().Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	_, err = st.Users().Update(ctx, repository.User{ID: "ghost", Name: "g", Role: "r"})
	wantErr(t, err, repository.ErrNotFound, "ghost")

	secret := "tfk_0123456789abcdef"
	tok, err := st.Tokens().Create(ctx, repository.Token{ID: "t1", UserID: "u1", Name: "ci", Hash: repository.HashToken(secret),
		Expires: t0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Tokens().Create(ctx, repository.Token{ID: "t2", UserID: "u1", Hash: []byte("short")})
	wantErr(t, err, repository.ErrInvalid, "token.hash")
	_, err = st.Tokens().Create(ctx, repository.Token{ID: "t2", UserID: "nobody", Hash: repository.HashToken("x")})
	wantErr(t, err, repository.ErrNotFound, "nobody")
	_, err = st.Tokens().Create(ctx, repository.Token{ID: "t2", UserID: "u1", Hash: repository.HashToken(secret)})
	wantErr(t, err, repository.ErrConflict, "t2")
	got, err := st.Tokens().Lookup(ctx, repository.HashToken(secret))
	if err != nil || got.ID != "t1" || got.Revoked || !got.Expires.Equal(tok.Expires) {
		t.Fatalf("lookup: %+v %v", got, err)
	}
	_, err = st.Tokens().Lookup(ctx, repository.HashToken("wrong"))
	wantErr(t, err, repository.ErrNotFound, "token")
	if err := st.Tokens().Revoke(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Tokens().Lookup(ctx, repository.HashToken(secret)); !got.Revoked {
		t.Fatal("revoked token not marked revoked")
	}
	// The secret is never stored: no column holds it.
	if n, err := repository.RawExec(ctx, st, `UPDATE tokens SET name = name WHERE name = $1 OR id = $1`, secret); err != nil || n != 0 {
		t.Fatalf("secret found in tokens table: %d %v", n, err)
	}
	if err := st.Users().Delete(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.Tokens().List(ctx, ""); len(l) != 0 {
		t.Fatalf("tokens survive their user: %+v", l)
	}
	wantErr(t, st.Users().Delete(ctx, "u1"), repository.ErrNotFound, "u1")
}

func testMigrations(t *testing.T, b backend) {
	ctx := context.Background()
	dsn := b.dsn(t)
	st, err := repository.Open(ctx, dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.SchemaVersion() != repository.LatestSchemaVersion() || st.SchemaVersion() < 1 || st.Backend() != b.name {
		t.Fatalf("schema %d backend %s; want %d %s", st.SchemaVersion(), st.Backend(), repository.LatestSchemaVersion(), b.name)
	}
	if _, err := repository.RawExec(ctx, st, `INSERT INTO schema_migrations (version, name, applied) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	_, err = repository.Open(ctx, dsn, repository.Options{})
	wantErr(t, err, repository.ErrSchemaTooNew, "version 999")
}

// testReopen: data survives closing and reopening (and migrations are not re-applied).
func testReopen(t *testing.T, b backend) {
	ctx := context.Background()
	dsn := b.dsn(t)
	st, err := repository.Open(ctx, dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Changes().Create(ctx, repository.Change{ID: "keep", TwinID: "live"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Snapshots().Save(ctx, repository.Snapshot{TwinID: "live", Revision: 1, Data: []byte("s")}); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	_, err = st.Changes().Get(ctx, "keep")
	wantErr(t, err, repository.ErrClosed, "closed")
	err = st.Telemetry().Append(ctx, []repository.Sample{{Device: "d", Metric: "m", Time: t0, Value: 1}})
	wantErr(t, err, repository.ErrClosed, "closed")
	_, err = st.Ledger().Verify(ctx)
	wantErr(t, err, repository.ErrClosed, "closed")
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	st2 := openT(t, dsn)
	if c, err := st2.Changes().Get(ctx, "keep"); err != nil || c.TwinID != "live" {
		t.Fatalf("after reopen: %+v %v", c, err)
	}
	mustVerify(t, st2, 1)
}

// testTelemetryOrder: samples arriving out of order (within and across appends) and
// series longer than one chunk come back in time order with exact aggregates; a
// corrupt chunk row is reported, not decoded.
func testTelemetryOrder(t *testing.T, st repository.Store) {
	ctx := context.Background()
	const n = 5000 // more than two chunks
	var even, odd []repository.Sample
	for i := n - 1; i >= 0; i-- { // reversed within each append
		s := repository.Sample{Device: "r2", Interface: "eth1", Metric: "out_rate", Time: t0.Add(time.Duration(i) * time.Millisecond), Value: float64(i)}
		if i%2 == 0 {
			even = append(even, s)
		} else {
			odd = append(odd, s)
		}
	}
	if err := st.Telemetry().Append(ctx, odd); err != nil {
		t.Fatal(err)
	}
	if err := st.Telemetry().Append(ctx, even); err != nil {
		t.Fatal(err)
	}
	q := repository.RangeQuery{Device: "r2", Interface: "eth1", Metric: "out_rate", From: t0, To: t0.Add(time.Hour)}
	raw, err := st.Telemetry().Range(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != n {
		t.Fatalf("got %d points; want %d", len(raw), n)
	}
	for i, p := range raw {
		if p.Avg != float64(i) || !p.Time.Equal(t0.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("point %d: %+v", i, p)
		}
	}
	q.Step = time.Second
	agg, err := st.Telemetry().Range(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if len(agg) != 5 || agg[2].Count != 1000 || agg[2].Min != 2000 || agg[2].Max != 2999 || agg[2].Avg != 2499.5 {
		t.Fatalf("aggregates: %+v", agg)
	}
	// Prune in the middle of chunks keeps exactly the newer samples.
	pruned, err := st.Telemetry().Prune(ctx, t0.Add(1234*time.Millisecond))
	if err != nil || pruned != 1234 {
		t.Fatalf("pruned %d, %v; want 1234", pruned, err)
	}
	q.Step = 0
	if raw, _ = st.Telemetry().Range(ctx, q); len(raw) != n-1234 || raw[0].Avg != 1234 {
		t.Fatalf("after prune: %d points, first %+v", len(raw), raw[0])
	}
	if _, err := repository.RawExec(ctx, st, `UPDATE telemetry_chunks SET data = $1`, []byte{1, 5, 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Telemetry().Range(ctx, q); err == nil || !strings.Contains(err.Error(), "corrupt telemetry chunk") {
		t.Fatalf("corrupt chunk: got %v", err)
	}
}

// testTwinRestore: a restarted process rebuilds a twin as latest snapshot + journal.
func testTwinRestore(t *testing.T, b backend) {
	ctx := context.Background()
	dsn := b.dsn(t)
	st, err := repository.Open(ctx, dsn, repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := repository.LoadTwinState(ctx, st, "live"); err != nil || ts.Snapshot != nil || len(ts.Journal) != 0 {
		t.Fatalf("empty twin: %+v %v", ts, err)
	}
	for rev := int64(1); rev <= 5; rev++ {
		if _, err := st.Intents().Append(ctx, repository.IntentRecord{TwinID: "live", Revision: rev, Payload: []byte(fmt.Sprint(rev))}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := repository.Checkpoint(ctx, st, repository.Snapshot{TwinID: "live", Revision: 3, Data: []byte("state@3")}); err != nil {
		t.Fatal(err)
	}
	_, err = repository.Checkpoint(ctx, st, repository.Snapshot{TwinID: "live", Revision: 3, Data: []byte("again")})
	wantErr(t, err, repository.ErrConflict, "live@3")
	_ = st.Close()

	st2 := openT(t, dsn)
	ts, err := repository.LoadTwinState(ctx, st2, "live")
	if err != nil {
		t.Fatal(err)
	}
	if ts.Snapshot == nil || ts.Snapshot.Revision != 3 || string(ts.Snapshot.Data) != "state@3" {
		t.Fatalf("snapshot: %+v", ts.Snapshot)
	}
	if len(ts.Journal) != 2 || ts.Journal[0].Revision != 4 || string(ts.Journal[1].Payload) != "5" {
		t.Fatalf("journal: %+v", ts.Journal)
	}
	if all, _ := st2.Intents().Since(ctx, "live", 0); len(all) != 2 {
		t.Fatalf("checkpoint did not truncate the journal: %+v", all)
	}
	_, err = repository.LoadTwinState(ctx, st2, "")
	wantErr(t, err, repository.ErrInvalid, "twin_id")
}

// testTelemetryCompact: many one-sample appends leave one-sample chunks; Compact merges
// them without changing any query result.
func testTelemetryCompact(t *testing.T, st repository.Store) {
	ctx := context.Background()
	const n = 120
	for i := range n {
		// Two series, one sample each per append, slightly out of order.
		j := i ^ 1
		if err := st.Telemetry().Append(ctx, []repository.Sample{
			{Device: "r3", Metric: "temp", Time: t0.Add(time.Duration(j) * time.Second), Value: float64(j)},
			{Device: "r4", Metric: "temp", Time: t0.Add(time.Duration(i) * time.Second), Value: -float64(i)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	q := repository.RangeQuery{Device: "r3", Metric: "temp", From: t0, To: t0.Add(time.Hour), Step: time.Minute}
	before, err := st.Telemetry().Range(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	removed, err := st.Telemetry().Compact(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if removed != 2*(n-1) {
		t.Fatalf("compact removed %d rows; want %d", removed, 2*(n-1))
	}
	after, err := st.Telemetry().Range(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, after); diff != "" || len(after) != 2 || after[0].Count != 60 {
		t.Fatalf("compact changed results (-before +after):\n%s\n%+v", diff, after)
	}
	q.Device, q.Step = "r4", 0
	raw, err := st.Telemetry().Range(ctx, q)
	if err != nil || len(raw) != n || raw[n-1].Avg != -float64(n-1) {
		t.Fatalf("r4 after compact: %d points, %v", len(raw), err)
	}
	if removed, err := st.Telemetry().Compact(ctx); err != nil || removed != 0 {
		t.Fatalf("second compact: %d %v; want 0", removed, err)
	}
}

// testPolicies: a named policy is created, replaced with its version counted, guarded
// by an expected version, and bad input leaves it untouched (issue #18 item 4).
func testPolicies(t *testing.T, st repository.Store) {
	ctx := context.Background()
	_, err := st.Policies().Get(ctx, "push")
	wantErr(t, err, repository.ErrNotFound, "push")
	p, err := st.Policies().Put(ctx, repository.Policy{Name: "push", Doc: json.RawMessage(`{"stages": []}`), Actor: "admin"}, 0)
	if err != nil || p.Version != 1 {
		t.Fatalf("put: %+v %v", p, err)
	}
	_, err = st.Policies().Put(ctx, repository.Policy{Name: "push", Doc: json.RawMessage(`{}`)}, 7)
	wantErr(t, err, repository.ErrConflict, "version 1")
	_, err = st.Policies().Put(ctx, repository.Policy{Name: "push", Doc: json.RawMessage(`{nope`)}, 0)
	wantErr(t, err, repository.ErrInvalid, "policy.doc")
	_, err = st.Policies().Put(ctx, repository.Policy{Name: "", Doc: json.RawMessage(`{}`)}, 0)
	wantErr(t, err, repository.ErrInvalid, "policy.name")
	if p, err = st.Policies().Put(ctx, repository.Policy{Name: "push", Doc: json.RawMessage(`{"a":1}`), Actor: "root"}, 1); err != nil || p.Version != 2 {
		t.Fatalf("replace: %+v %v", p, err)
	}
	got, err := st.Policies().Get(ctx, "push")
	if err != nil || got.Version != 2 || string(got.Doc) != `{"a":1}` || got.Actor != "root" || got.Updated.IsZero() {
		t.Fatalf("get: %+v %v", got, err)
	}
}
