package dataset

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/twinflow/twinflow/models/queue"
)

// TestQueueLabels (issue #18 item 4): with labels.queue, every flow row carries the
// queueing model's delay (at least the path's propagation), jitter and loss, equal to
// models/queue run on the sample directly, and every link row its loss; without it
// they stay null; two runs are byte-identical.
func TestQueueLabels(t *testing.T) {
	spec := `
name: q
seed: 5
samples: 4
samples_per_scenario: 2
topologies: [{generator: "ring:n=6"}, {generator: "wan:n=10"}]
traffic: {models: [uniform, hotspot], flows: 30, intensity_gbps: [2, 30]}
labels: {queue: true}
formats: [parquet]
`
	s := mustSpec(t, spec)
	out, out2 := t.TempDir(), t.TempDir()
	gen(t, s, out, Options{})
	gen(t, mustSpec(t, spec), out2, Options{Workers: 1})
	a, b := treeHashes(t, out), treeHashes(t, out2)
	for f, h := range a {
		if b[f] != h {
			t.Fatalf("%s differs between two runs", f)
		}
	}
	for j := range 2 {
		sc, err := buildScenario(s, nil, j)
		if err != nil {
			t.Fatal(err)
		}
		lat := map[string]float64{}
		for l, lk := range sc.links {
			lat[lk.ID] = sc.latency[l]
		}
		flows, err := parquet.ReadFile[FlowRow](filepath.Join(out, "parquet", "flows", "part-00000"+string(rune('0'+j))+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		// the model on the first sample of the scenario, directly
		sm := drawTraffic(s, sc, j*s.SamplesPerScenario)
		if err := label(s, sc, sm); err != nil {
			t.Fatal(err)
		}
		if !sm.queued {
			t.Fatalf("scenario %d sample %d: the model did not label it", j, sm.index)
		}
		in := &queue.Input{}
		for l, lk := range sc.links {
			in.Links = append(in.Links, queue.Link{ID: lk.ID, CapacityGbps: lk.Capacity, LatencyMs: sc.latency[l]})
		}
		n := sc.n()
		for f := range sm.src {
			d := sm.demand[f]
			in.Flows = append(in.Flows, queue.Flow{ID: flowIDs(len(sm.src))[f], Path: sc.pathIDs[int(sm.src[f])*n+int(sm.dst[f])], DemandGbps: &d})
		}
		res, err := queue.Compute(in, queue.DefaultParams())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range flows {
			if r.DelayMs == nil || r.JitterMs == nil || r.Loss == nil {
				t.Fatalf("unlabelled flow row %+v", r)
			}
			if r.Sample != int64(sm.index) {
				continue
			}
			want := res.Flows[r.Flow]
			if *r.DelayMs != want.DelayMs || *r.JitterMs != want.JitterMs || *r.Loss != want.Loss {
				t.Fatalf("flow %d: %v %v %v; model %+v", r.Flow, *r.DelayMs, *r.JitterMs, *r.Loss, want)
			}
			prop := 0.0
			for _, id := range sc.pathIDs[int(r.Src)*n+int(r.Dst)] {
				prop += lat[id]
			}
			if *r.DelayMs < prop-1e-9 || *r.Loss < 0 || *r.Loss > 1 || math.IsNaN(*r.JitterMs) {
				t.Fatalf("flow %d: delay %v below propagation %v, or loss %v", r.Flow, *r.DelayMs, prop, *r.Loss)
			}
		}
		links, err := parquet.ReadFile[LinkRow](filepath.Join(out, "parquet", "links", "part-00000"+string(rune('0'+j))+".parquet"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range links {
			if r.Loss == nil {
				t.Fatalf("unlabelled link row %+v", r)
			}
		}
	}
}
