package bottleneck

import (
	"errors"
	"math"
	"testing"
)

// SetPaths undoes the reroutes of a failure after RestoreLink: the structure equals a
// full computation of the original network; bad moves leave the state unchanged.
func TestSetPathsUndoesReroute(t *testing.T) {
	d5 := 5.0
	orig := &Network{
		Links: []Link{{ID: "a", Capacity: 10}, {ID: "b", Capacity: 30}, {ID: "c", Capacity: 20}},
		Flows: []Flow{{ID: "f1", Path: []string{"a"}}, {ID: "f2", Path: []string{"a", "c"}, Demand: &d5}, {ID: "f3", Path: []string{"b"}}},
	}
	s, err := New(orig)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.FailLink("a", func(id string, _ []string, _ func(string) bool) ([]string, bool) { return []string{"b"}, true })
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Rate("f1"); math.Abs(r-12.5) > 1e-12 { // f2 capped at 5 on b: (30-5)/2
		t.Fatalf("after failure f1 = %v, want 12.5", r)
	}
	if _, err := s.SetPaths([]Flow{{ID: "f1", Path: []string{"a"}}}); err == nil {
		t.Fatal("a path through a failed link was accepted")
	}
	if _, err := s.RestoreLink("a"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]Flow{
		{{ID: "nope", Path: []string{"a"}}},
		{{ID: "f1", Path: []string{"a"}}, {ID: "f1", Path: []string{"b"}}},
		{{ID: "f1", Path: []string{"zz"}}},
	} {
		before := s.Network()
		if _, err := s.SetPaths(bad); err == nil || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound)) {
			t.Fatalf("%v: error %v", bad, err)
		}
		if got := s.Network(); len(got.Flows[0].Path) != len(before.Flows[0].Path) || got.Flows[0].Path[0] != before.Flows[0].Path[0] {
			t.Fatalf("a refused SetPaths changed the state")
		}
	}
	d, err := s.SetPaths([]Flow{{ID: "f2", Path: []string{"a", "c"}}, {ID: "f1", Path: []string{"a"}}})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := New(orig)
	total := 0.0
	for _, id := range []string{"f1", "f2", "f3"} {
		g, _ := s.Rate(id)
		w, _ := want.Rate(id)
		total += w
		if math.Abs(g-w) > 1e-12 {
			t.Fatalf("%s = %v, want %v", id, g, w)
		}
	}
	if math.Abs(d.Total-total) > 1e-9 {
		t.Fatalf("Delta.Total %v, want %v", d.Total, total)
	}
	if dm := s.Network().Flows[1].Demand; dm == nil || *dm != 5 {
		t.Fatalf("f2's demand cap lost: %v", dm)
	}
}
