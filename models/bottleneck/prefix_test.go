package bottleneck

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// checkPrefix asserts that s.pfx is, for every link, the levels of its alive flows in
// ascending order (ties in flow order) and the running sums of their rates in that
// order, bit for bit.
func checkPrefix(t *testing.T, s *State, what string) {
	t.Helper()
	type fr struct {
		lv int32
		f  int
	}
	per := make([][]fr, len(s.capa))
	for f, p := range s.path {
		if !s.alive[f] {
			continue
		}
		for _, l := range p {
			per[l] = append(per[l], fr{s.levelF[f], f})
		}
	}
	for l, fs := range per {
		slices.SortFunc(fs, func(a, b fr) int { return cmp.Or(cmp.Compare(a.lv, b.lv), cmp.Compare(a.f, b.f)) })
		p := s.pfx[l]
		if len(p.lv) != len(fs) || len(p.cum) != len(fs)+1 || p.cum[0] != 0 {
			t.Fatalf("%s: link %d prefix %v %v, flows %v", what, l, p.lv, p.cum, fs)
		}
		sum := 0.0
		for i, x := range fs {
			sum += s.rate[x.f]
			if p.lv[i] != x.lv || p.cum[i+1] != sum {
				t.Fatalf("%s: link %d entry %d: level %d sum %v, want %d %v", what, l, i, p.lv[i], p.cum[i+1], x.lv, sum)
			}
		}
	}
}

// TestEnsurePrefix checks the per-link prefixes ensurePrefix builds in shared arrays,
// on random networks, again after replayed updates appended to them and a full
// Compute rebuilt them in the same arrays, and that the incremental results stay
// those of a full recomputation.
func TestEnsurePrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for it := range iterations(t, 400, 40) {
		what := fmt.Sprintf("it %d", it)
		n := randomNetwork(rng, 12, 30, 40)
		s := mustNew(t, n)
		s.ensurePrefix()
		checkPrefix(t, s, what)
		for step := range 3 {
			f := n.Flows[rng.IntN(len(n.Flows))]
			f.ID = fmt.Sprint("new", step)
			if _, err := s.AddFlow(f); err != nil {
				t.Fatal(err)
			}
			sameAsFull(t, s, fmt.Sprint(what, " add ", step))
		}
		s.Compute()
		s.ensurePrefix()
		checkPrefix(t, s, what+" rebuilt")
	}
}

// TestLazyPrefix checks that the prefixes built link by link on first use (as the
// first update after a full Compute builds them) are those of ensurePrefix, bit for
// bit, and that a replayed update keeps them so.
func TestLazyPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	for it := range iterations(t, 300, 30) {
		what := fmt.Sprintf("it %d", it)
		n := randomNetwork(rng, 12, 30, 40)
		s := mustNew(t, n)
		s.prepPrefix()
		if s.pfxAll {
			t.Fatalf("%s: prepPrefix built every prefix", what)
		}
		for l := range s.capa {
			s.prefix(int32(l))
		}
		checkPrefix(t, s, what+" lazy")
		s.Compute()
		f := n.Flows[rng.IntN(len(n.Flows))]
		f.ID = "new"
		if _, err := s.AddFlow(f); err != nil {
			t.Fatal(err)
		}
		sameAsFull(t, s, what+" add")
		if !s.stale {
			for l := range s.capa {
				s.prefix(int32(l))
			}
			checkPrefix(t, s, what+" after add")
		}
	}
}
