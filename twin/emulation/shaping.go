package emulation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twinflow/twinflow/models/network"
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
		lines = append(lines, tcIface(p.Options, ifc.Name, ifc.RateBps, delay, p.slotsVia(node.ID, ifc), p.acksVia(node.ID, ifc))...)
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

// ackFraction bounds a TCP flow's ACK traffic relative to its data: one 66-byte ACK
// (Ethernet, IPv4, TCP with timestamps) per 1514-byte data frame. Linux acknowledges
// every second full segment, and every segment in quick-ack mode.
const ackFraction = 66.0 / 1514.0

// ackClass is the fq model's class for the ACKs crossing one interface: the flow slots
// whose data path crosses the reverse direction, and the rate their ACKs need at most.
type ackClass struct {
	Slots   []int
	RateBps uint64
}

// acksVia returns the ACK class of the link direction leaving node through ifc: the
// flow slots whose path crosses the opposite direction (their receivers' ACKs leave
// through ifc), and ackFraction of each such flow's path rate (the slowest shaped link
// of its path), the most its ACKs can need.
func (p *Plan) acksVia(node string, ifc PlanIface) ackClass {
	rev := network.DirectedLinkID(ifc.Link, true) // the direction arriving at node through ifc
	if l := p.link(ifc.Link); l.B == node && l.BIf == ifc.Name {
		rev = ifc.Link
	}
	var a ackClass
	var bps float64
	for i, f := range p.Flows {
		if i >= p.Options.FlowSlots {
			break
		}
		if !slices.Contains(f.Path, rev) {
			continue
		}
		a.Slots = append(a.Slots, i)
		path := 0.0
		for _, d := range f.Path {
			id, _ := network.ParseDirectedLinkID(d)
			r := p.link(id).CapacityGbps * 1e9 * p.Options.Scale
			if r > 0 && (path == 0 || r < path) {
				path = r
			}
		}
		bps += ackFraction * path
	}
	a.RateBps = uint64(bps)
	return a
}

// tcIface shapes one interface's egress to rate bits/s.
//
//	fifo: root htb -> 1:1 (rate) -> 1:10 (rate) -> pfifo limit L
//	fq:   root htb -> 1:1 (rate) -> 1:2 default class and one class 1:(100+s) per flow
//	      slot s, each with ceil = rate, equal quantum and its own pfifo; a u32 filter
//	      sends TCP traffic to port ProbePortBase+s to class s; with acks, class 1:3 for
//	      the ACKs of the flows whose data crosses the opposite direction (TCP from
//	      their ports ProbePortBase+s).
//
// In the fq model the guaranteed rates are equal shares: the flows the plan routes over
// this link (crossing) get 99% of the rate split equally, every other class (the default
// class, slots of flows routed elsewhere) an equal part of the last 1%. Any class may
// borrow up to the full rate, and HTB lends unused guarantees to the busy classes in
// proportion to their (equal) quanta: per-flow fair queueing, i.e. max-min fair sharing
// of the link. Guaranteeing the equal share (rather than a tiny rate plus borrowing)
// matters for BBR, whose bandwidth probes must be served promptly to be seen.
//
// ACKs get a class of their own, guaranteed what they need at most (acks.RateBps, at most
// a quarter of the link), as a per-flow fair queue serves a flow of ACKs, far below its
// fair share, in full. In the default class with its sliver of the rate they were
// starved wherever the opposite direction's data filled the link, and their flows
// throttled: on a six-node tree whose link r-2--r-1 is full in both directions (flow-tree
// seed 102), the two flows whose ACKs crossed it ran at 40–50% of their max-min rate
// (cubic; 18% with bbr) and the default class dropped 825 ACKs in 20 s (docs/fidelity.md).
//
// With delayMs > 0 every leaf queue is a netem qdisc (delay, same packet limit) instead
// of a pfifo: the link's propagation delay, applied after the rate shaping.
func tcIface(o Options, dev string, rate uint64, delayMs float64, crossing map[int]bool, acks ackClass) []string {
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
		ack := uint64(0)
		if len(acks.Slots) > 0 {
			ack = max(min(acks.RateBps, rate/4), 1000)
		}
		reserve := rate / 100
		cross := uint64(0)
		if len(crossing) > 0 {
			cross = (rate - reserve - ack) / uint64(len(crossing))
		} else {
			reserve = rate - ack
		}
		other := max(reserve/uint64(others), 1000)
		cross = max(cross, 1000)
		add("qdisc replace dev %s root handle 1: htb default 2", dev)
		add("class replace dev %s parent 1: classid 1:1 htb rate %s ceil %s quantum %d", dev, r, r, htbQuantum)
		add("class replace dev %s parent 1:1 classid 1:2 htb rate %dbit ceil %s quantum %d", dev, other, r, htbQuantum)
		add("qdisc replace dev %s parent 1:2 handle 2: %s", dev, leaf)
		if len(acks.Slots) > 0 {
			add("class replace dev %s parent 1:1 classid 1:3 htb rate %dbit ceil %s quantum %d", dev, ack, r, htbQuantum)
			add("qdisc replace dev %s parent 1:3 handle 3: %s", dev, leaf)
			for _, slot := range acks.Slots {
				add("filter add dev %s parent 1: protocol ip prio 1 u32 match ip protocol 6 0xff match ip sport %d 0xffff flowid 1:3", dev, ProbePortBase+slot)
			}
		}
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
		if p.delayed(lk) {
			d := p.DelayNamespace(lk)
			add("netns add %s", d)
			add("link add name %s netns %s type veth peer name %s netns %s", lk.AIf, a.Namespace, DelayIfA, d)
			add("link add name %s netns %s type veth peer name %s netns %s", DelayIfB, d, lk.BIf, b.Namespace)
			continue
		}
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
