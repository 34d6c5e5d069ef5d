package linux

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/twinflow/twinflow/labs/node/dataplane"
)

// Service additions (issue #15): VXLAN interfaces and L2VSI bridges are links the
// dataplane creates in its namespace, marked with the alias OwnedAlias so that
// reconciliation removes only its own; an L2VSI instance is a bridge named after the
// instance whose members are its interfaces; an SRv6 next hop is a seg6 lwtunnel
// encapsulation on the route.

// OwnedAlias marks the links twinflow-node created.
const OwnedAlias = "twinflow-node"

// NoSeg6Message is the error text when the kernel has no seg6 lwtunnel
// (CONFIG_IPV6_SEG6_LWTUNNEL off: the Set is refused and nothing changes).
const NoSeg6Message = "this kernel cannot encapsulate into SRv6 (no seg6 lwtunnel: CONFIG_IPV6_SEG6_LWTUNNEL is off)"

// applyVirtual reconciles VXLAN links, bridges and bridge membership with cfg. links
// holds the managed ports by name; created links are added to it.
func (d *Dataplane) applyVirtual(cfg dataplane.Config, links map[string]netlink.Link) error {
	all, err := d.h.LinkList()
	if err != nil {
		return fmt.Errorf("%w: list links: %v", dataplane.ErrApply, err)
	}
	owned := map[string]netlink.Link{}
	for _, l := range all {
		if l.Attrs().Alias == OwnedAlias {
			owned[l.Attrs().Name] = l
		}
	}
	wantVX := map[string]*dataplane.VXLAN{}
	for n, ifc := range cfg.Interfaces {
		if ifc.VXLAN != nil {
			wantVX[n] = ifc.VXLAN
		}
	}
	wantBr := map[string][]string{}
	for n, ni := range cfg.Instances {
		if ni.Type == dataplane.InstanceL2VSI {
			wantBr[n] = ni.Interfaces
		}
	}
	// Remove owned links not wanted, or VXLAN links whose parameters changed.
	for _, n := range sortedKeys(owned) {
		l := owned[n]
		keep := false
		if vx, ok := wantVX[n]; ok {
			cur, isVX := l.(*netlink.Vxlan)
			keep = isVX && sameVXLAN(cur, vx, underlayIndex(vx, links))
		} else if _, ok := wantBr[n]; ok {
			_, keep = l.(*netlink.Bridge)
		}
		if keep {
			links[n] = l
			continue
		}
		if err := d.h.LinkDel(l); err != nil {
			return fmt.Errorf("%w: delete %s: %v", dataplane.ErrApply, n, err)
		}
		delete(owned, n)
	}
	for _, n := range sortedKeys(wantBr) {
		if _, ok := owned[n]; ok {
			continue
		}
		if err := d.addOwned(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: n}}, links); err != nil {
			return err
		}
	}
	for _, n := range sortedKeys(wantVX) {
		if _, ok := owned[n]; ok {
			continue
		}
		vx := wantVX[n]
		port := int(vx.Port)
		if port == 0 {
			port = dataplane.DefaultVXLANPort
		}
		if vx.Underlay != "" && links[vx.Underlay] == nil {
			return fmt.Errorf("%w: VXLAN interface %s: underlay interface %q is not a port of this node", dataplane.ErrInvalid, n, vx.Underlay)
		}
		l := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: n}, VxlanId: int(vx.VNI),
			SrcAddr: vx.Local.AsSlice(), Group: vx.Remote.AsSlice(), Port: port, Learning: !vx.NoLearning,
			VtepDevIndex: underlayIndex(vx, links)}
		if err := d.addOwned(l, links); err != nil {
			return err
		}
	}
	// Admin state of virtual links.
	for _, n := range append(sortedKeys(wantBr), sortedKeys(wantVX)...) {
		up := true
		if ifc, ok := cfg.Interfaces[n]; ok {
			up = ifc.Enabled
		}
		l := links[n]
		if up {
			err = d.h.LinkSetUp(l)
		} else {
			err = d.h.LinkSetDown(l)
		}
		if err != nil {
			return fmt.Errorf("%w: %s admin state: %v", dataplane.ErrApply, n, err)
		}
	}
	// Membership: each member under its bridge; links under one of our bridges that
	// should not be are released.
	master := map[string]string{}
	for br, members := range wantBr {
		for _, m := range members {
			master[m] = br
		}
	}
	brIdx := map[int]string{}
	for br := range wantBr {
		brIdx[links[br].Attrs().Index] = br
	}
	for _, n := range sortedKeys(links) {
		l, err := d.h.LinkByName(n)
		if err != nil {
			return fmt.Errorf("%w: link %s: %v", dataplane.ErrApply, n, err)
		}
		want, cur := master[n], brIdx[l.Attrs().MasterIndex]
		switch {
		case want != "" && l.Attrs().MasterIndex != links[want].Attrs().Index:
			if err := d.h.LinkSetMaster(l, links[want]); err != nil {
				return fmt.Errorf("%w: %s into bridge %s: %v", dataplane.ErrApply, n, want, err)
			}
		case want == "" && cur != "":
			if err := d.h.LinkSetNoMaster(l); err != nil {
				return fmt.Errorf("%w: %s out of bridge %s: %v", dataplane.ErrApply, n, cur, err)
			}
		}
	}
	// Bridge port flags of the tunnels in a bridge: learning off, split horizon
	// (isolated). Set every time: idempotent, and a tunnel re-enslaved above starts
	// with the bridge's defaults.
	for _, n := range sortedKeys(wantVX) {
		vx := wantVX[n]
		if master[n] == "" {
			continue
		}
		if err := d.h.LinkSetLearning(links[n], !vx.NoLearning); err != nil {
			return fmt.Errorf("%w: %s bridge port learning: %v", dataplane.ErrApply, n, err)
		}
		if err := d.h.LinkSetIsolated(links[n], vx.SplitHorizon); err != nil {
			return fmt.Errorf("%w: %s bridge port split horizon (isolated): %v", dataplane.ErrApply, n, err)
		}
	}
	return nil
}

