package network

import (
	"maps"
	"slices"
	"strings"
)

// DirectedLink is one direction of a full-duplex link, the resource the bottleneck
// model reasons about.
type DirectedLink struct {
	// ID is the directed link ID (see DirectedLinkID).
	ID string
	// Link is the ID of the underlying full-duplex link.
	Link string
	// Reverse is true for the B→A direction (Endpoints[1] to Endpoints[0]).
	Reverse bool
	// From and To are the endpoints the direction leaves and enters.
	From, To EndPointRef
}

// LinkDirections returns the A→B and B→A directions of l. ok is false when l does not
// have exactly two endpoints (an invalid link), in which case both results are zero.
func LinkDirections(l Link) (fwd, rev DirectedLink, ok bool) {
	if len(l.Endpoints) != 2 {
		return DirectedLink{}, DirectedLink{}, false
	}
	a, b := l.Endpoints[0], l.Endpoints[1]
	fwd = DirectedLink{ID: DirectedLinkID(l.ID, false), Link: l.ID, From: a, To: b}
	rev = DirectedLink{ID: DirectedLinkID(l.ID, true), Link: l.ID, Reverse: true, From: b, To: a}
	return fwd, rev, true
}

// ParseDirectedLinkID splits a directed link ID into the link ID and the direction.
func ParseDirectedLinkID(id string) (linkID string, reverse bool) {
	if s, ok := strings.CutSuffix(id, ReverseSuffix); ok {
		return s, true
	}
	return id, false
}

// Index gives constant-time lookups into a Network. It holds indexes into the
// network's slices, so it is valid only as long as the network is not modified.
// On an invalid network with duplicate IDs the first element with an ID wins.
type Index struct {
	n        *Network
	contexts map[string]int
	topos    map[string]int
	devices  map[string]int
	links    map[string]int
	flows    map[string]int
	// endpoints maps device ID → endpoint ID → index into Device.Endpoints.
	endpoints map[string]map[string]int
	// attached maps an endpoint to the first link using it.
	attached map[EndPointRef]string
	// out lists, per device, the directed links leaving it, in link order.
	out map[string][]DirectedLink
}

// Index builds lookup tables for n. Building is O(size of n).
func (n *Network) Index() *Index { return n.index(true) }

// index builds the ID tables and, if full, the endpoint-to-link and adjacency tables.
func (n *Network) index(full bool) *Index {
	ix := &Index{
		n:         n,
		contexts:  make(map[string]int, len(n.Contexts)),
		topos:     make(map[string]int, len(n.Topologies)),
		devices:   make(map[string]int, len(n.Devices)),
		links:     make(map[string]int, len(n.Links)),
		flows:     make(map[string]int, len(n.Flows)),
		endpoints: make(map[string]map[string]int, len(n.Devices)),
	}
	if full {
		ix.attached = make(map[EndPointRef]string, 2*len(n.Links))
		ix.out = make(map[string][]DirectedLink, len(n.Devices))
	}
	for i, c := range n.Contexts {
		putFirst(ix.contexts, c.ID, i)
	}
	for i, t := range n.Topologies {
		putFirst(ix.topos, t.ID, i)
	}
	for i := range n.Devices {
		d := &n.Devices[i]
		if _, dup := ix.devices[d.ID]; dup {
			continue
		}
		ix.devices[d.ID] = i
		eps := make(map[string]int, len(d.Endpoints))
		for j, ep := range d.Endpoints {
			putFirst(eps, ep.ID, j)
		}
		ix.endpoints[d.ID] = eps
	}
	for i, l := range n.Links {
		if _, dup := ix.links[l.ID]; dup {
			continue
		}
		ix.links[l.ID] = i
		if !full {
			continue
		}
		for _, ep := range l.Endpoints {
			if _, used := ix.attached[ep]; !used {
				ix.attached[ep] = l.ID
			}
		}
		if fwd, rev, ok := LinkDirections(l); ok {
			ix.out[fwd.From.Device] = append(ix.out[fwd.From.Device], fwd)
			ix.out[rev.From.Device] = append(ix.out[rev.From.Device], rev)
		}
	}
	for i, f := range n.Flows {
		putFirst(ix.flows, f.ID, i)
	}
	return ix
}

func putFirst(m map[string]int, k string, v int) {
	if _, ok := m[k]; !ok {
		m[k] = v
	}
}

