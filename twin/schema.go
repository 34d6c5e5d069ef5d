package twin

import (
	"fmt"

	"github.com/hashicorp/go-memdb"
	"github.com/twinflow/twinflow/models/network"
)

// Index names.
const (
	idxID       = "id"
	idxDevice   = "device"   // links, flows, topologies: devices referenced
	idxLink     = "link"     // flows, topologies: links referenced
	idxEndpoint = "endpoint" // links: "device\x00endpoint" of each endpoint
	idxContext  = "context"  // topologies: context referenced
)

// strIndex indexes an object by one string computed by a function (no reflection).
type strIndex struct{ f func(obj any) string }

func (s strIndex) FromObject(obj any) (bool, []byte, error) {
	v := s.f(obj)
	if v == "" {
		return false, nil, nil
	}
	return true, []byte(v + "\x00"), nil
}

func (s strIndex) FromArgs(args ...any) ([]byte, error) { return stringArg(args) }

// PrefixFromArgs allows LowerBound/prefix queries.
func (s strIndex) PrefixFromArgs(args ...any) ([]byte, error) {
	b, err := stringArg(args)
	if err != nil {
		return nil, err
	}
	return b[:len(b)-1], nil
}

// multiIndex indexes an object by several strings.
type multiIndex struct{ f func(obj any) []string }

func (m multiIndex) FromObject(obj any) (bool, [][]byte, error) {
	vs := m.f(obj)
	if len(vs) == 0 {
		return false, nil, nil
	}
	out := make([][]byte, 0, len(vs))
	seen := make(map[string]bool, len(vs))
	for _, v := range vs {
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, []byte(v+"\x00"))
	}
	return len(out) > 0, out, nil
}

func (m multiIndex) FromArgs(args ...any) ([]byte, error) { return stringArg(args) }

func stringArg(args []any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("twin: index takes one argument, got %d", len(args))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("twin: index argument must be a string, got %T", args[0])
	}
	return []byte(s + "\x00"), nil
}

func idOf(obj any) string {
	switch o := obj.(type) {
	case *Context:
		return o.ID
	case *Topology:
		return o.ID
	case *Device:
		return o.ID
	case *Link:
		return o.ID
	case *Flow:
		return o.ID
	case *Record:
		return o.ID
	case *DeviceConfig:
		return o.Device
	case *ObservedInterface:
		return o.ID
	case *ObservedDevice:
		return o.ID
	case *ObservedLink:
		return o.ID
	case *meta:
		return o.ID
	}
	return ""
}

func revisionOf(obj any) uint64 {
	switch o := obj.(type) {
	case *Context:
		return o.Revision
	case *Topology:
		return o.Revision
	case *Device:
		return o.Revision
	case *Link:
		return o.Revision
	case *Flow:
		return o.Revision
	case *Record:
		return o.Revision
	case *DeviceConfig:
		return o.Revision
	}
	return 0
}

func endpointKey(r network.EndPointRef) string { return r.Device + "\x01" + r.EndPoint }

func table(name Table, extra map[string]*memdb.IndexSchema) *memdb.TableSchema {
	idx := map[string]*memdb.IndexSchema{
		idxID: {Name: idxID, Unique: true, Indexer: strIndex{idOf}},
	}
	for k, v := range extra {
		v.Name = k
		v.AllowMissing = true
		idx[k] = v
	}
	return &memdb.TableSchema{Name: string(name), Indexes: idx}
}

func newSchema() *memdb.DBSchema {
	linkDevices := multiIndex{func(obj any) []string {
		l := obj.(*Link)
		out := make([]string, 0, len(l.Endpoints))
		for _, ep := range l.Endpoints {
			out = append(out, ep.Device)
		}
		return out
	}}
	linkEndpoints := multiIndex{func(obj any) []string {
		l := obj.(*Link)
		out := make([]string, 0, len(l.Endpoints))
		for _, ep := range l.Endpoints {
			out = append(out, endpointKey(ep))
		}
		return out
	}}
	flowDevices := multiIndex{func(obj any) []string {
		f := obj.(*Flow)
		return []string{f.Src, f.Dst}
	}}
	flowLinks := multiIndex{func(obj any) []string {
		f := obj.(*Flow)
		out := make([]string, 0, len(f.Path))
		for _, p := range f.Path {
			id, _ := network.ParseDirectedLinkID(p)
			out = append(out, id)
		}
		return out
	}}
	topoDevices := multiIndex{func(obj any) []string { return obj.(*Topology).DeviceIDs }}
	topoLinks := multiIndex{func(obj any) []string { return obj.(*Topology).LinkIDs }}
	topoContext := strIndex{func(obj any) string { return obj.(*Topology).Context }}

	tables := []*memdb.TableSchema{
		table(tableMeta, nil),
		table(TableContexts, nil),
		table(TableTopologies, map[string]*memdb.IndexSchema{
			idxDevice: {Indexer: topoDevices}, idxLink: {Indexer: topoLinks}, idxContext: {Indexer: topoContext},
		}),
		table(TableDevices, nil),
		table(TableLinks, map[string]*memdb.IndexSchema{
			idxDevice: {Indexer: linkDevices}, idxEndpoint: {Indexer: linkEndpoints},
		}),
		table(TableFlows, map[string]*memdb.IndexSchema{
			idxDevice: {Indexer: flowDevices}, idxLink: {Indexer: flowLinks},
		}),
		table(TableDeviceConfigs, nil),
		table(TableObservedInterfaces, map[string]*memdb.IndexSchema{
			idxDevice: {Indexer: strIndex{func(obj any) string { return obj.(*ObservedInterface).Device }}},
		}),
		table(TableObservedDevices, nil),
		table(TableObservedLinks, nil),
	}
	for _, t := range RecordTables {
		tables = append(tables, table(t, nil))
	}
	s := &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{}}
	for _, t := range tables {
		s.Tables[t.Name] = t
	}
	return s
}
