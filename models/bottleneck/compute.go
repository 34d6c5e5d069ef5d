package bottleneck

import (
	"cmp"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// Compute recomputes the whole structure from scratch: max-min rates, levels exactly as
// the round-based definition of BOTTLENECK.md assigns them, and fair shares.
//
// Phase 1 is the classic progressive water-filling with a lazy min-heap of links keyed
// by fair share: the link with the smallest share fixes its unfixed flows; shares never
// decrease, so a popped key that is stale is re-pushed with the current share. It
// yields the rates and the flows' ranks (the order in which they were fixed, which is
// nondecreasing in rate). O((|L| + S) log |L| + Σ|path|) for S stale pops (S ≤ Σ|path|,
// in practice a small multiple of |L|).
//
// Phase 2 replays the rounds in O(Σ|path| + |L| + R) without rescanning: with the final
// rates known, link l (final share F_l, the largest rate on it if saturated) resolves
// in the first round in which (a) every flow on it slower than F_l is fixed and (b) no
// unfixed flow f at rate F_l is "blocked", i.e. has a link n on its path whose current
// share s_n satisfies s_n·(1+tol) < r_f. Each link keeps its flows sorted by rate and a
// pointer to the first flow it still blocks; shares only grow, so every (flow, link)
// pair is unblocked at most once. These are exactly the local-minimum rounds
// (property-tested against computeRounds and the exact engine).
//
// Memory layout. Both phases are bound by random memory accesses (on the 2-core VM of
// docs/benchmarks.md a dependent access beyond ~4 MB costs 150–250 ns, independent ones
// overlap to ~15 ns), so:
//   - paths are copied into fixed-size records (pathRec), and Phase 1 fetches the
//     records of all flows a link fixes in one tight loop;
//   - Phase 2 works on flows renumbered by rank, with the records (and the overflow of
//     paths longer than recLinks) copied in rank order while Phase 1 fixes the flows,
//     so that the flows one link fixes are (nearly) a contiguous range of ranks;
//   - the per-link lists sorted by rate are lists of ranks (in rank order, which is
//     rate order), and a rank's rate, blocking count and candidate link share one
//     16-byte entry, so a pointer scan reads its list sequentially and takes one
//     miss per flow it passes;
//   - one streaming pass over the ranks fills those lists and computes the initial
//     blocking counts, waiting counts and pointers, and notes for each flow the link
//     of which it is a candidate (usually one: its bottleneck), so that unblocking a
//     flow does not walk its path; from splitMinRanks flows on, the pass runs in two
//     halves of the ranks on two goroutines (the second half's list slots from Phase
//     1's per-link counts when it had fixed the first half);
//   - the rounds' per-link state is one 64-byte entry per link (linkSt);
//   - Phase 1 tests "already fixed" in a bitset (|F|/8 bytes, cache resident).
//
// Rates, levels and shares are bit for bit those of a walk over linkFlows in flow order
// (the unfixed flows of a resolving link are fixed in flow order), except that when
// rounding makes Phase 1's order non-monotone (the ranks are then re-sorted) a share
// may differ in its last bits.
//
// Memory: O(|L| + Σ|path|) scratch, about 4 bytes per path element plus 92 per flow
// (paths of up to recLinks links inline in the records; longer ones also take 8 bytes
// per element in the overflow arrays), kept by the State from its second Compute on
// (computeScratch). The hot loops do not allocate, apart from appends to buffers
// reused across rounds.
func (s *State) Compute() {
	s.syncRates()
	nT, nF := len(s.capa), len(s.path)
	s.rate = grow(s.rate, nF)
	s.levelF = grow(s.levelF, nF)
	s.levelL = grow(s.levelL, nT)
	s.share = grow(s.share, nT)
	s.pfxOK, s.pfxAll = false, false
	s.aggInvalidate()
	// the first Compute (New's) also builds the re-fill's assignments and columns,
	// beside Phase 2 (aggnew.go)
	var ab *aggBuilder
	if s.computed && s.cs == nil {
		s.cs = &computeScratch{}
	}
	if !s.computeFast(!s.agg.ok, &ab) {
		s.computeRounds()
	}
	s.computed = true
	if ab != nil {
		ab.install(&s.agg)
	}
	s.total = 0
	for f, r := range s.rate {
		if s.alive[f] {
			s.total += r
		}
	}
}

// splitMinRanks is the number of flows from which Phase 2's first pass runs in two
// halves on two goroutines (a variable for tests).
var splitMinRanks = 1 << 14

// splitPasses counts first passes run in two halves (tests check that they ran);
// atomic, since States on different goroutines compute at once.
var splitPasses atomic.Int64

// fallbacks counts computeFast bailing out to computeRounds (tests assert it stays 0).
var fallbacks int

type heapEnt struct {
	key float64
	l   int32
}

// pathRec is a flow's path in a fixed-size record, so that fetching it is one cache
// access and a loop fetching many of them keeps many misses in flight: rec[0] is the
// length; the links follow inline if there are at most recLinks of them, otherwise
// rec[1] is the path's offset in an overflow array.
type pathRec [recLinks + 1]int32

const recLinks = 7

// newPathRec returns path p as a record; a path longer than recLinks goes to the end
// of over, which is returned.
func newPathRec(p []int32, over []int32) (pathRec, []int32) {
	var r pathRec
	r[0] = int32(len(p))
	if len(p) <= recLinks {
		copy(r[1:], p)
	} else {
		r[1] = int32(len(over))
		over = append(over, p...)
	}
	return r, over
}

func (p *pathRec) links(over []int32) []int32 {
	if n := p[0]; n <= recLinks {
		return p[1 : 1+n]
	}
	return over[p[1] : p[1]+p[0]]
}

// computeScratch is computeFast's per-flow and per-incidence memory (~120 bytes per
// flow at 1M flows on fat-tree(32)), kept by a State that computes more than once
// (Refresh after re-fills), so that a repeated Compute neither allocates nor faults
// in fresh pages. New's Compute does not keep it: a State that is only read does not
// hold it.
type computeScratch struct {
	recs, rrec  []pathRec
	over, rover []int32
	order       []int32
	rr          []float64
	byRate      []int32
	rk          []rankEnt
}

// scratchOf returns x[:0] with capacity n from the kept scratch x (nil: none kept),
// and stores it back through keep.
func scratchOf[T any](keep *[]T, n int, kept bool) []T {
	if !kept {
		return make([]T, 0, n)
	}
	if cap(*keep) < n {
		*keep = make([]T, 0, n+n/16)
	}
	return (*keep)[:0]
}

func (s *State) computeFast(buildAgg bool, ab **aggBuilder) bool {
	nT, nF := len(s.capa), len(s.path)
	cs, kept := s.cs, s.cs != nil
	if !kept {
		cs = &computeScratch{}
	}
	nA := s.nAlive
	off, resid, maxDeg := s.linkLists()
	cnt := make([]int32, nT)
	h := make([]heapEnt, 0, nT)
	for l := range nT {
		if !s.failed[l] && off[l+1] > off[l] {
			cnt[l] = off[l+1] - off[l]
			h = heapPush(h, heapEnt{resid[l] / float64(cnt[l]), int32(l)})
		}
	}
	// paths as records, in flow order (a streaming pass)
	recs := scratchOf(&cs.recs, nF, kept)[:nF] // written for every alive flow below
	over := scratchOf(&cs.over, 0, kept)
	for f, p := range s.path {
		s.rate[f], s.levelF[f] = -1, 0
		if !s.alive[f] {
			continue
		}
		recs[f], over = newPathRec(p, over)
	}
	hasOver := len(over) > 0
	var rover []int32 // overflow of the paths in rank order
	if hasOver {
		rover = scratchOf(&cs.rover, len(over), kept)
	}
	fixed := make([]uint64, (nF+63)/64)
	order := scratchOf(&cs.order, nA, kept) // rank → flow
	rr := scratchOf(&cs.rr, nA, kept)       // rank → rate
	rrec := scratchOf(&cs.rrec, nA, kept)   // rank → path
	maxR := make([]float64, nT)             // rate of the last (hence largest) flow fixed on each link
	buf := make([]int32, maxDeg)
	mono := true
	// Phase 2's first pass runs on two goroutines over ranks [0, split) and [split,
	// nA); the second half's slots in the per-link lists follow from the per-link
	// counts of Phase 1 when it has fixed the first half (a copy of cnt then)
	cnt0 := slices.Clone(cnt)
	splitAt, split := nA/2, nA
	var cntAtSplit []int32
	if nA < splitMinRanks {
		splitAt = nA + 1 // small: one goroutine
	}
	var segs []aggSeg // Phase 1's saturations, when building the columns
	if buildAgg {
		segs = make([]aggSeg, 0, 1024)
	}
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
		if len(rr) > 0 && sh < rr[len(rr)-1] {
			mono = false
		}
		nb := 0
		for _, f := range s.linkFlows[l] {
			w, bit := f>>6, uint64(1)<<(uint32(f)&63)
			if fixed[w]&bit != 0 {
				continue
			}
			fixed[w] |= bit
			buf[nb] = f
			nb++
		}
		// fetch the records in a tight loop first (independent misses overlap)
		r0 := len(rrec)
		if buildAgg {
			segs = append(segs, aggSeg{l, int32(r0)})
		}
		for _, f := range buf[:nb] {
			rrec = append(rrec, recs[f])
		}
		if hasOver {
			// long paths move to an overflow array in rank order too
			for i := r0; i < len(rrec); i++ {
				if p := &rrec[i]; p[0] > recLinks {
					o := int32(len(rover))
					rover = append(rover, over[p[1]:p[1]+p[0]]...)
					p[1] = o
				}
			}
		}
		order = append(order, buf[:nb]...)
		for i := r0; i < len(rrec); i++ {
			rr = append(rr, sh)
			for _, n := range rrec[i].links(rover) {
				resid[n] -= sh
				cnt[n]--
				maxR[n] = sh
			}
		}
		if cntAtSplit == nil && len(rrec) >= splitAt {
			// ranks [0, split) cross link n cnt0[n] − cnt[n] times
			split = len(rrec)
			cntAtSplit = make([]int32, nT)
			copy(cntAtSplit, cnt)
		}
	}
	if kept { // appends may have grown them
		cs.over, cs.rover = over[:0], rover[:0]
	}
	if len(order) != nA {
		return false
	}
	if buildAgg {
		// reads order, rr, rrec and rover, which nothing writes from here on (a
		// re-sort below makes new arrays)
		*ab = startAggBuild(nT, nF, segs, order, rr, rrec, rover)
	}
	if !mono {
		// rounding made a later share a few ulps smaller: sort the ranks by rate
		// (stably) so that every per-link list below is sorted by rate.
		order, rr, rrec = sortRanks(order, rr, rrec)
		split, cntAtSplit = nA, nil // the counts are of the old order
	}
	return s.computeLevels(&levelInput{off: off, resid: resid, cnt: cnt, maxR: maxR, maxDeg: maxDeg,
		order: order, rr: rr, rrec: rrec, rover: rover, cnt0: cnt0, cntAtSplit: cntAtSplit, split: split}, cs, kept)
}

