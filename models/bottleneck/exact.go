package bottleneck

import (
	"math/big"
)

// Exact is the bottleneck structure computed in exact rational arithmetic
// (math/big.Rat) with the round-based definition of BOTTLENECK.md and no tolerance:
// ties are exact. Capacities and demands are converted from float64 exactly (integer
// and dyadic values stay exact). It is meant for small networks, reference vectors and
// tests; each round costs O(|L| + Σ|path|) rational operations, O(R·(|L| + Σ|path|))
// in all for R levels.
type Exact struct {
	s      *State
	capa   []*big.Rat
	Rate   []*big.Rat // by flow index; nil for removed flows
	LevelF []int32
	LevelL []int32
	Share  []*big.Rat // fair share at resolution; nil for links with level 0
}

// Exact computes the structure of s's current network exactly.
func (s *State) Exact() *Exact {
	s.syncRates()
	capa := make([]*big.Rat, len(s.capa))
	for l, c := range s.capa {
		capa[l] = new(big.Rat).SetFloat64(c)
	}
	return s.exactWith(capa, -1)
}

// exactWith runs the exact water-filling with the given capacities (tests perturb
// them). Failed links carry no flows.
func (s *State) exactWith(capa []*big.Rat, skip int32) *Exact {
	nT, nF := len(capa), len(s.path)
	e := &Exact{s: s, capa: capa, Rate: make([]*big.Rat, nF), LevelF: make([]int32, nF),
		LevelL: make([]int32, nT), Share: make([]*big.Rat, nT)}
	resid := make([]*big.Rat, nT)
	cnt := make([]int, nT)
	cur := make([]*big.Rat, nT)
	for l := range nT {
		resid[l] = new(big.Rat).Set(capa[l])
		if !s.failed[l] {
			cnt[l] = len(s.linkFlows[l])
		}
	}
	unfixed := 0
	for f := range nF {
		if s.alive[f] && int32(f) != skip {
			unfixed++
		}
	}
	if skip >= 0 {
		for _, l := range s.path[skip] {
			cnt[l]--
		}
	}
	level := int32(0)
	for unfixed > 0 {
		level++
		for l := range nT {
			cur[l] = nil
			if cnt[l] > 0 {
				cur[l] = new(big.Rat).Quo(resid[l], new(big.Rat).SetInt64(int64(cnt[l])))
			}
		}
		notMin := make([]bool, nT)
		for f := range nF {
			if !s.alive[f] || e.LevelF[f] != 0 || int32(f) == skip {
				continue
			}
			var m *big.Rat
			for _, l := range s.path[f] {
				if m == nil || cur[l].Cmp(m) < 0 {
					m = cur[l]
				}
			}
			for _, l := range s.path[f] {
				if cur[l].Cmp(m) > 0 {
					notMin[l] = true
				}
			}
		}
		for l := range nT {
			if cnt[l] > 0 && !notMin[l] {
				e.LevelL[l] = level
				e.Share[l] = cur[l]
			}
		}
		for f := range nF {
			if !s.alive[f] || e.LevelF[f] != 0 || int32(f) == skip {
				continue
			}
			var r *big.Rat
			for _, l := range s.path[f] {
				if e.LevelL[l] == level {
					r = cur[l] // all resolving links of a flow have equal shares
				}
			}
			if r == nil {
				continue
			}
			e.Rate[f], e.LevelF[f] = r, level
			unfixed--
			for _, l := range s.path[f] {
				resid[l].Sub(resid[l], r)
				cnt[l]--
			}
		}
	}
	return e
}

// RateOf returns the exact rate of the named flow.
func (e *Exact) RateOf(flowID string) (*big.Rat, error) {
	f, err := e.s.flow(flowID)
	if err != nil {
		return nil, err
	}
	return e.Rate[f], nil
}

// ratOps is exact arithmetic for the gradient engine.
type ratOps struct{}

func (ratOps) zero() *big.Rat             { return new(big.Rat) }
func (ratOps) fromInt(n int64) *big.Rat   { return new(big.Rat).SetInt64(n) }
func (ratOps) add(a, b *big.Rat) *big.Rat { return new(big.Rat).Add(a, b) }
func (ratOps) sub(a, b *big.Rat) *big.Rat { return new(big.Rat).Sub(a, b) }
func (ratOps) neg(a *big.Rat) *big.Rat    { return new(big.Rat).Neg(a) }
func (ratOps) divInt(a *big.Rat, n int) *big.Rat {
	return new(big.Rat).Quo(a, new(big.Rat).SetInt64(int64(n)))
}
func (ratOps) less(a, b *big.Rat) bool     { return a.Cmp(b) < 0 }
func (ratOps) isNeg(a *big.Rat) bool       { return a.Sign() < 0 }
func (ratOps) approxGE(a, b *big.Rat) bool { return a.Cmp(b) >= 0 }

// ExactSide is one side of an exact gradient.
type ExactSide struct {
	Total *big.Rat
	Flows map[string]*big.Rat // every flow in the region of influence
	// Infeasible is set when the perturbation in this direction has no feasible
	// allocation (Total and Flows are then nil).
	Infeasible bool
}

// ExactGradient is a gradient in exact arithmetic; see Gradient for the conventions.
type ExactGradient struct {
	Right, Left ExactSide
}

// LinkGradient returns ∂r_f/∂c_l for every flow f in the region of influence of link
// id and for the total throughput, both one-sided derivatives, exactly.
func (e *Exact) LinkGradient(id string) (*ExactGradient, error) {
	l, err := e.s.link(id)
	if err != nil {
		return nil, err
	}
	return e.gradient(pert{link: l, flow: -1}), nil
}

// FlowGradient returns the effect of letting flow id up (Right) or shaping it down
// (Left) on every flow in its region of influence and on the total, exactly.
func (e *Exact) FlowGradient(id string) (*ExactGradient, error) {
	f, err := e.s.flow(id)
	if err != nil {
		return nil, err
	}
	return e.gradient(pert{link: -1, flow: f}), nil
}

func (e *Exact) gradient(p pert) *ExactGradient {
	g := &ExactGradient{}
	for i, side := range []*ExactSide{&g.Right, &g.Left} {
		dir := int64(1)
		if i == 1 {
			dir = -1
		}
		ws := newGradWork[*big.Rat]()
		ok := propagate[*big.Rat](ratOps{}, structView[*big.Rat]{e.s, e.Rate, e.capa}, p, dir, ws)
		if !ok {
			side.Infeasible = true
			continue
		}
		side.Total = new(big.Rat)
		side.Flows = make(map[string]*big.Rat, len(ws.touched))
		for _, f := range ws.touched {
			v := ws.delta(f)
			if v == nil {
				v = new(big.Rat)
			}
			if dir < 0 && p.link >= 0 {
				v = new(big.Rat).Neg(v) // a link's left side is the slope: loss per unit removed
			}
			side.Flows[e.s.flowID[f]] = v
			side.Total.Add(side.Total, v)
		}
	}
	return g
}
