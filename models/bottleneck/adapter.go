package bottleneck

import (
	"fmt"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// RouteFunc gives a path (directed link IDs) for a flow that has none.
type RouteFunc func(f network.Flow) ([]string, error)

// FromNetwork converts a network document into the engine's input: each direction of
// each link is a resource named by its directed link ID (network.DirectedLinkID) with
// the link's capacity; links whose oper status is "disabled" are left out. Flows keep
// their path, demand (DemandGbps) and class; a flow without a path is routed with
// route, or is an error naming it when route is nil. O(|L| + Σ|path|) plus routing.
func FromNetwork(n *network.Network, route RouteFunc) (*Network, error) {
	out := &Network{Links: make([]Link, 0, 2*len(n.Links)), Flows: make([]Flow, 0, len(n.Flows))}
	for i, l := range n.Links {
		if l.OperStatus == network.StatusDisabled {
			continue
		}
		fwd, rev, ok := network.LinkDirections(l)
		if !ok {
			return nil, inputErr(fmt.Sprintf("links[%d] %q", i, l.ID), "a link needs exactly two endpoints")
		}
		out.Links = append(out.Links, Link{ID: fwd.ID, Capacity: l.CapacityGbps}, Link{ID: rev.ID, Capacity: l.CapacityGbps})
	}
	for i, f := range n.Flows {
		p := f.Path
		if len(p) == 0 && route != nil {
			var err error
			if p, err = route(f); err != nil {
				return nil, inputErr(flowLoc(i, f.ID), "no route from %q to %q: %v", f.Src, f.Dst, err)
			}
		}
		out.Flows = append(out.Flows, Flow{ID: f.ID, Path: p, Demand: f.DemandGbps, Class: f.Class})
	}
	return out, nil
}

// Routing selects how FromNetwork routes flows without a path and how failures
// reroute flows.
type Routing string

// Routing modes.
const (
	RouteShortest Routing = "shortest" // least latency (gonum Dijkstra)
	RouteECMP     Routing = "ecmp"     // equal-cost multipath by hop count, hashed per flow
)

// Router routes flows of a network between their source and destination devices.
// Not safe for concurrent use (it caches distances and reuses scratch space).
type Router struct {
	g    *routing.Graph
	mode Routing
	o    routing.Options
	ecmp *routing.ECMP
	ends map[string]flowEnds
	ridx []int32 // an ECMP reroute's path as routing link indices (scratch)
	// ECMP reroutes: the failed links by routing graph index, and the last derived
	// router, whose storage the next failure's reuses
	mask  []bool
	spare *routing.ECMP
}

// flowEnds is a flow's source and destination devices, by ID and by routing graph
// index (-1: not a device of the graph).
type flowEnds struct {
	src, dst string
	s, t     int32
}

func (r *Router) endsOf(src, dst string) flowEnds {
	e := flowEnds{src: src, dst: dst, s: -1, t: -1}
	if i, ok := r.g.DeviceIndex(src); ok {
		e.s = int32(i)
	}
	if i, ok := r.g.DeviceIndex(dst); ok {
		e.t = int32(i)
	}
	return e
}

// NewRouter builds a router over n's devices and links for mode. Flows' source and
// destination devices are taken from n.Flows (and Remember).
func NewRouter(n *network.Network, mode Routing) (*Router, error) {
	g, err := routing.NewGraph(n)
	if err != nil {
		return nil, err
	}
	r := &Router{g: g, mode: mode, ends: make(map[string]flowEnds, len(n.Flows))}
	switch mode {
	case RouteShortest:
		r.o = routing.Options{Metric: routing.Latency}
	case RouteECMP:
		r.o = routing.Options{Metric: routing.Hops}
		r.ecmp = g.NewECMP(r.o)
	default:
		return nil, fmt.Errorf("%w: routing must be shortest or ecmp, got %q", ErrInvalid, mode)
	}
	for _, f := range n.Flows {
		r.ends[f.ID] = r.endsOf(f.Src, f.Dst)
	}
	return r, nil
}

// Graph returns the routing graph.
func (r *Router) Graph() *routing.Graph { return r.g }

// Remember records a flow's endpoints (for flows added later).
func (r *Router) Remember(flowID, src, dst string) { r.ends[flowID] = r.endsOf(src, dst) }

// Route is a RouteFunc.
func (r *Router) Route(f network.Flow) ([]string, error) {
	r.ends[f.ID] = r.endsOf(f.Src, f.Dst)
	return r.route(f.ID, f.Src, f.Dst, r.o, r.ecmp, nil)
}

// route routes flow id; an ECMP path is appended to buf[:0].
func (r *Router) route(id, src, dst string, o routing.Options, ecmp *routing.ECMP, buf []string) ([]string, error) {
	if ecmp != nil {
		return ecmp.RouteLinks(id, src, dst, buf)
	}
	p, err := r.g.Shortest(src, dst, o)
	if err != nil {
		return nil, err
	}
	return p.Links, nil
}

// Reroute returns the Reroute for State.FailLinks: each affected flow is routed again
// between its endpoints avoiding every failed link; flows with unknown endpoints or no
// remaining path are dropped. In ECMP mode the router's distances are reused for every
// destination the failure does not lengthen (routing.ECMP.Derive): the failed links
// are marked once by index (Failure.FailedLinks, routing.Options.ExcludeIndex), and
// the derived router reuses the storage of the previous Reroute's
// (routing.ECMP.DeriveReusing), so a Reroute is good for one FailLinks call, until
// the next Reroute of r is first used. An ECMP path is walked by device and link
// index (endpoints resolved when the flow was remembered, routing.ECMP.AppendRoute)
// and handed to FailLinks by index as well (Failure.setRoute), besides its IDs.
func (r *Router) Reroute() Reroute {
	var ecmp *routing.ECMP
	var o routing.Options
	var buf []string // FailLinks keeps no new path: each is routed into the last one's storage
	return func(flowID string, f *Failure) ([]string, bool) {
		ends, ok := r.ends[flowID]
		if !ok {
			return nil, false
		}
		if ecmp == nil && r.mode == RouteECMP {
			if len(r.mask) != r.g.NumLinks() {
				r.mask = make([]bool, r.g.NumLinks())
			} else {
				clear(r.mask)
			}
			for _, id := range f.FailedLinks() {
				if e, ok := r.g.LinkIndex(id); ok {
					r.mask[e] = true
				}
			}
			o = r.o
			o.ExcludeIndex = r.mask
			ecmp = r.ecmp.DeriveReusing(r.spare, o) // reuses the distances the failure leaves intact
			r.spare = ecmp
		} else if r.mode != RouteECMP {
			o = r.o
			o.Exclude = f.Failed
		}
		if ecmp != nil {
			var ok bool
			r.ridx, ok = ecmp.AppendRoute(flowID, int(ends.s), int(ends.t), r.ridx[:0])
			if !ok || len(r.ridx) == 0 {
				return nil, false
			}
			buf = buf[:0]
			for _, e := range r.ridx {
				buf = append(buf, r.g.LinkID(int(e)))
			}
			f.setRoute(r.g, r.ridx)
			return buf, true
		}
		p, err := r.route(flowID, ends.src, ends.dst, o, nil, nil)
		if err != nil || len(p) == 0 {
			return nil, false
		}
		return p, true
	}
}