// underlayIndex is the ifindex of vx's underlay interface (0: none).
func underlayIndex(vx *dataplane.VXLAN, links map[string]netlink.Link) int {
	if l := links[vx.Underlay]; vx.Underlay != "" && l != nil {
		return l.Attrs().Index
	}
	return 0
}

func (d *Dataplane) addOwned(l netlink.Link, links map[string]netlink.Link) error {
	n := l.Attrs().Name
	if err := d.h.LinkAdd(l); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%w: %s exists and was not created by twinflow-node", dataplane.ErrInvalid, n)
		}
		return fmt.Errorf("%w: add %s: %v", dataplane.ErrApply, n, err)
	}
	nl, err := d.h.LinkByName(n)
	if err != nil {
		return fmt.Errorf("%w: link %s: %v", dataplane.ErrApply, n, err)
	}
	if err := d.h.LinkSetAlias(nl, OwnedAlias); err != nil {
		_ = d.h.LinkDel(nl)
		return fmt.Errorf("%w: alias %s: %v", dataplane.ErrApply, n, err)
	}
	links[n] = nl
	return nil
}

func sameVXLAN(l *netlink.Vxlan, vx *dataplane.VXLAN, underlay int) bool {
	port := int(vx.Port)
	if port == 0 {
		port = dataplane.DefaultVXLANPort
	}
	return l.VxlanId == int(vx.VNI) && l.Port == port && l.SrcAddr.Equal(vx.Local.AsSlice()) && l.Group.Equal(vx.Remote.AsSlice()) &&
		l.VtepDevIndex == underlay && l.Learning == !vx.NoLearning
}

// srv6Route sets rt's seg6 encapsulation from an SRv6 next hop.
func srv6Route(rt *netlink.Route, sr *dataplane.SRv6, links map[string]netlink.Link) error {
	l, ok := links[sr.Interface]
	if !ok {
		return fmt.Errorf("%w: SRv6 next hop through %q: not a link of this node", dataplane.ErrInvalid, sr.Interface)
	}
	mode := nl.SEG6_IPTUN_MODE_ENCAP
	if sr.Mode == "INLINE" {
		mode = nl.SEG6_IPTUN_MODE_INLINE
	}
	// the SRH lists segments last first (segments left counts down to index 0)
	segs := make([]net.IP, 0, len(sr.Segments))
	for _, s := range slices.Backward(sr.Segments) {
		segs = append(segs, s.AsSlice())
	}
	rt.Encap = &netlink.SEG6Encap{Mode: mode, Segments: segs}
	rt.LinkIndex = l.Attrs().Index
	return nil
}

// vxlanNames lists cfg's VXLAN interfaces, sorted.
func vxlanNames(cfg dataplane.Config) []string {
	var out []string
	for n, ifc := range cfg.Interfaces {
		if ifc.VXLAN != nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
