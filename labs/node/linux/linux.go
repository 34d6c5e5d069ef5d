// Package linux is twinflow-node's netlink dataplane: it applies configuration to the
// network namespace the node runs in (addresses, link state, MTU, static routes) and
// reads counters from the kernel. These kernels have no VRF device, so a non-default
// network instance becomes its own routing table plus `ip rule`s: one "iif <port>"
// rule per member port and one "from <address>" rule per member address, all at
// priorities [RulePriority, RulePriority+999], and its ports' connected routes are
// copied into the table. Routes TwinFlow installs carry protocol RouteProtocol so
// reconciliation never touches other routes.
package linux

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/twinflow/twinflow/labs/node/dataplane"
)

// Routing constants.
const (
	// RouteProtocol marks routes installed by twinflow-node (rtnetlink protocol number).
	RouteProtocol = 188
	// FirstTable is the first routing table used for non-default network instances.
	FirstTable = 1000
	// RulePriority is the first ip rule priority used for network instances.
	RulePriority = 1000
	mainTable    = unix.RT_TABLE_MAIN
)

// ErrNoPort is returned when a configured port does not exist in the namespace.
var ErrNoPort = errors.New("linux: no such link")

// Options configure the dataplane.
type Options struct {
	// Ports restricts the managed links; empty means every link but lo.
	Ports []string
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
}

// Dataplane programs the current network namespace through netlink.
type Dataplane struct {
	h     *netlink.Handle
	log   *slog.Logger
	ports []string

	mu     sync.Mutex // guards tables and serialises Apply
	tables map[string]int
}

var _ dataplane.Dataplane = (*Dataplane)(nil)

// New opens a netlink handle on the current network namespace.
func New(_ context.Context, o Options) (*Dataplane, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("linux: netlink handle: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Dataplane{h: h, log: log, tables: map[string]int{}}
	if len(o.Ports) > 0 {
		for _, p := range o.Ports {
			if _, err := h.LinkByName(p); err != nil {
				h.Close()
				return nil, fmt.Errorf("%w %q: %v", ErrNoPort, p, err)
			}
		}
		d.ports = append([]string(nil), o.Ports...)
	} else {
		links, err := h.LinkList()
		if err != nil {
			h.Close()
			return nil, fmt.Errorf("linux: list links: %w", err)
		}
		for _, l := range links {
			// links the node created (VXLAN, bridges) are configuration, not ports
			if l.Attrs().Name != "lo" && l.Attrs().Alias != OwnedAlias {
				d.ports = append(d.ports, l.Attrs().Name)
			}
		}
		sort.Strings(d.ports)
	}
	return d, nil
}

// Ports implements dataplane.Dataplane.
func (d *Dataplane) Ports(context.Context) ([]dataplane.Port, error) {
	out := make([]dataplane.Port, 0, len(d.ports))
	for _, p := range d.ports {
		l, err := d.h.LinkByName(p)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %v", ErrNoPort, p, err)
		}
		port := dataplane.Port{Name: p, MTU: uint16(l.Attrs().MTU)}
		addrs, err := d.h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return nil, fmt.Errorf("linux: addresses of %q: %w", p, err)
		}
		for _, a := range addrs {
			if pfx, ok := toPrefix(a.IPNet); ok {
				port.Addresses = append(port.Addresses, pfx)
			}
		}
		out = append(out, port)
	}
	return out, nil
}

func (d *Dataplane) tableOf(ni string) int {
	if ni == "" || ni == dataplane.DefaultInstance {
		return mainTable
	}
	if t, ok := d.tables[ni]; ok {
		return t
	}
	used := map[int]bool{}
	for _, t := range d.tables {
		used[t] = true
	}
	t := FirstTable
	for used[t] {
		t++
	}
	d.tables[ni] = t
	return t
}

