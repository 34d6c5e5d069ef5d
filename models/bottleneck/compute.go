package bottleneck

import "math"

// Compute recomputes the whole structure from scratch: max-min rates, levels exactly as
// the round-based definition of BOTTLENECK.md assigns them, and fair shares.
//
// Phase 1 is the classic progressive water-filling with a lazy min-heap of links keyed
// by fair share: the link with the smallest share fixes its unfixed flows; shares never
// decrease, so a popped key that is stale is re-pushed with the current share. It
// yields the rates and an order of the flows by nondecreasing rate. O((|L| + S) log |L|
// + Σ|path|) for S stale pops (S ≤ Σ|path|, in practice a small multiple of |L|).
//
// Phase 2 replays the rounds in O(Σ|path| + |L| + R) without rescanning: with the final
// rates known, link l (final share F_l, the largest rate on it if saturated) resolves
// in the first round in which (a) every flow on it slower than F_l is fixed and (b) no
// unfixed flow f at rate F_l is "blocked", i.e. has a link n on its path whose current
// share s_n satisfies s_n·(1+tol) < r_f. Each link keeps its flows sorted by rate (a
// counting pass over the Phase-1 order) and a pointer to the first flow it still
// blocks; shares only grow, so every (flow, link) pair is unblocked at most once. These
// are exactly the local-minimum rounds (property-tested against computeRounds and the
// exact engine).
//
// Memory: O(|L| + Σ|path|) scratch; the hot loops do not allocate.
func (s *State) Compute() {
	nT, nF := len(s.capa), len(s.path)
	s.rate = growF(s.rate, nF)
	s.levelF = growI(s.levelF, nF)
	s.levelL = growI(s.levelL, nT)
	s.share = growF(s.share, nT)
	s.pfxOK = false
	if !s.computeFast() {
		s.computeRounds()
	}
}

// fallbacks counts computeFast bailing out to computeRounds (tests assert it stays 0).
var fallbacks int

type heapEnt struct {
	key float64
	l   int32
}

