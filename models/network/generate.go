package network

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// ErrSpec is wrapped by every error about a generator spec or generator parameter.
var ErrSpec = errors.New("invalid generator spec")

// DefaultContext is the ID of the one context every generator and importer creates.
const DefaultContext = "admin"

// Generator limits: they bound memory and time of a generated network.
const (
	MaxFatTreeK      = 64    // k=64: 5,120 switches and 65,536 hosts
	MaxLeaves        = 1024  // leaf-spine leaves
	MaxSpines        = 256   // leaf-spine spines
	MaxHostsPerLeaf  = 256   // leaf-spine hosts per leaf
	MaxRingNodes     = 65536 // ring nodes
	MaxWANNodes      = 5000  // Waxman nodes (the pair loop is quadratic)
	MaxGeneratedSize = 200000
)

// Link parameters of the generators (capacities in Gb/s, latencies in ms).
const (
	FatTreeCapacityGbps   = 10.0  // every fat-tree link (full bisection: uniform capacity)
	FatTreeLatencyMs      = 0.005 // 5 µs per hop inside a data centre
	LeafSpineFabricGbps   = 100.0 // leaf–spine links
	LeafSpineHostGbps     = 25.0  // host–leaf links
	LeafSpineLatencyMs    = 0.005
	RingCapacityGbps      = 10.0
	RingLatencyMs         = 1.0
	WANCapacityGbps       = 100.0
	WANSide               = 1000.0 // the Waxman plane is a WANSide × WANSide km square
	LatencyMsPerKm        = 0.005  // propagation in fibre, ~5 µs/km
	DefaultWaxmanAlpha    = 0.4
	DefaultWaxmanBeta     = 0.1
	ALTOIntraCapacityGbps = 10.0
	ALTOInterCapacityGbps = 10.0
	ALTOIntraLatencyMs    = 1.0
	ALTOInterLatencyMs    = 5.0
)

// GeneratorKinds lists the kinds Generate accepts.
var GeneratorKinds = []string{"fat-tree", "leaf-spine", "ring", "wan", "alto3", "flow-tree"}

// Generate builds a network from a spec "kind[:param=value,...]":
//
//	fat-tree:k=4                        FatTree(k)
//	leaf-spine:leaves=4,spines=2,hosts=2  LeafSpine(leaves, spines, hosts)
//	ring:n=8                            Ring(n)
//	wan:n=50[,alpha=0.4][,beta=0.1]     WAN(n, seed, alpha, beta); beta defaults to DefaultWaxmanBetaFor(n)
//	alto3                               ALTOThreeDomain()
//
// Only wan uses seed; the other generators are fully determined by their parameters.
// Errors wrap ErrSpec and name the kind and the offending parameter.
func Generate(spec string, seed int64) (*Network, error) {
	kind, rest, _ := strings.Cut(strings.TrimSpace(spec), ":")
	kind = strings.TrimSpace(kind)
	params, err := parseParams(kind, rest)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "fat-tree":
		k, err := params.int("k", 4)
		if err != nil {
			return nil, err
		}
		if err := params.done(); err != nil {
			return nil, err
		}
		return FatTree(k)
	case "leaf-spine":
		leaves, err1 := params.int("leaves", 4)
		spines, err2 := params.int("spines", 2)
		hosts, err3 := params.int("hosts", 2)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		if err := params.done(); err != nil {
			return nil, err
		}
		return LeafSpine(leaves, spines, hosts)
	case "ring":
		n, err := params.int("n", 8)
		if err != nil {
			return nil, err
		}
		if err := params.done(); err != nil {
			return nil, err
		}
		return Ring(n)
	case "wan":
		n, err1 := params.int("n", 50)
		alpha, err2 := params.float("alpha", DefaultWaxmanAlpha)
		beta, err3 := params.float("beta", DefaultWaxmanBetaFor(n))
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		if err := params.done(); err != nil {
			return nil, err
		}
		return WAN(n, seed, alpha, beta)
	case "flow-tree":
		n, err1 := params.int("n", 6)
		flows, err2 := params.int("flows", 6)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		if err := params.done(); err != nil {
			return nil, err
		}
		return FlowTree(n, flows, seed)
	case "alto3":
		if err := params.done(); err != nil {
			return nil, err
		}
		return ALTOThreeDomain()
	case "":
		return nil, fmt.Errorf("generate: %w: empty spec (want one of %s)", ErrSpec, strings.Join(GeneratorKinds, ", "))
	default:
		return nil, fmt.Errorf("generate: %w: unknown kind %q (want one of %s)", ErrSpec, kind, strings.Join(GeneratorKinds, ", "))
	}
}

