// Package routing computes paths over a network.Network: shortest (latency or hop
// weighted), k-shortest (Yen), constrained (minimum available bandwidth, maximum
// latency) and ECMP (a deterministic per-hop hash of the flow ID among equal-cost next
// hops), with link and device exclusions for failures. Paths are sequences of directed
// link IDs (network.DirectedLinkID), the bottleneck model's resources.
//
// Shortest, k-shortest and constrained paths run gonum's Dijkstra and Yen algorithms on
// a gonum weighted directed graph (one vertex per device, one edge per device pair:
// the cheapest of any parallel links). ECMP uses distances to the destination from a
// reverse Dijkstra over the directed link adjacency, cached per destination, so that
// routing many flows costs one search per destination.
//
// The package is pure: no I/O, clocks or globals; results are deterministic.
package routing

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/iterator"
	"gonum.org/v1/gonum/graph/path"
	"gonum.org/v1/gonum/graph/simple"

	"github.com/twinflow/twinflow/models/network"
)

// Sentinel errors.
var (
	ErrUnknownDevice = errors.New("routing: unknown device")
	ErrNoPath        = errors.New("routing: no path")
	ErrInvalid       = errors.New("routing: invalid input")
)

// Metric is the edge weight of path searches.
type Metric string

// Metrics.
const (
	Latency Metric = "latency" // link latency in ms (a small floor keeps zero-latency links from forming free detours)
	Hops    Metric = "hops"    // 1 per link
)

// latencyFloor is the weight of a zero-latency link under the Latency metric.
const latencyFloor = 1e-6

// Options select the metric and exclusions of a search. The zero value routes by hop
// count with nothing excluded.
type Options struct {
	Metric Metric
	// ExcludeLinks holds link IDs (both directions excluded) or directed link IDs
	// (one direction excluded).
	ExcludeLinks map[string]bool
	// ExcludeDevices holds device IDs no path may cross (as source or destination
	// either).
	ExcludeDevices map[string]bool
	// Exclude, if set, is asked about each directed link ID as well (for example
	// "has this link failed?").
	Exclude func(directedLinkID string) bool
	// ExcludeIndex, if set, excludes the directed links i with ExcludeIndex[i] true
	// (indices as Graph.LinkIndex; len(ExcludeIndex) must be Graph.NumLinks()): the
	// same exclusions as an Exclude predicate, without a string lookup per link.
	ExcludeIndex []bool
	// mask, if set, excludes directed links by index (built once per TE request).
	mask []bool
}

// Path is a route.
type Path struct {
	Devices   []string `json:"devices"`
	Links     []string `json:"links"` // directed link IDs
	Weight    float64  `json:"weight"`
	LatencyMs float64  `json:"latency_ms"`
	// MinAvailGbps is the smallest available bandwidth (capacity − used) along it.
	MinAvailGbps float64 `json:"min_avail_gbps"`
}

// Graph is the directed multigraph of a network: devices and directed links.
type Graph struct {
	devs   []string
	devIdx map[string]int32
	eID    []string // directed link ID
	eIdx   map[string]int32
	eLink  []string // underlying link ID
	eFrom  []int32
	eTo    []int32
	eLat   []float64
	eCap   []float64
	eAvail []float64
	out    [][]int32 // per device, its outgoing links: slices of adjE
	in     [][]int32
	// The outgoing links of every device in one array (device u's are
	// adjE[adjOff[u]:adjOff[u+1]], the order of out[u]) and their heads (adjTo[k] =
	// eTo[adjE[k]]): a search reads a device's links and heads in sequence.
	adjOff []int32
	adjE   []int32
	adjTo  []int32
}