func (s *State) computeFast() bool {
	nT, nF := len(s.capa), len(s.path)
	up := 1 + s.tol
	resid := make([]float64, nT)
	cnt := make([]int32, nT)
	h := make([]heapEnt, 0, nT)
	for l := range nT {
		s.levelL[l], s.share[l] = 0, 0
		if s.failed[l] || len(s.linkFlows[l]) == 0 {
			continue
		}
		resid[l] = s.capa[l]
		cnt[l] = int32(len(s.linkFlows[l]))
		h = heapPush(h, heapEnt{resid[l] / float64(cnt[l]), int32(l)})
	}
	for f := range nF {
		s.rate[f], s.levelF[f] = -1, 0
	}
	order := make([]int32, 0, s.nAlive)
	maxR := make([]float64, nT) // rate of the last (hence largest) flow fixed on each link
	// Phase 1: rates
	for len(h) > 0 {
		var e heapEnt
		h, e = heapPop(h)
		l := e.l
		if cnt[l] == 0 {
			continue
		}
		sh := math.Max(resid[l], 0) / float64(cnt[l])
		if sh > e.key {
			h = heapPush(h, heapEnt{sh, l})
			continue
		}
		for _, f := range s.linkFlows[l] {
			if s.rate[f] >= 0 {
				continue
			}
			s.rate[f] = sh
			order = append(order, f)
			for _, n := range s.path[f] {
				resid[n] -= sh
				cnt[n]--
				maxR[n] = sh
			}
		}
	}
	if len(order) != s.nAlive {
		return false
	}
	// Phase 2: levels. Final share F_l: the largest rate on l if l is saturated.
	fin := make([]float64, nT)
	for l := range nT {
		fin[l] = math.Inf(1)
	}
	deg := cnt // reuse
	total := 0
	for l := range nT {
		deg[l] = 0
		if !s.failed[l] {
			deg[l] = int32(len(s.linkFlows[l]))
			total += len(s.linkFlows[l])
		}
	}
	for l := range nT {
		// resid holds capacity − load after Phase 1
		if deg[l] > 0 && resid[l] <= s.capa[l]*s.tol {
			fin[l] = maxR[l]
		}
	}
	// per-link flows sorted by rate (CSR), pointer to the first flow still blocked
	off := make([]int32, nT+1)
	for l := range nT {
		off[l+1] = off[l] + deg[l]
	}
	byRate := make([]int32, total)
	fill := make([]int32, nT)
	copy(fill, off[:nT])
	for _, f := range order {
		for _, n := range s.path[f] {
			byRate[fill[n]] = f
			fill[n]++
		}
	}
	ptr := fill // reuse: pointer per link
	blocked := make([]int32, nF)
	for l := range nT {
		resid[l] = s.capa[l]
		if deg[l] == 0 {
			continue
		}
		thr := s.capa[l] / float64(deg[l]) * up
		k := off[l]
		for k < off[l+1] && s.rate[byRate[k]] <= thr {
			k++
		}
		ptr[l] = k
		for i := k; i < off[l+1]; i++ {
			blocked[byRate[i]]++
		}
	}
	waiting := make([]int32, nT)
	candidate := func(f int32, l int32) bool { return s.rate[f]*up >= fin[l] }
	queue := make([]int32, 0, 64)
	queued := make([]int32, nT) // level the link was queued for
	for l := range nT {
		if deg[l] == 0 {
			continue
		}
		for _, f := range s.linkFlows[l] {
			if !candidate(f, int32(l)) || blocked[f] > 0 {
				waiting[l]++
			}
		}
		if waiting[l] == 0 {
			queue = append(queue, int32(l))
			queued[l] = 1
		}
	}
	unfixedCnt := deg
	var touched []int32
	touchedAt := make([]int32, nT)
	next := make([]int32, 0, 64)
	level := int32(0)
	left := s.nAlive
	for left > 0 {
		if len(queue) == 0 {
			fallbacks++
			return false
		}
		level++
		for _, l := range queue {
			if unfixedCnt[l] > 0 {
				s.levelL[l] = level
				s.share[l] = math.Max(resid[l], 0) / float64(unfixedCnt[l])
			}
		}
		touched = touched[:0]
		for _, l := range queue {
			if s.levelL[l] != level {
				continue
			}
			for _, f := range s.linkFlows[l] {
				if s.levelF[f] != 0 {
					continue
				}
				s.levelF[f] = level
				left--
				r := s.rate[f]
				for _, n := range s.path[f] {
					resid[n] -= r
					unfixedCnt[n]--
					if !candidate(f, n) {
						waiting[n]-- // a slower flow of n is fixed
					}
					if touchedAt[n] != level {
						touchedAt[n] = level
						touched = append(touched, n)
					}
				}
			}
		}
		next = next[:0]
		push := func(m int32) {
			if waiting[m] == 0 && unfixedCnt[m] > 0 && queued[m] != level+1 {
				queued[m] = level + 1
				next = append(next, m)
			}
		}
		for _, n := range touched {
			if unfixedCnt[n] == 0 {
				continue
			}
			thr := math.Max(resid[n], 0) / float64(unfixedCnt[n]) * up
			k := ptr[n]
			for k < off[n+1] && s.rate[byRate[k]] <= thr {
				f := byRate[k]
				k++
				if s.levelF[f] != 0 {
					continue
				}
				blocked[f]--
				if blocked[f] == 0 {
					for _, m := range s.path[f] {
						if candidate(f, m) {
							waiting[m]--
							push(m)
						}
					}
				}
			}
			ptr[n] = k
			push(n)
		}
		queue, next = next, queue
	}
	s.maxLevel = level
	return true
}

func heapPush(h []heapEnt, e heapEnt) []heapEnt {
	h = append(h, e)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h[p].key <= h[i].key {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	return h
}

func heapPop(h []heapEnt) ([]heapEnt, heapEnt) {
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && h[l].key < h[m].key {
			m = l
		}
		if r < n && h[r].key < h[m].key {
			m = r
		}
		if m == i {
			break
		}
		h[m], h[i] = h[i], h[m]
		i = m
	}
	return h, top
}
