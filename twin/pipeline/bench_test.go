package pipeline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
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

// childrenCPU is the user+system CPU time of this process's live child processes (the
// stand-in nodes), read from /proc; 0 where /proc is not available.
func childrenCPU() time.Duration {
	me := strconv.Itoa(os.Getpid())
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var ticks int64
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 || i+2 > len(s) {
			continue
		}
		f := strings.Fields(s[i+2:]) // state ppid ... utime(12) stime(13)
		if len(f) < 13 || f[1] != me {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// reportCPU reports the controller's (this process's) CPU per operation, cpu-ms/op,
// and the stand-in nodes' (child processes'), node-cpu-ms/op.
func reportCPU(b *testing.B, n int, cpu0, node0 time.Duration) {
	if n == 0 {
		return
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
	b.ReportMetric(float64(childrenCPU()-node0)/float64(time.Millisecond)/float64(n), "node-cpu-ms/op")
}

// benchLab starts n stand-in devices (labs/standin) and a pipeline over them.
func benchLab(b *testing.B, n int) (*pipeline.Service, []string) {
	return benchLabDSN(b, n, "file:"+filepath.Join(b.TempDir(), "bench.db"))
}

func benchLabDSN(b *testing.B, n int, dsn string) (*pipeline.Service, []string) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	net := network.Network{}
	for i := range n {
		net.Devices = append(net.Devices, network.Device{ID: fmt.Sprintf("tfc-b%03d", i), Type: network.DeviceRouter,
			Drivers: []network.DriverKind{network.DriverGNMI}, Endpoints: []network.EndPoint{{ID: "eth1"}, {ID: "eth2"}}})
	}
	sn, err := standin.Start(ctx, net, standin.Options{Bin: nodetest.Binary(b), Concurrency: 16})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sn.Stop)
	addrs := sn.Addresses()
	var names []string
	for i := range net.Devices {
		net.Devices[i].Address = addrs[net.Devices[i].ID]
		names = append(names, net.Devices[i].ID)
	}
	l := &lab{net: &net, dsn: dsn}
	for _, d := range net.Devices {
		l.nodes = append(l.nodes, &node{name: d.ID, gnmiAddr: d.Address})
	}
	l.open(b, nil)
	l.engine.Concurrency = 32
	// A running controller keeps its gNMI connections: establish them before timing
	// (one Get per device) so the first change on each device does not pay the dial.
	var g errgroup.Group
	g.SetLimit(32)
	for _, name := range names {
		g.Go(func() error {
			d, err := l.devices.Device(ctx, name)
			if err != nil {
				return err
			}
			_, err = d.Get(ctx, []string{"/system"})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return l.svc, names
}

func mtuOps(mtu int, devs ...string) *change.ChangeSet {
	cs := &change.ChangeSet{Label: "bench", Author: "bo", Kind: change.KindRawConfig, Level: change.L1, DeviceOps: map[string][]change.Op{}}
	for _, d := range devs {
		cs.DeviceOps[d] = []change.Op{{Op: change.OpUpdate, Path: "/interfaces/interface[name=eth1]/config",
			Value: []byte(fmt.Sprintf(`{"mtu":%d,"description":"bench-%d"}`, mtu, mtu))}}
	}
	return cs
}

func proposeToCommitted(ctx context.Context, svc *pipeline.Service, cs *change.ChangeSet) error {
	c, err := svc.Propose(ctx, cs, "bo")
	if err != nil {
		return err
	}
	if c.State != change.StateValidated {
		return fmt.Errorf("state %s: %+v", c.State, c.Report.Failed())
	}
	if _, err := svc.Approve(ctx, c.ID, "carla"); err != nil {
		return err
	}
	c, err = svc.Commit(ctx, c.ID, "carla", 0)
	if err != nil {
		return err
	}
	if c.State != change.StateCommitted {
		return fmt.Errorf("state %s", c.State)
	}
	return nil
}

// BenchmarkProposeToCommitted: one change touching 100 stand-in devices over gNMI,
// from propose to committed (validated in a fork, approved, pre-images, parallel Set,
// read-back, journal and transitions in sqlite).
func BenchmarkProposeToCommitted(b *testing.B) {
	svc, names := benchLab(b, 100)
	ctx := context.Background()
	var lat []time.Duration
	i := 0
	cpu0, node0 := cpuTime(), childrenCPU()
	for b.Loop() {
		i++
		t0 := time.Now()
		if err := proposeToCommitted(ctx, svc, mtuOps(1500+i%2*7500, names...)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportCPU(b, len(lat), cpu0, node0)
	reportPercentiles(b, lat)
}

// BenchmarkThroughput: independent changes (each touching one of 100 stand-in devices)
// pushed by 16 concurrent clients, propose to committed; reports changes/s and the
// per-change latency.
func BenchmarkThroughput(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchThroughput(b, benchLab) })
	if os.Getenv("TWINFLOW_TEST_PG") != "" {
		b.Run("postgres", func(b *testing.B) {
			benchThroughput(b, func(b *testing.B, n int) (*pipeline.Service, []string) {
				return benchLabDSN(b, n, postgresDSN(b))
			})
		})
	}
}

func benchThroughput(b *testing.B, mk func(*testing.B, int) (*pipeline.Service, []string)) {
	svc, names := mk(b, 100)
	ctx := context.Background()
	const clients = 16
	var mu sync.Mutex
	var lat []time.Duration
	var next atomic.Int64
	cpu0, node0 := cpuTime(), childrenCPU()
	start := time.Now()
	b.SetParallelism(clients / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			dev := names[int(i)%len(names)]
			t0 := time.Now()
			if err := proposeToCommitted(ctx, svc, mtuOps(1500+int(i%7000), dev)); err != nil {
				b.Error(err)
				return
			}
			d := time.Since(t0)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		}
	})
	b.ReportMetric(float64(len(lat))/time.Since(start).Seconds(), "changes/s")
	reportCPU(b, len(lat), cpu0, node0)
	reportPercentiles(b, lat)
}
