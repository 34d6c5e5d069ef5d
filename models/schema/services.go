package schema

import (
	"fmt"
	"net/netip"
)

// Service additions (issue #15), kept apart from Root's base subset so the two can be
// merged or moved mechanically. Root calls addServiceNodes before modules and config
// flags are propagated.
//
//	/network-instances/network-instance[name]/config/route-distinguisher
//	  (and state/route-distinguisher): openconfig-network-instance's RD leaf
//	/interfaces/interface[name]/vxlan/config/{vni,local-address,remote-address,destination-port,
//	  underlay-interface,learning,split-horizon}
//	  (twinflow-vxlan): the interface is a VXLAN tunnel endpoint the node creates
//	  (unicast, one remote: no VLAN devices or EVPN on these kernels); underlay-interface
//	  binds its encapsulated packets to one port (the route lookup of the remote address
//	  keeps to next hops through it); learning false: no MAC learning on the tunnel (nor
//	  as a bridge port), so frames for remote hosts are flooded into it; split-horizon:
//	  as a bridge port, frames received on it are not forwarded to other split-horizon
//	  ports (the kernel's isolated bridge port)
//	.../static[prefix]/next-hops/next-hop[index]/interface-ref/config/interface
//	  (openconfig-local-routing's interface-bound next hop): the next hop is on link
//	  through that interface, whatever the interface's subnets
//	network-instance config/type L2VSI: a bridge; its interfaces are the bridge ports
//	.../static[prefix]/next-hops/next-hop[index]/srv6/config/{mode,interface}
//	.../next-hop[index]/srv6/segments/segment[index]/config/{index,sid}
//	  (twinflow-srv6): the next hop encapsulates into SRv6 with the segment list in
//	  travel order (index 0 first), out of interface
//
// The twinflow-* containers are TwinFlow extensions: OpenConfig models VXLAN for EVPN
// and SR policies for MPLS/SRv6 in much larger trees; these carry only what the
// node's dataplanes program (docs/services.md).

// IPv6 is a leaf holding an IPv6 address (canonical text).
const IPv6 Type = 100

// Limits of the service additions.
const (
	MaxVNI      = 1<<24 - 1
	MaxSegments = 16
)

// SRv6 encapsulation modes.
var srv6Modes = []string{"ENCAP", "INLINE"}

func addServiceNodes(r *Node) {
	ni := r.Children["network-instances"].Children["network-instance"]
	for _, c := range []string{"config", "state"} {
		ni.Children[c].add(leaf("route-distinguisher", String))
	}

	vxCfg := []*Node{
		rangeLeaf("vni", Uint32, 1, MaxVNI),
		leaf("local-address", IPv4),
		leaf("remote-address", IPv4),
		rangeLeaf("destination-port", Uint16, 1, 65535),
		leaf("underlay-interface", String),
		leaf("learning", Bool),
		leaf("split-horizon", Bool),
	}
	iface := r.Children["interfaces"].Children["interface"]
	iface.add(mod("twinflow-vxlan", cont("vxlan",
		cont("config", copyLeaves(vxCfg...)...),
		cont("state", copyLeaves(vxCfg...)...),
	)))

	nh := ni.Children["protocols"].Children["protocol"].Children["static-routes"].Children["static"].
		Children["next-hops"].Children["next-hop"]
	nh.add(cont("interface-ref",
		cont("config", leaf("interface", String)),
		cont("state", leaf("interface", String)),
	))
	srCfg := []*Node{enumLeaf("mode", srv6Modes...), leaf("interface", String)}
	segCfg := []*Node{rangeLeaf("index", Uint8, 0, MaxSegments-1), sidLeaf("sid")}
	nh.add(mod("twinflow-srv6", cont("srv6",
		cont("config", copyLeaves(srCfg...)...),
		cont("state", copyLeaves(srCfg...)...),
		cont("segments", list("segment", []string{"index"},
			rangeLeaf("index", Uint8, 0, MaxSegments-1),
			cont("config", copyLeaves(segCfg...)...),
			cont("state", copyLeaves(segCfg...)...),
		)),
	)))
}

func sidLeaf(name string) *Node { return leaf(name, IPv6) }

// parseIPv6 parses an IPv6 leaf value.
func parseIPv6(s string) (Value, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() || a.Is4In6() {
		return Value{}, fmt.Errorf("%q is not an IPv6 address", s)
	}
	return Str(a.String()), nil
}
