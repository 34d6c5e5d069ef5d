package bottleneck

import (
	"math"
	"math/bits"
	"slices"
)

// Re-filling after a perturbation: a link-level water-filling over aggregated
// bottleneck assignments, restarted from a checkpoint below the perturbation.
//
// Assignments. Every flow f is assigned a bottleneck bn[f], a link of its path (its
// demand cap's virtual link included); col[b] lists, for each link x, how many of the
// flows assigned to b cross x (x = b included). The water-filling then runs on links
// instead of flows: when link b saturates at share s, the flows assigned to it are
// fixed at s and every link x loses col[b][x]·s of its residual capacity and
// col[b][x] of its unfixed flows, one update per (b, x) pair instead of one per
// (flow, link). An assignment is only a hint: when link l saturates while unfixed
// flows assigned to other links still cross it (its unfixed count exceeds its own
// column entry), those flows are found on l's flow list and moved to l ("flips"),
// their column entries with them, before l's column is applied. So the fill is the
// exact water-filling whatever the hints (property-tested against Compute); with the
// previous fill's assignments only flows whose bottleneck changed are touched one by
// one (7–60 per flow arrival on fat-tree(k=16) with 100k flows, where ~46,000 rates
// change).
//
// Restart. A perturbation touches seed links (capacities; all links of the old and
// new paths of flows added, removed or moved) and seed flows (those moved or
// removed). Let θ be at most the old saturation level of every seed link and the old
// rate of every seed flow. The fill restarts from the last checkpoint of the previous
// fill (the state after its first k saturations, the k-th at level y_k < θ): every
// other link keeps the checkpoint's state, a seed link's is recomputed from its flows
// (those fixed by then keep their rates). The first k saturations happen exactly as
// before provided that no seed link is among them and every seed link's share in
// that state is at least y_k: a seed share below some y_j (j ≤ k) could only fall
// further as the flows fixed on the link after the j-th saturation, at levels ≥ y_j,
// are taken out, so it would be below y_k at the checkpoint. A seed link left
// without unfixed flows must not be over its capacity for the same reason.
// Otherwise an earlier checkpoint is tried (none: a fill from scratch). The kept
// checkpoints get the seed links' new state. So flows slower than θ keep their
// rates, and the results equal a full recomputation (property-tested, including long
// runs of restarted fills with frequent checkpoints).
//
// Cost of a fill: O(|L|) to restart (checkpoint copy, queue build), then O(P +
// Σ_flips |path| log C) for the P column pairs of the links saturating after the
// restart (318k in all on that fat-tree, against 550k path elements) with columns of
// at most C entries, plus the radix heap: O(1) per push, an entry moves down at most
// 8 levels between two refreshes of its key (to the link's current share, when its
// bucket is redistributed, so no stale key is popped; ~11 bucket moves per saturation
// on that fat-tree, about half of them after a refresh); plus a checkpoint
// copy (O(|L|)) every ckptEvery saturations. Rates are then written in one streaming pass, rate(f) = sat(bn[f]),
// O(|F|), which also lists the changed flows. Level numbers (rounds) and bottleneck
// sets are not recomputed: they depend on the rounds of the whole structure, so the
// next read of one (FlowLevel, LinkLevel, Levels, Graph, Bottlenecks) recomputes them
// first (Refresh: Compute's phase 2 on the fill's rates, refresh.go). The
// incremental engine uses this path when a round replay is abandoned (its region grew
// too large) and whenever levels are stale.
//
// The assignments and columns follow every path change (attach, detach); New builds
// them beside Compute (aggnew.go), else they are built on first use from the current
// rates. Checkpoints are dropped by anything
// else that sets rates (a round replay, Compute); Refresh keeps them, since it only
// recomputes the levels of the rates the last fill set.

// Refresh brings level numbers and bottleneck sets up to date after incremental
// updates that re-filled the rates (Delta.Resumed); the reads that need them call it
// on demand. Call it before sharing a State between goroutines for reading.
//
// It keeps the rates of the last fill and recomputes only what depends on the rounds
// (levels, shares, bottleneck sets): Compute's Phase 2 on the fill's rates and
// saturation order (refreshLevels), O(|L| + Σ|path|) without Compute's heap-based
// Phase 1. Level numbers stay a global recomputation: a flow's level is the round
// of the whole structure in which its bottleneck resolves, so a rate change can move
// the rounds of links far from it (and a re-fill changes the rates of about half the
// flows on the benchmarks' fat-trees; docs/benchmarks.md).
func (s *State) Refresh() {
	s.syncRates()
	if s.stale {
		// the rates stay those of the last fill, so its checkpoints stay valid
		ck := s.agg.ckOK
		s.agg.refreshes++
		if s.refreshLevels() {
			s.aggInvalidate()
		} else {
			s.agg.refreshFulls++
			s.Compute()
		}
		s.stale, s.agg.ckOK = false, ck
	}
}

