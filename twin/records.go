package twin

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/twinflow/twinflow/models/network"
)

// Table names one table of a twin.
type Table string

// Tables of a twin. Intended state first, then observed state.
const (
	TableContexts      Table = "contexts"
	TableTopologies    Table = "topologies"
	TableDevices       Table = "devices"
	TableLinks         Table = "links"
	TableFlows         Table = "flows"
	TableDeviceConfigs Table = "device_configs"
	TableServices      Table = "services"
	TableSlices        Table = "slices"
	TablePolicies      Table = "policies"
	TableChanges       Table = "changes"

	TableObservedInterfaces Table = "observed_interfaces"
	TableObservedDevices    Table = "observed_devices"
	TableObservedLinks      Table = "observed_links"

	// TableTwins is used only in events: a fork was created (create) or a twin deleted
	// (remove). It is not a table inside a twin.
	TableTwins Table = "twins"

	tableMeta Table = "meta"
)

// RecordTables are the tables holding generic Records.
var RecordTables = []Table{TableServices, TableSlices, TablePolicies, TableChanges}

func isRecordTable(t Table) bool { return slices.Contains(RecordTables, t) }

// Context is a network.Context stored in a twin.
type Context struct {
	network.Context
	// Revision is the twin revision of the transaction that last wrote the object.
	Revision uint64 `json:"revision"`
}

// Topology is a network.Topology stored in a twin.
type Topology struct {
	network.Topology
	Revision uint64 `json:"revision"`
}

// Device is a network.Device stored in a twin.
type Device struct {
	network.Device
	Revision uint64 `json:"revision"`
}

// Link is a network.Link stored in a twin.
type Link struct {
	network.Link
	Revision uint64 `json:"revision"`
}

// Flow is a network.Flow stored in a twin.
type Flow struct {
	network.Flow
	Revision uint64 `json:"revision"`
}

// Record is a generic intended-state object for the services, slices, policies and
// changes tables. Spec is owned by the application that writes the record.
type Record struct {
	ID       string          `json:"id"`
	Kind     string          `json:"kind,omitempty"`
	Spec     json.RawMessage `json:"spec,omitempty"`
	Status   string          `json:"status,omitempty"`
	Revision uint64          `json:"revision"`
}

// DeviceConfig is the intended configuration of one device (e.g. OpenConfig JSON).
type DeviceConfig struct {
	Device   string          `json:"device"`
	Config   json.RawMessage `json:"config"`
	Revision uint64          `json:"revision"`
}

// InterfaceState is what telemetry reports for one interface. Counters are cumulative;
// rates are in Gb/s.
type InterfaceState struct {
	OperStatus  network.OperStatus `json:"oper_status,omitempty"`
	InOctets    uint64             `json:"in_octets,omitempty"`
	OutOctets   uint64             `json:"out_octets,omitempty"`
	InPkts      uint64             `json:"in_pkts,omitempty"`
	OutPkts     uint64             `json:"out_pkts,omitempty"`
	InErrors    uint64             `json:"in_errors,omitempty"`
	OutErrors   uint64             `json:"out_errors,omitempty"`
	InDiscards  uint64             `json:"in_discards,omitempty"`
	OutDiscards uint64             `json:"out_discards,omitempty"`
	InRateGbps  float64            `json:"in_rate_gbps,omitempty"`
	OutRateGbps float64            `json:"out_rate_gbps,omitempty"`
	// At is when the state was sampled (zero: when it was recorded).
	At time.Time `json:"at"`
}

// ObservedInterface is the observed state of one interface. ID is "device/interface".
type ObservedInterface struct {
	ID        string `json:"id"`
	Device    string `json:"device"`
	Interface string `json:"interface"`
	InterfaceState
}

// ObservedDevice is the observed reachability of one device.
type ObservedDevice struct {
	ID        string    `json:"id"`
	Reachable bool      `json:"reachable"`
	At        time.Time `json:"at"`
}

// LinkState is what telemetry derives for one link. Index 0 of the per-direction
// arrays is A→B (Endpoints[0] to [1], directed ID = link ID), index 1 is B→A.
type LinkState struct {
	OperStatus  network.OperStatus `json:"oper_status,omitempty"`
	RateGbps    [2]float64         `json:"rate_gbps"`
	Utilisation [2]float64         `json:"utilisation"`
	At          time.Time          `json:"at"`
}

// ObservedLink is the observed state of one link. ID is the link ID.
type ObservedLink struct {
	ID string `json:"id"`
	LinkState
}

// meta is the single row of tableMeta: the twin's intended revision. Keeping it inside
// the store makes a snapshot and its revision one atomic value.
type meta struct {
	ID       string
	Revision uint64
}

const metaID = "twin"

// Deep copies, so objects handed in are never shared with the caller.

func cloneDevice(d network.Device) network.Device {
	d.Drivers = slices.Clone(d.Drivers)
	d.Endpoints = slices.Clone(d.Endpoints)
	for j := range d.Endpoints {
		d.Endpoints[j].SampleTypes = slices.Clone(d.Endpoints[j].SampleTypes)
	}
	d.ConfigRules = slices.Clone(d.ConfigRules)
	d.Labels = maps.Clone(d.Labels)
	return d
}

func cloneLink(l network.Link) network.Link {
	l.Endpoints = slices.Clone(l.Endpoints)
	l.Labels = maps.Clone(l.Labels)
	l.Queue, l.ReverseQueue = l.Queue.Clone(), l.ReverseQueue.Clone()
	return l
}

func cloneTopology(t network.Topology) network.Topology {
	t.DeviceIDs = slices.Clone(t.DeviceIDs)
	t.LinkIDs = slices.Clone(t.LinkIDs)
	return t
}

func cloneFlow(f network.Flow) network.Flow {
	f.Path = slices.Clone(f.Path)
	if f.DemandGbps != nil {
		v := *f.DemandGbps
		f.DemandGbps = &v
	}
	return f
}
