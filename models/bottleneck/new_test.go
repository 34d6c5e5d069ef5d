package bottleneck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestNewFirstError checks that New reports the first invalid element in input order
// although flow IDs and paths are checked on two goroutines: within a flow, ID errors
// (empty, duplicate) come before path and demand errors, as a sequential check would
// report them.
func TestNewFirstError(t *testing.T) {
	neg := -1.0
	links := []Link{{ID: "a", Capacity: 1}, {ID: "b", Capacity: 2}}
	fl := func(id string, path ...string) Flow { return Flow{ID: id, Path: path} }
	cases := []struct {
		name  string
		flows []Flow
		want  string
	}{
		{"unknown link before duplicate ID", []Flow{fl("f0", "a"), fl("f1", "x"), fl("f0", "b")},
			`flows[1] "f1".path[0]: unknown link "x"`},
		{"duplicate ID before unknown link", []Flow{fl("f0", "a"), fl("f0", "b"), fl("f2", "x")},
			`flows[1] "f0": duplicate flow ID (also flows[0])`},
		{"duplicate ID before its own bad path", []Flow{fl("f0", "a"), fl("f0", "x")},
			`flows[1] "f0": duplicate flow ID (also flows[0])`},
		{"empty ID before its own empty path", []Flow{fl("f0", "a"), fl("")},
			`flows[1] "": empty flow ID`},
		{"empty path before later empty ID", []Flow{fl("f0"), fl("")},
			`flows[0] "f0".path: empty path`},
		{"cycle", []Flow{fl("f0", "a", "b", "a"), fl("f0", "a")},
			`flows[0] "f0".path[2]: link "a" repeated in path (cycle; first at path[0])`},
		{"demand", []Flow{fl("f0", "a"), {ID: "f1", Path: []string{"b"}, Demand: &neg}, fl("f1", "a")},
			`flows[1] "f1"`},
		{"unknown after known", []Flow{fl("f0", "a", "b", "y")},
			`flows[0] "f0".path[2]: unknown link "y"`},
	}
	for _, c := range cases {
		_, err := New(&Network{Links: links, Flows: c.flows})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.name, err, c.want)
		}
	}
	// the same on a long input, where the two goroutines really overlap
	var flows []Flow
	for i := range 50_000 {
		flows = append(flows, fl(fmt.Sprint("f", i), "a", "b"))
	}
	flows[40_000].Path = []string{"a", "zz"}
	flows[40_001].ID = "f7"
	_, err := New(&Network{Links: links, Flows: flows})
	if want := `flows[40000] "f40000".path[1]: unknown link "zz"`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("long input: got %v, want %q", err, want)
	}
	flows[40_000].Path = []string{"a"}
	flows[39_999].ID = "f3"
	_, err = New(&Network{Links: links, Flows: flows})
	if want := `flows[39999] "f3": duplicate flow ID (also flows[3])`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("long input: got %v, want %q", err, want)
	}
}

// TestComputeLongPaths checks Compute on random networks whose paths are longer than a
// path record holds inline (recLinks), against the exact round-based engine and the
// direct round-based float engine (rates, levels) — the property tests' networks have
// short paths.
func TestComputeLongPaths(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	long := 0
	for it := range iterations(t, 1500, 150) {
		nl := 10 + rng.IntN(20)
		n := &Network{}
		for i := range nl {
			n.Links = append(n.Links, Link{ID: fmt.Sprint("l", i), Capacity: float64(1 + rng.IntN(20))})
		}
		for i := range 1 + rng.IntN(40) {
			f := Flow{ID: fmt.Sprint("f", i)}
			for _, l := range rng.Perm(nl)[:1+rng.IntN(min(nl, 16))] {
				f.Path = append(f.Path, n.Links[l].ID)
			}
			if len(f.Path) > recLinks {
				long++
			}
			if rng.IntN(4) == 0 {
				d := float64(1 + rng.IntN(20))
				f.Demand = &d
			}
			n.Flows = append(n.Flows, f)
		}
		s := mustNew(t, n)
		e := s.Exact()
		rate, levelF, levelL := slices.Clone(s.rate), slices.Clone(s.levelF), slices.Clone(s.levelL)
		for f := range s.path {
			if math.Abs(rate[f]-ratF(e.Rate[f])) > 1e-9*math.Max(1, rate[f]) || levelF[f] != e.LevelF[f] {
				t.Fatalf("it %d flow %s: rate %v level %d, exact %s level %d", it, s.flowID[f], rate[f], levelF[f], e.Rate[f].RatString(), e.LevelF[f])
			}
		}
		if !slices.Equal(levelL, e.LevelL) {
			t.Fatalf("it %d: link levels %v, exact %v", it, levelL, e.LevelL)
		}
		s.computeRounds()
		if !slices.Equal(levelF, s.levelF) || !slices.Equal(levelL, s.levelL) {
			t.Fatalf("it %d: Compute levels differ from computeRounds", it)
		}
	}
	if fallbacks != 0 {
		t.Fatalf("Compute fell back to computeRounds %d times", fallbacks)
	}
	if long == 0 {
		t.Fatal("no path longer than recLinks was generated")
	}
}
