package pipeline

import (
	"context"
	"fmt"
	"strings"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/emulation"
)

// SandboxEmulator runs L2 in a twin/emulation Sandbox: the fork's network (devices,
// links, flows) is mirrored into the sandbox, the change's device operations are pushed
// to the emulated nodes through the sandbox's Configurer (the production gNMI driver),
// and reachability probes run for every flow the change adds (every flow of the fork if
// it adds none). Each probe verdict becomes one "l2.*" check with its evidence.
type SandboxEmulator struct {
	Sandbox *emulation.Sandbox
}

var _ Emulator = SandboxEmulator{}

// ValidateL2 implements Emulator.
func (e SandboxEmulator) ValidateL2(ctx context.Context, fork *twin.Twin, cs *change.ChangeSet, _ *change.Report) ([]change.Check, error) {
	var n *network.Network
	if err := fork.View(func(r *twin.Reader) error { n = r.Network(); return nil }); err != nil {
		return nil, err
	}
	for i := range n.Devices {
		n.Devices[i].ConfigRules = nil
		for _, op := range cs.DeviceOps[n.Devices[i].ID] {
			rule := network.ConfigRule{Action: network.ConfigSet, ResourceKey: op.Path, ResourceValue: string(op.Value)}
			if op.Op == change.OpDelete {
				rule = network.ConfigRule{Action: network.ConfigDelete, ResourceKey: op.Path}
			}
			n.Devices[i].ConfigRules = append(n.Devices[i].ConfigRules, rule)
		}
	}
	probeNet := n
	if len(cs.Twin.AddFlows) > 0 {
		added := map[string]bool{}
		for _, f := range cs.Twin.AddFlows {
			added[f.ID] = true
		}
		probeNet = &network.Network{Devices: n.Devices, Links: n.Links}
		for _, f := range n.Flows {
			if added[f.ID] {
				probeNet.Flows = append(probeNet.Flows, f)
			}
		}
	}
	specs := emulation.ImpliedProbes(probeNet, "cubic", 0)
	rep, err := e.Sandbox.Validate(ctx, n, specs)
	if err != nil {
		return nil, fmt.Errorf("l2: %w", err)
	}
	out := make([]change.Check, 0, len(rep.Checks)+1)
	for _, c := range rep.Checks {
		st := change.Pass
		if !c.Pass {
			st = change.Fail
		}
		out = append(out, change.Check{Name: "l2." + strings.ReplaceAll(c.Name, " ", "_"), Level: change.L2, Status: st, Message: c.Detail, Evidence: c.Evidence})
	}
	if len(out) == 0 {
		out = append(out, change.Check{Name: "l2.emulation", Level: change.L2, Status: change.Skip, Message: "no flows to probe"})
	}
	return out, nil
}
