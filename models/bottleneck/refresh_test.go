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
func TestPropertyRefresh(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(21), 22))
	refreshed := 0
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
	t.Logf("%d refreshes of stale levels", refreshed)
	if refreshed < iterations(t, 500, 60) {
		t.Fatalf("only %d refreshes of stale levels", refreshed)
	}
}
