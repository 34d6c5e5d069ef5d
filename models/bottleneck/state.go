package bottleneck

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultTolerance is the relative tolerance of the float64 engine: two fair shares
// within it are ties (a link is a local minimum if its share is at most a neighbour's
// share times 1+tol).
const DefaultTolerance = 1e-9

// State is a network and its bottleneck structure, kept up to date under
// perturbations (AddFlow, RemoveFlow, SetCapacity, SetDemand, FailLink, Apply).
//
// Links and flows are interned to dense int32 indices. A flow's demand cap is a private
// virtual link (never named in paths) appended to its internal path; it appears in
// results as a bottleneck of kind "demand". A State is not safe for concurrent
// mutation; read-only methods may run concurrently with each other once levels are
// current (after an update that resumed the water-filling, the first read of a level
// or bottleneck set recomputes them: call Refresh before sharing the State).
type State struct {
	tol float64

	// links, real and virtual (demand caps); indices are stable for the State's life.
	linkID    []string // "" for a virtual link
	linkIdx   map[string]int32
	capa      []float64
	virtOf    []int32 // owning flow of a virtual link, -1 for a real link
	failed    []bool
	linkFlows [][]int32 // alive flows on each link, unordered
	// flowPos[f][k] is flow f's index in linkFlows[path[f][k]] (built on the first
	// detach, then kept by attach and detach while posOK), so that detaching a flow
	// takes it off each link's list by a swap-remove without searching the list
	flowPos  [][]int32
	posOK    bool
	freeVirt []int32

	// flows; indices of removed flows are reused.
	flowID    []string
	flowIdx   map[string]int32
	path      [][]int32 // real links in path order, then the virtual link if capped
	class     []string
	alive     []bool
	freeFlows []int32
	nAlive    int

	// results of the last computation
	rate     []float64
	levelF   []int32 // round that fixed the flow (1-based)
	levelL   []int32 // round that resolved the link; 0 if it never was a local minimum
	share    []float64
	maxLevel int32

	// per-link flow levels and cumulative rates sorted by level, built lazily for the
	// incremental engine: pfxOK says that the level histogram is current and that
	// pfx[l] is current where pfxEp[l] == pfxEpoch (each link's on its first use
	// after a full compute, prefix); pfxAll that every link's is (ensurePrefix).
	pfx      []linkPrefix
	pfxEp    []uint32
	pfxEpoch uint32
	pfxOK    bool
	pfxAll   bool
	inc      *scratch
	// nIncid caches Σ|path| of alive flows (0: unknown); attach and detach keep it
	// current
	nIncid int
	// noReplayFloor makes every replay longer than one round fall back (tests)
	noReplayFloor bool

	// stale says that level numbers (levelF, levelL, share, maxLevel, pfx) lag behind
	// rates after an update re-filled them (agg.go)
	stale bool
	// lazy says that the rates of alive flows are agg.sat[agg.bn[f]] and s.rate lags
	// behind (a re-fill did not write them); syncRates writes them
	lazy bool
	// gen counts updates (a Delta's on-demand listing is valid while it is unchanged)
	gen uint64
	// total is Σ rates of alive flows, kept by Compute and the updates
	total float64
	// agg is the re-fill's assignments, columns and checkpoints (agg.go)
	agg aggregate
	// computed says that Compute ran before; cs is Compute's scratch, kept from
	// the second Compute on (compute.go)
	computed bool
	cs       *computeScratch
}

type linkPrefix struct {
	lv  []int32   // levels of the link's flows, ascending
	cum []float64 // cum[k] = Σ rates of the first k flows in lv order; len(lv)+1 entries
}

// Option configures New.
type Option func(*State) error

// WithTolerance sets the relative tolerance for ties (default DefaultTolerance).
func WithTolerance(tol float64) Option {
	return func(s *State) error {
		if !(tol >= 0 && tol < 1e-3) {
			return fmt.Errorf("bottleneck: tolerance must be in [0, 1e-3), got %v", tol)
		}
		s.tol = tol
		return nil
	}
}

