package emulation

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

func vectorA(t testing.TB) *network.Network { return loadNetwork(t, "labs/vector-a/network.json") }

func TestPlanVectorA(t *testing.T) {
	n := vectorA(t)
	p, err := NewPlan(n, Options{Lab: "va", Prefix: "tfe-"}, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Nodes) != 5 || len(p.Links) != 4 || len(p.Flows) != 6 {
		t.Fatalf("plan has %d nodes, %d links, %d flows", len(p.Nodes), len(p.Links), len(p.Flows))
	}
	n0, _ := p.Node("n0")
	if n0.Namespace != "tfe-va.n0" || n0.Addr != netip.MustParseAddr("10.0.0.1") {
		t.Errorf("n0 = %s %s", n0.Namespace, n0.Addr)
	}
	if got := p.Mgmt.Prefix.String(); got != "198.18.48.0/20" {
		t.Errorf("mgmt prefix = %s, want 198.18.48.0/20 (slot 3)", got)
	}
	if n0.Ifaces[0].RateBps != 25_000_000 {
		t.Errorf("l1 rate = %d, want 25 Mb/s at scale 0.01", n0.Ifaces[0].RateBps)
	}
	// n0 reaches n3 (f6) via n1; n3 answers n0 back along l3~r, l2~r, l1~r.
	route := func(node, dst string) Route {
		t.Helper()
		nn, _ := p.Node(node)
		d, _ := p.Node(dst)
		for _, r := range nn.Routes {
			if r.Dst.Addr() == d.Addr {
				return r
			}
		}
		t.Fatalf("%s has no route to %s", node, dst)
		return Route{}
	}
	if r := route("n0", "n3"); r.Dev != "eth1" || r.Via != netip.MustParseAddr("10.128.0.2") {
		t.Errorf("n0->n3 = %+v", r)
	}
	if r := route("n3", "n0"); r.Dev != "eth1" || r.Via != netip.MustParseAddr("10.128.0.9") {
		t.Errorf("n3->n0 = %+v", r)
	}
	for _, nd := range p.Nodes {
		if len(nd.Routes) != 4 {
			t.Errorf("%s has %d routes, want one per other node", nd.ID, len(nd.Routes))
		}
	}
	pred, err := MaxMin(n, p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"f1": 2.5 / 3, "f2": 5.0 / 3, "f3": 2.5 / 3, "f4": 5.0 / 3, "f5": 7.5, "f6": 2.5 / 3}
	for _, pr := range pred {
		if math.Abs(pr.RateGbps-want[pr.Flow]) > 1e-9 {
			t.Errorf("%s = %v, want %v", pr.Flow, pr.RateGbps, want[pr.Flow])
		}
	}
}

