package server

import (
	"context"
	"fmt"

	"github.com/twinflow/twinflow/apps/interdomain"
	"github.com/twinflow/twinflow/apps/nbi"
)

// startInterdomain serves inter-domain slices beside the change pipeline (issue 19
// item 3, docs/interdomain.md): always the domain side (sub-slices peers order), and
// the coordinator when file names its peers.
func startInterdomain(ctx context.Context, env *assembly, file string) error {
	live := env.twins.Live()
	agent := interdomain.NewAgent(env.nbi.Changes, func(id string) bool {
		d, err := live.Device(id)
		return err == nil && d.Address != ""
	})
	var coord *interdomain.Coordinator
	if file != "" {
		s, err := interdomain.LoadConfig(file)
		if err != nil {
			return err
		}
		if coord, err = interdomain.NewCoordinator(s, agent, env.log.With("component", "interdomain")); err != nil {
			return err
		}
		// slices a previous run left mid-way are ended (confirmed or rolled back
		// everywhere) once the server runs
		env.goRun(ctx, coord.Resume)
		env.notes = append(env.notes, fmt.Sprintf("inter-domain slices: coordinator of %s with %d peers (%s)", s.Domain, len(s.Peers), file))
	}
	env.nbi.Routes = append(env.nbi.Routes, nbi.InterdomainRoutes(agent, coord))
	return nil
}
