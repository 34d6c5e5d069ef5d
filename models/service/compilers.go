package service

import (
	"fmt"
	"net/netip"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// JSON value shapes of the compositions (RFC 7951 without module prefixes, as the
// rest of the change vocabulary).
type obj = map[string]any

func addressEntry(p netip.Prefix) obj {
	ip := p.Addr().String()
	return obj{"ip": ip, "config": obj{"ip": ip, "prefix-length": p.Bits()}}
}

func subinterface0(addrs ...netip.Prefix) obj {
	var list []any
	for _, a := range addrs {
		list = append(list, addressEntry(a))
	}
	return obj{"index": 0, "config": obj{"index": 0}, "ipv4": obj{"addresses": obj{"address": list}}}
}

func niInterfaces(names ...string) obj {
	var list []any
	for _, n := range names {
		list = append(list, obj{"id": n, "config": obj{"id": n, "interface": n, "subinterface": 0}})
	}
	return obj{"interface": list}
}

func vxlanInterface(name string, vni uint32, local, remote netip.Addr, addrs ...netip.Prefix) obj {
	o := obj{"name": name, "config": obj{"name": name, "enabled": true},
		"vxlan": obj{"config": obj{"vni": vni, "local-address": local.String(), "remote-address": remote.String()}}}
	if len(addrs) > 0 {
		o["subinterfaces"] = obj{"subinterface": []any{subinterface0(addrs...)}}
	}
	return o
}

// L3VPNCompiler compiles L3VPNs (REQ-SERV-02): on every PE (an endpoint's device) a
// network instance (L3VRF, the service's RD) holding the sites' access interfaces
// (with the PE address of each site) and one VXLAN tunnel per other PE (a /31 from the
// transit pool), and static routes to every other site's prefix through the tunnel to
// its PE. These devices have no VRF device or MPLS: the instance is a routing table,
// the tunnels VXLAN over the underlay.
type L3VPNCompiler struct{}

// Type implements Compiler.
func (L3VPNCompiler) Type() Type { return L3VPN }

// Compose implements Compiler.
func (L3VPNCompiler) Compose(env *Env, s *Service, route bool) (*Compiled, error) {
	l3 := s.L3
	var devs []string
	sites := map[string][]int{}
	for i, ep := range s.Endpoints {
		if _, ok := sites[ep.Device]; !ok {
			devs = append(devs, ep.Device)
		}
		sites[ep.Device] = append(sites[ep.Device], i)
	}
	transit, _ := netip.ParsePrefix(l3.Transit)
	comp := NewComposer()
	type tunnel struct {
		name   string
		peer   string
		local  netip.Addr // this PE's transit address
		remote netip.Addr // the peer's
	}
	tunnels := map[string][]tunnel{}
	p := 0
	for a := range devs {
		for b := a + 1; b < len(devs); b++ {
			vni := l3.VNIBase + uint32(p)
			ta := nthAddr(transit, 2*p)
			tb := ta.Next()
			name := vxlanName(vni)
			tunnels[devs[a]] = append(tunnels[devs[a]], tunnel{name, devs[b], ta, tb})
			tunnels[devs[b]] = append(tunnels[devs[b]], tunnel{name, devs[a], tb, ta})
			p++
		}
	}
	for _, d := range devs {
		var members []string
		for _, i := range sites[d] {
			ep := s.Endpoints[i]
			pfx, _ := netip.ParsePrefix(ep.Address)
			if err := comp.Need(d, ifPath(ep.Interface)+"/config", obj{"enabled": true}); err != nil {
				return nil, err
			}
			if err := comp.OwnAt(d, ifPath(ep.Interface)+"/subinterfaces/subinterface[index=0]", subinterface0(pfx),
				ifPath(ep.Interface)+"/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip="+pfx.Addr().String()+"]"); err != nil {
				return nil, err
			}
			members = append(members, ep.Interface)
		}
		var statics []any
		for _, tn := range tunnels[d] {
			local, remote, err := tunnelEnds(env, s, d, tn.peer)
			if err != nil {
				return nil, err
			}
			if err := comp.Own(d, ifPath(tn.name), vxlanInterface(tn.name, vniOf(tn.name), local, remote, netip.PrefixFrom(tn.local, 31))); err != nil {
				return nil, err
			}
			members = append(members, tn.name)
			for _, i := range sites[tn.peer] {
				sp, _ := netip.ParsePrefix(s.Endpoints[i].Address)
				pfx := sp.Masked().String()
				statics = append(statics, obj{"prefix": pfx, "config": obj{"prefix": pfx},
					"next-hops": obj{"next-hop": []any{obj{"index": "0", "config": obj{"index": "0", "next-hop": tn.remote.String()}}}}})
			}
		}
		ni := obj{"name": l3.VRF, "config": obj{"name": l3.VRF, "type": niTypes + "L3VRF", "route-distinguisher": l3.RD},
			"interfaces": niInterfaces(members...)}
		if len(statics) > 0 {
			ni["protocols"] = obj{"protocol": []any{obj{"identifier": "STATIC", "name": "static",
				"config": obj{"identifier": "STATIC", "name": "static"}, "static-routes": obj{"static": statics}}}}
		}
		if err := comp.Own(d, niPath(l3.VRF), ni); err != nil {
			return nil, err
		}
	}
	flows, err := pathFlows(env, s, allPairs(len(s.Endpoints)), route)
	if err != nil {
		return nil, err
	}
	return &Compiled{Composer: comp, Flows: flows}, nil
}

func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Addr()
	for range n {
		a = a.Next()
	}
	return a
}