// DefaultWaxmanBetaFor is the β Generate uses for wan when none is given:
// DefaultWaxmanBeta·min(1, 50/n), which keeps the mean degree near 4 for any n (a
// constant β makes the number of links grow with n²).
func DefaultWaxmanBetaFor(n int) float64 {
	if n <= 50 {
		return DefaultWaxmanBeta
	}
	return DefaultWaxmanBeta * 50 / float64(n)
}

// specParams holds the parsed parameters of a spec and tracks which were consumed.
type specParams struct {
	kind string
	vals map[string]string
	keys []string // in spec order
	used map[string]bool
}

func parseParams(kind, s string) (*specParams, error) {
	p := &specParams{kind: kind, vals: map[string]string{}, used: map[string]bool{}}
	if strings.TrimSpace(s) == "" {
		return p, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, fmt.Errorf("%s: %w: parameter %q is not name=value", kind, ErrSpec, kv)
		}
		if _, dup := p.vals[k]; dup {
			return nil, fmt.Errorf("%s: %w: parameter %q given twice", kind, ErrSpec, k)
		}
		p.vals[k] = v
		p.keys = append(p.keys, k)
	}
	return p, nil
}

func (p *specParams) int(name string, def int) (int, error) {
	p.used[name] = true
	v, ok := p.vals[name]
	if !ok {
		return def, nil
	}
	i, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s must be an integer, got %q", p.kind, ErrSpec, name, v)
	}
	return i, nil
}

func (p *specParams) float(name string, def float64) (float64, error) {
	p.used[name] = true
	v, ok := p.vals[name]
	if !ok {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s must be a number, got %q", p.kind, ErrSpec, name, v)
	}
	return f, nil
}

// done reports parameters that were given but not consumed.
func (p *specParams) done() error {
	for _, k := range p.keys {
		if !p.used[k] {
			known := make([]string, 0, len(p.used))
			for u := range p.used {
				known = append(known, u)
			}
			slices.Sort(known)
			if len(known) == 0 {
				return fmt.Errorf("%s: %w: unknown parameter %q (it takes none)", p.kind, ErrSpec, k)
			}
			return fmt.Errorf("%s: %w: unknown parameter %q (known: %s)", p.kind, ErrSpec, k, strings.Join(known, ", "))
		}
	}
	return nil
}

// builder assembles generated networks: it names endpoints eth1, eth2, ... per device
// in the order links are added, and names links "<a>--<b>".
type builder struct {
	n        *Network
	devIdx   map[string]int
	linkIDs  map[string]bool
	epType   string
	topology int
}

func newBuilder(topoID, topoName, epType string, devices, links int) *builder {
	n := &Network{
		Contexts:   []Context{{ID: DefaultContext, Name: DefaultContext}},
		Topologies: []Topology{{ID: topoID, Context: DefaultContext, Name: topoName}},
		Devices:    make([]Device, 0, devices),
		Links:      make([]Link, 0, links),
	}
	return &builder{
		n:       n,
		devIdx:  make(map[string]int, devices),
		linkIDs: make(map[string]bool, links),
		epType:  epType,
	}
}

// device adds a device and returns its index.
func (b *builder) device(id string, t DeviceType, ports int) int {
	drivers := []DriverKind{DriverGNMI}
	if t == DeviceHost {
		drivers = []DriverKind{DriverEmulated}
	}
	b.n.Devices = append(b.n.Devices, Device{
		ID:         id,
		Type:       t,
		Drivers:    drivers,
		Endpoints:  make([]EndPoint, 0, ports),
		OperStatus: StatusEnabled,
	})
	i := len(b.n.Devices) - 1
	b.devIdx[id] = i
	return i
}