// New validates n, interns it and computes its bottleneck structure with the float64
// engine. Cost: O(|L| + Σ|path|) expected to build (link IDs resolved by idTable in
// batched lookups, on this goroutine and a helper, each claiming chunks of flows;
// then flow IDs checked and interned on another goroutine while this one checks the
// paths and computes) plus Compute's cost. An invalid input is reported at its first invalid element in input
// order.
func New(n *Network, opts ...Option) (*State, error) {
	s := &State{tol: DefaultTolerance}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, err
		}
	}
	nl := len(n.Links)
	s.linkIdx = make(map[string]int32, nl)
	nVirt := 0
	for _, f := range n.Flows {
		if f.Demand != nil {
			nVirt++
		}
	}
	s.linkID = make([]string, 0, nl+nVirt)
	s.capa = make([]float64, 0, nl+nVirt)
	s.virtOf = make([]int32, 0, nl+nVirt)
	for i, l := range n.Links {
		if l.ID == "" {
			return nil, inputErr(linkLoc(i, l.ID), "empty link ID")
		}
		if j, dup := s.linkIdx[l.ID]; dup {
			return nil, inputErr(linkLoc(i, l.ID), "duplicate link ID (also links[%d])", j)
		}
		if !(l.Capacity > 0) || math.IsInf(l.Capacity, 0) {
			return nil, checkCapacity(linkLoc(i, l.ID), l.Capacity)
		}
		s.linkIdx[l.ID] = int32(i)
		s.linkID = append(s.linkID, l.ID)
		s.capa = append(s.capa, l.Capacity)
		s.virtOf = append(s.virtOf, -1)
	}
	nf := len(n.Flows)
	// per-flow arrays with headroom for arrivals (without it the first arrival
	// copies each of them: ~0.1 s at 1M flows)
	hf := nf + nf/32
	s.flowID = make([]string, nf, hf)
	s.path = make([][]int32, nf, hf)
	s.class = make([]string, nf, hf)
	s.alive = make([]bool, nf, hf)
	s.rate = make([]float64, nf, hf)
	s.levelF = make([]int32, nf, hf)
	// All link IDs of all paths in batched lookups, by this goroutine and a helper,
	// in chunks of flows claimed in turn; -1 marks an unknown link.
	nc := (nf + resolveChunk - 1) / resolveChunk
	starts := make([]int32, nc)
	total := 0
	for i := range n.Flows {
		if i%resolveChunk == 0 {
			starts[i/resolveChunk] = int32(total)
		}
		total += len(n.Flows[i].Path)
		if n.Flows[i].Demand != nil {
			total++
		}
	}
	backing := make([]int32, total)
	tab := newIDTable(s.linkID)
	var next atomic.Int32
	var helper sync.WaitGroup
	if nc > 1 {
		helper.Go(func() { tab.resolveChunks(n.Flows, starts, backing, &next) })
	}
	tab.resolveChunks(n.Flows, starts, backing, &next)
	helper.Wait()
	// The flow IDs (non-empty, unique) are then checked and interned on another
	// goroutine while this one checks the paths and computes the structure (which
	// does not read them; Compute's Phase 1 leaves the second core idle); the first
	// error in input order is reported, as a sequential check would.
	idErrAt, idErr := nf, error(nil)
	var wg sync.WaitGroup
	wg.Go(func() { idErrAt, idErr = s.internFlowIDs(n.Flows) })
	pathErrAt, pathErr := nf, error(nil)
	seen := make(map[int32]int, 16)
	o := 0
	for i, f := range n.Flows {
		if err := s.checkFlowPath(i, &f, backing[o:o+len(f.Path)], seen); err != nil {
			pathErrAt, pathErr = i, err
			break
		}
		start := o
		o += len(f.Path)
		if f.Demand != nil {
			backing[o] = s.newVirtual(int32(i), *f.Demand)
			o++
		}
		s.path[i] = backing[start:o:o]
		s.class[i] = f.Class
		s.alive[i] = true
	}
	if pathErr == nil {
		s.nAlive = nf
		s.failed = make([]bool, len(s.capa))
		s.buildLinkFlows()
		s.Compute()
	}
	wg.Wait()
	if idErr != nil && idErrAt <= pathErrAt {
		return nil, idErr
	}
	if pathErr != nil {
		return nil, pathErr
	}
	return s, nil
}

