package queue

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
)

// Requirement trace: issue 16 (queue-aware functional model), seed 004 §7.2.

func fifo(buf int) *network.QueueConfig {
	return &network.QueueConfig{Discipline: network.QueueFIFO, Buffer: network.Buffer{Packets: buf}}
}

// vectorA is BOTTLENECK.md's vector A (Gb/s) with every link's queue q.
func vectorA(q *network.QueueConfig, cc network.CongestionControl) *Input {
	return &Input{
		Links: []Link{{ID: "l1", CapacityGbps: 2.5, Queue: q}, {ID: "l2", CapacityGbps: 5, Queue: q}, {ID: "l3", CapacityGbps: 10, Queue: q}, {ID: "l4", CapacityGbps: 7.5, Queue: q}},
		Flows: []Flow{{ID: "f1", Path: []string{"l1"}, CC: cc}, {ID: "f2", Path: []string{"l2"}, CC: cc}, {ID: "f3", Path: []string{"l1", "l2"}, CC: cc},
			{ID: "f4", Path: []string{"l2", "l3"}, CC: cc}, {ID: "f5", Path: []string{"l3", "l4"}, CC: cc}, {ID: "f6", Path: []string{"l1", "l2", "l3"}, CC: cc}},
	}
}

func compute(t *testing.T, in *Input) *Result {
	t.Helper()
	r, err := Compute(in, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Converged {
		t.Fatalf("did not converge: %d iterations, residual %g", r.Iterations, r.Residual)
	}
	return r
}

func rates(r *Result) map[string]float64 {
	m := map[string]float64{}
	for _, f := range r.Flows {
		m[f.ID] = f.RateGbps
	}
	return m
}

func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b)) }

func TestFQIsMaxMin(t *testing.T) {
	for _, cc := range network.KnownCongestionControls {
		r := compute(t, vectorA(nil, cc))
		if r.Model != ModelMaxMin {
			t.Errorf("model %q, want maxmin", r.Model)
		}
		want := map[string]float64{"f1": 2.5 / 3, "f2": 5.0 / 3, "f3": 2.5 / 3, "f4": 5.0 / 3, "f5": 7.5, "f6": 2.5 / 3}
		got := rates(r)
		for id, w := range want {
			if !near(got[id], w, 1e-9) {
				t.Errorf("%s: %s = %v, want max-min %v", cc, id, got[id], w)
			}
		}
		for _, f := range r.Flows {
			if f.Model != ModelMaxMin {
				t.Errorf("flow %s model %q", f.ID, f.Model)
			}
			if f.Loss != 0 && cc == network.CCBBR {
				t.Errorf("bbr flow %s at an fq link: loss %v, want 0", f.ID, f.Loss)
			}
		}
		// f1 is held at l1's share: its per-flow queue of 100 packets holds its window's
		// mean fill, QueueFill for Reno, 1 − (1−β)/4 for CUBIC's cubic sawtooth. f5 is
		// alone at l4 (its max-min rate is l4's capacity): held there all the same.
		p := DefaultParams()
		fill := p.QueueFill
		if cc == network.CCCubic {
			fill = 1 - (1-p.CubicBeta)/4
		}
		for _, h := range []struct {
			i    int
			rate float64
		}{{0, 2.5 / 3}, {4, 7.5}} {
			wantQ := fill * 100 * p.PacketBytes * 8 / (h.rate * 1e9) * 1e3
			if f := r.Flows[h.i]; cc != network.CCBBR && !near(f.QueueDelayMs, wantQ, 0.05) {
				t.Errorf("%s: %s queueing %v ms, want ≈ %v (its fq queue)", cc, f.ID, f.QueueDelayMs, wantQ)
			}
		}
	}
}

