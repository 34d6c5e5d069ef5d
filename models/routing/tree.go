package routing

import (
	"fmt"
	"math"
)

// Tree is a shortest-path forest grown from a set of source devices at once (every
// source at distance 0): for each device reached, its distance (the least path weight
// from the nearest source), the hop count of that path and the directed link it is
// reached by. Devices and directed links are named by their dense indices in the
// graph (Graph.DeviceIndex, Graph.DeviceID, Graph.LinkID).
//
// Ties between paths of equal weight are broken by fewer hops, then by the smaller
// directed link ID of the last hop, so that a tree is the same on every run.
type Tree struct {
	// Dist is the path weight per device index; +Inf when unreached.
	Dist []float64
	// Hops is the number of links of the tree path per device index (-1 when unreached).
	Hops []int32
	// Pred is the directed link index by which a device is reached (-1 for sources and
	// unreached devices).
	Pred []int32
	// Order lists the reached devices in the order they were settled: a device comes
	// after the tail of its Pred link, so per-path aggregates (a bottleneck along the
	// path, say) can be folded in one pass.
	Order []int32

	tail []int32 // the graph's link tails
}

// DeviceIndex returns the dense index of device id.
func (g *Graph) DeviceIndex(id string) (int, bool) {
	i, ok := g.devIdx[id]
	return int(i), ok
}

// DeviceID returns the ID of the device at index i.
func (g *Graph) DeviceID(i int) string { return g.devs[i] }

// NumLinks returns the number of directed links.
func (g *Graph) NumLinks() int { return len(g.eID) }

// LinkID returns the directed link ID of directed link index e.
func (g *Graph) LinkID(e int) string { return g.eID[e] }

// LinkIndex returns the dense index of directed link id (ok=false if g has none).
func (g *Graph) LinkIndex(id string) (int, bool) {
	e, ok := g.eIdx[id]
	return int(e), ok
}

// LinkEnds returns the device indices of the tail and head of directed link index e.
func (g *Graph) LinkEnds(e int) (from, to int) { return int(g.eFrom[e]), int(g.eTo[e]) }

// ShortestTree grows the shortest-path forest from srcs (device indices) under o's
// metric and exclusions. O((|V| + |E|) log |V|). An out-of-range index is an error.
// To grow many forests under the same options, use NewTreeSearch.
func (g *Graph) ShortestTree(srcs []int, o Options) (*Tree, error) {
	return g.NewTreeSearch(o).Tree(srcs)
}

// TreeSearch grows shortest-path forests under fixed options: link weights and
// exclusions are evaluated once, so each forest costs only its Dijkstra. Not safe for
// concurrent use (it reuses its scratch space).
type TreeSearch struct {
	g      *Graph
	w      []float64 // weight per directed link, NaN when excluded
	exDev  []bool
	done   []bool
	h      minHeap
	metric Metric
}

// NewTreeSearch prepares forests under o. O(|V| + |E|).
func (g *Graph) NewTreeSearch(o Options) *TreeSearch {
	ts := &TreeSearch{g: g, w: make([]float64, len(g.eID)), exDev: make([]bool, len(g.devs)), done: make([]bool, len(g.devs)), metric: o.Metric}
	for e := range g.eID {
		ts.w[e] = math.NaN()
		if g.usable(int32(e), &o, math.Inf(-1)) && g.eFrom[e] != g.eTo[e] {
			ts.w[e] = g.weight(int32(e), o.Metric)
		}
	}
	for i, d := range g.devs {
		ts.exDev[i] = o.ExcludeDevices[d]
	}
	return ts
}

// Tree grows the forest from srcs (device indices).
func (ts *TreeSearch) Tree(srcs []int) (*Tree, error) {
	g := ts.g
	n := len(g.devs)
	t := &Tree{Dist: make([]float64, n), Hops: make([]int32, n), Pred: make([]int32, n), Order: make([]int32, 0, n), tail: g.eFrom}
	for i := range t.Dist {
		t.Dist[i], t.Hops[i], t.Pred[i] = math.Inf(1), -1, -1
	}
	clear(ts.done)
	h := &ts.h
	h.a = h.a[:0]
	for _, s := range srcs {
		if s < 0 || s >= n {
			return nil, fmt.Errorf("%w: device index %d out of range", ErrInvalid, s)
		}
		if ts.exDev[s] || t.Dist[s] == 0 {
			continue
		}
		t.Dist[s], t.Hops[s] = 0, 0
		h.push(int32(s), 0)
	}
	for h.len() > 0 {
		v, dv := h.pop()
		if ts.done[v] || dv > t.Dist[v] {
			continue
		}
		ts.done[v] = true
		t.Order = append(t.Order, v)
		for _, e := range g.out[v] {
			w := ts.w[e]
			u := g.eTo[e]
			if math.IsNaN(w) || ts.done[u] {
				continue
			}
			nd, nh := dv+w, t.Hops[v]+1
			better := nd < t.Dist[u]
			if !better && nd == t.Dist[u] {
				better = nh < t.Hops[u] || (nh == t.Hops[u] && g.eID[e] < g.eID[t.Pred[u]])
			}
			if better {
				t.Dist[u], t.Hops[u], t.Pred[u] = nd, nh, e
				h.push(u, nd)
			}
		}
	}
	return t, nil
}

// PathTo returns the directed link indices of the tree path to device index dst, from
// its source; nil when dst is a source or unreached.
func (t *Tree) PathTo(dst int) []int32 {
	if t.Hops[dst] <= 0 {
		return nil
	}
	p := make([]int32, t.Hops[dst])
	for i, v := len(p)-1, dst; i >= 0; i-- {
		e := t.Pred[v]
		p[i] = e
		v = int(t.tail[e])
	}
	return p
}
