package bottleneck

import (
	"math"
	"math/big"
	"slices"
	"testing"
)

func vectorA() *Network {
	return &Network{
		Links: []Link{{"l1", 25}, {"l2", 50}, {"l3", 100}, {"l4", 75}},
		Flows: []Flow{
			{ID: "f1", Path: []string{"l1"}},
			{ID: "f2", Path: []string{"l2"}},
			{ID: "f3", Path: []string{"l1", "l2"}},
			{ID: "f4", Path: []string{"l2", "l3"}},
			{ID: "f5", Path: []string{"l3", "l4"}},
			{ID: "f6", Path: []string{"l1", "l2", "l3"}},
		},
	}
}

func vectorC() *Network {
	n := &Network{}
	for i := 1; i <= 8; i++ {
		n.Links = append(n.Links, Link{ID: "l" + itoa(i), Capacity: float64(10 + 20*(i-1)*(i-1))})
	}
	for i := 1; i <= 7; i++ {
		n.Flows = append(n.Flows, Flow{ID: "f" + itoa(i), Path: []string{"l" + itoa(i), "l" + itoa(i+1)}})
	}
	n.Flows = append(n.Flows, Flow{ID: "f8", Path: []string{"l8"}})
	return n
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

func mustNew(t testing.TB, n *Network) *State {
	t.Helper()
	s, err := New(n)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVectorAExact(t *testing.T) {
	s := mustNew(t, vectorA())
	e := s.Exact()
	wantRates := map[string]string{"f1": "25/3", "f2": "50/3", "f3": "25/3", "f4": "50/3", "f5": "75", "f6": "25/3"}
	for id, w := range wantRates {
		got, err := e.RateOf(id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Cmp(rat(w)) != 0 {
			t.Errorf("rate %s: got %s; want %s", id, got.RatString(), w)
		}
	}
	wantLinkLevels := map[string]int32{"l1": 1, "l2": 2, "l3": 3, "l4": 3}
	for id, w := range wantLinkLevels {
		if got := e.LevelL[s.linkIdx[id]]; got != w {
			t.Errorf("level %s: got %d; want %d", id, got, w)
		}
		if got, _ := s.LinkLevel(id); int32(got) != w {
			t.Errorf("float level %s: got %d; want %d", id, got, w)
		}
	}
	// Edges of the FGG, exactly as the reference lists them.
	wantEdges := []string{
		"l1->f1", "f1->l1", "l1->f3", "f3->l1", "l1->f6", "f6->l1", "f3->l2", "f6->l2", "f6->l3",
		"l2->f2", "f2->l2", "l2->f4", "f4->l2", "f4->l3", "l3->f5", "f5->l3", "l4->f5", "f5->l4",
	}
	var got []string
	for _, ed := range s.Graph(GraphFGG).Edges {
		got = append(got, ed.From+"->"+ed.To)
	}
	slices.Sort(got)
	slices.Sort(wantEdges)
	if !slices.Equal(got, wantEdges) {
		t.Errorf("edges:\n got %v\nwant %v", got, wantEdges)
	}
	wantBn := map[string][]string{"f1": {"l1"}, "f2": {"l2"}, "f3": {"l1"}, "f4": {"l2"}, "f5": {"l3", "l4"}, "f6": {"l1"}}
	for id, w := range wantBn {
		if got, _ := s.Bottlenecks(id); !slices.Equal(got, w) {
			t.Errorf("bottlenecks %s: got %v; want %v", id, got, w)
		}
	}

	// Link gradients of the total throughput, (right, left).
	wantTotal := map[string][2]string{"l1": {"1/3", "1/3"}, "l2": {"1/2", "1"}, "l3": {"0", "1"}, "l4": {"0", "1"}}
	for id, w := range wantTotal {
		g, err := e.LinkGradient(id)
		if err != nil {
			t.Fatal(err)
		}
		if g.Right.Total.Cmp(rat(w[0])) != 0 || g.Left.Total.Cmp(rat(w[1])) != 0 {
			t.Errorf("∂Σr/∂c_%s: got (%s, %s); want (%s, %s)", id, g.Right.Total.RatString(), g.Left.Total.RatString(), w[0], w[1])
		}
	}
	g, _ := e.LinkGradient("l1")
	wantL1 := map[string]string{"f1": "1/3", "f3": "1/3", "f6": "1/3", "f2": "-1/3", "f4": "-1/3", "f5": "0"}
	for _, side := range []ExactSide{g.Right, g.Left} {
		for id, w := range wantL1 {
			v := side.Flows[id]
			if v == nil || v.Cmp(rat(w)) != 0 {
				t.Errorf("∂r_%s/∂c_l1: got %v; want %s", id, v, w)
			}
		}
	}
	// Shaping one flow down: change of the total per unit.
	wantFlow := map[string]string{"f1": "-1", "f2": "-1", "f3": "-1/4", "f4": "0", "f5": "-1", "f6": "1/2"}
	for id, w := range wantFlow {
		g, err := e.FlowGradient(id)
		if err != nil {
			t.Fatal(err)
		}
		if g.Left.Infeasible || g.Left.Total.Cmp(rat(w)) != 0 {
			t.Errorf("shaping %s down: got %v; want %s", id, g.Left.Total, w)
		}
	}
}

func TestVectorAFloat(t *testing.T) {
	s := mustNew(t, vectorA())
	want := map[string]float64{"f1": 25.0 / 3, "f2": 50.0 / 3, "f3": 25.0 / 3, "f4": 50.0 / 3, "f5": 75, "f6": 25.0 / 3}
	for id, w := range want {
		if got, _ := s.Rate(id); math.Abs(got-w) > 1e-9 {
			t.Errorf("rate %s: got %v; want %v", id, got, w)
		}
	}
	g, err := s.FlowGradient("f6")
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(g.Left.Total-0.5) > 1e-12 {
		t.Errorf("f6 left total: got %v; want 0.5", g.Left.Total)
	}
	g, _ = s.LinkGradient("l2")
	if math.Abs(g.Right.Total-0.5) > 1e-12 || math.Abs(g.Left.Total-1) > 1e-12 {
		t.Errorf("l2: got (%v, %v); want (0.5, 1)", g.Right.Total, g.Left.Total)
	}
}

func TestVectorCExact(t *testing.T) {
	s := mustNew(t, vectorC())
	e := s.Exact()
	rates := []string{"10", "20", "70", "120", "210", "300", "430", "560"}
	for i, w := range rates {
		id := "f" + itoa(i+1)
		got, _ := e.RateOf(id)
		if got.Cmp(rat(w)) != 0 {
			t.Errorf("rate %s: got %s; want %s", id, got.RatString(), w)
		}
		if e.LevelL[s.linkIdx["l"+itoa(i+1)]] != int32(i+1) {
			t.Errorf("level l%d: got %d; want %d", i+1, e.LevelL[s.linkIdx["l"+itoa(i+1)]], i+1)
		}
		if lv, _ := s.LinkLevel("l" + itoa(i+1)); lv != i+1 {
			t.Errorf("float level l%d: got %d", i+1, lv)
		}
	}
	g, _ := e.LinkGradient("l1")
	for _, side := range []ExactSide{g.Right, g.Left} {
		for i := 1; i <= 8; i++ {
			w := int64(1)
			if i%2 == 0 {
				w = -1
			}
			v := side.Flows["f"+itoa(i)]
			if v == nil || v.Cmp(big.NewRat(w, 1)) != 0 {
				t.Errorf("∂r_f%d/∂c_l1: got %v; want %d", i, v, w)
			}
		}
	}
}