// NewGraph builds the graph of n. Links whose endpoints name unknown devices are an
// error naming the link. Down links (oper status disabled) are kept; exclude them in
// Options if needed. O(|V| + |E|).
func NewGraph(n *network.Network) (*Graph, error) {
	g := &Graph{devIdx: make(map[string]int32, len(n.Devices))}
	for i, d := range n.Devices {
		if _, dup := g.devIdx[d.ID]; dup {
			return nil, fmt.Errorf("%w: devices[%d] %q: duplicate device ID", ErrInvalid, i, d.ID)
		}
		g.devIdx[d.ID] = int32(len(g.devs))
		g.devs = append(g.devs, d.ID)
	}
	g.out = make([][]int32, len(g.devs))
	g.in = make([][]int32, len(g.devs))
	for i, l := range n.Links {
		fwd, rev, ok := network.LinkDirections(l)
		if !ok {
			return nil, fmt.Errorf("%w: links[%d] %q: a link needs exactly two endpoints", ErrInvalid, i, l.ID)
		}
		for _, d := range []network.DirectedLink{fwd, rev} {
			a, okA := g.devIdx[d.From.Device]
			b, okB := g.devIdx[d.To.Device]
			if !okA || !okB {
				return nil, fmt.Errorf("%w: links[%d] %q: endpoint device not found", ErrInvalid, i, l.ID)
			}
			e := int32(len(g.eID))
			g.eID = append(g.eID, d.ID)
			g.eLink = append(g.eLink, l.ID)
			g.eFrom = append(g.eFrom, a)
			g.eTo = append(g.eTo, b)
			g.eLat = append(g.eLat, l.LatencyMs)
			g.eCap = append(g.eCap, l.CapacityGbps)
			g.eAvail = append(g.eAvail, l.CapacityGbps-l.UsedGbps)
			g.out[a] = append(g.out[a], e)
			g.in[b] = append(g.in[b], e)
		}
	}
	g.eIdx = make(map[string]int32, len(g.eID))
	for i, id := range g.eID {
		g.eIdx[id] = int32(i)
	}
	// each device's outgoing links sorted by directed link ID: ECMP's hash picks among
	// equal-cost next hops in this order
	for _, out := range g.out {
		slices.SortFunc(out, func(a, b int32) int { return strings.Compare(g.eID[a], g.eID[b]) })
	}
	g.adjOff = make([]int32, len(g.devs)+1)
	g.adjE = make([]int32, 0, len(g.eID))
	g.adjTo = make([]int32, 0, len(g.eID))
	for u, out := range g.out {
		g.adjE = append(g.adjE, out...)
		for _, e := range out {
			g.adjTo = append(g.adjTo, g.eTo[e])
		}
		g.adjOff[u+1] = int32(len(g.adjE))
		g.out[u] = g.adjE[g.adjOff[u]:g.adjOff[u+1]:g.adjOff[u+1]]
	}
	return g, nil
}

