package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/physical/telemetry"
	"github.com/twinflow/twinflow/twin"
)

// Under `serve`, telemetry from every managed device of the live twin (one with the
// gNMI driver and a management address: real devices, or the demo's stand-in nodes)
// into the live twin's observed state, and into the telemetry history when the
// repository keeps it. The managed set follows the live twin: when its intended state
// changes the set is read again, and if the devices, their addresses or the links
// changed, the subscriptions are restarted for the new set. --telemetry=false turns it
// off.
var telemetryServe = struct {
	Enabled bool
	Sample  time.Duration
}{Enabled: true, Sample: time.Second}

// telemetryPoll is how often the supervisor looks at the live twin's revision.
const telemetryPoll = time.Second

func init() {
	registerServeExtension(serveExtension{
		Name: "telemetry",
		Flags: func(fs *pflag.FlagSet) {
			fs.BoolVar(&telemetryServe.Enabled, "telemetry", true, "stream telemetry from every managed device (gNMI driver and an address in the live twin) into its observed state")
			fs.DurationVar(&telemetryServe.Sample, "telemetry-sample", time.Second, "counter sample interval of device telemetry, in (0, 1s]")
			// the stand-in network's own flag, from before every managed device was covered
			fs.DurationVar(&telemetryServe.Sample, "standin-sample", time.Second, "same as --telemetry-sample")
		},
		Check: func(*serveEnv) error {
			if s := telemetryServe.Sample; telemetryServe.Enabled && (s <= 0 || s > time.Second) {
				return usageErrorf("--telemetry-sample must be in (0, 1s], got %v", s)
			}
			return nil
		},
		Start: func(ctx context.Context, env *serveEnv) error {
			if !telemetryServe.Enabled {
				return nil
			}
			log := env.Logger.With("component", "telemetry")
			o := changeServe.forServe(env)
			sup := &telemetrySupervisor{
				live:   env.Twins.Live(),
				dial:   func(id, addr string) gnmi.Options { return o.dialOptions(id, addr, log) },
				sample: telemetryServe.Sample,
				poll:   telemetryPoll,
				log:    log,
			}
			if env.History != nil {
				sup.history = env.History
			}
			env.Go(ctx, sup.run)
			return nil
		},
	})
}

// telemetrySupervisor keeps one collector running for the live twin's managed devices.
type telemetrySupervisor struct {
	live    *twin.Twin
	dial    func(id, addr string) gnmi.Options
	sample  time.Duration
	history telemetry.Sink // nil: none
	poll    time.Duration
	log     *slog.Logger
	// started, if set (tests), is called after each (re)start with the managed devices
	started func(devices []string)
}

// run follows the live twin until ctx ends, then stops the collector.
func (s *telemetrySupervisor) run(ctx context.Context) {
	var cur func() // stops the running collector
	defer func() {
		if cur != nil {
			cur()
		}
	}()
	key, seen, retry := "", false, false
	var rev uint64
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		if r := s.live.Revision(); !seen || retry || r != rev {
			net, k, err := managedNetwork(s.live)
			switch {
			case err != nil:
				s.log.Warn("read the managed devices", "err", err)
				retry = true
			case seen && k == key:
				rev, retry = r, false
			default:
				if cur != nil {
					cur()
					cur = nil
				}
				if len(net.Devices) > 0 {
					if cur, err = s.start(ctx, net); err != nil {
						s.log.Error("start telemetry", "err", err)
						retry = true
						break // retried at the next poll
					}
				}
				rev, key, seen, retry = r, k, true, false
				ids := make([]string, len(net.Devices))
				for i, d := range net.Devices {
					ids[i] = d.ID
				}
				s.log.Info("telemetry from managed devices", "devices", len(ids), "revision", r)
				if s.started != nil {
					s.started(ids)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// start runs a collector for net's devices: one client per device, a 100 ms Coalescer
// (one twin transaction per interval rather than per notification) in front of the
// live twin's observed state and the history.
func (s *telemetrySupervisor) start(ctx context.Context, net network.Network) (stop func(), err error) {
	pool := gnmi.NewPool(0)
	for _, d := range net.Devices {
		if _, err := pool.Add(d.ID, s.dial(d.ID, d.Address)); err != nil {
			pool.Close()
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	_, sink := newTwinSink(ctx, s.live, s.log)
	out := sink
	if s.history != nil {
		out = teeSink{sink, s.history}
	}
	co := telemetry.NewCoalescer(out, 100*time.Millisecond)
	col, err := telemetry.New(telemetry.Options{Pool: pool, Network: net, SampleInterval: s.sample, Logger: s.log}, co)
	if err != nil {
		cancel()
		pool.Close()
		return nil, err
	}
	done := make(chan struct{}, 2)
	go func() { defer func() { done <- struct{}{} }(); _ = col.Run(ctx) }()
	go func() { defer func() { done <- struct{}{} }(); co.Run(ctx) }()
	return func() {
		cancel()
		<-done
		<-done
		pool.Close()
	}, nil
}

// managedNetwork returns the live twin's managed devices (gNMI driver and an address)
// and every link, with a key that changes exactly when what telemetry depends on does
// (device IDs, addresses and ports; link IDs, endpoints and capacities).
func managedNetwork(t *twin.Twin) (network.Network, string, error) {
	var net network.Network
	err := t.View(func(r *twin.Reader) error {
		ds, _, err := r.Devices(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, d := range ds {
			if d.Address != "" && slices.Contains(d.Drivers, network.DriverGNMI) {
				net.Devices = append(net.Devices, d.Device)
			}
		}
		ls, _, err := r.Links(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, l := range ls {
			net.Links = append(net.Links, l.Link)
		}
		return nil
	})
	if err != nil {
		return network.Network{}, "", fmt.Errorf("telemetry: read live twin: %w", err)
	}
	slices.SortFunc(net.Devices, func(a, b network.Device) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(net.Links, func(a, b network.Link) int { return strings.Compare(a.ID, b.ID) })
	var k strings.Builder
	for _, d := range net.Devices {
		k.WriteString(strconv.Quote(d.ID) + "@" + strconv.Quote(d.Address))
		for _, ep := range d.Endpoints {
			k.WriteString("," + strconv.Quote(ep.ID))
		}
		k.WriteByte(';')
	}
	k.WriteByte('|')
	for _, l := range net.Links {
		k.WriteString(strconv.Quote(l.ID) + strconv.FormatFloat(l.CapacityGbps, 'g', -1, 64))
		for _, ep := range l.Endpoints {
			k.WriteString("," + strconv.Quote(ep.Device) + "/" + strconv.Quote(ep.EndPoint))
		}
		k.WriteByte(';')
	}
	return net, k.String(), nil
}
