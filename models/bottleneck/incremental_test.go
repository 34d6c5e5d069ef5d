package bottleneck

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"unsafe"
)

// sameAsFull asserts that s (updated incrementally) equals a State rebuilt from
// scratch from s's network: rates as the incremental update left them (before anything
// refreshes stale levels), then bottleneck sets, flow and link levels and fair shares.
func sameAsFull(t *testing.T, s *State, what string) {
	t.Helper()
	checkFlowPos(t, s, what)
	full := sameRates(t, s, what)
	for f := range full.path {
		id := full.flowID[f]
		b1, _ := full.Bottlenecks(id)
		b2, _ := s.Bottlenecks(id)
		if fmt.Sprint(b1) != fmt.Sprint(b2) {
			t.Fatalf("%s: flow %s bottlenecks %v, full %v", what, id, b2, b1)
		}
	}
	s.Refresh()
	for f := range full.path {
		id := full.flowID[f]
		g := s.flowIdx[id]
		if full.levelF[f] != s.levelF[g] {
			t.Fatalf("%s: flow %s level %d, full %d", what, id, s.levelF[g], full.levelF[f])
		}
	}
	for l, id := range full.linkID {
		if full.virtOf[l] >= 0 {
			continue
		}
		g := s.linkIdx[id]
		if full.levelL[l] != s.levelL[g] {
			t.Fatalf("%s: link %s level %d, full %d", what, id, s.levelL[g], full.levelL[l])
		}
		if full.levelL[l] > 0 && math.Abs(full.share[l]-s.share[g]) > 1e-9*math.Max(1, full.share[l]) {
			t.Fatalf("%s: link %s share %v, full %v", what, id, s.share[g], full.share[l])
		}
	}
	if full.Levels() != s.Levels() {
		t.Fatalf("%s: %d levels, full %d", what, s.Levels(), full.Levels())
	}
}

// curRate is flow g's current rate read without writing lazy rates (so that
// sequences of re-fills stay lazy, as they do when nobody reads rates).
func curRate(s *State, g int32) float64 {
	if s.lazy {
		return s.agg.sat[s.agg.bn[g]]
	}
	return s.rate[g]
}

// sameRates asserts, without refreshing stale levels or writing lazy rates, that
// s's rates equal a full recomputation's, which it returns.
func sameRates(t *testing.T, s *State, what string) *State {
	t.Helper()
	full := mustNew(t, s.Network())
	if full.NumFlows() != s.NumFlows() {
		t.Fatalf("%s: %d flows, full has %d", what, s.NumFlows(), full.NumFlows())
	}
	for f := range full.path {
		id := full.flowID[f]
		g := s.flowIdx[id]
		if r := curRate(s, g); math.Abs(full.rate[f]-r) > 1e-9*math.Max(1, full.rate[f]) {
			t.Fatalf("%s: flow %s rate %v, full %v", what, id, r, full.rate[f])
		}
	}
	return full
}

