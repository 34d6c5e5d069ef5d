package twin

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/twinflow/twinflow/models/network"
)

// Txn is one write transaction (see Twin.Update). It reads its own writes. A Txn must
// not be used after the function given to Update returns.
type Txn struct {
	reader
	rev      uint64 // revision this transaction commits as
	intended bool
	touched  []touch
}

// Reader returns a read view of the transaction, including its own writes.
func (tx *Txn) Reader() *Reader { return &Reader{reader: tx.reader, revision: tx.rev} }

type touch struct {
	t  Table
	id string
	// refs is true when what other objects reference may have changed: the object was
	// deleted, or a device's endpoints or a link's endpoints changed. Objects referencing
	// it are then re-checked; otherwise only the object's own references are.
	refs bool
}

// Result says what a put did.
type Result string

// Results of a put.
const (
	Created   Result = "created"
	Updated   Result = "updated"
	Unchanged Result = "unchanged"
	Deleted   Result = "deleted"
)

// Mode says how a put treats an existing object.
type Mode int

// Put modes.
const (
	// Upsert creates the object or replaces the existing one.
	Upsert Mode = iota
	// CreateOnly fails with ErrExists when the ID exists.
	CreateOnly
	// UpdateOnly fails with ErrNotFound when the ID does not exist.
	UpdateOnly
)

// Any is the expected revision that matches every revision.
const Any uint64 = 0

func put[T any](tx *Txn, t Table, id string, obj *T, inner func(*T) any, setRev func(*T, uint64), mode Mode, expect uint64) (Result, error) {
	return putRefs(tx, t, id, obj, inner, setRev, nil, nil, mode, expect)
}

// putRefs is put with validate, run after the existence and revision checks (so a
// duplicate create is ErrExists and a stale write ErrPrecondition whatever the body),
// and sameRefs, which says whether old and new expose the same things to referencing
// objects (nil: they always do).
func putRefs[T any](tx *Txn, t Table, id string, obj *T, inner func(*T) any, setRev func(*T, uint64), validate func() error, sameRefs func(old, new *T) bool, mode Mode, expect uint64) (Result, error) {
	if !tx.intended {
		return "", fmt.Errorf("twin: intended write in an observed-state transaction: %w", ErrInvalid)
	}
	if id == "" {
		if validate != nil {
			if err := validate(); err != nil {
				return "", err
			}
		}
		return "", &ObjectError{Table: t, Field: "id", Msg: "must not be empty", Kind: ErrInvalid}
	}
	raw, err := tx.mt.First(string(t), idxID, id)
	if err != nil {
		return "", fmt.Errorf("twin: read %s: %w", t, err)
	}
	res := Created
	refs := false
	if raw != nil {
		if mode == CreateOnly {
			return "", &ObjectError{Table: t, ID: id, Msg: "already exists", Kind: ErrExists}
		}
		if have := revisionOf(raw); expect != Any && expect != have {
			return "", &RevisionError{Table: t, ID: id, Want: expect, Have: have}
		}
		if validate != nil {
			if err := validate(); err != nil {
				return "", err
			}
		}
		if reflect.DeepEqual(inner(raw.(*T)), inner(obj)) {
			return Unchanged, nil
		}
		res = Updated
		refs = sameRefs != nil && !sameRefs(raw.(*T), obj)
	} else {
		if mode == UpdateOnly {
			return "", notFound(t, id)
		}
		if expect != Any {
			return "", &RevisionError{Table: t, ID: id, Want: expect, Have: 0}
		}
		if validate != nil {
			if err := validate(); err != nil {
				return "", err
			}
		}
	}
	setRev(obj, tx.rev)
	if err := tx.mt.Insert(string(t), obj); err != nil {
		return "", fmt.Errorf("twin: write %s[%s]: %w", t, id, err)
	}
	tx.touched = append(tx.touched, touch{t: t, id: id, refs: refs})
	return res, nil
}

func (tx *Txn) del(t Table, id string, expect uint64) error {
	if !tx.intended {
		return fmt.Errorf("twin: intended write in an observed-state transaction: %w", ErrInvalid)
	}
	raw, err := tx.get(t, id)
	if err != nil {
		return err
	}
	if have := revisionOf(raw); expect != Any && expect != have {
		return &RevisionError{Table: t, ID: id, Want: expect, Have: have}
	}
	if err := tx.mt.Delete(string(t), raw); err != nil {
		return fmt.Errorf("twin: delete %s[%s]: %w", t, id, err)
	}
	tx.touched = append(tx.touched, touch{t: t, id: id, refs: true})
	return nil
}

