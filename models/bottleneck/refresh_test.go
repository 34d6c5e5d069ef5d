package bottleneck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomPerturbation applies one random update to s (arrival, departure, capacity or
// demand change, link failure with rerouting, restoration), appending it to what;
// nil, nil when none applied.
func randomPerturbation(t *testing.T, rng *rand.Rand, s *State, next *int, what *string) *Delta {
	t.Helper()
	var d *Delta
	var err error
	switch op := rng.IntN(6); {
	case op == 0:
		f, ok := randomArrival(rng, s, next)
		if !ok {
			return nil
		}
		if rng.IntN(4) == 0 {
			v := float64(1 + rng.IntN(20))
			f.Demand = &v
		}
		*what += " add " + f.ID
		d, err = s.AddFlow(f)
	case op == 1 && s.NumFlows() > 0:
		n := s.Network()
		id := n.Flows[rng.IntN(len(n.Flows))].ID
		*what += " remove " + id
		d, err = s.RemoveFlow(id)
	case op == 2:
		n := s.Network()
		if len(n.Links) == 0 {
			return nil
		}
		id := n.Links[rng.IntN(len(n.Links))].ID
		c, _ := s.Capacity(id)
		c *= 0.8 + 0.4*rng.Float64()
		*what += fmt.Sprintf(" capacity %s=%v", id, c)
		d, err = s.SetCapacity(id, c)
	case op == 3 && s.NumFlows() > 0:
		d, err = randomDemandChange(rng, s, what)
	case op == 4:
		for l, f := range s.failed {
			if f && s.virtOf[l] == -1 && rng.IntN(2) == 0 {
				*what += " restore " + s.linkID[l]
				d, err = s.RestoreLink(s.linkID[l])
				break
			}
		}
		if d == nil && err == nil {
			n := s.Network()
			if len(n.Links) < 3 {
				return nil
			}
			d, err = randomFailure(rng, s, n, true, what)
		}
	default:
		return nil
	}
	if err != nil {
		t.Fatalf("%s: %v", *what, err)
	}
	return d
}

// levelsSnapshot is every result Refresh recomputes, as the State holds it.
type levelsSnapshot struct {
	rate     []float64
	levelF   []int32
	levelL   []int32
	share    []float64
	maxLevel int32
	total    float64
}

func snapshotLevels(s *State) levelsSnapshot {
	return levelsSnapshot{slices.Clone(s.rate), slices.Clone(s.levelF), slices.Clone(s.levelL), slices.Clone(s.share), s.maxLevel, s.total}
}

// sameLevels asserts that got (a refreshed State) equals want (the same State after a
// full Compute) field by field: levels exactly, rates, shares and the total within
// the tolerance.
func sameLevels(t *testing.T, s *State, got, want levelsSnapshot, what string) {
	t.Helper()
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	for f := range s.path {
		if !s.alive[f] {
			continue
		}
		if !near(got.rate[f], want.rate[f]) || got.levelF[f] != want.levelF[f] {
			t.Fatalf("%s: flow %s rate %v level %d, Compute %v level %d", what, s.flowID[f], got.rate[f], got.levelF[f], want.rate[f], want.levelF[f])
		}
	}
	for l := range s.capa {
		if got.levelL[l] != want.levelL[l] || !near(got.share[l], want.share[l]) {
			t.Fatalf("%s: link %d level %d share %v, Compute %d %v", what, l, got.levelL[l], got.share[l], want.levelL[l], want.share[l])
		}
	}
	if got.maxLevel != want.maxLevel || !near(got.total, want.total) {
		t.Fatalf("%s: %d levels total %v, Compute %d %v", what, got.maxLevel, got.total, want.maxLevel, want.total)
	}
}

// TestPropertyRefresh applies random runs of 1–8 perturbations that re-fill the rates
// (levels stale), then Refresh, several times per network: the refreshed State
// equals, field by field, a State built from scratch from its network (sameAsFull: rates, flow and link levels, shares, level
// count, bottleneck sets), and the updates after a refresh (round replays on its
// levels, re-fills from its checkpoints) stay exact too; after the last run, it also
// equals the same State after a full Compute. Every refresh must take the path
// without Phase 1 (no fallback to Compute).
//
// It also checks what an incremental Phase 2 could rely on (refreshCut): every flow
// and resolved link below the cut keeps its level.
func TestPropertyRefresh(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(21), 22))
	refreshed, below := 0, 0
	for it := range iterations(t, 500, 60) {
		s := mustNew(t, randomNetwork(rng, 12, 20, 40))
		s.agg.every = int32(1 + it%4)
		next := 1000
		for run := range 4 {
			// every update re-fills in even iterations; in odd ones round replays
			// run where they apply (levels current between updates until one is
			// abandoned)
			s.noReplayFloor = it%2 == 0
			what := fmt.Sprintf("it %d run %d", it, run)
			before := newRefreshBase(s) // levels are current here
			for range 1 + rng.IntN(8) {
				d := randomPerturbation(t, rng, s, &next, &what)
				if d != nil {
					sameRates(t, s, what)
				}
			}
			if !s.stale {
				continue
			}
			n0, f0 := s.agg.refreshes, s.agg.refreshFulls
			s.Refresh()
			if s.agg.refreshes != n0+1 || s.agg.refreshFulls != f0 {
				t.Fatalf("%s: Refresh fell back to Compute", what)
			}
			refreshed++
			below += before.keptBelowCut(t, s, what)
			sameAsFull(t, s, what)
			if run == 3 {
				// the same State recomputed in full (which drops the fill's
				// checkpoints: last run only)
				got := snapshotLevels(s)
				s.Compute()
				sameLevels(t, s, got, snapshotLevels(s), what)
			}
		}
	}
	t.Logf("%d refreshes of stale levels, %d flows and links below the cut kept their levels", refreshed, below)
	if refreshed < iterations(t, 500, 60) {
		t.Fatalf("only %d refreshes of stale levels", refreshed)
	}
	if below == 0 {
		t.Fatalf("no flow or link checked below the cut")
	}
}

