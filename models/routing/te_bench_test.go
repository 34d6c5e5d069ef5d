package routing

import (
	"math"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// BenchmarkDisjointPair5000: a link-disjoint and a node-disjoint least-weight pair
// between two far devices of a 5,000-device Waxman WAN (goal: <= 10 ms median,
// docs/benchmarks.md). Graph construction is outside the timed loop.
func BenchmarkDisjointPair5000(b *testing.B) {
	n, err := network.WAN(5000, 1, network.DefaultWaxmanAlpha, network.DefaultWaxmanBetaFor(5000))
	if err != nil {
		b.Fatal(err)
	}
	g, err := NewGraph(n)
	if err != nil {
		b.Fatal(err)
	}
	src, dst := n.Devices[0].ID, n.Devices[len(n.Devices)-1].ID
	b.Logf("%d devices, %d links", len(n.Devices), len(n.Links))
	for _, mode := range []Disjointness{LinkDisjoint, NodeDisjoint} {
		b.Run(string(mode), func(b *testing.B) {
			for b.Loop() {
				if _, err := g.Disjoint(src, dst, 2, mode, Options{Metric: Latency}, math.Inf(-1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
