package bottleneck

import "math"

// Resuming the water-filling above a perturbation's level.
//
// A perturbation (flows added, removed or moved, capacities changed, links failed)
// touches a set of seed links and seed flows. Let θ be at most the old saturation
// level of every seed link (the largest rate on it) and the old rate of every seed
// flow. Then the new water-filling is identical to the old one below θ: a first
// divergence at a level y < θ would have to happen at a seed link saturating at y,
// and one that does has a fair share below θ when the flows the old structure fixed
// below θ are removed from it (their rates are ≥ y, so removing them can only lower
// the share). So every flow whose old rate is below θ keeps its rate ("frozen"), and
// the rest are re-filled from a state in which only the frozen flows are fixed; if
// some link's share in that state is below θ (or a link whose flows are all frozen is
// over its capacity), θ was too optimistic: it is lowered and the state rebuilt. The
// result equals a full recomputation (property-tested, including long runs of
// resumed updates). Saturation levels come from the levels when they are current and
// are otherwise kept up to date by the resumes themselves.
//
// Cost: one pass over the paths (O(Σ|path|), no heap) to split frozen and unfrozen
// flows and sum the frozen load per link, plus Phase 1 of Compute restricted to the
// unfrozen flows (O(Σ_{unfrozen} |path| + heap)). Level numbers (water-filling rounds)
// are not recomputed: they depend on the rounds of the whole structure, so the next
// read of a level or of a bottleneck set (FlowLevel, LinkLevel, Levels, Graph,
// Bottlenecks) runs one full Compute first (Refresh). The incremental engine uses
// this path when a round replay is abandoned (its region grew too large) and whenever
// levels are stale.

// Refresh brings level numbers and bottleneck sets up to date after incremental
// updates that resumed the water-filling (Delta.Resumed); the reads that need them
// call it on demand. Call it before sharing a State between goroutines for reading.
func (s *State) Refresh() {
	if s.stale {
		s.Compute()
		s.stale = false
	}
}

func growB(x []bool, n int) []bool {
	if cap(x) >= n {
		return x[:n]
	}
	return make([]bool, n)
}

// resumeWork is the resume path's reusable scratch memory.
type resumeWork struct {
	resid []float64
	cnt   []int32
	moved []bool // flow whose path the perturbation changed (added ones included)
	// the unfrozen flows: flow indices, paths as records (long paths in over), old
	// rates, and per-link lists of their indices (CSR: off, lst; fill is scratch)
	ids       []int32
	recs      []pathRec
	over      []int32
	old       []float64
	uOf       []int32 // flow → its index in ids (unfrozen flows only)
	off, lst  []int32
	fill, buf []int32
	bits      []uint64  // fixed (by index in ids), or unfrozen and unfixed (by flow)
	sat       []float64 // per link: level at which it saturated (see resume)
	heap      []heapEnt
}

