package routing

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
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

// TestECMPDeriveReusingAllocFree: deriving a router for a failure into the storage of
// the previous one and computing its distances to every destination allocates nothing
// once the storage has grown, and the distances still equal a full Dijkstra.
func TestECMPDeriveReusingAllocFree(t *testing.T) {
	ft, err := network.FatTree(4)
	if err != nil {
		t.Fatal(err)
	}
	g := mustGraph(t, ft)
	base := g.NewECMP(Options{Metric: Hops})
	for dst := range g.devs {
		base.distTo(int32(dst))
	}
	// core–aggregation links: each failure lengthens distances to some destinations
	var masks [][]bool
	for _, l := range ft.Links {
		if !strings.HasPrefix(l.ID, "core-") {
			continue
		}
		fwd, rev, _ := network.LinkDirections(l)
		m := make([]bool, g.NumLinks())
		for _, dl := range []string{fwd.ID, rev.ID} {
			e, _ := g.LinkIndex(dl)
			m[e] = true
		}
		masks = append(masks, m)
	}
	if len(masks) == 0 {
		t.Fatalf("no core link among %d links (first %q)", len(ft.Links), ft.Links[0].ID)
	}
	var r *ECMP
	i, repaired := 0, 0
	run := func() {
		r = base.DeriveReusing(r, Options{ExcludeIndex: masks[i%len(masks)]})
		i++
		for dst := range g.devs {
			if d := r.distTo(int32(dst)); &d[0] != &base.dist[int32(dst)][0] {
				repaired++
			}
		}
	}
	for range 2 * len(masks) {
		run()
	}
	if a := testing.AllocsPerRun(len(masks), run); a != 0 {
		t.Fatalf("%v allocations per derived router in steady state", a)
	}
	if repaired == 0 {
		t.Fatal("no distance vector was repaired")
	}
	for range len(masks) {
		run()
		for dst := range g.devs {
			want := g.distancesTo(int32(dst), r.usable, Hops)
			if got := r.distTo(int32(dst)); !slices.Equal(got, want) {
				t.Fatalf("failure %d, to %s: %v, Dijkstra %v", i, g.devs[dst], got, want)
			}
		}
	}
}