// nonNeg is max(r, 0) for a residual capacity (never NaN), inlined: math.Max is an
// assembly call on amd64, which spilled the hot loops' registers.
func nonNeg(r float64) float64 {
	if r > 0 {
		return r
	}
	return 0
}

type colEnt struct {
	x int32 // link crossed
	n int32 // flows assigned to the column's link that cross x
}

// notPopped marks a link that has not saturated in the current fill.
const notPopped = math.MaxInt32

// ckptEvery is the number of saturations between two checkpoints of a fill; before
// the first, checkpoints are also taken after 16, 32, 64, … saturations (a flow
// arriving on a congested link restarts low).
const ckptEvery = 256

// maxCkpts bounds the checkpoints of a fill on large networks (the interval grows).
const maxCkpts = 32

type aggregate struct {
	ok      bool
	bn      []int32    // per flow: assigned bottleneck (valid for alive flows)
	col     [][]colEnt // per link: sorted by x
	selfCnt []int32    // per link: its own column's entry for itself
	isNew   []bool     // per flow: added by the current update (scratch)
	// results of the last fill: per link, the level it saturated at (+Inf if it fixed
	// no flow) and its position in the saturation order (notPopped if none)
	sat    []float64
	popIdx []int32
	nPops  int32
	// checkpoints of the last fill (every ckptEvery saturations, or more when there
	// would be more than maxCkpts): valid while ckOK
	// and the link count is ckNT
	ckpts []aggCkpt
	ckOK  bool
	ckNT  int
	every int32 // saturations between checkpoints (0: ckptEvery; tests set it low)
	// fill scratch (seeds: the seed links' state in a restart)
	ls    []linkFill
	seeds []linkFill
	// restart scratch: the seed links' flows (seedPrep), seed link j's at
	// seedFix[seedOff[j]:seedOff[j+1]]
	seedFix []seedFix
	seedOff []int32
	queue   radixQueue
	// old rates (syncRates keeps them in prev for the pending per-flow listing)
	prev []float64
	// the update in progress (aggBegin): whether rates were lazy before it, the
	// links' levels before it (satCur: a.sat was current then) and the pre-update
	// rates of lazy flows whose assignment it changed
	wasLazy   bool
	satCur    bool
	satBefore []float64
	oldRec    []float64 // per flow: its recorded pre-update rate, valid where recBits is set
	recBits   []uint64  // flows whose pre-update rate is in oldRec
	recList   []int32   // the flows set in recBits (cleared by the next aggBegin)
	bits      []uint64  // listing scratch: changed flows
	lvMoved   []bool    // listing scratch: per link, whether its level moved
	// last fill's measures (tests, benchmarks): flows moved, saturations replayed
	flips, pops int
	stale       int // stale keys popped and pushed again
	// flips scratch: per link, the flows moved to the saturating link that cross it
	// (zero outside mergeCol's input), and the links with a non-zero entry
	acc     []int32
	accX    []int32
	restart int32 // saturations skipped by restarting from a checkpoint
	// column layout: the columns lie in one array (arena) in the order of a recent
	// fill's saturations (order: the links of the last fill by saturation), so that
	// the column updates of a fill, which saturates links in about that order, read
	// memory mostly sequentially (the hardware prefetcher follows) instead of one
	// separately allocated column per link; pos is a link's rank in that layout (-1:
	// its column moved out, after growing past its slack; outCols counts those) and
	// fillsSince the fills since the layout was made
	arena      []colEnt
	order      []int32
	pos        []int32
	outCols    int
	fillsSince int
	layouts    int // layouts made (tests, benchmarks)
	relayout   int // fills between layouts (0: relayoutFills; tests set it low)
	// refreshes of stale levels from the fill's rates (refreshLevels), and those that
	// fell back to a full Compute (tests, benchmarks)
	refreshes, refreshFulls int
}

// aggCkpt is the state of a fill after its first k saturations (the last at level y).
type aggCkpt struct {
	k  int32
	y  float64
	ls []linkFill
}

// linkFill is a link's state in a fill: residual capacity and unfixed flows, side by
// side so that a column update touches one cache line per link.
type linkFill struct {
	resid float64
	cnt   int32
}

// colAdd adds d (±1) to column b's entry for link x.
func (a *aggregate) colAdd(b, x int32, d int32) {
	if b == x {
		a.selfCnt[b] += d
	}
	c := a.col[b]
	// the first entry with c[i].x >= x (a binary search written out: the generic
	// one with a comparison closure was a tenth of a failure's re-fill)
	i, j := 0, len(c)
	for i < j {
		h := int(uint(i+j) >> 1)
		if c[h].x < x {
			i = h + 1
		} else {
			j = h
		}
	}
	if found := i < len(c) && c[i].x == x; found {
		c[i].n += d
		if c[i].n == 0 {
			a.col[b] = slices.Delete(c, i, i+1)
		}
		return
	}
	if len(c) == cap(c) {
		// out of slack: the column leaves the arena
		n := make([]colEnt, len(c)+1, len(c)+1+colSlack(len(c)+1))
		copy(n, c[:i])
		n[i] = colEnt{x, d}
		copy(n[i+1:], c[i:])
		a.col[b] = n
		a.leaveArena(b)
		return
	}
	a.col[b] = slices.Insert(c, i, colEnt{x, d})
}

