package routing

import (
	"fmt"
	"math"
	"slices"
)

// Disjointness says what k protected paths may not share (REQ-SLI-03 "reserved backup
// paths", the availability constraint of a service).
type Disjointness string

// Disjointness kinds.
const (
	// LinkDisjoint paths share no link (in either direction).
	LinkDisjoint Disjointness = "link"
	// NodeDisjoint paths share no device but the source and destination (and hence no
	// link either).
	NodeDisjoint Disjointness = "node"
)

// maxDisjoint bounds the number of disjoint paths asked for.
const maxDisjoint = 8

// Disjoint returns k paths from src to dst that share no link (LinkDisjoint) or no
// intermediate device (NodeDisjoint) and whose total weight is the least possible:
// Suurballe's algorithm in its min-cost-flow form (Bhandari's node splitting for
// node-disjointness), k successive shortest augmenting paths in the residual graph, each
// found by Dijkstra on costs reduced by the previous distances (Johnson potentials).
// Paths are returned in increasing weight (ties: lexicographic link IDs). minAvailGbps
// prunes links with less available bandwidth (use math.Inf(-1) for none).
// O(k·(|V| + |E|) log |V|).
func (g *Graph) Disjoint(src, dst string, k int, mode Disjointness, o Options, minAvailGbps float64) ([]Path, error) {
	if k < 1 || k > maxDisjoint {
		return nil, fmt.Errorf("%w: number of disjoint paths must be in [1, %d], got %d", ErrInvalid, maxDisjoint, k)
	}
	if mode != LinkDisjoint && mode != NodeDisjoint {
		return nil, fmt.Errorf("%w: disjointness %q (one of link, node)", ErrInvalid, mode)
	}
	s, err := g.dev(src, &o)
	if err != nil {
		return nil, err
	}
	t, err := g.dev(dst, &o)
	if err != nil {
		return nil, err
	}
	if s == t {
		return nil, fmt.Errorf("%w: source and destination are both %q", ErrInvalid, src)
	}
	f := g.newFlowNet(s, t, mode, &o, minAvailGbps)
	for i := range k {
		if !f.augment() {
			return nil, fmt.Errorf("%w: only %d %s-disjoint paths from %q to %q, %d asked", ErrNoPath, i, mode, src, dst, k)
		}
	}
	out := f.decompose(k, o.Metric)
	slices.SortStableFunc(out, func(a, b Path) int {
		if a.Weight != b.Weight {
			if a.Weight < b.Weight {
				return -1
			}
			return 1
		}
		return slices.Compare(a.Links, b.Links)
	})
	return out, nil
}

// flowNet is the residual network of a unit-capacity min-cost flow. Arc 2i is a
// forward arc, 2i+1 its residual reverse.
type flowNet struct {
	g      *Graph
	s, t   int32
	n      int
	head   []int32
	to     []int32
	next   []int32
	cap    []int32
	cost   []float64
	edge   []int32 // directed link of a forward arc, -1 for split arcs
	pot    []float64
	dist   []float64
	prev   []int32
	metric Metric
}

func (f *flowNet) addArc(u, v int32, c int32, w float64, e int32) {
	for _, a := range [2]struct {
		u, v int32
		c    int32
		w    float64
	}{{u, v, c, w}, {v, u, 0, -w}} {
		f.to = append(f.to, a.v)
		f.cap = append(f.cap, a.c)
		f.cost = append(f.cost, a.w)
		f.edge = append(f.edge, e)
		f.next = append(f.next, f.head[a.u])
		f.head[a.u] = int32(len(f.to) - 1)
	}
}