// N identical Reno flows on one FIFO: equal shares filling the link, a loss rate that
// is the inverse of Padhye's formula at that rate, and the full buffer's delay.
func TestFIFOSingleLinkReno(t *testing.T) {
	const n = 8
	in := &Input{Links: []Link{{ID: "l", CapacityGbps: 0.1, LatencyMs: 5, Queue: fifo(100)}}}
	for i := range n {
		in.Flows = append(in.Flows, Flow{ID: "f" + strconv.Itoa(i), Path: []string{"l"}, CC: network.CCReno})
	}
	r := compute(t, in)
	if r.Model != ModelFIFO {
		t.Errorf("model %q", r.Model)
	}
	p := DefaultParams()
	for _, f := range r.Flows {
		if !near(f.RateGbps, 0.1/n, 2e-3) {
			t.Errorf("%s rate %v, want %v", f.ID, f.RateGbps, 0.1/n)
		}
	}
	l := r.Links[0]
	if !near(l.LoadGbps, 0.1, 2e-3) {
		t.Errorf("load %v, want the capacity 0.1", l.LoadGbps)
	}
	wantQ := p.QueueFill * 100 * p.PacketBytes * 8 / 1e8 * 1e3
	if !near(l.QueueDelayMs, wantQ, 5e-3) {
		t.Errorf("queueing delay %v ms, want %v (fill × buffer / capacity)", l.QueueDelayMs, wantQ)
	}
	f := r.Flows[0]
	if !near(f.DelayMs, 5+wantQ, 5e-3) || !near(f.RTTMs, 10+p.MinRTTMs+wantQ, 5e-3) {
		t.Errorf("delay %v rtt %v", f.DelayMs, f.RTTMs)
	}
	// The loss is what Padhye's formula needs for rate C/n at that RTT.
	m, _ := build(in, p)
	x := m.response(network.CCReno, l.Loss, f.RTTMs/1e3, 0.01+p.MinRTTMs/1e3)
	if !near(x, 1e8/n, 5e-3) {
		t.Errorf("response at the solved loss %v = %v b/s, want %v", l.Loss, x, 1e8/n)
	}
	if f.JitterMs <= 0 || !near(f.Loss, l.Loss, 1e-9) {
		t.Errorf("jitter %v loss %v (link loss %v)", f.JitterMs, f.Loss, l.Loss)
	}
}

// Two Reno flows with different propagation RTTs on one FIFO: the shorter RTT gets
// more (Mathis: rate ∝ 1/RTT at equal loss), and together they fill the link.
func TestFIFORTTUnfairness(t *testing.T) {
	in := &Input{
		Links: []Link{{ID: "a", CapacityGbps: 10, LatencyMs: 1}, {ID: "b", CapacityGbps: 10, LatencyMs: 20}, {ID: "l", CapacityGbps: 1, Queue: fifo(50)}},
		Flows: []Flow{{ID: "short", Path: []string{"a", "l"}, CC: network.CCReno}, {ID: "long", Path: []string{"b", "l"}, CC: network.CCReno}},
	}
	r := compute(t, in)
	if r.Model != ModelMixed || r.Flows[0].Model != ModelMixed {
		t.Errorf("model %q / %q, want mixed", r.Model, r.Flows[0].Model)
	}
	g := rates(r)
	if !near(g["short"]+g["long"], 1, 2e-3) {
		t.Errorf("total %v, want 1", g["short"]+g["long"])
	}
	ratio := g["short"] / g["long"]
	rttRatio := r.Flows[1].RTTMs / r.Flows[0].RTTMs
	if !(ratio > 2) || !near(ratio, rttRatio, 0.15) {
		t.Errorf("short/long = %v, want ≈ the RTT ratio %v", ratio, rttRatio)
	}
}

