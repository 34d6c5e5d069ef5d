package queue

import (
	"fmt"

	"github.com/twinflow/twinflow/models/network"
)

// FromNetwork builds the model's input from a validated network document: one Link per
// direction of every link (named by its directed link ID, with the direction's queue
// and the link's latency) and one Flow per flow, with its path, congestion control,
// class and demand. route, if not nil, gives the path of a flow without one (as
// models/routing does); flows left without a path are an error.
func FromNetwork(n *network.Network, route func(f network.Flow) ([]string, error)) (*Input, error) {
	in := &Input{Links: make([]Link, 0, 2*len(n.Links)), Flows: make([]Flow, 0, len(n.Flows))}
	for i := range n.Links {
		l := &n.Links[i]
		for _, rev := range []bool{false, true} {
			in.Links = append(in.Links, Link{ID: network.DirectedLinkID(l.ID, rev), CapacityGbps: l.CapacityGbps,
				LatencyMs: l.LatencyMs, Queue: l.QueueOf(rev)})
		}
	}
	for i, f := range n.Flows {
		path := f.Path
		if len(path) == 0 && route != nil {
			p, err := route(f)
			if err != nil {
				return nil, fmt.Errorf("%w: flows[%d] %q: route: %v", ErrInvalid, i, f.ID, err)
			}
			path = p
		}
		if len(path) == 0 {
			return nil, fmt.Errorf("%w: flows[%d] %q: no path", ErrInvalid, i, f.ID)
		}
		in.Flows = append(in.Flows, Flow{ID: f.ID, Path: path, CC: f.CongestionControl, Class: f.Class, DemandGbps: f.DemandGbps})
	}
	return in, nil
}
