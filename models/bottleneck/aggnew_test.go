package bottleneck

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// checkNewColumns asserts that the assignments and columns New built beside Compute
// are those the re-fill expects: every alive flow is assigned a link of its path at
// whose saturation level (a.sat) it runs, dead flows none, and each column counts, per
// crossed link, exactly the paths of the flows assigned to it (sorted by link, no
// zero entries), with selfCnt its entry for its own link.
func checkNewColumns(t *testing.T, s *State, what string) {
	t.Helper()
	a := &s.agg
	if !a.ok {
		t.Fatalf("%s: New left no columns", what)
	}
	nT := len(s.capa)
	if len(a.col) != nT || len(a.selfCnt) != nT || len(a.sat) != nT || len(a.bn) != len(s.path) {
		t.Fatalf("%s: sizes col %d selfCnt %d sat %d bn %d for %d links, %d flows", what, len(a.col), len(a.selfCnt), len(a.sat), len(a.bn), nT, len(s.path))
	}
	want := make([]map[int32]int32, nT)
	for f, p := range s.path {
		b := a.bn[f]
		if !s.alive[f] {
			if b != -1 {
				t.Fatalf("%s: dead flow %d assigned %d", what, f, b)
			}
			continue
		}
		on := false
		for _, l := range p {
			on = on || l == b
		}
		if !on {
			t.Fatalf("%s: flow %s assigned link %d, not on its path %v", what, s.flowID[f], b, p)
		}
		if s.rate[f] != a.sat[b] {
			t.Fatalf("%s: flow %s rate %v, its link's level %v", what, s.flowID[f], s.rate[f], a.sat[b])
		}
		if want[b] == nil {
			want[b] = map[int32]int32{}
		}
		for _, x := range p {
			want[b][x]++
		}
	}
	for l, c := range a.col {
		if len(c) != len(want[l]) {
			t.Fatalf("%s: column %d has %d entries, want %d (%v)", what, l, len(c), len(want[l]), want[l])
		}
		for i, e := range c {
			if i > 0 && c[i-1].x >= e.x {
				t.Fatalf("%s: column %d not sorted: %v", what, l, c)
			}
			if e.n <= 0 || want[l][e.x] != e.n {
				t.Fatalf("%s: column %d entry %v, want %d", what, l, e, want[l][e.x])
			}
		}
		if a.selfCnt[l] != want[l][int32(l)] {
			t.Fatalf("%s: selfCnt[%d] = %d, want %d", what, l, a.selfCnt[l], want[l][int32(l)])
		}
	}
}

// TestNewBuildsColumns checks the columns New builds (aggnew.go) on random networks
// with ties, demand caps and paths longer than a record holds inline, and that the
// first update re-filling from them (replays disabled) equals a full recomputation.
func TestNewBuildsColumns(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	long := 0
	for it := range iterations(t, 800, 80) {
		var n *Network
		if it%2 == 0 {
			n = randomNetwork(rng, 12, 30, 40)
		} else {
			// long paths (overflow records) and real-valued capacities
			n = &Network{}
			nl := 10 + rng.IntN(20)
			for i := range nl {
				n.Links = append(n.Links, Link{ID: fmt.Sprint("l", i), Capacity: 1 + 20*rng.Float64()})
			}
			for i := range 1 + rng.IntN(40) {
				f := Flow{ID: fmt.Sprint("f", i)}
				for _, l := range rng.Perm(nl)[:1+rng.IntN(min(nl, 12))] {
					f.Path = append(f.Path, n.Links[l].ID)
				}
				if len(f.Path) > recLinks {
					long++
				}
				n.Flows = append(n.Flows, f)
			}
		}
		what := fmt.Sprintf("it %d", it)
		s := mustNew(t, n)
		checkNewColumns(t, s, what)
		// the first update goes straight to the re-fill, on New's columns
		s.noReplayFloor = true
		f := n.Flows[rng.IntN(len(n.Flows))]
		f.ID = "new"
		if _, err := s.AddFlow(f); err != nil {
			t.Fatal(err)
		}
		sameAsFull(t, s, what+" add")
		if _, err := s.RemoveFlow(n.Flows[0].ID); err != nil {
			t.Fatal(err)
		}
		sameAsFull(t, s, what+" remove")
	}
	if long == 0 {
		t.Fatal("no path longer than recLinks was generated")
	}
}
