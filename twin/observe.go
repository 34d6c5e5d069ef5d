package twin

import (
	"context"
	"fmt"
	"reflect"
	"time"
)

// ObserveInterface records what telemetry reports for one interface of a device: oper
// status, counters and rates. It writes only observed state (the intended revision does
// not move) and publishes an event for table observed_interfaces. The device must exist
// in the twin (ErrNotFound otherwise); the interface need not be modelled as an
// endpoint. A zero st.At is replaced by the current time.
func (t *Twin) ObserveInterface(ctx context.Context, device, iface string, st InterfaceState) error {
	if iface == "" {
		return &ObjectError{Table: TableObservedInterfaces, ID: device + "/", Field: "interface", Msg: "must not be empty", Kind: ErrInvalid}
	}
	if st.At.IsZero() {
		st.At = t.now()
	}
	_, err := t.update(ctx, false, func(tx *Txn) error {
		if !tx.exists(TableDevices, device) {
			return notFound(TableDevices, device)
		}
		obj := &ObservedInterface{ID: device + "/" + iface, Device: device, Interface: iface, InterfaceState: st}
		if raw, err := tx.mt.First(string(TableObservedInterfaces), idxID, obj.ID); err == nil && raw != nil &&
			reflect.DeepEqual(raw.(*ObservedInterface), obj) {
			return nil
		}
		if err := tx.mt.Insert(string(TableObservedInterfaces), obj); err != nil {
			return fmt.Errorf("twin: observe interface %s: %w", obj.ID, err)
		}
		return nil
	})
	return err
}

// ObserveDevice records whether a device is reachable (e.g. its gNMI session is up) at
// a time. Like ObserveInterface it touches only observed state.
func (t *Twin) ObserveDevice(ctx context.Context, device string, reachable bool, at time.Time) error {
	if at.IsZero() {
		at = t.now()
	}
	_, err := t.update(ctx, false, func(tx *Txn) error {
		if !tx.exists(TableDevices, device) {
			return notFound(TableDevices, device)
		}
		obj := &ObservedDevice{ID: device, Reachable: reachable, At: at}
		if err := tx.mt.Insert(string(TableObservedDevices), obj); err != nil {
			return fmt.Errorf("twin: observe device %s: %w", device, err)
		}
		return nil
	})
	return err
}