// Context returns the context with the given ID.
func (ix *Index) Context(id string) (*Context, bool) {
	i, ok := ix.contexts[id]
	if !ok {
		return nil, false
	}
	return &ix.n.Contexts[i], true
}

// Topology returns the topology with the given ID.
func (ix *Index) Topology(id string) (*Topology, bool) {
	i, ok := ix.topos[id]
	if !ok {
		return nil, false
	}
	return &ix.n.Topologies[i], true
}

// Device returns the device with the given ID.
func (ix *Index) Device(id string) (*Device, bool) {
	i, ok := ix.devices[id]
	if !ok {
		return nil, false
	}
	return &ix.n.Devices[i], true
}

// EndPoint returns the endpoint ref.EndPoint of device ref.Device.
func (ix *Index) EndPoint(ref EndPointRef) (*EndPoint, bool) {
	eps, ok := ix.endpoints[ref.Device]
	if !ok {
		return nil, false
	}
	j, ok := eps[ref.EndPoint]
	if !ok {
		return nil, false
	}
	return &ix.n.Devices[ix.devices[ref.Device]].Endpoints[j], true
}

// Link returns the link with the given (undirected) ID.
func (ix *Index) Link(id string) (*Link, bool) {
	i, ok := ix.links[id]
	if !ok {
		return nil, false
	}
	return &ix.n.Links[i], true
}

// Flow returns the flow with the given ID.
func (ix *Index) Flow(id string) (*Flow, bool) {
	i, ok := ix.flows[id]
	if !ok {
		return nil, false
	}
	return &ix.n.Flows[i], true
}

// Directed resolves a directed link ID (see DirectedLinkID).
func (ix *Index) Directed(directedID string) (DirectedLink, bool) {
	id, reverse := ParseDirectedLinkID(directedID)
	l, ok := ix.Link(id)
	if !ok {
		return DirectedLink{}, false
	}
	fwd, rev, ok := LinkDirections(*l)
	if !ok {
		return DirectedLink{}, false
	}
	if reverse {
		return rev, true
	}
	return fwd, true
}

// LinkAt returns the ID of the link attached to an endpoint, if any.
func (ix *Index) LinkAt(ref EndPointRef) (string, bool) {
	id, ok := ix.attached[ref]
	return id, ok
}

// Out returns the directed links leaving a device, in link order. The slice is shared:
// do not modify it.
func (ix *Index) Out(deviceID string) []DirectedLink { return ix.out[deviceID] }

// Neighbors returns the IDs of the devices adjacent to deviceID, sorted, without
// duplicates.
func (ix *Index) Neighbors(deviceID string) []string {
	seen := map[string]bool{}
	for _, d := range ix.out[deviceID] {
		seen[d.To.Device] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// Clone returns a deep copy of n: no slice, map or pointer is shared with n.
func (n *Network) Clone() *Network {
	if n == nil {
		return nil
	}
	c := &Network{
		Contexts:   slices.Clone(n.Contexts),
		Topologies: slices.Clone(n.Topologies),
		Devices:    slices.Clone(n.Devices),
		Links:      slices.Clone(n.Links),
		Flows:      slices.Clone(n.Flows),
	}
	for i := range c.Topologies {
		t := &c.Topologies[i]
		t.DeviceIDs = slices.Clone(t.DeviceIDs)
		t.LinkIDs = slices.Clone(t.LinkIDs)
	}
	for i := range c.Devices {
		d := &c.Devices[i]
		d.Drivers = slices.Clone(d.Drivers)
		d.Endpoints = slices.Clone(d.Endpoints)
		for j := range d.Endpoints {
			d.Endpoints[j].SampleTypes = slices.Clone(d.Endpoints[j].SampleTypes)
		}
		d.ConfigRules = slices.Clone(d.ConfigRules)
		d.Labels = maps.Clone(d.Labels)
	}
	for i := range c.Links {
		l := &c.Links[i]
		l.Endpoints = slices.Clone(l.Endpoints)
		l.Labels = maps.Clone(l.Labels)
		l.Queue, l.ReverseQueue = l.Queue.Clone(), l.ReverseQueue.Clone()
	}
	for i := range c.Flows {
		f := &c.Flows[i]
		f.Path = slices.Clone(f.Path)
		if f.DemandGbps != nil {
			v := *f.DemandGbps
			f.DemandGbps = &v
		}
	}
	return c
}