func randomPath(rng *rand.Rand, s *State, exclude func(string) bool) []string {
	var ok []string
	for _, id := range s.linkID {
		if id != "" && !s.failed[s.linkIdx[id]] && (exclude == nil || !exclude(id)) {
			ok = append(ok, id)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	rng.Shuffle(len(ok), func(i, j int) { ok[i], ok[j] = ok[j], ok[i] })
	return ok[:1+rng.IntN(min(len(ok), 4))]
}

// randomArrival is a new flow "n<next>" on a random path of s (false: no usable link).
func randomArrival(rng *rand.Rand, s *State, next *int) (Flow, bool) {
	p := randomPath(rng, s, nil)
	if p == nil {
		return Flow{}, false
	}
	*next++
	return Flow{ID: fmt.Sprintf("n%d", *next), Path: p}, true
}

// randomDemandChange sets, changes or clears (one in three) the demand cap of a
// random flow of s, appending what it did to what.
func randomDemandChange(rng *rand.Rand, s *State, what *string) (*Delta, error) {
	n := s.Network()
	id := n.Flows[rng.IntN(len(n.Flows))].ID
	var dem *float64
	if rng.IntN(3) > 0 {
		v := float64(1 + rng.IntN(20))
		dem = &v
	}
	*what += " demand " + id
	return s.SetDemand(id, dem)
}

// randomFailure fails a random link of n (the network of s), rerouting its flows on
// random paths (a quarter of them dropped if drop is set).
func randomFailure(rng *rand.Rand, s *State, n *Network, drop bool, what *string) (*Delta, error) {
	id := n.Links[rng.IntN(len(n.Links))].ID
	*what += " fail " + id
	return s.FailLink(id, func(_ string, f *Failure) ([]string, bool) {
		if drop && rng.IntN(4) == 0 {
			return nil, false
		}
		p := randomPath(rng, s, f.Failed)
		return p, p != nil
	})
}

// TestPropertyIncremental applies random perturbation sequences and checks every
// intermediate structure against a full recomputation.
func TestPropertyIncremental(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(5), 6))
	for it := range iterations(t, 1500, 150) {
		s := mustNew(t, randomNetwork(rng, 10, 14, 20))
		s.noReplayFloor = it%3 == 0 // exercise the full-recomputation fallback too
		next := 1000
		for step := range 12 {
			what := fmt.Sprintf("it %d step %d", it, step)
			before := map[string]float64{}
			for _, f := range s.Network().Flows {
				before[f.ID], _ = s.Rate(f.ID)
			}
			pre := linkLevelsNow(s)
			var err error
			var d *Delta
			switch op := rng.IntN(6); {
			case op == 0:
				f, ok := randomArrival(rng, s, &next)
				if !ok {
					continue
				}
				if rng.IntN(4) == 0 {
					d := float64(1 + rng.IntN(20))
					f.Demand = &d
				}
				what += " add " + f.ID
				d, err = s.AddFlow(f)
			case op == 1 && s.NumFlows() > 0:
				n := s.Network()
				id := n.Flows[rng.IntN(len(n.Flows))].ID
				what += " remove " + id
				d, err = s.RemoveFlow(id)
			case op == 2:
				n := s.Network()
				if len(n.Links) == 0 {
					continue
				}
				id := n.Links[rng.IntN(len(n.Links))].ID
				c := float64(1 + rng.IntN(25))
				what += fmt.Sprintf(" capacity %s=%v", id, c)
				d, err = s.SetCapacity(id, c)
			case op == 3 && s.NumFlows() > 0:
				d, err = randomDemandChange(rng, s, &what)
			case op == 4:
				n := s.Network()
				if len(n.Links) < 2 {
					continue
				}
				d, err = randomFailure(rng, s, n, true, &what)
			default:
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			sameAsFull(t, s, what)
			checkDelta(t, s, d, before, what)
			checkMovedLinks(t, s, d, pre, what)
		}
	}
}

// linkLevelsNow is each link's level as a re-fill's link-level answer takes it
// before an update: the last fill's saturation levels while they are current, else
// the levels of the last full computation (0: none).
func linkLevelsNow(s *State) []float64 {
	a := &s.agg
	lv := make([]float64, len(s.capa))
	for l := range lv {
		switch {
		case a.satCur:
			if l < len(a.sat) && !math.IsInf(a.sat[l], 1) {
				lv[l] = a.sat[l]
			}
		case l < len(s.levelL):
			lv[l] = levelOf(s.levelL[l], s.share[l])
		}
	}
	return lv
}

// checkMovedLinks asserts that a re-fill's link-level answer lists exactly the links
// whose level moved beyond the tolerance, against pre (linkLevelsNow before the
// update), each with its old and new level, in link order: every link is checked,
// not only those the fill touched.
func checkMovedLinks(t *testing.T, s *State, d *Delta, pre []float64, what string) {
	t.Helper()
	if !d.Resumed {
		return
	}
	a := &s.agg
	var want []LinkChange
	for l := range a.sat {
		if s.virtOf[l] == -2 {
			continue
		}
		ol, nl := 0.0, a.sat[l]
		if l < len(pre) {
			ol = pre[l]
		}
		if math.IsInf(nl, 1) || s.failed[l] {
			nl = 0
		}
		if s.moved(ol, nl) {
			want = append(want, LinkChange{Link: s.linkName(int32(l)), Old: ol, New: nl})
		}
	}
	if !slices.Equal(d.Links, want) {
		t.Fatalf("%s: moved links %v, want %v", what, d.Links, want)
	}
}

// checkFlowPos asserts that the position index (once built) names each flow's place
// in the flow list of every link of its path, and that the lists hold exactly the
// alive flows' incidences.
func checkFlowPos(t *testing.T, s *State, what string) {
	t.Helper()
	if !s.posOK {
		return
	}
	n := 0
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		n += len(p)
		if len(s.flowPos[f]) != len(p) {
			t.Fatalf("%s: flow %d has %d positions for %d links", what, f, len(s.flowPos[f]), len(p))
		}
		for k, l := range p {
			if i := s.flowPos[f][k]; int(i) >= len(s.linkFlows[l]) || s.linkFlows[l][i] != int32(f) {
				t.Fatalf("%s: flow %d path[%d] (link %d): position %d is wrong (list %v)", what, f, k, l, i, s.linkFlows[l])
			}
		}
	}
	m := 0
	for _, lf := range s.linkFlows {
		m += len(lf)
	}
	if m != n {
		t.Fatalf("%s: flow lists hold %d entries, paths %d", what, m, n)
	}
}

