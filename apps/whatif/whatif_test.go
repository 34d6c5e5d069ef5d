package whatif

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/yamldoc"
)

// testNetwork is a Waxman WAN of n devices with flows between random device pairs;
// every third flow has a demand cap, and every fifth belongs to owner "acme".
func testNetwork(tb testing.TB, n, flows int, seed int64) *network.Network {
	tb.Helper()
	nw, err := network.Generate(fmt.Sprintf("wan:n=%d", n), seed)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < flows; i++ {
		a, b := rng.Intn(len(nw.Devices)), rng.Intn(len(nw.Devices))
		if a == b {
			b = (a + 1) % len(nw.Devices)
		}
		f := network.Flow{ID: fmt.Sprintf("f%d", i), Src: nw.Devices[a].ID, Dst: nw.Devices[b].ID}
		if i%3 == 0 {
			d := float64(1 + rng.Intn(20))
			f.DemandGbps = &d
		}
		if i%5 == 0 {
			f.Owner = "acme"
		}
		nw.Flows = append(nw.Flows, f)
	}
	return nw
}

func mustScenario(tb testing.TB, doc string) *Scenario {
	tb.Helper()
	s, err := ParseScenario([]byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// rates reads every flow's rate from a State.
func rates(tb testing.TB, st *bottleneck.State) map[string]float64 {
	tb.Helper()
	out := map[string]float64{}
	for _, f := range st.Network().Flows {
		r, err := st.Rate(f.ID)
		if err != nil {
			tb.Fatal(err)
		}
		out[f.ID] = r
	}
	return out
}

// sameRates compares two rate maps within the engine's guarantee (1e-9 relative).
func sameRates(tb testing.TB, what string, got, want map[string]float64) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: %d flows, want %d", what, len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			tb.Fatalf("%s: flow %s missing", what, id)
		}
		if math.Abs(g-w) > 1e-9*math.Max(math.Abs(w), 1) {
			tb.Fatalf("%s: flow %s rate %v, want %v", what, id, g, w)
		}
	}
}

// REQ-WIF-01 (seed 004 §4.2): a sample of N-1, N-2 and mixed cases applied
// incrementally agrees with a full recomputation of the perturbed network, and
// reverting puts the base back exactly as a full recomputation of the base gives it.
func TestPropertyCasesMatchFullRecomputation(t *testing.T) {
	for _, routingMode := range []string{"shortest", "ecmp"} {
		t.Run(routingMode, func(t *testing.T) {
			nw := testNetwork(t, 30, 600, 3)
			sc := mustScenario(t, "routing: "+routingMode+"\nsweeps: {n1: true}\n")
			r, err := NewRunner(sc, nw)
			if err != nil {
				t.Fatal(err)
			}
			fresh := func() map[string]float64 {
				st, err := bottleneck.New(r.State().Network())
				if err != nil {
					t.Fatal(err)
				}
				return rates(t, st)
			}
			baseRates := fresh()
			rng := rand.New(rand.NewSource(11))
			links := r.Links()
			checked := 0
			for k := 0; k < 40; k++ {
				var p Perturbation
				switch k % 4 {
				case 0:
					p.FailLinks = []string{links[rng.Intn(len(links))]}
				case 1:
					p.FailLinks = []string{links[rng.Intn(len(links))], links[rng.Intn(len(links))]}
				case 2:
					dev := nw.Devices[rng.Intn(len(nw.Devices))].ID
					p.FailDevices = []string{dev}
					for {
						// a capacity change on a link the device failure leaves up
						l := nw.Links[rng.Intn(len(nw.Links))]
						if l.Endpoints[0].Device != dev && l.Endpoints[1].Device != dev {
							p.Capacities = []CapacityChange{{Link: l.ID, CapacityGbps: float64(1 + rng.Intn(200))}}
							break
						}
					}
				case 3:
					p.RemoveFlows = []string{fmt.Sprintf("f%d", rng.Intn(600))}
					p.AddFlows = []network.Flow{{ID: "new", Src: nw.Devices[0].ID, Dst: nw.Devices[5].ID}}
					p.ScaleTraffic = 0.5 + rng.Float64()*2
				}
				// apply without reverting, compare with a full computation, revert
				u := &undo{moved: map[string]bool{}, removed: map[string]bool{}, added: map[string]bool{}, caps: map[string]bool{}, demands: map[string]bool{}}
				cr := &CaseResult{TotalGbps: r.total}
				changes := map[string]*acc{}
				r.first, r.recorded = nil, false
				if err := r.apply(p, u, changes, cr); err != nil {
					t.Fatalf("case %d %+v: %v", k, p, err)
				}
				r.flushFirst(changes)
				got := rates(t, r.State())
				sameRates(t, fmt.Sprintf("case %d perturbed", k), got, fresh())
				total := 0.0
				for _, v := range got {
					total += v
				}
				if math.Abs(total-cr.TotalGbps) > 1e-9*total {
					t.Fatalf("case %d: Delta.Total %v, Σ rates %v", k, cr.TotalGbps, total)
				}
				// the accumulated per-flow changes equal the difference of the two states
				for id, a := range changes {
					if !a.removed && math.Abs(got[id]-a.new) > 1e-9*math.Max(a.new, 1) {
						t.Fatalf("case %d: flow %s: accumulated new %v, state %v", k, id, a.new, got[id])
					}
				}
				for id, v := range got {
					if _, ok := changes[id]; !ok && !same(v, baseRates[id]) {
						t.Fatalf("case %d: flow %s changed %v -> %v but is not in the deltas", k, id, baseRates[id], v)
					}
				}
				if err := r.revert(u); err != nil {
					t.Fatal(err)
				}
				sameRates(t, fmt.Sprintf("case %d reverted", k), rates(t, r.State()), baseRates)
				checked++
			}
			if checked != 40 {
				t.Fatalf("checked %d cases", checked)
			}
		})
	}
}

