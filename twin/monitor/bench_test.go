package monitor_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	mon "github.com/twinflow/twinflow/models/monitor"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/monitor"
)

// benchNet: leaf-spine with 10 leaves, 4 spines, 10 hosts per leaf (100 hosts) and
// 1,000 flows (each host to 10 hosts on other leaves, half of them capped at 1 Gb/s).
func benchNet(b *testing.B) *network.Network {
	n, err := network.LeafSpine(10, 4, 10)
	if err != nil {
		b.Fatal(err)
	}
	d := 1.0
	for i := range 100 {
		la, ha := i/10, i%10
		for j := range 10 {
			lb := (la + 1 + j%9) % 10
			hb := (ha + j) % 10
			s := (i + j) % 4
			f := network.Flow{ID: fmt.Sprintf("f-%d-%d", i, j), Src: fmt.Sprintf("h-%d-%d", la, ha), Dst: fmt.Sprintf("h-%d-%d", lb, hb),
				Path: []string{fmt.Sprintf("leaf-%d--h-%d-%d~r", la, la, ha), fmt.Sprintf("spine-%d--leaf-%d~r", s, la),
					fmt.Sprintf("spine-%d--leaf-%d", s, lb), fmt.Sprintf("leaf-%d--h-%d-%d", lb, lb, hb)}, Owner: fmt.Sprintf("svc-%d", i%20)}
			if j%2 == 0 {
				f.DemandGbps = &d
			}
			n.Flows = append(n.Flows, f)
		}
	}
	return n
}

// BenchmarkPredict: the twin's prediction (bottleneck rates of 1,000 flows), computed
// once per revision of the live twin.
func BenchmarkPredict(b *testing.B) {
	n := benchNet(b)
	b.ReportAllocs()
	for b.Loop() {
		if p := monitor.Predict(n); len(p.FlowRates) != 1000 {
			b.Fatalf("%d rates", len(p.FlowRates))
		}
	}
}

// BenchmarkStep: one evaluation with 500 KPIs due (250 link utilisations, 250 flow
// observed rates, with thresholds), every link observed, samples stored in sqlite.
func BenchmarkStep(b *testing.B) {
	ctx := context.Background()
	st, err := repository.Open(ctx, "file:"+filepath.Join(b.TempDir(), "b.db"), repository.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	n := benchNet(b)
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error { _, err := tx.Apply(n); return err }); err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	for _, l := range n.Links {
		if err := m.Live().ObserveLink(ctx, l.ID, twin.LinkState{OperStatus: network.StatusEnabled, RateGbps: [2]float64{5, 5},
			Utilisation: [2]float64{0.5, 0.5}, At: now}); err != nil {
			b.Fatal(err)
		}
	}
	clock := now
	s, err := monitor.New(ctx, monitor.Config{Twins: m, Store: st.Monitoring(), Now: func() time.Time { return clock }})
	if err != nil {
		b.Fatal(err)
	}
	th := &mon.Threshold{Direction: mon.Above, Raise: 0.9, Clear: 0.8}
	for i := range 250 {
		l := n.Links[i%len(n.Links)]
		if _, err := s.CreateKPI(ctx, mon.Descriptor{ID: fmt.Sprintf("l%d", i), Kind: mon.KindLink, Subject: l.ID, Metric: "utilisation", SampleIntervalS: 1, Threshold: th}); err != nil {
			b.Fatal(err)
		}
		f := n.Flows[i*4]
		if _, err := s.CreateKPI(ctx, mon.Descriptor{ID: fmt.Sprintf("f%d", i), Kind: mon.KindFlow, Subject: f.ID, Metric: "observed_rate_gbps", SampleIntervalS: 1}); err != nil {
			b.Fatal(err)
		}
	}
	_ = s.Step(ctx) // the prediction is cached from here on
	b.ReportAllocs()
	for b.Loop() {
		clock = clock.Add(time.Second)
		if err := s.Step(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if len(s.Facts().KPIs) != 500 {
		b.Fatalf("%d KPIs sampled", len(s.Facts().KPIs))
	}
}