func TestFIFOMultiBottleneckBeatDown(t *testing.T) {
	for _, cc := range []network.CongestionControl{network.CCReno, network.CCCubic} {
		for _, buf := range []int{20, 100, 200} {
			in := vectorA(fifo(buf), cc)
			for i := range in.Links {
				in.Links[i].CapacityGbps /= 100
			}
			r := compute(t, in)
			g := rates(r)
			if !(g["f3"] < g["f1"]/2) || !(g["f6"] < g["f1"]/2) {
				t.Errorf("%s/%d: multi-hop f3 %v, f6 %v not beaten down against one-hop f1 %v", cc, buf, g["f3"], g["f6"], g["f1"])
			}
			for _, l := range r.Links {
				if l.LoadGbps > l.CapacityGbps*(1+2e-3) {
					t.Errorf("%s/%d: link %s load %v over capacity %v", cc, buf, l.ID, l.LoadGbps, l.CapacityGbps)
				}
			}
			if !near(r.Links[0].LoadGbps, 0.025, 2e-3) {
				t.Errorf("%s/%d: l1 not full: %v", cc, buf, r.Links[0].LoadGbps)
			}
		}
	}
}

func TestBBRDelayPrice(t *testing.T) {
	in := &Input{Links: []Link{{ID: "l", CapacityGbps: 0.05, Queue: fifo(100)}},
		Flows: []Flow{{ID: "a", Path: []string{"l"}, CC: network.CCBBR}, {ID: "b", Path: []string{"l"}, CC: network.CCBBR}}}
	r := compute(t, in)
	g := rates(r)
	if !near(g["a"], 0.025, 5e-3) || !near(g["b"], 0.025, 5e-3) {
		t.Errorf("rates %v, want equal halves", g)
	}
	if r.Links[0].Loss != 0 || r.Flows[0].Loss != 0 {
		t.Errorf("loss %v: BBR below the buffer drops nothing", r.Links[0].Loss)
	}
	p := DefaultParams()
	// Each flow keeps BBRQueuePackets (gain × min window + 3 = 11) and its (gain − 1)
	// propagation BDP queued: Σ (11·MSS + x·R0) / c with x = c/2.
	wantQ := 11*p.MSSBytes*8/0.025e9*1e3 + (p.BBRCwndGain-1)*p.MinRTTMs
	if q := r.Links[0].QueueDelayMs; !near(q, wantQ, 0.01) {
		t.Errorf("queueing %v ms, want ≈ %v", q, wantQ)
	}
}

func TestPriorityClasses(t *testing.T) {
	q := &network.QueueConfig{Discipline: network.QueuePriority, Classes: []network.QueueClass{{Name: "hi", Priority: 0}, {Name: "lo", Priority: 1}}}
	demand := 0.3
	in := &Input{Links: []Link{{ID: "l", CapacityGbps: 1, Queue: q}},
		Flows: []Flow{{ID: "v", Path: []string{"l"}, Class: "hi", DemandGbps: &demand}, {ID: "a", Path: []string{"l"}, Class: "lo"}, {ID: "b", Path: []string{"l"}}}}
	r := compute(t, in)
	g := rates(r)
	if !near(g["v"], 0.3, 1e-9) || !near(g["a"]+g["b"], 0.7, 3e-3) {
		t.Errorf("rates %v: want hi 0.3 (its demand), the rest 0.7 split by lo", g)
	}
	if len(r.Links) != 2 || r.Links[1].Class != "lo" || !near(r.Links[1].ServiceGbps, 0.7, 3e-3) || r.Links[0].Loss > 1e-6 {
		t.Errorf("classes %+v", r.Links)
	}
}

func TestWeightedClasses(t *testing.T) {
	q := &network.QueueConfig{Discipline: network.QueueWeighted, Classes: []network.QueueClass{{Name: "gold", Weight: 3}, {Name: "silver", Weight: 1}}}
	in := &Input{Links: []Link{{ID: "l", CapacityGbps: 1, Queue: q}},
		Flows: []Flow{{ID: "g", Path: []string{"l"}, Class: "gold"}, {ID: "s", Path: []string{"l"}, Class: "silver"}}}
	g := rates(compute(t, in))
	if !near(g["g"], 0.75, 5e-3) || !near(g["s"], 0.25, 5e-3) {
		t.Errorf("rates %v, want 3:1 of 1", g)
	}
	// An idle weighted class lends its share: gold alone takes the link.
	in.Flows = in.Flows[:1]
	g = rates(compute(t, in))
	if !near(g["g"], 1, 5e-3) {
		t.Errorf("gold alone %v, want 1", g["g"])
	}
}

