package bottleneck

import (
	"math"
	"slices"
	"sync"
)

// Building the re-fill's assignments and columns (agg.go) as part of the first full
// Compute (so as part of New), instead of on the first update that re-fills.
//
// Compute's Phase 1 is a water-filling in which each saturating link fixes a run of
// consecutive ranks, whose paths it has just copied in rank order (rrec). Assigning
// every flow to the link that fixed it is therefore exact (the first re-fill moves no
// flow for a stale assignment), and column b is the count, per link x, of the paths
// in b's run that cross x: one streaming pass over the records, a dense counter per
// link and a sort of each column's distinct links. That pass only reads Phase 1's
// arrays, which Phase 2 reads too and nobody writes, so it runs on a second goroutine
// while Phase 2 replays the rounds; Compute waits for it before it returns. Cost:
// O(Σ|path| + Σ_b k_b log k_b) for columns of k_b entries (3.6M pairs for 5.5M path
// elements on fat-tree(32) with 1M flows), memory 8 bytes per pair and 4 per flow.

// aggSeg is one saturation of Phase 1: link l fixed the flows of ranks r0 up to the
// next segment's r0.
type aggSeg struct{ l, r0 int32 }

// colChunk is the size of the shared arrays columns are cut from (one allocation
// per chunk instead of one per column; a column that grows is copied out by the
// update that grows it, as its capacity is its length).
const colChunk = 1 << 16

// aggBuilder is an assignment and column build running beside Phase 2.
type aggBuilder struct {
	wg      sync.WaitGroup
	bn      []int32
	col     [][]colEnt
	selfCnt []int32
	sat     []float64
}

// startAggBuild starts building, from Phase 1's segments, rank order (order), rates
// by rank (rr) and paths by rank (rrec, rover), the assignments of nF flows to nT
// links; the caller must not write those arrays until b.wg.Wait returns.
func startAggBuild(nT, nF int, segs []aggSeg, order []int32, rr []float64, rrec []pathRec, rover []int32) *aggBuilder {
	b := &aggBuilder{}
	b.wg.Go(func() { b.build(nT, nF, segs, order, rr, rrec, rover) })
	return b
}

func (b *aggBuilder) build(nT, nF int, segs []aggSeg, order []int32, rr []float64, rrec []pathRec, rover []int32) {
	b.bn = make([]int32, nF)
	for f := range b.bn {
		b.bn[f] = -1
	}
	b.col = make([][]colEnt, nT)
	b.selfCnt = make([]int32, nT)
	b.sat = make([]float64, nT)
	for l := range b.sat {
		b.sat[l] = math.Inf(1)
	}
	acc := make([]int32, nT)
	xs := make([]int32, 0, 256)
	var chunk []colEnt
	for i, sg := range segs {
		l, r1 := sg.l, int32(len(order))
		if i+1 < len(segs) {
			r1 = segs[i+1].r0
		}
		b.sat[l] = rr[sg.r0]
		for r := sg.r0; r < r1; r++ {
			b.bn[order[r]] = l
			for _, x := range rrec[r].links(rover) {
				if acc[x] == 0 {
					xs = append(xs, x)
				}
				acc[x]++
			}
		}
		slices.Sort(xs)
		if len(chunk)+len(xs) > cap(chunk) {
			chunk = make([]colEnt, 0, max(colChunk, len(xs)))
		}
		k := len(chunk)
		for _, x := range xs {
			chunk = append(chunk, colEnt{x, acc[x]})
			acc[x] = 0
		}
		c := chunk[k:len(chunk):len(chunk)]
		b.col[l] = c
		if j, ok := slices.BinarySearchFunc(c, l, func(e colEnt, x int32) int { return int(e.x - x) }); ok {
			b.selfCnt[l] = c[j].n
		}
		xs = xs[:0]
	}
}

// install waits for the build and makes it the State's assignments and columns.
// a.sat gets the saturation levels of the fill Phase 1 was (the hints aggAttach
// reads); no checkpoint is kept, so the first re-fill starts from scratch.
func (b *aggBuilder) install(a *aggregate) {
	b.wg.Wait()
	a.bn, a.col, a.selfCnt, a.sat = b.bn, b.col, b.selfCnt, b.sat
	a.ok, a.ckOK, a.satCur = true, false, false
}
