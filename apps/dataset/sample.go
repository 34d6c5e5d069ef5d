package dataset

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
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

	// queueing model labels (Labels.Queue): queued says the model labelled the
	// sample; qok[f] that flow f has a prediction, lok[l] that link l has one
	queued        bool
	delay, jitter []float64 // per flow, ms
	floss         []float64 // per flow, ratio
	qok           []bool
	linkLoss      []float64 // per directed link, ratio
	lok           []bool

	// emulation labels (spec.emulate): measured in the netns sandbox, not
	// deterministic; elastic is the demand-free max-min rate of the same flows
	emulated   bool
	emuSeconds float64
	emuRate    []float64 // per flow, Gb/s (network units)
	emuRTT     []float64 // per flow, ms
	emuRetx    []int32   // per flow, segments retransmitted in the window
	emuLoss    []float64 // per flow, retransmitted / data segments in the window; NaN: none sent
	emuOK      []bool    // per flow: measured (false: its probe failed, values absent)
	emuScale   float64   // the lab's rate scale
	emuLatency string    // how the lab applied link latencies (Emulated.Latency)
	emuFailed  int32     // flows whose probe failed
	elastic    []float64 // per flow, Gb/s
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
	if s.Labels.Queue {
		labelQueue(sc, sm, ids)
	}
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

// labelQueue labels sm with the queueing model (models/queue, default parameters):
// per flow the one-way delay, jitter and loss, per directed link the loss. The links'
// queue disciplines are the topology's (fq by default). A sample the model does not
// converge on, or a value that is not a finite number, stays absent.
func labelQueue(sc *scenario, sm *sample, ids []string) {
	queues := map[string]*network.QueueConfig{}
	for i := range sc.net.Links {
		l := &sc.net.Links[i]
		for _, rev := range []bool{false, true} {
			queues[network.DirectedLinkID(l.ID, rev)] = l.QueueOf(rev)
		}
	}
	n := sc.n()
	in := &queue.Input{Links: make([]queue.Link, len(sc.links)), Flows: make([]queue.Flow, len(sm.src))}
	for l, lk := range sc.links {
		in.Links[l] = queue.Link{ID: lk.ID, CapacityGbps: lk.Capacity, LatencyMs: sc.latency[l], Queue: queues[lk.ID]}
	}
	for f := range sm.src {
		d := sm.demand[f]
		in.Flows[f] = queue.Flow{ID: ids[f], Path: sc.pathIDs[int(sm.src[f])*n+int(sm.dst[f])], DemandGbps: &d}
	}
	res, err := queue.Compute(in, queue.DefaultParams())
	if err != nil || !res.Converged || len(res.Flows) != len(sm.src) {
		return
	}
	finite := func(v ...float64) bool {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				return false
			}
		}
		return true
	}
	sm.queued = true
	F := len(sm.src)
	sm.delay, sm.jitter, sm.floss, sm.qok = make([]float64, F), make([]float64, F), make([]float64, F), make([]bool, F)
	for f, r := range res.Flows {
		if r.ID != ids[f] || r.Model == "none" || !finite(r.DelayMs, r.JitterMs, r.Loss) {
			continue
		}
		sm.delay[f], sm.jitter[f], sm.floss[f], sm.qok[f] = r.DelayMs, r.JitterMs, r.Loss, true
	}
	idx := make(map[string]int, len(sc.links))
	for l, lk := range sc.links {
		idx[lk.ID] = l
	}
	sm.linkLoss, sm.lok = make([]float64, len(sc.links)), make([]bool, len(sc.links))
	for _, lr := range res.Links {
		l, ok := idx[lr.ID]
		if !ok || lr.Class != "" || !finite(lr.Loss) {
			continue // a class of a classed queue: the link's loss is not one number
		}
		sm.linkLoss[l], sm.lok[l] = lr.Loss, true
	}
}