func TestMixedFQAndFIFO(t *testing.T) {
	in := vectorA(fifo(100), network.CCCubic)
	in.Links[1].Queue = nil // l2 per-flow fair
	for i := range in.Links {
		in.Links[i].CapacityGbps /= 100
	}
	r := compute(t, in)
	if r.Model != ModelMixed {
		t.Errorf("model %q", r.Model)
	}
	byID := map[string]FlowResult{}
	for _, f := range r.Flows {
		byID[f.ID] = f
	}
	if byID["f2"].Model != ModelMaxMin || byID["f1"].Model != ModelFIFO || byID["f3"].Model != ModelMixed {
		t.Errorf("per-flow models f1 %q f2 %q f3 %q", byID["f1"].Model, byID["f2"].Model, byID["f3"].Model)
	}
	for _, l := range r.Links {
		if l.LoadGbps > l.CapacityGbps*(1+2e-3) {
			t.Errorf("link %s load %v over capacity %v", l.ID, l.LoadGbps, l.CapacityGbps)
		}
		if want := map[bool]string{true: ModelMaxMin, false: ModelFIFO}[l.ID == "l2"]; l.Model != want {
			t.Errorf("link %s model %q, want %q", l.ID, l.Model, want)
		}
	}
}

// Random networks: the solver converges, FIFO links are never over capacity, every
// rate is positive and finite, and equal inputs give equal outputs.
func TestPropertyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 1))
	n := 200
	if testing.Short() {
		n = 30
	}
	ccs := network.KnownCongestionControls
	for trial := range n {
		in := &Input{}
		nl := 2 + rng.IntN(8)
		for i := range nl {
			var q *network.QueueConfig
			switch rng.IntN(4) {
			case 0:
				q = nil
			case 1:
				q = &network.QueueConfig{Discipline: network.QueueWeighted, Classes: []network.QueueClass{{Name: "a", Weight: 1 + float64(rng.IntN(4))}, {Name: "b", Weight: 1}}}
			default:
				q = fifo(10 + rng.IntN(300))
			}
			in.Links = append(in.Links, Link{ID: "l" + strconv.Itoa(i), CapacityGbps: 0.01 + rng.Float64(), LatencyMs: rng.Float64() * 20, Queue: q})
		}
		cc := ccs[rng.IntN(len(ccs))] // one cc per network (BBR and loss-based mixes are less stable)
		for i := range 1 + rng.IntN(20) {
			perm := rng.Perm(nl)[:1+rng.IntN(min(nl, 4))]
			var path []string
			for _, k := range perm {
				path = append(path, "l"+strconv.Itoa(k))
			}
			in.Flows = append(in.Flows, Flow{ID: "f" + strconv.Itoa(i), Path: path, CC: cc, Class: []string{"a", "b"}[rng.IntN(2)]})
		}
		r, err := Compute(in, DefaultParams())
		if err != nil {
			t.Fatal(err)
		}
		if !r.Converged {
			t.Errorf("trial %d (%s): no convergence, residual %g", trial, cc, r.Residual)
			if testing.Verbose() {
				for _, l := range r.Links {
					t.Logf("  link %s/%s %s svc %.4g load %.4g p %.3g q %.3g flows %d", l.ID, l.Class, l.Discipline, l.ServiceGbps, l.LoadGbps, l.Loss, l.QueueDelayMs, l.Flows)
				}
			}
			continue
		}
		for _, f := range r.Flows {
			if !(f.RateGbps > 0) || math.IsInf(f.RateGbps, 0) || math.IsNaN(f.DelayMs+f.JitterMs+f.Loss) || f.Loss < 0 || f.Loss > 1 {
				t.Errorf("trial %d: flow %+v", trial, f)
			}
		}
		for _, l := range r.Links {
			if l.Model == ModelFIFO && l.LoadGbps > l.ServiceGbps*1.01 && l.Loss < 0.01 {
				t.Errorf("trial %d (%s): link %s/%s load %v over its service %v", trial, cc, l.ID, l.Class, l.LoadGbps, l.ServiceGbps)
			}
		}
		again, _ := Compute(in, DefaultParams())
		if diff := cmp.Diff(r, again); diff != "" {
			t.Fatalf("trial %d: not deterministic:\n%s", trial, diff)
		}
	}
}

