package bottleneck

import (
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"testing"
)

// randomNetwork draws a small network with integer capacities in [1, maxCap] and
// integer demands, so exact and float engines can be compared and ties are frequent.
func randomNetwork(rng *rand.Rand, maxLinks, maxFlows, maxCap int) *Network {
	nl := 1 + rng.IntN(maxLinks)
	nf := 1 + rng.IntN(maxFlows)
	n := &Network{}
	for i := range nl {
		n.Links = append(n.Links, Link{ID: fmt.Sprintf("l%d", i), Capacity: float64(1 + rng.IntN(maxCap))})
	}
	for i := range nf {
		plen := 1 + rng.IntN(min(nl, 4))
		perm := rng.Perm(nl)[:plen]
		f := Flow{ID: fmt.Sprintf("f%d", i)}
		for _, l := range perm {
			f.Path = append(f.Path, n.Links[l].ID)
		}
		if rng.IntN(5) == 0 {
			d := float64(1 + rng.IntN(maxCap))
			f.Demand = &d
		}
		n.Flows = append(n.Flows, f)
	}
	return n
}

func iterations(t *testing.T, full, short int) int {
	if testing.Short() {
		return short
	}
	return full
}

func ratF(r *big.Rat) float64 { f, _ := r.Float64(); return f }

// checkMaxMin asserts feasibility and max-min optimality of an exact allocation: every
// link carries at most its capacity, every flow at most its demand, and every flow has
// a bottleneck — its demand, or a saturated link on which no flow is larger.
func checkMaxMin(t *testing.T, s *State, e *Exact) {
	t.Helper()
	load := make([]*big.Rat, len(s.capa))
	for l := range load {
		load[l] = new(big.Rat)
	}
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		if e.Rate[f] == nil || e.Rate[f].Sign() <= 0 {
			t.Fatalf("flow %s has no positive rate", s.flowID[f])
		}
		for _, l := range p {
			load[l].Add(load[l], e.Rate[f])
		}
	}
	for l := range s.capa {
		if load[l].Cmp(e.capa[l]) > 0 {
			t.Fatalf("link %d overloaded: %s > %s", l, load[l].RatString(), e.capa[l].RatString())
		}
	}
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		ok := false
		for _, l := range p {
			if load[l].Cmp(e.capa[l]) != 0 {
				continue
			}
			largest := true
			for _, g := range s.linkFlows[l] {
				if e.Rate[g].Cmp(e.Rate[f]) > 0 {
					largest = false
				}
			}
			if largest {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("flow %s (rate %s) has no bottleneck", s.flowID[f], e.Rate[f].RatString())
		}
	}
}

// TestPropertyWaterFilling checks, on thousands of random networks, that the float
// engine reproduces the exact round-based reference (rates, levels, bottleneck sets)
// and that the exact allocation is feasible and max-min optimal.
func TestPropertyWaterFilling(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for it := range iterations(t, 4000, 400) {
		n := randomNetwork(rng, 8, 12, 20)
		s := mustNew(t, n)
		e := s.Exact()
		checkMaxMin(t, s, e)
		for f := range s.path {
			if math.Abs(s.rate[f]-ratF(e.Rate[f])) > 1e-9*math.Max(1, s.rate[f]) {
				t.Fatalf("it %d flow %s: float %v exact %s", it, s.flowID[f], s.rate[f], e.Rate[f].RatString())
			}
			if s.levelF[f] != e.LevelF[f] {
				t.Fatalf("it %d flow %s: float level %d exact %d", it, s.flowID[f], s.levelF[f], e.LevelF[f])
			}
		}
		if !slices.Equal(s.levelL, e.LevelL) {
			t.Fatalf("it %d link levels: float %v exact %v", it, s.levelL, e.LevelL)
		}
		// the direct round-based engine agrees with Compute's two-phase algorithm
		fast := append([]int32(nil), s.levelL...)
		fastF := append([]int32(nil), s.levelF...)
		fastR := append([]float64(nil), s.rate...)
		s.computeRounds()
		if !slices.Equal(fast, s.levelL) || !slices.Equal(fastF, s.levelF) {
			t.Fatalf("it %d: Compute levels %v/%v, computeRounds %v/%v", it, fast, fastF, s.levelL, s.levelF)
		}
		for f := range fastR {
			if math.Abs(fastR[f]-s.rate[f]) > 1e-9*math.Max(1, s.rate[f]) {
				t.Fatalf("it %d: Compute rate %v, computeRounds %v", it, fastR[f], s.rate[f])
			}
		}
		if fallbacks != 0 {
			t.Fatalf("it %d: Compute fell back to computeRounds %d times", it, fallbacks)
		}
		// the naive reference (tests only) agrees too
		nr, nl, nfl := naiveWaterFill(s)
		for f := range s.path {
			if math.Abs(nr[f]-s.rate[f]) > 1e-9*math.Max(1, s.rate[f]) || nfl[f] != s.levelF[f] {
				t.Fatalf("it %d naive reference differs on flow %d", it, f)
			}
		}
		if !slices.Equal(nl, s.levelL) {
			t.Fatalf("it %d naive link levels differ", it)
		}
	}
}

