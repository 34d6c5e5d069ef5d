package twin

import (
	"fmt"

	"github.com/hashicorp/go-memdb"
	"github.com/twinflow/twinflow/models/network"
)

// reader holds the read methods shared by Reader and Txn.
type reader struct{ mt *memdb.Txn }

// Reader is a consistent read-only view of a twin (see Twin.View).
type Reader struct {
	reader
	revision uint64
}

// Revision is the twin's revision this view shows.
func (r *Reader) Revision() uint64 { return r.revision }

// ListOptions selects a page of a list. Items come in ascending ID order.
type ListOptions struct {
	// After returns only items whose ID sorts after this one ("" from the start).
	After string
	// Limit caps the number of items (0: no limit).
	Limit int
}

func (r reader) get(t Table, id string) (any, error) {
	raw, err := r.mt.First(string(t), idxID, id)
	if err != nil {
		return nil, fmt.Errorf("twin: read %s: %w", t, err)
	}
	if raw == nil {
		return nil, notFound(t, id)
	}
	return raw, nil
}

func (r reader) exists(t Table, id string) bool {
	raw, err := r.mt.First(string(t), idxID, id)
	return err == nil && raw != nil
}

// list returns up to opts.Limit objects after opts.After and the ID to continue after
// ("" when this page is the last).
func list[T any](r reader, t Table, opts ListOptions) ([]T, string, error) {
	it, err := r.mt.LowerBound(string(t), idxID, opts.After)
	if err != nil {
		return nil, "", fmt.Errorf("twin: list %s: %w", t, err)
	}
	var out []T
	for raw := it.Next(); raw != nil; raw = it.Next() {
		id := idOf(raw)
		if opts.After != "" && id == opts.After {
			continue
		}
		if opts.Limit > 0 && len(out) == opts.Limit {
			return out, idOf(any(&out[len(out)-1])), nil
		}
		out = append(out, *raw.(*T))
	}
	return out, "", nil
}

func (r reader) by(t Table, index, key string) []any {
	it, err := r.mt.Get(string(t), index, key)
	if err != nil {
		return nil
	}
	var out []any
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw)
	}
	return out
}

func one[T any](r reader, t Table, id string) (T, error) {
	raw, err := r.get(t, id)
	if err != nil {
		var zero T
		return zero, err
	}
	return *raw.(*T), nil
}

// Device returns one device.
func (r reader) Device(id string) (Device, error) { return one[Device](r, TableDevices, id) }

// Link returns one link.
func (r reader) Link(id string) (Link, error) { return one[Link](r, TableLinks, id) }

// Context returns one context.
func (r reader) Context(id string) (Context, error) { return one[Context](r, TableContexts, id) }

// Topology returns one topology.
func (r reader) Topology(id string) (Topology, error) {
	return one[Topology](r, TableTopologies, id)
}

// Flow returns one flow.
func (r reader) Flow(id string) (Flow, error) { return one[Flow](r, TableFlows, id) }

// DeviceConfig returns the intended configuration of one device.
func (r reader) DeviceConfig(device string) (DeviceConfig, error) {
	return one[DeviceConfig](r, TableDeviceConfigs, device)
}

// Record returns one record of a record table (services, slices, policies, changes).
func (r reader) Record(t Table, id string) (Record, error) {
	if !isRecordTable(t) {
		return Record{}, fmt.Errorf("twin: %s is not a record table: %w", t, ErrInvalid)
	}
	return one[Record](r, t, id)
}

// ObservedInterface returns the observed state of one interface.
func (r reader) ObservedInterface(device, iface string) (ObservedInterface, error) {
	return one[ObservedInterface](r, TableObservedInterfaces, device+"/"+iface)
}

// ObservedDevice returns the observed reachability of one device.
func (r reader) ObservedDevice(device string) (ObservedDevice, error) {
	return one[ObservedDevice](r, TableObservedDevices, device)
}

// ObservedLink returns the observed state of one link.
func (r reader) ObservedLink(link string) (ObservedLink, error) {
	return one[ObservedLink](r, TableObservedLinks, link)
}

// ObservedDevices lists observed device reachability in device ID order.
func (r reader) ObservedDevices(opts ListOptions) ([]ObservedDevice, string, error) {
	return list[ObservedDevice](r, TableObservedDevices, opts)
}

