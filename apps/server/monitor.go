package server

import (
	"context"
	"fmt"
	"time"

	mon "github.com/twinflow/twinflow/models/monitor"
	"github.com/twinflow/twinflow/twin/monitor"
)

// MonitorConfig configures the monitoring service (KPIs, alarms, predicted vs observed;
// docs/monitoring.md). Zero values choose the defaults of twin/monitor.
type MonitorConfig struct {
	// Settle is how long after a commit the network settles before the prediction is
	// compared with telemetry (0: 10 s), in [0, 1h].
	Settle time.Duration
	// Bound is the divergence bound (zero: 20% with a 10 Mb/s floor).
	Bound mon.Bound
	// Tick is the evaluation period (0: 1 s), in [0, 1 min].
	Tick time.Duration
}

// startMonitor runs the monitor on the live twin and serves it through the API.
func startMonitor(ctx context.Context, env *assembly, c MonitorConfig) error {
	if c.Settle < 0 || c.Settle > time.Hour {
		return fmt.Errorf("%w: monitor settle %v not in [0, 1h]", ErrConfig, c.Settle)
	}
	if c.Tick < 0 || c.Tick > time.Minute {
		return fmt.Errorf("%w: monitor tick %v not in [0, 1m]", ErrConfig, c.Tick)
	}
	if c.Bound != (mon.Bound{}) {
		if err := c.Bound.Validate(); err != nil {
			return fmt.Errorf("%w: %v", ErrConfig, err)
		}
	}
	m, err := monitor.New(ctx, monitor.Config{Twins: env.twins, Store: env.store.Monitoring(), Settle: c.Settle,
		Bound: c.Bound, Tick: c.Tick, Logger: env.log})
	if err != nil {
		return err
	}
	env.nbi.Monitor = m
	env.goRun(ctx, m.Run)
	return nil
}
