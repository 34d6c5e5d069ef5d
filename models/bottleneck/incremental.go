package bottleneck

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/twinflow/twinflow/models/routing"
)

// RateChange is one flow whose rate changed in a perturbation.
type RateChange struct {
	Flow string  `json:"flow"`
	Old  float64 `json:"old"`
	New  float64 `json:"new"`
	// Added or Removed flows have Old or New 0.
	Added   bool `json:"added,omitempty"`
	Removed bool `json:"removed,omitempty"`
}

// LinkChange is one link whose water level moved in a perturbation. A link's level
// here is the fair share at which it saturates (its share when it bottlenecks flows);
// 0 when it bottlenecks no flow.
type LinkChange struct {
	Link string  `json:"link"` // link ID, or "demand:<flow>" for a demand cap
	Old  float64 `json:"old"`
	New  float64 `json:"new"`
}

// ErrStaleDelta is returned by Delta.RateChanges (and Delta.AppendRateChanges) when
// the State has been updated since the Delta was made and its per-flow listing was
// never produced by RateChanges.
var ErrStaleDelta = errors.New("bottleneck: delta is older than the state's last update")

// Delta is what a perturbation changed. The link-level answer (Links, Total) is
// always filled in; the per-flow answer (RateChanges, or AppendRateChanges into a
// caller's buffer) is produced on demand.
type Delta struct {
	// Links lists the links whose level (saturation share) moved beyond the
	// tolerance, in no particular order.
	Links []LinkChange `json:"links"`
	// Total is the total throughput (Σ rates) after the perturbation.
	Total float64 `json:"total_throughput"`
	// Rerouted and Dropped list the flows a link failure moved to a new path or left
	// without one.
	Rerouted []string `json:"rerouted,omitempty"`
	Dropped  []string `json:"dropped,omitempty"`
	// DirtyLinks and ExaminedFlows measure the recomputed region: for a round replay,
	// the links marked dirty and the flows examined, Rounds being the rounds
	// replayed; for a re-fill (Resumed), the links saturated again and the flows
	// handled one by one (moved to another bottleneck).
	DirtyLinks    int `json:"dirty_links"`
	ExaminedFlows int `json:"examined_flows"`
	Rounds        int `json:"rounds"`
	// Resumed is set when the rates were re-filled from a checkpoint below the
	// perturbation (agg.go) instead of replaying rounds: the replay's region grew too
	// large, or levels were stale. Level numbers and bottleneck sets are then
	// recomputed on their next read (State.Refresh).
	Resumed bool `json:"resumed,omitempty"`

	// changes is the per-flow listing once known; lazy, when set, is what produces it
	// from the State (valid while the State's update counter is gen).
	changes []RateChange
	lazy    *State
	gen     uint64
	added   []int32
}

// RateChanges lists the flows whose rate changed (beyond the tolerance), added and
// removed flows included, in flow index order for a re-fill (Resumed) and in no
// particular order otherwise. The listing is exact. After a re-fill it is computed on
// the first call, in one pass over the flows (O(|F|)), from the State: it must be
// called before the State's next update (later calls return ErrStaleDelta unless an
// earlier call already produced it). The first call after a re-fill allocates the
// listing and the Delta keeps it; a caller that lists after every update can use
// AppendRateChanges with a buffer of its own instead, which allocates nothing once
// the buffer is large enough.
func (d *Delta) RateChanges() ([]RateChange, error) {
	if d.lazy == nil {
		return d.changes, nil
	}
	s := d.lazy
	if s.gen != d.gen {
		return nil, ErrStaleDelta
	}
	d.changes = s.listLazyChanges(d.changes, d.added)
	d.lazy, d.added = nil, nil
	return d.changes, nil
}

// AppendRateChanges appends to dst the listing RateChanges returns (the same
// RateChange values in the same order, exact) and returns the extended slice; dst's
// elements are left as they were. It allocates only when dst lacks the capacity, so
// a caller that lists after every update and reuses its buffer (dst[:0]) allocates
// nothing per update once the buffer has grown to the largest listing.
//
// Unlike RateChanges it does not keep the listing in the Delta: after a re-fill
// (Resumed), until RateChanges has been called, each call lists again from the State
// (O(|F|)), so each must come before the State's next update; later ones return dst
// unchanged and ErrStaleDelta. The caller owns the returned slice; it aliases
// nothing of the Delta or the State.
func (d *Delta) AppendRateChanges(dst []RateChange) ([]RateChange, error) {
	if d.lazy == nil {
		return append(dst, d.changes...), nil
	}
	s := d.lazy
	if s.gen != d.gen {
		return dst, ErrStaleDelta
	}
	// the flows removed by the update come first (the re-fill listed them in
	// d.changes), then the ones the re-fill moved, as RateChanges lists them
	return s.listLazyChanges(append(dst, d.changes...), d.added), nil
}

// replayBudget bounds the work of an incremental replay, in path elements visited, as
// a multiple of Σ|path| (the size of one full pass); beyond it the replay is abandoned
// and the rates re-filled by the link-level water-filling instead (agg.go), which
// costs the saturations above the perturbation plus one pass over the flows.
const replayBudget = 0.1

// Reroute gives a new path for flow flowID, whose path crosses a failed link;
// ok=false drops the flow. f describes the failure and the flow: its old path
// (Failure.OldPath, built only when asked) and every link failed so far, this failure
// included (Failure.Failed, Failure.FailedLinks). f is the same value for every flow
// of one FailLinks call and is valid until that call returns. FailLinks copies newPath
// before the next call, so a Reroute may build each path in the last one's storage.
type Reroute func(flowID string, f *Failure) (newPath []string, ok bool)

// Failure is what a Reroute is told about one FailLinks call and the flow it is asked
// about.
type Failure struct {
	s     *State
	flow  int32
	now   []bool   // per link index: failed by this call
	ids   []string // FailedLinks, once built
	idsOK bool
	// the path the last Reroute call returned, as directed link indices of rg, when
	// the Reroute is a Router's (setRoute): FailLinks maps them to its own link
	// indices instead of looking each ID up
	rg   *routing.Graph
	ridx []int32
}

// setRoute records that the path a Reroute is about to return is rg's directed links
// idx (in order); FailLinks checks the IDs against them before it uses them.
func (x *Failure) setRoute(rg *routing.Graph, idx []int32) { x.rg, x.ridx = rg, idx }

