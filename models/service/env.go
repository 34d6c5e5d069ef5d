package service

import (
	"net/netip"
	"sort"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// Device labels read by NewEnv.
const (
	// LabelUnderlay overrides a device's underlay (tunnel source) IPv4 address.
	LabelUnderlay = "twinflow.underlay"
	// LabelSID is a device's SRv6 node SID (an IPv6 address).
	LabelSID = "twinflow.srv6-sid"
	// loopback is the interface whose first IPv4 address is the underlay address.
	loopback = "lo"
)

// NewEnv builds a compile environment from a network (devices and links), its routing
// graph (nil: built here) and the devices' intended configuration trees. Links that are
// down (disabled, unreachable or without capacity) are excluded from every path. A
// device's underlay address is its
// LabelUnderlay label, else the lowest IPv4 address configured on its interface "lo";
// its SID is its LabelSID label. Devices without either are left out (compiling a
// service on them then fails naming the device).
func NewEnv(n *network.Network, g *routing.Graph, configs map[string]change.Tree) (*Env, error) {
	if g == nil {
		var err error
		if g, err = routing.NewGraph(n); err != nil {
			return nil, err
		}
	}
	env := &Env{Network: n, Graph: g, Underlay: map[string]netip.Addr{}, SIDs: map[string]netip.Addr{}, DownLinks: map[string]bool{}}
	for _, l := range n.Links {
		if l.CapacityGbps <= 0 || l.OperStatus == network.StatusDisabled || l.OperStatus == network.StatusUnreachable {
			env.DownLinks[l.ID] = true
		}
	}
	for _, d := range n.Devices {
		if a, err := netip.ParseAddr(d.Labels[LabelUnderlay]); err == nil && a.Is4() {
			env.Underlay[d.ID] = a
		} else if a, ok := loopbackAddr(configs[d.ID]); ok {
			env.Underlay[d.ID] = a
		}
		if a, err := netip.ParseAddr(d.Labels[LabelSID]); err == nil && a.Is6() && !a.Is4In6() {
			env.SIDs[d.ID] = a
		}
	}
	return env, nil
}

func loopbackAddr(t change.Tree) (netip.Addr, bool) {
	if t == nil {
		return netip.Addr{}, false
	}
	var addrs []netip.Addr
	ifs, _ := change.Lookup(t, change.Path{{Name: "interfaces"}, {Name: "interface", Key: map[string]string{"name": loopback}}, {Name: "subinterfaces"}})
	subs, _ := ifs.(map[string]any)
	list, _ := subs["subinterface"].([]any)
	for _, s := range list {
		sm, _ := s.(map[string]any)
		ipv4, _ := sm["ipv4"].(map[string]any)
		as, _ := ipv4["addresses"].(map[string]any)
		al, _ := as["address"].([]any)
		for _, a := range al {
			am, _ := a.(map[string]any)
			ip, _ := am["ip"].(string)
			if x, err := netip.ParseAddr(ip); err == nil && x.Is4() {
				addrs = append(addrs, x)
			}
		}
	}
	if len(addrs) == 0 {
		return netip.Addr{}, false
	}
	sort.Slice(addrs, func(i, j int) bool { return addrs[i].Less(addrs[j]) })
	return addrs[0], true
}