// port adds the next endpoint eth<N> to a device and returns its ID.
func (b *builder) port(dev int) string {
	d := &b.n.Devices[dev]
	id := "eth" + strconv.Itoa(len(d.Endpoints)+1)
	d.Endpoints = append(d.Endpoints, EndPoint{ID: id, Type: b.epType})
	return id
}

// link connects devices a and z with a new link and returns its index.
func (b *builder) link(a, z string, capacity, latency float64) int {
	ai, zi := b.devIdx[a], b.devIdx[z]
	id := a + "--" + z
	for i := 2; b.linkIDs[id]; i++ {
		id = a + "--" + z + "-" + strconv.Itoa(i)
	}
	b.linkIDs[id] = true
	b.n.Links = append(b.n.Links, Link{
		ID: id,
		Endpoints: []EndPointRef{
			{Device: a, EndPoint: b.port(ai)},
			{Device: z, EndPoint: b.port(zi)},
		},
		CapacityGbps: capacity,
		LatencyMs:    latency,
		OperStatus:   StatusEnabled,
	})
	return len(b.n.Links) - 1
}

// finish fills the topology's member lists and returns the network.
func (b *builder) finish() *Network {
	t := &b.n.Topologies[b.topology]
	t.DeviceIDs = make([]string, len(b.n.Devices))
	for i, d := range b.n.Devices {
		t.DeviceIDs[i] = d.ID
	}
	t.LinkIDs = make([]string, len(b.n.Links))
	for i, l := range b.n.Links {
		t.LinkIDs[i] = l.ID
	}
	return b.n
}

// FatTree builds a k-ary fat-tree (Al-Fares et al.): (k/2)² core switches "core-<i>";
// k pods, each of k/2 aggregation switches "pod<p>-agg<i>" and k/2 edge switches
// "pod<p>-edge<i>"; k/2 hosts per edge switch "h-<p>-<e>-<h>", k³/4 hosts in all.
// Aggregation switch i of every pod connects to core switches i·k/2 … i·k/2+k/2−1; every
// edge switch connects to every aggregation switch of its pod. All links are
// FatTreeCapacityGbps with FatTreeLatencyMs. k must be even, 2 ≤ k ≤ MaxFatTreeK.
func FatTree(k int) (*Network, error) {
	if k < 2 || k%2 != 0 {
		return nil, fmt.Errorf("fat-tree: %w: k must be even and >= 2, got %d", ErrSpec, k)
	}
	if k > MaxFatTreeK {
		return nil, fmt.Errorf("fat-tree: %w: k must be <= %d, got %d", ErrSpec, MaxFatTreeK, k)
	}
	h := k / 2
	switches := h*h + k*k
	hosts := k * k * k / 4
	links := hosts + k*h*h + k*h*h
	b := newBuilder("fat-tree-k"+strconv.Itoa(k), fmt.Sprintf("fat-tree k=%d", k), "copper", switches+hosts, links)
	core := make([]string, h*h)
	for i := range core {
		core[i] = "core-" + strconv.Itoa(i)
		b.device(core[i], DeviceSwitch, k)
	}
	for p := range k {
		pod := "pod" + strconv.Itoa(p)
		aggs := make([]string, h)
		for i := range aggs {
			aggs[i] = pod + "-agg" + strconv.Itoa(i)
			b.device(aggs[i], DeviceSwitch, k)
			for j := range h {
				b.link(core[i*h+j], aggs[i], FatTreeCapacityGbps, FatTreeLatencyMs)
			}
		}
		for e := range h {
			edge := pod + "-edge" + strconv.Itoa(e)
			b.device(edge, DeviceSwitch, k)
			for _, agg := range aggs {
				b.link(agg, edge, FatTreeCapacityGbps, FatTreeLatencyMs)
			}
			for x := range h {
				host := fmt.Sprintf("h-%d-%d-%d", p, e, x)
				b.device(host, DeviceHost, 1)
				b.link(edge, host, FatTreeCapacityGbps, FatTreeLatencyMs)
			}
		}
	}
	return b.finish(), nil
}

