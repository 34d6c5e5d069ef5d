package telemetry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/twinflow/twinflow/labs/node/sim"
	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/physical/telemetry"
	"github.com/twinflow/twinflow/twin"
)

// latHist is a lock-free latency histogram with 50 µs buckets up to 2 s.
type latHist struct {
	buckets [40001]atomic.Uint64
}

func (h *latHist) add(d time.Duration) {
	i := int(d / (50 * time.Microsecond))
	if i < 0 {
		i = 0
	}
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.buckets[i].Add(1)
}

func (h *latHist) quantiles(qs ...float64) []time.Duration {
	var total uint64
	for i := range h.buckets {
		total += h.buckets[i].Load()
	}
	out := make([]time.Duration, len(qs))
	for j, q := range qs {
		want := uint64(q * float64(total))
		var acc uint64
		for i := range h.buckets {
			acc += h.buckets[i].Load()
			if acc >= want && acc > 0 {
				out[j] = time.Duration(i+1) * 50 * time.Microsecond
				break
			}
		}
	}
	return out
}

// memSink keeps the latest observation per interface and link, as the twin's observed
// state would, in sharded maps (a link sample older than the one held is dropped, see
// telemetry.LinkSample.Version).
type memSink struct {
	shards [64]struct {
		mu    sync.Mutex
		ifs   map[[2]string]telemetry.InterfaceSample
		links map[string]telemetry.LinkSample
	}
	hist *latHist
}

func newMemSink(h *latHist) *memSink {
	s := &memSink{hist: h}
	for i := range s.shards {
		s.shards[i].ifs = map[[2]string]telemetry.InterfaceSample{}
		s.shards[i].links = map[string]telemetry.LinkSample{}
	}
	return s
}

func shardOf(s string) int {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return int(h % 64)
}

func (s *memSink) Observe(b *telemetry.Batch) {
	for i := range b.Interfaces {
		x := &b.Interfaces[i]
		sh := &s.shards[shardOf(x.Device)]
		sh.mu.Lock()
		sh.ifs[[2]string{x.Device, x.Interface}] = *x
		sh.mu.Unlock()
		s.hist.add(b.Received.Sub(x.At))
	}
	for i := range b.Links {
		l := &b.Links[i]
		sh := &s.shards[shardOf(l.Link)]
		sh.mu.Lock()
		if cur, ok := sh.links[l.Link]; !ok || l.Version > cur.Version {
			sh.links[l.Link] = *l
		}
		sh.mu.Unlock()
	}
}

// twinSink writes each batch into the real twin's observed state in one transaction
// (twin.Observe), as `serve` does, skipping a link sample older than the one written
// last (checked and written under mu).
type twinSink struct {
	t    *twin.Twin
	hist *latHist
	errs atomic.Uint64

	mu       sync.Mutex
	versions map[string]uint64
}

