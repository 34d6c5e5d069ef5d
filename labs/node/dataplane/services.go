package dataplane

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"

	"github.com/twinflow/twinflow/models/ocpath"
	"github.com/twinflow/twinflow/models/schema"
)

// Service additions to the typed configuration (issue #15; see schema/services.go):
// VXLAN interfaces, L2VSI instances (bridges), route distinguishers and SRv6
// encapsulating next hops.

// VXLAN is a VXLAN tunnel endpoint: a virtual interface the dataplane creates.
type VXLAN struct {
	VNI    uint32
	Local  netip.Addr
	Remote netip.Addr
	Port   uint16 // 0: 4789
	// Underlay, if set, is the port its encapsulated packets leave through: the route
	// lookup of Remote keeps to next hops through it.
	Underlay string
	// NoLearning turns MAC learning off on the tunnel and on its bridge port: frames
	// for hosts behind it are flooded into it.
	NoLearning bool
	// SplitHorizon makes it an isolated bridge port: what it receives is not
	// forwarded to other split-horizon ports of its bridge.
	SplitHorizon bool
}

// SRv6 is an SRv6 encapsulating next hop: packets to the route's prefix get an outer
// IPv6 header (ENCAP) or a segment routing header (INLINE) with Segments, travel order.
type SRv6 struct {
	Mode      string // ENCAP or INLINE
	Interface string
	Segments  []netip.Addr
}

// DefaultVXLANPort is the UDP destination port of a VXLAN interface without one.
const DefaultVXLANPort = 4789

// InstanceL2VSI is the type of a bridging network instance.
const InstanceL2VSI = "L2VSI"

// linuxName: what a virtual link (VXLAN interface, L2VSI bridge) may be called.
var linuxName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)

// virtualInterfaces returns the interfaces configured as VXLAN endpoints.
func virtualInterfaces(t *schema.Tree) map[string]bool {
	out := map[string]bool{}
	for _, e := range t.Leaves() {
		p := e.Path
		if len(p) >= 3 && p[0].Name == "interfaces" && p[2].Name == "vxlan" {
			out[p[1].Key["name"]] = true
		}
	}
	return out
}

// vxlanLeaf folds one /interfaces/interface/vxlan/config leaf into ifc.
func vxlanLeaf(ifc *Interface, p ocpath.Path, v schema.Value) {
	if len(p) != 5 || p[3].Name != "config" {
		return
	}
	if ifc.VXLAN == nil {
		ifc.VXLAN = &VXLAN{}
	}
	switch p[4].Name {
	case "vni":
		ifc.VXLAN.VNI = uint32(v.U)
	case "local-address":
		ifc.VXLAN.Local, _ = netip.ParseAddr(v.S)
	case "remote-address":
		ifc.VXLAN.Remote, _ = netip.ParseAddr(v.S)
	case "destination-port":
		ifc.VXLAN.Port = uint16(v.U)
	case "underlay-interface":
		ifc.VXLAN.Underlay = v.S
	case "learning":
		ifc.VXLAN.NoLearning = !v.B
	case "split-horizon":
		ifc.VXLAN.SplitHorizon = v.B
	}
}

// srv6Leaf folds one .../next-hop[index]/srv6/... leaf into sr (p starts at the srv6
// element); segments are collected by index in segs.
func srv6Leaf(sr *SRv6, segs map[uint64]netip.Addr, p ocpath.Path, v schema.Value) {
	switch {
	case len(p) == 3 && p[1].Name == "config" && p[2].Name == "mode":
		sr.Mode = v.S
	case len(p) == 3 && p[1].Name == "config" && p[2].Name == "interface":
		sr.Interface = v.S
	case len(p) == 5 && p[1].Name == "segments" && p[3].Name == "config" && p[4].Name == "sid":
		var idx uint64
		_, _ = fmt.Sscanf(p[2].Key["index"], "%d", &idx)
		segs[idx], _ = netip.ParseAddr(v.S)
	}
}