// REQ-WIF-01: the N-1 sweep's per-case totals equal full recomputations of the
// network without each link, and the criticality ranking is sorted by them.
func TestN1AgainstFullRecomputation(t *testing.T) {
	nw := testNetwork(t, 20, 300, 5)
	sc := mustScenario(t, `
name: n1
slos:
  - {name: acme, owner: acme, min_rate_gbps: 2}
sweeps: {n1: true, capacity_plan: {step_gbps: 10, top: 3}}
`)
	r, err := NewRunner(sc, nw)
	if err != nil {
		t.Fatal(err)
	}
	var progress []int
	rep, err := r.Run(context.Background(), Options{Progress: func(d, n int) { progress = append(progress, d) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cases) != len(r.Links()) || len(progress) != len(rep.Cases) {
		t.Fatalf("%d cases, %d progress calls, %d links", len(rep.Cases), len(progress), len(r.Links()))
	}
	for i, c := range rep.Cases {
		if i%4 != 0 {
			continue
		}
		link := strings.TrimPrefix(c.Name, "fail ")
		// full recomputation: fresh engine, fail the link with the same reroute
		st, err := bottleneck.New(r.State().Network())
		if err != nil {
			t.Fatal(err)
		}
		d, err := st.FailLinks(r.dirs[link], r.reroute())
		if err != nil {
			t.Fatal(err)
		}
		full, err := bottleneck.New(st.Network())
		if err != nil {
			t.Fatal(err)
		}
		total := 0.0
		for _, v := range rates(t, full) {
			total += v
		}
		if math.Abs(total-c.TotalGbps) > 1e-9*total || len(d.Dropped) != c.Dropped {
			t.Fatalf("%s: total %v dropped %d; full recomputation %v dropped %d", c.Name, c.TotalGbps, c.Dropped, total, len(d.Dropped))
		}
	}
	for i := 1; i < len(rep.Criticality); i++ {
		a, b := rep.Criticality[i-1], rep.Criticality[i]
		if a.Violations < b.Violations || (a.Violations == b.Violations && a.LossGbps < b.LossGbps) {
			t.Fatalf("criticality not ranked at %d: %+v before %+v", i, a, b)
		}
	}
	if len(rep.Plan) != 3 || len(rep.Recommendations) == 0 {
		t.Fatalf("plan %+v recommendations %v", rep.Plan, rep.Recommendations)
	}
	for i := 1; i < len(rep.Plan); i++ {
		if rep.Plan[i].Gradient > rep.Plan[i-1].Gradient {
			t.Fatalf("plan not ranked by gradient: %+v", rep.Plan)
		}
	}
	// a positive gradient must buy throughput when applied (the gain is measured)
	if rep.Plan[0].Gradient > 0 && rep.Plan[0].GainGbps <= 0 {
		t.Fatalf("top upgrade %+v bought nothing", rep.Plan[0])
	}
	sameRates(t, "after the run", rates(t, r.State()), r.baseRate)
}

// SLO violations: a case that fails every link of a flow's source loses the flow
// and reports its SLO violated.
func TestSLOViolation(t *testing.T) {
	nw := testNetwork(t, 12, 60, 7)
	src := nw.Flows[0].Src
	sc := mustScenario(t, fmt.Sprintf(`
slos: [{name: f0, flows: [f0], min_rate_gbps: 0.001}]
cases:
  - name: isolate
    perturbations: {fail_devices: [%s]}
  - name: bad
    perturbations: {fail_links: [nope]}
`, src))
	r, err := NewRunner(sc, nw)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := r.Run(context.Background(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := rep.Cases[0]
	if c.Violations < 1 || c.SLOs[0].Violations != 1 || c.SLOs[0].NewGbps != 0 || c.Dropped == 0 || c.DeltaGbps >= 0 {
		t.Fatalf("isolate: %+v", c)
	}
	if rep.Cases[1].Error == "" || !strings.Contains(rep.Cases[1].Error, `unknown link "nope"`) {
		t.Fatalf("bad case: %+v", rep.Cases[1])
	}
	sameRates(t, "after the run", rates(t, r.State()), r.baseRate)
}

func TestPairs(t *testing.T) {
	all, sampled := Pairs(5, 100, 1)
	if sampled || len(all) != 10 || all[0] != [2]int{0, 1} || all[9] != [2]int{3, 4} {
		t.Fatalf("all pairs: %v %v", all, sampled)
	}
	a, sa := Pairs(200, 50, 9)
	b, _ := Pairs(200, 50, 9)
	c, _ := Pairs(200, 50, 10)
	if !sa || len(a) != 50 || fmt.Sprint(a) != fmt.Sprint(b) || fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatalf("sample not deterministic per seed")
	}
	seen := map[[2]int]bool{}
	for _, p := range a {
		if p[0] >= p[1] || seen[p] {
			t.Fatalf("bad pair %v", p)
		}
		seen[p] = true
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"sweeps: {n1: true}\nbogus: 1\n", "line 2"},
		{"sweeps: {n1: true}\nbogus: 1\n", "bogus"},
		{"sweeps: {n1: yes please}\n", "sweeps.n1"},
		{"{}", "nothing to do"},
		{"routing: ospf\nsweeps: {n1: true}\n", "routing"},
		{"top: 5000\nsweeps: {n1: true}\n", "top"},
		{"sweeps: {n2: {max_cases: 1000000}}\n", "sweeps.n2.max_cases"},
		{"sweeps: {capacity_plan: {step_gbps: -1}}\n", "sweeps.capacity_plan.step_gbps"},
		{"slos: [{name: a, min_rate_gbps: 1}]\nsweeps: {n1: true}\n", "slos[0]"},
		{"slos: [{name: a, flows: [f], min_rate_gbps: .nan}]\nsweeps: {n1: true}\n", "slos[0].min_rate_gbps"},
		{"cases: [{name: a, perturbations: {}}]\n", "cases[0].perturbations"},
		{"cases: [{name: a, perturbations: {scale_traffic: -2}}]\n", "cases[0].perturbations.scale_traffic"},
		{"cases: [{name: a, perturbations: {capacities: [{link: l, capacity_gbps: 0}]}}]\n", "cases[0].perturbations.capacities[0].capacity_gbps"},
		{"cases: [{name: a, perturbations: {scale_flows: [{flow: f, factor: 1e9}]}}]\n", "factor"},
		{"cases: [{name: a, perturbations: {fail_links: [x]}}, {name: a, perturbations: {fail_links: [y]}}]\n", "duplicate case"},
		{"cases:\n  - name: a\n    perturbations:\n      fail_links: x\n", "line 4"},
	} {
		_, err := ParseScenario([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.doc, err, tc.want)
		}
		var ye *yamldoc.Error
		if err != nil && !errors.As(err, &ye) {
			t.Errorf("%q: error %T is not a yamldoc.Error", tc.doc, err)
		}
	}
	// JSON is accepted as YAML
	s, err := ParseScenario([]byte(`{"sweeps":{"n2":{"seed":3}},"top":4}`))
	if err != nil || s.Sweeps.N2.MaxCases != DefaultN2Cases || s.Top != 4 || s.Routing != "shortest" {
		t.Fatalf("json: %+v %v", s, err)
	}
}

func FuzzParseScenario(f *testing.F) {
	f.Add([]byte("sweeps: {n1: true}\n"))
	f.Add([]byte("cases: [{name: a, perturbations: {fail_links: [l1], scale_traffic: 2}}]\nslos: [{name: s, owner: o, min_rate_gbps: 1}]\n"))
	f.Add([]byte(`{"sweeps":{"n2":{"max_cases":5,"seed":1},"capacity_plan":{}}}`))
	f.Add([]byte("cases: [{name: t, perturbations: {add_devices: [{id: z, type: packet-router}], add_links: [{id: az, endpoints: [{device: a, endpoint: p}, {device: z, endpoint: q}], capacity_gbps: 5}]}}]\n"))
	base := func() *network.Network {
		n, err := network.Decode(strings.NewReader(`{"devices":[{"id":"a","type":"packet-router","endpoints":[{"id":"e1"}]},{"id":"b","type":"packet-router","endpoints":[{"id":"e1"}]}],
			"links":[{"id":"ab","endpoints":[{"device":"a","endpoint":"e1"},{"device":"b","endpoint":"e1"}],"capacity_gbps":10}],"flows":[{"id":"f","src":"a","dst":"b"}]}`), network.FormatJSON)
		if err != nil {
			f.Fatal(err)
		}
		return n
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseScenario(b)
		if err != nil {
			return
		}
		if s.Top < 1 || s.Top > MaxTop || len(s.Cases) > MaxCases {
			t.Fatalf("out of bounds: %+v", s)
		}
		if s.Sweeps.N2 != nil && (s.Sweeps.N2.MaxCases < 1 || s.Sweeps.N2.MaxCases > MaxN2Cases) {
			t.Fatalf("n2 out of bounds")
		}
		// the explicit cases (topology edits included) run on a small base without
		// panicking, and leave the base as it was
		if len(s.Cases) == 0 || len(s.Cases) > 8 {
			return
		}
		s.Sweeps = Sweeps{}
		r, err := NewRunner(s, base())
		if err != nil {
			return
		}
		if _, err := r.Run(context.Background(), Options{}); err != nil {
			t.Fatalf("run: %v", err)
		}
		sameRates(t, "after the run", rates(t, r.State()), r.baseRate)
	})
}

// The SVG is well-formed XML with one heat-map row per N-1 case (up to MaxSVGRows) and
// one bar per plan entry; names are escaped.
func TestWriteSVG(t *testing.T) {
	rep := &Report{Scenario: "a<b", Base: BaseInfo{TotalGbps: 100},
		Cases: []CaseResult{
			{Name: "fail l1", Kind: "n1", TotalGbps: 50, DeltaGbps: -50, SLOs: []SLODelta{{SLO: "s&1", OldGbps: 10, NewGbps: 0}}},
			{Name: "fail l2", Kind: "n1", TotalGbps: 100, SLOs: []SLODelta{{SLO: "s&1", OldGbps: 10, NewGbps: 10}}},
		},
		Plan: []Upgrade{{Link: "l1", Gradient: 2}, {Link: "l2", Gradient: 1}},
	}
	var b strings.Builder
	if err := WriteSVG(&b, rep); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	dec := xml.NewDecoder(strings.NewReader(out))
	for {
		if _, err := dec.Token(); err != nil {
			if err == io.EOF {
				break
			}
			t.Fatalf("not XML: %v\n%s", err, out)
		}
	}
	if strings.Count(out, "<rect") != 2*2+2 || !strings.Contains(out, "#ff0000") || !strings.Contains(out, "#ffffff") || !strings.Contains(out, "s&amp;1") {
		t.Fatalf("unexpected SVG:\n%s", out)
	}
}
