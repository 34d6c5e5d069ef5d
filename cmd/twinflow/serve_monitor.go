package main

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/twinflow/twinflow/apps/server"
	mon "github.com/twinflow/twinflow/models/monitor"
)

// monitorFlags are serve's monitoring flags (docs/monitoring.md).
type monitorFlags struct {
	on           bool
	settle       time.Duration
	bound, floor float64
}

func (m *monitorFlags) register(f *pflag.FlagSet) {
	f.BoolVar(&m.on, "monitor", true, "run KPIs, alarms and the predicted-vs-observed check after each commit (docs/monitoring.md)")
	f.DurationVar(&m.settle, "monitor-settle", 10*time.Second, "how long after a commit the network settles before the twin's prediction is compared with telemetry, in (0, 1h]")
	f.Float64Var(&m.bound, "divergence-bound", mon.DefaultBound.Relative, "relative difference between predicted and observed rates that raises a model-divergence alarm, in (0, 10]")
	f.Float64Var(&m.floor, "divergence-floor-gbps", mon.DefaultBound.AbsoluteGbps, "absolute difference (Gb/s) below which rates never diverge, in [0, 1e6]")
}

func (m *monitorFlags) config() (*server.MonitorConfig, error) {
	if !m.on {
		return nil, nil
	}
	if m.settle <= 0 || m.settle > time.Hour {
		return nil, usageErrorf("--monitor-settle must be in (0, 1h], got %v", m.settle)
	}
	b := mon.Bound{Relative: m.bound, AbsoluteGbps: m.floor}
	if err := b.Validate(); err != nil {
		return nil, usageErrorf("--divergence-bound/--divergence-floor-gbps: %v", err)
	}
	return &server.MonitorConfig{Settle: m.settle, Bound: b}, nil
}
