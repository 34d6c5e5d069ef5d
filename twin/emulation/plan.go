package emulation

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"regexp"
	"sort"
	"strings"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
)

// Options configure how a network is emulated. Zero values take the defaults.
type Options struct {
	// Lab names the lab: [a-z0-9][a-z0-9-]{0,23}.
	Lab string `json:"lab"`
	// Prefix starts every namespace name of the lab (default "twinflow-").
	Prefix string `json:"prefix"`
	// Scale multiplies link capacities: emulated rate = capacity_gbps * 1e9 * Scale
	// bits/s. Default DefaultScale (10 Gb/s modelled as 100 Mb/s).
	Scale float64 `json:"scale"`
	// Queue is the router queue model on shaped links (default fq).
	Queue QueueModel `json:"queue"`
	// QueueLimit is the packet limit of every pfifo queue (default 100).
	QueueLimit int `json:"queue_limit"`
	// FlowSlots is the number of per-flow HTB classes on every shaped link in the fq
	// model (default max(16, flows in the network)); TCP probe i uses slot i.
	FlowSlots int `json:"flow_slots"`
	// SenderHosts gives every node a sender host: a namespace of its own (the node's
	// namespace + "~h", address HostAddr) behind an unshaped veth, from which the
	// node's TCP probes send. Without it a flow's first queue is its sender's own
	// egress qdisc, where TCP Small Queues backpressure the socket instead of the
	// queue dropping: a FIFO there behaves like per-flow round robin, not a router's
	// drop-tail FIFO (measured, docs/fidelity.md).
	SenderHosts bool `json:"sender_hosts,omitempty"`
	// FirstPathWins routes a flow whose path needs another next hop than an earlier
	// flow's at some node towards the same destination not at all (it is recorded,
	// its packets follow the earlier flows' routes) instead of refusing the network.
	// The L2 sandbox sets it and lists the flows of the change under validation
	// first: the twin's other services may take other paths between the same
	// devices, which destination routing cannot express at once.
	FirstPathWins bool `json:"first_path_wins,omitempty"`
}

// Defaults.
const (
	DefaultPrefix     = "twinflow-"
	DefaultScale      = 0.01
	DefaultQueueLimit = 100
	// ProbePortBase is the TCP port of flow slot 0; slot i listens on ProbePortBase+i.
	ProbePortBase = 20000
	// GNMIPort is the port node agents serve gNMI on (management address).
	GNMIPort = 9339
	// MinRateBps is the smallest shaped rate accepted.
	MinRateBps = 10_000
)