// LeafSpine builds a two-tier Clos: spines "spine-<i>", leaves "leaf-<i>", each leaf
// linked to every spine (LeafSpineFabricGbps), and hostsPerLeaf hosts "h-<leaf>-<i>"
// per leaf (LeafSpineHostGbps). All latencies are LeafSpineLatencyMs.
// Requires 1 ≤ leaves ≤ MaxLeaves, 1 ≤ spines ≤ MaxSpines, 0 ≤ hostsPerLeaf ≤ MaxHostsPerLeaf.
func LeafSpine(leaves, spines, hostsPerLeaf int) (*Network, error) {
	switch {
	case leaves < 1 || leaves > MaxLeaves:
		return nil, fmt.Errorf("leaf-spine: %w: leaves must be in [1, %d], got %d", ErrSpec, MaxLeaves, leaves)
	case spines < 1 || spines > MaxSpines:
		return nil, fmt.Errorf("leaf-spine: %w: spines must be in [1, %d], got %d", ErrSpec, MaxSpines, spines)
	case hostsPerLeaf < 0 || hostsPerLeaf > MaxHostsPerLeaf:
		return nil, fmt.Errorf("leaf-spine: %w: hosts must be in [0, %d], got %d", ErrSpec, MaxHostsPerLeaf, hostsPerLeaf)
	}
	devices := spines + leaves*(1+hostsPerLeaf)
	if devices > MaxGeneratedSize {
		return nil, fmt.Errorf("leaf-spine: %w: %d devices exceed the limit of %d", ErrSpec, devices, MaxGeneratedSize)
	}
	b := newBuilder(fmt.Sprintf("leaf-spine-%dx%dx%d", leaves, spines, hostsPerLeaf),
		fmt.Sprintf("leaf-spine leaves=%d spines=%d hosts=%d", leaves, spines, hostsPerLeaf),
		"copper", devices, leaves*(spines+hostsPerLeaf))
	spineIDs := make([]string, spines)
	for i := range spineIDs {
		spineIDs[i] = "spine-" + strconv.Itoa(i)
		b.device(spineIDs[i], DeviceSwitch, leaves)
	}
	for l := range leaves {
		leaf := "leaf-" + strconv.Itoa(l)
		b.device(leaf, DeviceSwitch, spines+hostsPerLeaf)
		for _, s := range spineIDs {
			b.link(s, leaf, LeafSpineFabricGbps, LeafSpineLatencyMs)
		}
		for x := range hostsPerLeaf {
			host := fmt.Sprintf("h-%d-%d", l, x)
			b.device(host, DeviceHost, 1)
			b.link(leaf, host, LeafSpineHostGbps, LeafSpineLatencyMs)
		}
	}
	return b.finish(), nil
}

// Ring builds n routers "r-<i>" in a cycle, r-i linked to r-(i+1 mod n), each link
// RingCapacityGbps with RingLatencyMs. Requires 3 ≤ n ≤ MaxRingNodes.
func Ring(n int) (*Network, error) {
	if n < 3 || n > MaxRingNodes {
		return nil, fmt.Errorf("ring: %w: n must be in [3, %d], got %d", ErrSpec, MaxRingNodes, n)
	}
	b := newBuilder("ring-"+strconv.Itoa(n), fmt.Sprintf("ring n=%d", n), "copper", n, n)
	for i := range n {
		b.device("r-"+strconv.Itoa(i), DeviceRouter, 2)
	}
	for i := range n {
		b.link("r-"+strconv.Itoa(i), "r-"+strconv.Itoa((i+1)%n), RingCapacityGbps, RingLatencyMs)
	}
	return b.finish(), nil
}

