package emulation

import (
	"fmt"
	"strings"
)

// HTB parameters shared by every class: an equal quantum (one full-size frame) makes the
// classes of the fq model share a link equally under deficit round robin.
const htbQuantum = 1514

// tcBatch returns the `tc -batch` lines that shape node's interfaces under the plan's
// queue model. Interfaces with rate 0 are left unshaped.
func tcBatch(p *Plan, node *PlanNode) []string {
	var lines []string
	for _, ifc := range node.Ifaces {
		if ifc.RateBps == 0 {
			continue
		}
		delay := 0.0
		if p.Netem {
			delay = ifc.DelayMs
		}
		lines = append(lines, tcIface(p.Options, ifc.Name, ifc.RateBps, delay, p.slotsVia(node.ID, ifc))...)
	}
	return lines
}

// slotsVia returns the flow slots (plan flow indexes) whose path leaves node through
// ifc.
func (p *Plan) slotsVia(node string, ifc PlanIface) map[int]bool {
	dir := ifc.Link
	if l := p.link(ifc.Link); l.B == node && l.BIf == ifc.Name {
		dir = ifc.Link + "~r"
	}
	out := map[int]bool{}
	for i, f := range p.Flows {
		if i >= p.Options.FlowSlots {
			break
		}
		for _, d := range f.Path {
			if d == dir {
				out[i] = true
			}
		}
	}
	return out
}

// tcIface shapes one interface's egress to rate bits/s.
//
//	fifo: root htb -> 1:1 (rate) -> 1:10 (rate) -> pfifo limit L
//	fq:   root htb -> 1:1 (rate) -> 1:2 default class and one class 1:(100+s) per flow
//	      slot s, each with ceil = rate, equal quantum and its own pfifo; a u32 filter
//	      sends TCP traffic to port ProbePortBase+s to class s.
//
// In the fq model the guaranteed rates are equal shares: the flows the plan routes over
// this link (crossing) get 99% of the rate split equally, every other class (the default
// class, slots of flows routed elsewhere) an equal part of the last 1%. Any class may
// borrow up to the full rate, and HTB lends unused guarantees to the busy classes in
// proportion to their (equal) quanta: per-flow fair queueing, i.e. max-min fair sharing
// of the link. Guaranteeing the equal share (rather than a tiny rate plus borrowing)
// matters for BBR, whose bandwidth probes must be served promptly to be seen.
//
// With delayMs > 0 every leaf queue is a netem qdisc (delay, same packet limit) instead
// of a pfifo: the link's propagation delay, applied after the rate shaping.
func tcIface(o Options, dev string, rate uint64, delayMs float64, crossing map[int]bool) []string {
	r := fmt.Sprintf("%dbit", rate)
	var l []string
	add := func(format string, a ...any) { l = append(l, fmt.Sprintf(format, a...)) }
	leaf := fmt.Sprintf("pfifo limit %d", o.QueueLimit)
	if delayMs > 0 {
		leaf = fmt.Sprintf("netem delay %dus limit %d", int64(delayMs*1000), o.QueueLimit)
	}
	switch o.Queue {
	case QueueFIFO:
		add("qdisc replace dev %s root handle 1: htb default 10", dev)
		add("class replace dev %s parent 1: classid 1:1 htb rate %s ceil %s quantum %d", dev, r, r, htbQuantum)
		add("class replace dev %s parent 1:1 classid 1:10 htb rate %s ceil %s quantum %d", dev, r, r, htbQuantum)
		add("qdisc replace dev %s parent 1:10 handle 10: %s", dev, leaf)
	default:
		others := o.FlowSlots - len(crossing) + 1
		reserve := rate / 100
		cross := uint64(0)
		if len(crossing) > 0 {
			cross = (rate - reserve) / uint64(len(crossing))
		} else {
			reserve = rate
		}
		other := max(reserve/uint64(others), 1000)
		cross = max(cross, 1000)
		add("qdisc replace dev %s root handle 1: htb default 2", dev)
		add("class replace dev %s parent 1: classid 1:1 htb rate %s ceil %s quantum %d", dev, r, r, htbQuantum)
		add("class replace dev %s parent 1:1 classid 1:2 htb rate %dbit ceil %s quantum %d", dev, other, r, htbQuantum)
		add("qdisc replace dev %s parent 1:2 handle 2: %s", dev, leaf)
		for slot := 0; slot < o.FlowSlots; slot++ {
			minor := 0x100 + slot
			sr := other
			if crossing[slot] {
				sr = cross
			}
			add("class replace dev %s parent 1:1 classid 1:%x htb rate %dbit ceil %s quantum %d", dev, minor, sr, r, htbQuantum)
			add("qdisc replace dev %s parent 1:%x handle %x: %s", dev, minor, minor, leaf)
			add("filter add dev %s parent 1: protocol ip prio 1 u32 match ip protocol 6 0xff match ip dport %d 0xffff flowid 1:%x", dev, ProbePortBase+slot, minor)
		}
	}
	return l
}