// resume recomputes the rates of the flows at or above the perturbation's level
// (see above) after the topology has been changed. seedLinks are the touched links,
// seedFlows the flows whose path changed (added, moved or removed);
// isAdded says whether a flow is new. It returns the re-filled flows, whose new rates
// are in s.rate, and their old rates (both valid until the next resume).
func (s *State) resume(seedLinks []int32, seedFlows []int32, isAdded func(int32) bool) (refilled []int32, oldRate []float64) {
	nT, nF := len(s.capa), len(s.path)
	if s.rw == nil {
		s.rw = &resumeWork{}
	}
	w := s.rw
	w.resid = growF(w.resid, nT)
	w.cnt = growI(w.cnt, nT)
	w.moved = growB(w.moved, nF)
	w.uOf = growI(w.uOf, nF)
	for _, f := range seedFlows {
		w.moved[f] = true
	}
	// sat[l]: the level at which link l saturated and fixed flows (+Inf if it never
	// did), from the levels when they are current, else as the last resume left it
	for len(w.sat) < nT {
		w.sat = append(w.sat, math.Inf(1))
	}
	if !s.stale {
		for l := range nT {
			w.sat[l] = math.Inf(1)
			if s.levelL[l] > 0 && !s.failed[l] {
				w.sat[l] = s.share[l]
			}
		}
	}
	// θ: the old rate of every seed flow and the old saturation level of every seed
	// link
	theta := math.Inf(1)
	for _, f := range seedFlows {
		if !isAdded(f) {
			theta = math.Min(theta, s.rate[f])
		}
	}
	for _, l := range seedLinks {
		theta = math.Min(theta, w.sat[l])
	}
	for l := range nT {
		w.resid[l], w.cnt[l] = s.capa[l], 0
		if s.failed[l] {
			w.resid[l] = 0
		}
	}
	s.split(theta, w)
	for {
		w.heap = w.heap[:0]
		minKey := math.Inf(1)
		for l := range nT {
			if w.cnt[l] > 0 && !s.failed[l] {
				k := math.Max(w.resid[l], 0) / float64(w.cnt[l])
				w.heap = heapPush(w.heap, heapEnt{k, int32(l)})
				minKey = math.Min(minKey, k)
			}
		}
		lower := minKey
		for l := range nT {
			// a link whose flows are all frozen but over its capacity saturates
			// below θ too: resume below its fastest flow
			if w.cnt[l] == 0 && !s.failed[l] && w.resid[l] < -s.tol*s.capa[l] {
				for _, f := range s.linkFlows[l] {
					lower = math.Min(lower, s.rate[f])
				}
			}
		}
		if lower >= theta*(1-s.tol) {
			break
		}
		// a link saturates below θ: resume lower, unfreezing the flows in between
		s.unfreeze(theta, lower, w)
		theta = lower
	}
	for l := range nT {
		if w.cnt[l] > 0 || s.failed[l] {
			w.sat[l] = math.Inf(1) // set again below if it saturates
		}
	}
	// Phase 1 needs each link's unfrozen flows. When most flows are frozen, per-link
	// lists of the unfrozen ones (CSR over their indices in w.ids, filled in one
	// streaming pass over the records) save scanning frozen ones; when most are
	// unfrozen, building the lists costs more than it saves, and the links' own flow
	// lists are scanned against a per-flow bit set instead.
	nU := len(w.ids)
	useCSR := 4*nU < 3*s.nAlive
	if s.resumeLists != 0 {
		useCSR = s.resumeLists > 0 // tests
	}
	maxDeg := int32(0)
	w.off = growI(w.off, nT+1)
	w.off[0] = 0
	for l := range nT {
		w.off[l+1] = w.off[l] + w.cnt[l]
		if useCSR {
			maxDeg = max(maxDeg, w.cnt[l])
		} else if w.cnt[l] > 0 {
			maxDeg = max(maxDeg, int32(len(s.linkFlows[l])))
		}
	}
	if useCSR {
		w.lst = growI(w.lst, int(w.off[nT]))
		w.fill = append(w.fill[:0], w.off[:nT]...)
		for u := range w.recs {
			for _, n := range w.recs[u].links(w.over) {
				w.lst[w.fill[n]] = int32(u)
				w.fill[n]++
			}
		}
		w.bits = growU(w.bits, (nU+63)/64) // fixed, by index in ids
		clear(w.bits)
	} else {
		w.bits = growU(w.bits, (nF+63)/64) // unfrozen and not fixed yet, by flow
		clear(w.bits)
		for _, f := range w.ids {
			w.bits[f>>6] |= 1 << (uint32(f) & 63)
		}
	}
	w.old = growF(w.old, nU)
	for u, f := range w.ids {
		w.old[u] = s.rate[f]
	}
	w.buf = growI(w.buf, int(maxDeg))
	// Phase 1 of Compute on the unfrozen flows: the link with the smallest share fixes
	// its unfixed flows (their records fetched in a tight loop so the misses overlap)
	h := w.heap
	for len(h) > 0 {
		var e heapEnt
		h, e = heapPop(h)
		l := e.l
		if w.cnt[l] == 0 {
			continue
		}
		sh := math.Max(w.resid[l], 0) / float64(w.cnt[l])
		if sh > e.key {
			h = heapPush(h, heapEnt{sh, l})
			continue
		}
		nb := 0
		if useCSR {
			for _, u := range w.lst[w.off[l]:w.off[l+1]] {
				i, bit := u>>6, uint64(1)<<(uint32(u)&63)
				if w.bits[i]&bit != 0 {
					continue
				}
				w.bits[i] |= bit
				w.buf[nb] = u
				nb++
			}
		} else {
			for _, f := range s.linkFlows[l] {
				i, bit := f>>6, uint64(1)<<(uint32(f)&63)
				if w.bits[i]&bit == 0 {
					continue
				}
				w.bits[i] &^= bit
				w.buf[nb] = w.uOf[f]
				nb++
			}
		}
		if nb == 0 {
			continue
		}
		w.sat[l] = sh
		for _, u := range w.buf[:nb] {
			s.rate[w.ids[u]] = sh
			for _, n := range w.recs[u].links(w.over) {
				w.resid[n] -= sh
				w.cnt[n]--
			}
		}
	}
	w.heap = h[:0]
	for _, f := range seedFlows {
		w.moved[f] = false
	}
	s.stale = true
	return w.ids, w.old
}

func growU(x []uint64, n int) []uint64 {
	if cap(x) >= n {
		return x[:n]
	}
	return make([]uint64, n)
}

// unfreeze moves the frozen flows with rates in [θ', θ) (within the tolerance) to the
// unfrozen ones, as split would have for θ': O(|F|) over the rates plus their paths.
func (s *State) unfreeze(theta, lower float64, w *resumeWork) {
	hi, lo := theta*(1-s.tol), lower*(1-s.tol)
	for f, p := range s.path {
		r := s.rate[f]
		if r >= hi || r < lo || !s.alive[f] || w.moved[f] {
			continue
		}
		s.addUnfrozen(int32(f), p, w)
		for _, l := range p {
			w.resid[l] += r
		}
	}
}

// addUnfrozen appends flow f (path p) to the unfrozen flows.
func (s *State) addUnfrozen(f int32, p []int32, w *resumeWork) {
	w.uOf[f] = int32(len(w.ids))
	w.ids = append(w.ids, f)
	var r pathRec
	r, w.over = newPathRec(p, w.over)
	w.recs = append(w.recs, r)
	for _, l := range p {
		w.cnt[l]++
	}
}

// split lists the unfrozen flows (rate ≥ θ within the tolerance, or moved/added) in
// w.ids with their paths as records, counts them per link and subtracts the frozen
// flows' rates from the links' residual capacities, in one pass in flow order.
func (s *State) split(theta float64, w *resumeWork) {
	cut := theta * (1 - s.tol) // flows within the tolerance of θ are re-filled
	w.ids, w.recs, w.over = w.ids[:0], w.recs[:0], w.over[:0]
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		if w.moved[f] || s.rate[f] >= cut {
			s.addUnfrozen(int32(f), p, w)
			continue
		}
		r := s.rate[f]
		for _, l := range p {
			w.resid[l] -= r
		}
	}
}