// leaveArena notes that column l was moved out of the arena.
func (a *aggregate) leaveArena(l int32) {
	if a.pos[l] >= 0 {
		a.pos[l] = -1
		a.outCols++
	}
}

// colSlack is the free room left after a column of n entries in the arena.
func colSlack(n int) int { return n/16 + 2 }

// packCols lays the columns out in a new arena in the order of the last fill's
// saturations (links that did not saturate last): O(Σ|col|).
func (a *aggregate) packCols(nT int) {
	n := 0
	for _, c := range a.col[:nT] {
		n += len(c) + colSlack(len(c))
	}
	a.arena = make([]colEnt, n) // the old one is garbage once every column left it
	a.layouts++
	a.outCols, a.fillsSince = 0, 0
	o, r := 0, int32(0)
	put := func(l int32) {
		c := a.col[l]
		m := len(c)
		dst := a.arena[o : o+m : o+m+colSlack(m)]
		copy(dst, c)
		a.col[l], a.pos[l] = dst, r
		o += m + colSlack(m)
		r++
	}
	for _, l := range a.order {
		put(l)
	}
	for l := range int32(nT) {
		if a.popIdx[l] == notPopped {
			put(l)
		}
	}
}

// mergeCol adds the counts gathered in acc (for the links in accX) to column l in
// one sorted merge, and clears them: O(|col l| + k log k) for k gathered links,
// instead of a binary search and an insertion per path element of each moved flow.
func (a *aggregate) mergeCol(l int32) {
	xs := a.accX
	if len(xs) == 0 {
		return
	}
	slices.Sort(xs)
	old := a.col[l]
	// the merged length: old entries plus the gathered links not in them
	m, i := len(old), 0
	for _, x := range xs {
		for i < len(old) && old[i].x < x {
			i++
		}
		if i < len(old) && old[i].x == x {
			i++
		} else {
			m++
		}
	}
	if m <= cap(old) {
		// in place (in the arena's slack), merged from the back
		out := old[:m]
		i, k := len(old)-1, m-1
		for j := len(xs) - 1; j >= 0; j-- {
			x := xs[j]
			for i >= 0 && old[i].x > x {
				out[k] = old[i]
				i, k = i-1, k-1
			}
			n := a.acc[x]
			if i >= 0 && old[i].x == x {
				n += old[i].n
				i--
			}
			out[k] = colEnt{x, n}
			k--
		}
		a.col[l] = out
	} else {
		out := make([]colEnt, 0, m+colSlack(m))
		i := 0
		for _, x := range xs {
			for i < len(old) && old[i].x < x {
				out = append(out, old[i])
				i++
			}
			n := a.acc[x]
			if i < len(old) && old[i].x == x {
				n += old[i].n
				i++
			}
			out = append(out, colEnt{x, n})
		}
		a.col[l] = append(out, old[i:]...)
		a.leaveArena(l)
	}
	for _, x := range xs {
		if x == l {
			a.selfCnt[l] += a.acc[x]
		}
		a.acc[x] = 0
	}
	a.accX = xs[:0]
}

func (a *aggregate) growLinks(nT int) {
	for len(a.col) < nT {
		a.col = append(a.col, nil)
		a.selfCnt = append(a.selfCnt, 0)
		a.pos = append(a.pos, -1)
	}
}

// aggAttach assigns flow f (already on its links) to the link of its path with the
// lowest level in the last fill (a hint: the fill corrects it).
func (s *State) aggAttach(f int32) {
	a := &s.agg
	if !a.ok {
		return
	}
	a.growLinks(len(s.capa))
	for len(a.bn) < len(s.path) {
		a.bn = append(a.bn, -1)
	}
	p := s.path[f]
	b := lowestOn(p, a.sat)
	a.bn[f] = b
	for _, x := range p {
		a.colAdd(b, x, 1)
	}
}

// lowestOn returns the link of path p with the lowest level in sat (links beyond sat,
// added since, count as +Inf; the first of the path if none is lower).
func lowestOn(p []int32, sat []float64) int32 {
	b := p[0]
	for _, l := range p[1:] {
		if int(max(l, b)) < len(sat) && sat[l] < sat[b] {
			b = l
		}
	}
	return b
}

// aggDetach removes flow f (path unchanged yet) from its assigned column.
func (s *State) aggDetach(f int32) {
	a := &s.agg
	if !a.ok {
		return
	}
	b := a.bn[f]
	s.recordOld(f)
	for _, x := range s.path[f] {
		a.colAdd(b, x, -1)
	}
	a.bn[f] = -1
}

