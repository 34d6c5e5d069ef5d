package network

import "fmt"

// DomainPart returns the part of n one administrative domain's controller holds: the
// devices of domain dom, the devices of other domains its links end at (a neighbour's
// border, with its Domain but without its labels: a domain knows where its links go,
// not what is behind them), the links between those devices, the flows between its
// own devices, and the contexts and topologies restricted to them. It fails when no
// device is in dom. n is not modified.
func DomainPart(n *Network, dom string) (*Network, error) {
	own := map[string]bool{}
	for _, d := range n.Devices {
		if d.Domain == dom && dom != "" {
			own[d.ID] = true
		}
	}
	if len(own) == 0 {
		return nil, fmt.Errorf("%w: no device is in domain %q", ErrSpec, dom)
	}
	keep := map[string]bool{}
	for id := range own {
		keep[id] = true
	}
	for _, l := range n.Links {
		if len(l.Endpoints) != 2 {
			continue
		}
		a, b := l.Endpoints[0].Device, l.Endpoints[1].Device
		if own[a] || own[b] {
			keep[a], keep[b] = true, true
		}
	}
	out := &Network{Contexts: append([]Context(nil), n.Contexts...)}
	for _, d := range n.Devices {
		if !keep[d.ID] {
			continue
		}
		if !own[d.ID] {
			labels := map[string]string{}
			if r, ok := d.Labels[LabelRole]; ok {
				labels[LabelRole] = r
			}
			d.Labels = labels
		}
		out.Devices = append(out.Devices, d)
	}
	links := map[string]bool{}
	for _, l := range n.Links {
		if len(l.Endpoints) == 2 && keep[l.Endpoints[0].Device] && keep[l.Endpoints[1].Device] {
			out.Links = append(out.Links, l)
			links[l.ID] = true
		}
	}
	for _, t := range n.Topologies {
		t.DeviceIDs = filterIDs(t.DeviceIDs, keep)
		t.LinkIDs = filterIDs(t.LinkIDs, links)
		out.Topologies = append(out.Topologies, t)
	}
	for _, f := range n.Flows {
		if own[f.Src] && own[f.Dst] {
			out.Flows = append(out.Flows, f)
		}
	}
	return out, nil
}

func filterIDs(ids []string, keep map[string]bool) []string {
	var out []string
	for _, id := range ids {
		if keep[id] {
			out = append(out, id)
		}
	}
	return out
}