// OldPath returns the real links of the flow's path before the failure. It is built
// (and allocated) on each call, so a Reroute that does not need it pays nothing.
func (x *Failure) OldPath() []string { return x.s.PathOf(x.flow) }

// Failed reports whether link id has failed so far (this failure included); unknown
// links have not.
func (x *Failure) Failed(id string) bool {
	l, ok := x.s.linkIdx[id]
	return ok && (x.s.failed[l] || x.now[l])
}

// FailedLinks returns the IDs of every link failed so far, this failure included, in
// the state's link order: the set Failed answers, for a router that marks it by index
// once instead of asking Failed per link. Built on the first call, O(|L|); the same
// slice is returned for the rest of the FailLinks call and must not be modified.
func (x *Failure) FailedLinks() []string {
	if !x.idsOK {
		for l, now := range x.now {
			if now || l < len(x.s.failed) && x.s.failed[l] {
				x.ids = append(x.ids, x.s.linkID[l])
			}
		}
		x.idsOK = true
	}
	return x.ids
}

// AddFlow adds a flow and updates the structure incrementally. On error the state is
// unchanged.
func (s *State) AddFlow(f Flow) (*Delta, error) {
	if err := s.checkNewFlow(f); err != nil {
		return nil, err
	}
	r := s.begin()
	s.addFlowLocked(r, f)
	return s.finish(r), nil
}

func (s *State) checkNewFlow(f Flow) error {
	at := fmt.Sprintf("flow %q", f.ID)
	if _, dup := s.flowIdx[f.ID]; dup && s.alive[s.flowIdx[f.ID]] {
		return inputErr(at, "duplicate flow ID")
	}
	return validateFlow(at, f, func(id string) bool {
		l, ok := s.linkIdx[id]
		return ok && !s.failed[l]
	})
}

// RemoveFlow removes flow id and updates the structure incrementally.
func (s *State) RemoveFlow(id string) (*Delta, error) {
	f, err := s.flow(id)
	if err != nil {
		return nil, err
	}
	r := s.begin()
	s.removeFlowLocked(r, f)
	return s.finish(r), nil
}

// SetCapacity changes link id's capacity and updates the structure incrementally.
func (s *State) SetCapacity(id string, c float64) (*Delta, error) {
	l, err := s.link(id)
	if err != nil {
		return nil, err
	}
	if err := checkCapacity(fmt.Sprintf("link %q", id), c); err != nil {
		return nil, err
	}
	if s.failed[l] {
		return nil, inputErr(fmt.Sprintf("link %q", id), "link has failed")
	}
	r := s.begin()
	r.setCap(l, c)
	return s.finish(r), nil
}

// SetDemand sets (or, with nil, clears) flow id's demand cap, incrementally.
func (s *State) SetDemand(id string, demand *float64) (*Delta, error) {
	f, err := s.flow(id)
	if err != nil {
		return nil, err
	}
	if err := checkDemand(fmt.Sprintf("flow %q", id), demand); err != nil {
		return nil, err
	}
	r := s.begin()
	p := s.path[f]
	hasV := len(p) > 0 && s.virtOf[p[len(p)-1]] >= 0
	switch {
	case hasV && demand != nil:
		r.setCap(p[len(p)-1], *demand)
	case hasV:
		v := p[len(p)-1]
		r.detach(f)
		s.path[f] = p[:len(p)-1]
		s.releaseVirtual(v)
		r.attach(f)
	case demand != nil:
		r.detach(f)
		v := s.newVirtual(f, *demand)
		r.growScratch()
		s.path[f] = append(slices.Clip(p), v)
		r.attach(f)
	}
	return s.finish(r), nil
}

// FailLink fails link id: flows crossing it are rerouted with reroute (nil drops
// them), and the structure is updated incrementally.
func (s *State) FailLink(id string, reroute Reroute) (*Delta, error) {
	return s.FailLinks([]string{id}, reroute)
}

// FailLinks fails several links at once (a device failure fails all its links). On
// error (unknown link, or reroute returning a path through an unknown or failed link)
// the state is unchanged.
//
// Besides the re-fill (finish), a failure costs one Reroute call and a detach and
// attach per flow crossing a failed link. Its scratch (the links failed now, the flows
// listed, the new paths) is kept in the State between calls; the new paths share one
// allocation. A Router's Reroute also gives each path as routing link indices
// (Failure.setRoute), mapped through a per-graph table instead of one ID look-up
// per link.
func (s *State) FailLinks(ids []string, reroute Reroute) (*Delta, error) {
	if s.inc == nil {
		s.inc = &scratch{}
	}
	c := s.inc
	fail := extend(c.failNow, len(s.capa)) // the links failed now (the reroute asks per link); all false
	c.failNow = fail
	failList := c.failList[:0]
	seen := extend(c.failSeen, (len(s.path)+63)/64) // flows already listed; all zero
	c.failSeen = seen
	moves, pbuf := c.moves[:0], c.pathBuf[:0]
	// cleanup returns the scratch to its clean state (also on error)
	cleanup := func() {
		for _, l := range failList {
			fail[l] = false
		}
		for _, m := range moves {
			seen[m.f/64] &^= 1 << (m.f % 64)
		}
		c.failList, c.moves, c.pathBuf = failList[:0], moves[:0], pbuf[:0]
	}
	for _, id := range ids {
		l, err := s.link(id)
		if err != nil {
			cleanup()
			return nil, err
		}
		if !fail[l] {
			fail[l] = true
			failList = append(failList, l)
		}
	}
	fc := &Failure{s: s, now: fail}
	nMoved := 0
	for _, l := range failList {
		for _, f := range s.linkFlows[l] {
			if w, b := f/64, uint64(1)<<(f%64); seen[w]&b != 0 {
				continue
			} else {
				seen[w] |= b
			}
			m := failMove{f: f, off: int32(len(pbuf)), n: -1}
			if reroute != nil {
				fc.flow, fc.ridx = f, nil
				if np, ok := reroute(s.flowID[f], fc); ok {
					var ok bool
					if pbuf, ok = s.appendRoute(pbuf, fc, np, fail); !ok {
						var err error
						if pbuf, err = s.resolveReroute(pbuf, f, np, fail); err != nil {
							moves = append(moves, m) // its seen bit is cleared
							cleanup()
							return nil, err
						}
					}
					m.n = int32(len(pbuf)) - m.off
					nMoved++
				}
			}
			moves = append(moves, m)
		}
	}
	// the new paths in one allocation, each with room for a demand cap's virtual link
	backing := make([]int32, len(pbuf)+nMoved)
	o := 0
	slices.SortFunc(moves, func(a, b failMove) int { return int(a.f - b.f) })
	r := s.begin()
	for _, l := range failList {
		r.markDirty(l)
		s.failed[l] = true
	}
	r.delta.Rerouted = make([]string, 0, nMoved)
	if len(moves) > nMoved {
		r.delta.Dropped = make([]string, 0, len(moves)-nMoved)
	}
	for _, m := range moves {
		if m.n < 0 {
			r.delta.Dropped = append(r.delta.Dropped, s.flowID[m.f])
			s.removeFlowLocked(r, m.f)
			continue
		}
		r.delta.Rerouted = append(r.delta.Rerouted, s.flowID[m.f])
		n := int(m.n)
		np := backing[o : o+n : o+n+1]
		o += n + 1
		copy(np, pbuf[m.off:m.off+m.n])
		p := s.path[m.f]
		r.detach(m.f)
		if len(p) > 0 && s.virtOf[p[len(p)-1]] >= 0 {
			np = append(np, p[len(p)-1])
		}
		s.path[m.f] = np
		r.attach(m.f)
	}
	cleanup()
	return s.finish(r), nil
}

