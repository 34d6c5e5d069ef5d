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
	// approxGE reports a ≥ b within the engine's tolerance (exact for rationals).
	approxGE(a, b T) bool
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
func (o floatOps) approxGE(a, b float64) bool {
	return a >= b-math.Max(o.tol*math.Abs(b), 1e-12)
}

// gradWork holds the per-call scratch state of propagate. It is sparse, sized by the
// region of influence rather than by the network (a 2-flow region of a 100k-flow
// structure allocated 1.8 MB of dense per-flow arrays).
type gradWork[T any] struct {
	at      map[int32]int32 // flow → its index in touched and deltas
	deltas  []T
	touched []int32 // flows of the region of influence, in discovery order
	links   []int32 // links of the region of influence
}

func newGradWork[T any]() *gradWork[T] {
	return &gradWork[T]{at: map[int32]int32{}}
}

// has says whether flow f is in the region found so far.
func (ws *gradWork[T]) has(f int32) bool { _, ok := ws.at[f]; return ok }

// delta is flow f's delta (f in the region).
func (ws *gradWork[T]) delta(f int32) T { return ws.deltas[ws.at[f]] }

func (ws *gradWork[T]) setDelta(f int32, v T) { ws.deltas[ws.at[f]] = v }

// structView is what propagate reads: the topology of s and one engine's rates and
// capacities.
type structView[T any] struct {
	s    *State
	rate []T
	capa []T
}

// propagate computes the directional derivative of every flow's rate for the
// perturbation p moved by dir (+1 or −1), writing Δ_f into ws.delta for the flows of
// the region of influence (ws.touched); other flows have Δ = 0. It returns false if
// the perturbation is infeasible in that direction.
//
// A flow's rate is perturbed by pinning it (it leaves the water-filling and takes
// capacity r_f ± ε on its path). A link l is binding for flow f if l is saturated and
// f's rate is the largest among l's (unpinned) flows: these are the FGG's bottleneck
// edges, except that they also capture ties the rounds did not record (a flow fixed one
// round earlier at exactly the share of a link resolved later) and the links a pinned
// flow leaves to the next-largest flows; both change one-sided derivatives.
//
// Algorithm: a breadth-first search over binding and traverses edges from p finds the
// region of influence. Its binding links and flows are grouped into components
// (union-find over shared flows); all flows of a component have the same rate, and a
// non-binding flow on a component's link has a strictly smaller rate, so components are
// solved in increasing rate order. In a component each link k has residual
// R_k = Δc_k − Σ Δ_g over its non-binding flows (BOTTLENECK.md's link equation) and
// n_k unknown binding flows; the deltas are water-filled — the link with the smallest
// R_k/n_k fixes its unknown flows first — which refines the flow equation (min over
// bottleneck links) to what max-min fairness does when a perturbation breaks a tie, so
// both one-sided derivatives are exact. Cost: O(Σ_{l in region} deg l + Σ_{f in region}
// |path f| + Σ_C |K_C|²) for components with |K_C| links.
func propagate[T any](o arith[T], v structView[T], p pert, dir int64, ws *gradWork[T]) bool {
	s := v.s
	inL := make(map[int32]bool)
	bind := make(map[int32][]int32) // binding flows of each saturated region link
	queue := ws.links[:0]
	addFlow := func(f int32) {
		ws.at[f] = int32(len(ws.touched))
		ws.deltas = append(ws.deltas, o.zero())
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
		ws.setDelta(p.flow, o.fromInt(dir))
	} else {
		inL[p.link] = true
		queue = append(queue, p.link)
	}
	for i := 0; i < len(queue); i++ {
		l := queue[i]
		if s.failed[l] || len(s.linkFlows[l]) == 0 {
			continue
		}
		load := o.zero()
		var maxRate T
		haveMax := false
		for _, f := range s.linkFlows[l] {
			load = o.add(load, v.rate[f])
			if f == p.flow {
				continue
			}
			if !haveMax || o.less(maxRate, v.rate[f]) {
				maxRate, haveMax = v.rate[f], true
			}
		}
		if !o.approxGE(load, v.capa[l]) {
			continue // slack: stays slack under a small perturbation
		}
		var bf []int32
		if haveMax {
			for _, f := range s.linkFlows[l] {
				if f != p.flow && o.approxGE(v.rate[f], maxRate) {
					bf = append(bf, f)
				}
			}
		}
		bind[l] = bf
		for _, f := range bf {
			if !ws.has(f) {
				addFlow(f)
			}
		}
	}
	ws.links = queue
	// union-find over binding links and their flows
	parent := make(map[int32]int32, len(bind))
	var find func(x int32) int32
	find = func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	owner := make(map[int32]int32) // flow → first binding link seen
	keys := make([]int32, 0, len(bind))
	for l := range bind {
		keys = append(keys, l)
		parent[l] = l
	}
	slices.Sort(keys)
	isBind := make(map[[2]int32]bool)
	for _, l := range keys {
		for _, f := range bind[l] {
			isBind[[2]int32{l, f}] = true
			if k, ok := owner[f]; ok {
				a, b := find(k), find(l)
				if a != b {
					parent[a] = b
				}
			} else {
				owner[f] = l
			}
		}
	}
	comps := map[int32][]int32{}
	var roots []int32
	for _, l := range keys {
		r := find(l)
		if _, ok := comps[r]; !ok {
			roots = append(roots, r)
		}
		comps[r] = append(comps[r], l)
	}
	// a component's rate: that of any of its binding flows; pinned-alone links first
	compRate := func(r int32) (T, bool) {
		for _, l := range comps[r] {
			if len(bind[l]) > 0 {
				return v.rate[bind[l][0]], true
			}
		}
		return o.zero(), false
	}
	slices.SortStableFunc(roots, func(a, b int32) int {
		ra, oka := compRate(a)
		rb, okb := compRate(b)
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return -1
		case !okb:
			return 1
		case o.less(ra, rb):
			return -1
		case o.less(rb, ra):
			return 1
		}
		return 0
	})
	resid := make(map[int32]T, len(bind))
	cnt := make(map[int32]int, len(bind))
	assigned := make(map[int32]bool)
	for _, r := range roots {
		group := comps[r]
		for _, k := range group {
			rk := o.zero()
			if k == p.link {
				rk = o.fromInt(dir)
			}
			for _, g := range s.linkFlows[k] {
				if !isBind[[2]int32{k, g}] && ws.has(g) {
					rk = o.sub(rk, ws.delta(g))
				}
			}
			resid[k], cnt[k] = rk, len(bind[k])
			if cnt[k] == 0 && o.isNeg(rk) {
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
			for _, f := range bind[best] {
				if assigned[f] {
					continue
				}
				assigned[f] = true
				ws.setDelta(f, bestShare)
				for _, k2 := range s.path[f] {
					if k2 != best && isBind[[2]int32{k2, f}] {
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
	s.syncRates()
	g := &Gradient{Kind: kind, Of: id}
	o := floatOps{tol: s.tol}
	for i, side := range []*Side{&g.Right, &g.Left} {
		dir := int64(1)
		if i == 1 {
			dir = -1
		}
		ws := newGradWork[float64]()
		ok := propagate[float64](o, structView[float64]{s, s.rate, s.capa}, p, dir, ws)
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
			v := ws.delta(f)
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