func TestPlanKeepsSlotsOnReconfigure(t *testing.T) {
	n := vectorA(t)
	o := Options{Lab: "va", Prefix: "tfe-"}
	p1, err := NewPlan(n, o, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Remove n0 and l1 (and the flows using them), add n5 behind n4.
	m := *n
	m.Devices = append([]network.Device{}, n.Devices[1:]...)
	m.Devices = append(m.Devices, network.Device{ID: "n5", Type: network.DeviceRouter})
	m.Links = append([]network.Link{}, n.Links[1:]...)
	m.Links = append(m.Links, network.Link{ID: "l5", Endpoints: []network.EndPointRef{{Device: "n4", EndPoint: "eth2"}, {Device: "n5", EndPoint: "eth1"}}, CapacityGbps: 1})
	m.Flows = nil
	p2, err := NewPlan(&m, o, p1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		a, _ := p1.Node(id)
		b, _ := p2.Node(id)
		if a.Addr != b.Addr || a.MgmtAddr != b.MgmtAddr || a.MgmtHostIf != b.MgmtHostIf {
			t.Errorf("%s moved: %s -> %s", id, a.Addr, b.Addr)
		}
	}
	n5, _ := p2.Node("n5")
	if n5.Slot != 0 {
		t.Errorf("n5 slot = %d, want 0 (freed by n0)", n5.Slot)
	}
	if l := p2.link("l5"); l.Slot != 0 {
		t.Errorf("l5 slot = %d, want 0 (freed by l1)", l.Slot)
	}
}

func TestPlanRejectsMalformed(t *testing.T) {
	base := func() *network.Network { return vectorA(t) }
	cases := []struct {
		name string
		mod  func(n *network.Network, o *Options)
		want string
	}{
		{"lab name", func(n *network.Network, o *Options) { o.Lab = "Bad_Name" }, `lab name "Bad_Name"`},
		{"scale", func(n *network.Network, o *Options) { o.Scale = 2 }, "scale 2 must be in (0, 1]"},
		{"queue", func(n *network.Network, o *Options) { o.Queue = "red" }, `queue model "red"`},
		{"no devices", func(n *network.Network, o *Options) { n.Devices = nil }, "network has no devices"},
		{"dup device", func(n *network.Network, o *Options) { n.Devices[1].ID = "n0" }, `share the id "n0"`},
		{"unknown device", func(n *network.Network, o *Options) { n.Links[2].Endpoints[1].Device = "zz" }, `links[2] "l3": endpoints[1]: unknown device "zz"`},
		{"endpoint reuse", func(n *network.Network, o *Options) { n.Links[1].Endpoints[0].EndPoint = "eth1" }, `endpoint n1/eth1 already used by link "l1"`},
		{"self link", func(n *network.Network, o *Options) {
			n.Links[0].Endpoints[1] = network.EndPointRef{Device: "n0", EndPoint: "eth9"}
		}, `both ends on device "n0"`},
		{"tiny rate", func(n *network.Network, o *Options) { n.Links[0].CapacityGbps = 1e-7 }, `links[0] "l1": capacity 1e-07 Gb/s`},
		{"broken path", func(n *network.Network, o *Options) { n.Flows[5].Path = []string{"l1", "l3"} }, `flows[5] "f6": path[1]: link "l3" leaves "n2", but the path is at "n1"`},
		{"path end", func(n *network.Network, o *Options) { n.Flows[2].Path = []string{"l1"} }, `flows[2] "f3": path ends at "n1", not at dst "n2"`},
		{"unknown dir link", func(n *network.Network, o *Options) { n.Flows[0].Path = []string{"l9"} }, `unknown directed link "l9"`},
		{"conflicting routes", func(n *network.Network, o *Options) {
			n.Links = append(n.Links, network.Link{ID: "l9", Endpoints: []network.EndPointRef{{Device: "n0", EndPoint: "eth2"}, {Device: "n2", EndPoint: "eth3"}}, CapacityGbps: 1})
			n.Flows[5].Path = []string{"l9", "l3"}
		}, "need different next hops at"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := base()
			o := Options{Lab: "va", Prefix: "tfe-"}
			c.mod(n, &o)
			_, err := NewPlan(n, o, nil, 0)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want ErrInvalid containing %q", err, c.want)
			}
		})
	}
}

func TestTCQueueModels(t *testing.T) {
	o, _ := Options{Lab: "x", Queue: QueueFIFO}.withDefaults(0)
	fifo := strings.Join(tcIface(o, "eth1", 25_000_000, 0, nil, ackClass{}), "\n")
	if !strings.Contains(fifo, "classid 1:10 htb rate 25000000bit ceil 25000000bit") || !strings.Contains(fifo, "pfifo limit 100") || strings.Contains(fifo, "u32") {
		t.Errorf("fifo batch:\n%s", fifo)
	}
	o.Queue, o.FlowSlots = QueueFQ, 4
	fq := tcIface(o, "eth1", 25_000_000, 0, map[int]bool{0: true, 2: true}, ackClass{})
	joined := strings.Join(fq, "\n")
	// Two crossing flows share 99%; the default class and the two other slots share 1%.
	for _, want := range []string{
		"classid 1:100 htb rate 12375000bit ceil 25000000bit quantum 1514",
		"classid 1:102 htb rate 12375000bit ceil 25000000bit",
		"classid 1:101 htb rate 83333bit",
		"classid 1:2 htb rate 83333bit",
		"match ip dport 20003 0xffff flowid 1:103",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("fq batch lacks %q:\n%s", want, joined)
		}
	}
}