// checkDelta asserts that d lists exactly the flows whose rate changed, with the right
// old and new rates.
func checkDelta(t *testing.T, s *State, d *Delta, before map[string]float64, what string) {
	t.Helper()
	after := map[string]float64{}
	total := 0.0
	for f := range s.path {
		if s.alive[f] {
			after[s.flowID[f]] = curRate(s, int32(f))
			total += after[s.flowID[f]]
		}
	}
	if math.Abs(d.Total-total) > 1e-9*math.Max(1, total) {
		t.Fatalf("%s: delta total %v, rates sum to %v", what, d.Total, total)
	}
	// the link-level answer: every listed link's new level is its share in a full
	// recomputation when that resolves it
	full := mustNew(t, s.Network())
	for _, lc := range d.Links {
		l, ok := full.linkIdx[lc.Link]
		if !ok || lc.New == 0 || full.levelL[l] == 0 {
			continue
		}
		if math.Abs(lc.New-full.share[l]) > 1e-9*math.Max(1, lc.New) {
			t.Fatalf("%s: link %s new level %v, full share %v", what, lc.Link, lc.New, full.share[l])
		}
	}
	// the per-flow listing, produced on demand; half the time after something has
	// written the lazy rates
	if len(before)%2 == 0 {
		s.syncRates()
	}
	// the allocation-free listing first (before RateChanges keeps the listing, so a
	// re-fill's is produced from the State), into a full prefix that must grow
	prefix := []RateChange{{Flow: "prefix", Old: 1, New: 2, Removed: true}}
	appended, err := d.AppendRateChanges(slices.Clip(prefix))
	if err != nil {
		t.Fatalf("%s: AppendRateChanges: %v", what, err)
	}
	changes, err := d.RateChanges()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	checkAppended(t, appended, prefix, changes, what+" (before RateChanges)")
	// and again from the kept listing, into a buffer with room to spare
	buf := append(make([]RateChange, 0, len(changes)+8), prefix...)
	appended, err = d.AppendRateChanges(buf)
	if err != nil {
		t.Fatalf("%s: AppendRateChanges after RateChanges: %v", what, err)
	}
	if len(changes) > 0 && &appended[len(prefix)] == &changes[0] {
		t.Fatalf("%s: AppendRateChanges aliases the Delta's listing", what)
	}
	checkAppended(t, appended, prefix, changes, what+" (after RateChanges)")
	listed := map[string]RateChange{}
	for _, c := range changes {
		listed[c.Flow] = c
	}
	for id, a := range after {
		b, existed := before[id]
		c, ok := listed[id]
		switch {
		case !existed:
			if !ok || !c.Added || math.Abs(c.New-a) > 1e-9 {
				t.Fatalf("%s: added flow %s not reported (%+v)", what, id, c)
			}
		case math.Abs(a-b) > 1e-9*math.Max(1, b):
			if !ok || math.Abs(c.Old-b) > 1e-9*math.Max(1, b) || math.Abs(c.New-a) > 1e-9*math.Max(1, a) {
				t.Fatalf("%s: change of %s %v→%v reported as %+v", what, id, b, a, c)
			}
		case ok && !c.Added && !c.Removed && math.Abs(c.New-c.Old) <= 1e-12:
			t.Fatalf("%s: unchanged flow %s reported", what, id)
		}
	}
	for id := range before {
		if _, still := after[id]; !still {
			if c, ok := listed[id]; !ok || !c.Removed {
				t.Fatalf("%s: removed flow %s not reported", what, id)
			}
		}
	}
}

// sameChange reports whether two listed changes are identical (rates bit for bit).
func sameChange(a, b RateChange) bool {
	return a.Flow == b.Flow && math.Float64bits(a.Old) == math.Float64bits(b.Old) &&
		math.Float64bits(a.New) == math.Float64bits(b.New) && a.Added == b.Added && a.Removed == b.Removed
}