// failMove is a flow crossing a failed link: its new path is pathBuf[off:off+n] (n <
// 0: dropped).
type failMove struct {
	f, off, n int32
}

// appendRoute appends to p the link indices of new path np when the Reroute gave it
// as routing link indices too (Failure.setRoute) and they name np's links; ok is
// false (p unchanged) when it did not, or when the path is not acceptable (then
// resolveReroute words the error).
func (s *State) appendRoute(p []int32, fc *Failure, np []string, fail []bool) ([]int32, bool) {
	idx := fc.ridx
	if idx == nil || len(idx) != len(np) || len(np) == 0 {
		return p, false
	}
	lm := s.routeLinks(fc.rg)
	k0 := len(p)
	for k, e := range idx {
		if e < 0 || int(e) >= len(lm) || np[k] != fc.rg.LinkID(int(e)) {
			return p[:k0], false
		}
		l := lm[e]
		if l < 0 || !s.rerouteLinkOK(l, fail, p[k0:]) {
			return p[:k0], false
		}
		p = append(p, l)
	}
	return p, true
}

// routeLinks returns the State's link index of each directed link of rg (-1: none),
// built on first use per graph: O(|E|) look-ups once instead of one per element of
// every rerouted path. A State's real links never change, so the table stays valid.
func (s *State) routeLinks(rg *routing.Graph) []int32 {
	c := s.inc
	if c.rg != rg {
		lm := make([]int32, rg.NumLinks())
		for e := range lm {
			lm[e] = -1
			if l, ok := s.linkIdx[rg.LinkID(e)]; ok {
				lm[e] = l
			}
		}
		c.rg, c.rgLinks = rg, lm
	}
	return c.rgLinks
}

// rerouteLinkOK reports whether link l may be the next link of a rerouted path whose
// links so far are sofar: neither failed before nor failed now (fail), nor already on
// the path.
func (s *State) rerouteLinkOK(l int32, fail []bool, sofar []int32) bool {
	return !s.failed[l] && !fail[l] && !slices.Contains(sofar, l)
}

// resolveReroute appends to p flow f's new path np resolved to link indices, one
// lookup per link; np must be non-empty, without repeated links, through known links
// neither failed nor in fail (else validateFlow's error for it, p unchanged).
func (s *State) resolveReroute(p []int32, f int32, np []string, fail []bool) ([]int32, error) {
	k0 := len(p)
	ok := len(np) > 0
	for _, id := range np {
		l, known := s.linkIdx[id]
		if !known || !s.rerouteLinkOK(l, fail, p[k0:]) {
			ok = false
			break
		}
		p = append(p, l)
	}
	if ok {
		return p, nil
	}
	isFailed := func(id string) bool {
		l, ok := s.linkIdx[id]
		return ok && (s.failed[l] || fail[l])
	}
	at := fmt.Sprintf("reroute of flow %q", s.flowID[f])
	err := validateFlow(at, Flow{ID: s.flowID[f], Path: np}, func(id string) bool { _, ok := s.linkIdx[id]; return ok && !isFailed(id) })
	if err == nil { // unreachable: the checks above are validateFlow's
		err = inputErr(at, "invalid path")
	}
	return p[:k0], err
}

// PathOf returns the real links of flow index f (exported form of a path).
func (s *State) PathOf(f int32) []string {
	p := s.path[f]
	if len(p) > 0 && s.virtOf[p[len(p)-1]] >= 0 {
		p = p[:len(p)-1] // a demand cap's virtual link is last
	}
	out := make([]string, 0, len(p))
	for _, l := range p {
		if s.virtOf[l] < 0 {
			out = append(out, s.linkID[l])
		}
	}
	return out
}

// Path returns the path of flow id.
func (s *State) Path(id string) ([]string, error) {
	f, err := s.flow(id)
	if err != nil {
		return nil, err
	}
	return s.PathOf(f), nil
}

// releaseFlow frees removed flow f's index for reuse once an update has reported it.
func (s *State) releaseFlow(f int32) {
	s.rate[f], s.levelF[f], s.path[f] = 0, 0, nil
	s.freeFlows = append(s.freeFlows, f)
}

func (s *State) releaseVirtual(v int32) {
	s.virtOf[v] = -2 // free
	s.capa[v] = 0
	s.freeVirt = append(s.freeVirt, v)
}

