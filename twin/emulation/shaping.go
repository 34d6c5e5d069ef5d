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
		lines = append(lines, tcIface(p.Options, ifc.Name, ifc.RateBps)...)
	}
	return lines
}

// tcIface shapes one interface's egress to rate bits/s.
//
//	fifo: root htb -> 1:1 (rate) -> 1:10 (rate) -> pfifo limit L
//	fq:   root htb -> 1:1 (rate) -> 1:2 default class and one class 1:(100+s) per flow
//	      slot s, each with rate = rate/(slots+1), ceil = rate, equal quantum, its own
//	      pfifo; a u32 filter sends TCP traffic to port ProbePortBase+s to class s.
//
// Unused classes take nothing: HTB lends their share to the busy classes in proportion
// to their quanta, i.e. equally, which is max-min fair sharing of the link.
func tcIface(o Options, dev string, rate uint64) []string {
	r := fmt.Sprintf("%dbit", rate)
	var l []string
	add := func(format string, a ...any) { l = append(l, fmt.Sprintf(format, a...)) }
	switch o.Queue {
	case QueueFIFO:
		add("qdisc replace dev %s root handle 1: htb default 10", dev)
		add("class replace dev %s parent 1: classid 1:1 htb rate %s ceil %s quantum %d", dev, r, r, htbQuantum)
		add("class replace dev %s parent 1:1 classid 1:10 htb rate %s ceil %s quantum %d", dev, r, r, htbQuantum)
		add("qdisc replace dev %s parent 1:10 handle 10: pfifo limit %d", dev, o.QueueLimit)
	default:
		share := max(rate/uint64(o.FlowSlots+1), 1000)
		s := fmt.Sprintf("%dbit", share)
		add("qdisc replace dev %s root handle 1: htb default 2", dev)
		add("class replace dev %s parent 1: classid 1:1 htb rate %s ceil %s quantum %d", dev, r, r, htbQuantum)
		add("class replace dev %s parent 1:1 classid 1:2 htb rate %s ceil %s quantum %d", dev, s, r, htbQuantum)
		add("qdisc replace dev %s parent 1:2 handle 2: pfifo limit %d", dev, o.QueueLimit)
		for slot := 0; slot < o.FlowSlots; slot++ {
			minor := 0x100 + slot
			add("class replace dev %s parent 1:1 classid 1:%x htb rate %s ceil %s quantum %d", dev, minor, s, r, htbQuantum)
			add("qdisc replace dev %s parent 1:%x handle %x: pfifo limit %d", dev, minor, minor, o.QueueLimit)
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
func nodeAddrBatch(p *Plan, n *PlanNode) []string {
	l := []string{
		"link set dev lo up",
		fmt.Sprintf("addr replace %s/32 dev lo", n.Addr),
		fmt.Sprintf("addr replace %s/%d dev mgmt0", n.MgmtAddr, p.Mgmt.Prefix.Bits()),
		"link set dev mgmt0 up",
	}
	for _, ifc := range n.Ifaces {
		l = append(l, fmt.Sprintf("addr replace %s dev %s", ifc.Addr, ifc.Name), fmt.Sprintf("link set dev %s up", ifc.Name))
	}
	return l
}

// nodeRouteBatch returns the in-namespace `ip -batch` lines installing the node's routes.
// Routes carry the node address as preferred source, so that traffic a node originates
// (probes, agents) comes from an address every other node has a route to.
func nodeRouteBatch(n *PlanNode) []string {
	l := make([]string, 0, len(n.Routes))
	for _, r := range n.Routes {
		l = append(l, fmt.Sprintf("route replace %s via %s dev %s src %s", r.Dst, r.Via, r.Dev, n.Addr))
	}
	return l
}

func aliasFor(label string) string { return "twinflow-lab:" + label }

func joinLines(l []string) string { return strings.Join(l, "\n") + "\n" }
