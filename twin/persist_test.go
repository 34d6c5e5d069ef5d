package twin_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

// journalRecorder keeps journal entries as a database would: encoded.
type journalRecorder struct {
	entries [][]byte
	twins   []string
	fail    error
}

func (j *journalRecorder) write(_ context.Context, twinID string, e twin.JournalEntry) error {
	if j.fail != nil {
		return j.fail
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	j.entries = append(j.entries, b)
	j.twins = append(j.twins, twinID)
	return nil
}

func exportJSON(t *testing.T, tw *twin.Twin) string {
	t.Helper()
	s, err := tw.ExportState()
	if err != nil {
		t.Fatal(err)
	}
	s.Twin = "" // compare content only
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPersistRoundTrip: snapshot in the middle of a history of writes, then restore the
// snapshot and replay the later journal entries into a new manager: the result equals
// the original twin exactly (issue 5, item 4).
func TestPersistRoundTrip(t *testing.T) {
	ctx := context.Background()
	j := &journalRecorder{}
	m, err := twin.NewManager(twin.Options{Journal: j.write})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	live := m.Live()
	n, err := network.LeafSpine(2, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, live, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err })
	link := n.Links[0]
	d := 2.5
	flow := network.Flow{ID: "f1", Src: link.Endpoints[0].Device, Dst: link.Endpoints[1].Device,
		Path: []string{link.ID}, DemandGbps: &d}
	mustUpdate(t, live, func(tx *twin.Txn) error { _, err := tx.PutFlow(flow, twin.CreateOnly, 0); return err })

	snap, err := live.ExportState()
	if err != nil {
		t.Fatal(err)
	}
	snapBytes, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	journaledAtSnap := len(j.entries)

	link.CapacityGbps = 40
	mustUpdate(t, live, func(tx *twin.Txn) error { _, err := tx.PutLink(link, twin.UpdateOnly, 0); return err })
	mustUpdate(t, live, func(tx *twin.Txn) error {
		_, err := tx.PutRecord(twin.TableServices, twin.Record{ID: "svc-1", Kind: "l3vpn", Spec: json.RawMessage(`{"a":1}`)}, twin.CreateOnly, 0)
		return err
	})
	mustUpdate(t, live, func(tx *twin.Txn) error { return tx.DeleteFlow("f1", 0) })

	// A fork's writes are never journaled.
	f, err := m.Fork(ctx, twin.LiveID)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, f, func(tx *twin.Txn) error { _, err := tx.PutFlow(flow, twin.CreateOnly, 0); return err })
	for _, id := range j.twins {
		if id != twin.LiveID {
			t.Fatalf("journal got an entry of twin %q", id)
		}
	}
	if got, want := len(j.entries), int(live.Revision()); got != want {
		t.Fatalf("journal has %d entries; want one per revision (%d)", got, want)
	}

	m2 := newManager(t)
	var restored twin.State
	if err := json.Unmarshal(snapBytes, &restored); err != nil {
		t.Fatal(err)
	}
	if err := m2.Live().RestoreState(ctx, &restored); err != nil {
		t.Fatal(err)
	}
	if got, want := m2.Live().Revision(), snap.Revision; got != want {
		t.Fatalf("revision after restore = %d; want %d", got, want)
	}
	for _, b := range j.entries[journaledAtSnap:] {
		var e twin.JournalEntry
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		if err := m2.Live().ReplayJournal(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := m2.Live().Revision(), live.Revision(); got != want {
		t.Fatalf("revision after replay = %d; want %d", got, want)
	}
	if diff := cmp.Diff(exportJSON(t, live), exportJSON(t, m2.Live())); diff != "" {
		t.Fatalf("restored twin differs (-want +got):\n%s", diff)
	}
	l, err := m2.Live().Link(link.ID)
	if err != nil || l.CapacityGbps != 40 {
		t.Fatalf("restored link = %+v, %v; want capacity 40", l, err)
	}
	if _, err := m2.Live().Flow("f1"); err == nil {
		t.Fatal("flow f1 was deleted before the restart but is back")
	}
}

// TestJournalFailureAborts: when the journal cannot write, the transaction is not applied.
func TestJournalFailureAborts(t *testing.T) {
	j := &journalRecorder{}
	m, err := twin.NewManager(twin.Options{Journal: j.write})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	live := m.Live()
	n, err := network.Ring(3)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, live, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err })
	before, rev := exportJSON(t, live), live.Revision()
	j.fail = errors.New("disk full")
	l := n.Links[0]
	l.CapacityGbps = 1
	_, err = live.Update(context.Background(), func(tx *twin.Txn) error { _, err := tx.PutLink(l, twin.UpdateOnly, 0); return err })
	if !errors.Is(err, twin.ErrJournal) {
		t.Fatalf("update error = %v; want ErrJournal", err)
	}
	if live.Revision() != rev || exportJSON(t, live) != before {
		t.Fatal("a transaction the journal refused became visible")
	}
}