func (s *State) addFlowLocked(r *replay, fl Flow) {
	var f int32
	if n := len(s.freeFlows); n > 0 {
		f = s.freeFlows[n-1]
		s.freeFlows = s.freeFlows[:n-1]
	} else {
		f = int32(len(s.path))
		s.flowID = append(s.flowID, "")
		s.path = append(s.path, nil)
		s.class = append(s.class, "")
		s.alive = append(s.alive, false)
		s.rate = append(s.rate, 0)
		s.levelF = append(s.levelF, 0)
	}
	p := make([]int32, 0, len(fl.Path)+1)
	for _, id := range fl.Path {
		p = append(p, s.linkIdx[id])
	}
	if fl.Demand != nil {
		p = append(p, s.newVirtual(f, *fl.Demand))
	}
	s.flowID[f], s.path[f], s.class[f], s.alive[f] = fl.ID, p, fl.Class, true
	s.flowIdx[fl.ID] = f
	s.nAlive++
	s.rate[f], s.levelF[f] = 0, math.MaxInt32 // never fixed in the old structure
	r.growScratch()
	r.added = append(r.added, f)
	r.attach(f)
}

func (s *State) removeFlowLocked(r *replay, f int32) {
	r.detach(f)
	p := s.path[f]
	if len(p) > 0 && s.virtOf[p[len(p)-1]] >= 0 {
		s.releaseVirtual(p[len(p)-1])
	}
	r.removed = append(r.removed, f)
	s.alive[f] = false
	s.nAlive--
	delete(s.flowIdx, s.flowID[f])
}

// replay is one incremental update: the perturbation is applied to the topology, then
// the water-filling rounds are replayed on the dirty region only.
//
// Invariant: a link is clean while its capacity, its flow set and the fixing (round and
// rate) of each of its flows are those of the old structure; a clean link's fair share
// in any round is then the old one, read from its prefix sums in O(log deg). In round
// j the dirty links are evaluated in full; a clean link can resolve differently only if
// the old and new shares of a dirty neighbour fall on different sides of its own
// share, so only those "flipped" links are evaluated as well. Flows whose fixing
// changes make every link on their path dirty from the next round on. When no dirty
// link has an unfixed flow left, the rest of the old structure is provably unchanged.
// Cost per round: O(Σ_{dirty d} deg d · |path| · log deg) plus the flipped links'
// neighbourhoods; results equal a full recomputation (property-tested).
type replay struct {
	s       *State
	delta   Delta
	oldCap  map[int32]float64
	added   []int32
	removed []int32
	oldRate map[int32]float64 // old rates of flows whose path changed
	dirty   []int32           // dirty links, in order of marking
	pending []int32           // links marked dirty during the current round
	// the perturbation's own links and flows are the first nSeedLinks of dirty and
	// the first nSeedFlows of the tracked flows (both only grow until commit or abort)
	nSeedLinks, nSeedFlows int
	work                   int // path elements visited so far
}

// scratch is the incremental engine's reusable per-State memory.
type scratch struct {
	tick int32
	// per link
	lDirty    []bool
	lResid    []float64
	lCnt      []int32
	lSN, lSO  []float64
	lEval     []int32 // tick of the round the link was evaluated in
	lResNew   []bool
	lShare    []float64 // share in the evaluated round
	lCand     []int32   // tick of candidate marking
	lMarked   []int32   // tick of the round the link was marked dirty in
	lTouched  []bool    // level overlay set
	lNLevel   []int32
	lNShare   []float64
	touchedLs []int32
	// per flow
	fTracked []bool
	fNLevel  []int32
	fNRate   []float64
	fSeen    []int32 // tick examined
	tracked  []int32
	// level histogram of flows (for maxLevel)
	levelCount []int32
	// shared arrays of the per-link prefixes (ensurePrefix)
	pfxLv  []int32
	pfxCum []float64
	// FailLinks: the links failed now (all false between calls) and their list, the
	// flows listed (bit set, all zero between calls), the moves and their new paths
	failNow  []bool
	failList []int32
	failSeen []uint64
	moves    []failMove
	pathBuf  []int32
	// the State's link index of each directed link of routing graph rg (routeLinks)
	rg      *routing.Graph
	rgLinks []int32
}

func (s *State) begin() *replay {
	s.gen++
	s.aggBegin()
	if !s.stale {
		// the level histogram now; each link's prefix on its first use (a replay
		// reads those of the links in its region, and is abandoned at its budget,
		// so a full build would cost O(Σ|path|) for a few links on large networks)
		s.prepPrefix()
	}
	r := &replay{s: s, oldCap: map[int32]float64{}, oldRate: map[int32]float64{}}
	r.growScratch()
	return r
}

func (r *replay) sc() *scratch { return r.s.inc }

func (r *replay) growScratch() {
	s := r.s
	if s.inc == nil {
		s.inc = &scratch{}
	}
	c := s.inc
	nT, nF := len(s.capa), len(s.path)
	if len(c.lDirty) < nT {
		c.lDirty = extend(c.lDirty, nT)
		c.lResid = extend(c.lResid, nT)
		c.lCnt = extend(c.lCnt, nT)
		c.lSN = extend(c.lSN, nT)
		c.lSO = extend(c.lSO, nT)
		c.lEval = extend(c.lEval, nT)
		c.lResNew = extend(c.lResNew, nT)
		c.lShare = extend(c.lShare, nT)
		c.lCand = extend(c.lCand, nT)
		c.lMarked = extend(c.lMarked, nT)
		c.lTouched = extend(c.lTouched, nT)
		c.lNLevel = extend(c.lNLevel, nT)
		c.lNShare = extend(c.lNShare, nT)
	}
	if len(c.fTracked) < nF {
		c.fTracked = extend(c.fTracked, nF)
		c.fNLevel = extend(c.fNLevel, nF)
		c.fNRate = extend(c.fNRate, nF)
		c.fSeen = extend(c.fSeen, nF)
	}
	for len(s.pfx) < nT {
		s.pfx = append(s.pfx, linkPrefix{cum: []float64{0}})
		s.pfxEp = append(s.pfxEp, s.pfxEpoch)
	}
}

// extend returns x lengthened to n with zero values (one growth, not one append per
// element: the first update after New grows the per-flow scratch from 0 to |F|).
// Growing beyond the capacity leaves 1/8 of headroom, so that later arrivals (one
// flow at a time) do not copy the arrays again.
func extend[T any](x []T, n int) []T {
	m := len(x)
	if n <= cap(x) {
		x = x[:n]
		clear(x[m:])
		return x
	}
	y := make([]T, n, n+n/8)
	copy(y, x)
	return y
}

func (r *replay) markDirty(l int32) {
	c := r.sc()
	if c.lDirty[l] {
		return
	}
	c.lDirty[l] = true
	c.lMarked[l] = c.tick
	r.dirty = append(r.dirty, l)
	r.pending = append(r.pending, l)
}