// linkLists resets the link levels and shares and returns the CSR offsets of the
// per-link lists (sized by each link's flows), each usable link's capacity (the
// residual before any flow is fixed; 0 for a failed link or one without flows) and the
// largest list of a usable link.
func (s *State) linkLists() (off []int32, resid []float64, maxDeg int) {
	nT := len(s.capa)
	off = make([]int32, nT+1)
	resid = make([]float64, nT)
	for l := range nT {
		s.levelL[l], s.share[l] = 0, 0
		d := len(s.linkFlows[l])
		off[l+1] = off[l] + int32(d)
		if s.failed[l] || d == 0 {
			continue
		}
		maxDeg = max(maxDeg, d)
		resid[l] = s.capa[l]
	}
	return off, resid, maxDeg
}

// levelInput is what Phase 2 (computeLevels) starts from: the CSR offsets of the
// per-link lists (sized by each link's flows), capacity − load and the largest rate
// per link, the largest flow count of a link (not failed), and the alive flows in rank
// order (rates nondecreasing): flow, rate and path record (paths longer than recLinks
// in rover, in rank order). cnt is per-link scratch.
type levelInput struct {
	off    []int32
	resid  []float64
	cnt    []int32
	maxR   []float64
	maxDeg int
	order  []int32
	rr     []float64
	rrec   []pathRec
	rover  []int32
	// split < len(order): the first pass runs on two goroutines over ranks [0, split)
	// and [split, len(order)); link n's lists then hold cnt0[n] − cntAtSplit[n] ranks
	// of the first part (Compute's Phase 1 counts; Refresh gives split = len(order))
	cnt0, cntAtSplit []int32
	split            int
}