// aggBuild assigns every alive flow to the link of its path with the lowest level in
// sat and builds the columns: O(Σ|path| log Σ|path|).
func (s *State) aggBuild(sat []float64) {
	a := &s.agg
	nT, nF := len(s.capa), len(s.path)
	a.bn = grow(a.bn, nF)
	a.col, a.selfCnt, a.pos = a.col[:0], a.selfCnt[:0], a.pos[:0]
	a.arena, a.outCols = nil, 0 // laid out after the first fill
	a.growLinks(nT)
	for f, p := range s.path {
		a.bn[f] = -1
		if !s.alive[f] || len(p) == 0 {
			continue
		}
		a.bn[f] = lowestOn(p, sat)
	}
	// the links of each column's flows, gathered then sorted and counted
	deg := make([]int32, nT)
	for f, p := range s.path {
		if a.bn[f] >= 0 {
			deg[a.bn[f]] += int32(len(p))
		}
	}
	xs := make([][]int32, nT)
	for l := range nT {
		if deg[l] > 0 {
			xs[l] = make([]int32, 0, deg[l])
		}
	}
	for f, p := range s.path {
		if b := a.bn[f]; b >= 0 {
			xs[b] = append(xs[b], p...)
		}
	}
	for l, v := range xs {
		a.col[l] = nil
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		c := make([]colEnt, 0, len(v)/2+1)
		for _, x := range v {
			if k := len(c) - 1; k >= 0 && c[k].x == x {
				c[k].n++
			} else {
				c = append(c, colEnt{x, 1})
			}
			if x == int32(l) {
				a.selfCnt[l]++
			}
		}
		a.col[l] = slices.Clip(c)
	}
	a.ok, a.ckOK = true, false
}

// aggInvalidate drops the last fill's checkpoints: rates were changed by another path
// (a full Compute or a round replay).
func (s *State) aggInvalidate() { s.agg.ckOK, s.agg.satCur = false, false }

// aggFill runs the link-level water-filling on the current topology, restarted from
// a checkpoint of the previous fill when one applies (see above), and writes the
// saturation level of every link to a.sat; flows' rates are sat(bn[f]) afterwards.
func (s *State) aggFill(seedLinks, seedFlows []int32) {
	a := &s.agg
	nT := len(s.capa)
	a.ls = grow(a.ls, nT)
	a.acc = grow(a.acc, nT) // all zero outside the flips of one link
	a.flips, a.pops, a.restart = 0, 0, 0
	from := -1
	if a.ckOK && a.ckNT == nT {
		theta := math.Inf(1)
		for _, f := range seedFlows {
			if !a.isNew[f] {
				theta = math.Min(theta, s.preRate(f))
			}
		}
		for _, x := range seedLinks {
			theta = math.Min(theta, a.sat[x])
		}
		// only checkpoints below θ may be restored: when there is none (a failure's
		// moved flows often include the slowest ones), the seed links' flows are
		// not gathered at all (for a link failure on fat-tree(k=16) with 100k flows,
		// 50k–95k of them, for a fill that starts from scratch anyway)
		last := len(a.ckpts) - 1
		for last >= 0 && a.ckpts[last].y >= theta {
			last--
		}
		if last >= 0 {
			s.seedPrep(seedLinks, a.ckpts[last].k)
		}
		for c := last; c >= 0; c-- {
			if a.ckpts[c].y < theta && s.aggRestore(&a.ckpts[c], seedLinks) {
				from = c
				break
			}
		}
	}
	every := a.every
	if every <= 0 {
		// at most about maxCkpts checkpoints (sized by the last fill, or by the
		// links for a first one): their memory is O(maxCkpts·|L|)
		est := int(a.nPops)
		if !a.ckOK {
			est = nT
		}
		every = max(ckptEvery, int32(est/maxCkpts))
	}
	// the links that have not saturated (all, or those after the checkpoint) are
	// reset and queued in the same pass
	q := &a.queue
	q.reset(nT)
	if from < 0 {
		a.sat = grow(a.sat, nT)
		a.popIdx = grow(a.popIdx, nT)
		a.ckpts = a.ckpts[:0]
		a.nPops = 0
		a.order = a.order[:0]
		for l := range nT {
			a.sat[l], a.popIdx[l] = math.Inf(1), notPopped
			d := int32(len(s.linkFlows[l]))
			if s.failed[l] {
				d = 0
			}
			a.ls[l] = linkFill{s.capa[l], d}
			if d > 0 {
				q.push(nonNeg(s.capa[l])/float64(d), int32(l))
			}
		}
	} else {
		k := a.ckpts[from].k
		a.ckpts = a.ckpts[:from+1]
		// the kept checkpoints hold the seed links' old state: bring it up to date
		for i := range a.ckpts {
			c := &a.ckpts[i]
			for j, x := range seedLinks {
				c.ls[x].resid, c.ls[x].cnt = s.seedState(j, x, c.k)
			}
		}
		a.nPops, a.restart = k, k
		a.order = a.order[:k]
		for l := range nT {
			if a.popIdx[l] >= k {
				a.sat[l], a.popIdx[l] = math.Inf(1), notPopped
				if c := a.ls[l].cnt; c > 0 && !s.failed[l] {
					q.push(nonNeg(a.ls[l].resid)/float64(c), int32(l))
				}
			}
		}
	}
	a.stale = 0
	for {
		e, ok := q.pop(a.ls)
		if !ok {
			break
		}
		l := e.l
		c := a.ls[l].cnt
		if c == 0 {
			continue
		}
		sh := nonNeg(a.ls[l].resid) / float64(c)
		if sh > e.key {
			q.push(sh, l) // stale key (shares only grow)
			a.stale++
			continue
		}
		if need := c - a.selfCnt[l]; need != 0 {
			// unfixed flows assigned elsewhere cross l: they are fixed here (the
			// scan stops at the last of them: c counts l's unfixed flows and
			// selfCnt those assigned to l)
			for _, f := range s.linkFlows[l] {
				if need == 0 {
					break
				}
				b := a.bn[f]
				if b == l || a.popIdx[b] != notPopped {
					continue
				}
				need--
				s.recordOld(f)
				for _, x := range s.path[f] {
					a.colAdd(b, x, -1)
					if a.acc[x] == 0 {
						a.accX = append(a.accX, x)
					}
					a.acc[x]++
				}
				a.bn[f] = l
				a.flips++
			}
			a.mergeCol(l)
		}
		a.popIdx[l] = a.nPops
		a.nPops++
		a.order = append(a.order, l)
		a.pops++
		a.sat[l] = sh
		ls := a.ls // a local: stores through x cannot change it (no reload per pair)
		for _, e := range a.col[l] {
			x := &ls[e.x]
			x.resid -= float64(e.n) * sh
			x.cnt -= e.n
		}
		if k := a.nPops; k%every == 0 || k < every && k >= 16 && k&(k-1) == 0 {
			a.checkpoint(sh)
		}
	}
	a.ckOK, a.ckNT = true, nT
	a.fillsSince++
	relayout := a.relayout
	if relayout <= 0 {
		relayout = relayoutFills
	}
	if a.arena == nil || a.fillsSince >= relayout || a.outCols > nT/8 {
		a.packCols(nT)
	}
}