func (r *replay) track(f int32) {
	c := r.sc()
	if !c.fTracked[f] {
		c.fTracked[f] = true
		c.fNLevel[f] = 0
		c.tracked = append(c.tracked, f)
	}
}

func (r *replay) setCap(l int32, c float64) {
	if _, ok := r.oldCap[l]; !ok {
		r.oldCap[l] = r.s.capa[l]
	}
	r.s.capa[l] = c
	r.markDirty(l)
}

// detach removes flow f from its links (marking them dirty) and tracks it.
func (r *replay) detach(f int32) {
	s := r.s
	if s.nIncid > 0 { // kept up to date: a full Σ|path| per update cost O(flows)
		s.nIncid -= len(s.path[f])
	}
	if !s.posOK {
		s.buildFlowPos()
	}
	pos := s.flowPos[f]
	for k, l := range s.path[f] {
		s.keepPrefix(l)
		// swap-remove: the list's last flow g takes f's place (the lists are
		// unordered); g's own index for l is updated
		lf := s.linkFlows[l]
		i, last := pos[k], int32(len(lf)-1)
		if i != last {
			g := lf[last]
			lf[i] = g
			s.setFlowPos(g, l, i)
		}
		s.linkFlows[l] = lf[:last]
		r.markDirty(l)
	}
	s.aggDetach(f)
	r.track(f)
}

// setFlowPos records that flow g is at index i of link l's flow list, O(|path g|).
func (s *State) setFlowPos(g, l, i int32) {
	for k, x := range s.path[g] {
		if x == l {
			s.flowPos[g][k] = i
			return
		}
	}
}

// buildFlowPos fills flowPos from the current flow lists, O(Σ|path|·|path|) (each
// entry's path element is found by scanning its flow's path; paths are short), in
// one shared backing array cut with exact capacities.
func (s *State) buildFlowPos() {
	total := 0
	for f, p := range s.path {
		if s.alive[f] {
			total += len(p)
		}
	}
	backing := make([]int32, total)
	s.flowPos = make([][]int32, len(s.path))
	o := 0
	for f, p := range s.path {
		if s.alive[f] {
			n := len(p)
			s.flowPos[f] = backing[o : o+n : o+n]
			o += n
		}
	}
	for l, lf := range s.linkFlows {
		for i, f := range lf {
			s.setFlowPos(f, int32(l), int32(i))
		}
	}
	s.posOK = true
}

// attach adds flow f to its links (marking them dirty) and tracks it.
func (r *replay) attach(f int32) {
	s := r.s
	if s.nIncid > 0 {
		s.nIncid += len(s.path[f])
	}
	var pos []int32
	if s.posOK {
		for len(s.flowPos) < len(s.path) {
			s.flowPos = append(s.flowPos, nil)
		}
		pos = s.flowPos[f]
		if n := len(s.path[f]); cap(pos) >= n {
			pos = pos[:n]
		} else {
			pos = make([]int32, n)
		}
		s.flowPos[f] = pos
	}
	for k, l := range s.path[f] {
		s.keepPrefix(l)
		if pos != nil {
			pos[k] = int32(len(s.linkFlows[l]))
		}
		s.linkFlows[l] = append(s.linkFlows[l], f)
		r.markDirty(l)
	}
	s.aggAttach(f)
	r.track(f)
}

// ensurePrefix builds the per-link level-sorted prefix sums (once per full compute):
// flows are bucketed by level (counting sort), then written to each link's arrays in
// level order, O(|L| + Σ|path| + R). The arrays of all links are cut from two shared
// ones (kept for the next build) in CSR order: the pass in level order writes each
// (level, rate) pair at its link's next position, a counter per link (small enough to
// stay in cache) instead of an append through the link's slice header and its last
// sum; each link's rates are then summed in place, in the same order as before, so
// the sums are bit for bit those of appending. A link's capacity is its length, so
// later appends (attach) copy it out.
func (s *State) ensurePrefix() {
	if s.pfxAll {
		return
	}
	s.prepPrefix()
	nT := len(s.capa)
	c := s.inc
	pos := make([]int32, nT+1) // per link: its start, then its next position
	for f, p := range s.path {
		if s.alive[f] {
			for _, l := range p {
				pos[l+1]++
			}
		}
	}
	for l := range nT {
		pos[l+1] += pos[l]
	}
	n := int(pos[nT])
	c.pfxLv = grow(c.pfxLv, n)
	c.pfxCum = grow(c.pfxCum, n+nT)
	start := make([]int32, len(c.levelCount)+1)
	for lv, n := range c.levelCount {
		start[lv+1] = start[lv] + n
	}
	byLv := make([]int32, start[len(c.levelCount)])
	for f := range s.path {
		if s.alive[f] {
			lv := s.levelF[f]
			byLv[start[lv]] = int32(f)
			start[lv]++
		}
	}
	// link l's levels go to pfxLv[pos[l]:pos[l+1]] and its sums to
	// pfxCum[pos[l]+l : pos[l+1]+l+1], the rates first, one after its leading 0
	lvB, cumB := c.pfxLv, c.pfxCum
	next := pos[:nT:nT]
	next = append([]int32(nil), next...)
	for _, f := range byLv {
		lv, r := s.levelF[f], s.rate[f]
		for _, l := range s.path[f] {
			k := next[l]
			next[l] = k + 1
			lvB[k] = lv
			cumB[k+l+1] = r
		}
	}
	for l := range int32(nT) {
		a, b := pos[l], pos[l+1]
		cum := cumB[a+l : b+l+1 : b+l+1]
		cum[0] = 0
		for i := 1; i < len(cum); i++ {
			cum[i] += cum[i-1]
		}
		s.pfx[l] = linkPrefix{lv: lvB[a:b:b], cum: cum}
		s.pfxEp[l] = s.pfxEpoch
	}
	s.pfxAll = true
}

