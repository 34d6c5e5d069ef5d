package routing

import "math"

// repair returns the distances to a destination under r's exclusions, given bd, the
// distances to it without exclusions (r.base's): bd itself when the exclusions leave
// every distance unchanged (keeps), else a copy in which only the affected devices —
// those left without a shortest path to the destination — are recomputed, by a
// Dijkstra seeded from their usable links to unaffected devices. Excluding links only
// lengthens distances, so a device that keeps a usable tight link to an unaffected
// device keeps its distance; the affected set is found by propagating the loss of
// support backwards over tight links from the tails of the excluded ones (the
// deletion case of dynamic shortest paths, Ramalingam and Reps 1996). Cost: the
// affected devices' links and a heap over them, instead of a Dijkstra over the
// whole graph (one failed fat-tree core link: the core switch against every device).
//
// The vector returned is carved from r's scratch chunks, and the affected set, its
// list, the propagation's work stack and the heap reuse r's scratch: a repair
// allocates nothing once the scratch has grown (see DeriveReusing).
func (r *ECMP) repair(bd []float64) []float64 {
	if r.keeps(bd) {
		return bd
	}
	g := r.g
	sc := r.sc
	if len(sc.aff) != len(g.devs) {
		sc.aff = make([]bool, len(g.devs))
	}
	aff := sc.aff
	list := sc.list[:0]
	supported := func(u int32) bool {
		for _, e := range g.out[u] {
			v := g.eTo[e]
			if !r.ex[e] && !aff[v] && !math.IsInf(bd[v], 1) && r.tight(bd, e) {
				return true
			}
		}
		return false
	}
	// the loss of support propagates backwards over tight links: a worklist in place
	// of recursion (the affected set is the same in any order, as a device is checked
	// again whenever one of its supports becomes affected)
	stack := sc.stack[:0]
	for _, e := range r.exList {
		u, v := g.eFrom[e], g.eTo[e]
		if !math.IsInf(bd[u], 1) && !math.IsInf(bd[v], 1) && r.tight(bd, e) {
			stack = append(stack, u)
		}
		for len(stack) > 0 {
			u := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if aff[u] || bd[u] == 0 || math.IsInf(bd[u], 1) || supported(u) {
				continue
			}
			aff[u] = true
			list = append(list, u)
			for _, e := range g.in[u] {
				if w := g.eFrom[e]; !aff[w] && !math.IsInf(bd[w], 1) && r.tight(bd, e) {
					stack = append(stack, w)
				}
			}
		}
	}
	d := sc.vec(len(g.devs))
	copy(d, bd)
	h := &sc.h
	h.a = h.a[:0]
	for _, u := range list {
		d[u] = math.Inf(1)
		for _, e := range g.out[u] {
			if v := g.eTo[e]; !r.ex[e] && !aff[v] {
				if nd := bd[v] + g.weight(e, r.o.Metric); nd < d[u] {
					d[u] = nd
				}
			}
		}
		if !math.IsInf(d[u], 1) {
			h.push(u, d[u])
		}
	}
	for h.len() > 0 {
		v, dv := h.pop()
		if dv > d[v] {
			continue
		}
		for _, e := range g.in[v] {
			if r.ex[e] {
				continue
			}
			if u := g.eFrom[e]; aff[u] {
				if nd := dv + g.weight(e, r.o.Metric); nd < d[u] {
					d[u] = nd
					h.push(u, nd)
				}
			}
		}
	}
	for _, u := range list {
		aff[u] = false
	}
	sc.list, sc.stack = list, stack
	return d
}
