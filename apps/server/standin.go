package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/twinflow/twinflow/labs/node/sim"
	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/monitor"
)

// StandInConfig configures the demo's stand-in physical network: one twinflow-node
// (sim dataplane, plaintext gNMI on a free loopback port) per device of the live twin,
// each device's Address set to its node and the gNMI driver added, so that the nodes
// are managed devices: commits reach them, and telemetry (TelemetryConfig) streams from
// them into the live twin's observed state.
type StandInConfig struct {
	// Bin is the twinflow-node binary (empty: beside this executable, then $PATH).
	Bin string
}

func startStandIn(ctx context.Context, env *assembly, c StandInConfig) error {
	path, err := NodeBinary(c.Bin)
	if err != nil {
		return err
	}
	stop, err := runStandInNetwork(ctx, env.twins.Live(), path, env.log.With("component", "standin"))
	if err != nil {
		return err
	}
	env.onShutdown(func(context.Context) error { stop(); return nil })
	env.notes = append(env.notes, "stand-in network: twinflow-node per device; `twinflow node list` shows their gNMI addresses")
	return nil
}

// NodeBinary finds the twinflow-node binary: path if given (it must exist), else
// beside this executable, else in $PATH.
func NodeBinary(path string) (string, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("%w: twinflow-node binary: %v", ErrConfig, err)
		}
		return path, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "twinflow-node")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("twinflow-node")
	if err != nil {
		return "", errors.New("twinflow-node not found next to twinflow or in $PATH (build it with `make build`, or pass --standin-bin, or --standin=false)")
	}
	return p, nil
}