// computeLevels is Compute's Phase 2: levels (rounds) and shares from the final rates
// in in; it writes rates, levels and shares (false: no link could resolve, the caller
// falls back). Its arrays reuse cs when kept.
func (s *State) computeLevels(in *levelInput, cs *computeScratch, kept bool) bool {
	nT, nA, up := len(s.capa), len(in.order), 1+s.tol
	off, resid, cnt, maxR, maxDeg := in.off, in.resid, in.cnt, in.maxR, in.maxDeg
	order, rr, rrec, rover := in.order, in.rr, in.rrec, in.rover
	cnt0, cntAtSplit, split := in.cnt0, in.cntAtSplit, in.split
	total := int(off[nT])
	// Phase 2: levels. Final share F_l: the largest rate on l if l is saturated.
	fin := make([]float64, nT)
	thr0 := make([]float64, nT) // share before any flow is fixed, with the tolerance
	deg := cnt                  // reuse: unfixed flows per link
	for l := range nT {
		fin[l], thr0[l] = math.Inf(1), math.Inf(1)
		deg[l] = 0
		if s.failed[l] || off[l+1] == off[l] {
			continue
		}
		deg[l] = off[l+1] - off[l]
		// resid holds capacity − load after Phase 1
		if resid[l] <= s.capa[l]*s.tol {
			fin[l] = maxR[l]
		}
		thr0[l] = s.capa[l] / float64(deg[l]) * up
	}
	// Per-link ranks sorted by rate (CSR; ranks are in rate order, so each list is in
	// rank order). One streaming pass over the ranks fills them and counts, per link,
	// the flows not above its initial share (ptr: the first flow it blocks) and the
	// flows it waits for (slower than F_l, or at F_l but blocked elsewhere), and per
	// flow the links that block it. A flow's rate, blocking count (then level) and
	// candidate link share one 16-byte entry (rk), so that the pointer scans below,
	// which reach the flows in random rank order, take one cache miss per flow. The
	// pass runs in two halves of the ranks at once (firstPass), each with its own
	// counters, which are then added.
	byRate := scratchOf(&cs.byRate, total, kept)[:total] // every entry written below
	rk := scratchOf(&cs.rk, nA, kept)[:nA]               // every entry written below
	fill := make([]int32, nT)
	copy(fill, off[:nT])
	ptr := make([]int32, nT)
	waiting := make([]int32, nT)
	fp := firstPass{up: up, thr0: thr0, fin: fin, rr: rr, rrec: rrec, rover: rover, byRate: byRate, rk: rk}
	if split < nA {
		splitPasses.Add(1)
		fill2 := make([]int32, nT)
		for n := range nT {
			fill2[n] = off[n] + cnt0[n] - cntAtSplit[n]
		}
		ptr2 := make([]int32, nT)
		waiting2 := make([]int32, nT)
		var wg sync.WaitGroup
		wg.Go(func() { fp.run(int32(split), int32(nA), fill2, ptr2, waiting2) })
		fp.run(0, int32(split), fill, ptr, waiting)
		wg.Wait()
		for n := range nT {
			ptr[n] += ptr2[n]
			waiting[n] += waiting2[n]
		}
	} else {
		fp.run(0, int32(nA), fill, ptr, waiting)
	}
	// The rounds read and write a link's state at random (per path element of each
	// flow they fix, per link they touch): it is one 64-byte entry (ls), so each
	// access is one cache line instead of one per array.
	ls := make([]linkSt, nT)
	queue := make([]int32, 0, 64)
	for l := range nT {
		e := &ls[l]
		e.start, e.end = off[l], off[l+1]
		k := off[l] + ptr[l]
		if deg[l] == 0 {
			k = off[l+1]
		}
		e.ptr = k
		e.nr = math.Inf(1)
		if k < off[l+1] {
			e.nr = rk[byRate[k]].x
		}
		e.resid, e.fin = s.capa[l], fin[l]
		e.unfixed, e.waiting = deg[l], waiting[l]
		if deg[l] > 0 && waiting[l] == 0 {
			queue = append(queue, int32(l))
			e.queued = 1
		}
	}
	var touched []int32
	cb := make([]fixEnt, 0, maxDeg)
	next := make([]int32, 0, 64)
	level := int32(0)
	left := nA
	for left > 0 {
		if len(queue) == 0 {
			fallbacks++
			return false
		}
		level++
		for _, l := range queue {
			if e := &ls[l]; e.unfixed > 0 {
				s.levelL[l] = level
				s.share[l] = math.Max(e.resid, 0) / float64(e.unfixed)
			}
		}
		touched = touched[:0]
		for _, l := range queue {
			if s.levelL[l] != level {
				continue
			}
			// The unfixed flows of l are at F_l: a suffix of its list. They are fixed
			// in flow order (the order of a fresh linkFlows), which keeps the
			// floating-point sums below, and so the shares, bit for bit the same as
			// fixing them while walking linkFlows.
			fl := ls[l].fin
			cb = cb[:0]
			for k := ls[l].end - 1; k >= ls[l].start; k-- {
				r := byRate[k]
				e := &rk[r]
				if e.x*up < fl {
					break
				}
				if e.b >= 0 { // unfixed
					cb = append(cb, fixEnt{order[r], r})
				}
			}
			sortFixEnts(cb)
			for _, c := range cb {
				r := c.r
				x := rk[r].x
				rk[r].b = -level
				left--
				for _, n := range rrec[r].links(rover) {
					e := &ls[n]
					e.resid -= x
					e.unfixed--
					if x*up < e.fin {
						e.waiting-- // a slower flow of n is fixed
					}
					if e.touchedAt != level {
						e.touchedAt = level
						touched = append(touched, n)
					}
				}
			}
		}
		next = next[:0]
		for _, n := range touched {
			ln := &ls[n]
			if ln.unfixed == 0 {
				continue
			}
			thr := math.Max(ln.resid, 0) / float64(ln.unfixed) * up
			if ln.nr <= thr {
				k, end := ln.ptr, ln.end
				var e *rankEnt
				for ; k < end; k++ {
					r := byRate[k]
					e = &rk[r]
					x := e.x
					if x > thr {
						break
					}
					// r is unfixed: a fixed flow had no blocking link left, so
					// every pointer had passed it
					e.b--
					if e.b != 0 {
						continue
					}
					// the flow no longer holds back the links of which it is a
					// candidate (usually one, its bottleneck)
					if m := e.cand; m >= 0 {
						lm := &ls[m]
						lm.waiting--
						if lm.waiting == 0 && lm.unfixed > 0 && lm.queued != level+1 {
							lm.queued = level + 1
							next = append(next, m)
						}
						continue
					}
					for _, m := range rrec[r].links(rover) {
						lm := &ls[m]
						if x*up >= lm.fin {
							lm.waiting--
							if lm.waiting == 0 && lm.unfixed > 0 && lm.queued != level+1 {
								lm.queued = level + 1
								next = append(next, m)
							}
						}
					}
				}
				ln.ptr = k
				ln.nr = math.Inf(1)
				if k < end {
					ln.nr = e.x // the entry the scan stopped at
				}
			}
			if ln.waiting == 0 && ln.queued != level+1 {
				ln.queued = level + 1
				next = append(next, n)
			}
		}
		queue, next = next, queue
	}
	for r, f := range order {
		s.rate[f], s.levelF[f] = rk[r].x, -rk[r].b
	}
	s.maxLevel = level
	return true
}