// relayoutFills is the number of fills after which the columns are laid out again in
// the last fill's order (also when more than an eighth of them left the arena): a
// layout copies every column, O(Σ|col|), about the cost of a fill, and the order of
// the saturations drifts slowly (links of equal share swap places in every fill).
const relayoutFills = 64

// checkpoint records the fill's state after its a.nPops-th saturation (at level y).
func (a *aggregate) checkpoint(y float64) {
	n := len(a.ckpts)
	if n < cap(a.ckpts) {
		a.ckpts = a.ckpts[:n+1]
	} else {
		a.ckpts = append(a.ckpts, aggCkpt{})
	}
	c := &a.ckpts[n]
	c.k, c.y = a.nPops, y
	c.ls = append(c.ls[:0], a.ls...)
}

// aggRestore loads checkpoint c into the fill's state with the seed links'
// residual capacities and unfixed counts recomputed, if no seed link saturated
// before it and every seed link's share is at least its level (see aggFill); it
// reports whether it did.
func (s *State) aggRestore(c *aggCkpt, seedLinks []int32) bool {
	a := &s.agg
	a.seeds = a.seeds[:0]
	for j, x := range seedLinks {
		if a.popIdx[x] < c.k {
			// saturated before the checkpoint (θ rules it out unless rounding made
			// the levels non-monotone): its flows' fixing may change
			return false
		}
		r, n := s.seedState(j, x, c.k)
		if !s.failed[x] && (n > 0 && nonNeg(r)/float64(n) < c.y || n == 0 && r < -s.tol*s.capa[x]) {
			return false
		}
		a.seeds = append(a.seeds, linkFill{r, n})
	}
	copy(a.ls, c.ls)
	for i, x := range seedLinks {
		a.ls[x] = a.seeds[i]
	}
	return true
}

// seedFix is a flow of a seed link in a restart: the saturation index, in the
// previous fill, of the link it is assigned to (notPopped for a new flow, or one
// fixed after the last checkpoint) and its rate before the update.
type seedFix struct {
	p int32
	r float64
}

// seedPrep gathers each seed link's flows as seedFix records, once per restart, so
// that the link's state at any checkpoint of at most maxK saturations is one
// sequential pass over them (seedState) instead of random reads of each flow's
// assignment and rate.
func (s *State) seedPrep(seedLinks []int32, maxK int32) {
	a := &s.agg
	a.seedFix, a.seedOff = a.seedFix[:0], append(a.seedOff[:0], 0)
	for _, x := range seedLinks {
		if !s.failed[x] {
			for _, f := range s.linkFlows[x] {
				e := seedFix{notPopped, 0}
				if !a.isNew[f] {
					if p := a.popIdx[a.bn[f]]; p < maxK {
						e = seedFix{p, s.preRate(f)}
					}
				}
				a.seedFix = append(a.seedFix, e)
			}
		}
		a.seedOff = append(a.seedOff, int32(len(a.seedFix)))
	}
}