// prepPrefix starts a generation of per-link prefixes after a full compute: the
// level histogram (one pass over the flows), and every link's prefix marked out of
// date, to be built on first use (keepPrefix, prefix). O(|F| + |L|).
func (s *State) prepPrefix() {
	if s.pfxOK {
		return
	}
	nT := len(s.capa)
	if len(s.pfx) != nT {
		s.pfx = make([]linkPrefix, nT)
	}
	if len(s.pfxEp) != nT {
		s.pfxEp = make([]uint32, nT)
	}
	s.pfxEpoch++
	if s.pfxEpoch == 0 { // wrapped: no stamp may look current
		clear(s.pfxEp)
		s.pfxEpoch = 1
	}
	if s.inc == nil {
		s.inc = &scratch{}
	}
	c := s.inc
	c.levelCount = c.levelCount[:0]
	for f, lv := range s.levelF {
		if s.alive[f] {
			s.countLevel(lv, 1)
		}
	}
	s.pfxOK, s.pfxAll = true, false
}

// keepPrefix builds link l's prefix if it is out of date, before an update changes
// l's flows (a replay reads the old structure's prefixes). Nothing while levels are
// stale (no replay runs then).
func (s *State) keepPrefix(l int32) {
	if s.pfxOK && !s.stale && s.pfxEp[l] != s.pfxEpoch {
		s.rebuildPrefix(l)
	}
}

// prefix returns link l's prefix, built on first use.
func (s *State) prefix(l int32) *linkPrefix {
	if s.pfxEp[l] != s.pfxEpoch {
		s.rebuildPrefix(l)
	}
	return &s.pfx[l]
}

func (s *State) countLevel(lv int32, d int32) {
	c := s.inc
	for int(lv) >= len(c.levelCount) {
		c.levelCount = append(c.levelCount, 0)
	}
	c.levelCount[lv] += d
}

// rebuildPrefix builds link l's prefix from its current flows: levels ascending,
// ties in flow order (as ensurePrefix orders them, so the sums are bit for bit the
// same), O(d log d) for d flows.
func (s *State) rebuildPrefix(l int32) {
	fl := s.linkFlows[l]
	p := &s.pfx[l]
	// (level, flow) packed in one word: an integer sort (levels and flow indices
	// are non-negative int32)
	key := make([]uint64, len(fl))
	for i, f := range fl {
		key[i] = uint64(uint32(s.levelF[f]))<<32 | uint64(uint32(f))
	}
	slices.Sort(key)
	if cap(p.lv) >= len(key) && cap(p.cum) >= len(key)+1 {
		p.lv, p.cum = p.lv[:len(key)], p.cum[:len(key)+1]
	} else {
		p.lv, p.cum = make([]int32, len(key)), make([]float64, len(key)+1)
	}
	p.cum[0] = 0
	sum := 0.0
	for i, k := range key {
		sum += s.rate[int32(uint32(k))]
		p.lv[i], p.cum[i+1] = int32(k>>32), sum
	}
	s.pfxEp[l] = s.pfxEpoch
}

// oldShare is the fair share of link l at the start of round j in the old structure
// (capacity c), or +Inf if it had no unfixed flow.
func (s *State) oldShare(l int32, j int32, c float64) float64 {
	p := s.prefix(l)
	k := sort.Search(len(p.lv), func(i int) bool { return p.lv[i] >= j })
	n := len(p.lv) - k
	if n == 0 {
		return math.Inf(1)
	}
	return math.Max(c-p.cum[k], 0) / float64(n)
}

func (r *replay) capOld(l int32) float64 {
	if c, ok := r.oldCap[l]; ok {
		return c
	}
	return r.s.capa[l]
}

// fixedIn reports whether flow f is fixed before round j (new status), and its rate.
func (r *replay) fixedBefore(f int32, j int32) (bool, float64) {
	c := r.sc()
	if c.fTracked[f] {
		lv := c.fNLevel[f]
		return lv != 0 && lv < j, c.fNRate[f]
	}
	return r.s.levelF[f] < j, r.s.rate[f]
}

// activate initialises a dirty link's maintained residual for the start of round j.
func (r *replay) activate(l int32, j int32) {
	s, c := r.s, r.sc()
	res, n := s.capa[l], int32(0)
	if s.failed[l] {
		c.lResid[l], c.lCnt[l] = 0, 0
		return
	}
	for _, f := range s.linkFlows[l] {
		if ok, rt := r.fixedBefore(f, j); ok {
			res -= rt
		} else {
			n++
		}
	}
	c.lResid[l], c.lCnt[l] = res, n
	// level overlay: a link that already resolved (identically) keeps its level
	if !c.lTouched[l] {
		c.lTouched[l] = true
		c.touchedLs = append(c.touchedLs, l)
		old := s.levelL[l]
		if old > 0 && old < j {
			c.lNLevel[l], c.lNShare[l] = old, s.share[l]
		} else {
			c.lNLevel[l], c.lNShare[l] = 0, 0
		}
	}
}

// shareNew is link n's fair share in round j of the new process.
func (r *replay) shareNew(n int32, j int32) float64 {
	c := r.sc()
	if c.lDirty[n] {
		return c.lSN[n]
	}
	return r.s.oldShare(n, j, r.s.capa[n])
}

// unfixedAt reports whether flow f is unfixed at the start of round j (new status).
func (r *replay) unfixedAt(f int32, j int32) bool {
	ok, _ := r.fixedBefore(f, j)
	return !ok
}