// refreshBase is what a State's levels were computed from: per flow its ID, path,
// rate and level; per link its capacity, failure, flow count and level.
type refreshBase struct {
	flowID []string
	path   [][]int32
	alive  []bool
	rate   []float64
	levelF []int32
	capa   []float64
	failed []bool
	deg    []int
	levelL []int32
	share  []float64
}

func newRefreshBase(s *State) *refreshBase {
	s.syncRates()
	b := &refreshBase{flowID: slices.Clone(s.flowID), alive: slices.Clone(s.alive), rate: slices.Clone(s.rate),
		levelF: slices.Clone(s.levelF), capa: slices.Clone(s.capa), failed: slices.Clone(s.failed),
		levelL: slices.Clone(s.levelL), share: slices.Clone(s.share)}
	for _, p := range s.path {
		b.path = append(b.path, slices.Clone(p))
	}
	for _, fl := range s.linkFlows {
		b.deg = append(b.deg, len(fl))
	}
	return b
}

// refreshCut is the rate below which Phase 2's results cannot have changed since b
// (derived from computeLevels, see docs/benchmarks.md, session 11, h26f): the lowest
// old or new rate of a flow that arrived, left, moved or changed rate, and the lowest
// old or new initial share (capacity over flow count) of a link whose capacity,
// failure or flow count changed. A link n blocks a flow of rate x only while
// x > share(n)·(1+tol), shares only grow, and a flow at x is held back only by
// flows slower than x and by links blocking it, so the rounds in which flows and
// links below the cut resolve are the same. A link saturated before a re-fill's
// restart point is not enough: a flow leaving a link raises its initial share and can
// unblock a slower flow rounds earlier (TestRefreshLevelBeforeRestartMoves).
func (b *refreshBase) refreshCut(s *State) float64 {
	cut := math.Inf(1)
	for f := range s.path {
		same := f < len(b.path) && b.alive[f] == s.alive[f] && b.flowID[f] == s.flowID[f] && slices.Equal(b.path[f], s.path[f])
		if same && (!s.alive[f] || b.rate[f] == s.rate[f]) {
			continue
		}
		if f < len(b.path) && b.alive[f] {
			cut = math.Min(cut, b.rate[f])
		}
		if s.alive[f] {
			cut = math.Min(cut, s.rate[f])
		}
	}
	for f := len(s.path); f < len(b.path); f++ {
		if b.alive[f] {
			cut = math.Min(cut, b.rate[f])
		}
	}
	for l := range s.capa {
		d := len(s.linkFlows[l])
		if l < len(b.capa) && b.capa[l] == s.capa[l] && b.failed[l] == s.failed[l] && b.deg[l] == d {
			continue
		}
		if l < len(b.capa) && b.deg[l] > 0 && !b.failed[l] {
			cut = math.Min(cut, b.capa[l]/float64(b.deg[l]))
		}
		if d > 0 && !s.failed[l] {
			cut = math.Min(cut, s.capa[l]/float64(d))
		}
	}
	return cut
}

