package bottleneck

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// Restore without links or additions undoes the reroutes of a failure after RestoreLink: the structure equals a
// full computation of the original network; bad moves leave the state unchanged.
func TestRestoreMovesBack(t *testing.T) {
	d5 := 5.0
	orig := &Network{
		Links: []Link{{ID: "a", Capacity: 10}, {ID: "b", Capacity: 30}, {ID: "c", Capacity: 20}},
		Flows: []Flow{{ID: "f1", Path: []string{"a"}}, {ID: "f2", Path: []string{"a", "c"}, Demand: &d5}, {ID: "f3", Path: []string{"b"}}},
	}
	s, err := New(orig)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.FailLink("a", func(id string, _ *Failure) ([]string, bool) { return []string{"b"}, true })
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Rate("f1"); math.Abs(r-12.5) > 1e-12 { // f2 capped at 5 on b: (30-5)/2
		t.Fatalf("after failure f1 = %v, want 12.5", r)
	}
	if _, err := s.Restore(nil, []Flow{{ID: "f1", Path: []string{"a"}}}, nil); err == nil {
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
		if _, err := s.Restore(nil, bad, nil); err == nil || !(errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound)) {
			t.Fatalf("%v: error %v", bad, err)
		}
		if got := s.Network(); len(got.Flows[0].Path) != len(before.Flows[0].Path) || got.Flows[0].Path[0] != before.Flows[0].Path[0] {
			t.Fatalf("a refused Restore changed the state")
		}
	}
	d, err := s.Restore(nil, []Flow{{ID: "f2", Path: []string{"a", "c"}}, {ID: "f1", Path: []string{"a"}}}, nil)
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

// Restore undoes a failure that rerouted one flow and dropped another in one update:
// rates equal a full computation of the original network; refused restores leave the
// state unchanged.
func TestRestoreUndoesFailure(t *testing.T) {
	d5 := 5.0
	orig := &Network{
		Links: []Link{{ID: "a", Capacity: 10}, {ID: "b", Capacity: 30}, {ID: "c", Capacity: 20}},
		Flows: []Flow{{ID: "f1", Path: []string{"a"}}, {ID: "f2", Path: []string{"a", "c"}, Demand: &d5}, {ID: "f3", Path: []string{"b"}}},
	}
	s, err := New(orig)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.FailLink("a", func(id string, _ *Failure) ([]string, bool) {
		return []string{"b"}, id == "f1" // f1 rerouted, f2 dropped
	})
	if err != nil || len(d.Dropped) != 1 || len(d.Rerouted) != 1 {
		t.Fatalf("failure: %+v %v", d, err)
	}
	for _, bad := range []struct {
		links       []string
		moves, adds []Flow
	}{
		{nil, []Flow{{ID: "f1", Path: []string{"a"}}}, nil},                                            // a stays failed
		{[]string{"zz"}, nil, nil},                                                                     // unknown link
		{[]string{"a"}, nil, []Flow{{ID: "f3", Path: []string{"a"}}}},                                  // f3 exists
		{[]string{"a"}, []Flow{{ID: "f2", Path: []string{"a"}}}, nil},                                  // f2 was dropped
		{[]string{"a"}, nil, []Flow{{ID: "f2", Path: []string{"a"}}, {ID: "f2", Path: []string{"a"}}}}, // twice
	} {
		if _, err := s.Restore(bad.links, bad.moves, bad.adds); err == nil {
			t.Fatalf("%+v accepted", bad)
		}
		if _, err := s.Path("f2"); err == nil {
			t.Fatalf("a refused Restore added f2")
		}
		if r, _ := s.Rate("f1"); math.Abs(r-15) > 1e-12 {
			t.Fatalf("a refused Restore changed f1's rate to %v", r)
		}
	}
	d, err = s.Restore([]string{"a"}, []Flow{{ID: "f1", Path: []string{"a"}}}, []Flow{orig.Flows[1]})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := New(orig)
	total := 0.0
	for _, id := range []string{"f1", "f2", "f3"} {
		g, err := s.Rate(id)
		w, _ := want.Rate(id)
		total += w
		if err != nil || math.Abs(g-w) > 1e-12 {
			t.Fatalf("%s = %v (%v), want %v", id, g, err, w)
		}
	}
	if math.Abs(d.Total-total) > 1e-9 {
		t.Fatalf("Delta.Total %v, want %v", d.Total, total)
	}
}