// internFlowIDs fills flowIdx and flowID; it returns the index of the first empty or
// duplicate flow ID and its error, or len(flows) and nil.
func (s *State) internFlowIDs(flows []Flow) (int, error) {
	s.flowIdx = make(map[string]int32, len(flows))
	for i := range flows {
		id := flows[i].ID
		if id == "" {
			return i, inputErr(flowLoc(i, id), "empty flow ID")
		}
		if s.flowIdx[id] = int32(i); len(s.flowIdx) != i+1 {
			j := slices.IndexFunc(flows, func(g Flow) bool { return g.ID == id })
			return i, inputErr(flowLoc(i, id), "duplicate flow ID (also flows[%d])", j)
		}
		s.flowID[i] = id
	}
	return len(flows), nil
}

// checkFlowPath validates flow i's path (resolved to link indices in p, -1 for an
// unknown link) and demand.
func (s *State) checkFlowPath(i int, f *Flow, p []int32, seen map[int32]int) error {
	at := func() string { return flowLoc(i, f.ID) }
	if len(f.Path) == 0 {
		return inputErr(at()+".path", "empty path")
	}
	if f.Demand != nil && !demandOK(*f.Demand) {
		// checked first without the element's name, which costs a Sprintf per flow
		return checkDemand(at(), f.Demand)
	}
	if len(seen) > 0 {
		clear(seen)
	}
	for k, li := range p {
		if li < 0 {
			return inputErr(fmt.Sprintf("%s.path[%d]", at(), k), "unknown link %q", f.Path[k])
		}
		if dupAt := repeatedAt(p[:k], li, seen, k); dupAt >= 0 {
			return inputErr(fmt.Sprintf("%s.path[%d]", at(), k), "link %q repeated in path (cycle; first at path[%d])", f.Path[k], dupAt)
		}
	}
	return nil
}

// repeatedAt returns the index in p of li, or -1. Short paths are scanned; long ones
// use the seen map (filled as the path grows) so validation stays linear.
func repeatedAt(p []int32, li int32, seen map[int32]int, k int) int {
	if len(p) < 16 {
		for m, x := range p {
			if x == li {
				return m
			}
		}
		return -1
	}
	if len(seen) == 0 {
		for m, x := range p {
			seen[x] = m
		}
	}
	if m, ok := seen[li]; ok {
		return m
	}
	seen[li] = k
	return -1
}

func (s *State) newVirtual(owner int32, demand float64) int32 {
	if n := len(s.freeVirt); n > 0 {
		v := s.freeVirt[n-1]
		s.freeVirt = s.freeVirt[:n-1]
		s.capa[v] = demand
		s.virtOf[v] = owner
		return v
	}
	v := int32(len(s.capa))
	s.linkID = append(s.linkID, "")
	s.capa = append(s.capa, demand)
	s.virtOf = append(s.virtOf, owner)
	if s.failed != nil {
		s.failed = append(s.failed, false)
		s.linkFlows = append(s.linkFlows, nil)
		s.levelL = append(s.levelL, 0)
		s.share = append(s.share, 0)
		if s.pfx != nil {
			s.pfx = append(s.pfx, linkPrefix{cum: []float64{0}})
			s.pfxEp = append(s.pfxEp, s.pfxEpoch)
		}
	}
	return v
}

