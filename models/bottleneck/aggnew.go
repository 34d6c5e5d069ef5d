package bottleneck

import (
	"math"
	"math/bits"
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
// link and a bit set that lists each column's links in order. That pass only reads Phase 1's
// arrays, which Phase 2 reads too and nobody writes, so it runs on a second goroutine
// while Phase 2 replays the rounds; Compute waits for it before it returns. Cost:
// O(Σ|path| + Σ_b k_b) for columns of k_b entries (3.6M pairs for 5.5M path
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
	b.bn = make([]int32, nF, nF+nF/32) // headroom for arrivals, as New's arrays
	for f := range b.bn {
		b.bn[f] = -1
	}
	b.col = make([][]colEnt, nT)
	b.selfCnt = make([]int32, nT)
	b.sat = make([]float64, nT)
	for l := range b.sat {
		b.sat[l] = math.Inf(1)
	}
	// per column: a counter per crossed link and a two-level bit set of those links
	// (words, and words of non-empty words), which lists them in order without a
	// sort and stays in cache (|L|/8 bytes)
	acc := make([]int32, nT)
	words := make([]uint64, (nT+63)/64)
	sum := make([]uint64, (len(words)+63)/64)
	var chunk []colEnt
	for i, sg := range segs {
		l, r1 := sg.l, int32(len(order))
		if i+1 < len(segs) {
			r1 = segs[i+1].r0
		}
		b.sat[l] = rr[sg.r0]
		k, lo, hi := 0, len(sum), 0 // links, range of summary words touched
		for r := sg.r0; r < r1; r++ {
			b.bn[order[r]] = l
			for _, x := range rrec[r].links(rover) {
				if acc[x] == 0 {
					words[x>>6] |= 1 << (x & 63)
					sum[x>>12] |= 1 << ((x >> 6) & 63)
					lo, hi = min(lo, int(x>>12)), max(hi, int(x>>12)+1)
					k++
				}
				acc[x]++
			}
		}
		if len(chunk)+k > cap(chunk) {
			chunk = make([]colEnt, 0, max(colChunk, k))
		}
		c0 := len(chunk)
		for si := lo; si < hi; si++ {
			sw := sum[si]
			sum[si] = 0
			for ; sw != 0; sw &= sw - 1 {
				wi := si<<6 + bits.TrailingZeros64(sw)
				for w := words[wi]; w != 0; w &= w - 1 {
					x := int32(wi<<6 + bits.TrailingZeros64(w))
					chunk = append(chunk, colEnt{x, acc[x]})
					if x == l {
						b.selfCnt[l] = acc[x]
					}
					acc[x] = 0
				}
				words[wi] = 0
			}
		}
		b.col[l] = chunk[c0:len(chunk):len(chunk)]
	}
}

// install waits for the build and makes it the State's assignments and columns.
// a.sat gets the saturation levels of the fill Phase 1 was (the hints aggAttach
// reads); no checkpoint is kept, so the first re-fill starts from scratch.
func (b *aggBuilder) install(a *aggregate) {
	b.wg.Wait()
	a.bn, a.col, a.selfCnt, a.sat = b.bn, b.col, b.selfCnt, b.sat
	a.ok, a.ckOK, a.satCur = true, false, false
	// as aggBuild leaves them: no column in an arena yet (they are laid out in one
	// after the first fill, in its saturation order)
	a.pos = a.pos[:0]
	for range a.col {
		a.pos = append(a.pos, -1)
	}
	a.arena, a.outCols = nil, 0
}