// PutDevice validates and writes a device. expect is the revision the existing device
// must have (Any: no check; a non-zero expect on a missing device fails too).
func (tx *Txn) PutDevice(d network.Device, mode Mode, expect uint64) (Result, error) {
	obj := &Device{Device: cloneDevice(d)}
	return putRefs(tx, TableDevices, d.ID, obj, func(o *Device) any { return &o.Device },
		func(o *Device, r uint64) { o.Revision = r }, func() error { return validateDevice(&d) },
		func(a, b *Device) bool { return reflect.DeepEqual(a.Endpoints, b.Endpoints) }, mode, expect)
}

// PutLink validates and writes a link (see PutDevice).
func (tx *Txn) PutLink(l network.Link, mode Mode, expect uint64) (Result, error) {
	obj := &Link{Link: cloneLink(l)}
	return putRefs(tx, TableLinks, l.ID, obj, func(o *Link) any { return &o.Link },
		func(o *Link, r uint64) { o.Revision = r }, func() error { return validateLink(&l) },
		func(a, b *Link) bool { return reflect.DeepEqual(a.Endpoints, b.Endpoints) }, mode, expect)
}

// PutContext validates and writes a context (see PutDevice).
func (tx *Txn) PutContext(c network.Context, mode Mode, expect uint64) (Result, error) {
	obj := &Context{Context: c}
	return putRefs(tx, TableContexts, c.ID, obj, func(o *Context) any { return &o.Context },
		func(o *Context, r uint64) { o.Revision = r }, func() error { return validateContext(&c) }, nil, mode, expect)
}

// PutTopology validates and writes a topology (see PutDevice).
func (tx *Txn) PutTopology(t network.Topology, mode Mode, expect uint64) (Result, error) {
	obj := &Topology{Topology: cloneTopology(t)}
	return putRefs(tx, TableTopologies, t.ID, obj, func(o *Topology) any { return &o.Topology },
		func(o *Topology, r uint64) { o.Revision = r }, func() error { return validateTopology(&t) }, nil, mode, expect)
}

// PutFlow validates and writes a flow (see PutDevice).
func (tx *Txn) PutFlow(f network.Flow, mode Mode, expect uint64) (Result, error) {
	obj := &Flow{Flow: cloneFlow(f)}
	return putRefs(tx, TableFlows, f.ID, obj, func(o *Flow) any { return &o.Flow },
		func(o *Flow, r uint64) { o.Revision = r }, func() error { return validateFlow(&f) }, nil, mode, expect)
}

// PutRecord writes a generic record into a record table (services, slices, policies,
// changes). Its Revision field is ignored; use expect.
func (tx *Txn) PutRecord(t Table, rec Record, mode Mode, expect uint64) (Result, error) {
	if !isRecordTable(t) {
		return "", fmt.Errorf("twin: %s is not a record table: %w", t, ErrInvalid)
	}
	if len(rec.Spec) > 0 && !json.Valid(rec.Spec) {
		return "", &ObjectError{Table: t, ID: rec.ID, Field: "spec", Msg: "not valid JSON", Kind: ErrInvalid}
	}
	rec.Spec = append(json.RawMessage(nil), rec.Spec...)
	rec.Revision = 0
	return put(tx, t, rec.ID, &rec, func(o *Record) any { c := *o; c.Revision = 0; return c },
		func(o *Record, r uint64) { o.Revision = r }, mode, expect)
}

// PutDeviceConfig writes the intended configuration of a device (which must exist).
func (tx *Txn) PutDeviceConfig(dc DeviceConfig, mode Mode, expect uint64) (Result, error) {
	if len(dc.Config) > 0 && !json.Valid(dc.Config) {
		return "", &ObjectError{Table: TableDeviceConfigs, ID: dc.Device, Field: "config", Msg: "not valid JSON", Kind: ErrInvalid}
	}
	dc.Config = append(json.RawMessage(nil), dc.Config...)
	dc.Revision = 0
	return put(tx, TableDeviceConfigs, dc.Device, &dc, func(o *DeviceConfig) any { c := *o; c.Revision = 0; return c },
		func(o *DeviceConfig, r uint64) { o.Revision = r }, mode, expect)
}

