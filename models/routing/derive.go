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
func (r *ECMP) repair(bd []float64) []float64 {
	if r.keeps(bd) {
		return bd
	}
	g := r.g
	aff := make(map[int32]bool)
	var list []int32
	var check func(u int32)
	supported := func(u int32) bool {
		for _, e := range g.out[u] {
			v := g.eTo[e]
			if !r.ex[e] && !aff[v] && !math.IsInf(bd[v], 1) && r.tight(bd, e) {
				return true
			}
		}
		return false
	}
	check = func(u int32) {
		if aff[u] || bd[u] == 0 || math.IsInf(bd[u], 1) || supported(u) {
			return
		}
		aff[u] = true
		list = append(list, u)
		for _, e := range g.in[u] {
			if w := g.eFrom[e]; !aff[w] && !math.IsInf(bd[w], 1) && r.tight(bd, e) {
				check(w)
			}
		}
	}
	for _, e := range r.exList {
		u, v := g.eFrom[e], g.eTo[e]
		if !math.IsInf(bd[u], 1) && !math.IsInf(bd[v], 1) && r.tight(bd, e) {
			check(u)
		}
	}
	d := append([]float64(nil), bd...)
	h := &minHeap{}
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
	return d
}
