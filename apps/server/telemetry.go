package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/observation"
	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/physical/telemetry"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/telesync"
)

// TelemetryConfig configures telemetry from every managed device of the live twin (one
// with the gNMI driver and a management address: real devices, or the demo's stand-in
// nodes) into the live twin's observed state, and into the telemetry history. The
// managed set follows the live twin: when its intended state changes the set is read
// again, and if the devices, their addresses or the links changed, the subscriptions
// are restarted for the new set.
type TelemetryConfig struct {
	// Sample is the counter sample interval, in (0, 1s] (0: 1 s).
	Sample time.Duration
}

// telemetryPoll is how often the supervisor looks at the live twin's revision.
const telemetryPoll = time.Second

func startTelemetry(ctx context.Context, env *assembly, c TelemetryConfig) {
	if c.Sample == 0 {
		c.Sample = time.Second
	}
	log := env.log.With("component", "telemetry")
	g := env.cfg.gnmi()
	sup := &telemetrySupervisor{
		live:    env.twins.Live(),
		dial:    func(id, addr string) gnmi.Options { return g.dialOptions(id, addr, log) },
		sample:  c.Sample,
		poll:    telemetryPoll,
		log:     log,
		history: env.history,
	}
	env.goRun(ctx, sup.run)
}

// telemetrySupervisor keeps one collector running for the live twin's managed devices.
type telemetrySupervisor struct {
	live    *twin.Twin
	dial    func(id, addr string) gnmi.Options
	sample  time.Duration
	history observation.Sink // nil: none
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
			net, k, err := telesync.ManagedNetwork(s.live)
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
	var out observation.Sink = telesync.NewSink(ctx, s.live, s.log)
	if s.history != nil {
		out = telesync.Tee{out, s.history}
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