// buildLinkFlows fills linkFlows from the paths, with one shared backing array.
func (s *State) buildLinkFlows() {
	nT := len(s.capa)
	deg := make([]int32, nT)
	total := 0
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		for _, l := range p {
			deg[l]++
		}
		total += len(p)
	}
	backing := make([]int32, total)
	s.posOK, s.flowPos = false, nil
	s.linkFlows = make([][]int32, nT)
	off := 0
	for l := range nT {
		d := int(deg[l])
		s.linkFlows[l] = backing[off : off : off+d]
		off += d
	}
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		for _, l := range p {
			s.linkFlows[l] = append(s.linkFlows[l], int32(f))
		}
	}
}

// computeRounds is the direct round-based water-filling of BOTTLENECK.md: in each
// round every link whose fair share is a local minimum (no larger, within the
// tolerance, than the share of any link sharing an unfixed flow with it) fixes its
// unfixed flows at its share; the round number is the level. Unfixed flows and active
// links are compacted after each round, so the cost is O(Σ_r (|L_r| + Σ_{f unfixed in
// round r} |path f|)), O(R·(|L| + Σ|path|)) for R levels. Compute uses it as a
// fallback and tests compare Compute against it.
func (s *State) computeRounds() {
	nT, nF := len(s.capa), len(s.path)
	s.rate = grow(s.rate, nF)
	s.levelF = grow(s.levelF, nF)
	s.levelL = grow(s.levelL, nT)
	s.share = grow(s.share, nT)
	resid := make([]float64, nT)
	cnt := make([]int32, nT)
	cur := make([]float64, nT)
	notMin := make([]bool, nT)
	active := make([]int32, 0, nT)
	for l := range nT {
		s.levelL[l], s.share[l] = 0, 0
		if s.failed[l] {
			continue
		}
		resid[l] = s.capa[l]
		cnt[l] = int32(len(s.linkFlows[l]))
		if cnt[l] > 0 {
			active = append(active, int32(l))
		}
	}
	unfixed := make([]int32, 0, s.nAlive)
	for f := range nF {
		s.rate[f], s.levelF[f] = 0, 0
		if s.alive[f] {
			unfixed = append(unfixed, int32(f))
		}
	}
	up := 1 + s.tol
	level := int32(0)
	for len(unfixed) > 0 {
		level++
		for _, l := range active {
			r := resid[l]
			if r < 0 {
				r = 0
			}
			cur[l] = r / float64(cnt[l])
			notMin[l] = false
		}
		for _, f := range unfixed {
			p := s.path[f]
			m := math.Inf(1)
			for _, l := range p {
				if cur[l] < m {
					m = cur[l]
				}
			}
			thr := m * up
			for _, l := range p {
				if cur[l] > thr {
					notMin[l] = true
				}
			}
		}
		for _, l := range active {
			if !notMin[l] {
				s.levelL[l] = level
				s.share[l] = cur[l]
			}
		}
		k := 0
		for _, f := range unfixed {
			p := s.path[f]
			r := math.Inf(1)
			for _, l := range p {
				if s.levelL[l] == level && cur[l] < r {
					r = cur[l]
				}
			}
			if math.IsInf(r, 1) {
				unfixed[k] = f
				k++
				continue
			}
			s.rate[f], s.levelF[f] = r, level
			for _, l := range p {
				resid[l] -= r
				cnt[l]--
			}
		}
		unfixed = unfixed[:k]
		k = 0
		for _, l := range active {
			if cnt[l] > 0 {
				active[k] = l
				k++
			}
		}
		active = active[:k]
	}
	s.maxLevel = level
	s.pfxOK, s.pfxAll = false, false
}

// grow returns x with length n, reusing its memory when it is large enough (the
// contents are then stale: callers overwrite or clear them).
func grow[T any](x []T, n int) []T {
	if cap(x) >= n {
		return x[:n]
	}
	return make([]T, n)
}