// firstPass is Phase 2's streaming pass over the ranks (computeFast): run fills the
// per-link lists of ranks [r0, r1) from the slots fill and counts into ptr and waiting;
// it writes only byRate's slots it is given, rk[r0:r1] and its own counters.
type firstPass struct {
	up        float64
	thr0, fin []float64
	rr        []float64
	rrec      []pathRec
	rover     []int32
	byRate    []int32
	rk        []rankEnt
}

func (fp *firstPass) run(r0, r1 int32, fill, ptr, waiting []int32) {
	up, thr0, fin, rr, rrec, rover, byRate, rk := fp.up, fp.thr0, fp.fin, fp.rr, fp.rrec, fp.rover, fp.byRate, fp.rk
	for r := r0; r < r1; r++ {
		x := rr[r]
		p := rrec[r].links(rover)
		b := int32(0)
		for _, n := range p {
			k := fill[n]
			byRate[k] = r
			fill[n] = k + 1
			if x <= thr0[n] {
				ptr[n]++
			} else {
				b++
			}
		}
		c := int32(-1)
		for _, n := range p {
			if x*up < fin[n] {
				waiting[n]++
				continue
			}
			if b > 0 {
				waiting[n]++
			}
			if c == -1 {
				c = n
			} else {
				c = -2
			}
		}
		rk[r] = rankEnt{x: x, b: b, cand: c}
	}
}