var eps = big.NewRat(1, 1_000_000_000_000)

// fdLink returns the exact one-sided finite differences of every flow's rate for link l.
func fdLink(s *State, e *Exact, l int32, dir int64) []*big.Rat {
	capa := make([]*big.Rat, len(e.capa))
	copy(capa, e.capa)
	d := new(big.Rat).Mul(eps, big.NewRat(dir, 1))
	capa[l] = new(big.Rat).Add(capa[l], d)
	e2 := s.exactWith(capa, -1)
	out := make([]*big.Rat, len(s.path))
	for f := range s.path {
		if s.alive[f] {
			out[f] = new(big.Rat).Quo(new(big.Rat).Sub(e2.Rate[f], e.Rate[f]), d)
		}
	}
	return out
}

// fdFlow pins flow p at r_p + dir·ε and returns Δr_f/ε for every flow (p's own entry is
// dir), or nil if that is infeasible.
func fdFlow(s *State, e *Exact, p int32, dir int64) []*big.Rat {
	d := new(big.Rat).Mul(eps, big.NewRat(dir, 1))
	pinned := new(big.Rat).Add(e.Rate[p], d)
	capa := make([]*big.Rat, len(e.capa))
	copy(capa, e.capa)
	for _, l := range s.path[p] {
		if s.virtOf[l] >= 0 {
			if dir > 0 && e.Rate[p].Cmp(capa[l]) == 0 {
				return nil // shaped flow cannot exceed its demand
			}
			continue
		}
		capa[l] = new(big.Rat).Sub(capa[l], pinned)
		if capa[l].Sign() < 0 {
			return nil
		}
	}
	e2 := s.exactWith(capa, p)
	out := make([]*big.Rat, len(s.path))
	for f := range s.path {
		if !s.alive[f] {
			continue
		}
		if int32(f) == p {
			out[f] = big.NewRat(dir, 1)
			continue
		}
		out[f] = new(big.Rat).Quo(new(big.Rat).Sub(e2.Rate[f], e.Rate[f]), eps)
	}
	return out
}

func compareSide(t *testing.T, what string, s *State, side ExactSide, fside Side, fd []*big.Rat, negate bool) {
	t.Helper()
	if fd == nil {
		if !side.Infeasible || !fside.Infeasible {
			t.Fatalf("%s: finite difference infeasible, gradient says feasible", what)
		}
		return
	}
	if side.Infeasible || fside.Infeasible {
		t.Fatalf("%s: gradient infeasible, finite difference feasible", what)
	}
	total := new(big.Rat)
	for f := range s.path {
		if fd[f] == nil {
			continue
		}
		want := fd[f]
		if negate {
			want = new(big.Rat).Neg(want)
		}
		total.Add(total, want)
		got := side.Flows[s.flowID[f]]
		if got == nil {
			got = new(big.Rat)
		}
		if got.Cmp(want) != 0 {
			t.Fatalf("%s: flow %s: gradient %s, finite difference %s", what, s.flowID[f], got.RatString(), want.RatString())
		}
		if fv := fside.Flows[s.flowID[f]]; math.Abs(fv-ratF(want)) > 1e-7 {
			t.Fatalf("%s: flow %s: float gradient %v, finite difference %s", what, s.flowID[f], fv, want.RatString())
		}
	}
	if side.Total.Cmp(total) != 0 {
		t.Fatalf("%s: total %s, finite difference %s", what, side.Total.RatString(), total.RatString())
	}
}

// TestPropertyGradients checks both one-sided link and flow gradients, exact and
// float, against exact finite differences of a full recomputation.
func TestPropertyGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for it := range iterations(t, 1500, 200) {
		n := randomNetwork(rng, 6, 8, 12)
		s := mustNew(t, n)
		e := s.Exact()
		for l := range len(s.linkIdx) {
			id := s.linkID[l]
			g, _ := e.LinkGradient(id)
			fg, _ := s.LinkGradient(id)
			compareSide(t, fmt.Sprintf("it %d link %s right", it, id), s, g.Right, fg.Right, fdLink(s, e, int32(l), 1), false)
			compareSide(t, fmt.Sprintf("it %d link %s left", it, id), s, g.Left, fg.Left, fdLink(s, e, int32(l), -1), false)
		}
		for f := range s.path {
			id := s.flowID[f]
			g, _ := e.FlowGradient(id)
			fg, _ := s.FlowGradient(id)
			compareSide(t, fmt.Sprintf("it %d flow %s right", it, id), s, g.Right, fg.Right, fdFlow(s, e, int32(f), 1), false)
			compareSide(t, fmt.Sprintf("it %d flow %s left", it, id), s, g.Left, fg.Left, fdFlow(s, e, int32(f), -1), false)
		}
	}
}