// DirectedLinksOf returns the directed link IDs leaving or entering device id (a
// device failure fails all of them), sorted.
func (g *Graph) DirectedLinksOf(id string) ([]string, error) {
	d, ok := g.devIdx[id]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownDevice, id)
	}
	var out []string
	for _, e := range g.out[d] {
		out = append(out, g.eID[e])
	}
	for _, e := range g.in[d] {
		out = append(out, g.eID[e])
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Devices returns the number of devices.
func (g *Graph) Devices() int { return len(g.devs) }

func (g *Graph) weight(e int32, m Metric) float64 {
	if m == Latency {
		return math.Max(g.eLat[e], latencyFloor)
	}
	return 1
}

func (g *Graph) usable(e int32, o *Options, minAvail float64) bool {
	if o.mask != nil && o.mask[e] {
		return false
	}
	if o.ExcludeIndex != nil && o.ExcludeIndex[e] {
		return false
	}
	// The length tests skip the ID loads and lookups when nothing is excluded (the
	// common case; the loads cost most of a search on a 1,000-device graph).
	if len(o.ExcludeLinks) > 0 && (o.ExcludeLinks[g.eID[e]] || o.ExcludeLinks[g.eLink[e]]) {
		return false
	}
	if o.Exclude != nil && o.Exclude(g.eID[e]) {
		return false
	}
	if len(o.ExcludeDevices) > 0 && (o.ExcludeDevices[g.devs[g.eFrom[e]]] || o.ExcludeDevices[g.devs[g.eTo[e]]]) {
		return false
	}
	return g.eAvail[e] >= minAvail
}

func (g *Graph) dev(id string, o *Options) (int32, error) {
	d, ok := g.devIdx[id]
	if !ok {
		return -1, fmt.Errorf("%w: %q", ErrUnknownDevice, id)
	}
	if o.ExcludeDevices[id] {
		return -1, fmt.Errorf("%w: device %q is excluded", ErrNoPath, id)
	}
	return d, nil
}

// gonumGraph builds the gonum graph for o: one weighted edge per ordered device pair,
// the cheapest usable parallel link (ties: smallest directed link ID), which it
// remembers in best.
func (g *Graph) gonumGraph(o *Options, minAvail float64) (ordered, map[[2]int32]int32) {
	wg := simple.NewWeightedDirectedGraph(0, math.Inf(1))
	for i := range g.devs {
		wg.AddNode(simple.Node(i))
	}
	best := map[[2]int32]int32{}
	for e := range g.eID {
		e := int32(e)
		if !g.usable(e, o, minAvail) || g.eFrom[e] == g.eTo[e] {
			continue
		}
		k := [2]int32{g.eFrom[e], g.eTo[e]}
		if b, ok := best[k]; ok {
			wb, we := g.weight(b, o.Metric), g.weight(e, o.Metric)
			if wb < we || (wb == we && g.eID[b] < g.eID[e]) {
				continue
			}
		}
		best[k] = e
	}
	for k, e := range best {
		wg.SetWeightedEdge(wg.NewWeightedEdge(simple.Node(k[0]), simple.Node(k[1]), g.weight(e, o.Metric)))
	}
	return ordered{wg}, best
}

// ordered is a gonum graph whose node iterators are sorted by ID, so that Dijkstra and
// Yen break ties between equal-weight paths the same way on every run (simple graphs
// iterate maps).
type ordered struct {
	*simple.WeightedDirectedGraph
}

func sortedNodes(it graph.Nodes) graph.Nodes {
	ns := graph.NodesOf(it)
	slices.SortFunc(ns, func(a, b graph.Node) int { return cmpInt64(a.ID(), b.ID()) })
	return iterator.NewOrderedNodes(ns)
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// From returns the successors of id in ID order.
func (o ordered) From(id int64) graph.Nodes { return sortedNodes(o.WeightedDirectedGraph.From(id)) }

// Nodes returns the nodes in ID order.
func (o ordered) Nodes() graph.Nodes { return sortedNodes(o.WeightedDirectedGraph.Nodes()) }

// To returns the predecessors of id in ID order.
func (o ordered) To(id int64) graph.Nodes { return sortedNodes(o.WeightedDirectedGraph.To(id)) }

func (g *Graph) toPath(nodes []graph.Node, best map[[2]int32]int32, m Metric) Path {
	p := Path{MinAvailGbps: math.Inf(1)}
	for i, n := range nodes {
		p.Devices = append(p.Devices, g.devs[n.ID()])
		if i == 0 {
			continue
		}
		e := best[[2]int32{int32(nodes[i-1].ID()), int32(n.ID())}]
		p.Links = append(p.Links, g.eID[e])
		p.Weight += g.weight(e, m)
		p.LatencyMs += g.eLat[e]
		p.MinAvailGbps = math.Min(p.MinAvailGbps, g.eAvail[e])
	}
	if len(p.Links) == 0 {
		p.MinAvailGbps = 0
	}
	return p
}

// Shortest returns a least-weight path from src to dst (gonum Dijkstra).
// O((|V| + |E|) log |V|).
func (g *Graph) Shortest(src, dst string, o Options) (Path, error) {
	return g.shortest(src, dst, &o, math.Inf(-1))
}

func (g *Graph) shortest(src, dst string, o *Options, minAvail float64) (Path, error) {
	s, err := g.dev(src, o)
	if err != nil {
		return Path{}, err
	}
	t, err := g.dev(dst, o)
	if err != nil {
		return Path{}, err
	}
	wg, best := g.gonumGraph(o, minAvail)
	nodes, _ := path.DijkstraFromTo(simple.Node(s), simple.Node(t), wg)
	if len(nodes) == 0 {
		return Path{}, fmt.Errorf("%w: from %q to %q", ErrNoPath, src, dst)
	}
	return g.toPath(nodes, best, o.Metric), nil
}

// KShortest returns up to k loopless paths from src to dst in increasing weight
// (gonum's Yen algorithm). O(k·|V|·(|V| + |E|) log |V|).
func (g *Graph) KShortest(src, dst string, k int, o Options) ([]Path, error) {
	return g.kShortest(src, dst, k, &o, math.Inf(-1))
}

func (g *Graph) kShortest(src, dst string, k int, o *Options, minAvail float64) ([]Path, error) {
	if k < 1 {
		return nil, fmt.Errorf("%w: k must be >= 1, got %d", ErrInvalid, k)
	}
	s, err := g.dev(src, o)
	if err != nil {
		return nil, err
	}
	t, err := g.dev(dst, o)
	if err != nil {
		return nil, err
	}
	wg, best := g.gonumGraph(o, minAvail)
	ps := path.YenKShortestPaths(wg, k, math.Inf(1), simple.Node(s), simple.Node(t))
	if len(ps) == 0 {
		return nil, fmt.Errorf("%w: from %q to %q", ErrNoPath, src, dst)
	}
	out := make([]Path, len(ps))
	for i, p := range ps {
		out[i] = g.toPath(p, best, o.Metric)
	}
	return out, nil
}

// Constraints restrict a constrained search.
type Constraints struct {
	// MinAvailGbps excludes links whose available bandwidth (capacity − used) is lower.
	MinAvailGbps float64
	// MaxLatencyMs, if > 0, bounds the path's total latency.
	MaxLatencyMs float64
	// MaxCandidates bounds the k-shortest candidates examined for the latency bound
	// (default 16).
	MaxCandidates int
}

// Constrained returns the least-weight path meeting c: links without MinAvailGbps
// available are pruned, then k-shortest candidates are scanned in weight order for the
// first within MaxLatencyMs. With the Latency metric the first candidate decides.
func (g *Graph) Constrained(src, dst string, c Constraints, o Options) (Path, error) {
	if c.MinAvailGbps < 0 || c.MaxLatencyMs < 0 {
		return Path{}, fmt.Errorf("%w: constraints must be >= 0", ErrInvalid)
	}
	if c.MaxLatencyMs == 0 {
		return g.shortest(src, dst, &o, c.MinAvailGbps)
	}
	k := c.MaxCandidates
	if k <= 0 {
		k = 16
	}
	if o.Metric == Latency {
		k = 1
	}
	ps, err := g.kShortest(src, dst, k, &o, c.MinAvailGbps)
	if err != nil {
		return Path{}, err
	}
	for _, p := range ps {
		if p.LatencyMs <= c.MaxLatencyMs {
			return p, nil
		}
	}
	return Path{}, fmt.Errorf("%w: from %q to %q within %v ms and %v Gb/s available", ErrNoPath, src, dst, c.MaxLatencyMs, c.MinAvailGbps)
}

// ECMP routes flows over equal-cost multipaths: at every hop, among the usable links
// whose head is on a least-weight path to the destination, one is chosen by a hash of
// the flow ID and the hop's device (the per-hop hashing of real routers).
// Distances to each destination are computed once (reverse Dijkstra, O((|V| + |E|)
// log |V|)) and cached; routing a flow then costs O(path length · degree).
type ECMP struct {
	g    *Graph
	o    Options
	hops bool        // o.Metric is Hops: every link weighs 1 (tight without the metric's string compare)
	dist [][]float64 // per destination device: its distances, once computed (nil before)
	// ex marks the directed links o excludes (computed once: o's exclusions must not
	// change during the router's life, as its distances are cached); exList lists them
	ex     []bool
	exList []int32
	// base, if set, is a router with the same metric and no exclusions whose cached
	// distances are reused where the exclusions do not change them (see Derive)
	base *ECMP
	// sc is the scratch space of repairs and searches, reused across destinations
	// (and, through DeriveReusing, across derived routers)
	sc *ecmpScratch
}

// ecmpScratch holds the working storage of distance computations: the repaired or
// computed distance vectors are carved from chunks (kept across DeriveReusing), the
// rest is per-computation scratch returned to a clean state after each use.
type ecmpScratch struct {
	chunks [][]float64 // each holds chunkVecs vectors of |V| distances
	used   int         // vectors handed out
	aff    []bool      // per device: affected by the exclusions (all false between uses)
	list   []int32
	stack  []int32
	h      minHeap
	cand   []int32 // a hop's equal-cost candidates (Route)
}

// chunkVecs is the number of distance vectors per chunk of ecmpScratch.
const chunkVecs = 32

// vec returns a distance vector of length nv from the chunks, valid until the
// scratch is reset (DeriveReusing).
func (sc *ecmpScratch) vec(nv int) []float64 {
	c, i := sc.used/chunkVecs, sc.used%chunkVecs
	if c == len(sc.chunks) {
		sc.chunks = append(sc.chunks, make([]float64, chunkVecs*nv))
	}
	sc.used++
	return sc.chunks[c][i*nv : (i+1)*nv : (i+1)*nv]
}

// NewECMP returns an ECMP router over g with o. Distances to a destination are
// computed (one Dijkstra) on its first use and cached.
func (g *Graph) NewECMP(o Options) *ECMP {
	return g.newECMP(o, nil)
}

// newECMP is NewECMP reusing prev's storage when prev is not nil.
func (g *Graph) newECMP(o Options, prev *ECMP) *ECMP {
	var r *ECMP
	if prev != nil && prev.g == g && prev.sc != nil {
		clear(prev.dist)
		*prev = ECMP{g: g, o: o, dist: prev.dist, ex: prev.ex, exList: prev.exList[:0], sc: prev.sc}
		r = prev
	} else {
		r = &ECMP{g: g, o: o, dist: make([][]float64, len(g.devs))}
	}
	r.hops = o.Metric != Latency
	if r.sc == nil {
		r.sc = &ecmpScratch{}
	}
	r.sc.used = 0
	if o.Exclude != nil || len(o.ExcludeLinks) > 0 || len(o.ExcludeDevices) > 0 || o.ExcludeIndex != nil {
		if cap(r.ex) >= len(g.eID) {
			r.ex = r.ex[:len(g.eID)]
		} else {
			r.ex = make([]bool, len(g.eID))
		}
		for e := range g.eID {
			x := !g.usable(int32(e), &o, math.Inf(-1))
			r.ex[e] = x
			if x {
				r.exList = append(r.exList, int32(e))
			}
		}
	} else {
		r.ex, r.exList = nil, nil
	}
	return r
}

// Derive returns an ECMP router for o (r's metric, more exclusions — failed links,
// say) that reuses r's cached distances to every destination for which the excluded
// links leave all distances unchanged: each excluded link either is on no shortest
// path to it or leaves its tail another usable link on one. Only destinations where a
// failure lengthens some distance cost a Dijkstra, so rerouting around one failure in
// a redundant fabric costs little more than walking the new paths. r must have no
// exclusions of its own. To exclude failed links, Options.ExcludeIndex costs one
// look-up per link less than an Exclude predicate.
func (r *ECMP) Derive(o Options) *ECMP {
	return r.DeriveReusing(nil, o)
}

// DeriveReusing is Derive reusing the storage of prev (a router derived earlier from
// r, or nil), which must not be used afterwards: its distance cache, exclusion set and
// the scratch space of its repairs. Deriving one router after another this way
// allocates nothing once the storage has grown to the largest failure seen.
func (r *ECMP) DeriveReusing(prev *ECMP, o Options) *ECMP {
	o.Metric = r.o.Metric
	if prev == r {
		prev = nil
	}
	n := r.g.newECMP(o, prev)
	if r.ex == nil {
		n.base = r
	}
	return n
}

// keeps reports whether base distances d (to some destination, without exclusions)
// stay exact under r's exclusions.
func (r *ECMP) keeps(d []float64) bool {
	g := r.g
	for _, e := range r.exList {
		u, v := g.eFrom[e], g.eTo[e]
		if math.IsInf(d[u], 1) || math.IsInf(d[v], 1) || !r.tight(d, e) {
			continue
		}
		alt := false
		for _, e2 := range g.out[u] {
			if !r.ex[e2] && !math.IsInf(d[g.eTo[e2]], 1) && r.tight(d, e2) {
				alt = true
				break
			}
		}
		if !alt {
			return false
		}
	}
	return true
}

// tight reports whether link e is on a shortest path under distances d.
func (r *ECMP) tight(d []float64, e int32) bool {
	g := r.g
	return r.tightUV(d, e, g.eFrom[e], g.eTo[e])
}

// tightUV is tight for link e from u to v (its ends, known to the caller).
func (r *ECMP) tightUV(d []float64, e, u, v int32) bool {
	w := 1.0
	if !r.hops {
		w = r.g.weight(e, r.o.Metric)
	}
	return math.Abs(w+d[v]-d[u]) <= 1e-9*max(1, d[u]) // max: d[u] is never NaN
}

func (r *ECMP) usable(e int32) bool {
	if r.ex != nil {
		return !r.ex[e]
	}
	return r.g.usable(e, &r.o, math.Inf(-1))
}

// Route returns the path of flow flowID from src to dst.
func (r *ECMP) Route(flowID, src, dst string) (Path, error) {
	return r.route(flowID, src, dst, nil, true)
}

// RouteLinks returns the directed link IDs of Route's path, appended to buf[:0] (so a
// caller that is done with the last path can route the next into its storage),
// without the device list and totals Route also computes.
func (r *ECMP) RouteLinks(flowID, src, dst string, buf []string) ([]string, error) {
	p, err := r.route(flowID, src, dst, buf[:0], false)
	if err != nil {
		return nil, err
	}
	return p.Links, nil
}

// route walks flowID's path from src to dst, appending its links to links; full adds
// the devices and the totals.
func (r *ECMP) route(flowID, src, dst string, links []string, full bool) (Path, error) {
	g := r.g
	s, err := g.dev(src, &r.o)
	if err != nil {
		return Path{}, err
	}
	t, err := g.dev(dst, &r.o)
	if err != nil {
		return Path{}, err
	}
	d := r.distTo(t)
	if math.IsInf(d[s], 1) {
		return Path{}, fmt.Errorf("%w: from %q to %q", ErrNoPath, src, dst)
	}
	p := Path{Links: links}
	if full {
		p.Devices, p.MinAvailGbps = []string{src}, math.Inf(1)
	}
	hf := flowHash(flowID)
	for u := s; u != t; {
		e := r.hop(u, d, hf)
		if e < 0 {
			return Path{}, fmt.Errorf("%w: from %q to %q", ErrNoPath, src, dst)
		}
		p.Links = append(p.Links, g.eID[e])
		u = g.eTo[e]
		if full {
			p.Weight += g.weight(e, r.o.Metric)
			p.LatencyMs += g.eLat[e]
			p.MinAvailGbps = math.Min(p.MinAvailGbps, g.eAvail[e])
			p.Devices = append(p.Devices, g.devs[u])
		}
	}
	if full && len(p.Links) == 0 {
		p.MinAvailGbps = 0
	}
	return p, nil
}

// AppendRoute appends to buf the directed link indices (as Graph.LinkIndex) of the
// path Route gives flow flowID from device index src to device index dst (as
// Graph.DeviceIndex), and reports whether there is one: the same path, without the
// look-ups of the device IDs, the link IDs and the error text, for a caller that
// resolves endpoints once and maps link indices itself. An index out of range, or a
// device the options exclude, has no path.
func (r *ECMP) AppendRoute(flowID string, src, dst int, buf []int32) ([]int32, bool) {
	g := r.g
	if src < 0 || src >= len(g.devs) || dst < 0 || dst >= len(g.devs) {
		return buf, false
	}
	if len(r.o.ExcludeDevices) > 0 && (r.o.ExcludeDevices[g.devs[src]] || r.o.ExcludeDevices[g.devs[dst]]) {
		return buf, false
	}
	s, t := int32(src), int32(dst)
	d := r.distTo(t)
	if math.IsInf(d[s], 1) {
		return buf, false
	}
	hf := flowHash(flowID)
	for u := s; u != t; {
		e := r.hop(u, d, hf)
		if e < 0 {
			return buf, false
		}
		buf = append(buf, e)
		u = g.eTo[e]
	}
	return buf, true
}

// hop returns the link flow hash hf takes from device u towards the destination of
// distances d (-1 if u has no usable link on a shortest path): among the usable
// links whose head is on one, in directed link ID order (g.out is sorted), the one
// the hash of the flow and u picks.
func (r *ECMP) hop(u int32, d []float64, hf uint64) int32 {
	g := r.g
	cand := r.sc.cand[:0]
	// u's links and their heads in sequence (adjE, adjTo: the order of g.out[u])
	for k := g.adjOff[u]; k < g.adjOff[u+1]; k++ {
		e, v := g.adjE[k], g.adjTo[k]
		if !r.usable(e) || math.IsInf(d[v], 1) {
			continue
		}
		if r.tightUV(d, e, u, v) {
			cand = append(cand, e)
		}
	}
	r.sc.cand = cand
	if len(cand) == 0 {
		return -1
	}
	return cand[mix(fnvString(hf, g.devs[u]))%uint64(len(cand))]
}

// distTo returns the distances to device t under r's exclusions, cached.
func (r *ECMP) distTo(t int32) []float64 {
	d := r.dist[t]
	if d == nil {
		if r.base != nil {
			if bd := r.base.dist[t]; bd != nil {
				d = r.repair(bd) // bd itself where the exclusions change nothing
			}
		}
		if d == nil {
			d = r.g.distancesInto(r.sc.vec(len(r.g.devs)), t, r.usable, r.o.Metric, &r.sc.h)
		}
		r.dist[t] = d
	}
	return d
}

// distancesTo runs Dijkstra from t over reversed usable links.
func (g *Graph) distancesTo(t int32, usable func(int32) bool, m Metric) []float64 {
	return g.distancesInto(make([]float64, len(g.devs)), t, usable, m, &minHeap{})
}

// distancesInto is distancesTo into d (len |V|), with h's storage (left empty).
func (g *Graph) distancesInto(d []float64, t int32, usable func(int32) bool, m Metric, h *minHeap) []float64 {
	for i := range d {
		d[i] = math.Inf(1)
	}
	d[t] = 0
	h.a = h.a[:0]
	h.push(t, 0)
	for h.len() > 0 {
		v, dv := h.pop()
		if dv > d[v] {
			continue
		}
		for _, e := range g.in[v] {
			if !usable(e) {
				continue
			}
			u := g.eFrom[e]
			if nd := dv + g.weight(e, m); nd < d[u] {
				d[u] = nd
				h.push(u, nd)
			}
		}
	}
	return d
}

type heapItem struct {
	v int32
	d float64
}

// minHeap is a binary heap of (vertex, distance) with lazy deletion.
type minHeap struct{ a []heapItem }

func (h *minHeap) len() int { return len(h.a) }

func (h *minHeap) push(v int32, d float64) {
	h.a = append(h.a, heapItem{v, d})
	i := len(h.a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.a[p].d <= h.a[i].d {
			break
		}
		h.a[p], h.a[i] = h.a[i], h.a[p]
		i = p
	}
}

func (h *minHeap) pop() (int32, float64) {
	top := h.a[0]
	n := len(h.a) - 1
	h.a[0] = h.a[n]
	h.a = h.a[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h.a[l].d < h.a[m].d {
			m = l
		}
		if r < n && h.a[r].d < h.a[m].d {
			m = r
		}
		if m == i {
			break
		}
		h.a[m], h.a[i] = h.a[i], h.a[m]
		i = m
	}
	return top.v, top.d
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// ecmpHash is the 64-bit FNV-1a hash of flowID, a 0 byte and dev, computed without
// allocating (hash/fnv over the same bytes gives the same value).
func ecmpHash(flowID, dev string) uint64 {
	return fnvString(flowHash(flowID), dev)
}

// flowHash is ecmpHash's state after flowID and the 0 byte: a route hashes the flow ID
// once and continues from it with each hop's device.
func flowHash(flowID string) uint64 {
	return fnvString(fnvOffset, flowID) * fnvPrime // the 0 byte: h ^ 0 == h
}

// fnvString continues a 64-bit FNV-1a hash h over the bytes of x.
func fnvString(h uint64, x string) uint64 {
	for i := 0; i < len(x); i++ {
		h ^= uint64(x[i])
		h *= fnvPrime
	}
	return h
}

// mix is the splitmix64 finalizer: FNV-1a alone leaves its low bits poorly mixed (the
// lowest bit is the parity of the input bytes), which would skew a modulo-2 choice.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
