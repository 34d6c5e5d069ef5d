package twin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
)

// Persistence of intended state (issue 5, item 4: the live twin survives restarts).
//
// Two pieces make it durable without the twin knowing about any database:
//
//   - a State is a whole twin's intended state at one revision (a snapshot);
//   - a JournalEntry is one intended-state transaction: the objects it wrote and removed,
//     with the revision it produced. Options.Journal receives every entry of the live
//     twin synchronously, before the transaction becomes visible; if the hook fails the
//     transaction is aborted, so nothing is ever visible that the journal does not have.
//
// On start, RestoreState loads the latest snapshot and ReplayJournal applies the entries
// written after it, in revision order. Observed state is not persisted: telemetry
// rebuilds it.

// StateVersion is the version of the State encoding written by this binary.
const StateVersion = 1

// ErrJournal wraps a failure of the journal hook (the transaction was not applied).
var ErrJournal = errors.New("twin: journal write failed")

// ErrRestore wraps every error of RestoreState and ReplayJournal.
var ErrRestore = errors.New("twin: restore failed")

// JournalFunc persists one intended-state transaction of a twin. It runs while the
// twin's writer lock is held, so it must not call back into the twin.
type JournalFunc func(ctx context.Context, twinID string, e JournalEntry) error

// State is the serialisable intended state of a twin.
type State struct {
	Version       int             `json:"version"`
	Twin          string          `json:"twin"`
	Revision      uint64          `json:"revision"`
	Contexts      []*Context      `json:"contexts,omitempty"`
	Topologies    []*Topology     `json:"topologies,omitempty"`
	Devices       []*Device       `json:"devices,omitempty"`
	Links         []*Link         `json:"links,omitempty"`
	Flows         []*Flow         `json:"flows,omitempty"`
	DeviceConfigs []*DeviceConfig `json:"device_configs,omitempty"`
	// Records holds the generic tables (services, slices, policies, changes).
	Records map[Table][]*Record `json:"records,omitempty"`
}

// JournalEntry is one intended-state transaction.
type JournalEntry struct {
	Revision uint64      `json:"revision"`
	Ops      []JournalOp `json:"ops"`
}

// JournalOp is one object written (create, update) or removed by a transaction.
type JournalOp struct {
	Table Table  `json:"table"`
	Op    Op     `json:"op"`
	ID    string `json:"id"`
	// Object is the JSON of the object after the write (absent for remove).
	Object json.RawMessage `json:"object,omitempty"`
}

// persistedTables are the intended-state tables a State and a journal cover.
var persistedTables = append([]Table{TableContexts, TableTopologies, TableDevices, TableLinks, TableFlows,
	TableDeviceConfigs}, RecordTables...)

func isPersisted(t Table) bool {
	for _, p := range persistedTables {
		if p == t {
			return true
		}
	}
	return false
}

// journalEntry builds the journal entry of a transaction from its events.
func journalEntry(rev uint64, evs []Event) (JournalEntry, error) {
	e := JournalEntry{Revision: rev, Ops: make([]JournalOp, 0, len(evs))}
	for _, ev := range evs {
		if !isPersisted(ev.Table) {
			continue
		}
		op := JournalOp{Table: ev.Table, Op: ev.Op, ID: ev.ID}
		if ev.Op != OpRemove {
			b, err := json.Marshal(ev.Object)
			if err != nil {
				return e, fmt.Errorf("encode %s %q: %w", ev.Table, ev.ID, err)
			}
			op.Object = b
		}
		e.Ops = append(e.Ops, op)
	}
	return e, nil
}

