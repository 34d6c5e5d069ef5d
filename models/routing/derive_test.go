package routing

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// TestECMPRepairEqualsDijkstra: the distances a derived router repairs from its
// base's (only the devices a failure leaves without a shortest path recomputed) equal
// a full Dijkstra with the same exclusions, to every destination, for random sets of
// failed links and devices on a fat-tree (hop metric) and a WAN (latency metric).
func TestECMPRepairEqualsDijkstra(t *testing.T) {
	ft, err := network.FatTree(4)
	if err != nil {
		t.Fatal(err)
	}
	wan, err := network.WAN(60, 5, 0.4, 0.2)
	if err != nil {
		t.Fatal(err)
	}
	repaired := 0
	for _, tc := range []struct {
		n *network.Network
		m Metric
	}{{ft, Hops}, {wan, Latency}} {
		g := mustGraph(t, tc.n)
		base := g.NewECMP(Options{Metric: tc.m})
		rng := rand.New(rand.NewPCG(7, 8))
		for range 150 {
			failed := map[string]bool{}
			for range 1 + rng.IntN(4) {
				l := tc.n.Links[rng.IntN(len(tc.n.Links))]
				fwd, rev, _ := network.LinkDirections(l)
				failed[fwd.ID] = true
				if rng.IntN(2) == 0 {
					failed[rev.ID] = true
				}
			}
			o := Options{Metric: tc.m, Exclude: func(dl string) bool { return failed[dl] }}
			if rng.IntN(4) == 0 {
				o.ExcludeDevices = map[string]bool{tc.n.Devices[rng.IntN(len(tc.n.Devices))].ID: true}
			}
			derived := base.Derive(o)
			for dst := range g.devs {
				bd := g.distancesTo(int32(dst), base.usable, tc.m)
				got := derived.repair(bd)
				want := g.distancesTo(int32(dst), derived.usable, tc.m)
				if &got[0] != &bd[0] {
					repaired++
				}
				for v := range want {
					if math.IsInf(want[v], 1) != math.IsInf(got[v], 1) ||
						!math.IsInf(want[v], 1) && math.Abs(want[v]-got[v]) > 1e-9*math.Max(1, want[v]) {
						t.Fatalf("to %s, %v failed, devices %v: %s at %v, Dijkstra %v", g.devs[dst], failed, o.ExcludeDevices, g.devs[v], got[v], want[v])
					}
				}
			}
		}
	}
	if repaired == 0 {
		t.Fatal("no distance vector was repaired")
	}
}
