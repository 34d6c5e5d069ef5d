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
// at most C entries, plus the radix heap: O(1) per push, each entry moves down at
// most 8 levels (about twice in practice) and its key is refreshed to the link's
// current share when it moves, so no stale key is popped; plus a checkpoint
// copy (O(|L|)) every ckptEvery saturations. Rates are then written in one streaming pass, rate(f) = sat(bn[f]),
// O(|F|), which also lists the changed flows. Level numbers (rounds) and bottleneck
// sets are not recomputed: they depend on the rounds of the whole structure, so the
// next read of one (FlowLevel, LinkLevel, Levels, Graph, Bottlenecks) runs one full
// Compute first (Refresh). The incremental engine uses this path when a round replay
// is abandoned (its region grew too large) and whenever levels are stale.
//
// The assignments and columns follow every path change (attach, detach); New builds
// them beside Compute (aggnew.go), else they are built on first use from the current
// rates. Checkpoints are dropped by anything
// else that sets rates (a round replay, Compute — except from Refresh, which only
// recomputes the levels of the rates the last fill set).

// Refresh brings level numbers and bottleneck sets up to date after incremental
// updates that re-filled the rates (Delta.Resumed); the reads that need them call it
// on demand. Call it before sharing a State between goroutines for reading.
func (s *State) Refresh() {
	s.syncRates()
	if s.stale {
		// the rates stay those of the last fill (up to rounding), so its
		// checkpoints stay valid
		ck := s.agg.ckOK
		s.Compute()
		s.stale, s.agg.ckOK = false, ck
	}
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
	queue radixQueue
	// old rates (syncRates keeps them in prev for the pending per-flow listing)
	prev []float64
	// the update in progress (aggBegin): whether rates were lazy before it, the
	// links' levels before it (satCur: a.sat was current then) and the pre-update
	// rates of lazy flows whose assignment it changed
	wasLazy   bool
	satCur    bool
	satBefore []float64
	oldRec    map[int32]float64
	recBits   []uint64 // flows in oldRec, so that a listing looks up only those
	bits      []uint64 // listing scratch: changed flows
	// last fill's measures (tests, benchmarks): flows moved, saturations replayed
	flips, pops int
	stale       int // stale keys popped and pushed again
	// flips scratch: per link, the flows moved to the saturating link that cross it
	// (zero outside mergeCol's input), and the links with a non-zero entry
	acc     []int32
	accX    []int32
	restart int32 // saturations skipped by restarting from a checkpoint
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
	i, found := slices.BinarySearchFunc(c, x, func(e colEnt, x int32) int { return int(e.x - x) })
	if found {
		c[i].n += d
		if c[i].n == 0 {
			a.col[b] = slices.Delete(c, i, i+1)
		}
		return
	}
	a.col[b] = slices.Insert(c, i, colEnt{x, d})
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
	out := make([]colEnt, 0, len(old)+len(xs))
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
		if x == l {
			a.selfCnt[l] += a.acc[x]
		}
		a.acc[x] = 0
	}
	out = append(out, old[i:]...)
	a.col[l], a.accX = out, xs[:0]
}