func TestInputErrors(t *testing.T) {
	bad := func(mut func(in *Input)) error {
		in := vectorA(fifo(50), network.CCCubic)
		mut(in)
		_, err := Compute(in, DefaultParams())
		return err
	}
	for _, tc := range []struct {
		mut  func(in *Input)
		want string
	}{
		{func(in *Input) { in.Links[1].ID = "l1" }, `links[1] "l1": duplicate link ID (also links[0])`},
		{func(in *Input) { in.Links[0].CapacityGbps = 0 }, `links[0] "l1": capacity_gbps must be a finite number > 0, got 0`},
		{func(in *Input) { in.Links[0].LatencyMs = math.NaN() }, `latency_ms must be a finite number >= 0`},
		{func(in *Input) { in.Links[0].Queue = &network.QueueConfig{Discipline: "red"} }, `unknown queue discipline "red"`},
		{func(in *Input) { in.Flows[2].Path[1] = "l9" }, `flows[2] "f3".path[1]: unknown link "l9"`},
		{func(in *Input) { in.Flows[2].Path[1] = "l1" }, `link "l1" repeated (also path[0])`},
		{func(in *Input) { in.Flows[0].CC = "vegas" }, `flows[0] "f1".cc: unknown congestion control "vegas"`},
		{func(in *Input) { in.Flows[1].ID = "f1" }, `flows[1] "f1": duplicate flow ID (also flows[0])`},
		{func(in *Input) { z := -1.0; in.Flows[0].DemandGbps = &z }, `demand_gbps: must be a finite number > 0 when set, got -1`},
	} {
		err := bad(tc.mut)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
	}
	p := DefaultParams()
	p.QueueFill = 2
	if _, err := Compute(vectorA(nil, ""), p); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "params.queue_fill must be in [0, 1], got 2") {
		t.Errorf("params error %v", err)
	}
	if _, err := Compute(nil, DefaultParams()); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil input: %v", err)
	}
}

func TestFromNetwork(t *testing.T) {
	n := &network.Network{
		Devices: []network.Device{{ID: "a", Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "e"}}}, {ID: "b", Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "e"}}}},
		Links: []network.Link{{ID: "l", Endpoints: []network.EndPointRef{{Device: "a", EndPoint: "e"}, {Device: "b", EndPoint: "e"}}, CapacityGbps: 1, LatencyMs: 2,
			Queue: fifo(30), ReverseQueue: &network.QueueConfig{Discipline: network.QueueFQ}}},
		Flows: []network.Flow{{ID: "f", Src: "a", Dst: "b", CongestionControl: network.CCReno}, {ID: "g", Src: "b", Dst: "a", Path: []string{"l~r"}}},
	}
	in, err := FromNetwork(n, func(f network.Flow) ([]string, error) { return []string{"l"}, nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Links) != 2 || in.Links[0].Queue.Discipline != network.QueueFIFO || in.Links[1].ID != "l~r" || in.Links[1].Queue.Discipline != network.QueueFQ || in.Links[1].LatencyMs != 2 {
		t.Errorf("links %+v", in.Links)
	}
	if in.Flows[0].Path[0] != "l" || in.Flows[0].CC != network.CCReno || in.Flows[1].Path[0] != "l~r" {
		t.Errorf("flows %+v", in.Flows)
	}
	if _, err := FromNetwork(n, nil); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `flows[0] "f": no path`) {
		t.Errorf("unrouted: %v", err)
	}
	r := compute(t, in)
	if r.Model != ModelMixed {
		t.Errorf("model %q", r.Model)
	}
}

var _ = bottleneck.ErrInvalid