func vniOf(name string) uint32 {
	var v uint32
	_, _ = fmt.Sscanf(name, "vx%d", &v)
	return v
}

// L2VPNCompiler compiles point-to-point L2VPNs (REQ-SERV-01): on each of the two PEs a
// VXLAN interface to the other PE and an L2VSI instance (a bridge) of it and the
// access interface.
type L2VPNCompiler struct{}

// Type implements Compiler.
func (L2VPNCompiler) Type() Type { return L2VPN }

// Compose implements Compiler.
func (L2VPNCompiler) Compose(env *Env, s *Service, route bool) (*Compiled, error) {
	a, b := s.Endpoints[0], s.Endpoints[1]
	if a.Device == b.Device {
		return nil, fmt.Errorf("%w: service %q: both endpoints on %q: a local cross-connect, not a VPN", ErrInvalid, s.ID, a.Device)
	}
	vni := s.L2.VNI
	vx := vxlanName(vni)
	bd := fmt.Sprintf("bd%d", vni)
	comp := NewComposer()
	if s.Constraints.Availability > 1 {
		return composeProtectedL2(env, s, comp, route)
	}
	for _, side := range [][2]Endpoint{{a, b}, {b, a}} {
		self, peer := side[0], side[1]
		local, remote, err := tunnelEnds(env, s, self.Device, peer.Device)
		if err != nil {
			return nil, err
		}
		if err := comp.Need(self.Device, ifPath(self.Interface)+"/config", obj{"enabled": true}); err != nil {
			return nil, err
		}
		if err := comp.Own(self.Device, ifPath(vx), vxlanInterface(vx, vni, local, remote)); err != nil {
			return nil, err
		}
		if err := comp.Own(self.Device, niPath(bd), obj{"name": bd, "config": obj{"name": bd, "type": niTypes + "L2VSI"},
			"interfaces": niInterfaces(self.Interface, vx)}); err != nil {
			return nil, err
		}
	}
	flows, err := pathFlows(env, s, [][2]int{{0, 1}, {1, 0}}, route)
	if err != nil {
		return nil, err
	}
	return &Compiled{Composer: comp, Flows: flows}, nil
}

// SRPolicyCompiler compiles SR policies (REQ-TE-03): a TE path from the head end (the
// first endpoint's device) to the second endpoint's device meeting the constraints and
// explicit hops, its SRv6 segment list (node SIDs, optionally compressed), and at the
// head end a static route for the policy's prefix encapsulating into that list out of
// the path's first link.
type SRPolicyCompiler struct{}

// Type implements Compiler.
func (SRPolicyCompiler) Type() Type { return SRPolicy }