// runStandInNetwork starts the stand-in network for the live twin's devices and records
// their addresses (and the gNMI driver) in the twin. The returned function stops every
// node.
func runStandInNetwork(ctx context.Context, live *twin.Twin, bin string, log *slog.Logger) (func(), error) {
	var net network.Network
	var flows []network.Flow
	if err := live.View(func(r *twin.Reader) error {
		fs, _, err := r.Flows(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, f := range fs {
			flows = append(flows, f.Flow)
		}
		ds, _, err := r.Devices(twin.ListOptions{})
		if err != nil {
			return err
		}
		ls, _, err := r.Links(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, d := range ds {
			net.Devices = append(net.Devices, d.Device)
		}
		for _, l := range ls {
			net.Links = append(net.Links, l.Link)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("standin: read live twin: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w, err := standin.Start(ctx, net, standin.Options{Bin: bin, Logger: log})
	if err != nil {
		cancel()
		return nil, err
	}
	addrs := w.Addresses()
	if err := seedTraffic(ctx, w, net, flows); err != nil {
		log.Warn("seeding stand-in traffic failed", "err", err)
	}
	if _, err := live.Update(ctx, func(tx *twin.Txn) error {
		for _, d := range net.Devices {
			d.Address = addrs[d.ID]
			d.Drivers = appendDriver(d.Drivers, network.DriverGNMI)
			if _, err := tx.PutDevice(d, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		w.Stop()
		cancel()
		return nil, fmt.Errorf("standin: record device addresses: %w", err)
	}
	log.Info("stand-in network up", "nodes", len(addrs))
	followed := make(chan struct{})
	go func() { defer close(followed); followTraffic(ctx, live, w, net, flows, time.Second, log) }()
	return func() {
		cancel()
		<-followed
		w.Stop()
	}, nil
}

// followTraffic re-seeds the stand-in traffic (seedTraffic) whenever the live twin's
// flows or links change (looked at every poll), so the stand-in network keeps carrying
// what the twin predicts after a change adds, moves or removes flows. The devices are
// those the stand-in network started with.
func followTraffic(ctx context.Context, live *twin.Twin, w *standin.Network, net network.Network, flows []network.Flow,
	poll time.Duration, log *slog.Logger) {
	t := time.NewTicker(poll)
	defer t.Stop()
	var rev uint64 // 0: look at the first poll (a change may have landed since the seeding)
	key, _ := json.Marshal([]any{net.Links, flows})
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if live.Revision() == rev {
			continue
		}
		var links []network.Link
		var flows []network.Flow
		if err := live.View(func(r *twin.Reader) error {
			rev = r.Revision()
			ls, _, err := r.Links(twin.ListOptions{})
			if err != nil {
				return err
			}
			fs, _, err := r.Flows(twin.ListOptions{})
			if err != nil {
				return err
			}
			for _, l := range ls {
				links = append(links, l.Link)
			}
			for _, f := range fs {
				flows = append(flows, f.Flow)
			}
			return nil
		}); err != nil {
			continue
		}
		k, _ := json.Marshal([]any{links, flows})
		if string(k) == string(key) {
			continue
		}
		n := net
		n.Links = links
		if err := seedTraffic(ctx, w, n, flows); err != nil {
			if ctx.Err() == nil {
				log.Warn("re-seeding stand-in traffic failed", "err", err)
			}
			continue
		}
		key = k
		log.Info("stand-in traffic re-seeded", "revision", rev, "flows", len(flows))
	}
}

func appendDriver(ds []network.DriverKind, k network.DriverKind) []network.DriverKind {
	for _, d := range ds {
		if d == k {
			return ds
		}
	}
	return append(ds, k)
}

// seedTraffic makes the stand-in nodes' counters move like the flows would: each flow's
// rate as the twin predicts it (max-min rates of the bottleneck structure: a rate-capped
// flow its demand unless congested, an elastic flow its fair share; twin/monitor.Predict)
// is added to the sending port's out rate and the receiving port's in rate on every
// directed link of its path. So the stand-in network carries what the twin predicts,
// and the monitor's predicted-vs-observed check holds until a fault says otherwise.
func seedTraffic(ctx context.Context, w *standin.Network, net network.Network, flows []network.Flow) error {
	links := map[string]network.Link{}
	for _, l := range net.Links {
		links[l.ID] = l
	}
	rates := map[string]map[string]*sim.Rates{} // device -> port -> rates
	for _, d := range net.Devices {             // every port is set: one a flow left carries nothing
		rates[d.ID] = map[string]*sim.Rates{}
		for _, ep := range d.Endpoints {
			rates[d.ID][ep.ID] = &sim.Rates{}
		}
	}
	add := func(ep network.EndPointRef, out bool, gbps float64) {
		if rates[ep.Device] == nil {
			rates[ep.Device] = map[string]*sim.Rates{}
		}
		r := rates[ep.Device][ep.EndPoint]
		if r == nil {
			r = &sim.Rates{}
			rates[ep.Device][ep.EndPoint] = r
		}
		bps := gbps * 1e9
		if out {
			r.OutBps += bps
			r.OutPps += bps / 8 / 1000 // 1000-byte packets
		} else {
			r.InBps += bps
			r.InPps += bps / 8 / 1000
		}
	}
	predicted := monitor.Predict(&network.Network{Links: net.Links, Flows: flows})
	for _, f := range flows {
		rate := predicted.FlowRates[f.ID]
		if rate <= 0 {
			continue
		}
		for _, dl := range f.Path {
			id, rev := strings.CutSuffix(dl, network.ReverseSuffix)
			l, ok := links[id]
			if !ok || len(l.Endpoints) != 2 {
				continue
			}
			src, dst := l.Endpoints[0], l.Endpoints[1]
			if rev {
				src, dst = dst, src
			}
			add(src, true, rate)
			add(dst, false, rate)
		}
	}
	for dev, ports := range rates {
		n, ok := w.Node(dev)
		if !ok || n.FaultAddr == "" {
			continue
		}
		doc := map[string]sim.Rates{}
		for p, r := range ports {
			doc[p] = *r
		}
		body, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		if err := n.Fault(ctx, "/traffic", string(body)); err != nil {
			return err
		}
	}
	return nil
}
