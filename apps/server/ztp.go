package server

import (
	"context"
	"time"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/apps/ztp"
	"github.com/twinflow/twinflow/physical/gnmi"
)

// startZTP serves zero-touch provisioning beside the change pipeline it provisions
// through (issue 17 item 4, docs/ztp.md).
func startZTP(ctx context.Context, env *assembly) {
	g := env.cfg.gnmi()
	log := env.log.With("component", "ztp")
	z := ztp.New(env.twins, env.nbi.Changes, env.store.ZTP(), gnmiProber{g: g}, log)
	z.Start(ctx)
	env.onShutdown(func(context.Context) error { z.Wait(); return nil })
	env.nbi.Routes = append(env.nbi.Routes, nbi.ZTPRoutes(z))
}

// gnmiProber checks a device answers gNMI Capabilities at its management address,
// with the server's device credentials.
type gnmiProber struct{ g GNMIConfig }

func (p gnmiProber) Reachable(ctx context.Context, device, address string) error {
	c, err := gnmi.Dial(p.g.dialOptions(device, address, nil))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, min(p.g.DeviceTimeout, 5*time.Second))
	defer cancel()
	_, err = c.Capabilities(ctx)
	return err
}
