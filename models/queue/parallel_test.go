package queue

import (
	"fmt"
	"math"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// TestParallelPassesBitIdentical: the per-flow and per-queue passes split over any
// number of goroutines give the one-goroutine answers to the last bit (same
// iterations, rates, delays, losses, loads), on the reference networks and on k=6
// fat-trees with FIFOs of every congestion control and with fq.
func TestParallelPassesBitIdentical(t *testing.T) {
	names, ins := referenceCases(t)
	for _, cc := range network.KnownCongestionControls {
		names = append(names, "fattree6/fifo/"+string(cc))
		ins = append(ins, fatTree(t, 6, 2000, fifo(50), cc))
	}
	names = append(names, "fattree6/fq")
	ins = append(ins, fatTree(t, 6, 2000, nil, network.CCCubic))
	run := func(in *Input, workers, chunk int) *Result {
		m, err := build(in, DefaultParams())
		if err != nil {
			t.Fatal(err)
		}
		m.workers, m.chunk = workers, chunk
		m.solve()
		return m.result()
	}
	same := func(a, b float64) bool {
		return math.Float64bits(a) == math.Float64bits(b) || math.IsNaN(a) && math.IsNaN(b)
	}
	split := 0
	for i, in := range ins {
		one := run(in, 1, 1)
		for _, w := range []int{2, 3, 7} {
			par := run(in, w, 1)
			if min(w, len(in.Flows)) > 1 {
				split++
			}
			if par.Iterations != one.Iterations || par.Converged != one.Converged || !same(par.Residual, one.Residual) {
				t.Errorf("%s, %d workers: %d iterations (converged %v, residual %v), one worker %d (%v, %v)",
					names[i], w, par.Iterations, par.Converged, par.Residual, one.Iterations, one.Converged, one.Residual)
				continue
			}
			for k, f := range one.Flows {
				g := par.Flows[k]
				if !same(g.RateGbps, f.RateGbps) || !same(g.DelayMs, f.DelayMs) || !same(g.Loss, f.Loss) || !same(g.JitterMs, f.JitterMs) || !same(g.RTTMs, f.RTTMs) {
					t.Errorf("%s, %d workers: flow %s %+v, one worker %+v", names[i], w, f.ID, g, f)
				}
			}
			for k, l := range one.Links {
				g := par.Links[k]
				if !same(g.LoadGbps, l.LoadGbps) || !same(g.QueueDelayMs, l.QueueDelayMs) || !same(g.Loss, l.Loss) || !same(g.ServiceGbps, l.ServiceGbps) {
					t.Errorf("%s, %d workers: link %s %+v, one worker %+v", names[i], w, fmt.Sprint(l.ID, "/", l.Class), g, l)
				}
			}
		}
	}
	if split == 0 {
		t.Fatal("no case ran on more than one goroutine")
	}
}