// seedState is the j-th seed link x's residual capacity and unfixed flows after the
// first k saturations (k at most seedPrep's maxK; seedPrep first): the flows
// fixed by then (assigned to a link among the first k saturated) keep their rates.
func (s *State) seedState(j int, x int32, k int32) (float64, int32) {
	a := &s.agg
	if s.failed[x] {
		return 0, 0
	}
	r, n := s.capa[x], int32(0)
	for _, e := range a.seedFix[a.seedOff[j]:a.seedOff[j+1]] {
		if e.p < k {
			r -= e.r
		} else {
			n++
		}
	}
	return r, n
}

// radixQueue is a monotone priority queue of links by share (a radix heap with
// 8-bit digits): keys pushed are never below the last key popped, which holds for the
// fill (the level only rises and shares only grow). A key's float64 bits (ordered
// like the values, keys being non-negative) are compared with the last key popped: a
// key equal to it goes to bucket 0, another one to the bucket of the highest byte in
// which they differ and of its own value of that byte (8 × 256 buckets, with bit
// masks of the non-empty ones). A pop from an empty bucket 0 takes the first
// non-empty bucket in that order — it holds the smallest keys —, makes its smallest
// key the last one and redistributes the bucket to lower bytes. Push is O(1) and an
// entry moves down at most 8 times between two refreshes of its key (on fat-tree(k=16)
// with 100k flows: ~11 moves per saturation in all, ~5 of them after a refresh).
type radixQueue struct {
	last  uint64
	level uint8        // levels (bytes) with a non-empty bucket
	digit [8][4]uint64 // per level: non-empty buckets
	// buckets as intrusive lists of links (a link is queued at most once): the
	// first link of each bucket, and per link the next one and its key; small
	// arrays, so that moving an entry touches cache-resident memory only
	head [1 + 8*256]int32
	next []int32
	key  []float64
	keep []int32 // scratch: the entries of the bucket being redistributed
	n    int
}

// reset empties the queue for links 0..nT-1.
func (q *radixQueue) reset(nT int) {
	for i := range q.head {
		q.head[i] = -1
	}
	q.next, q.key = grow(q.next, nT), grow(q.key, nT)
	q.last, q.level, q.n = 0, 0, 0
	q.digit = [8][4]uint64{}
}

// slot is the bucket of key bits u relative to the last key popped.
func (q *radixQueue) slot(u uint64) int {
	x := u ^ q.last
	if x == 0 {
		return 0
	}
	p := uint(63-bits.LeadingZeros64(x)) >> 3
	return 1 + int(p<<8) + int(u>>(p<<3)&255)
}

// put prepends link l to bucket i and marks it non-empty.
func (q *radixQueue) put(i int, l int32) {
	q.next[l], q.head[i] = q.head[i], l
	if i > 0 {
		p, d := (i-1)>>8, (i-1)&255
		q.digit[p][d>>6] |= 1 << (d & 63)
		q.level |= 1 << p
	}
}

func (q *radixQueue) push(key float64, l int32) {
	q.key[l] = key
	q.put(q.slot(math.Float64bits(key)), l)
	q.n++
}

// pop removes an entry with the smallest key; ok is false when the queue is empty.
// Keys are lower bounds of the links' shares (ls: the fill's state), which only
// grow: when a bucket is redistributed, each of its keys is first refreshed to the
// link's current share (never lowered, so keys stay at or above the last key popped;
// a key grown past its bucket moves to its new, later bucket) and links without
// unfixed flows are dropped, so that no stale key reaches the top.
func (q *radixQueue) pop(ls []linkFill) (heapEnt, bool) {
	for q.head[0] < 0 {
		if q.n == 0 {
			return heapEnt{}, false
		}
		p := bits.TrailingZeros8(q.level)
		w := 0
		for q.digit[p][w] == 0 {
			w++
		}
		d := w<<6 + bits.TrailingZeros64(q.digit[p][w])
		i := 1 + p<<8 + d
		q.digit[p][w] &^= 1 << (d & 63)
		if q.digit[p] == [4]uint64{} {
			q.level &^= 1 << p
		}
		keep := q.keep[:0]
		var m uint64
		for l := q.head[i]; l >= 0; {
			nx := q.next[l]
			st := ls[l]
			if st.cnt == 0 {
				q.n--
				l = nx
				continue
			}
			k := q.key[l]
			// a multiplication first: the division only for a key that grew (about
			// half of them); k ≥ 0, so a residual that passes is positive
			if st.resid > k*float64(st.cnt) {
				if key := st.resid / float64(st.cnt); key > k {
					k, q.key[l] = key, key
					if j := q.slot(math.Float64bits(key)); j != i {
						q.put(j, l) // a later bucket
						l = nx
						continue
					}
				}
			}
			if u := math.Float64bits(k); len(keep) == 0 || u < m {
				m = u
			}
			keep = append(keep, l)
			l = nx
		}
		q.head[i], q.keep = -1, keep
		if len(keep) == 0 {
			continue
		}
		q.last = m
		for _, l := range keep {
			q.put(q.slot(math.Float64bits(q.key[l])), l) // a lower byte: not bucket i
		}
	}
	l := q.head[0]
	q.head[0] = q.next[l]
	q.n--
	return heapEnt{q.key[l], l}, true
}

