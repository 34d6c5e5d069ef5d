package dataset

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// Seeds of the random streams, mixed with the spec's seed and the scenario or sample
// index so that every scenario and sample is independent of the others.
const (
	streamScenario = 0x5ce7a1d0
	streamSample   = 0x5a3b1e00
)

func rngFor(seed int64, stream uint64, index int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed)^stream, uint64(index)*0x9e3779b97f4a7c15+stream))
}

// maxFailureTries bounds the candidate links tried per scenario when drawing failures.
const maxFailureTries = 256

// scenario is a topology after failures, with its routing.
type scenario struct {
	index     int
	topology  string // the TopologySpec it came from
	net       *network.Network
	nodes     []string // device IDs; the node number is the index
	endpoints []int32  // nodes flows run between
	failed    []string // failed link IDs, sorted

	links    []bottleneck.Link // directed links (both directions of every live link)
	from, to []int32           // node numbers of each directed link
	latency  []float64         // ms, per directed link
	// paths[s*n+d] is the path of the pair (s, d) as directed link indices and IDs;
	// nil when the pair is not routed (not both endpoints, or s == d).
	paths   [][]int32
	pathIDs [][]string
}

func (sc *scenario) n() int { return len(sc.nodes) }

// buildScenario derives scenario j of s. imp holds the imported networks.
func buildScenario(s *Spec, imp Imported, j int) (*scenario, error) {
	rng := rngFor(s.Seed, streamScenario, j)
	ts := s.Topologies[j%len(s.Topologies)]
	var base *network.Network
	var err error
	label := ts.Generator
	if ts.File != "" {
		label = "file:" + ts.File
		src, ok := imp[ts.File]
		if !ok {
			return nil, fmt.Errorf("dataset: topology file %q was not loaded", ts.File)
		}
		base = cloneTopology(src)
	} else {
		if base, err = network.Generate(ts.Generator, int64(rng.Uint64()>>1)); err != nil {
			return nil, fmt.Errorf("dataset: topologies[%d]: %w", j%len(s.Topologies), err)
		}
	}
	if len(base.Devices) > MaxNodes {
		return nil, fmt.Errorf("%w: topology %q has %d devices, at most %d", ErrSpec, label, len(base.Devices), MaxNodes)
	}
	sc := &scenario{index: j, topology: label, net: base}
	idx := make(map[string]int32, len(base.Devices))
	hosts := []int32{}
	for i, d := range base.Devices {
		sc.nodes = append(sc.nodes, d.ID)
		idx[d.ID] = int32(i)
		if d.Type == network.DeviceHost {
			hosts = append(hosts, int32(i))
		}
	}
	if len(hosts) >= 2 {
		sc.endpoints = hosts
	} else {
		for i := range sc.nodes {
			sc.endpoints = append(sc.endpoints, int32(i))
		}
	}
	if len(sc.endpoints) < 2 {
		return nil, fmt.Errorf("%w: topology %q has fewer than two endpoints", ErrSpec, label)
	}
	// live links: enabled, two known endpoints
	live := make([]int, 0, len(base.Links))
	isLive := make([]bool, len(base.Links))
	ends := make([][2]int32, len(base.Links))
	for i, l := range base.Links {
		if l.OperStatus == network.StatusDisabled || len(l.Endpoints) != 2 {
			continue
		}
		a, okA := idx[l.Endpoints[0].Device]
		b, okB := idx[l.Endpoints[1].Device]
		if !okA || !okB || a == b {
			continue
		}
		ends[i] = [2]int32{a, b}
		live = append(live, i)
		isLive[i] = true
	}
	// failures: k links among those whose loss keeps the endpoints connected
	k := 0
	if s.Failures.Max > 0 {
		k = rng.IntN(s.Failures.Max + 1)
	}
	down := make([]bool, len(base.Links))
	if k > 0 {
		perm := rng.Perm(len(live))
		for tries, p := range perm {
			// bound the connectivity checks (each is O(V+E)): in a topology where few
			// links are safe to lose (a ring), a scenario may get fewer failures
			if len(sc.failed) == k || tries >= maxFailureTries {
				break
			}
			li := live[p]
			down[li] = true
			if !connected(len(sc.nodes), live, ends, down, sc.endpoints) {
				down[li] = false
				continue
			}
			sc.failed = append(sc.failed, base.Links[li].ID)
		}
		slices.Sort(sc.failed)
	}
	if len(sc.failed) > 0 {
		kept := base.Links[:0:0]
		for i, l := range base.Links {
			if !down[i] {
				kept = append(kept, l)
			}
		}
		nn := *base
		nn.Links = kept
		nn.Flows = nil
		sc.net = &nn
	}
	linkIdx := map[string]int32{}
	for i, l := range base.Links {
		if down[i] || !isLive[i] {
			continue
		}
		fwd, rev, _ := network.LinkDirections(l)
		for _, d := range []struct {
			id   string
			a, b int32
		}{{fwd.ID, ends[i][0], ends[i][1]}, {rev.ID, ends[i][1], ends[i][0]}} {
			linkIdx[d.id] = int32(len(sc.links))
			sc.links = append(sc.links, bottleneck.Link{ID: d.id, Capacity: l.CapacityGbps})
			sc.from = append(sc.from, d.a)
			sc.to = append(sc.to, d.b)
			sc.latency = append(sc.latency, l.LatencyMs)
		}
	}
	n := sc.n()
	sc.paths = make([][]int32, n*n)
	sc.pathIDs = make([][]string, n*n)
	set := func(a, b int32, p []string) error {
		ip := make([]int32, len(p))
		for h, id := range p {
			li, ok := linkIdx[id]
			if !ok {
				return fmt.Errorf("dataset: topology %q: route %s -> %s uses unknown link %q", label, sc.nodes[a], sc.nodes[b], id)
			}
			ip[h] = li
		}
		sc.paths[int(a)*n+int(b)] = ip
		sc.pathIDs[int(a)*n+int(b)] = p
		return nil
	}
	if s.Routing == string(bottleneck.RouteShortest) {
		// one Dijkstra per source (least latency, as bottleneck.Router's shortest mode)
		g, err := routing.NewGraph(sc.net)
		if err != nil {
			return nil, fmt.Errorf("dataset: topology %q: %w", label, err)
		}
		for _, a := range sc.endpoints {
			all, err := g.ShortestFrom(sc.nodes[a], routing.Options{Metric: routing.Latency})
			if err != nil {
				return nil, fmt.Errorf("dataset: topology %q: %w", label, err)
			}
			for _, b := range sc.endpoints {
				if a == b {
					continue
				}
				p, ok := all[sc.nodes[b]]
				if !ok {
					return nil, fmt.Errorf("dataset: topology %q: no route %s -> %s", label, sc.nodes[a], sc.nodes[b])
				}
				if err := set(a, b, p.Links); err != nil {
					return nil, err
				}
			}
		}
		return sc, nil
	}
	// ECMP: hop count, hashed per src-dst pair (RouteNet holds one path per pair)
	router, err := bottleneck.NewRouter(sc.net, bottleneck.RouteECMP)
	if err != nil {
		return nil, fmt.Errorf("dataset: topology %q: %w", label, err)
	}
	for _, a := range sc.endpoints {
		for _, b := range sc.endpoints {
			if a == b {
				continue
			}
			f := network.Flow{ID: "pair-" + strconv.Itoa(int(a)) + "-" + strconv.Itoa(int(b)), Src: sc.nodes[a], Dst: sc.nodes[b]}
			p, err := router.Route(f)
			if err != nil {
				return nil, fmt.Errorf("dataset: topology %q: no route %s -> %s: %w", label, f.Src, f.Dst, err)
			}
			if err := set(a, b, p); err != nil {
				return nil, err
			}
		}
	}
	return sc, nil
}

// cloneTopology copies the devices and links of n (flows are dropped: samples draw
// their own).
func cloneTopology(n *network.Network) *network.Network {
	c := *n
	c.Devices = slices.Clone(n.Devices)
	c.Links = slices.Clone(n.Links)
	c.Flows = nil
	return &c
}

// connected says whether every endpoint is reachable from the first one over the
// links in live that are not down.
func connected(nodes int, live []int, ends [][2]int32, down []bool, endpoints []int32) bool {
	adj := make([][]int32, nodes)
	for _, li := range live {
		if down[li] {
			continue
		}
		a, b := ends[li][0], ends[li][1]
		adj[a] = append(adj[a], b)
		adj[b] = append(adj[b], a)
	}
	seen := make([]bool, nodes)
	stack := []int32{endpoints[0]}
	seen[endpoints[0]] = true
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range adj[v] {
			if !seen[w] {
				seen[w] = true
				stack = append(stack, w)
			}
		}
	}
	for _, e := range endpoints {
		if !seen[e] {
			return false
		}
	}
	return true
}