func TestTCNetemDelay(t *testing.T) {
	o, _ := Options{Lab: "x", Queue: QueueFIFO}.withDefaults(0)
	got := strings.Join(tcIface(o, "eth1", 1_000_000, 2.5, nil, ackClass{}), "\n")
	if !strings.Contains(got, "parent 1:10 handle 10: netem delay 2500us limit 100") || strings.Contains(got, "pfifo") {
		t.Errorf("fifo with delay:\n%s", got)
	}
	// Delay is applied only where the backend found netem.
	n := vectorA(t)
	n.Links[0].LatencyMs = 3
	p, err := NewPlan(n, Options{Lab: "va", Prefix: "tfe-"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n0, _ := p.Node("n0")
	if strings.Contains(strings.Join(tcBatch(p, n0), "\n"), "netem") {
		t.Error("netem used without Plan.Netem")
	}
	p.Netem = true
	if !strings.Contains(strings.Join(tcBatch(p, n0), "\n"), "netem delay 3000us") {
		t.Error("no netem delay with Plan.Netem")
	}
}

// TestNetemDetection checks the detection against this kernel: ENVIRONMENT.md says the
// CI kernels have no netem, and the lab must then say so rather than fail.
func TestNetemDetection(t *testing.T) {
	b := newLab(t, "nem", Options{})
	n := vectorA(t)
	n.Links[0].LatencyMs = 5
	if err := b.Deploy(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	t.Logf("netem available: %v", b.Plan().Netem)
	out, _ := exec.Command("tc", "-n", "tfe-nem.n0", "qdisc", "show", "dev", "eth1").CombinedOutput()
	if b.Plan().Netem != strings.Contains(string(out), "netem") {
		t.Errorf("Plan.Netem = %v but eth1 qdiscs are:\n%s", b.Plan().Netem, out)
	}
}

// Sender hosts: each node gets a host namespace and address, and every other node a
// route to that address along its route to the node (ACKs find their way back).
func TestPlanSenderHosts(t *testing.T) {
	n := vectorA(t)
	p, err := NewPlan(n, Options{Lab: "va", Prefix: "tfe-", SenderHosts: true}, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	n0, _ := p.Node("n0")
	if n0.HostNamespace != "tfe-va.n0~h" || n0.HostAddr != netip.MustParseAddr("10.64.0.1") {
		t.Errorf("n0 host %q %s", n0.HostNamespace, n0.HostAddr)
	}
	n3, _ := p.Node("n3")
	var toNode, toHost *Route
	for i, r := range n3.Routes {
		switch r.Dst.Addr() {
		case n0.Addr:
			toNode = &n3.Routes[i]
		case n0.HostAddr:
			toHost = &n3.Routes[i]
		}
	}
	if toNode == nil || toHost == nil || toHost.Via != toNode.Via || toHost.Dev != toNode.Dev || toHost.Dst.Bits() != 32 {
		t.Errorf("n3's route to n0's host %+v, to n0 %+v", toHost, toNode)
	}
	plain, _ := NewPlan(n, Options{Lab: "va", Prefix: "tfe-"}, nil, 3)
	if pn0, _ := plain.Node("n0"); pn0.HostNamespace != "" || pn0.HostAddr.IsValid() || len(pn0.Routes) != len(n0.Routes)/2 {
		t.Errorf("without sender hosts: %q %v, %d routes (with: %d)", pn0.HostNamespace, pn0.HostAddr, len(pn0.Routes), len(n0.Routes))
	}
	if got := segmentBatch(n0); len(got) != 1 || got[0] != "link set dev eth1 gso_max_segs 1" {
		t.Errorf("segmentBatch = %q", got)
	}
}

// A square a-b-d, a-c-d: the unit networks of the underlay and protection tests.
func square(t testing.TB) *network.Network {
	t.Helper()
	n := &network.Network{}
	for _, id := range []string{"a", "b", "c", "d"} {
		n.Devices = append(n.Devices, network.Device{ID: id, Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "eth1"}, {ID: "eth2"}, {ID: "eth3"}}})
	}
	link := func(id, a, ae, b, be string) {
		n.Links = append(n.Links, network.Link{ID: id, CapacityGbps: 10, LatencyMs: 1,
			Endpoints: []network.EndPointRef{{Device: a, EndPoint: ae}, {Device: b, EndPoint: be}}})
	}
	link("a--b", "a", "eth1", "b", "eth1")
	link("b--d", "b", "eth2", "d", "eth1")
	link("a--c", "a", "eth2", "c", "eth1")
	link("c--d", "c", "eth2", "d", "eth2")
	return n
}

// TestPlanLoopbacks: a device's underlay label becomes a /32 on its lo, routed by
// every other node like its node address; addresses the lab uses, duplicates and
// non-addresses are refused naming the device.
func TestPlanLoopbacks(t *testing.T) {
	n := square(t)
	n.Devices[0].Labels = map[string]string{"twinflow.underlay": "192.0.2.1"}
	n.Devices[3].Labels = map[string]string{"twinflow.underlay": "192.0.2.4"}
	p, err := NewPlan(n, Options{Lab: "lb", Prefix: "tfe-"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := p.Node("a")
	d, _ := p.Node("d")
	if len(a.Loopbacks) != 1 || a.Loopbacks[0] != netip.MustParseAddr("192.0.2.1") {
		t.Fatalf("a's loopbacks = %v", a.Loopbacks)
	}
	if got := strings.Join(nodeAddrBatch(p, a)[:baseAddrLines(a)], "\n"); !strings.Contains(got, "addr replace 192.0.2.1/32 dev lo") {
		t.Errorf("a's base address lines lack the loopback:\n%s", got)
	}
	var toD, toLb Route
	for _, r := range a.Routes {
		switch r.Dst.Addr() {
		case d.Addr:
			toD = r
		case netip.MustParseAddr("192.0.2.4"):
			toLb = r
		}
	}
	if toLb.Via != toD.Via || toLb.Dev != toD.Dev || !toLb.Via.IsValid() {
		t.Errorf("a's route to d's loopback %+v differs from its route to d %+v", toLb, toD)
	}
	for label, want := range map[string]string{
		"10.0.0.7":   "10.0.0.0/20",
		"10.128.0.5": "link \"b--d\"",
		"192.0.2.4":  "same underlay address",
		"nope":       "not an IPv4 address",
		"224.0.0.1":  "not a unicast address",
	} {
		m := square(t)
		m.Devices[0].Labels = map[string]string{"twinflow.underlay": label}
		m.Devices[3].Labels = map[string]string{"twinflow.underlay": "192.0.2.4"}
		if _, err := NewPlan(m, Options{Lab: "lb", Prefix: "tfe-"}, nil, 0); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("underlay %s: %v, want ErrInvalid naming %q", label, err, want)
		}
	}
}

// TestPlanAlternativePaths: two flows of one owner between the same devices on
// disjoint paths (a protected service) do not conflict: the first is routed, the
// second recorded; two such flows of different owners still conflict.
func TestPlanAlternativePaths(t *testing.T) {
	n := square(t)
	n.Flows = []network.Flow{
		{ID: "s/g1/0-1/p0", Src: "a", Dst: "d", Owner: "s", Path: []string{"a--b", "b--d"}},
		{ID: "s/g1/0-1/p1", Src: "a", Dst: "d", Owner: "s", Path: []string{"a--c", "c--d"}},
	}
	p, err := NewPlan(n, Options{Lab: "alt", Prefix: "tfe-"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := p.Node("a")
	d, _ := p.Node("d")
	for _, r := range a.Routes {
		if r.Dst.Addr() == d.Addr && r.Dev != "eth1" {
			t.Errorf("a routes d over %s, want eth1 (the first path)", r.Dev)
		}
	}
	if len(p.Flows) != 2 || strings.Join(p.Flows[1].Path, ",") != "a--c,c--d" {
		t.Errorf("flows = %+v", p.Flows)
	}
	n.Flows[1].Owner = "other"
	if _, err := NewPlan(n, Options{Lab: "alt", Prefix: "tfe-"}, nil, 0); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "different next hops") {
		t.Errorf("different owners: %v, want the conflict", err)
	}
	// FirstPathWins (the L2 sandbox): the earlier flow's routes hold, the later
	// flow is recorded with its path.
	p, err = NewPlan(n, Options{Lab: "alt", Prefix: "tfe-", FirstPathWins: true}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, _ = p.Node("a")
	for _, r := range a.Routes {
		if r.Dst.Addr() == d.Addr && r.Dev != "eth1" {
			t.Errorf("first path wins: a routes d over %s, want eth1", r.Dev)
		}
	}
	if len(p.Flows) != 2 || strings.Join(p.Flows[1].Path, ",") != "a--c,c--d" {
		t.Errorf("first path wins: flows = %+v", p.Flows)
	}
}

// TestTCAckClass checks the fq model's ACK class on flow-tree seed 102, whose link
// r-2--r-1 carries data both ways: r-1's egress towards r-2 carries f2's and f4's data
// (slots 1, 3) and the ACKs of f5 and f6 (slots 4, 5), whose data go r-2 → r-1.
func TestTCAckClass(t *testing.T) {
	n, err := network.FlowTree(6, 6, 102)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPlan(n, Options{Lab: "ft", Prefix: "tfe-", Queue: QueueFQ, FlowSlots: 6}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	r1, _ := p.Node("r-1")
	var ifc PlanIface
	for _, i := range r1.Ifaces {
		if i.PeerNode == "r-2" {
			ifc = i
		}
	}
	if ifc.Name == "" {
		t.Fatal("r-1 has no interface towards r-2")
	}
	acks := p.acksVia("r-1", ifc)
	if !slices.Equal(acks.Slots, []int{4, 5}) {
		t.Fatalf("ACK slots %v, want [4 5] (f5, f6)", acks.Slots)
	}
	// f5's path: r-3--r-2 (50 Mb/s), r-2--r-1 (75); f6's: r-2--r-1, r-1--r-0, r-4--r-0~r
	// (75, 100, 100): ACKs of at most 66/1514 of 50 + 75 Mb/s.
	f := ackFraction
	if want := uint64(f*50e6 + f*75e6); acks.RateBps != want {
		t.Errorf("ACK rate %d b/s, want %d", acks.RateBps, want)
	}
	joined := strings.Join(tcBatch(p, r1), "\n")
	for _, want := range []string{
		fmt.Sprintf("dev %s parent 1:1 classid 1:3 htb rate %dbit ceil 75000000bit", ifc.Name, acks.RateBps),
		fmt.Sprintf("dev %s parent 1: protocol ip prio 1 u32 match ip protocol 6 0xff match ip sport 20004 0xffff flowid 1:3", ifc.Name),
		fmt.Sprintf("dev %s parent 1: protocol ip prio 1 u32 match ip protocol 6 0xff match ip sport 20005 0xffff flowid 1:3", ifc.Name),
		// The two crossing flows share what the ACK class and the 1% reserve leave.
		fmt.Sprintf("dev %s parent 1:1 classid 1:101 htb rate %dbit", ifc.Name, (75_000_000-750_000-acks.RateBps)/2),
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("r-1's batch lacks %q:\n%s", want, joined)
		}
	}
	// A direction no flow's ACKs cross has no ACK class: r-1's egress towards r-5
	// (r-5--r-1~r) carries nothing; f1's and f2's ACKs leave r-1 towards r-5.
	for _, i := range r1.Ifaces {
		if a := p.acksVia("r-1", i); i.PeerNode == "r-5" && !slices.Equal(a.Slots, []int{0, 1}) {
			t.Errorf("ACK slots towards r-5 %v, want [0 1] (f1, f2)", a.Slots)
		}
	}
	r3, _ := p.Node("r-3")
	if got := strings.Join(tcBatch(p, r3), "\n"); strings.Contains(got, "classid 1:3 ") {
		t.Errorf("r-3's egress (f5's data, no flow's ACKs) has an ACK class:\n%s", got)
	}
}