// checkAppended asserts that got is prefix followed by want, element by element.
func checkAppended(t *testing.T, got, prefix, want []RateChange, what string) {
	t.Helper()
	if len(got) != len(prefix)+len(want) {
		t.Fatalf("%s: appended listing has %d entries after a %d-entry prefix, RateChanges %d",
			what, len(got), len(prefix), len(want))
	}
	for i, c := range prefix {
		if !sameChange(got[i], c) {
			t.Fatalf("%s: prefix entry %d became %+v, was %+v", what, i, got[i], c)
		}
	}
	for i, c := range want {
		if !sameChange(got[len(prefix)+i], c) {
			t.Fatalf("%s: appended entry %d is %+v, RateChanges has %+v", what, i, got[len(prefix)+i], c)
		}
	}
}

// testSeed is a property test's seed: base, or base + BOTTLENECK_SEED when that is
// set (to run the same properties on other random networks and sequences).
func testSeed(base uint64) uint64 {
	v, err := strconv.ParseUint(os.Getenv("BOTTLENECK_SEED"), 10, 64)
	if err != nil {
		return base
	}
	return base + v
}

// TestPropertyResumeSequence applies long runs of flow arrivals, departures,
// capacity and demand changes, link failures (flows rerouted) and restorations
// without reading levels in between, so that consecutive updates re-fill the rates
// from checkpoints of the previous fill (taken every 1–4 saturations, half the runs
// from the first step); every step's rates and delta are checked against a full
// recomputation, and levels, bottleneck sets and shares at the end of each run.
func TestPropertyResumeSequence(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(7), 8))
	fast, total, restarted, flipped, layouts, inArena := 0, 0, 0, 0, 0, 0
	for it := range iterations(t, 600, 60) {
		s := mustNew(t, randomNetwork(rng, 12, 20, 40))
		s.noReplayFloor = it%2 == 0
		s.agg.every = int32(1 + it%4) // checkpoints every 1–4 saturations
		s.agg.relayout = 1 + it%5*16  // columns laid out again every 1–65 fills
		next := 1000
		var added []string
		for step := range 30 {
			what := fmt.Sprintf("it %d step %d", it, step)
			before := map[string]float64{}
			for f := range s.path {
				if s.alive[f] {
					before[s.flowID[f]] = curRate(s, int32(f))
				}
			}
			var err error
			var d *Delta
			switch op := rng.IntN(6); {
			case op == 3 && s.NumFlows() > 0:
				// demand caps move a flow onto (or off) its virtual link
				d, err = randomDemandChange(rng, s, &what)
			case op == 4:
				// a failure moves flows to new paths; restore a failed link otherwise
				var failedID string
				for l, f := range s.failed {
					if f && s.virtOf[l] == -1 {
						failedID = s.linkID[l]
					}
				}
				if failedID != "" && rng.IntN(2) == 0 {
					what += " restore " + failedID
					d, err = s.RestoreLink(failedID)
					break
				}
				n := s.Network()
				if len(n.Links) < 3 {
					continue
				}
				d, err = randomFailure(rng, s, n, false, &what)
			case op == 0 || op == 5:
				f, ok := randomArrival(rng, s, &next)
				if !ok {
					continue
				}
				what += " add " + f.ID
				d, err = s.AddFlow(f)
				added = append(added, f.ID)
			case op == 1 && s.NumFlows() > 0:
				var id string
				if len(added) > 0 && rng.IntN(2) == 0 {
					i := rng.IntN(len(added))
					id = added[i]
					added = append(added[:i], added[i+1:]...)
				} else {
					n := s.Network()
					id = n.Flows[rng.IntN(len(n.Flows))].ID
					if i := slices.Index(added, id); i >= 0 {
						added = append(added[:i], added[i+1:]...)
					}
				}
				what += " remove " + id
				d, err = s.RemoveFlow(id)
			default:
				n := s.Network()
				if len(n.Links) == 0 {
					continue
				}
				id := n.Links[rng.IntN(len(n.Links))].ID
				c, _ := s.Capacity(id)
				c *= 0.8 + 0.4*rng.Float64()
				what += fmt.Sprintf(" capacity %s=%v", id, c)
				d, err = s.SetCapacity(id, c)
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			total++
			if d.Resumed {
				fast++
				if s.agg.restart > 0 {
					restarted++
				}
				if s.agg.flips > 0 {
					flipped++
				}
			}
			sameRates(t, s, what)
			checkDelta(t, s, d, before, what)
			inArena += checkColumns(t, s, what)
		}
		sameAsFull(t, s, fmt.Sprintf("it %d end", it))
		layouts += s.agg.layouts
	}
	t.Logf("%d of %d perturbations re-filled the rates, %d from a checkpoint, %d with flips; %d column layouts, %d columns in an arena after a step", fast, total, restarted, flipped, layouts, inArena)
	if fast < total/4 || restarted < fast/4 || flipped < fast/20 || layouts < fast/20 || inArena == 0 {
		t.Fatalf("too few re-fills (%d of %d), restarts from a checkpoint (%d), flips (%d), column layouts (%d) or columns in an arena (%d)", fast, total, restarted, flipped, layouts, inArena)
	}
}