// A reroute returning a bad path (empty, unknown link, failed link — an earlier
// failure or this one —, repeated link) fails the update with the path element's
// error and leaves the state unchanged; a good one moves the flow.
func TestFailLinksBadReroute(t *testing.T) {
	n := &Network{
		Links: []Link{{ID: "a", Capacity: 10}, {ID: "b", Capacity: 30}, {ID: "c", Capacity: 20}, {ID: "d", Capacity: 5}},
		Flows: []Flow{{ID: "f1", Path: []string{"a", "c"}}, {ID: "f2", Path: []string{"c"}}},
	}
	s := mustNew(t, n)
	if _, err := s.FailLink("d", nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path []string
		want string
	}{
		{[]string{}, `reroute of flow "f1".path: empty path`},
		{[]string{"b", "zz"}, `reroute of flow "f1".path[1]: unknown link "zz"`},
		{[]string{"b", "a"}, `reroute of flow "f1".path[1]: unknown link "a"`},
		{[]string{"d"}, `reroute of flow "f1".path[0]: unknown link "d"`},
		{[]string{"b", "c", "b"}, `reroute of flow "f1".path[2]: link "b" repeated in path (cycle; first at path[0])`},
	} {
		before := fmt.Sprint(s.Network())
		_, err := s.FailLink("a", func(string, *Failure) ([]string, bool) { return tc.path, true })
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("reroute to %v: error %v, want %q", tc.path, err, tc.want)
		}
		if after := fmt.Sprint(s.Network()); after != before {
			t.Fatalf("reroute to %v changed the state: %s, was %s", tc.path, after, before)
		}
		checkFailScratch(t, s)
	}
	if _, err := s.FailLink("a", func(string, *Failure) ([]string, bool) { return []string{"b", "c"}, true }); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Path("f1"); fmt.Sprint(p) != "[b c]" {
		t.Fatalf("f1 path %v, want [b c]", p)
	}
	sameAsFull(t, s, "after reroute")
}

// checkFailScratch: between FailLinks calls (also after one that failed), its scratch
// marks no link as failed now and no flow as listed.
func checkFailScratch(t *testing.T, s *State) {
	t.Helper()
	if s.inc == nil {
		return
	}
	if i := slices.Index(s.inc.failNow, true); i >= 0 {
		t.Fatalf("link %d still marked as failed now", i)
	}
	for w, b := range s.inc.failSeen {
		if b != 0 {
			t.Fatalf("flows %#x of word %d still marked as listed", b, w)
		}
	}
}

// TestFailureTellsReroute: a Reroute is told each flow's old path (a demand cap's
// virtual link left out) and every link failed so far, this call's included, by
// Failed and FailedLinks alike.
func TestFailureTellsReroute(t *testing.T) {
	d5 := 5.0
	s, err := New(&Network{
		Links: []Link{{ID: "a", Capacity: 10}, {ID: "b", Capacity: 30}, {ID: "c", Capacity: 20}, {ID: "d", Capacity: 20}, {ID: "e", Capacity: 20}},
		Flows: []Flow{{ID: "f1", Path: []string{"a", "c"}, Demand: &d5}, {ID: "f2", Path: []string{"b", "d"}}, {ID: "f3", Path: []string{"e"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FailLink("e", nil); err != nil {
		t.Fatal(err)
	}
	old := map[string]string{}
	var failed []string
	d, err := s.FailLinks([]string{"c", "b"}, func(id string, f *Failure) ([]string, bool) {
		old[id] = strings.Join(f.OldPath(), ",")
		failed = f.FailedLinks()
		for _, l := range []string{"a", "b", "c", "d", "e", "zz"} {
			if want := strings.Contains("bce", l); f.Failed(l) != want {
				t.Errorf("flow %s: Failed(%q) = %v", id, l, !want)
			}
		}
		return []string{"d"}, true
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(old) != "map[f1:a,c f2:b,d]" || fmt.Sprint(failed) != "[b c e]" {
		t.Fatalf("old paths %v, failed links %v", old, failed)
	}
	if p, _ := s.Path("f1"); fmt.Sprint(p) != "[d]" || fmt.Sprint(d.Rerouted) != "[f1 f2]" {
		t.Fatalf("f1 now on %v, rerouted %v", p, d.Rerouted)
	}
}