// TestRestoreRejects: bad snapshots and journal entries leave the twin untouched.
func TestRestoreRejects(t *testing.T) {
	ctx := context.Background()
	m := newManager(t)
	live := m.Live()
	n, err := network.Ring(3)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, live, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err })
	before, rev := exportJSON(t, live), live.Revision()

	dangling := &twin.State{Version: twin.StateVersion, Revision: 9,
		Links: []*twin.Link{{Link: network.Link{ID: "x", CapacityGbps: 1,
			Endpoints: []network.EndPointRef{{Device: "nope", EndPoint: "eth1"}, {Device: "nope2", EndPoint: "eth1"}}}}}}
	cases := map[string]error{
		"nil-state":       live.RestoreState(ctx, nil),
		"future-version":  live.RestoreState(ctx, &twin.State{Version: twin.StateVersion + 1}),
		"dangling-link":   live.RestoreState(ctx, dangling),
		"revision-gap":    live.ReplayJournal(ctx, twin.JournalEntry{Revision: rev + 2}),
		"revision-replay": live.ReplayJournal(ctx, twin.JournalEntry{Revision: rev}),
		"remove-unknown": live.ReplayJournal(ctx, twin.JournalEntry{Revision: rev + 1,
			Ops: []twin.JournalOp{{Table: twin.TableFlows, Op: twin.OpRemove, ID: "ghost"}}}),
		"observed-table": live.ReplayJournal(ctx, twin.JournalEntry{Revision: rev + 1,
			Ops: []twin.JournalOp{{Table: twin.TableObservedLinks, Op: twin.OpCreate, ID: "x", Object: json.RawMessage(`{}`)}}}),
		"bad-object": live.ReplayJournal(ctx, twin.JournalEntry{Revision: rev + 1,
			Ops: []twin.JournalOp{{Table: twin.TableDevices, Op: twin.OpCreate, ID: "d", Object: json.RawMessage(`{"id":5}`)}}}),
		"id-mismatch": live.ReplayJournal(ctx, twin.JournalEntry{Revision: rev + 1,
			Ops: []twin.JournalOp{{Table: twin.TableContexts, Op: twin.OpCreate, ID: "a", Object: json.RawMessage(`{"id":"b"}`)}}}),
		"removes-used-device": live.ReplayJournal(ctx, twin.JournalEntry{Revision: rev + 1,
			Ops: []twin.JournalOp{{Table: twin.TableDevices, Op: twin.OpRemove, ID: n.Devices[0].ID}}}),
	}
	for name, err := range cases {
		t.Run(name, func(t *testing.T) {
			if !errors.Is(err, twin.ErrRestore) {
				t.Fatalf("error = %v; want ErrRestore", err)
			}
		})
	}
	if live.Revision() != rev || exportJSON(t, live) != before {
		t.Fatal("a rejected restore changed the twin")
	}
}

func mustUpdate(t *testing.T, tw *twin.Twin, fn func(tx *twin.Txn) error) {
	t.Helper()
	if _, err := tw.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}
