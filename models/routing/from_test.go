package routing_test

import (
	"math"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// ShortestFrom agrees with Shortest on the weight of every pair, and its paths are
// connected walks from src to dst.
func TestShortestFromAgreesWithShortest(t *testing.T) {
	for _, spec := range []string{"wan:n=30", "fat-tree:k=4", "ring:n=7"} {
		n, err := network.Generate(spec, 5)
		if err != nil {
			t.Fatal(err)
		}
		g, err := routing.NewGraph(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []routing.Metric{routing.Latency, routing.Hops} {
			o := routing.Options{Metric: m}
			for _, s := range n.Devices {
				all, err := g.ShortestFrom(s.ID, o)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range n.Devices {
					if d.ID == s.ID {
						continue
					}
					want, err := g.Shortest(s.ID, d.ID, o)
					got, ok := all[d.ID]
					if (err == nil) != ok {
						t.Fatalf("%s %s→%s: Shortest err %v, ShortestFrom has path %v", spec, s.ID, d.ID, err, ok)
					}
					if !ok {
						continue
					}
					if math.Abs(got.Weight-want.Weight) > 1e-9*math.Max(1, want.Weight) {
						t.Fatalf("%s %s→%s: weight %v, Shortest %v", spec, s.ID, d.ID, got.Weight, want.Weight)
					}
					if got.Devices[0] != s.ID || got.Devices[len(got.Devices)-1] != d.ID || len(got.Links) != len(got.Devices)-1 {
						t.Fatalf("%s %s→%s: path %+v", spec, s.ID, d.ID, got)
					}
				}
			}
		}
	}
	if _, err := (&routing.Graph{}).ShortestFrom("nobody", routing.Options{}); err == nil {
		t.Fatal("unknown source accepted")
	}
}
