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

// BenchmarkTETrees1000: what compiling the slice benchmark's 10-site any-to-any VPN
// asks of routing (twin/pipeline BenchmarkSliceCompileValidate): one lazy TE path
// tree per site on the 1,000-device WAN (hop metric, 1 Mb/s to reserve, an empty
// reservation book), each asked for the paths to the 9 other sites.
func BenchmarkTETrees1000(b *testing.B) {
	n, err := network.WAN(1000, 1, 0.4, 0.1)
	if err != nil {
		b.Fatal(err)
	}
	g, err := NewGraph(n)
	if err != nil {
		b.Fatal(err)
	}
	sites := make([]string, 10)
	for i := range sites {
		sites[i] = n.Devices[i*97%len(n.Devices)].ID
	}
	resv := NewReservations()
	for b.Loop() {
		for _, s := range sites {
			tr, err := g.TETree(TERequest{Src: s, Metric: Hops, BandwidthGbps: 0.001, MaxLatencyMs: 1000}, resv)
			if err != nil {
				b.Fatal(err)
			}
			for _, d := range sites {
				if d == s {
					continue
				}
				if _, err := tr.Path(d); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