// aggRefill recomputes every rate by the link-level fill (building the assignments
// first if needed) and records the changed, added and removed flows in d.
func (s *State) aggRefill(d *Delta, seedLinks, seedFlows, added, removed []int32) {
	a := &s.agg
	if !a.ok {
		s.aggBuild(s.satHint())
	}
	a.isNew = grow(a.isNew, len(s.path))
	for _, f := range added {
		a.isNew[f] = true
	}
	s.aggFill(seedLinks, seedFlows)
	// The link-level answer: levels that moved and the total throughput, O(|L|).
	// Rates are not written: rate(f) = sat(bn[f]) until something reads them
	// (syncRates), and the per-flow listing is produced on demand (Delta.RateChanges).
	for _, f := range removed {
		if !a.isNew[f] {
			d.changes = append(d.changes, RateChange{Flow: s.flowID[f], Old: s.preRate(f), Removed: true})
		}
	}
	d.Links = slices.Grow(d.Links, a.pops) // about as many levels move as links saturate again
	total := 0.0
	for l, n := range a.selfCnt {
		if n > 0 {
			total += float64(n) * a.sat[l]
		}
	}
	sb := a.satBefore[:0]
	if a.satCur {
		sb = a.satBefore
	}
	for l, nl := range a.sat {
		// a level the fill left as it was, bit for bit, did not move (a failed
		// link has none: +Inf); most links' are, so they take this one compare
		if l < len(sb) && math.Float64bits(sb[l]) == math.Float64bits(nl) && (math.IsInf(nl, 1) || !s.failed[l]) {
			continue
		}
		if s.virtOf[l] == -2 {
			continue
		}
		ol := s.levelBefore(int32(l))
		if math.IsInf(nl, 1) || s.failed[l] {
			nl = 0
		}
		if s.moved(ol, nl) {
			d.Links = append(d.Links, LinkChange{Link: s.linkName(int32(l)), Old: ol, New: nl})
		}
	}
	s.total, d.Total = total, total
	for _, f := range removed {
		s.releaseFlow(f)
	}
	d.lazy, d.gen = s, s.gen
	for _, f := range added { // removed ones that were added by this update included
		a.isNew[f] = false
		if s.alive[f] {
			d.added = append(d.added, f)
		}
	}
	d.DirtyLinks, d.ExaminedFlows = a.pops, a.flips
	s.stale, s.lazy, a.satCur = true, true, true
}

// aggBegin notes, at the start of an update, what the per-flow listing of a re-fill
// needs of the state before it: whether rates were lazy and the links' levels.
func (s *State) aggBegin() {
	a := &s.agg
	a.wasLazy = s.lazy
	for _, f := range a.recList {
		a.recBits[f>>6] &^= 1 << (f & 63)
	}
	a.recList = a.recList[:0]
	if a.satCur {
		a.satBefore = append(a.satBefore[:0], a.sat...)
	}
}

// levelBefore is link l's level before the current update (0: no bottleneck).
func (s *State) levelBefore(l int32) float64 {
	a := &s.agg
	if a.satCur {
		if int(l) < len(a.satBefore) && !math.IsInf(a.satBefore[l], 1) {
			return a.satBefore[l]
		}
		return 0
	}
	if int(l) < len(s.levelL) {
		return levelOf(s.levelL[l], s.share[l])
	}
	return 0
}

// recordOld keeps flow f's pre-update rate before its assignment changes (needed
// only when rates were lazy: otherwise s.rate holds it).
func (s *State) recordOld(f int32) {
	a := &s.agg
	if !a.wasLazy || a.bn[f] < 0 {
		return
	}
	if int(f>>6) >= len(a.recBits) {
		a.recBits = extend(a.recBits, len(s.path)/64+1)
	}
	if a.recBits[f>>6]&(1<<(f&63)) == 0 {
		if int(f) >= len(a.oldRec) {
			a.oldRec = extend(a.oldRec, len(s.path))
		}
		a.recBits[f>>6] |= 1 << (f & 63)
		a.recList = append(a.recList, f)
		a.oldRec[f] = a.satBefore[a.bn[f]]
	}
}

// preRate is flow f's rate before the current update.
func (s *State) preRate(f int32) float64 {
	a := &s.agg
	if !a.wasLazy {
		return s.rate[f]
	}
	if int(f>>6) < len(a.recBits) && a.recBits[f>>6]&(1<<(f&63)) != 0 {
		return a.oldRec[f]
	}
	return a.satBefore[a.bn[f]]
}