// WAN builds a connected Waxman random graph of n routers "r-<i>" placed uniformly at
// random on a WANSide × WANSide km plane (Device.X, Device.Y, in km, rounded to metres).
//
// Connectivity is guaranteed by construction: first a spanning tree links each node
// i ≥ 1 to its nearest node among 0…i−1 (a geometric greedy tree); then every other
// pair (u, v) is linked with Waxman's probability β·exp(−d(u,v) / (α·L)), L being the
// plane's diagonal. Links carry WANCapacityGbps and a latency of LatencyMsPerKm per km
// of straight-line distance. The result depends only on (n, seed, alpha, beta).
// Requires 2 ≤ n ≤ MaxWANNodes, 0 < alpha, 0 ≤ beta ≤ 1.
func WAN(n int, seed int64, alpha, beta float64) (*Network, error) {
	switch {
	case n < 2 || n > MaxWANNodes:
		return nil, fmt.Errorf("wan: %w: n must be in [2, %d], got %d", ErrSpec, MaxWANNodes, n)
	case !(alpha > 0) || math.IsInf(alpha, 0):
		return nil, fmt.Errorf("wan: %w: alpha must be a finite number > 0, got %v", ErrSpec, alpha)
	case !(beta >= 0 && beta <= 1):
		return nil, fmt.Errorf("wan: %w: beta must be in [0, 1], got %v", ErrSpec, beta)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x7477696e666c6f77)) // "twinflow"
	b := newBuilder(fmt.Sprintf("wan-%d-s%d", n, seed), fmt.Sprintf("wan n=%d seed=%d alpha=%g beta=%g", n, seed, alpha, beta), "optical", n, 2*n)
	ids := make([]string, n)
	xs, ys := make([]float64, n), make([]float64, n)
	for i := range n {
		ids[i] = "r-" + strconv.Itoa(i)
		xs[i] = math.Round(rng.Float64()*WANSide*1000) / 1000
		ys[i] = math.Round(rng.Float64()*WANSide*1000) / 1000
		d := b.device(ids[i], DeviceRouter, 4)
		b.n.Devices[d].X, b.n.Devices[d].Y = xs[i], ys[i]
	}
	dist := func(i, j int) float64 { return math.Hypot(xs[i]-xs[j], ys[i]-ys[j]) }
	lat := func(i, j int) float64 { return math.Round(dist(i, j)*LatencyMsPerKm*1e6) / 1e6 }
	linked := make(map[[2]int]bool, 2*n)
	for i := 1; i < n; i++ {
		best := 0
		for j := 1; j < i; j++ {
			if dist(i, j) < dist(i, best) {
				best = j
			}
		}
		linked[[2]int{best, i}] = true
		b.link(ids[best], ids[i], WANCapacityGbps, lat(best, i))
	}
	l := WANSide * math.Sqrt2
	for u := range n {
		for v := u + 1; v < n; v++ {
			p := beta * math.Exp(-dist(u, v)/(alpha*l))
			// Draw for every pair, even tree pairs, so the stream does not depend on the tree.
			if rng.Float64() < p && !linked[[2]int{u, v}] {
				linked[[2]int{u, v}] = true
				b.link(ids[u], ids[v], WANCapacityGbps, lat(u, v))
			}
		}
	}
	return b.finish(), nil
}

// ALTO property labels set on the NFVI PoP devices of ALTOThreeDomain, after the
// Property Map of seed 003 (draft-lachos-alto-broker-assisted), appendix A, Table 1.
const (
	LabelALTOPID     = "alto.pid"
	LabelALTOCPU     = "alto.cpu"
	LabelALTOMem     = "alto.mem"
	LabelALTOStorage = "alto.storage"
	LabelALTONF      = "alto.nf"   // comma-separated network functions
	LabelALTOPort    = "alto.port" // service access point
	LabelRole        = "role"      // "sap", "nfvi", "pe", "border", "core"
	LabelInterDomain = "inter-domain"
)