// ObservedLinks lists observed link state in link ID order.
func (r reader) ObservedLinks(opts ListOptions) ([]ObservedLink, string, error) {
	return list[ObservedLink](r, TableObservedLinks, opts)
}

// ObservedInterfacesPage lists observed interface state in "device/interface" order.
func (r reader) ObservedInterfacesPage(opts ListOptions) ([]ObservedInterface, string, error) {
	return list[ObservedInterface](r, TableObservedInterfaces, opts)
}

// Devices lists devices in ID order; next is the ID to pass as After for the next page.
func (r reader) Devices(opts ListOptions) (items []Device, next string, err error) {
	return list[Device](r, TableDevices, opts)
}

// Links lists links in ID order.
func (r reader) Links(opts ListOptions) ([]Link, string, error) {
	return list[Link](r, TableLinks, opts)
}

// Contexts lists contexts in ID order.
func (r reader) Contexts(opts ListOptions) ([]Context, string, error) {
	return list[Context](r, TableContexts, opts)
}

// Topologies lists topologies in ID order.
func (r reader) Topologies(opts ListOptions) ([]Topology, string, error) {
	return list[Topology](r, TableTopologies, opts)
}

// Flows lists flows in ID order.
func (r reader) Flows(opts ListOptions) ([]Flow, string, error) {
	return list[Flow](r, TableFlows, opts)
}

// Records lists a record table in ID order.
func (r reader) Records(t Table, opts ListOptions) ([]Record, string, error) {
	if !isRecordTable(t) {
		return nil, "", fmt.Errorf("twin: %s is not a record table: %w", t, ErrInvalid)
	}
	return list[Record](r, t, opts)
}

// ObservedInterfaces lists the observed state of every interface of one device
// ("" for all devices) in ID order.
func (r reader) ObservedInterfaces(device string) []ObservedInterface {
	var raws []any
	if device == "" {
		it, err := r.mt.Get(string(TableObservedInterfaces), idxID)
		if err != nil {
			return nil
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			raws = append(raws, raw)
		}
	} else {
		raws = r.by(TableObservedInterfaces, idxDevice, device)
	}
	out := make([]ObservedInterface, len(raws))
	for i, raw := range raws {
		out[i] = *raw.(*ObservedInterface)
	}
	return out
}

// LinksOf returns the links attached to a device.
func (r reader) LinksOf(device string) []Link {
	raws := r.by(TableLinks, idxDevice, device)
	out := make([]Link, len(raws))
	for i, raw := range raws {
		out[i] = *raw.(*Link)
	}
	return out
}

// FlowsOnLink returns the flows whose path uses either direction of a link.
func (r reader) FlowsOnLink(link string) []Flow {
	raws := r.by(TableFlows, idxLink, link)
	out := make([]Flow, len(raws))
	for i, raw := range raws {
		out[i] = *raw.(*Flow)
	}
	return out
}

// Count returns the number of objects in a table.
func (r reader) Count(t Table) int {
	it, err := r.mt.Get(string(t), idxID)
	if err != nil {
		return 0
	}
	n := 0
	for raw := it.Next(); raw != nil; raw = it.Next() {
		n++
	}
	return n
}

// Network exports the intended network (contexts, topologies, devices, links, flows) as
// one document, each list in ID order. The result shares slices and maps with the twin:
// Clone it before modifying.
func (r reader) Network() *network.Network {
	n := &network.Network{}
	cs, _, _ := r.Contexts(ListOptions{})
	for _, c := range cs {
		n.Contexts = append(n.Contexts, c.Context)
	}
	ts, _, _ := r.Topologies(ListOptions{})
	for _, t := range ts {
		n.Topologies = append(n.Topologies, t.Topology)
	}
	ds, _, _ := r.Devices(ListOptions{})
	for _, d := range ds {
		n.Devices = append(n.Devices, d.Device)
	}
	ls, _, _ := r.Links(ListOptions{})
	for _, l := range ls {
		n.Links = append(n.Links, l.Link)
	}
	fs, _, _ := r.Flows(ListOptions{})
	for _, f := range fs {
		n.Flows = append(n.Flows, f.Flow)
	}
	return n
}
