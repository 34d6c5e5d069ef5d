package telemetry_test

import (
	"context"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/physical/telemetry"
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

type lastSink struct {
	mu    sync.Mutex
	links map[string]telemetry.LinkSample
	devs  map[string]telemetry.DeviceSample
	ifs   map[string]telemetry.InterfaceSample
}

func (s *lastSink) Observe(b *telemetry.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range b.Links {
		s.links[l.Link] = l
	}
	for _, d := range b.Devices {
		s.devs[d.Device] = d
	}
	for _, i := range b.Interfaces {
		s.ifs[i.Device+"/"+i.Interface] = i
	}
}

func (s *lastSink) wait(t *testing.T, what string, timeout time.Duration, cond func(*lastSink) bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		s.mu.Lock()
		ok := cond(s)
		s.mu.Unlock()
		if ok {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("timed out after %v waiting for %s; links %+v devices %+v", timeout, what, s.links, s.devs)
	return 0
}

// TestCollectorAgainstNodes runs a two-node stand-in network and checks that measured
// rates, link utilisation, a link failure and a dead device reach the sink; the dead
// device is marked unreachable within 3 s.
func TestCollectorAgainstNodes(t *testing.T) {
	net := network.Network{
		Devices: []network.Device{
			{ID: "r1", Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "eth1"}, {ID: "eth2"}}},
			{ID: "r2", Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "eth1"}}},
		},
		Links: []network.Link{{ID: "r1-r2", CapacityGbps: 10, Endpoints: []network.EndPointRef{{Device: "r1", EndPoint: "eth1"}, {Device: "r2", EndPoint: "eth1"}}}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := standin.Start(ctx, net, standin.Options{Bin: nodetest.Binary(t), StateInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	pool := tfgnmi.NewPool(0)
	t.Cleanup(func() { pool.Close() })
	if err := w.Register(pool); err != nil {
		t.Fatal(err)
	}
	sink := &lastSink{links: map[string]telemetry.LinkSample{}, devs: map[string]telemetry.DeviceSample{}, ifs: map[string]telemetry.InterfaceSample{}}
	col, err := telemetry.New(telemetry.Options{Pool: pool, Network: net, SampleInterval: 200 * time.Millisecond}, sink)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = col.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	r1, _ := w.Node("r1")
	r2, _ := w.Node("r2")
	// r1 sends 4 Gb/s to r2 and receives 1 Gb/s.
	if err := r1.Fault(ctx, "/traffic", `{"eth1":{"out_bps":4e9,"in_bps":1e9}}`); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "link rates", 10*time.Second, func(s *lastSink) bool {
		l := s.links["r1-r2"]
		return l.HasRates && l.Status == network.StatusEnabled && near(l.RateGbps[0], 4) && near(l.RateGbps[1], 1) && near(l.Utilisation[0], 0.4)
	})
	// Fail r2's end: link down.
	if err := r2.Fault(ctx, "/interfaces/eth1/down", ""); err != nil {
		t.Fatal(err)
	}
	d := sink.wait(t, "link down", 5*time.Second, func(s *lastSink) bool { return s.links["r1-r2"].Status == network.StatusDisabled })
	t.Logf("link down observed %v after the fault", d)
	if err := r2.Fault(ctx, "/interfaces/eth1/up", ""); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "link up", 5*time.Second, func(s *lastSink) bool { return s.links["r1-r2"].Status == network.StatusEnabled })
	// Kill r2: unreachable within 3 s.
	r2.Stop()
	d = sink.wait(t, "r2 unreachable", 3*time.Second, func(s *lastSink) bool {
		ds, ok := s.devs["r2"]
		return ok && !ds.Reachable && s.links["r1-r2"].Status == network.StatusDisabled
	})
	t.Logf("r2 unreachable observed %v after it stopped", d)
	// Restart r2 on the same address: reachable again.
	if err := r2.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "r2 reachable", 10*time.Second, func(s *lastSink) bool { return s.devs["r2"].Reachable })
	// Freeze r2 (it stops answering without closing its connection): the watchdog marks
	// it unreachable within 3 s.
	if err := r2.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r2.Signal(syscall.SIGCONT) })
	d = sink.wait(t, "r2 unreachable (hung)", 3*time.Second, func(s *lastSink) bool { return !s.devs["r2"].Reachable })
	t.Logf("hung r2 unreachable observed %v after SIGSTOP", d)
	if err := r2.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	sink.wait(t, "r2 reachable after SIGCONT", 10*time.Second, func(s *lastSink) bool { return s.devs["r2"].Reachable })
	if col.Updates() == 0 {
		t.Error("no updates counted")
	}
}

func near(a, b float64) bool { return a > b*0.95 && a < b*1.05 }