// ALTOThreeDomain builds the three-domain scenario of the ALTO broker draft (seed 003,
// appendix A): administrative domains AS1, AS2 and AS3, where AS2 is a transit provider
// so the domain-level topology is AS1–AS2–AS3 (no AS1–AS3 link). Per domain:
//
//	AS1: as1-sap1 (SAP1) — as1-pe — as1-br (border);  as1-nfvi (NF1, NF3; cpu 50, mem 60, storage 70) on as1-pe
//	AS2: as2-br1 (border to AS1) — as2-core — as2-br2 (border to AS3);  as2-nfvi (NF2; 10, 20, 30) on as2-core
//	AS3: as3-br (border) — as3-pe — as3-sap2 (SAP2);  as3-nfvi (NF1, NF3; 80, 90, 100) on as3-pe
//
// and the inter-domain links as1-br—as2-br1 and as2-br2—as3-br (label inter-domain=true).
// Device.Domain is "AS1", "AS2" or "AS3"; NFVI PoPs carry the ALTO Property Map values as
// labels (LabelALTOCPU, …); SAP and NFVI PoPs are hosts, the rest packet routers. The
// draft gives no capacities or latencies: intra-domain links are ALTOIntraCapacityGbps /
// ALTOIntraLatencyMs, inter-domain links ALTOInterCapacityGbps / ALTOInterLatencyMs.
func ALTOThreeDomain() (*Network, error) {
	b := newBuilder("alto3", "ALTO broker three-domain example (AS1-AS2-AS3)", "copper", 13, 13)
	type dev struct {
		id, domain, role string
		t                DeviceType
		labels           map[string]string
	}
	nfvi := func(as, cpu, mem, storage, nf, port string) map[string]string {
		m := map[string]string{LabelALTOPID: "pid:" + as, LabelALTOCPU: cpu, LabelALTOMem: mem, LabelALTOStorage: storage, LabelALTONF: nf}
		if port != "" {
			m[LabelALTOPort] = port
		}
		return m
	}
	devs := []dev{
		{"as1-sap1", "AS1", "sap", DeviceHost, map[string]string{LabelALTOPort: "SAP1"}},
		{"as1-pe", "AS1", "pe", DeviceRouter, nil},
		{"as1-nfvi", "AS1", "nfvi", DeviceHost, nfvi("AS1", "50.0", "60.0", "70.0", "NF1,NF3", "SAP1")},
		{"as1-br", "AS1", "border", DeviceRouter, nil},
		{"as2-br1", "AS2", "border", DeviceRouter, nil},
		{"as2-core", "AS2", "core", DeviceRouter, nil},
		{"as2-nfvi", "AS2", "nfvi", DeviceHost, nfvi("AS2", "10.0", "20.0", "30.0", "NF2", "")},
		{"as2-br2", "AS2", "border", DeviceRouter, nil},
		{"as3-br", "AS3", "border", DeviceRouter, nil},
		{"as3-pe", "AS3", "pe", DeviceRouter, nil},
		{"as3-nfvi", "AS3", "nfvi", DeviceHost, nfvi("AS3", "80.0", "90.0", "100.0", "NF1,NF3", "SAP2")},
		{"as3-sap2", "AS3", "sap", DeviceHost, map[string]string{LabelALTOPort: "SAP2"}},
	}
	for _, d := range devs {
		i := b.device(d.id, d.t, 3)
		dd := &b.n.Devices[i]
		dd.Domain = d.domain
		dd.Labels = map[string]string{LabelRole: d.role}
		for k, v := range d.labels {
			dd.Labels[k] = v
		}
		if d.labels[LabelALTOPID] == "" {
			dd.Labels[LabelALTOPID] = "pid:" + d.domain
		}
	}
	intra := [][2]string{
		{"as1-sap1", "as1-pe"}, {"as1-pe", "as1-nfvi"}, {"as1-pe", "as1-br"},
		{"as2-br1", "as2-core"}, {"as2-core", "as2-nfvi"}, {"as2-core", "as2-br2"},
		{"as3-br", "as3-pe"}, {"as3-pe", "as3-nfvi"}, {"as3-pe", "as3-sap2"},
	}
	for _, p := range intra {
		b.link(p[0], p[1], ALTOIntraCapacityGbps, ALTOIntraLatencyMs)
	}
	for _, p := range [][2]string{{"as1-br", "as2-br1"}, {"as2-br2", "as3-br"}} {
		i := b.link(p[0], p[1], ALTOInterCapacityGbps, ALTOInterLatencyMs)
		b.n.Links[i].Labels = map[string]string{LabelInterDomain: "true"}
	}
	return b.finish(), nil
}
