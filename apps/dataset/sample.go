package dataset

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/twinflow/twinflow/models/bottleneck"
)

// sample is one labelled traffic matrix on a scenario.
type sample struct {
	index     int
	model     string
	intensity float64 // mean flow demand, Gb/s

	src, dst []int32
	demand   []float64 // Gb/s
	rate     []float64 // Gb/s, max-min fair (bottleneck structure)
	level    []int32   // flow's bottleneck level (1-based)

	load      []float64 // per directed link, Gb/s
	linkLevel []int32   // per directed link, 0 = never a bottleneck
	gradUp    []float64 // per directed link (only with Labels.Gradients)
	gradDown  []float64
	levels    int
	total     float64
}

// flowIDs returns "f0", "f1", ... for the engine's input.
func flowIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "f" + strconv.Itoa(i)
	}
	return ids
}

// drawTraffic draws sample i's flows on sc.
func drawTraffic(s *Spec, sc *scenario, i int) *sample {
	rng := rngFor(s.Seed, streamSample, i)
	t := &s.Traffic
	sm := &sample{index: i, model: t.Models[i%len(t.Models)]}
	lo, hi := t.IntensityGbps[0], t.IntensityGbps[1]
	sm.intensity = lo + rng.Float64()*(hi-lo)
	ep := sc.endpoints
	ne := len(ep)
	F := t.Flows
	sm.src = make([]int32, F)
	sm.dst = make([]int32, F)
	sm.demand = make([]float64, F)
	var cum []float64
	var hot []int32
	switch sm.model {
	case ModelGravity:
		cum = make([]float64, ne)
		acc := 0.0
		for k := range ne {
			acc += rng.ExpFloat64()
			cum[k] = acc
		}
	case ModelHotSpot:
		h := min(t.HotSpots, ne-1)
		for _, k := range rng.Perm(ne)[:h] {
			hot = append(hot, ep[k])
		}
	}
	pick := func() int32 {
		if cum != nil {
			x := rng.Float64() * cum[ne-1]
			return ep[sort.SearchFloat64s(cum, x)%ne]
		}
		return ep[rng.IntN(ne)]
	}
	for f := range F {
		var a, b int32
		switch sm.model {
		case ModelHotSpot:
			if rng.Float64() < t.HotFraction {
				b = hot[rng.IntN(len(hot))]
			} else {
				b = ep[rng.IntN(ne)]
			}
			a = ep[rng.IntN(ne)]
			for a == b {
				a = ep[rng.IntN(ne)]
			}
		default:
			a = pick()
			b = pick()
			for a == b {
				b = pick()
			}
		}
		sm.src[f], sm.dst[f] = a, b
		sm.demand[f] = sm.intensity * 2 * (1 - rng.Float64()) // (0, 2·mean]
	}
	return sm
}

// label computes the labels of sm from the bottleneck structure of sc.
func label(s *Spec, sc *scenario, sm *sample) error {
	n := sc.n()
	F := len(sm.src)
	ids := flowIDs(F)
	flows := make([]bottleneck.Flow, F)
	for f := range F {
		d := sm.demand[f]
		flows[f] = bottleneck.Flow{ID: ids[f], Path: sc.pathIDs[int(sm.src[f])*n+int(sm.dst[f])], Demand: &d}
	}
	st, err := bottleneck.New(&bottleneck.Network{Links: sc.links, Flows: flows})
	if err != nil {
		return fmt.Errorf("dataset: sample %d: %w", sm.index, err)
	}
	sm.rate = make([]float64, F)
	sm.level = make([]int32, F)
	sm.load = make([]float64, len(sc.links))
	for f := range F {
		r, err := st.Rate(ids[f])
		if err != nil {
			return err
		}
		lv, err := st.FlowLevel(ids[f])
		if err != nil {
			return err
		}
		sm.rate[f], sm.level[f] = r, int32(lv)
		sm.total += r
		for _, l := range sc.paths[int(sm.src[f])*n+int(sm.dst[f])] {
			sm.load[l] += r
		}
	}
	sm.linkLevel = make([]int32, len(sc.links))
	for l, lk := range sc.links {
		lv, err := st.LinkLevel(lk.ID)
		if err != nil {
			return err
		}
		sm.linkLevel[l] = int32(lv)
	}
	sm.levels = st.Levels()
	if s.Labels.Gradients {
		sm.gradUp = make([]float64, len(sc.links))
		sm.gradDown = make([]float64, len(sc.links))
		for l, lk := range sc.links {
			g, err := st.LinkGradient(lk.ID)
			if err != nil {
				return err
			}
			sm.gradUp[l], sm.gradDown[l] = g.Right.Total, g.Left.Total
		}
	}
	return nil
}