func (s *twinSink) Observe(b *telemetry.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.t.Observe(context.Background(), func(o *twin.Observation) error {
		for i := range b.Interfaces {
			x := &b.Interfaces[i]
			st := twin.InterfaceState{OperStatus: x.OperStatus, InOctets: x.InOctets, OutOctets: x.OutOctets, InPkts: x.InPkts, OutPkts: x.OutPkts,
				InErrors: x.InErrors, OutErrors: x.OutErrors, InDiscards: x.InDiscards, OutDiscards: x.OutDiscards,
				InRateGbps: x.InRateGbps, OutRateGbps: x.OutRateGbps, At: x.At}
			if err := o.Interface(x.Device, x.Interface, st); err != nil {
				return err
			}
		}
		for i := range b.Links {
			l := &b.Links[i]
			if l.Version <= s.versions[l.Link] {
				continue
			}
			s.versions[l.Link] = l.Version
			if err := o.Link(l.Link, twin.LinkState{OperStatus: l.Status, RateGbps: l.RateGbps, Utilisation: l.Utilisation, At: l.At}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.errs.Add(1)
	}
	for i := range b.Interfaces {
		s.hist.add(b.Received.Sub(b.Interfaces[i].At))
	}
}

// benchNet starts n twinflow-node processes (sim dataplane, ports ports each, traffic
// on every port) and returns a pool and network for them. The nodes are separate
// processes, so this process's CPU time is the controller side only.
func benchNet(b *testing.B, ctx context.Context, n, ports int, stateInterval time.Duration) (*tfgnmi.Pool, network.Network) {
	b.Helper()
	var net network.Network
	for i := 0; i < n; i++ {
		dev := network.Device{ID: fmt.Sprintf("n%03d", i), Type: network.DeviceRouter}
		for p := 0; p < ports; p++ {
			dev.Endpoints = append(dev.Endpoints, network.EndPoint{ID: fmt.Sprintf("eth%d", p)})
		}
		net.Devices = append(net.Devices, dev)
	}
	// Links between consecutive nodes' eth1/eth0, so link mapping is exercised too.
	for i := 0; i+1 < n; i++ {
		net.Links = append(net.Links, network.Link{ID: fmt.Sprintf("l%03d", i), CapacityGbps: 10, Endpoints: []network.EndPointRef{
			{Device: fmt.Sprintf("n%03d", i), EndPoint: "eth1"}, {Device: fmt.Sprintf("n%03d", i+1), EndPoint: "eth0"}}})
	}
	w, err := standin.Start(ctx, net, standin.Options{Bin: nodetest.Binary(b), StateInterval: stateInterval, Concurrency: 16})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
	traffic := map[string]sim.Rates{}
	for p := 0; p < ports; p++ {
		traffic[fmt.Sprintf("eth%d", p)] = sim.Rates{InBps: 1e9, OutBps: 2e9, InPps: 1e5, OutPps: 2e5}
	}
	body, _ := json.Marshal(traffic)
	for _, name := range w.Names() {
		nd, _ := w.Node(name)
		if err := nd.Fault(ctx, "/traffic", string(body)); err != nil {
			b.Fatal(err)
		}
	}
	pool := tfgnmi.NewPool(0)
	b.Cleanup(func() { pool.Close() })
	if err := w.Register(pool); err != nil {
		b.Fatal(err)
	}
	return pool, net
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIngest measures telemetry ingest from 100 twinflow-node processes (sim) over
// gRPC into observed state: b.N is the number of gNMI updates ingested. Reports
// updates/s achieved, controller CPU per update (this process only: collector + sink),
// and end-to-end latency percentiles (node state-read timestamp to sink).
func BenchmarkIngest(b *testing.B) {
	for _, bc := range []struct {
		name   string
		nodes  int
		ports  int
		sample time.Duration
		enc    gpb.Encoding
		sink   string
	}{
		{"nodes=100/ports=16/sample=25ms/json_ietf/mem", 100, 16, 25 * time.Millisecond, gpb.Encoding_JSON_IETF, "mem"},
		{"nodes=100/ports=16/sample=25ms/proto/mem", 100, 16, 25 * time.Millisecond, gpb.Encoding_PROTO, "mem"},
		{"nodes=100/ports=16/sample=25ms/proto/twin", 100, 16, 25 * time.Millisecond, gpb.Encoding_PROTO, "twin"},
		{"nodes=100/ports=16/sample=25ms/proto/twin-coalesced", 100, 16, 25 * time.Millisecond, gpb.Encoding_PROTO, "twin-coalesced"},
		{"nodes=100/ports=16/sample=25ms/json_ietf/twin-coalesced", 100, 16, 25 * time.Millisecond, gpb.Encoding_JSON_IETF, "twin-coalesced"},
		{"nodes=100/ports=16/sample=250ms/json_ietf/twin-coalesced", 100, 16, 250 * time.Millisecond, gpb.Encoding_JSON_IETF, "twin-coalesced"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			pool, net := benchNet(b, ctx, bc.nodes, bc.ports, bc.sample)
			hist := &latHist{}
			var sink telemetry.Sink = newMemSink(hist)
			var ts *twinSink
			var co *telemetry.Coalescer
			if bc.sink == "twin" || bc.sink == "twin-coalesced" {
				m, err := twin.NewManager(twin.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer m.Close()
				live := m.Live()
				if _, err := live.Update(ctx, func(tx *twin.Txn) error {
					for _, d := range net.Devices {
						if _, err := tx.PutDevice(d, twin.Upsert, twin.Any); err != nil {
							return err
						}
					}
					for _, l := range net.Links {
						if _, err := tx.PutLink(l, twin.Upsert, twin.Any); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				ts = &twinSink{t: live, hist: hist, versions: map[string]uint64{}}
				sink = ts
				if bc.sink == "twin-coalesced" {
					co = telemetry.NewCoalescer(ts, 50*time.Millisecond)
					cctx, ccancel := context.WithCancel(ctx)
					cdone := make(chan struct{})
					go func() { defer close(cdone); co.Run(cctx) }()
					defer func() { ccancel(); <-cdone }()
					sink = co
				}
			}
			col, err := telemetry.New(telemetry.Options{Pool: pool, Network: net, SampleInterval: bc.sample, UnreachableAfter: 2 * time.Second, Encoding: bc.enc}, sink)
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() { defer close(done); _ = col.Run(ctx) }()
			defer func() { cancel(); <-done }()
			// Warm up: every node streaming.
			for col.Updates() < uint64(bc.nodes*bc.ports*9*2) {
				time.Sleep(10 * time.Millisecond)
			}
			*hist = latHist{}
			b.ResetTimer()
			start, u0, c0 := time.Now(), col.Updates(), cpuTime()
			for col.Updates()-u0 < uint64(b.N) {
				time.Sleep(2 * time.Millisecond)
			}
			el := time.Since(start)
			cpu := cpuTime() - c0
			b.StopTimer()
			got := col.Updates() - u0
			b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(got), "cpu-us/update")
			b.ReportMetric(float64(got)/cpu.Seconds(), "updates/cpu-s")
			q := hist.quantiles(0.5, 0.9, 0.99)
			b.ReportMetric(float64(got)/el.Seconds(), "updates/s")
			b.ReportMetric(float64(q[0].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(q[1].Microseconds())/1000, "p90-ms")
			b.ReportMetric(float64(q[2].Microseconds())/1000, "p99-ms")
			if co != nil {
				// Link samples that reached the Coalescer after a newer one of the link
				// (from its other end) and were dropped, during the whole run.
				b.ReportMetric(float64(co.Stale()), "stale-links")
			}
			if ts != nil && ts.errs.Load() > 0 {
				b.Errorf("%d twin observe errors", ts.errs.Load())
			}
		})
	}
}