// keptBelowCut asserts that every flow (unchanged since b) and every resolved link
// below b's refresh cut (with a margin far above the tolerance) has the level it had
// in b, and returns how many it checked.
func (b *refreshBase) keptBelowCut(t *testing.T, s *State, what string) int {
	t.Helper()
	c := b.refreshCut(s) / (1 + 1e-6)
	n := 0
	for f := range s.path {
		if !s.alive[f] || f >= len(b.path) || !b.alive[f] || b.flowID[f] != s.flowID[f] || s.rate[f] >= c {
			continue
		}
		if s.levelF[f] != b.levelF[f] {
			t.Fatalf("%s: flow %s at %v below the cut %v: level %d, was %d", what, s.flowID[f], s.rate[f], c, s.levelF[f], b.levelF[f])
		}
		n++
	}
	for l := range s.capa {
		if l >= len(b.levelL) || s.levelL[l] == 0 || s.share[l] >= c {
			continue
		}
		if s.levelL[l] != b.levelL[l] {
			t.Fatalf("%s: link %d at %v below the cut %v: level %d, was %d", what, l, s.share[l], c, s.levelL[l], b.levelL[l])
		}
		n++
	}
	return n
}

// TestRefreshLevelBeforeRestartMoves shows why an incremental Phase 2 cannot keep
// the levels of the links that saturated before a re-fill's restart point: links
// m (capacity 1: y), l (4: x), k (4.5: g), n (10: x, y, g), q (12: x, w), r (8: w).
// Rates y = 1, x = 4, g = 4.5, w = 8; n's initial share 10/3 blocks x until y is
// fixed, so l resolves in round 2 (and r, which waits for x on q, in round 3).
// Removing g (θ = 4.5) restarts the fill after m and l saturated, but n's initial
// share becomes 5 ≥ 4: x is not blocked, and l resolves in round 1. (w makes the
// round replay longer than one round, so that the update re-fills.)
func TestRefreshLevelBeforeRestartMoves(t *testing.T) {
	s := mustNew(t, &Network{
		Links: []Link{{ID: "m", Capacity: 1}, {ID: "l", Capacity: 4}, {ID: "k", Capacity: 4.5}, {ID: "n", Capacity: 10},
			{ID: "q", Capacity: 12}, {ID: "r", Capacity: 8}},
		Flows: []Flow{{ID: "y", Path: []string{"m", "n"}}, {ID: "x", Path: []string{"l", "n", "q"}}, {ID: "g", Path: []string{"k", "n"}},
			{ID: "w", Path: []string{"q", "r"}}},
	})
	s.agg.every = 1
	s.noReplayFloor = true
	if lv, _ := s.FlowLevel("x"); lv != 2 {
		t.Fatalf("x at level %d before, want 2", lv)
	}
	// a fill with checkpoints (New's Compute leaves none)
	for _, c := range []float64{11, 10} {
		if _, err := s.SetCapacity("n", c); err != nil {
			t.Fatal(err)
		}
	}
	s.Refresh()
	if !s.agg.ckOK {
		t.Fatal("no checkpoints after a re-fill")
	}
	if _, err := s.RemoveFlow("g"); err != nil {
		t.Fatal(err)
	}
	l := s.linkIdx["l"]
	if !s.stale || s.agg.popIdx[l] >= s.agg.restart {
		t.Fatalf("stale %v, l saturated %d-th, restart after %d saturations: want l before the restart", s.stale, s.agg.popIdx[l], s.agg.restart)
	}
	if r, _ := s.Rate("x"); r != 4 {
		t.Fatalf("x at %v, want 4", r)
	}
	sameAsFull(t, s, "remove g")
	if lv, _ := s.FlowLevel("x"); lv != 1 {
		t.Fatalf("x at level %d after, want 1", lv)
	}
	if lv, _ := s.LinkLevel("l"); lv != 1 {
		t.Fatalf("l at level %d after, want 1", lv)
	}
}

// TestPropertyRefreshCut applies single random perturbations that re-fill, each
// followed by Refresh, and checks that every flow and resolved link below the refresh
// cut kept its level (refreshCut); levels and rates as in TestPropertyRefresh. A cut
// without the changed links' initial shares (only the moved rates) fails it.
func TestPropertyRefreshCut(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(23), 24))
	checked, restarts := 0, 0
	for it := range iterations(t, 1500, 150) {
		s := mustNew(t, randomNetwork(rng, 12, 20, 40))
		s.agg.every = int32(1 + it%2)
		s.noReplayFloor = true
		next := 1000
		what := fmt.Sprintf("it %d", it)
		for step := range 10 {
			before := newRefreshBase(s)
			d := randomPerturbation(t, rng, s, &next, &what)
			if d == nil || !s.stale {
				continue
			}
			if s.agg.restart > 0 {
				restarts++
			}
			s.Refresh()
			checked += before.keptBelowCut(t, s, fmt.Sprintf("%s step %d", what, step))
			if step%5 == 4 {
				sameAsFull(t, s, what)
			}
		}
	}
	t.Logf("%d flows and links checked below the cut, %d re-fills restarted from a checkpoint", checked, restarts)
	if checked == 0 || restarts == 0 {
		t.Fatalf("%d checked, %d restarts", checked, restarts)
	}
}