func (s *State) finish(r *replay) *Delta {
	r.nSeedLinks, r.nSeedFlows = len(r.dirty), len(s.inc.tracked)
	if s.stale {
		// levels lag behind (an earlier update resumed the water-filling): replaying
		// rounds needs them, resuming does not
		return r.abort()
	}
	c := s.inc
	up := 1 + s.tol
	var active []int32
	var cands []int32
	var exam []int32
	j := int32(0)
	for {
		j++
		c.tick++
		tick := c.tick
		// activate links that became dirty in the previous round
		for _, l := range r.pending {
			r.activate(l, j)
		}
		r.pending = r.pending[:0]
		active = active[:0]
		for _, d := range r.dirty {
			if c.lCnt[d] > 0 {
				active = append(active, d)
			}
		}
		if len(active) == 0 {
			break
		}
		r.delta.Rounds++
		if r.work > s.budget() {
			return r.abort()
		}
		// A. shares of active dirty links, old and new
		for _, d := range active {
			c.lSN[d] = math.Max(c.lResid[d], 0) / float64(c.lCnt[d])
			c.lSO[d] = s.oldShare(d, j, r.capOld(d))
		}
		// B. clean links whose outcome may flip
		cands = cands[:0]
		for _, d := range active {
			sn, so := c.lSN[d], c.lSO[d]
			if sn == so {
				continue
			}
			for _, f := range s.linkFlows[d] {
				if c.fTracked[f] || s.levelF[f] < j {
					continue // dirty or fixed flows connect no clean candidate
				}
				r.work += len(s.path[f])
				for _, m := range s.path[f] {
					if c.lDirty[m] || c.lCand[m] == tick {
						continue
					}
					sm := s.oldShare(m, j, s.capa[m])
					if (sm <= so*up) != (sm <= sn*up) {
						c.lCand[m] = tick
						cands = append(cands, m)
					}
				}
			}
		}
		// C. evaluate dirty and candidate links
		eval := func(l int32, sl float64) bool {
			for _, f := range s.linkFlows[l] {
				if !r.unfixedAt(f, j) {
					continue
				}
				r.work += len(s.path[f])
				for _, n := range s.path[f] {
					if n != l && sl > r.shareNew(n, j)*up {
						return false
					}
				}
			}
			return true
		}
		for _, d := range active {
			c.lEval[d] = tick
			c.lShare[d] = c.lSN[d]
			c.lResNew[d] = eval(d, c.lSN[d])
		}
		k := 0
		for _, m := range cands {
			sm := s.oldShare(m, j, s.capa[m])
			c.lEval[m] = tick
			c.lShare[m] = sm
			c.lResNew[m] = eval(m, sm)
			if c.lResNew[m] != (s.levelL[m] == j) {
				cands[k] = m
				k++
			}
		}
		cands = cands[:k] // only those whose outcome changed
		// D. flows whose fixing may change
		exam = exam[:0]
		addExam := func(l int32) {
			for _, f := range s.linkFlows[l] {
				if c.fSeen[f] != tick && r.unfixedAt(f, j) {
					c.fSeen[f] = tick
					exam = append(exam, f)
				}
			}
		}
		for _, d := range active {
			addExam(d)
		}
		for _, m := range cands {
			addExam(m)
		}
		r.delta.ExaminedFlows += len(exam)
		r.work += 4 * len(exam)
		for _, f := range exam {
			rate := math.Inf(1)
			for _, n := range s.path[f] {
				var res bool
				var sh float64
				if c.lEval[n] == tick {
					res, sh = c.lResNew[n], c.lShare[n]
				} else {
					res, sh = s.levelL[n] == j, s.share[n]
				}
				if res && sh < rate {
					rate = sh
				}
			}
			fixed := !math.IsInf(rate, 1)
			if !c.fTracked[f] {
				same := fixed == (s.levelF[f] == j) && (!fixed || math.Abs(rate-s.rate[f]) <= s.tol*math.Max(rate, 1e-300))
				if same {
					if fixed {
						for _, n := range s.path[f] {
							if c.lDirty[n] && !r.isPending(n) {
								c.lResid[n] -= s.rate[f]
								c.lCnt[n]--
							}
						}
					}
					continue
				}
				r.track(f)
				for _, n := range s.path[f] {
					r.markDirty(n)
				}
			}
			if fixed {
				c.fNLevel[f], c.fNRate[f] = j, rate
				for _, n := range s.path[f] {
					if c.lDirty[n] && !r.isPending(n) {
						c.lResid[n] -= rate
						c.lCnt[n]--
					}
				}
			}
		}
		// F. level overlay for evaluated links
		for _, l := range active {
			r.setLevel(l, j)
		}
		for _, m := range cands {
			r.setLevel(m, j)
		}
	}
	return r.commit()
}

// abort abandons the replay: the scratch state is reset and the rates of the
// (already perturbed) topology re-filled by the link-level water-filling restarted
// below the perturbation (agg.go); the delta lists the flows whose rate changed.
func (r *replay) abort() *Delta {
	s, c := r.s, r.sc()
	// views of the seeds: the resets below shorten tracked but leave its array as is
	seedLinks, seedFlows := r.dirty[:r.nSeedLinks], c.tracked[:r.nSeedFlows]
	for _, f := range c.tracked {
		c.fTracked[f] = false
	}
	c.tracked = c.tracked[:0]
	for _, l := range c.touchedLs {
		c.lTouched[l] = false
	}
	c.touchedLs = c.touchedLs[:0]
	for _, l := range r.dirty {
		c.lDirty[l] = false
	}
	d := &r.delta
	d.Resumed = true
	s.aggRefill(d, seedLinks, seedFlows, r.added, r.removed)
	return d
}

// budget is the work after which a replay is abandoned (see replayBudget); tests set
// noReplayFloor to exercise the fallback on small networks.
func (s *State) budget() int {
	if s.noReplayFloor {
		return 0
	}
	return int(replayBudget*float64(s.incidences())) + 1024
}

// incidences returns Σ|path| over alive flows (the size of one full pass).
func (s *State) incidences() int {
	if s.nIncid == 0 {
		for f, p := range s.path {
			if s.alive[f] {
				s.nIncid += len(p)
			}
		}
	}
	return s.nIncid
}

// isPending reports whether dirty link l was marked in the current round (it is
// activated, with a full scan, at the start of the next one).
func (r *replay) isPending(l int32) bool {
	c := r.sc()
	return c.lMarked[l] == c.tick && c.lDirty[l]
}

func (r *replay) setLevel(l int32, j int32) {
	s, c := r.s, r.sc()
	if !c.lTouched[l] {
		c.lTouched[l] = true
		c.touchedLs = append(c.touchedLs, l)
		c.lNLevel[l], c.lNShare[l] = s.levelL[l], s.share[l]
	}
	if c.lResNew[l] {
		c.lNLevel[l], c.lNShare[l] = j, c.lShare[l]
	} else if c.lNLevel[l] == j {
		c.lNLevel[l], c.lNShare[l] = 0, 0
	}
}