// newFlowNet builds the network: with NodeDisjoint, device v is split into v (in) and
// v+|V| (out) joined by an arc of capacity 1 (capacity maxDisjoint at s and t).
func (g *Graph) newFlowNet(s, t int32, mode Disjointness, o *Options, minAvail float64) *flowNet {
	nv := int32(len(g.devs))
	n := int(nv)
	out := func(v int32) int32 { return v }
	if mode == NodeDisjoint {
		n = 2 * int(nv)
		out = func(v int32) int32 { return v + nv }
	}
	f := &flowNet{g: g, s: s, t: t, n: n, head: make([]int32, n), metric: o.Metric}
	arcs := 2 * (len(g.eID) + n)
	f.to = make([]int32, 0, arcs)
	f.next = make([]int32, 0, arcs)
	f.cap = make([]int32, 0, arcs)
	f.cost = make([]float64, 0, arcs)
	f.edge = make([]int32, 0, arcs)
	for i := range f.head {
		f.head[i] = -1
	}
	if mode == NodeDisjoint {
		f.s = out(s)
		for v := range nv {
			c := int32(1)
			if v == s || v == t {
				c = maxDisjoint
			}
			f.addArc(v, out(v), c, 0, -1)
		}
	}
	for e := range g.eID {
		e := int32(e)
		u, v := g.eFrom[e], g.eTo[e]
		if u == v || !g.usable(e, o, minAvail) {
			continue
		}
		f.addArc(out(u), v, 1, g.weight(e, o.Metric), e)
	}
	f.pot = make([]float64, n)
	f.dist = make([]float64, n)
	f.prev = make([]int32, n)
	return f
}

// augment pushes one unit along a least-cost residual path; false if none is left.
func (f *flowNet) augment() bool {
	for i := range f.dist {
		f.dist[i] = math.Inf(1)
		f.prev[i] = -1
	}
	f.dist[f.s] = 0
	h := &minHeap{}
	h.push(f.s, 0)
	for h.len() > 0 {
		u, du := h.pop()
		if du > f.dist[u] {
			continue
		}
		if u == f.t {
			break // settled: later nodes only matter through the potentials below
		}
		for a := f.head[u]; a >= 0; a = f.next[a] {
			if f.cap[a] <= 0 {
				continue
			}
			v := f.to[a]
			// reduced cost >= 0 up to rounding; clamp so Dijkstra stays monotone
			rc := math.Max(0, f.cost[a]+f.pot[u]-f.pot[v])
			if nd := du + rc; nd < f.dist[v] {
				h.push(v, nd)
				f.dist[v] = nd
				f.prev[v] = a
			}
		}
	}
	t := f.t
	if math.IsInf(f.dist[t], 1) {
		return false
	}
	// Potentials: min(dist, dist[t]) keeps every residual reduced cost >= 0 although
	// the search stopped when t was settled (nodes farther than t keep dist[t]).
	dt := f.dist[t]
	for v := range f.pot {
		f.pot[v] += math.Min(f.dist[v], dt)
	}
	for v := t; v != f.s; {
		a := f.prev[v]
		f.cap[a]--
		f.cap[a^1]++
		v = f.to[a^1]
	}
	return true
}

// decompose walks k unit flows from s to t over forward arcs carrying flow (positive
// costs leave no flow cycles in a min-cost flow).
func (f *flowNet) decompose(k int, m Metric) []Path {
	g := f.g
	used := make([]bool, len(f.to))
	var out []Path
	for range k {
		p := Path{MinAvailGbps: math.Inf(1)}
		v := f.s
		first := true
		for v != f.t {
			found := false
			for a := f.head[v]; a >= 0; a = f.next[a] {
				if a&1 != 0 || used[a] || f.cap[a] != 0 {
					continue // only saturated forward arcs carry flow
				}
				used[a] = true
				if e := f.edge[a]; e >= 0 {
					if first {
						p.Devices = append(p.Devices, g.devs[g.eFrom[e]])
						first = false
					}
					p.Links = append(p.Links, g.eID[e])
					p.Devices = append(p.Devices, g.devs[g.eTo[e]])
					p.Weight += g.weight(e, m)
					p.LatencyMs += g.eLat[e]
					p.MinAvailGbps = math.Min(p.MinAvailGbps, g.eAvail[e])
				}
				v = f.to[a]
				found = true
				break
			}
			if !found {
				break // cannot happen for a valid flow; the caller's checks would catch it
			}
		}
		// split arcs at s and t have capacity maxDisjoint: they are never saturated and
		// carry no link, so they are skipped above and walked through here
		out = append(out, p)
	}
	return out
}