// ExportState returns a consistent copy of the twin's intended state.
func (t *Twin) ExportState() (*State, error) {
	mt := t.db.Txn(false)
	s := &State{Version: StateVersion, Twin: t.id, Revision: readRevision(mt), Records: map[Table][]*Record{}}
	for _, tab := range persistedTables {
		it, err := mt.Get(string(tab), idxID)
		if err != nil {
			return nil, fmt.Errorf("twin: export %s: %w", tab, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			switch o := raw.(type) {
			case *Context:
				s.Contexts = append(s.Contexts, o)
			case *Topology:
				s.Topologies = append(s.Topologies, o)
			case *Device:
				s.Devices = append(s.Devices, o)
			case *Link:
				s.Links = append(s.Links, o)
			case *Flow:
				s.Flows = append(s.Flows, o)
			case *DeviceConfig:
				s.DeviceConfigs = append(s.DeviceConfigs, o)
			case *Record:
				s.Records[tab] = append(s.Records[tab], o)
			}
		}
	}
	return s, nil
}

// RestoreState replaces the twin's intended state with s and sets its revision to
// s.Revision. Observed state is kept. It publishes no events (it rebuilds history rather
// than making it) and does not call the journal. On error nothing changes.
func (t *Twin) RestoreState(ctx context.Context, s *State) error {
	if s == nil {
		return fmt.Errorf("%w: nil state", ErrRestore)
	}
	if s.Version != StateVersion {
		return fmt.Errorf("%w: state version %d, this binary reads version %d", ErrRestore, s.Version, StateVersion)
	}
	return t.restore(ctx, s.Revision, func(mt *memdb.Txn, touch func(Table, string)) error {
		for _, tab := range persistedTables {
			if _, err := mt.DeleteAll(string(tab), idxID); err != nil {
				return fmt.Errorf("clear %s: %w", tab, err)
			}
		}
		ins := func(tab Table, objs ...any) error {
			for _, o := range objs {
				if idOf(o) == "" {
					return fmt.Errorf("%s: object without ID", tab)
				}
				if err := mt.Insert(string(tab), o); err != nil {
					return fmt.Errorf("insert %s %q: %w", tab, idOf(o), err)
				}
				touch(tab, idOf(o))
			}
			return nil
		}
		for tab := range s.Records {
			if !isRecordTable(tab) {
				return fmt.Errorf("records: unknown table %q", tab)
			}
		}
		for _, to := range s.objects() {
			if err := ins(to.table, to.objs...); err != nil {
				return err
			}
		}
		return nil
	})
}

// tableObjects are the objects of one table.
type tableObjects struct {
	table Table
	objs  []any
}

// objects lists the state's objects table by table (references are checked after all
// are inserted, so the order is only for readable errors).
func (s *State) objects() []tableObjects {
	out := []tableObjects{
		{TableContexts, anys(s.Contexts)}, {TableTopologies, anys(s.Topologies)},
		{TableDevices, anys(s.Devices)}, {TableLinks, anys(s.Links)}, {TableFlows, anys(s.Flows)},
		{TableDeviceConfigs, anys(s.DeviceConfigs)},
	}
	for tab, recs := range s.Records {
		out = append(out, tableObjects{tab, anys(recs)})
	}
	return out
}

func anys[T any](xs []*T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// ReplayJournal applies one journal entry. Entries must be replayed in revision order,
// each exactly once: an entry whose revision is not the twin's revision + 1 is refused.
func (t *Twin) ReplayJournal(ctx context.Context, e JournalEntry) error {
	if cur := t.Revision(); e.Revision != cur+1 {
		return fmt.Errorf("%w: journal entry for revision %d does not follow revision %d", ErrRestore, e.Revision, cur)
	}
	return t.restore(ctx, e.Revision, func(mt *memdb.Txn, touch func(Table, string)) error {
		for i, op := range e.Ops {
			if !isPersisted(op.Table) {
				return fmt.Errorf("ops[%d]: table %q is not journaled", i, op.Table)
			}
			switch op.Op {
			case OpRemove:
				old, err := mt.First(string(op.Table), idxID, op.ID)
				if err != nil {
					return fmt.Errorf("ops[%d]: %w", i, err)
				}
				if old == nil {
					return fmt.Errorf("ops[%d]: remove of unknown %s %q", i, op.Table, op.ID)
				}
				if err := mt.Delete(string(op.Table), old); err != nil {
					return fmt.Errorf("ops[%d]: %w", i, err)
				}
				touch(op.Table, op.ID)
			case OpCreate, OpUpdate:
				obj, err := decodeObject(op.Table, op.Object)
				if err != nil {
					return fmt.Errorf("ops[%d]: %w", i, err)
				}
				if idOf(obj) != op.ID {
					return fmt.Errorf("ops[%d]: object ID %q does not match %q", i, idOf(obj), op.ID)
				}
				if err := mt.Insert(string(op.Table), obj); err != nil {
					return fmt.Errorf("ops[%d]: %w", i, err)
				}
				touch(op.Table, op.ID)
			default:
				return fmt.Errorf("ops[%d]: unknown op %q", i, op.Op)
			}
		}
		return nil
	})
}

func decodeObject(tab Table, raw json.RawMessage) (any, error) {
	var obj any
	switch {
	case tab == TableContexts:
		obj = &Context{}
	case tab == TableTopologies:
		obj = &Topology{}
	case tab == TableDevices:
		obj = &Device{}
	case tab == TableLinks:
		obj = &Link{}
	case tab == TableFlows:
		obj = &Flow{}
	case tab == TableDeviceConfigs:
		obj = &DeviceConfig{}
	case isRecordTable(tab):
		obj = &Record{}
	default:
		return nil, fmt.Errorf("unknown table %q", tab)
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", tab, err)
	}
	return obj, nil
}

// restore runs fn in a write transaction that sets the revision to rev, without events
// or journal. fn reports every object it wrote or removed with touch; referential
// integrity is then checked over them as for any write.
func (t *Twin) restore(ctx context.Context, rev uint64, fn func(mt *memdb.Txn, touch func(Table, string)) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrRestore, err)
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	mt := t.db.Txn(true)
	defer mt.Abort()
	tx := &Txn{reader: reader{mt: mt}, rev: rev, intended: true}
	mark := func(tab Table, id string) { tx.touched = append(tx.touched, touch{t: tab, id: id, refs: true}) }
	if err := fn(mt, mark); err != nil {
		return fmt.Errorf("%w: %w", ErrRestore, err)
	}
	if err := tx.checkRefs(); err != nil {
		return fmt.Errorf("%w: %w", ErrRestore, err)
	}
	if err := mt.Insert(string(tableMeta), &meta{ID: metaID, Revision: rev}); err != nil {
		return fmt.Errorf("%w: write revision: %w", ErrRestore, err)
	}
	mt.Commit()
	t.revision.Store(rev)
	return nil
}
