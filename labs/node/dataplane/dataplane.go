// Package dataplane defines what twinflow-node's gNMI server needs from a forwarding
// plane (the in-memory `sim` and the netlink-based `linux` implementations), and the
// typed configuration the server derives from its config tree.
package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/twinflow/twinflow/models/ocpath"
	"github.com/twinflow/twinflow/models/schema"
)

// ErrInvalid is wrapped by configuration the dataplane cannot accept (unknown port,
// inconsistent references). The server answers InvalidArgument.
var ErrInvalid = errors.New("dataplane: invalid configuration")

// ErrApply is wrapped by failures to program the dataplane. The server rolls back.
var ErrApply = errors.New("dataplane: apply failed")

// DefaultInstance is the name of the default network instance.
const DefaultInstance = "DEFAULT"

// Config is the complete desired configuration of a node.
type Config struct {
	Hostname   string
	Interfaces map[string]Interface
	Instances  map[string]Instance
}

// Interface is the desired state of one port.
type Interface struct {
	Name        string
	Enabled     bool
	MTU         uint16 // 0: leave as is
	Description string
	// Addresses are the IPv4 addresses of all its subinterfaces (no VLANs here).
	Addresses []netip.Prefix
	// VXLAN, if set, makes this a VXLAN interface the dataplane creates (services.go).
	VXLAN *VXLAN
}

// Instance is a network instance (VRF): its own routing table.
type Instance struct {
	Name       string
	Type       string // DEFAULT_INSTANCE, L3VRF or L2VSI (a bridge of its interfaces)
	Interfaces []string
	Routes     []Route
	// RD is the route distinguisher (kept; no BGP runs on the node).
	RD string
}

// Route is a static route with one or more (ECMP) next hops.
type Route struct {
	Prefix   netip.Prefix
	NextHops []netip.Addr
	// NextHopInterfaces, if set, has one entry per next hop: the interface it is
	// on link through (interface-ref), or "" for a next hop resolved by its address.
	NextHopInterfaces []string
	Metric            uint32
	// SRv6, if set, is the route's only next hop: SRv6 encapsulation (services.go).
	SRv6 *SRv6
}

// Port is a physical port the dataplane offers.
type Port struct {
	Name string
	MTU  uint16
	// Addresses are IPv4 addresses the port already has (imported into the initial
	// configuration so that starting a node does not remove them).
	Addresses []netip.Prefix
}

// Counters are interface counters.
type Counters struct {
	InOctets, OutOctets, InPkts, OutPkts         uint64
	InErrors, OutErrors, InDiscards, OutDiscards uint64
}

// PortState is the operational state of a port.
type PortState struct {
	AdminUp  bool
	OperUp   bool
	Counters Counters
}

// Dataplane programs and observes a node's forwarding plane. Methods may be called
// concurrently.
type Dataplane interface {
	// Ports lists the ports (interfaces) the node has.
	Ports(ctx context.Context) ([]Port, error)
	// Apply reconciles the dataplane to cfg (the full desired configuration). On error
	// the dataplane may be partly changed; the caller re-applies the previous Config.
	Apply(ctx context.Context, cfg Config) error
	// State fills st with the state of every port (st is reused between calls).
	State(ctx context.Context, st map[string]PortState) error
	// Close releases resources.
	Close() error
}

