package bottleneck

import (
	"cmp"
	"slices"
)

// refreshLevels recomputes level numbers, shares and bottleneck sets after re-fills
// (Refresh) without recomputing the rates: the last fill left them in agg (rate(f) =
// sat(bn[f]), synced into s.rate), and its saturation order is their rank order, so
// Compute's Phase 1 (the heap-based water-filling that finds rates and ranks) is
// replaced by one streaming pass over the flows that places each flow at its rank
// (a counting sort by its bottleneck's position in the saturation order) and sums
// each link's load; Phase 2 (computeLevels) then runs as in Compute. O(|L| + Σ|path|).
// It returns false when the fill's results do not cover every alive flow or Phase 2
// finds no link to resolve (the caller then runs Compute, which rewrites everything).
//
// Phase 2 stays global. What an incremental one could keep: the levels of the flows
// and links below the refresh cut (the lowest old or new rate of a changed flow and
// the lowest old or new initial share of a link whose capacity, failure or flow count
// changed; TestPropertyRefreshCut), not those of every link saturated before the
// re-fill's restart point (TestRefreshLevelBeforeRestartMoves); docs/benchmarks.md
// (session 11, h26f) measures how much that is and why the rounds make it hard to use.
func (s *State) refreshLevels() bool {
	a := &s.agg
	if s.lazy || !a.ok {
		return false
	}
	nT, nF, nA := len(s.capa), len(s.path), s.nAlive
	nP := int(a.nPops)
	if len(a.bn) < nF || len(a.popIdx) < nT || len(a.sat) < nT || len(s.rate) < nF {
		return false
	}
	// flows per saturation (a counting sort's buckets)
	cnt := make([]int32, max(nP, nT))
	for f, b := range a.bn[:nF] {
		if !s.alive[f] {
			continue
		}
		if b < 0 || int(b) >= nT {
			return false
		}
		p := a.popIdx[b]
		if p < 0 || int(p) >= nP {
			return false
		}
		cnt[p]++
	}
	// the saturations in rate order: their order in the fill, unless rounding (the
	// column updates subtract n·s at once) made a later one a few ulps lower; they
	// are then sorted stably by level, so that the ranks are sorted by rate (as
	// Compute's re-sort of the ranks does, but over saturations instead of flows)
	bySat := make([]float64, nP)
	for l, p := range a.popIdx[:nT] {
		if p != notPopped && p >= 0 && int(p) < nP {
			bySat[p] = a.sat[l]
		}
	}
	sats := make([]int32, nP)
	for p := range sats {
		sats[p] = int32(p)
	}
	if !slices.IsSortedFunc(sats, func(x, y int32) int { return cmp.Compare(bySat[x], bySat[y]) }) {
		slices.SortStableFunc(sats, func(x, y int32) int { return cmp.Compare(bySat[x], bySat[y]) })
	}
	// each saturation's first rank
	start := make([]int32, nP)
	r := int32(0)
	for _, p := range sats {
		start[p] = r
		r += cnt[p]
	}
	if int(r) != nA {
		return false
	}
	if s.cs == nil {
		s.cs = &computeScratch{}
	}
	cs := s.cs
	s.levelF = grow(s.levelF, nF)
	s.levelL = grow(s.levelL, nT)
	s.share = grow(s.share, nT)
	// per-link lists' offsets and the largest list (as Compute's Phase 1 sets them)
	off, resid, maxDeg := s.linkLists()
	maxR := make([]float64, nT)
	order := scratchOf(&cs.order, nA, true)[:nA]
	rr := scratchOf(&cs.rr, nA, true)[:nA]
	rrec := scratchOf(&cs.rrec, nA, true)[:nA]
	over := scratchOf(&cs.over, 0, true)
	// one pass in flow order: each flow's rank, rate and path record; each link's
	// load and largest rate
	next := start
	for f, p := range s.path {
		if !s.alive[f] {
			s.rate[f], s.levelF[f] = -1, 0
			continue
		}
		b := a.bn[f]
		r := next[a.popIdx[b]]
		next[a.popIdx[b]] = r + 1
		x := s.rate[f]
		order[r], rr[r] = int32(f), x
		rrec[r], over = newPathRec(p, over)
		for _, n := range p {
			resid[n] -= x
			maxR[n] = max(maxR[n], x)
		}
	}
	var rover []int32
	if len(over) > 0 {
		// long paths move to an overflow array in rank order
		rover = scratchOf(&cs.rover, len(over), true)
		for i := range rrec {
			if q := &rrec[i]; q[0] > recLinks {
				o := int32(len(rover))
				rover = append(rover, over[q[1]:q[1]+q[0]]...)
				q[1] = o
			}
		}
		cs.rover = rover[:0]
	}
	cs.over = over[:0]
	clear(cnt)
	if !s.computeLevels(&levelInput{off: off, resid: resid, cnt: cnt[:nT], maxR: maxR, maxDeg: maxDeg,
		order: order, rr: rr, rrec: rrec, rover: rover, split: nA}, cs, true) {
		return false
	}
	s.pfxOK, s.pfxAll = false, false
	s.total = 0
	for f, r := range s.rate {
		if s.alive[f] {
			s.total += r
		}
	}
	return true
}
