package bottleneck

import "testing"

// TestIncidencesKeptCurrent: the cached Σ|path| of alive flows that sizes the replay
// budget follows additions, removals, demand changes and failures exactly as a fresh
// count would.
func TestIncidencesKeptCurrent(t *testing.T) {
	s, err := New(&Network{Links: []Link{{ID: "a", Capacity: 10}, {ID: "b", Capacity: 10}, {ID: "c", Capacity: 5}},
		Flows: []Flow{{ID: "f1", Path: []string{"a", "b"}}, {ID: "f2", Path: []string{"b"}}}})
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() int {
		n := 0
		for f, p := range s.path {
			if s.alive[f] {
				n += len(p)
			}
		}
		return n
	}
	check := func(step string) {
		t.Helper()
		if got, want := s.incidences(), fresh(); got != want {
			t.Fatalf("%s: cached %d, fresh %d", step, got, want)
		}
	}
	check("new")
	d := 3.0
	steps := []struct {
		name string
		do   func() error
	}{
		{"add", func() error { _, err := s.AddFlow(Flow{ID: "f3", Path: []string{"a", "c"}, Demand: &d}); return err }},
		{"demand off", func() error { _, err := s.SetDemand("f3", nil); return err }},
		{"demand on", func() error { _, err := s.SetDemand("f1", &d); return err }},
		{"remove", func() error { _, err := s.RemoveFlow("f2"); return err }},
		{"fail", func() error { _, err := s.FailLink("c", nil); return err }},
		{"restore", func() error { _, err := s.RestoreLink("c"); return err }},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		check(st.name)
	}
}
