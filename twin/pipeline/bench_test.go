package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// benchTwin loads a WAN of n devices with f flows routed by ECMP into a twin.
func benchTwin(b *testing.B, n, f int) (*twin.Manager, *network.Network) {
	b.Helper()
	net, err := network.WAN(n, 1, 0.4, 0.1)
	if err != nil {
		b.Fatal(err)
	}
	g, err := routing.NewGraph(net)
	if err != nil {
		b.Fatal(err)
	}
	ecmp := g.NewECMP(routing.Options{Metric: routing.Hops})
	rng := rand.New(rand.NewPCG(1, 2))
	dsts := make([]string, 50) // traffic to 50 PoPs keeps the ECMP cache small
	for i := range dsts {
		dsts[i] = net.Devices[rng.IntN(len(net.Devices))].ID
	}
	for len(net.Flows) < f {
		src := net.Devices[rng.IntN(len(net.Devices))].ID
		dst := dsts[rng.IntN(len(dsts))]
		if src == dst {
			continue
		}
		id := fmt.Sprintf("f%d", len(net.Flows))
		p, err := ecmp.Route(id, src, dst)
		if err != nil {
			continue
		}
		net.Flows = append(net.Flows, network.Flow{ID: id, Src: src, Dst: dst, Path: p.Links})
	}
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(m.Close)
	if _, err := m.Live().Update(context.Background(), func(tx *twin.Txn) error {
		_, err := tx.Apply(net)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	return m, net
}

// BenchmarkL1Validate: L1 validation of a change adding one flow with an SLO, on a twin
// of 1,000 devices and 100,000 flows (live model cached across validations, as in the
// server; each validation forks the live twin).
func BenchmarkL1Validate(b *testing.B) {
	for _, sz := range []struct{ devices, flows int }{{100, 10_000}, {1000, 100_000}} {
		b.Run(fmt.Sprintf("devices=%d/flows=%d", sz.devices, sz.flows), func(b *testing.B) {
			m, net := benchTwin(b, sz.devices, sz.flows)
			st, err := repository.Open(context.Background(), "file:"+filepath.Join(b.TempDir(), "b.db"), repository.Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = st.Close() })
			svc, err := pipeline.New(pipeline.Config{Twins: m, Store: st})
			if err != nil {
				b.Fatal(err)
			}
			src, dst := net.Devices[1].ID, net.Devices[len(net.Devices)/2].ID
			cs := &change.ChangeSet{Kind: change.KindIntent, Twin: change.TwinDelta{AddFlows: []change.FlowSpec{
				{Flow: network.Flow{ID: "bench", Src: src, Dst: dst}, SLO: &change.SLO{MinRateGbps: 0.001, MaxLatencyMs: 1000}}}}}
			if _, err := pipeline.ValidateOnly(context.Background(), svc, cs); err != nil { // warm the cache
				b.Fatal(err)
			}
			var lat []time.Duration
			cpu0 := cpuTime()
			for b.Loop() {
				t0 := time.Now()
				rep, err := pipeline.ValidateOnly(context.Background(), svc, cs)
				lat = append(lat, time.Since(t0))
				if err != nil || !rep.Passed {
					b.Fatalf("%v %+v", err, rep.Failed())
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(len(lat)), "cpu-ms/op")
			reportPercentiles(b, lat)
		})
	}
}

// reportPercentiles reports the median and p99 latency of the iterations in ms.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[min(len(lat)-1, len(lat)*99/100)]), "p99-ms")
}

// cpuTime is the process's user+system CPU time (the machine is shared and loaded,
// so CPU time per operation is a steadier measure than wall time).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