// DeleteDevice deletes a device, its intended configuration and its observed state.
// It fails with ErrConflict at commit if a link, flow or topology still uses it.
func (tx *Txn) DeleteDevice(id string, expect uint64) error {
	if err := tx.del(TableDevices, id, expect); err != nil {
		return err
	}
	if tx.exists(TableDeviceConfigs, id) {
		if err := tx.del(TableDeviceConfigs, id, Any); err != nil {
			return err
		}
	}
	for _, raw := range tx.by(TableObservedInterfaces, idxDevice, id) {
		if err := tx.mt.Delete(string(TableObservedInterfaces), raw); err != nil {
			return fmt.Errorf("twin: delete observed state of %s: %w", id, err)
		}
	}
	if raw, err := tx.mt.First(string(TableObservedDevices), idxID, id); err == nil && raw != nil {
		if err := tx.mt.Delete(string(TableObservedDevices), raw); err != nil {
			return fmt.Errorf("twin: delete observed state of %s: %w", id, err)
		}
	}
	return nil
}

// DeleteLink deletes a link and its observed state; ErrConflict at commit if a flow or
// topology uses it.
func (tx *Txn) DeleteLink(id string, expect uint64) error {
	if err := tx.del(TableLinks, id, expect); err != nil {
		return err
	}
	if raw, err := tx.mt.First(string(TableObservedLinks), idxID, id); err == nil && raw != nil {
		if err := tx.mt.Delete(string(TableObservedLinks), raw); err != nil {
			return fmt.Errorf("twin: delete observed state of %s: %w", id, err)
		}
	}
	return nil
}

// DeleteContext deletes a context; ErrConflict at commit if a topology uses it.
func (tx *Txn) DeleteContext(id string, expect uint64) error {
	return tx.del(TableContexts, id, expect)
}

// DeleteTopology deletes a topology.
func (tx *Txn) DeleteTopology(id string, expect uint64) error {
	return tx.del(TableTopologies, id, expect)
}

// DeleteFlow deletes a flow.
func (tx *Txn) DeleteFlow(id string, expect uint64) error { return tx.del(TableFlows, id, expect) }

// DeleteRecord deletes a record of a record table.
func (tx *Txn) DeleteRecord(t Table, id string, expect uint64) error {
	if !isRecordTable(t) {
		return fmt.Errorf("twin: %s is not a record table: %w", t, ErrInvalid)
	}
	return tx.del(t, id, expect)
}

// DeleteDeviceConfig deletes the intended configuration of a device.
func (tx *Txn) DeleteDeviceConfig(device string, expect uint64) error {
	return tx.del(TableDeviceConfigs, device, expect)
}

// Apply writes every element of a network document (upsert), in one transaction when
// called inside Update. It returns one result per element, keyed "table/id".
func (tx *Txn) Apply(n *network.Network) (map[string]Result, error) {
	out := make(map[string]Result)
	for _, c := range n.Contexts {
		r, err := tx.PutContext(c, Upsert, Any)
		if err != nil {
			return nil, err
		}
		key := string(TableContexts) + "/" + c.ID
		if _, dup := out[key]; dup {
			return nil, dupInDoc(TableContexts, c.ID)
		}
		out[key] = r
	}
	for _, d := range n.Devices {
		r, err := tx.PutDevice(d, Upsert, Any)
		if err != nil {
			return nil, err
		}
		key := string(TableDevices) + "/" + d.ID
		if _, dup := out[key]; dup {
			return nil, dupInDoc(TableDevices, d.ID)
		}
		out[key] = r
	}
	for _, l := range n.Links {
		r, err := tx.PutLink(l, Upsert, Any)
		if err != nil {
			return nil, err
		}
		key := string(TableLinks) + "/" + l.ID
		if _, dup := out[key]; dup {
			return nil, dupInDoc(TableLinks, l.ID)
		}
		out[key] = r
	}
	for _, t := range n.Topologies {
		r, err := tx.PutTopology(t, Upsert, Any)
		if err != nil {
			return nil, err
		}
		key := string(TableTopologies) + "/" + t.ID
		if _, dup := out[key]; dup {
			return nil, dupInDoc(TableTopologies, t.ID)
		}
		out[key] = r
	}
	for _, f := range n.Flows {
		r, err := tx.PutFlow(f, Upsert, Any)
		if err != nil {
			return nil, err
		}
		key := string(TableFlows) + "/" + f.ID
		if _, dup := out[key]; dup {
			return nil, dupInDoc(TableFlows, f.ID)
		}
		out[key] = r
	}
	return out, nil
}

func dupInDoc(t Table, id string) error {
	return &ObjectError{Table: t, ID: id, Field: "id", Msg: "duplicate ID in the document", Kind: ErrInvalid}
}
