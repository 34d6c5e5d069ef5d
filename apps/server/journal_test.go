package server

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
)

// lossyStore is a Store whose intent journal can lose acknowledgements: with
// loseAck set, the next Append stores its record and then reports an error; with
// failSince set, the next Since fails.
type lossyStore struct {
	repository.Store
	mu                 sync.Mutex
	loseAck, failSince bool
}

func (s *lossyStore) Intents() repository.Intents { return lossyIntents{s.Store.Intents(), s} }

type lossyIntents struct {
	repository.Intents
	s *lossyStore
}

var errAckLost = errors.New("connection reset before the commit was acknowledged")

func (l lossyIntents) Append(ctx context.Context, r repository.IntentRecord) (repository.IntentRecord, error) {
	out, err := l.Intents.Append(ctx, r)
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if err == nil && l.s.loseAck {
		l.s.loseAck = false
		return repository.IntentRecord{}, errAckLost
	}
	return out, err
}

func (l lossyIntents) Since(ctx context.Context, twinID string, after int64) ([]repository.IntentRecord, error) {
	l.s.mu.Lock()
	fail := l.s.failSince
	l.s.failSince = false
	l.s.mu.Unlock()
	if fail {
		return nil, errors.New("connection refused")
	}
	return l.Intents.Since(ctx, twinID, after)
}

// TestJournalSettlesLostAcknowledgements: a journal append the store kept but
// reported failed does not fail the write (it is read back); one whose read-back
// failed too fails the write, and the record it left is discarded by the next write
// instead of blocking every later write (it used to: "journal is already at revision
// N" until a restart, which then replayed the write its client was told had failed).
func TestJournalSettlesLostAcknowledgements(t *testing.T) {
	ctx := context.Background()
	base, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "j.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	st := &lossyStore{Store: base}
	j := newLiveJournal(st, slog.New(slog.DiscardHandler))
	m, err := twin.NewManager(twin.Options{Journal: j.write})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	live := m.Live()
	n, err := network.LeafSpine(2, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.Update(ctx, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err }); err != nil {
		t.Fatal(err)
	}
	l := n.Links[0]
	setCap := func(c float64) error {
		l.CapacityGbps = c
		_, err := live.Update(ctx, func(tx *twin.Txn) error { _, err := tx.PutLink(l, twin.UpdateOnly, 0); return err })
		return err
	}

	st.loseAck = true
	if err := setCap(5); err != nil {
		t.Fatalf("a write whose journal record was stored but not acknowledged failed: %v", err)
	}
	rev := live.Revision()

	st.loseAck, st.failSince = true, true
	if err := setCap(7); err == nil {
		t.Fatal("a write whose journal append and read-back both failed succeeded")
	}
	if live.Revision() != rev {
		t.Fatalf("the twin applied a write that failed: revision %d, want %d", live.Revision(), rev)
	}
	if err := setCap(9); err != nil {
		t.Fatalf("the write after a failed one: %v", err)
	}
	if err := setCap(11); err != nil {
		t.Fatalf("a further write: %v", err)
	}

	// The journal holds what the twin applied: a restore gives 11 at the same revision.
	m2, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if _, _, err := restoreLive(ctx, base, m2.Live()); err != nil {
		t.Fatal(err)
	}
	if m2.Live().Revision() != live.Revision() {
		t.Fatalf("restored revision %d, live %d", m2.Live().Revision(), live.Revision())
	}
	got, err := m2.Live().Link(l.ID)
	if err != nil || got.CapacityGbps != 11 {
		t.Fatalf("restored link %s: %+v, %v; want capacity 11", l.ID, got, err)
	}
	recs, err := base.Intents().Since(ctx, live.ID(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Revision != recs[i-1].Revision+1 {
			t.Fatalf("journal revisions %d then %d", recs[i-1].Revision, recs[i].Revision)
		}
	}
}

// BenchmarkJournaledWrite measures one intended-state write of the live twin as the server
// runs it: the transaction plus its durable journal append (sqlite, synchronous=FULL).
func BenchmarkJournaledWrite(b *testing.B) {
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(b.TempDir(), "j.db"), repository.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	j := newLiveJournal(st, slog.New(slog.DiscardHandler))
	m, err := twin.NewManager(twin.Options{Journal: j.write})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	n, err := network.LeafSpine(4, 2, 2)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err }); err != nil {
		b.Fatal(err)
	}
	l := n.Links[0]
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		l.CapacityGbps = float64(10 + i%50)
		if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error { _, err := tx.PutLink(l, twin.UpdateOnly, 0); return err }); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCheckpointTwiceAtOneRevision: the periodic checkpoint and the shutdown
// checkpoint may both run at one revision (nothing written between them); the second
// succeeds, keeps the snapshot and leaves no journal entry the snapshot covers.
func TestCheckpointTwiceAtOneRevision(t *testing.T) {
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "j.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	j := newLiveJournal(st, slog.New(slog.DiscardHandler))
	m, err := twin.NewManager(twin.Options{Journal: j.write})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	n, err := network.LeafSpine(2, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err }); err != nil {
		t.Fatal(err)
	}
	if err := j.checkpoint(ctx, m.Live()); err != nil {
		t.Fatalf("first checkpoint: %v", err)
	}
	// a journal entry at the snapshot's revision left by a checkpoint interrupted
	// between its two steps (snapshot saved, journal not yet truncated)
	if _, err := st.Intents().Append(ctx, repository.IntentRecord{TwinID: twin.LiveID, Revision: int64(m.Live().Revision()),
		Payload: []byte(`{"revision":1,"ops":[]}`)}); err != nil {
		t.Fatal(err)
	}
	if err := j.checkpoint(ctx, m.Live()); err != nil {
		t.Fatalf("second checkpoint at the same revision: %v", err)
	}
	ts, err := repository.LoadTwinState(ctx, st, twin.LiveID)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Snapshot == nil || ts.Snapshot.Revision != int64(m.Live().Revision()) || len(ts.Journal) != 0 {
		t.Fatalf("after two checkpoints: snapshot %+v, %d journal entries", ts.Snapshot, len(ts.Journal))
	}
	if left, err := st.Intents().Since(ctx, twin.LiveID, 0); err != nil || len(left) != 0 {
		t.Fatalf("journal entries covered by the snapshot are left: %d %v", len(left), err)
	}
}
