package twin

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-memdb"
)

// Info describes a twin.
type Info struct {
	ID string `json:"id"`
	// Parent is the ID of the twin this one was forked from ("" for the live twin).
	Parent string `json:"parent,omitempty"`
	// ParentRevision is the parent's revision at fork time.
	ParentRevision uint64 `json:"parent_revision,omitempty"`
	// Revision is the twin's current intended-state revision.
	Revision  uint64    `json:"revision"`
	CreatedAt time.Time `json:"created_at"`
}

// Twin is one digital twin: intended and observed state in a memdb. Safe for concurrent
// use: any number of readers, one writer at a time.
type Twin struct {
	id             string
	parent         string
	parentRevision uint64
	createdAt      time.Time

	db  *memdb.MemDB
	pub func([]Event) // publishes events (nil: none)
	now func() time.Time
	// journal persists intended-state transactions before they become visible (nil:
	// none). Only the live twin has one; forks are not persisted.
	journal JournalFunc

	wmu      sync.Mutex // serializes commits with their event publication
	deleted  bool       // guarded by wmu: the twin was deleted (see retire)
	revision atomic.Uint64
}

// ID returns the twin's ID.
func (t *Twin) ID() string { return t.id }

// Revision returns the twin's current intended-state revision. It increases by one with
// every committed intended-state transaction that changed something.
func (t *Twin) Revision() uint64 { return t.revision.Load() }

// Info returns the twin's description.
func (t *Twin) Info() Info {
	return Info{ID: t.id, Parent: t.parent, ParentRevision: t.parentRevision,
		Revision: t.Revision(), CreatedAt: t.createdAt}
}

// fork returns a copy-on-write child of t. O(1): memdb snapshots share the tree.
func (t *Twin) fork(id string, createdAt time.Time, pub func([]Event)) *Twin {
	snap := t.db.Snapshot()
	rev := readRevision(snap.Txn(false))
	c := &Twin{id: id, parent: t.id, parentRevision: rev, createdAt: createdAt,
		db: snap, pub: pub, now: t.now}
	c.revision.Store(rev)
	return c
}

func newTwin(id string, now func() time.Time, pub func([]Event)) (*Twin, error) {
	db, err := memdb.NewMemDB(newSchema())
	if err != nil {
		return nil, fmt.Errorf("twin: create store: %w", err)
	}
	return &Twin{id: id, createdAt: now(), db: db, pub: pub, now: now}, nil
}

func readRevision(mt *memdb.Txn) uint64 {
	raw, err := mt.First(string(tableMeta), idxID, metaID)
	if err != nil || raw == nil {
		return 0
	}
	return raw.(*meta).Revision
}

// Update runs fn in one write transaction. If fn returns an error, or the result breaks
// referential integrity, nothing is written and the error is returned. Otherwise the
// transaction commits, the twin's revision advances by one (unless nothing changed) and
// one event per changed object is published. It returns the twin's revision after the
// transaction.
func (t *Twin) Update(ctx context.Context, fn func(tx *Txn) error) (uint64, error) {
	return t.update(ctx, true, fn)
}

func (t *Twin) update(ctx context.Context, intended bool, fn func(tx *Txn) error) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("twin: update: %w", err)
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	if t.deleted {
		return t.revision.Load(), &ObjectError{Table: TableTwins, ID: t.id, Msg: "twin was deleted", Kind: ErrNotFound}
	}
	mt := t.db.Txn(true)
	// Abort is a no-op after Commit; deferred, it also releases the store's writer lock
	// if fn panics.
	defer mt.Abort()
	mt.TrackChanges()
	cur := readRevision(mt)
	tx := &Txn{reader: reader{mt: mt}, rev: cur + 1, intended: intended}
	if err := fn(tx); err != nil {
		return cur, err
	}
	if err := tx.checkRefs(); err != nil {
		return cur, err
	}
	changes := mt.Changes()
	if len(changes) == 0 {
		return cur, nil
	}
	newRev := cur
	if intended {
		newRev = cur + 1
		if err := mt.Insert(string(tableMeta), &meta{ID: metaID, Revision: newRev}); err != nil {
			return cur, fmt.Errorf("twin: write revision: %w", err)
		}
	}
	now := t.now()
	evs := make([]Event, 0, len(changes))
	for _, c := range changes {
		if c.Table == string(tableMeta) {
			continue
		}
		ev := Event{Twin: t.id, Table: Table(c.Table), Revision: newRev, Time: now}
		switch {
		case c.Created():
			ev.Op, ev.Object = OpCreate, c.After
		case c.Updated():
			ev.Op, ev.Object = OpUpdate, c.After
		default:
			ev.Op, ev.Object = OpRemove, c.Before
		}
		ev.ID = idOf(ev.Object)
		evs = append(evs, ev)
	}
	if intended && t.journal != nil {
		e, err := journalEntry(newRev, evs)
		if err != nil {
			return cur, fmt.Errorf("%w: %w", ErrJournal, err)
		}
		if err := t.journal(ctx, t.id, e); err != nil {
			return cur, fmt.Errorf("%w: %w", ErrJournal, err)
		}
	}
	mt.Commit()
	t.revision.Store(newRev)
	if t.pub != nil {
		t.pub(evs)
	}
	return newRev, nil
}

// retire marks the twin deleted and runs publish (its remove event) once any write in
// progress has committed and published: no event of the twin follows publish's, and
// later writes fail with ErrNotFound.
func (t *Twin) retire(publish func()) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.deleted = true
	publish()
}

// View runs fn in a read transaction: a consistent view of every table.
func (t *Twin) View(fn func(r *Reader) error) error {
	mt := t.db.Txn(false)
	return fn(&Reader{reader: reader{mt: mt}, revision: readRevision(mt)})
}

func (t *Twin) read() *Reader {
	mt := t.db.Txn(false)
	return &Reader{reader: reader{mt: mt}}
}

// Device returns one device.
func (t *Twin) Device(id string) (Device, error) { return t.read().Device(id) }

// Link returns one link.
func (t *Twin) Link(id string) (Link, error) { return t.read().Link(id) }

// Context returns one context.
func (t *Twin) Context(id string) (Context, error) { return t.read().Context(id) }

// Topology returns one topology.
func (t *Twin) Topology(id string) (Topology, error) { return t.read().Topology(id) }

// Flow returns one flow.
func (t *Twin) Flow(id string) (Flow, error) { return t.read().Flow(id) }