// checkColumns asserts that the re-fill's columns (if built) count, for each link b and
// link x, the alive flows assigned to b that cross x (no zero entries, sorted by x,
// selfCnt the diagonal), whether they lie in the shared arena or on their own (a
// column overwritten by its neighbour in the arena shows here), and that every column
// with a rank in the layout lies inside the arena; it returns how many do.
func checkColumns(t *testing.T, s *State, what string) int {
	t.Helper()
	a := &s.agg
	if !a.ok {
		return 0
	}
	want := make([]map[int32]int32, len(s.capa))
	for f, p := range s.path {
		if !s.alive[f] || len(p) == 0 {
			continue
		}
		b := a.bn[f]
		if b < 0 || !slices.Contains(p, b) {
			t.Fatalf("%s: flow %s assigned to link %d, not on its path %v", what, s.flowID[f], b, p)
		}
		if want[b] == nil {
			want[b] = map[int32]int32{}
		}
		for _, x := range p {
			want[b][x]++
		}
	}
	in := 0
	for l := range s.capa {
		c := a.col[l]
		if len(c) != len(want[l]) {
			t.Fatalf("%s: column %d has %d entries, want %d (%v vs %v)", what, l, len(c), len(want[l]), c, want[l])
		}
		for i, e := range c {
			if i > 0 && c[i-1].x >= e.x || e.n != want[l][e.x] {
				t.Fatalf("%s: column %d = %v, want %v", what, l, c, want[l])
			}
		}
		if a.selfCnt[l] != want[l][int32(l)] {
			t.Fatalf("%s: selfCnt[%d] = %d, want %d", what, l, a.selfCnt[l], want[l][int32(l)])
		}
		if a.pos[l] >= 0 && cap(c) > 0 {
			lo := uintptr(unsafe.Pointer(unsafe.SliceData(a.arena)))
			p := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
			sz := unsafe.Sizeof(colEnt{})
			if p < lo || p+uintptr(cap(c))*sz > lo+uintptr(cap(a.arena))*sz {
				t.Fatalf("%s: column %d has a rank in the layout but lies outside the arena", what, l)
			}
			in++
		}
	}
	return in
}