// finishSRv6 orders the segments and checks the next hop.
func finishSRv6(where string, sr *SRv6, segs map[uint64]netip.Addr, cfg *Config) error {
	idx := make([]uint64, 0, len(segs))
	for i := range segs {
		idx = append(idx, i)
	}
	sort.Slice(idx, func(a, b int) bool { return idx[a] < idx[b] })
	for n, i := range idx {
		if i != uint64(n) {
			return fmt.Errorf("%w: %s: SRv6 segment indices must be 0..%d without gaps", ErrInvalid, where, len(idx)-1)
		}
		sr.Segments = append(sr.Segments, segs[i])
	}
	if len(sr.Segments) == 0 {
		return fmt.Errorf("%w: %s: SRv6 next hop has no segments", ErrInvalid, where)
	}
	if sr.Mode == "" {
		sr.Mode = "ENCAP"
	}
	if sr.Interface == "" {
		return fmt.Errorf("%w: %s: SRv6 next hop has no config/interface", ErrInvalid, where)
	}
	if _, ok := cfg.Interfaces[sr.Interface]; !ok {
		return fmt.Errorf("%w: %s: SRv6 next hop leaves through unconfigured interface %q", ErrInvalid, where, sr.Interface)
	}
	return nil
}

// checkServices checks VXLAN interfaces and L2VSI instances once the configuration is
// assembled.
func checkServices(cfg *Config, ports map[string]bool) error {
	names := make([]string, 0, len(cfg.Interfaces))
	for n := range cfg.Interfaces {
		names = append(names, n)
	}
	sort.Strings(names)
	type vniPort struct {
		vni  uint32
		port uint16
	}
	vnis := map[vniPort]string{}
	for _, n := range names {
		vx := cfg.Interfaces[n].VXLAN
		if vx == nil {
			continue
		}
		if !linuxName.MatchString(n) {
			return fmt.Errorf("%w: VXLAN interface %q: a name of 1-15 letters, digits, '_', '.' or '-'", ErrInvalid, n)
		}
		if vx.VNI == 0 || !vx.Remote.IsValid() || !vx.Local.IsValid() {
			return fmt.Errorf("%w: VXLAN interface %q needs vni, local-address and remote-address", ErrInvalid, n)
		}
		port := vx.Port
		if port == 0 {
			port = DefaultVXLANPort
		}
		if o, dup := vnis[vniPort{vx.VNI, port}]; dup {
			return fmt.Errorf("%w: VXLAN interfaces %q and %q both use VNI %d on UDP port %d (the kernel refuses a second; give one another destination-port)", ErrInvalid, o, n, vx.VNI, port)
		}
		vnis[vniPort{vx.VNI, port}] = n
		if vx.Underlay != "" {
			u, ok := cfg.Interfaces[vx.Underlay]
			if !ok && !ports[vx.Underlay] {
				return fmt.Errorf("%w: VXLAN interface %q: underlay-interface %q is neither a port nor a configured interface", ErrInvalid, n, vx.Underlay)
			}
			if u.VXLAN != nil {
				return fmt.Errorf("%w: VXLAN interface %q: underlay-interface %q is itself a VXLAN interface", ErrInvalid, n, vx.Underlay)
			}
		}
	}
	for name, ni := range cfg.Instances {
		if ni.Type != InstanceL2VSI {
			continue
		}
		if !linuxName.MatchString(name) {
			return fmt.Errorf("%w: L2VSI network instance %q: its bridge needs a name of 1-15 letters, digits, '_', '.' or '-'", ErrInvalid, name)
		}
		if _, clash := cfg.Interfaces[name]; clash {
			return fmt.Errorf("%w: L2VSI network instance %q has the name of an interface", ErrInvalid, name)
		}
		if len(ni.Routes) > 0 {
			return fmt.Errorf("%w: L2VSI network instance %q: a bridge has no static routes", ErrInvalid, name)
		}
	}
	return nil
}