func (a *aggregate) growLinks(nT int) {
	for len(a.col) < nT {
		a.col = append(a.col, nil)
		a.selfCnt = append(a.selfCnt, 0)
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
	a.col, a.selfCnt = a.col[:0], a.selfCnt[:0]
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
		for c := len(a.ckpts) - 1; c >= 0; c-- {
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
	if from < 0 {
		a.sat = grow(a.sat, nT)
		a.popIdx = grow(a.popIdx, nT)
		a.ckpts = a.ckpts[:0]
		a.nPops = 0
		for l := range nT {
			a.sat[l], a.popIdx[l] = math.Inf(1), notPopped
			d := len(s.linkFlows[l])
			a.ls[l] = linkFill{s.capa[l], int32(d)}
			if s.failed[l] {
				a.ls[l].cnt = 0
			}
		}
	} else {
		k := a.ckpts[from].k
		a.ckpts = a.ckpts[:from+1]
		// the kept checkpoints hold the seed links' old state: bring it up to date
		for i := range a.ckpts {
			c := &a.ckpts[i]
			for _, x := range seedLinks {
				c.ls[x].resid, c.ls[x].cnt = s.seedState(x, c.k)
			}
		}
		a.nPops, a.restart = k, k
		for l := range nT {
			if a.popIdx[l] >= k {
				a.sat[l], a.popIdx[l] = math.Inf(1), notPopped
			}
		}
	}
	q := &a.queue
	q.reset()
	for l := range nT {
		if c := a.ls[l].cnt; c > 0 && a.popIdx[l] == notPopped && !s.failed[l] {
			q.push(math.Max(a.ls[l].resid, 0)/float64(c), int32(l))
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
		sh := math.Max(a.ls[l].resid, 0) / float64(c)
		if sh > e.key {
			q.push(sh, l) // stale key (shares only grow)
			a.stale++
			continue
		}
		if c != a.selfCnt[l] {
			// unfixed flows assigned elsewhere cross l: they are fixed here
			for _, f := range s.linkFlows[l] {
				b := a.bn[f]
				if b == l || a.popIdx[b] != notPopped {
					continue
				}
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
		a.pops++
		a.sat[l] = sh
		for _, e := range a.col[l] {
			x := &a.ls[e.x]
			x.resid -= float64(e.n) * sh
			x.cnt -= e.n
		}
		if k := a.nPops; k%every == 0 || k < every && k >= 16 && k&(k-1) == 0 {
			a.checkpoint(sh)
		}
	}
	a.ckOK, a.ckNT = true, nT
}

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
	for _, x := range seedLinks {
		if a.popIdx[x] < c.k {
			// saturated before the checkpoint (θ rules it out unless rounding made
			// the levels non-monotone): its flows' fixing may change
			return false
		}
		r, n := s.seedState(x, c.k)
		if !s.failed[x] && (n > 0 && math.Max(r, 0)/float64(n) < c.y || n == 0 && r < -s.tol*s.capa[x]) {
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

// seedState is seed link x's residual capacity and unfixed flows after the first k
// saturations: the flows fixed by then (assigned to a link among the first k
// saturated) keep their rates.
func (s *State) seedState(x int32, k int32) (float64, int32) {
	a := &s.agg
	if s.failed[x] {
		return 0, 0
	}
	r, n := s.capa[x], int32(0)
	for _, f := range s.linkFlows[x] {
		if !a.isNew[f] && a.popIdx[a.bn[f]] < k {
			r -= s.preRate(f)
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
// entry moves down at most 8 times (about twice in practice: a binary radix heap
// moved each entry ~15 times here).
type radixQueue struct {
	last  uint64
	level uint8        // levels (bytes) with a non-empty bucket
	digit [8][4]uint64 // per level: non-empty buckets
	b     [1 + 8*256][]heapEnt
	n     int
}

func (q *radixQueue) reset() {
	for i := range q.b {
		q.b[i] = q.b[i][:0]
	}
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

// put appends e to bucket i and marks it non-empty.
func (q *radixQueue) put(i int, e heapEnt) {
	q.b[i] = append(q.b[i], e)
	if i > 0 {
		p, d := (i-1)>>8, (i-1)&255
		q.digit[p][d>>6] |= 1 << (d & 63)
		q.level |= 1 << p
	}
}

func (q *radixQueue) push(key float64, l int32) {
	q.put(q.slot(math.Float64bits(key)), heapEnt{key, l})
	q.n++
}

// pop removes an entry with the smallest key; ok is false when the queue is empty.
// Keys are lower bounds of the links' shares (ls: the fill's state), which only
// grow: when a bucket is redistributed, each of its keys is first refreshed to the
// link's current share (never lowered, so keys stay at or above the last key popped;
// a key grown past its bucket moves to its new, later bucket) and links without
// unfixed flows are dropped, so that no stale key reaches the top.
func (q *radixQueue) pop(ls []linkFill) (heapEnt, bool) {
	for len(q.b[0]) == 0 {
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
		bk := q.b[i]
		q.b[i] = bk[:0]
		k, m := 0, -1
		for _, e := range bk {
			st := ls[e.l]
			if st.cnt == 0 {
				q.n--
				continue
			}
			if key := math.Max(st.resid, 0) / float64(st.cnt); key > e.key {
				e.key = key
				if j := q.slot(math.Float64bits(key)); j != i {
					q.put(j, e) // a later bucket
					continue
				}
			}
			bk[k] = e
			if m < 0 || e.key < bk[m].key {
				m = k
			}
			k++
		}
		if k == 0 {
			continue
		}
		q.last = math.Float64bits(bk[m].key)
		for _, e := range bk[:k] {
			q.put(q.slot(math.Float64bits(e.key)), e) // a lower byte: not bucket i
		}
	}
	b0 := q.b[0]
	e := b0[len(b0)-1]
	q.b[0] = b0[:len(b0)-1]
	q.n--
	return e, true
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
	total := 0.0
	for l, n := range a.selfCnt {
		if n > 0 {
			total += float64(n) * a.sat[l]
		}
	}
	for l := range a.sat {
		if s.virtOf[l] == -2 {
			continue
		}
		ol, nl := s.levelBefore(int32(l)), a.sat[l]
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
	for f := range a.oldRec {
		a.recBits[f>>6] &^= 1 << (f & 63)
	}
	clear(a.oldRec)
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
	if _, ok := a.oldRec[f]; !ok {
		if a.oldRec == nil {
			a.oldRec = map[int32]float64{}
		}
		for int(f>>6) >= len(a.recBits) {
			a.recBits = append(a.recBits, 0)
		}
		a.recBits[f>>6] |= 1 << (f & 63)
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
// O(|F|).
func (s *State) listLazyChanges(out []RateChange, added []int32) []RateChange {
	a := &s.agg
	isNew := a.isNew
	for _, f := range added {
		isNew[f] = true
	}
	nF := len(s.path)
	a.bits = grow(a.bits, (nF+63)/64)
	tol, n := s.tol, 0
	for w := range a.bits {
		var m uint64
		lo := w * 64
		for i, b := range a.bn[lo:min(lo+64, nF)] {
			f := int32(lo + i)
			if b < 0 || !s.alive[f] {
				continue
			}
			if isNew[f] {
				m |= 1 << uint(i)
				continue
			}
			nr, or := a.sat[b], s.oldRate(f)
			thr := tol
			if or > 1 {
				thr = tol * or
			}
			if math.Abs(nr-or) > thr {
				m |= 1 << uint(i)
			}
		}
		a.bits[w] = m
		n += bits.OnesCount64(m)
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