// Compose implements Compiler.
func (SRPolicyCompiler) Compose(env *Env, s *Service, route bool) (*Compiled, error) {
	head, tail := s.Endpoints[0].Device, s.Endpoints[1].Device
	c := s.Constraints
	prefix := s.SR.Prefix
	staticPath := niPath("DEFAULT") + "/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=" + prefix + "]"
	comp := NewComposer()
	flow := Flow(s, 0, 1, 0, head, tail)
	if !route {
		// removal: the route is owned by the policy; its value is not needed to delete it
		if err := comp.Own(head, staticPath, obj{"prefix": prefix}); err != nil {
			return nil, err
		}
		return &Compiled{Composer: comp, Flows: []FlowSpec{flow}}, nil
	}
	if env.Graph == nil {
		return nil, fmt.Errorf("%w: service %q: no network graph to route on", ErrUnsatisfiable, s.ID)
	}
	metric := s.SR.Metric
	if metric == "" {
		metric = c.Metric
	}
	ps, err := env.Graph.TE(routing.TERequest{Src: head, Dst: tail, Metric: metric, BandwidthGbps: c.CapacityGbps, Priority: c.Priority,
		MaxLatencyMs: c.MaxLatencyMs, MaxHops: c.MaxHops, Hops: s.SR.Hops, ExcludeLinks: exclusions(c.ExcludeLinks, env.DownLinks), ExcludeDevices: set(c.ExcludeDevices)}, env.Reservations)
	if err != nil {
		return nil, fmt.Errorf("%w: service %q: %v", ErrUnsatisfiable, s.ID, err)
	}
	path := ps[0]
	// the routers' forwarding view: failed links are not in it
	segs, err := env.Graph.SegmentList(path, s.SR.Compress, routing.Options{Metric: metric, ExcludeLinks: env.DownLinks})
	if err != nil {
		return nil, fmt.Errorf("%w: service %q: path %v: %v", ErrUnsatisfiable, s.ID, path.Devices, err)
	}
	var list []any
	for i, d := range segs {
		sid, ok := env.SIDs[d]
		if !ok || !sid.Is6() {
			return nil, fmt.Errorf("%w: service %q: device %q on the path has no SRv6 node SID", ErrUnsatisfiable, s.ID, d)
		}
		list = append(list, obj{"index": i, "config": obj{"index": i, "sid": sid.String()}})
	}
	out, err := egress(env.Network, path.Links[0], head)
	if err != nil {
		return nil, fmt.Errorf("%w: service %q: %v", ErrUnsatisfiable, s.ID, err)
	}
	value := obj{"prefix": prefix, "config": obj{"prefix": prefix}, "next-hops": obj{"next-hop": []any{obj{"index": "sr-" + s.ID,
		"srv6": obj{"config": obj{"mode": "ENCAP", "interface": out}, "segments": obj{"segment": list}}}}}}
	if err := comp.Need(head, ifPath(out)+"/config", obj{"enabled": true}); err != nil {
		return nil, err
	}
	if err := comp.Own(head, staticPath, value); err != nil {
		return nil, err
	}
	flow.Path = path.Links
	flow.DemandGbps = demand(c.CapacityGbps)
	if slo := sloOf(c, c.CapacityGbps); slo != nil {
		flow.SLO = slo
	}
	if c.Isolation == change.IsolationHard && env.Reservations != nil {
		if err := env.Reservations.Reserve(flow.ID, flow.Path, c.CapacityGbps, c.Priority); err != nil {
			return nil, err
		}
	}
	return &Compiled{Composer: comp, Flows: []FlowSpec{flow}}, nil
}

// egress returns the interface of device dev at the tail of directed link dl.
func egress(n *network.Network, dl, dev string) (string, error) {
	if n == nil {
		return "", fmt.Errorf("no network to find link %s in", dl)
	}
	for _, l := range n.Links {
		fwd, rev, ok := network.LinkDirections(l)
		if !ok {
			continue
		}
		for _, d := range []network.DirectedLink{fwd, rev} {
			if d.ID == dl && d.From.Device == dev {
				return d.From.EndPoint, nil
			}
		}
	}
	return "", fmt.Errorf("link %s does not leave %s", dl, dev)
}

// niTypes qualifies network-instance type identities as devices report them (JSON_IETF
// identityrefs carry their module): a commit's read-back compares the device's value
// with the one sent, so the unqualified "L2VSI" failed verification on a real node.
const niTypes = "openconfig-network-instance-types:"