// commit writes the overlay into the structure, rebuilds the prefix sums of dirty
// links, resets the scratch state and returns the delta.
func (r *replay) commit() *Delta {
	s, c := r.s, r.sc()
	s.aggInvalidate()
	d := &r.delta
	d.DirtyLinks = len(r.dirty)
	isAdded := map[int32]bool{}
	for _, f := range r.added {
		isAdded[f] = true
	}
	slices.Sort(c.tracked)
	for _, f := range c.tracked {
		c.fTracked[f] = false
		if !s.alive[f] {
			continue
		}
		old, oldLv := s.rate[f], s.levelF[f]
		if !isAdded[f] {
			s.countLevel(oldLv, -1)
		}
		s.levelF[f], s.rate[f] = c.fNLevel[f], c.fNRate[f]
		s.countLevel(s.levelF[f], 1)
		switch {
		case isAdded[f]:
			d.changes = append(d.changes, RateChange{Flow: s.flowID[f], New: s.rate[f], Added: true})
			s.total += s.rate[f]
		case math.Abs(s.rate[f]-old) > s.tol*math.Max(math.Abs(old), 1):
			d.changes = append(d.changes, RateChange{Flow: s.flowID[f], Old: old, New: s.rate[f]})
			s.total += s.rate[f] - old
		}
	}
	for _, f := range r.removed {
		if !isAdded[f] {
			s.countLevel(s.levelF[f], -1)
			d.changes = append(d.changes, RateChange{Flow: s.flowID[f], Old: s.rate[f], Removed: true})
			s.total -= s.rate[f]
		}
		s.releaseFlow(f)
	}
	d.Total = s.total
	c.tracked = c.tracked[:0]
	for _, l := range c.touchedLs {
		c.lTouched[l] = false
		gone := s.failed[l] || s.virtOf[l] == -2
		ol, nl := levelOf(s.levelL[l], s.share[l]), levelOf(c.lNLevel[l], c.lNShare[l])
		if gone {
			nl = 0
		}
		if s.moved(ol, nl) && s.virtOf[l] != -2 {
			d.Links = append(d.Links, LinkChange{Link: s.linkName(l), Old: ol, New: nl})
		}
		s.levelL[l], s.share[l] = c.lNLevel[l], c.lNShare[l]
		if gone {
			s.levelL[l], s.share[l] = 0, 0
		}
	}
	c.touchedLs = c.touchedLs[:0]
	for _, l := range r.dirty {
		c.lDirty[l] = false
		if s.failed[l] || s.virtOf[l] == -2 {
			if s.levelL[l] > 0 && s.virtOf[l] != -2 {
				d.Links = append(d.Links, LinkChange{Link: s.linkName(l), Old: s.share[l]})
			}
			s.levelL[l], s.share[l] = 0, 0
		}
		s.rebuildPrefix(l)
	}
	for lv := int32(len(c.levelCount)) - 1; lv >= 0; lv-- {
		if c.levelCount[lv] > 0 || lv == 0 {
			s.maxLevel = lv
			break
		}
	}
	return d
}

// levelOf is a link's level as LinkChange reports it: its share if it resolves at a
// level, else 0.
func levelOf(level int32, share float64) float64 {
	if level > 0 {
		return share
	}
	return 0
}

// moved says whether a level (or rate) moved beyond the tolerance (relative to
// max(|old|, 1); written out, as math.Max is not inlined on amd64).
func (s *State) moved(old, new float64) bool {
	m := math.Abs(old)
	if m < 1 {
		m = 1
	}
	return math.Abs(new-old) > s.tol*m
}

// linkName is link l's ID, or "demand:<flow>" for a demand cap.
func (s *State) linkName(l int32) string {
	if o := s.virtOf[l]; o >= 0 {
		return demandName(s.flowID[o])
	}
	return s.linkID[l]
}

// RestoreLink brings a failed link back (empty: flows rerouted away stay on their
// new paths), incrementally.
func (s *State) RestoreLink(id string) (*Delta, error) {
	l, err := s.link(id)
	if err != nil {
		return nil, err
	}
	if !s.failed[l] {
		return &Delta{}, nil
	}
	r := s.begin()
	s.failed[l] = false
	r.markDirty(l)
	return s.finish(r), nil
}

// Restore undoes a failure in one incremental update: the failed links named are
// brought back, the flows of moves go back to their paths (demand caps kept) and the
// flows of add (those the failure dropped) are added again — what RestoreLink for each
// link, a re-path of each moved flow and AddFlow for each added flow would do, at the
// cost of one update (with no links and no additions it only moves flows). Paths may
// use the links being restored. On error (unknown link, unknown or duplicate flow, a
// path through a link that stays failed) the state is unchanged.
func (s *State) Restore(links []string, moves []Flow, add []Flow) (*Delta, error) {
	up := make(map[int32]bool, len(links))
	var restore []int32
	for _, id := range links {
		l, err := s.link(id)
		if err != nil {
			return nil, err
		}
		if s.failed[l] && !up[l] {
			up[l] = true
			restore = append(restore, l)
		}
	}
	usable := func(id string) bool {
		l, ok := s.linkIdx[id]
		return ok && (!s.failed[l] || up[l])
	}
	idx := make([]int32, len(moves))
	paths := make([][]int32, len(moves))
	seen := make(map[string]bool, len(moves)+len(add))
	for i, m := range moves {
		f, err := s.flow(m.ID)
		if err != nil {
			return nil, err
		}
		if seen[m.ID] {
			return nil, inputErr(fmt.Sprintf("flow %q", m.ID), "listed twice")
		}
		seen[m.ID] = true
		if err := validateFlow(fmt.Sprintf("new path of flow %q", m.ID), Flow{ID: m.ID, Path: m.Path}, usable); err != nil {
			return nil, err
		}
		idx[i] = f
		for _, id := range m.Path {
			paths[i] = append(paths[i], s.linkIdx[id])
		}
	}
	for _, f := range add {
		at := fmt.Sprintf("flow %q", f.ID)
		if j, dup := s.flowIdx[f.ID]; (dup && s.alive[j]) || seen[f.ID] {
			return nil, inputErr(at, "duplicate flow ID")
		}
		seen[f.ID] = true
		if err := validateFlow(at, f, usable); err != nil {
			return nil, err
		}
	}
	order := make([]int, len(moves))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return idx[order[a]] < idx[order[b]] })
	r := s.begin()
	for _, l := range restore {
		s.failed[l] = false
		r.markDirty(l)
	}
	for _, i := range order {
		f, np := idx[i], paths[i]
		p := s.path[f]
		r.detach(f)
		if len(p) > 0 && s.virtOf[p[len(p)-1]] >= 0 {
			np = append(np, p[len(p)-1])
		}
		s.path[f] = np
		r.attach(f)
	}
	for _, f := range add {
		s.addFlowLocked(r, f)
	}
	return s.finish(r), nil
}