// Apply implements dataplane.Dataplane: it reconciles links, addresses, rules and routes.
func (d *Dataplane) Apply(_ context.Context, cfg dataplane.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for n, ifc := range cfg.Interfaces {
		if !d.managed(n) && ifc.VXLAN == nil {
			return fmt.Errorf("%w: %w %q", dataplane.ErrInvalid, ErrNoPort, n)
		}
	}
	links := map[string]netlink.Link{}
	for _, p := range d.ports {
		l, err := d.h.LinkByName(p)
		if err != nil {
			return fmt.Errorf("%w: link %q: %v", dataplane.ErrApply, p, err)
		}
		links[p] = l
	}
	// VXLAN links, bridges and their members (services.go).
	if err := d.applyVirtual(cfg, links); err != nil {
		return err
	}
	// Links and addresses (of ports and of the node's VXLAN links).
	for _, p := range append(slices.Clone(d.ports), vxlanNames(cfg)...) {
		l := links[p]
		ifc, ok := cfg.Interfaces[p]
		if !ok {
			continue
		}
		if ifc.MTU != 0 && int(ifc.MTU) != l.Attrs().MTU {
			if err := d.h.LinkSetMTU(l, int(ifc.MTU)); err != nil {
				return fmt.Errorf("%w: %s mtu %d: %v", dataplane.ErrApply, p, ifc.MTU, err)
			}
		}
		up := l.Attrs().Flags&net.FlagUp != 0
		if ifc.Enabled && !up {
			if err := d.h.LinkSetUp(l); err != nil {
				return fmt.Errorf("%w: %s up: %v", dataplane.ErrApply, p, err)
			}
		} else if !ifc.Enabled && up {
			if err := d.h.LinkSetDown(l); err != nil {
				return fmt.Errorf("%w: %s down: %v", dataplane.ErrApply, p, err)
			}
		}
		have, err := d.h.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return fmt.Errorf("%w: %s addresses: %v", dataplane.ErrApply, p, err)
		}
		want := map[netip.Prefix]bool{}
		for _, a := range ifc.Addresses {
			want[a] = true
		}
		for _, a := range have {
			pfx, ok := toPrefix(a.IPNet)
			if ok && want[pfx] {
				delete(want, pfx)
				continue
			}
			if ok && pfx.Addr().IsLoopback() {
				continue // never remove 127/8 host addresses: local services depend on them
			}
			if err := d.h.AddrDel(l, &a); err != nil {
				return fmt.Errorf("%w: %s del %s: %v", dataplane.ErrApply, p, a.IPNet, err)
			}
		}
		for _, a := range sortedPrefixes(want) {
			if err := d.h.AddrAdd(l, &netlink.Addr{IPNet: toIPNet(a)}); err != nil {
				return fmt.Errorf("%w: %s add %s: %v", dataplane.ErrApply, p, a, err)
			}
		}
	}
	// Rules and routes per instance.
	type rule struct {
		iif   string
		src   netip.Prefix
		table int
	}
	var wantRules []rule
	wantRoutes := map[int][]netlink.Route{}
	names := make([]string, 0, len(cfg.Instances))
	for n := range cfg.Instances {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ni := cfg.Instances[n]
		if ni.Type == dataplane.InstanceL2VSI {
			continue // a bridge: no routing table
		}
		t := d.tableOf(n)
		if t != mainTable {
			for _, ifn := range ni.Interfaces {
				wantRules = append(wantRules, rule{iif: ifn, table: t})
				for _, a := range cfg.Interfaces[ifn].Addresses {
					wantRules = append(wantRules, rule{src: netip.PrefixFrom(a.Addr(), 32), table: t})
					wantRoutes[t] = append(wantRoutes[t], netlink.Route{
						LinkIndex: links[ifn].Attrs().Index, Dst: toIPNet(a.Masked()), Table: t,
						Scope: netlink.SCOPE_LINK, Src: a.Addr().AsSlice(), Protocol: RouteProtocol,
					})
				}
			}
		}
		for _, r := range ni.Routes {
			rt := netlink.Route{Dst: toIPNet(r.Prefix), Table: t, Protocol: RouteProtocol, Priority: int(r.Metric)}
			if r.SRv6 != nil {
				if err := srv6Route(&rt, r.SRv6, links); err != nil {
					return err
				}
			} else {
				hops := make([]*netlink.NexthopInfo, len(r.NextHops))
				for i, nh := range r.NextHops {
					hops[i] = &netlink.NexthopInfo{Gw: nh.AsSlice()}
					if i < len(r.NextHopInterfaces) && r.NextHopInterfaces[i] != "" {
						// interface-bound: on link through it (docs/services.md)
						l, ok := links[r.NextHopInterfaces[i]]
						if !ok {
							return fmt.Errorf("%w: route %s: next hop through %q: not a link of this node", dataplane.ErrInvalid, r.Prefix, r.NextHopInterfaces[i])
						}
						hops[i].LinkIndex, hops[i].Flags = l.Attrs().Index, int(netlink.FLAG_ONLINK)
					}
				}
				if len(hops) == 1 {
					rt.Gw, rt.LinkIndex, rt.Flags = hops[0].Gw, hops[0].LinkIndex, hops[0].Flags
				} else {
					rt.MultiPath = hops
				}
			}
			wantRoutes[t] = append(wantRoutes[t], rt)
		}
	}
	// Rules: remove ours that are not wanted, add missing.
	rules, err := d.h.RuleList(netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("%w: list rules: %v", dataplane.ErrApply, err)
	}
	key := func(r rule) string { return fmt.Sprintf("%s|%s|%d", r.iif, r.src, r.table) }
	want := map[string]rule{}
	for _, r := range wantRules {
		want[key(r)] = r
	}
	for _, r := range rules {
		if r.Priority < RulePriority || r.Priority >= RulePriority+1000 {
			continue
		}
		var src netip.Prefix
		if r.Src != nil {
			src, _ = toPrefix(r.Src)
		}
		k := key(rule{iif: r.IifName, src: src, table: r.Table})
		if _, ok := want[k]; ok {
			delete(want, k)
			continue
		}
		rr := r
		if err := d.h.RuleDel(&rr); err != nil {
			return fmt.Errorf("%w: del rule: %v", dataplane.ErrApply, err)
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		r := want[k]
		nr := netlink.NewRule()
		nr.Family = netlink.FAMILY_V4
		nr.Table = r.table
		nr.Priority = RulePriority + i
		if r.iif != "" {
			nr.IifName = r.iif
		} else {
			nr.Src = toIPNet(r.src)
		}
		if err := d.h.RuleAdd(nr); err != nil {
			return fmt.Errorf("%w: add rule %s: %v", dataplane.ErrApply, k, err)
		}
	}
	// Routes: per table we own, delete our routes not wanted, replace wanted ones.
	tables := map[int]bool{mainTable: true}
	for _, t := range d.tables {
		tables[t] = true
	}
	for t := range tables {
		have, err := d.h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: t, Protocol: RouteProtocol}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			return fmt.Errorf("%w: list routes of table %d: %v", dataplane.ErrApply, t, err)
		}
		wanted := map[string]bool{}
		for _, r := range wantRoutes[t] {
			wanted[r.Dst.String()] = true
		}
		for _, r := range have {
			if r.Dst != nil && wanted[r.Dst.String()] {
				continue
			}
			rr := r
			if err := d.h.RouteDel(&rr); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("%w: del route %v: %v", dataplane.ErrApply, r.Dst, err)
			}
		}
		for _, r := range wantRoutes[t] {
			rr := r
			if err := d.h.RouteReplace(&rr); err != nil {
				if rr.Encap != nil && errors.Is(err, unix.EOPNOTSUPP) {
					return fmt.Errorf("%w: route %s: %s", dataplane.ErrInvalid, r.Dst, NoSeg6Message)
				}
				return fmt.Errorf("%w: route %s table %d: %v", dataplane.ErrApply, r.Dst, t, err)
			}
		}
	}
	d.log.Debug("applied", "interfaces", len(cfg.Interfaces), "instances", len(cfg.Instances))
	return nil
}

