package bottleneck

import (
	"math"
	"slices"
)

// pert is a perturbation: a link's capacity (link ≥ 0) or a flow's rate (flow ≥ 0).
type pert struct{ link, flow int32 }

// arith is the arithmetic the gradient propagation needs; float64 and *big.Rat
// implement it, so the same algorithm runs in both engines.
type arith[T any] interface {
	zero() T
	fromInt(n int64) T
	add(a, b T) T
	sub(a, b T) T
	neg(a T) T
	divInt(a T, n int) T
	less(a, b T) bool
	isNeg(a T) bool
}

type floatOps struct{ tol float64 }

func (floatOps) zero() float64                   { return 0 }
func (floatOps) fromInt(n int64) float64         { return float64(n) }
func (floatOps) add(a, b float64) float64        { return a + b }
func (floatOps) sub(a, b float64) float64        { return a - b }
func (floatOps) neg(a float64) float64           { return -a }
func (floatOps) divInt(a float64, n int) float64 { return a / float64(n) }
func (floatOps) less(a, b float64) bool          { return a < b }
func (o floatOps) isNeg(a float64) bool          { return a < -math.Max(o.tol, 1e-12) }

// gradWork holds the per-call scratch state of propagate.
type gradWork[T any] struct {
	delta   []T
	has     []bool
	touched []int32 // flows of the region of influence, in discovery order
	links   []int32 // links of the region of influence
}

func newGradWork[T any](nF int) *gradWork[T] {
	return &gradWork[T]{delta: make([]T, nF), has: make([]bool, nF)}
}

// propagate computes the directional derivative of every flow's rate for the
// perturbation p moved by dir (+1 or −1), writing Δ_f into ws.delta for the flows of
// the region of influence (ws.touched); other flows have Δ = 0. It returns false if
// the perturbation is infeasible in that direction.
//
// Algorithm: the region of influence is found by a breadth-first search of the flow
// gradient graph from p. Its links are processed in level order. At level L the
// unknowns are the flows bottlenecked there (level L); each region link k at level L has
// residual R_k = Δc_k − Σ Δ_g over its flows of lower level (already known) and a
// count n_k of unknown flows. This is BOTTLENECK.md's link equation; the flow equation
// (min over bottleneck links) is refined into a water-filling of the deltas among the
// level's links — the link with the smallest R_k/n_k fixes its unknown flows first —
// which is what max-min fairness does to tied flows when the perturbation breaks the
// tie, so both one-sided derivatives come out right. Cost: O(Σ_{f in region} |path f|
// + Σ_{l in region} deg l + Σ_L |K_L|²) where K_L are the region's links at level L.
func propagate[T any](o arith[T], s *State, levelF, levelL []int32, p pert, dir int64, ws *gradWork[T]) bool {
	nT := len(s.capa)
	inL := make([]bool, nT)
	queue := ws.links[:0]
	addFlow := func(f int32) {
		ws.has[f] = true
		ws.delta[f] = o.zero()
		ws.touched = append(ws.touched, f)
		for _, l := range s.path[f] {
			if !inL[l] {
				inL[l] = true
				queue = append(queue, l)
			}
		}
	}
	if p.flow >= 0 {
		addFlow(p.flow)
		ws.delta[p.flow] = o.fromInt(dir)
	} else {
		inL[p.link] = true
		queue = append(queue, p.link)
	}
	for i := 0; i < len(queue); i++ {
		l := queue[i]
		lv := levelL[l]
		if lv == 0 {
			continue
		}
		for _, f := range s.linkFlows[l] {
			if levelF[f] == lv && !ws.has[f] {
				addFlow(f)
			}
		}
	}
	ws.links = queue
	// links by level
	byLevel := make([]int32, 0, len(queue))
	for _, l := range queue {
		if levelL[l] > 0 {
			byLevel = append(byLevel, l)
		}
	}
	slices.SortFunc(byLevel, func(a, b int32) int { return int(levelL[a] - levelL[b]) })
	resid := make(map[int32]T, len(byLevel))
	cnt := make(map[int32]int, len(byLevel))
	assigned := make(map[int32]bool)
	for i := 0; i < len(byLevel); {
		L := levelL[byLevel[i]]
		j := i
		for j < len(byLevel) && levelL[byLevel[j]] == L {
			j++
		}
		group := byLevel[i:j]
		i = j
		for _, k := range group {
			r := o.zero()
			if k == p.link {
				r = o.fromInt(dir)
			}
			n := 0
			for _, g := range s.linkFlows[k] {
				if g == p.flow || levelF[g] < L {
					if ws.has[g] {
						r = o.sub(r, ws.delta[g])
					}
				} else {
					n++
				}
			}
			resid[k], cnt[k] = r, n
			if n == 0 && o.isNeg(r) {
				return false // the pinned flow alone would overload k
			}
		}
		active := slices.Clone(group)
		for {
			best, bi := int32(-1), -1
			var bestShare T
			for idx, k := range active {
				if cnt[k] == 0 {
					continue
				}
				sh := o.divInt(resid[k], cnt[k])
				if best < 0 || o.less(sh, bestShare) {
					best, bi, bestShare = k, idx, sh
				}
			}
			if best < 0 {
				break
			}
			active[bi] = active[len(active)-1]
			active = active[:len(active)-1]
			for _, f := range s.linkFlows[best] {
				if f == p.flow || levelF[f] != L || assigned[f] {
					continue
				}
				assigned[f] = true
				ws.delta[f] = bestShare
				for _, k2 := range s.path[f] {
					if k2 != best && levelL[k2] == L {
						resid[k2] = o.sub(resid[k2], bestShare)
						cnt[k2]--
					}
				}
			}
			cnt[best] = 0
		}
	}
	return true
}

