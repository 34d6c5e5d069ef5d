package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/twin"
)

// TestTelemetryFollowsManagedDevices: serve's telemetry covers the live twin's managed
// devices (gNMI driver and an address; real twinflow-node processes here) as they come
// and go: none at first; both once their addresses are recorded (their link observed
// up, then down after a fault on one end); a device moved to another address is
// streamed from there (its link up again, as the new node's port is); a change that
// leaves devices, addresses and links alone restarts nothing; a device that loses its
// gNMI driver is dropped.
func TestTelemetryFollowsManagedDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("runs twinflow-node processes")
	}
	bin := labBinaries(t) + "/twinflow-node"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	live := m.Live()
	put := func(fn func(tx *twin.Txn) error) {
		t.Helper()
		if _, err := live.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	dev := func(id, addr string, drivers ...network.DriverKind) network.Device {
		return network.Device{ID: id, Type: network.DeviceRouter, Address: addr, Drivers: drivers, Endpoints: []network.EndPoint{{ID: "eth1"}}}
	}
	put(func(tx *twin.Txn) error {
		for _, d := range []network.Device{dev("r1", ""), dev("r2", "")} {
			if _, err := tx.PutDevice(d, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		_, err := tx.PutLink(network.Link{ID: "r1-r2", CapacityGbps: 10, Endpoints: []network.EndPointRef{{Device: "r1", EndPoint: "eth1"}, {Device: "r2", EndPoint: "eth1"}}}, twin.Upsert, twin.Any)
		return err
	})

	starts := make(chan []string, 16)
	sup := &telemetrySupervisor{live: live, sample: 100 * time.Millisecond, poll: 20 * time.Millisecond,
		log:     slog.New(slog.DiscardHandler),
		dial:    func(id, addr string) gnmi.Options { return gnmi.Options{Address: addr, Target: id, Insecure: true} },
		started: func(ids []string) { starts <- ids }}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); sup.run(ctx) }()
	defer func() { cancel(); wg.Wait() }()
	nextStart := func(want ...string) {
		t.Helper()
		select {
		case ids := <-starts:
			if !slices.Equal(ids, want) {
				t.Fatalf("telemetry (re)started for %v, want %v", ids, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("telemetry not (re)started for %v", want)
		}
	}
	linkIs := func(what string, want network.OperStatus) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var got network.OperStatus
			_ = live.View(func(r *twin.Reader) error {
				if ol, err := r.ObservedLink("r1-r2"); err == nil {
					got = ol.OperStatus
				}
				return nil
			})
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: observed r1-r2 is %q, want %q", what, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	nextStart() // no managed device yet

	node := func(name string) *standin.Node {
		t.Helper()
		n, err := standin.StartNode(ctx, bin, standin.NodeSpec{Name: name, Ports: []string{"eth1"}, StateInterval: 50 * time.Millisecond}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(n.Stop)
		return n
	}
	n1, n2 := node("r1"), node("r2")
	put(func(tx *twin.Txn) error {
		for _, d := range []network.Device{dev("r1", n1.GNMIAddr, network.DriverGNMI), dev("r2", n2.GNMIAddr, network.DriverGNMI)} {
			if _, err := tx.PutDevice(d, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	})
	nextStart("r1", "r2")
	linkIs("both ends streaming", network.StatusEnabled)
	if err := n2.Fault(ctx, "/interfaces/eth1/down", ""); err != nil {
		t.Fatal(err)
	}
	linkIs("r2's eth1 failed", network.StatusDisabled)

	// r2 moves to another box, whose eth1 is up and sends 8 Gb/s (the old box's sends
	// nothing): only samples from the new box show that rate
	n3 := node("r2")
	if err := n3.Fault(ctx, "/traffic", `{"eth1":{"out_bps":8e9}}`); err != nil {
		t.Fatal(err)
	}
	put(func(tx *twin.Txn) error {
		_, err := tx.PutDevice(dev("r2", n3.GNMIAddr, network.DriverGNMI), twin.Upsert, twin.Any)
		return err
	})
	nextStart("r1", "r2")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var rate float64
		_ = live.View(func(r *twin.Reader) error {
			if oi, err := r.ObservedInterface("r2", "eth1"); err == nil {
				rate = oi.OutRateGbps
			}
			return nil
		})
		if rate > 7.9 && rate < 8.1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("observed r2/eth1 out rate %v Gb/s, want 8 (streamed from r2's new address)", rate)
		}
	}
	linkIs("r2 at its new address", network.StatusEnabled)

	// a flow changes the intended state but nothing telemetry depends on
	put(func(tx *twin.Txn) error {
		_, err := tx.PutFlow(network.Flow{ID: "f1", Src: "r1", Dst: "r2", Path: []string{"r1-r2"}}, twin.Upsert, twin.Any)
		return err
	})
	select {
	case ids := <-starts:
		t.Fatalf("telemetry restarted (%v) for a change to flows only", ids)
	case <-time.After(300 * time.Millisecond): // 15 polls
	}

	put(func(tx *twin.Txn) error {
		_, err := tx.PutDevice(dev("r1", n1.GNMIAddr), twin.Upsert, twin.Any)
		return err
	})
	nextStart("r2")
}

// TestServeBadFlagsStartNothing: serve's extension flags are checked before anything
// starts: a bad one exits 2 naming it, before the demo network or its stand-in nodes
// come up.
func TestServeBadFlagsStartNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	bin := labBinaries(t) + "/twinflow"
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--demo", "--telemetry-sample=2s"}, "--telemetry-sample must be in (0, 1s], got 2s"},
		{[]string{"--demo", "--standin-sample=0s"}, "--telemetry-sample must be in (0, 1s], got 0s"},
		{[]string{"--demo", "--commit-concurrency=0"}, "--commit-concurrency must be at least 1, got 0"},
		{[]string{"--demo", "--device-timeout=-1s"}, "--device-timeout must be positive, got -1s"},
		{[]string{"--demo", "--gnmi-skip-verify"}, "--gnmi-ca and --gnmi-skip-verify do not apply to the demo's plaintext gNMI"},
		{[]string{"--gnmi-insecure", "--gnmi-ca=" + notPEM}, "--gnmi-insecure conflicts with --gnmi-ca and --gnmi-skip-verify"},
		{[]string{"--gnmi-ca=" + notPEM}, "--gnmi-ca: gnmi: invalid options: no certificates in " + notPEM},
		{[]string{"--gnmi-ca=" + notPEM + ".missing"}, "--gnmi-ca: gnmi: invalid options: read CA file"},
		{[]string{"--allow-self-approval"}, "--allow-self-approval exists only with --demo"},
		{[]string{"--tls-cert=x.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--plain-http", "--listen=0.0.0.0:0"}, "--plain-http needs a loopback --listen address"},
		{[]string{"--token-dir=/tmp/x"}, "--token-dir applies to --demo only"},
	} {
		flag := strings.Join(c.flags, " ")
		// a serve that wrongly starts is killed after 30 s (and the case fails)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--db", "file:" + filepath.Join(t.TempDir(), "x.db")}, c.flags...)...)
		out, err := cmd.CombinedOutput()
		cancel()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%s: %v, want exit 2\n%s", flag, err, out)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%s: output lacks %q:\n%s", flag, c.want, out)
		}
		if strings.Contains(string(out), "demo network loaded") || strings.Contains(string(out), "node up") || strings.Contains(string(out), "TwinFlow API on") {
			t.Errorf("%s: serve started something before refusing the flag:\n%s", flag, out)
		}
	}
}