// FromTree derives the typed configuration from a config tree and checks references:
// interfaces must be ports, instance interfaces must be configured interfaces and in
// at most one instance, next hops must be set, addresses must not overlap.
func FromTree(t *schema.Tree, ports []Port) (Config, error) {
	cfg := Config{Interfaces: map[string]Interface{}, Instances: map[string]Instance{}}
	known := map[string]bool{}
	for _, p := range ports {
		known[p.Name] = true
	}
	type rkey struct{ ni, prefix string }
	routes := map[rkey]*Route{}
	var routeOrder []rkey
	nhSet := map[string]bool{}
	type ipHop struct {
		rk    rkey
		addr  netip.Addr
		iface string
	}
	ipHops := map[string]*ipHop{}
	var ipOrder []string
	ipHop1 := func(nhKey string, k rkey) *ipHop {
		h := ipHops[nhKey]
		if h == nil {
			h = &ipHop{rk: k}
			ipHops[nhKey] = h
			ipOrder = append(ipOrder, nhKey)
		}
		return h
	}
	addrSet := map[string]bool{}
	virtual := virtualInterfaces(t)
	type srHop struct {
		rk   rkey
		sr   *SRv6
		segs map[uint64]netip.Addr
	}
	srHops := map[string]*srHop{}
	var srOrder []string
	for _, e := range t.Leaves() {
		p := e.Path
		switch p[0].Name {
		case "system":
			if e.Node.Name == "hostname" {
				cfg.Hostname = e.Value.S
			}
		case "interfaces":
			name := p[1].Key["name"]
			if !known[name] && !virtual[name] {
				return Config{}, fmt.Errorf("%w: %s: no port %q on this node", ErrInvalid, p, name)
			}
			ifc, ok := cfg.Interfaces[name]
			if !ok {
				ifc = Interface{Name: name, Enabled: true}
			}
			switch {
			case len(p) >= 3 && p[2].Name == "vxlan":
				vxlanLeaf(&ifc, p, e.Value)
			case len(p) == 4 && p[2].Name == "config":
				switch p[3].Name {
				case "enabled":
					ifc.Enabled = e.Value.B
				case "mtu":
					ifc.MTU = uint16(e.Value.U)
				case "description":
					ifc.Description = e.Value.S
				}
			case len(p) == 9 && p[8].Name == "prefix-length":
				a, _ := netip.ParseAddr(p[6].Key["ip"])
				pfx := netip.PrefixFrom(a, int(e.Value.U))
				ifc.Addresses = append(ifc.Addresses, pfx)
				addrSet[ocpath.Path(p[:7]).String()] = true
			case len(p) == 9 && p[8].Name == "ip":
				k := ocpath.Path(p[:7]).String()
				if !addrSet[k] {
					addrSet[k] = false
				}
			}
			cfg.Interfaces[name] = ifc
		case "network-instances":
			niName := p[1].Key["name"]
			ni, ok := cfg.Instances[niName]
			if !ok {
				ni = Instance{Name: niName}
			}
			switch {
			case len(p) == 4 && p[2].Name == "config" && p[3].Name == "type":
				ni.Type = e.Value.S
			case len(p) == 4 && p[2].Name == "config" && p[3].Name == "route-distinguisher":
				ni.RD = e.Value.S
			case len(p) == 6 && p[2].Name == "interfaces" && p[5].Name == "interface":
				ni.Interfaces = append(ni.Interfaces, e.Value.S)
			case len(p) >= 7 && p[4].Name == "static-routes":
				if p[3].Key["identifier"] != "STATIC" {
					return Config{}, fmt.Errorf("%w: %s: static routes belong to a STATIC protocol", ErrInvalid, p)
				}
				pfx, _ := netip.ParsePrefix(p[5].Key["prefix"])
				k := rkey{niName, pfx.String()}
				r := routes[k]
				if r == nil {
					r = &Route{Prefix: pfx}
					routes[k] = r
					routeOrder = append(routeOrder, k)
				}
				if len(p) >= 10 && p[8].Name == "srv6" {
					nhKey := ocpath.Path(p[:8]).String()
					h := srHops[nhKey]
					if h == nil {
						h = &srHop{rk: k, sr: &SRv6{}, segs: map[uint64]netip.Addr{}}
						srHops[nhKey] = h
						srOrder = append(srOrder, nhKey)
					}
					srv6Leaf(h.sr, h.segs, p[8:], e.Value)
					nhSet[nhKey] = true
				}
				if len(p) == 11 && p[8].Name == "interface-ref" && p[9].Name == "config" && p[10].Name == "interface" {
					nhKey := ocpath.Path(p[:8]).String()
					ipHop1(nhKey, k).iface = e.Value.S
					if !nhSet[nhKey] {
						nhSet[nhKey] = false
					}
				}
				if len(p) == 10 && p[8].Name == "config" {
					nhKey := ocpath.Path(p[:8]).String()
					switch p[9].Name {
					case "next-hop":
						ipHop1(nhKey, k).addr, _ = netip.ParseAddr(e.Value.S)
						nhSet[nhKey] = true
					case "metric":
						r.Metric = uint32(e.Value.U)
					case "index":
						if !nhSet[nhKey] {
							nhSet[nhKey] = false
						}
					}
				}
			}
			cfg.Instances[niName] = ni
		}
	}
	for _, nhKey := range ipOrder {
		h := ipHops[nhKey]
		if !h.addr.IsValid() {
			continue // reported below: no config/next-hop
		}
		if h.iface != "" {
			ifc, ok := cfg.Interfaces[h.iface]
			if !ok && !known[h.iface] {
				return Config{}, fmt.Errorf("%w: %s: next hop on link through %q: neither a port nor a configured interface", ErrInvalid, nhKey, h.iface)
			}
			if ifc.VXLAN != nil {
				return Config{}, fmt.Errorf("%w: %s: next hop on link through VXLAN interface %q (a tunnel carries frames to a bridge, not routed next hops)", ErrInvalid, nhKey, h.iface)
			}
		}
		r := routes[h.rk]
		r.NextHops = append(r.NextHops, h.addr)
		r.NextHopInterfaces = append(r.NextHopInterfaces, h.iface)
	}
	for _, nhKey := range srOrder {
		h := srHops[nhKey]
		if err := finishSRv6(nhKey, h.sr, h.segs, &cfg); err != nil {
			return Config{}, err
		}
		r := routes[h.rk]
		if r.SRv6 != nil {
			return Config{}, fmt.Errorf("%w: static route %s in %s has more than one SRv6 next hop", ErrInvalid, h.rk.prefix, h.rk.ni)
		}
		r.SRv6 = h.sr
	}
	for k, set := range nhSet {
		if !set {
			return Config{}, fmt.Errorf("%w: %s: next hop has no config/next-hop", ErrInvalid, k)
		}
	}
	for k, set := range addrSet {
		if !set {
			return Config{}, fmt.Errorf("%w: %s: address has no config/prefix-length", ErrInvalid, k)
		}
	}
	for _, k := range routeOrder {
		r := routes[k]
		if len(r.NextHops) == 0 && r.SRv6 == nil {
			return Config{}, fmt.Errorf("%w: static route %s in %s has no next hop", ErrInvalid, k.prefix, k.ni)
		}
		if len(r.NextHops) > 0 && r.SRv6 != nil {
			return Config{}, fmt.Errorf("%w: static route %s in %s mixes IP and SRv6 next hops", ErrInvalid, k.prefix, k.ni)
		}
		if !slices.ContainsFunc(r.NextHopInterfaces, func(s string) bool { return s != "" }) {
			r.NextHopInterfaces = nil // none bound: as before
		}
		ni := cfg.Instances[k.ni]
		ni.Routes = append(ni.Routes, *r)
		cfg.Instances[k.ni] = ni
	}
	// Instance checks.
	owner := map[string]string{}
	names := make([]string, 0, len(cfg.Instances))
	for n := range cfg.Instances {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ni := cfg.Instances[n]
		if ni.Type == "" {
			ni.Type = "L3VRF"
			if n == DefaultInstance {
				ni.Type = "DEFAULT_INSTANCE"
			}
			cfg.Instances[n] = ni
		}
		if (n == DefaultInstance) != (ni.Type == "DEFAULT_INSTANCE") {
			return Config{}, fmt.Errorf("%w: network instance %q: only %q may be DEFAULT_INSTANCE (type %s)", ErrInvalid, n, DefaultInstance, ni.Type)
		}
		for _, ifn := range ni.Interfaces {
			if _, ok := cfg.Interfaces[ifn]; !ok {
				return Config{}, fmt.Errorf("%w: network instance %q references unconfigured interface %q", ErrInvalid, n, ifn)
			}
			if n == DefaultInstance {
				continue
			}
			if o, dup := owner[ifn]; dup {
				return Config{}, fmt.Errorf("%w: interface %q is in network instances %q and %q", ErrInvalid, ifn, o, n)
			}
			owner[ifn] = n
		}
	}
	if err := checkServices(&cfg, known); err != nil {
		return Config{}, err
	}
	// Overlapping addresses across interfaces are refused.
	var all []struct {
		ifn string
		p   netip.Prefix
	}
	for _, ifc := range cfg.Interfaces {
		for _, a := range ifc.Addresses {
			all = append(all, struct {
				ifn string
				p   netip.Prefix
			}{ifc.Name, a})
		}
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[i].p.Addr() == all[j].p.Addr() {
				return Config{}, fmt.Errorf("%w: address %s on both %s and %s", ErrInvalid, all[i].p.Addr(), all[i].ifn, all[j].ifn)
			}
		}
	}
	return cfg, nil
}

// InstanceOf returns the non-default instance an interface belongs to, or "".
func (c Config) InstanceOf(ifn string) string {
	for n, ni := range c.Instances {
		if n == DefaultInstance {
			continue
		}
		for _, i := range ni.Interfaces {
			if i == ifn {
				return n
			}
		}
	}
	return ""
}