// Side is one side of a gradient.
type Side struct {
	// Total is the change of the total throughput Σ r_f.
	Total float64 `json:"total"`
	// Flows maps every flow of the region of influence to its change (zero included).
	Flows map[string]float64 `json:"flows"`
	// Infeasible is true when no feasible allocation exists in this direction (a flow
	// cannot be let up past a link where it is the only bottlenecked flow).
	Infeasible bool `json:"infeasible,omitempty"`
}

// Gradient holds both one-sided derivatives of a perturbation.
//
// For a link l (kind "link"): Right = ∂/∂c_l from above (per unit of capacity added),
// Left = ∂/∂c_l from below (the slope as capacity is removed: the loss per unit
// removed). For a flow f (kind "flow", the papers' flow gradient): Right = change per
// unit f is let up, Left = change per unit f is shaped down; the flow itself is
// included (its own entry is +1 on the right and −1 on the left).
type Gradient struct {
	Kind  string `json:"kind"`
	Of    string `json:"of"`
	Right Side   `json:"right"`
	Left  Side   `json:"left"`
	// Region lists the links of the region of influence (FGG reachability).
	Region []string `json:"region_links"`
}

// LinkGradient returns ∂r_f/∂c_l (both sides) for every flow in the region of
// influence of link id, and for the total throughput. Cost: see propagate.
func (s *State) LinkGradient(id string) (*Gradient, error) {
	l, err := s.link(id)
	if err != nil {
		return nil, err
	}
	return s.gradient(pert{link: l, flow: -1}, "link", id), nil
}

// FlowGradient returns the effect of letting flow id up (Right) and of shaping it
// down (Left) on every flow of its region of influence and on the total throughput.
func (s *State) FlowGradient(id string) (*Gradient, error) {
	f, err := s.flow(id)
	if err != nil {
		return nil, err
	}
	return s.gradient(pert{link: -1, flow: f}, "flow", id), nil
}

func (s *State) gradient(p pert, kind, id string) *Gradient {
	g := &Gradient{Kind: kind, Of: id}
	o := floatOps{tol: s.tol}
	for i, side := range []*Side{&g.Right, &g.Left} {
		dir := int64(1)
		if i == 1 {
			dir = -1
		}
		ws := newGradWork[float64](len(s.path))
		ok := propagate[float64](o, s, s.levelF, s.levelL, p, dir, ws)
		if i == 0 {
			for _, l := range ws.links {
				if s.virtOf[l] < 0 {
					g.Region = append(g.Region, s.linkID[l])
				}
			}
			slices.Sort(g.Region)
		}
		if !ok {
			side.Infeasible = true
			side.Flows = map[string]float64{}
			continue
		}
		side.Flows = make(map[string]float64, len(ws.touched))
		for _, f := range ws.touched {
			v := ws.delta[f]
			if dir < 0 && p.link >= 0 {
				v = -v
			}
			v = cleanZero(v)
			side.Flows[s.flowID[f]] = v
			side.Total += v
		}
		side.Total = cleanZero(side.Total)
	}
	return g
}

// cleanZero maps −0 and round-off dust to 0 so outputs read well.
func cleanZero(v float64) float64 {
	if math.Abs(v) < 1e-12 {
		return 0
	}
	return v
}
