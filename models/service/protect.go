package service

import (
	"fmt"
	"net/netip"

	"github.com/twinflow/twinflow/models/network"
)

// Protection in the dataplane (docs/services.md, "Protection in the dataplane";
// REQ-SLI-04): a point-to-point L2VPN with availability k > 1 is realised as k VXLAN
// tunnels between its PEs, one per disjoint path, so that a failed link silences only
// the tunnels whose path crosses it:
//
//   - tunnel p (vx<vni> for p = 0, vx<vni>p<p> after) uses UDP destination port
//     ProtectionPortBase+p (one VNI cannot be on two tunnels of one port), is bound to
//     the first link of its path (underlay-interface), and is a bridge port without
//     MAC learning in split horizon with the other tunnels: every frame from the
//     access interface goes out every tunnel, and what one tunnel brings in is not
//     sent back out another (1+1 without a selector: the far end receives a copy per
//     live path);
//   - every device of a path but its last routes the path's far PE's underlay address
//     (a /32) to the next device's underlay address on link through the interface of
//     the path's link (interface-bound next hop, metric ProtectionRouteMetric): the
//     PE's tunnel, bound to its first link, takes the next hop through that link, and
//     each transit device forwards along the path. The next hop's index is its
//     interface, so services whose paths leave a device over the same link write the
//     same entry. These routes are settings the service needs, not objects it owns:
//     another service may need the same entry, so removing a service leaves them.

// ProtectionPortBase is the UDP destination port of a protected service's first
// tunnel (the IANA VXLAN port); path p's tunnel uses ProtectionPortBase+p.
const ProtectionPortBase = 4789

// ProtectionRouteMetric is the metric of the per-path underlay routes: below what a
// lab or an IGP installs (the netns lab: 1000), so the path's route wins on transit.
const ProtectionRouteMetric = 10

// protectedTunnel is the name of path p's tunnel of VNI vni.
func protectedTunnel(vni uint32, p int) string {
	if p == 0 {
		return vxlanName(vni)
	}
	return fmt.Sprintf("%sp%d", vxlanName(vni), p)
}

func composeProtectedL2(env *Env, s *Service, comp *Composer, route bool) (*Compiled, error) {
	k := s.Constraints.Availability
	vni := s.L2.VNI
	bd := fmt.Sprintf("bd%d", vni)
	flows, err := pathFlows(env, s, [][2]int{{0, 1}, {1, 0}}, route)
	if err != nil {
		return nil, err
	}
	if len(flows) != 2*k {
		return nil, fmt.Errorf("service %q: %d flows for %d paths each way", s.ID, len(flows), k)
	}
	type underlayRoute struct {
		dev, prefix string
		hops        []any
	}
	var routes []underlayRoute
	routeAt := map[[2]string]int{}
	for side, ep := range s.Endpoints[:2] {
		peer := s.Endpoints[1-side]
		local, remote, err := tunnelEnds(env, s, ep.Device, peer.Device)
		if err != nil {
			return nil, err
		}
		if err := comp.Need(ep.Device, ifPath(ep.Interface)+"/config", obj{"enabled": true}); err != nil {
			return nil, err
		}
		members := []string{ep.Interface}
		for p := range k {
			name := protectedTunnel(vni, p)
			cfg := obj{"vni": vni, "local-address": local.String(), "remote-address": remote.String(),
				"destination-port": ProtectionPortBase + p, "learning": false, "split-horizon": true}
			if route {
				f := flows[side*k+p]
				hops, err := pathHops(env.Network, f.Src, f.Path)
				if err != nil {
					return nil, fmt.Errorf("%w: service %q: path %d from %s: %v", ErrUnsatisfiable, s.ID, p, f.Src, err)
				}
				cfg["underlay-interface"] = hops[0].egress
				for _, h := range hops {
					via, err := underlay(env, s, h.next)
					if err != nil {
						return nil, err
					}
					key := [2]string{h.dev, remote.String()}
					i, ok := routeAt[key]
					if !ok {
						i = len(routes)
						routeAt[key] = i
						routes = append(routes, underlayRoute{dev: h.dev, prefix: netip.PrefixFrom(remote, 32).String()})
					}
					routes[i].hops = append(routes[i].hops, obj{"index": h.egress,
						"config":        obj{"index": h.egress, "next-hop": via.String(), "metric": ProtectionRouteMetric},
						"interface-ref": obj{"config": obj{"interface": h.egress}}})
				}
			}
			if err := comp.Own(ep.Device, ifPath(name), obj{"name": name, "config": obj{"name": name, "enabled": true},
				"vxlan": obj{"config": cfg}}); err != nil {
				return nil, err
			}
			members = append(members, name)
		}
		if err := comp.Own(ep.Device, niPath(bd), obj{"name": bd, "config": obj{"name": bd, "type": niTypes + "L2VSI"},
			"interfaces": niInterfaces(members...)}); err != nil {
			return nil, err
		}
	}
	for _, r := range routes {
		path := niPath("DEFAULT") + "/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=" + r.prefix + "]"
		if err := comp.Need(r.dev, path, obj{"prefix": r.prefix, "config": obj{"prefix": r.prefix}, "next-hops": obj{"next-hop": r.hops}}); err != nil {
			return nil, err
		}
	}
	return &Compiled{Composer: comp, Flows: flows}, nil
}

// hop is one link of a path: from dev out of egress to next.
type hop struct{ dev, egress, next string }

// pathHops walks a path of directed link IDs from src.
func pathHops(n *network.Network, src string, path []string) ([]hop, error) {
	if n == nil {
		return nil, fmt.Errorf("no network to find the path's links in")
	}
	if len(path) == 0 {
		return nil, fmt.Errorf("empty path")
	}
	byID := map[string]network.DirectedLink{}
	for _, l := range n.Links {
		if fwd, rev, ok := network.LinkDirections(l); ok {
			byID[fwd.ID], byID[rev.ID] = fwd, rev
		}
	}
	out := make([]hop, 0, len(path))
	cur := src
	for _, id := range path {
		d, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("no link %s", id)
		}
		if d.From.Device != cur {
			return nil, fmt.Errorf("link %s does not leave %s", id, cur)
		}
		out = append(out, hop{dev: cur, egress: d.From.EndPoint, next: d.To.Device})
		cur = d.To.Device
	}
	return out, nil
}
