package twin

import (
	"context"
	"fmt"
	"reflect"
	"time"
)

// Observation records observed state inside one transaction (see Twin.Observe). Its
// methods return ErrNotFound for a device or link the twin does not hold; the caller
// decides whether that aborts the batch (return the error) or not (ignore it).
type Observation struct {
	tx  *Txn
	now time.Time
}

// Reader reads the twin as the transaction sees it (e.g. the current observed row, to
// merge a partial sample into it).
func (o *Observation) Reader() *Reader { return &Reader{reader: o.tx.reader} }

// Interface records what telemetry reports for one interface of a device: oper status,
// counters and rates. The interface need not be modelled as an endpoint. A zero st.At
// is replaced by the current time.
func (o *Observation) Interface(device, iface string, st InterfaceState) error {
	if iface == "" {
		return &ObjectError{Table: TableObservedInterfaces, ID: device + "/", Field: "interface", Msg: "must not be empty", Kind: ErrInvalid}
	}
	if !o.tx.exists(TableDevices, device) {
		return notFound(TableDevices, device)
	}
	if st.At.IsZero() {
		st.At = o.now
	}
	return o.put(TableObservedInterfaces, &ObservedInterface{ID: device + "/" + iface, Device: device, Interface: iface, InterfaceState: st})
}

// Device records whether a device is reachable (e.g. its gNMI session is up) at a time.
func (o *Observation) Device(device string, reachable bool, at time.Time) error {
	if !o.tx.exists(TableDevices, device) {
		return notFound(TableDevices, device)
	}
	if at.IsZero() {
		at = o.now
	}
	return o.put(TableObservedDevices, &ObservedDevice{ID: device, Reachable: reachable, At: at})
}

// Link records the observed status and per-direction rates of a link.
func (o *Observation) Link(link string, st LinkState) error {
	if !o.tx.exists(TableLinks, link) {
		return notFound(TableLinks, link)
	}
	if st.At.IsZero() {
		st.At = o.now
	}
	return o.put(TableObservedLinks, &ObservedLink{ID: link, LinkState: st})
}

// put writes an observed row unless it is identical to the stored one (no event then).
func (o *Observation) put(t Table, obj any) error {
	if raw, err := o.tx.mt.First(string(t), idxID, idOf(obj)); err == nil && raw != nil && reflect.DeepEqual(raw, obj) {
		return nil
	}
	if err := o.tx.mt.Insert(string(t), obj); err != nil {
		return fmt.Errorf("twin: observe %s[%s]: %w", t, idOf(obj), err)
	}
	return nil
}

// Observe runs fn in one observed-state transaction: every observation fn records is
// committed at once, with one event each, or none if fn returns an error. It never
// touches intended state and does not advance the twin's revision. Telemetry batches
// map onto one Observe call each.
func (t *Twin) Observe(ctx context.Context, fn func(o *Observation) error) error {
	now := t.now()
	_, err := t.update(ctx, false, func(tx *Txn) error { return fn(&Observation{tx: tx, now: now}) })
	return err
}

// ObserveInterface records one interface's observed state (see Observation.Interface).
func (t *Twin) ObserveInterface(ctx context.Context, device, iface string, st InterfaceState) error {
	return t.Observe(ctx, func(o *Observation) error { return o.Interface(device, iface, st) })
}

// ObserveDevice records a device's reachability (see Observation.Device).
func (t *Twin) ObserveDevice(ctx context.Context, device string, reachable bool, at time.Time) error {
	return t.Observe(ctx, func(o *Observation) error { return o.Device(device, reachable, at) })
}

// ObserveLink records a link's observed state (see Observation.Link).
func (t *Twin) ObserveLink(ctx context.Context, link string, st LinkState) error {
	return t.Observe(ctx, func(o *Observation) error { return o.Link(link, st) })
}