func (d *Dataplane) managed(n string) bool {
	for _, p := range d.ports {
		if p == n {
			return true
		}
	}
	return false
}

// State implements dataplane.Dataplane with the kernel's link state and counters.
func (d *Dataplane) State(_ context.Context, st map[string]dataplane.PortState) error {
	for _, p := range d.ports {
		l, err := d.h.LinkByName(p)
		if err != nil {
			st[p] = dataplane.PortState{}
			continue
		}
		a := l.Attrs()
		admin := a.Flags&net.FlagUp != 0
		oper := a.OperState == netlink.OperUp || (a.OperState == netlink.OperUnknown && admin && a.RawFlags&unix.IFF_RUNNING != 0)
		ps := dataplane.PortState{AdminUp: admin, OperUp: oper}
		if s := a.Statistics; s != nil {
			ps.Counters = dataplane.Counters{
				InOctets: s.RxBytes, OutOctets: s.TxBytes, InPkts: s.RxPackets, OutPkts: s.TxPackets,
				InErrors: s.RxErrors, OutErrors: s.TxErrors, InDiscards: s.RxDropped, OutDiscards: s.TxDropped,
			}
		}
		st[p] = ps
	}
	return nil
}

// Close implements dataplane.Dataplane.
func (d *Dataplane) Close() error {
	d.h.Close()
	return nil
}

func toPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func toIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func sortedPrefixes(m map[netip.Prefix]bool) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