// linkSt is the rounds' state of a link (computeFast): its residual capacity, final
// share F_l, the rate of the flow at its pointer (+Inf past the end), its unfixed
// flows, the flows it waits for, its pointer and list bounds in byRate, and the
// levels at which it was last touched and queued. 64 bytes, one cache line.
type linkSt struct {
	resid, fin, nr                float64
	unfixed, waiting, ptr         int32
	start, end, touchedAt, queued int32
	_                             [12]byte
}

type fixEnt struct{ f, r int32 }

// rankEnt is Phase 2's state of the flow of one rank: its rate, its number of
// blocking links while unfixed (b ≥ 0) or minus its level once fixed, and the link
// of which it is a candidate (-1: none, -2: several).
type rankEnt struct {
	x    float64
	b    int32
	cand int32
}

// sortFixEnts sorts by flow index; the slices are short and usually sorted or
// reversed already.
func sortFixEnts(c []fixEnt) {
	if len(c) < 2 {
		return
	}
	asc, desc := true, true
	for i := 1; i < len(c); i++ {
		asc = asc && c[i-1].f < c[i].f
		desc = desc && c[i-1].f > c[i].f
	}
	switch {
	case asc:
	case desc:
		slices.Reverse(c)
	default:
		slices.SortFunc(c, func(a, b fixEnt) int { return cmp.Compare(a.f, b.f) })
	}
}

// sortRanks reorders the ranks stably by rate, with the paths. O(|F| log |F|); used
// only when rounding broke the monotonicity of Phase 1's order.
func sortRanks(order []int32, rr []float64, rrec []pathRec) ([]int32, []float64, []pathRec) {
	perm := make([]int32, len(order))
	for i := range perm {
		perm[i] = int32(i)
	}
	slices.SortStableFunc(perm, func(a, b int32) int { return cmp.Compare(rr[a], rr[b]) })
	o2 := make([]int32, len(order))
	r2 := make([]float64, len(rr))
	p2 := make([]pathRec, len(rrec))
	for i, r := range perm {
		o2[i], r2[i], p2[i] = order[r], rr[r], rrec[r]
	}
	return o2, r2, p2
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
