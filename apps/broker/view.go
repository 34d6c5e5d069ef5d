package broker

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"

	"github.com/twinflow/twinflow/apps/alto"
)

// view is the inter-domain view built from the domain states: the Inter-domain
// Resource database (resources per available domain) and the Inter-domain Topology
// (the domain graph), with the shortest AS path between every pair of domains.
// Only domains whose abstraction was read are in it; a link is in the graph when its
// source domain reported it and its far end is an available domain.
type view struct {
	names       []string // available domains, sorted
	idx         map[string]int
	states      []domainState
	edges       []domainEdge // sorted by (from, to)
	adj         [][]int      // edge indices by source
	unavailable map[string]string
	// paths[a][b]: the AS path from a to b (nil: unreachable); hops and latency sums
	paths [][][]int
	lat   [][]float64
	tag   string
}

// domainEdge aggregates the links from one domain to another.
type domainEdge struct {
	From, To     int
	Links        []alto.InterdomainLink
	LatencyMs    float64 // the least latency of its links
	CapacityBps  float64 // their sum
	ReservBps    float64 // their max-reservable sum
	EnabledLinks int
}

func buildView(states map[string]domainState) *view {
	v := &view{idx: map[string]int{}, unavailable: map[string]string{}}
	all := make([]string, 0, len(states))
	for n := range states {
		all = append(all, n)
	}
	sort.Strings(all)
	h := sha256.New()
	for _, n := range all {
		st := states[n]
		if !st.ok() {
			v.unavailable[n] = st.Err
			fmt.Fprintf(h, "%s|down\n", n)
			continue
		}
		v.idx[n] = len(v.names)
		v.names = append(v.names, n)
		v.states = append(v.states, st)
		fmt.Fprintf(h, "%s|%s|%s|%s\n", n, st.URL, st.VTag.ResourceID, st.VTag.Tag)
	}
	v.tag = hex.EncodeToString(h.Sum(nil)[:16])
	byPair := map[[2]int]*domainEdge{}
	for a, st := range v.states {
		for _, l := range st.Links {
			b, ok := v.idx[l.ToDomain]
			if !ok || b == a {
				continue
			}
			e := byPair[[2]int{a, b}]
			if e == nil {
				e = &domainEdge{From: a, To: b}
				byPair[[2]int{a, b}] = e
			}
			e.Links = append(e.Links, l)
			if l.Disabled {
				continue
			}
			if e.EnabledLinks == 0 || l.LatencyMs < e.LatencyMs {
				e.LatencyMs = l.LatencyMs
			}
			e.EnabledLinks++
			e.CapacityBps += l.CapacityBps
			e.ReservBps += l.MaxReservableBps
		}
	}
	for _, e := range byPair {
		v.edges = append(v.edges, *e)
	}
	sort.Slice(v.edges, func(i, j int) bool {
		if v.edges[i].From != v.edges[j].From {
			return v.edges[i].From < v.edges[j].From
		}
		return v.edges[i].To < v.edges[j].To
	})
	v.adj = make([][]int, len(v.names))
	for i, e := range v.edges {
		if e.EnabledLinks > 0 {
			v.adj[e.From] = append(v.adj[e.From], i)
		}
	}
	n := len(v.names)
	v.paths = make([][][]int, n)
	v.lat = make([][]float64, n)
	for a := range n {
		v.paths[a], v.lat[a] = v.shortestFrom(a)
	}
	return v
}

// shortestFrom finds, from domain a, the path to every domain with the fewest
// inter-domain hops, then the least latency, then the first in name order (a
// deterministic choice; domain indices follow name order).
func (v *view) shortestFrom(a int) ([][]int, []float64) {
	n := len(v.names)
	paths := make([][]int, n)
	lat := make([]float64, n)
	done := make([]bool, n)
	paths[a] = []int{a}
	better := func(p []int, l float64, q []int, m float64) bool {
		if q == nil {
			return true
		}
		if len(p) != len(q) {
			return len(p) < len(q)
		}
		if l != m {
			return l < m
		}
		return slices.Compare(p, q) < 0
	}
	for {
		u := -1
		for i := range n {
			if !done[i] && paths[i] != nil && (u < 0 || better(paths[i], lat[i], paths[u], lat[u])) {
				u = i
			}
		}
		if u < 0 {
			break
		}
		done[u] = true
		for _, ei := range v.adj[u] {
			e := v.edges[ei]
			if done[e.To] {
				continue
			}
			p := append(slices.Clone(paths[u]), e.To)
			if l := lat[u] + e.LatencyMs; better(p, l, paths[e.To], lat[e.To]) {
				paths[e.To], lat[e.To] = p, l
			}
		}
	}
	return paths, lat
}

// asPath returns the names along the path from a to b (nil: unreachable).
func (v *view) asPath(a, b int) []string {
	p := v.paths[a][b]
	if p == nil {
		return nil
	}
	out := make([]string, len(p))
	for i, d := range p {
		out[i] = v.names[d]
	}
	return out
}