// syncRates writes the rates a re-fill left lazy, rate(f) = sat(bn[f]), in one
// streaming pass, keeping the old ones in a.prev for the pending per-flow listing.
func (s *State) syncRates() {
	if !s.lazy {
		return
	}
	a := &s.agg
	nF := len(s.path)
	a.prev = grow(a.prev, nF)
	bn, rate, prev := a.bn[:nF], s.rate[:nF], a.prev[:nF]
	for f, b := range bn {
		prev[f] = rate[f]
		if b >= 0 && s.alive[f] {
			rate[f] = a.sat[b]
		}
	}
	s.lazy = false
}

// listLazyChanges appends to out the flows whose rate the last update (a re-fill,
// with the State's update counter unchanged since) changed beyond the tolerance, in
// flow order, added flows included. Two streaming passes over the flows: the changed
// ones are marked in a bit set and counted, then listed into a slice of exact size.
// O(|F|). When rates were lazy before the update, a flow whose assignment the update
// left alone had rate satBefore(bn) and has sat(bn): whether it changed is a property
// of its link, tabulated once (O(|L|)), so the first pass reads only the assignments
// (and, per word of 64 flows, the recorded ones' bits).
func (s *State) listLazyChanges(out []RateChange, added []int32) []RateChange {
	a := &s.agg
	isNew := a.isNew
	for _, f := range added {
		isNew[f] = true
	}
	nF := len(s.path)
	a.bits = grow(a.bits, (nF+63)/64)
	n := 0
	if a.wasLazy {
		// per link: whether the old rate satBefore and the new rate sat of the flows
		// assigned to it differ (links added by the update have no old flows)
		mv := grow(a.lvMoved, len(a.sat))
		a.lvMoved = mv
		for b, nr := range a.sat {
			mv[b] = b >= len(a.satBefore) || s.moved(a.satBefore[b], nr)
		}
		rec := a.recBits
		for w := range a.bits {
			var m uint64
			lo := w * 64
			hi := min(lo+64, nF)
			var rw uint64
			if w < len(rec) {
				rw = rec[w]
			}
			alive, nw := s.alive[lo:hi], isNew[lo:hi]
			for i, b := range a.bn[lo:hi] {
				if b < 0 || !alive[i] {
					continue
				}
				switch {
				case nw[i]:
					m |= 1 << uint(i)
				case rw&(1<<uint(i)) != 0:
					if s.moved(a.oldRec[lo+i], a.sat[b]) {
						m |= 1 << uint(i)
					}
				case mv[b]:
					m |= 1 << uint(i)
				}
			}
			a.bits[w] = m
			n += bits.OnesCount64(m)
		}
	} else {
		// the old rates are s.rate (still lazy) or a.prev (synced since)
		old := s.rate
		if !s.lazy {
			old = a.prev
		}
		for w := range a.bits {
			var m uint64
			lo := w * 64
			hi := min(lo+64, nF)
			alive, nw, or := s.alive[lo:hi], isNew[lo:hi], old[lo:hi]
			for i, b := range a.bn[lo:hi] {
				if b < 0 || !alive[i] {
					continue
				}
				if nw[i] || s.moved(or[i], a.sat[b]) {
					m |= 1 << uint(i)
				}
			}
			a.bits[w] = m
			n += bits.OnesCount64(m)
		}
	}
	out = slices.Grow(out, n)
	for w, m := range a.bits {
		for ; m != 0; m &= m - 1 {
			f := int32(w*64 + bits.TrailingZeros64(m))
			nr := a.sat[a.bn[f]]
			if isNew[f] {
				out = append(out, RateChange{Flow: s.flowID[f], New: nr, Added: true})
			} else {
				out = append(out, RateChange{Flow: s.flowID[f], Old: s.oldRate(f), New: nr})
			}
		}
	}
	for _, f := range added {
		isNew[f] = false
	}
	return out
}

// oldRate is flow f's rate before the last update, for the per-flow listing.
func (s *State) oldRate(f int32) float64 {
	switch {
	case s.agg.wasLazy:
		return s.preRate(f)
	case s.lazy:
		return s.rate[f]
	default: // synced since: the old rates are in prev
		return s.agg.prev[f]
	}
}

// satHint returns per-link levels to build assignments from: the saturation levels
// when levels are current, else each link's largest flow rate.
func (s *State) satHint() []float64 {
	sat := make([]float64, len(s.capa))
	for l := range sat {
		sat[l] = math.Inf(1)
		if !s.stale && s.levelL[l] > 0 && !s.failed[l] {
			sat[l] = s.share[l]
		}
	}
	if s.stale {
		for l, fs := range s.linkFlows {
			m := 0.0
			for _, f := range fs {
				m = math.Max(m, s.rate[f])
			}
			if len(fs) > 0 {
				sat[l] = m
			}
		}
	}
	return sat
}