// ipLinkBatch returns the root-namespace `ip -batch` lines creating the lab's
// namespaces, management bridge and veths, and the data veths of links.
func ipLinkBatch(p *Plan, nodes []PlanNode, links []PlanLink, withBridge bool) []string {
	var l []string
	add := func(format string, a ...any) { l = append(l, fmt.Sprintf(format, a...)) }
	alias := aliasFor(p.Options.Label())
	if withBridge {
		add("link add name %s type bridge", p.Mgmt.Bridge)
		add("link set dev %s alias %s", p.Mgmt.Bridge, alias)
		add("addr add %s/%d dev %s", p.Mgmt.Gateway, p.Mgmt.Prefix.Bits(), p.Mgmt.Bridge)
		add("link set dev %s up", p.Mgmt.Bridge)
	}
	for _, n := range nodes {
		add("netns add %s", n.Namespace)
	}
	for _, n := range nodes {
		add("link add name %s type veth peer name mgmt0 netns %s", n.MgmtHostIf, n.Namespace)
		add("link set dev %s alias %s", n.MgmtHostIf, alias)
		add("link set dev %s master %s up", n.MgmtHostIf, p.Mgmt.Bridge)
	}
	for _, lk := range links {
		a, _ := p.Node(lk.A)
		b, _ := p.Node(lk.B)
		add("link add name %s netns %s type veth peer name %s netns %s", lk.AIf, a.Namespace, lk.BIf, b.Namespace)
	}
	return l
}

// nodeAddrBatch returns the in-namespace `ip -batch` lines bringing up the node's
// interfaces with their addresses.
//
// The first baseAddrLines(n) lines concern lo and mgmt0 only (set with ip even when an
// agent owns the data interfaces).
func nodeAddrBatch(p *Plan, n *PlanNode) []string {
	l := []string{
		"link set dev lo up",
		fmt.Sprintf("addr replace %s/32 dev lo", n.Addr),
		fmt.Sprintf("addr replace %s/%d dev mgmt0", n.MgmtAddr, p.Mgmt.Prefix.Bits()),
		"link set dev mgmt0 up",
	}
	for _, a := range n.Loopbacks {
		l = append(l, fmt.Sprintf("addr replace %s/32 dev lo", a))
	}
	for _, ifc := range n.Ifaces {
		l = append(l, fmt.Sprintf("addr replace %s dev %s", ifc.Addr, ifc.Name), fmt.Sprintf("link set dev %s up", ifc.Name))
	}
	return l
}

// baseAddrLines is the number of nodeAddrBatch lines about lo and mgmt0.
func baseAddrLines(n *PlanNode) int { return 4 + len(n.Loopbacks) }

// segmentBatch returns the in-namespace `ip -batch` lines that turn off segmentation
// offload on the node's data interfaces (gso_max_segs 1): with it, TCP hands veth
// super-packets of up to 64 KB, and a pfifo's packet limit counts those, so a "20-packet"
// buffer held up to 20 × 44 frames (measured: the same 47 ms queue on a 25 Mb/s link
// with limits of 20 and 100). A router's buffer holds wire-sized packets.
func segmentBatch(n *PlanNode) []string {
	l := make([]string, 0, len(n.Ifaces))
	for _, ifc := range n.Ifaces {
		l = append(l, fmt.Sprintf("link set dev %s gso_max_segs 1", ifc.Name))
	}
	return l
}

// nodeRouteBatch returns the in-namespace `ip -batch` lines installing the node's routes.
// Routes carry the node address as preferred source, so that traffic a node originates
// (probes, agents) comes from an address every other node has a route to, and metric
// BaseRouteMetric, so that a static route pushed through the node agent (metric 0 by
// default) takes precedence: device configs, not the lab's plumbing, decide.
func nodeRouteBatch(n *PlanNode) []string {
	l := make([]string, 0, len(n.Routes))
	for _, r := range n.Routes {
		l = append(l, fmt.Sprintf("route replace %s via %s dev %s src %s metric %d proto static", r.Dst, r.Via, r.Dev, n.Addr, BaseRouteMetric))
	}
	return l
}

// BaseRouteMetric is the metric of the routes the lab installs itself.
const BaseRouteMetric = 1000

func aliasFor(label string) string { return "twinflow-lab:" + label }

func joinLines(l []string) string { return strings.Join(l, "\n") + "\n" }
