package bottleneck

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// BenchmarkRefreshReach measures, on fat-tree(k=16) with 100k flows, how much of the
// structure a re-fill leaves alone, per kind of update (arrival, departure, capacity
// change, link failure with ECMP reroute), each followed by Refresh: the share of the
// previous fill's saturations it skipped by restarting from a checkpoint
// (restart-pct), the share of flows below the cut under which Phase 2's results
// cannot change (below-cut-pct, refreshCut) and the share of flows whose level did
// change (level-moved-pct); quantiles over the updates that re-filled. A measurement,
// not a timing: what an incremental Phase 2 could skip.
func BenchmarkRefreshReach(b *testing.B) {
	bi := fatTreeInput(b, 16, 100_000)
	for _, kind := range []string{"arrival", "departure", "capacity", "failure"} {
		b.Run(kind, func(b *testing.B) {
			s, err := New(bi.in)
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(12, 12))
			var restart, below, moved []float64
			i := 0
			for b.Loop() {
				i++
				// the update measured, and what undoes it (arrivals and departures
				// alternate; the departure is measured in its own run)
				var do, undo func() error
				id := fmt.Sprint("reach-", i)
				f := bi.in.Flows[rng.IntN(len(bi.in.Flows))]
				f.ID = id
				add := func() error { _, err := s.AddFlow(f); return err }
				remove := func() error { _, err := s.RemoveFlow(id); return err }
				switch kind {
				case "arrival":
					do, undo = add, remove
				case "departure":
					if err := add(); err != nil {
						b.Fatal(err)
					}
					s.Refresh()
					do = remove
				case "capacity":
					l := bi.in.Links[rng.IntN(len(bi.in.Links))].ID
					do = func() error { _, err := s.SetCapacity(l, network.FatTreeCapacityGbps*0.9); return err }
					undo = func() error { _, err := s.SetCapacity(l, network.FatTreeCapacityGbps); return err }
				case "failure":
					l := bi.net.Links[rng.IntN(len(bi.net.Links))].ID
					do = func() error {
						_, err := s.FailLinks([]string{l, l + network.ReverseSuffix}, bi.router.Reroute())
						return err
					}
					undo = func() error {
						if _, err := s.RestoreLink(l); err != nil {
							return err
						}
						_, err := s.RestoreLink(l + network.ReverseSuffix)
						return err
					}
				}
				s.Refresh()
				base := newRefreshBase(s)
				if err := do(); err != nil {
					b.Fatal(err)
				}
				if s.stale {
					k, pops := s.agg.restart, s.agg.nPops
					s.Refresh()
					c := base.refreshCut(s) / (1 + 1e-6)
					nb, nm, n := 0, 0, 0
					for f := range s.path {
						if !s.alive[f] {
							continue
						}
						n++
						if s.rate[f] < c {
							nb++
						}
						if f >= len(base.levelF) || !base.alive[f] || base.flowID[f] != s.flowID[f] || base.levelF[f] != s.levelF[f] {
							nm++
						}
					}
					restart = append(restart, 100*float64(k)/float64(max(pops, 1)))
					below = append(below, 100*float64(nb)/float64(n))
					moved = append(moved, 100*float64(nm)/float64(n))
				}
				if undo != nil {
					if err := undo(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(restart))/float64(b.N), "refills/op")
			for _, m := range []struct {
				name string
				v    []float64
			}{{"restart", restart}, {"below-cut", below}, {"level-moved", moved}} {
				if len(m.v) == 0 {
					continue
				}
				slices.Sort(m.v)
				q := func(p float64) float64 { return m.v[int(p*float64(len(m.v)-1))] }
				b.ReportMetric(q(0.1), m.name+"-p10-pct")
				b.ReportMetric(q(0.5), m.name+"-median-pct")
				b.ReportMetric(q(0.9), m.name+"-p90-pct")
			}
		})
	}
}
