package routing

import (
	"math"
	"slices"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// TestShortestTreeMatchesShortest: the forest's distances and paths equal gonum's
// Dijkstra between every pair (single sources), on the diamond and random WANs.
func TestShortestTreeMatchesShortest(t *testing.T) {
	nets := []*network.Network{diamond()}
	for seed := int64(1); seed <= 3; seed++ {
		n, err := network.Generate("wan:n=30", seed)
		if err != nil {
			t.Fatal(err)
		}
		nets = append(nets, n)
	}
	for ni, n := range nets {
		g := mustGraph(t, n)
		for _, m := range []Metric{Latency, Hops} {
			for s := 0; s < g.Devices(); s++ {
				tr, err := g.ShortestTree([]int{s}, Options{Metric: m})
				if err != nil {
					t.Fatal(err)
				}
				if tr.Order[0] != int32(s) {
					t.Fatalf("source settled first: got %d", tr.Order[0])
				}
				for d := 0; d < g.Devices(); d++ {
					p, err := g.Shortest(g.DeviceID(s), g.DeviceID(d), Options{Metric: m})
					if err != nil {
						if !math.IsInf(tr.Dist[d], 1) {
							t.Fatalf("net %d: %d→%d: tree reaches, Shortest: %v", ni, s, d, err)
						}
						continue
					}
					if math.Abs(p.Weight-tr.Dist[d]) > 1e-9*math.Max(1, p.Weight) {
						t.Fatalf("net %d %s: %d→%d: tree %v, Shortest %v", ni, m, s, d, tr.Dist[d], p.Weight)
					}
					path := tr.PathTo(d)
					if len(path) != int(tr.Hops[d]) {
						t.Fatalf("path length %d, hops %d", len(path), tr.Hops[d])
					}
					w, at := 0.0, s
					for _, e := range path {
						from, to := g.LinkEnds(int(e))
						if from != at {
							t.Fatalf("path not contiguous at link %s", g.LinkID(int(e)))
						}
						w += g.weight(e, m)
						at = to
					}
					if at != d || math.Abs(w-tr.Dist[d]) > 1e-9*math.Max(1, w) {
						t.Fatalf("net %d: path to %d ends at %d with weight %v, dist %v", ni, d, at, w, tr.Dist[d])
					}
				}
			}
		}
	}
}

// TestShortestTreeMultiSource: with several sources, each device's distance is the
// minimum over the sources; exclusions are honoured; bad indices are errors.
func TestShortestTreeMultiSource(t *testing.T) {
	g := mustGraph(t, diamond())
	a, _ := g.DeviceIndex("a")
	c, _ := g.DeviceIndex("c")
	d, _ := g.DeviceIndex("d")
	tr, err := g.ShortestTree([]int{a, c}, Options{Metric: Latency})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Dist[d] != 2 || tr.Hops[d] != 2 { // a→b→d (2 ms) beats c→d (5 ms)
		t.Fatalf("d: dist %v hops %d", tr.Dist[d], tr.Hops[d])
	}
	tr, _ = g.ShortestTree([]int{a}, Options{Metric: Latency, ExcludeLinks: map[string]bool{"bd": true}})
	if tr.Dist[d] != 10 {
		t.Fatalf("with bd excluded: dist %v, want 10 via c", tr.Dist[d])
	}
	// a reused search gives the same forests
	ts := g.NewTreeSearch(Options{Metric: Latency})
	for range 2 {
		t1, _ := ts.Tree([]int{c})
		t2, _ := g.ShortestTree([]int{c}, Options{Metric: Latency})
		if !slices.Equal(t1.Dist, t2.Dist) || !slices.Equal(t1.Pred, t2.Pred) || !slices.Equal(t1.Order, t2.Order) {
			t.Fatalf("reused search differs: %v vs %v", t1, t2)
		}
	}
	if _, err := g.ShortestTree([]int{99}, Options{}); err == nil {
		t.Fatal("out-of-range source accepted")
	}
	if p := tr.PathTo(a); p != nil {
		t.Fatalf("path to a source: %v", p)
	}
}
