package bottleneck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// computeResults is a copy of what Compute writes, for bit-for-bit comparisons.
type computeResults struct {
	rate, share    []uint64
	levelF, levelL []int32
	maxLevel       int32
}

func resultsOf(s *State) computeResults {
	bits := func(x []float64) []uint64 {
		b := make([]uint64, len(x))
		for i, v := range x {
			b[i] = math.Float64bits(v)
		}
		return b
	}
	return computeResults{bits(s.rate), bits(s.share), slices.Clone(s.levelF), slices.Clone(s.levelL), s.maxLevel}
}

func (a computeResults) equal(b computeResults) bool {
	return slices.Equal(a.rate, b.rate) && slices.Equal(a.share, b.share) &&
		slices.Equal(a.levelF, b.levelF) && slices.Equal(a.levelL, b.levelL) && a.maxLevel == b.maxLevel
}

// TestComputeSplitPass checks that Phase 2's first pass run in two halves of the
// ranks on two goroutines gives bit for bit the rates, levels and shares of the pass
// run in one, on random networks with long paths, demands and failed links (the split
// forced from two flows on; a split is at a saturation's end, so it does not always
// happen), and that both agree with the direct round-based engine.
func TestComputeSplitPass(t *testing.T) {
	defer func(v int) { splitMinRanks = v }(splitMinRanks)
	rng := rand.New(rand.NewPCG(testSeed(21), 22))
	fails, splitIts, its := 0, 0, iterations(t, 1500, 200)
	for it := range its {
		nl := 4 + rng.IntN(30)
		n := &Network{}
		for i := range nl {
			n.Links = append(n.Links, Link{ID: fmt.Sprint("l", i), Capacity: float64(1 + rng.IntN(20))})
		}
		for i := range 2 + rng.IntN(60) {
			f := Flow{ID: fmt.Sprint("f", i)}
			for _, l := range rng.Perm(nl)[:1+rng.IntN(min(nl, 10))] {
				f.Path = append(f.Path, n.Links[l].ID)
			}
			if rng.IntN(4) == 0 {
				d := float64(1 + rng.IntN(20))
				f.Demand = &d
			}
			n.Flows = append(n.Flows, f)
		}
		splitMinRanks = 1 << 30
		s := mustNew(t, n)
		if rng.IntN(3) == 0 {
			// a failed link without reroute: its flows leave
			if _, err := s.FailLink(n.Links[rng.IntN(nl)].ID, nil); err == nil {
				fails++
			}
		}
		s.Compute()
		one := resultsOf(s)
		splitMinRanks = 2
		p0 := splitPasses.Load()
		s.Compute()
		if splitPasses.Load() > p0 {
			splitIts++
		}
		if two := resultsOf(s); !one.equal(two) {
			t.Fatalf("it %d: split pass %+v, one pass %+v", it, two, one)
		}
		s.computeRounds()
		if rounds := resultsOf(s); !slices.Equal(rounds.levelF, one.levelF) || !slices.Equal(rounds.levelL, one.levelL) {
			t.Fatalf("it %d: levels %v/%v, computeRounds %v/%v", it, one.levelF, one.levelL, rounds.levelF, rounds.levelL)
		}
	}
	if fallbacks != 0 {
		t.Fatalf("Compute fell back to computeRounds %d times", fallbacks)
	}
	if fails == 0 {
		t.Fatal("no link failure was exercised")
	}
	// a pass is not split when one saturation fixes the second half's first rank and
	// the last, or when rounding made the ranks be re-sorted
	if splitIts < its/2 {
		t.Fatalf("the pass was split in %d of %d networks", splitIts, its)
	}
}

// TestNewParallelLarge checks New on a fat-tree with 30k flows, where the link IDs are
// resolved by two goroutines in chunks and Phase 2's first pass is split at the
// default threshold: every path is the map lookup of its IDs, and Compute's results
// are bit for bit those of the pass in one piece.
func TestNewParallelLarge(t *testing.T) {
	if splitMinRanks > 30_000 || resolveChunk*2 > 30_000 {
		t.Fatal("the input is too small to exercise the parallel paths")
	}
	bi := fatTreeInput(t, 8, 30_000)
	s, err := New(bi.in)
	if err != nil {
		t.Fatal(err)
	}
	for f, fl := range bi.in.Flows {
		if len(s.path[f]) != len(fl.Path) {
			t.Fatalf("flow %d: path %v for %v", f, s.path[f], fl.Path)
		}
		for k, id := range fl.Path {
			if s.path[f][k] != s.linkIdx[id] {
				t.Fatalf("flow %d path[%d] %q resolved to %d, want %d", f, k, id, s.path[f][k], s.linkIdx[id])
			}
		}
	}
	if splitPasses.Load() == 0 {
		t.Fatal("Phase 2's first pass never ran in two halves")
	}
	split := resultsOf(s)
	defer func(v int) { splitMinRanks = v }(splitMinRanks)
	splitMinRanks = 1 << 30
	s.Compute()
	if one := resultsOf(s); !one.equal(split) {
		t.Fatal("New's Compute (split pass) differs from a Compute in one pass")
	}
}

// TestLinkStSize keeps the rounds' per-link entry at one cache line.
func TestLinkStSize(t *testing.T) {
	if n := unsafe.Sizeof(linkSt{}); n != 64 {
		t.Fatalf("linkSt is %d bytes, want 64", n)
	}
}