// TestRateChangesOnDemand: a re-fill's per-flow listing is produced on the first call
// and kept; asked for only after the State's next update it is refused.
func TestRateChangesOnDemand(t *testing.T) {
	s := mustNew(t, vectorA())
	s.noReplayFloor = true // every update re-fills
	d1, err := s.AddFlow(Flow{ID: "n1", Path: []string{"l1", "l2"}})
	if err != nil || !d1.Resumed {
		t.Fatalf("AddFlow: %v (resumed %v)", err, d1 != nil && d1.Resumed)
	}
	if len(d1.Links) == 0 {
		t.Fatalf("no link level moved for an arrival on the first-level link")
	}
	ch1, err := d1.RateChanges()
	if err != nil || len(ch1) == 0 {
		t.Fatalf("RateChanges: %v %v", ch1, err)
	}
	d2, err := s.AddFlow(Flow{ID: "n2", Path: []string{"l3"}})
	if err != nil {
		t.Fatal(err)
	}
	if again, err := d1.RateChanges(); err != nil || len(again) != len(ch1) {
		t.Fatalf("a listing produced before the next update is kept: %v %v", again, err)
	}
	if _, err := s.AddFlow(Flow{ID: "n3", Path: []string{"l4"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.RateChanges(); !errors.Is(err, ErrStaleDelta) {
		t.Fatalf("listing after the next update: %v; want ErrStaleDelta", err)
	}
}

// TestAppendRateChangesEqualsRateChanges: on random networks, after round replays and
// re-fills, AppendRateChanges lists exactly what RateChanges lists, after the caller's
// prefix (kept intact), whether asked before or after RateChanges and again before
// the next update; after the next update a listing never kept is refused with dst
// unchanged, and a kept one is still appended.
func TestAppendRateChangesEqualsRateChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(41), 42))
	kinds := map[bool]int{}
	for it := range iterations(t, 300, 60) {
		s := mustNew(t, randomNetwork(rng, 10, 14, 20))
		s.noReplayFloor = it%2 == 0
		next := 1000
		var pending *Delta // a delta whose listing only AppendRateChanges asked for
		for step := range 8 {
			what := fmt.Sprintf("it %d step %d", it, step)
			var d *Delta
			var err error
			if f, ok := randomArrival(rng, s, &next); ok && rng.IntN(3) > 0 {
				d, err = s.AddFlow(f)
			} else if s.NumFlows() > 0 {
				n := s.Network()
				d, err = s.RemoveFlow(n.Flows[rng.IntN(len(n.Flows))].ID)
			} else {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if pending != nil {
				dst := []RateChange{{Flow: "keep", New: 3}}
				got, err := pending.AppendRateChanges(dst)
				if !errors.Is(err, ErrStaleDelta) || len(got) != 1 || !sameChange(got[0], dst[0]) {
					t.Fatalf("%s: listing of an earlier re-fill after the next update: %v, %v; want dst and ErrStaleDelta", what, got, err)
				}
				pending = nil
			}
			kinds[d.Resumed]++
			prefix := []RateChange{{Flow: "p0", Old: 4, New: 5}, {Flow: "p1", Added: true, New: 1}}
			first, err := d.AppendRateChanges(append([]RateChange(nil), prefix...))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			second, err := d.AppendRateChanges(nil) // listed again before the next update
			if err != nil {
				t.Fatalf("%s: second AppendRateChanges: %v", what, err)
			}
			if d.Resumed && len(second) > 0 && rng.IntN(2) == 0 {
				pending = d // never asked through RateChanges
				checkAppended(t, first, prefix, second, what+" (twice)")
				continue
			}
			want, err := d.RateChanges()
			if err != nil {
				t.Fatalf("%s: RateChanges: %v", what, err)
			}
			checkAppended(t, first, prefix, want, what)
			checkAppended(t, second, nil, want, what+" (second)")
			// a kept listing is appended after the next update too
			kept := d
			if _, err := s.SetCapacity(s.Network().Links[0].ID, float64(1+rng.IntN(25))); err != nil {
				t.Fatalf("%s: SetCapacity: %v", what, err)
			}
			late, err := kept.AppendRateChanges(nil)
			if err != nil {
				t.Fatalf("%s: kept listing after the next update: %v", what, err)
			}
			checkAppended(t, late, nil, want, what+" (kept)")
		}
	}
	if kinds[true] == 0 || kinds[false] == 0 {
		t.Fatalf("deltas by Resumed: %v; want both re-fills and replays", kinds)
	}
}

// TestAppendRateChangesAllocs: listing a re-fill's changes, and a replay's, into a
// reused buffer allocates nothing once the buffer has grown (and into a nil buffer
// does allocate, so that the measurement can fail).
func TestAppendRateChangesAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(43), 44))
	for _, refill := range []bool{true, false} {
		var d *Delta
		var s *State
		for try := 0; d == nil; try++ {
			if try == 200 {
				t.Fatalf("refill=%v: no update with a non-empty listing", refill)
			}
			s = mustNew(t, randomNetwork(rng, 10, 40, 20))
			s.noReplayFloor = refill
			next := 1000
			f, ok := randomArrival(rng, s, &next)
			if !ok {
				continue
			}
			x, err := s.AddFlow(f)
			if err != nil {
				t.Fatal(err)
			}
			if ch, _ := x.AppendRateChanges(nil); x.Resumed == refill && len(ch) > 1 {
				d = x
			}
		}
		var buf []RateChange
		list := func() {
			var err error
			if buf, err = d.AppendRateChanges(buf[:0]); err != nil || len(buf) == 0 {
				t.Fatalf("refill=%v: %v, %d entries", refill, err, len(buf))
			}
		}
		list()
		if a := testing.AllocsPerRun(20, list); a != 0 {
			t.Fatalf("refill=%v: %v allocations per listing into a grown buffer", refill, a)
		}
		// the measurement sees the listing's allocation when there is no buffer
		if a := testing.AllocsPerRun(5, func() { _, _ = d.AppendRateChanges(nil) }); a == 0 {
			t.Fatalf("refill=%v: listing into a nil buffer allocates nothing", refill)
		}
	}
}