var (
	labNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,23}$`)
	prefixRE   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,11}$`)
	nsPartRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,40}$`)
	ifnameRE   = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
	node4Base  = netip.MustParseAddr("10.0.0.0")
	link4Base  = netip.MustParseAddr("10.128.0.0")
	host4Base  = netip.MustParseAddr("10.64.0.0")
	mgmt4Base  = netip.MustParseAddr("198.18.0.0")
	mgmtSlots  = 32
	maxNodes   = 4093
	maxLinks   = 1 << 21
	reservedIf = map[string]bool{"lo": true, "mgmt0": true}
	// labRanges hold the node, sender host and L2 probe (attachment test host)
	// addresses and the management networks; link subnets are checked one by one.
	l2Probe4Base = netip.MustParseAddr("10.96.0.0")
	labRanges    = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/20"), netip.MustParsePrefix("10.64.0.0/20"),
		netip.PrefixFrom(l2Probe4Base, 16), netip.MustParsePrefix("198.18.0.0/15")}
)

func (o Options) withDefaults(flows int) (Options, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Scale == 0 {
		o.Scale = DefaultScale
	}
	if o.Queue == "" {
		o.Queue = QueueFQ
	}
	if o.QueueLimit == 0 {
		o.QueueLimit = DefaultQueueLimit
	}
	if o.FlowSlots == 0 {
		o.FlowSlots = max(16, flows)
	}
	switch {
	case !labNameRE.MatchString(o.Lab):
		return o, fmt.Errorf("%w: lab name %q must match %s", ErrInvalid, o.Lab, labNameRE)
	case !prefixRE.MatchString(o.Prefix):
		return o, fmt.Errorf("%w: prefix %q must match %s", ErrInvalid, o.Prefix, prefixRE)
	case !(o.Scale > 0 && o.Scale <= 1):
		return o, fmt.Errorf("%w: scale %v must be in (0, 1]", ErrInvalid, o.Scale)
	case o.Queue != QueueFQ && o.Queue != QueueFIFO:
		return o, fmt.Errorf("%w: queue model %q (want fq or fifo)", ErrInvalid, o.Queue)
	case o.QueueLimit < 2 || o.QueueLimit > 100000:
		return o, fmt.Errorf("%w: queue limit %d out of range 2..100000", ErrInvalid, o.QueueLimit)
	case o.FlowSlots < 1 || o.FlowSlots > 4000:
		return o, fmt.Errorf("%w: flow slots %d out of range 1..4000", ErrInvalid, o.FlowSlots)
	}
	return o, nil
}

// Label is the lab's label: namespace name prefix and root-namespace interface alias.
func (o Options) Label() string { return o.Prefix + o.Lab }

// Plan is the full, deterministic description of an emulated lab: what Deploy builds.
// It is pure data (no I/O) and is stored in the lab's state file.
type Plan struct {
	Options Options     `json:"options"`
	Nodes   []PlanNode  `json:"nodes"`
	Links   []PlanLink  `json:"links"`
	Flows   []PlanFlow  `json:"flows,omitempty"`
	Mgmt    MgmtNetwork `json:"mgmt"`
	// Netem says whether link delays are applied (the kernel has netem); set by the
	// backend at deploy time.
	Netem bool `json:"netem"`
	// DelayLine says that, without netem, every link with a latency is split by a
	// userspace delay line (`twinflow-node delay`, package labs/delayline) in a
	// namespace of its own (DelayNamespace); set by the backend at deploy time when
	// it has a delay command. With neither, links have no added delay.
	DelayLine bool `json:"delay_line,omitempty"`

	linkIdx map[string]int
	nodeIdx map[string]int
}

// MgmtNetwork is the lab's management bridge in the root namespace.
type MgmtNetwork struct {
	Bridge string       `json:"bridge"`
	Prefix netip.Prefix `json:"prefix"`
	// Gateway is the bridge's own address.
	Gateway netip.Addr `json:"gateway"`
}

// PlanNode is one emulated device.
type PlanNode struct {
	ID        string     `json:"id"`
	Slot      int        `json:"slot"`
	Namespace string     `json:"namespace"`
	Addr      netip.Addr `json:"addr"`
	// MgmtAddr is mgmt0's address; MgmtHostIf the root-namespace end of its veth.
	MgmtAddr   netip.Addr  `json:"mgmt_addr"`
	MgmtHostIf string      `json:"mgmt_host_if"`
	Ifaces     []PlanIface `json:"ifaces"`
	Routes     []Route     `json:"routes"`
	// HostNamespace and HostAddr are the node's sender host (Options.SenderHosts).
	HostNamespace string     `json:"host_namespace,omitempty"`
	HostAddr      netip.Addr `json:"host_addr,omitzero"`
	// Loopbacks are further /32 addresses of the device on lo: its underlay (tunnel
	// source) address from the label service.LabelUnderlay, so that the VXLAN
	// tunnels of compiled services find their ends in the lab. Every other node
	// routes them like the node's address.
	Loopbacks []netip.Addr `json:"loopbacks,omitempty"`
}

// PlanIface is one data interface.
type PlanIface struct {
	Name     string       `json:"name"`
	EndPoint string       `json:"endpoint"`
	Link     string       `json:"link"`
	Addr     netip.Prefix `json:"addr"`
	Peer     netip.Addr   `json:"peer"`
	PeerNode string       `json:"peer_node"`
	// RateBps shapes this interface's egress (the link direction leaving the node).
	RateBps uint64 `json:"rate_bps"`
	// DelayMs is the link's one-way latency, applied with netem where the kernel has
	// it (Plan.Netem), else by a delay line (Plan.DelayLine).
	DelayMs float64 `json:"delay_ms,omitempty"`
}

// PlanLink is one link between two node interfaces.
type PlanLink struct {
	ID           string  `json:"id"`
	Slot         int     `json:"slot"`
	A            string  `json:"a"` // node ID
	AIf          string  `json:"a_if"`
	B            string  `json:"b"`
	BIf          string  `json:"b_if"`
	CapacityGbps float64 `json:"capacity_gbps"`
}

// Route is a static route of a node.
type Route struct {
	Dst netip.Prefix `json:"dst"`
	Via netip.Addr   `json:"via"`
	Dev string       `json:"dev"`
}

// PlanFlow is a flow of the network with its resolved path.
type PlanFlow struct {
	ID  string `json:"id"`
	Src string `json:"src"`
	Dst string `json:"dst"`
	// Path lists directed link IDs (from the document, or the shortest path).
	Path []string `json:"path"`
}

// DelayNamespace is the namespace of link l's delay line (Plan.DelayLine), between
// l.AIf (peer DelayIfA) and l.BIf (peer DelayIfB).
func (p *Plan) DelayNamespace(l PlanLink) string {
	return fmt.Sprintf("%s.~d%d", p.Options.Label(), l.Slot)
}

// The delay line's interfaces in DelayNamespace.
const (
	DelayIfA = "dla"
	DelayIfB = "dlb"
)

// LinkDelayMs is link l's one-way latency (0 if it has none or is unknown).
func (p *Plan) LinkDelayMs(l PlanLink) float64 {
	if n, ok := p.Node(l.A); ok {
		for _, ifc := range n.Ifaces {
			if ifc.Name == l.AIf {
				return ifc.DelayMs
			}
		}
	}
	return 0
}

// How a deployed lab applied its links' latencies (Plan.Latency).
const (
	LatencyNetem      = "netem"       // netem on the links' interfaces
	LatencyDelayLine  = "delay_line"  // userspace delay lines (Plan.DelayLine)
	LatencyNotApplied = "not_applied" // links have latencies, but neither netem nor a delay line applied them
	LatencyNone       = "no_latency"  // no link has a latency: nothing to apply
)

// Latency says how the deployed plan applies its links' latencies: LatencyNone if no
// link has one, else LatencyNetem, LatencyDelayLine or LatencyNotApplied (Netem and
// DelayLine are set at deploy time, so a plan not deployed reports LatencyNotApplied).
func (p *Plan) Latency() string {
	switch {
	case !hasDelay(p):
		return LatencyNone
	case p.Netem:
		return LatencyNetem
	case p.DelayLine:
		return LatencyDelayLine
	}
	return LatencyNotApplied
}

// delayed reports whether link l goes through a delay line.
func (p *Plan) delayed(l PlanLink) bool { return p.DelayLine && p.LinkDelayMs(l) > 0 }

// Node returns the plan node with that device ID.
func (p *Plan) Node(id string) (*PlanNode, bool) {
	if len(p.nodeIdx) != len(p.Nodes) {
		p.nodeIdx = make(map[string]int, len(p.Nodes))
		for i, n := range p.Nodes {
			p.nodeIdx[n.ID] = i
		}
	}
	if i, ok := p.nodeIdx[id]; ok {
		return &p.Nodes[i], true
	}
	return nil, false
}

func addrAdd(base netip.Addr, n uint32) netip.Addr {
	b := base.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func shortHash(s string) string {
	h := fnv.New32a()
	h.Write([]byte(s))
	return fmt.Sprintf("%05x", h.Sum32()&0xfffff)
}

// hostIfBase is the root-namespace interface name stem of a lab: at most 4 characters
// of the prefix (letters and digits) and a 5-hex-digit hash of the label.
func hostIfBase(o Options) string {
	var b strings.Builder
	for _, r := range o.Prefix {
		if b.Len() == 4 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String() + shortHash(o.Label())
}

// NewPlan computes the lab for n. prev, if not nil, is the plan currently deployed:
// nodes and links present in both keep their slots (hence addresses and names), so that
// Reconfigure changes only what changed. mgmtSlot selects the management /20 (0..31).
func NewPlan(n *network.Network, o Options, prev *Plan, mgmtSlot int) (*Plan, error) {
	if n == nil {
		return nil, fmt.Errorf("%w: nil network", ErrInvalid)
	}
	o, err := o.withDefaults(len(n.Flows))
	if err != nil {
		return nil, err
	}
	if len(n.Devices) == 0 {
		return nil, fmt.Errorf("%w: network has no devices", ErrInvalid)
	}
	if len(n.Devices) > maxNodes {
		return nil, fmt.Errorf("%w: %d devices, at most %d per netns lab", ErrInvalid, len(n.Devices), maxNodes)
	}
	if len(n.Links) > maxLinks {
		return nil, fmt.Errorf("%w: %d links, at most %d", ErrInvalid, len(n.Links), maxLinks)
	}
	if mgmtSlot < 0 || mgmtSlot >= mgmtSlots {
		return nil, fmt.Errorf("%w: management slot %d out of range 0..%d", ErrInvalid, mgmtSlot, mgmtSlots-1)
	}
	p := &Plan{Options: o}
	base := hostIfBase(o)
	mgmtNet := addrAdd(mgmt4Base, uint32(mgmtSlot)<<12)
	p.Mgmt = MgmtNetwork{Bridge: base + "br", Prefix: netip.PrefixFrom(mgmtNet, 20), Gateway: addrAdd(mgmtNet, 1)}

	// Node slots: keep previous ones, give new nodes the lowest free slot.
	prevNode := map[string]int{}
	prevLink := map[string]int{}
	if prev != nil {
		for _, pn := range prev.Nodes {
			prevNode[pn.ID] = pn.Slot
		}
		for _, pl := range prev.Links {
			prevLink[pl.ID] = pl.Slot
		}
	}
	nodeSlots, err := allocSlots(len(n.Devices), func(i int) (string, error) {
		id := n.Devices[i].ID
		if id == "" {
			return "", fmt.Errorf("%w: devices[%d]: empty id", ErrInvalid, i)
		}
		return id, nil
	}, prevNode, "device")
	if err != nil {
		return nil, err
	}
	nodeIdx := map[string]int{}
	usedNS := map[string]string{}
	for i, d := range n.Devices {
		slot := nodeSlots[i]
		part := d.ID
		if !nsPartRE.MatchString(part) {
			part = fmt.Sprintf("n%d", slot)
		}
		ns := o.Label() + "." + part
		if other, dup := usedNS[ns]; dup {
			return nil, fmt.Errorf("%w: devices %q and %q map to the same namespace %q", ErrInvalid, other, d.ID, ns)
		}
		usedNS[ns] = d.ID
		nodeIdx[d.ID] = i
		p.Nodes = append(p.Nodes, PlanNode{
			ID: d.ID, Slot: slot, Namespace: ns,
			Addr:       addrAdd(node4Base, uint32(slot)+1),
			MgmtAddr:   addrAdd(mgmtNet, uint32(slot)+2),
			MgmtHostIf: fmt.Sprintf("%sm%d", base, slot),
		})
	}

	linkSlots, err := allocSlots(len(n.Links), func(i int) (string, error) {
		id := n.Links[i].ID
		if id == "" {
			return "", fmt.Errorf("%w: links[%d]: empty id", ErrInvalid, i)
		}
		return id, nil
	}, prevLink, "link")
	if err != nil {
		return nil, err
	}
	usedIf := map[string]map[string]bool{} // node -> ifname
	usedEP := map[network.EndPointRef]string{}
	ifName := func(node, ep string) string {
		if usedIf[node] == nil {
			usedIf[node] = map[string]bool{}
		}
		name := ep
		if !ifnameRE.MatchString(name) || reservedIf[name] || usedIf[node][name] {
			for k := 0; ; k++ {
				name = fmt.Sprintf("e%d", k)
				if !usedIf[node][name] && !isDeclaredEndpoint(n, node, name) {
					break
				}
			}
		}
		usedIf[node][name] = true
		return name
	}
	for i, l := range n.Links {
		if len(l.Endpoints) != 2 {
			return nil, fmt.Errorf("%w: links[%d] %q: %d endpoints, want 2", ErrInvalid, i, l.ID, len(l.Endpoints))
		}
		for j, ep := range l.Endpoints {
			if _, ok := nodeIdx[ep.Device]; !ok {
				return nil, fmt.Errorf("%w: links[%d] %q: endpoints[%d]: unknown device %q", ErrInvalid, i, l.ID, j, ep.Device)
			}
			if ep.EndPoint == "" {
				return nil, fmt.Errorf("%w: links[%d] %q: endpoints[%d]: empty endpoint", ErrInvalid, i, l.ID, j)
			}
			if other, dup := usedEP[ep]; dup {
				return nil, fmt.Errorf("%w: links[%d] %q: endpoint %s/%s already used by link %q", ErrInvalid, i, l.ID, ep.Device, ep.EndPoint, other)
			}
			usedEP[ep] = l.ID
		}
		a, b := l.Endpoints[0], l.Endpoints[1]
		if a.Device == b.Device {
			return nil, fmt.Errorf("%w: links[%d] %q: both ends on device %q", ErrInvalid, i, l.ID, a.Device)
		}
		if l.LatencyMs < 0 || l.LatencyMs > 10000 {
			return nil, fmt.Errorf("%w: links[%d] %q: latency %v ms out of range 0..10000", ErrInvalid, i, l.ID, l.LatencyMs)
		}
		if l.CapacityGbps < 0 {
			return nil, fmt.Errorf("%w: links[%d] %q: negative capacity %v", ErrInvalid, i, l.ID, l.CapacityGbps)
		}
		rate := uint64(l.CapacityGbps * 1e9 * o.Scale)
		if l.CapacityGbps > 0 && rate < MinRateBps {
			return nil, fmt.Errorf("%w: links[%d] %q: capacity %v Gb/s at scale %v is %d b/s, below the %d b/s minimum", ErrInvalid, i, l.ID, l.CapacityGbps, o.Scale, rate, MinRateBps)
		}
		slot := linkSlots[i]
		sub := addrAdd(link4Base, uint32(slot)*4)
		aAddr, bAddr := addrAdd(sub, 1), addrAdd(sub, 2)
		pl := PlanLink{ID: l.ID, Slot: slot, A: a.Device, B: b.Device, CapacityGbps: l.CapacityGbps}
		pl.AIf = ifName(a.Device, a.EndPoint)
		pl.BIf = ifName(b.Device, b.EndPoint)
		p.Links = append(p.Links, pl)
		an, bn := &p.Nodes[nodeIdx[a.Device]], &p.Nodes[nodeIdx[b.Device]]
		an.Ifaces = append(an.Ifaces, PlanIface{Name: pl.AIf, EndPoint: a.EndPoint, Link: l.ID, Addr: netip.PrefixFrom(aAddr, 30), Peer: bAddr, PeerNode: b.Device, RateBps: rate, DelayMs: l.LatencyMs})
		bn.Ifaces = append(bn.Ifaces, PlanIface{Name: pl.BIf, EndPoint: b.EndPoint, Link: l.ID, Addr: netip.PrefixFrom(bAddr, 30), Peer: aAddr, PeerNode: a.Device, RateBps: rate, DelayMs: l.LatencyMs})
	}
	if err := p.addLoopbacks(n); err != nil {
		return nil, err
	}
	if err := p.route(n); err != nil {
		return nil, err
	}
	p.addSenderHosts()
	p.routeLoopbacks()
	return p, nil
}

func isDeclaredEndpoint(n *network.Network, dev, ep string) bool {
	for _, d := range n.Devices {
		if d.ID != dev {
			continue
		}
		for _, e := range d.Endpoints {
			if e.ID == ep {
				return true
			}
		}
	}
	return false
}

// allocSlots gives item i a slot: its previous slot if any, else the lowest free one.
func allocSlots(count int, id func(int) (string, error), prev map[string]int, what string) ([]int, error) {
	slots := make([]int, count)
	used := map[int]bool{}
	seen := map[string]int{}
	for i := 0; i < count; i++ {
		k, err := id(i)
		if err != nil {
			return nil, err
		}
		if j, dup := seen[k]; dup {
			return nil, fmt.Errorf("%w: %ss[%d] and [%d] share the id %q", ErrInvalid, what, j, i, k)
		}
		seen[k] = i
		slots[i] = -1
		if s, ok := prev[k]; ok {
			slots[i] = s
			used[s] = true
		}
	}
	next := 0
	for i := range slots {
		if slots[i] >= 0 {
			continue
		}
		for used[next] {
			next++
		}
		slots[i] = next
		used[next] = true
	}
	return slots, nil
}

// hop is one step of a path: leave node via iface to next node.
type hop struct {
	from, to string
	iface    string
	via      netip.Addr
	dirLink  string
}

// route installs, on every node, a route to every other node's address: along the
// documented path of each flow (and its reverse for the ACKs) where flows say so, along
// a shortest path (hop count, ties by link order) elsewhere. Two flows asking for
// different next hops at the same node towards the same destination are rejected.
func (p *Plan) route(n *network.Network) error {
	o := p.Options
	// adjacency: node -> hops in link order
	adj := map[string][]hop{}
	byDir := map[string]hop{}
	for _, node := range p.Nodes {
		for _, ifc := range node.Ifaces {
			dir := ifc.Link
			l := p.link(ifc.Link)
			if l.B == node.ID && l.BIf == ifc.Name {
				dir = network.DirectedLinkID(ifc.Link, true)
			}
			h := hop{from: node.ID, to: ifc.PeerNode, iface: ifc.Name, via: ifc.Peer, dirLink: dir}
			adj[node.ID] = append(adj[node.ID], h)
			byDir[dir] = h
		}
	}
	for id := range adj {
		hs := adj[id]
		sort.SliceStable(hs, func(i, j int) bool { return p.linkSlot(hs[i].dirLink) < p.linkSlot(hs[j].dirLink) })
	}
	type key struct{ node, dst string }
	next := map[key]hop{}
	owner := map[key]string{}
	set := func(k key, h hop, why string) error {
		if old, ok := next[k]; ok && old.dirLink != h.dirLink {
			return fmt.Errorf("%w: %s and %s need different next hops at %q towards %q (destination routing cannot express both)", ErrInvalid, owner[k], why, k.node, k.dst)
		}
		next[k] = h
		owner[k] = why
		return nil
	}
	// Flow paths first. A flow of an owner (a service) between the same two devices
	// as an earlier routed flow of that owner is an alternative path (protection,
	// availability > 1): destination routing can follow only one, the first; the
	// others are recorded, not routed by the lab (the devices' own configuration
	// decides whether they carry traffic).
	type ownerPair struct{ owner, src, dst string }
	routedPair := map[ownerPair]bool{}
	for i, f := range n.Flows {
		if _, ok := p.Node(f.Src); !ok {
			return fmt.Errorf("%w: flows[%d] %q: unknown src device %q", ErrInvalid, i, f.ID, f.Src)
		}
		if _, ok := p.Node(f.Dst); !ok {
			return fmt.Errorf("%w: flows[%d] %q: unknown dst device %q", ErrInvalid, i, f.ID, f.Dst)
		}
		if f.Src == f.Dst {
			return fmt.Errorf("%w: flows[%d] %q: src and dst are both %q", ErrInvalid, i, f.ID, f.Src)
		}
		pf := PlanFlow{ID: f.ID, Src: f.Src, Dst: f.Dst, Path: f.Path}
		op := ownerPair{f.Owner, f.Src, f.Dst}
		alternative := f.Owner != "" && routedPair[op]
		if len(f.Path) > 0 && f.Owner != "" {
			routedPair[op] = true
		}
		if len(f.Path) > 0 {
			at := f.Src
			var hops []hop
			for j, d := range f.Path {
				h, ok := byDir[d]
				if !ok {
					return fmt.Errorf("%w: flows[%d] %q: path[%d]: unknown directed link %q", ErrInvalid, i, f.ID, j, d)
				}
				if h.from != at {
					return fmt.Errorf("%w: flows[%d] %q: path[%d]: link %q leaves %q, but the path is at %q", ErrInvalid, i, f.ID, j, d, h.from, at)
				}
				hops = append(hops, h)
				at = h.to
			}
			if at != f.Dst {
				return fmt.Errorf("%w: flows[%d] %q: path ends at %q, not at dst %q", ErrInvalid, i, f.ID, at, f.Dst)
			}
			why := fmt.Sprintf("flow %q", f.ID)
			if alternative {
				p.Flows = append(p.Flows, pf)
				continue
			}
			type step struct {
				k   key
				h   hop
				why string
			}
			var steps []step
			for _, h := range hops {
				steps = append(steps, step{key{h.from, f.Dst}, h, why})
			}
			for j := len(hops) - 1; j >= 0; j-- { // reverse path for the ACKs
				lid, rev := network.ParseDirectedLinkID(hops[j].dirLink)
				rd := network.DirectedLinkID(lid, !rev)
				steps = append(steps, step{key{hops[j].to, f.Src}, byDir[rd], why + " (reverse)"})
			}
			if o.FirstPathWins {
				conflict := false
				for _, st := range steps {
					if old, ok := next[st.k]; ok && old.dirLink != st.h.dirLink {
						conflict = true
					}
				}
				if conflict {
					p.Flows = append(p.Flows, pf)
					continue
				}
			}
			for _, st := range steps {
				if err := set(st.k, st.h, st.why); err != nil {
					return err
				}
			}
		}
		p.Flows = append(p.Flows, pf)
	}
	// Shortest paths elsewhere: BFS from each destination over reversed edges.
	for _, dst := range p.Nodes {
		dist := map[string]int{dst.ID: 0}
		queue := []string{dst.ID}
		for len(queue) > 0 {
			v := queue[0]
			queue = queue[1:]
			// neighbours u with a hop u->v
			for _, h := range adj[v] {
				u := h.to
				if _, seen := dist[u]; seen {
					continue
				}
				dist[u] = dist[v] + 1
				queue = append(queue, u)
			}
		}
		for _, src := range p.Nodes {
			if src.ID == dst.ID {
				continue
			}
			k := key{src.ID, dst.ID}
			if _, ok := next[k]; ok {
				continue
			}
			d, ok := dist[src.ID]
			if !ok {
				continue // unreachable: no route
			}
			for _, h := range adj[src.ID] {
				if dh, ok := dist[h.to]; ok && dh == d-1 {
					next[k] = h
					break
				}
			}
		}
	}
	for i := range p.Nodes {
		node := &p.Nodes[i]
		for _, dst := range p.Nodes {
			if h, ok := next[key{node.ID, dst.ID}]; ok {
				node.Routes = append(node.Routes, Route{Dst: netip.PrefixFrom(dst.Addr, 32), Via: h.via, Dev: h.iface})
			}
		}
	}
	// Flows without a documented path: record the routed path for predictions.
	for i := range p.Flows {
		f := &p.Flows[i]
		if len(f.Path) > 0 {
			continue
		}
		at := f.Src
		for steps := 0; at != f.Dst && steps <= len(p.Nodes); steps++ {
			h, ok := next[key{at, f.Dst}]
			if !ok {
				return fmt.Errorf("%w: flows[%d] %q: %q cannot reach %q", ErrInvalid, i, f.ID, f.Src, f.Dst)
			}
			f.Path = append(f.Path, h.dirLink)
			at = h.to
		}
	}
	return nil
}

func (p *Plan) link(id string) PlanLink {
	if len(p.linkIdx) != len(p.Links) {
		p.linkIdx = make(map[string]int, len(p.Links))
		for i, l := range p.Links {
			p.linkIdx[l.ID] = i
		}
	}
	if i, ok := p.linkIdx[id]; ok {
		return p.Links[i]
	}
	return PlanLink{}
}

func (p *Plan) linkSlot(dir string) int {
	id, _ := network.ParseDirectedLinkID(dir)
	return p.link(id).Slot
}

// addSenderHosts gives every node its sender host (Options.SenderHosts): namespace,
// address (10.64.0.0 + slot + 1), and in every other node a route to it along the
// route to its node.
func (p *Plan) addSenderHosts() {
	if !p.Options.SenderHosts {
		return
	}
	hostOf := map[netip.Addr]netip.Addr{}
	for i := range p.Nodes {
		nd := &p.Nodes[i]
		nd.HostNamespace = nd.Namespace + "~h"
		nd.HostAddr = addrAdd(host4Base, uint32(nd.Slot)+1)
		hostOf[nd.Addr] = nd.HostAddr
	}
	for i := range p.Nodes {
		nd := &p.Nodes[i]
		n := len(nd.Routes)
		for _, r := range nd.Routes[:n] {
			if h, ok := hostOf[r.Dst.Addr()]; ok && r.Dst.Bits() == 32 {
				nd.Routes = append(nd.Routes, Route{Dst: netip.PrefixFrom(h, 32), Via: r.Via, Dev: r.Dev})
			}
		}
	}
}

// addLoopbacks reads each device's underlay address (label service.LabelUnderlay): a
// valid IPv4 address that is no lab address (node, sender host, link, management
// range) and no other device's becomes one of the node's Loopbacks.
func (p *Plan) addLoopbacks(n *network.Network) error {
	owner := map[netip.Addr]string{}
	for i, d := range n.Devices {
		v, ok := d.Labels[service.LabelUnderlay]
		if !ok {
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil || !a.Is4() {
			return fmt.Errorf("%w: devices[%d] %q: label %s=%q is not an IPv4 address", ErrInvalid, i, d.ID, service.LabelUnderlay, v)
		}
		if a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() || !a.IsGlobalUnicast() && !a.IsPrivate() {
			return fmt.Errorf("%w: devices[%d] %q: underlay address %s is not a unicast address", ErrInvalid, i, d.ID, a)
		}
		for _, r := range labRanges {
			if r.Contains(a) {
				return fmt.Errorf("%w: devices[%d] %q: underlay address %s is in %s, which the lab uses", ErrInvalid, i, d.ID, a, r)
			}
		}
		for _, l := range p.Links {
			if sub := netip.PrefixFrom(addrAdd(link4Base, uint32(l.Slot)*4), 30); sub.Contains(a) {
				return fmt.Errorf("%w: devices[%d] %q: underlay address %s is in the lab subnet %s of link %q", ErrInvalid, i, d.ID, a, sub, l.ID)
			}
		}
		if other, dup := owner[a]; dup {
			return fmt.Errorf("%w: devices %q and %q have the same underlay address %s", ErrInvalid, other, d.ID, a)
		}
		owner[a] = d.ID
		nd, _ := p.Node(d.ID)
		nd.Loopbacks = append(nd.Loopbacks, a)
	}
	return nil
}

// routeLoopbacks gives every node a route to every other node's loopbacks, along its
// route to that node.
func (p *Plan) routeLoopbacks() {
	lbOf := map[netip.Addr][]netip.Addr{}
	for _, nd := range p.Nodes {
		if len(nd.Loopbacks) > 0 {
			lbOf[nd.Addr] = nd.Loopbacks
		}
	}
	if len(lbOf) == 0 {
		return
	}
	for i := range p.Nodes {
		nd := &p.Nodes[i]
		n := len(nd.Routes)
		for _, r := range nd.Routes[:n] {
			if r.Dst.Bits() != 32 {
				continue
			}
			for _, a := range lbOf[r.Dst.Addr()] {
				nd.Routes = append(nd.Routes, Route{Dst: netip.PrefixFrom(a, 32), Via: r.Via, Dev: r.Dev})
			}
		}
	}
}
