package pipeline

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/emulation"
)

// SandboxEmulator runs L2 in a twin/emulation Sandbox: the fork's network (devices,
// links, flows) is mirrored into the sandbox, the change's device operations are pushed
// to the emulated nodes through the sandbox's Configurer (the production gNMI driver),
// and reachability probes run for every flow the change adds (every flow of the fork if
// it adds none). Each probe verdict becomes one "l2.*" check with its evidence.
//
// For every point-to-point L2VPN the change's intents create or update (a service, or
// a slice's member), the service itself is probed at layer 2 (attachmentProbes): a
// test host behind each endpoint's access interface must reach the other
// (l2.service_reach_<id>), and a test host behind a non-member interface of an
// endpoint's device must not (l2.service_isolation_<id>).
//
// The sandbox lab is reused between validations: the virtual objects an earlier
// validation created on the emulated nodes (VXLAN and other interfaces that are not
// the device's ports, network instances other than DEFAULT) are deleted before the
// next change is pushed, so that a refused change's bridge cannot carry a later
// change's probes. Settings of the ports themselves (an MTU) stay until the lab is
// redeployed.
type SandboxEmulator struct {
	Sandbox *emulation.Sandbox

	mu      sync.Mutex          // serialises ValidateL2
	created map[string][]string // device -> virtual objects pushed by earlier validations
}

var _ Emulator = (*SandboxEmulator)(nil)

// virtualObjects returns the paths of the objects ops create that are not part of the
// device d itself: interfaces that are not its endpoints, and network instances
// other than DEFAULT (list entries, as the service compilers own them).
func virtualObjects(d *network.Device, ops []change.Op) []string {
	var out []string
	for _, op := range ops {
		if op.Op == change.OpDelete {
			continue
		}
		p, err := change.ParsePath(op.Path)
		if err != nil || len(p) != 2 {
			continue
		}
		switch {
		case p[0].Name == "interfaces" && p[1].Name == "interface":
			name := p[1].Key["name"]
			port := false
			for _, ep := range d.Endpoints {
				port = port || ep.ID == name
			}
			if !port && name != "" && name != "lo" {
				out = append(out, op.Path)
			}
		case p[0].Name == "network-instances" && p[1].Name == "network-instance":
			if name := p[1].Key["name"]; name != "" && name != "DEFAULT" {
				out = append(out, op.Path)
			}
		}
	}
	return out
}

// ValidateL2 implements Emulator.
func (e *SandboxEmulator) ValidateL2(ctx context.Context, fork *twin.Twin, cs *change.ChangeSet, _ *change.Report) ([]change.Check, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n *network.Network
	if err := fork.View(func(r *twin.Reader) error { n = r.Network(); return nil }); err != nil {
		return nil, err
	}
	created := map[string][]string{}
	for i := range n.Devices {
		d := &n.Devices[i]
		n.Devices[i].ConfigRules = nil
		// Network instances first: a bridge releases its members before a tunnel
		// goes.
		prev := append([]string(nil), e.created[d.ID]...)
		sort.SliceStable(prev, func(a, b int) bool {
			return strings.HasPrefix(prev[a], "/network-instances") && !strings.HasPrefix(prev[b], "/network-instances")
		})
		for _, path := range prev {
			d.ConfigRules = append(d.ConfigRules, network.ConfigRule{Action: network.ConfigDelete, ResourceKey: path})
		}
		created[d.ID] = append(prev, virtualObjects(d, cs.DeviceOps[d.ID])...)
		for _, op := range cs.DeviceOps[n.Devices[i].ID] {
			rule := network.ConfigRule{Action: network.ConfigSet, ResourceKey: op.Path, ResourceValue: string(op.Value)}
			if op.Op == change.OpDelete {
				rule = network.ConfigRule{Action: network.ConfigDelete, ResourceKey: op.Path}
			}
			n.Devices[i].ConfigRules = append(n.Devices[i].ConfigRules, rule)
		}
	}
	// The change's own flows first: where the lab cannot route every flow's path
	// (emulation.Options.FirstPathWins), theirs are the ones it follows.
	if len(cs.Twin.AddFlows) > 0 {
		added := map[string]bool{}
		for _, f := range cs.Twin.AddFlows {
			added[f.ID] = true
		}
		sort.SliceStable(n.Flows, func(i, j int) bool { return added[n.Flows[i].ID] && !added[n.Flows[j].ID] })
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
	plan, err := attachmentProbes(n, cs)
	if err != nil {
		return nil, fmt.Errorf("l2: %w", err)
	}
	// Until the push is known to have happened, what was there before and what this
	// change creates are both to be deleted next time.
	e.created = created
	rep, err := e.Sandbox.Validate(ctx, n, specs)
	if err != nil {
		return nil, fmt.Errorf("l2: %w", err)
	}
	for id := range created {
		for i := range n.Devices {
			if n.Devices[i].ID == id {
				created[id] = virtualObjects(&n.Devices[i], cs.DeviceOps[id])
			}
		}
	}
	out := make([]change.Check, 0, len(rep.Checks)+len(plan.checks)+1)
	for _, c := range rep.Checks {
		st := change.Pass
		if !c.Pass {
			st = change.Fail
		}
		out = append(out, change.Check{Name: "l2." + strings.ReplaceAll(c.Name, " ", "_"), Level: change.L2, Status: st, Message: c.Detail, Evidence: c.Evidence})
	}
	if len(plan.specs) > 0 {
		res, err := e.Sandbox.Probe(ctx, plan.specs)
		if err != nil {
			return nil, fmt.Errorf("l2: attachment probes: %w", err)
		}
		out = append(out, plan.judge(res)...)
	}
	out = append(out, plan.checks...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Status == change.Fail && out[j].Status != change.Fail })
	if len(out) == 0 {
		out = append(out, change.Check{Name: "l2.emulation", Level: change.L2, Status: change.Skip, Message: "no flows to probe"})
	}
	return out, nil
}

// attachmentPlan is the layer-2 probes of the services a change realises and how to
// judge them; checks holds verdicts known without probing (skips).
type attachmentPlan struct {
	specs  []emulation.ProbeSpec
	expect []bool // per spec: the ping must be answered (reach) or must not (isolation)
	svc    []string
	checks []change.Check
}

// attachmentProbes plans the L2 probes of the L2VPN services cs realises in n: an
// l2-ping between the two endpoints, and one from a non-member attachment (another
// linked interface of an endpoint's device, one whose far side is a host preferred,
// that no service of the change attaches) to the second endpoint.
func attachmentProbes(n *network.Network, cs *change.ChangeSet) (*attachmentPlan, error) {
	svcs, err := service.Realised(cs.Intents)
	if err != nil {
		return nil, err
	}
	p := &attachmentPlan{}
	type att struct{ dev, ifc string }
	far := map[att]string{} // linked interface -> device at the other end
	for _, l := range n.Links {
		if len(l.Endpoints) != 2 {
			continue
		}
		a, b := l.Endpoints[0], l.Endpoints[1]
		far[att{a.Device, a.EndPoint}] = b.Device
		far[att{b.Device, b.EndPoint}] = a.Device
	}
	isHost := map[string]bool{}
	for _, d := range n.Devices {
		isHost[d.ID] = d.Type == network.DeviceHost
	}
	used := map[att]bool{}
	for _, s := range svcs {
		for _, ep := range s.Endpoints {
			used[att{ep.Device, ep.Interface}] = true
		}
	}
	for _, s := range svcs {
		if s.Type != service.L2VPN || len(s.Endpoints) != 2 {
			continue
		}
		a, b := s.Endpoints[0], s.Endpoints[1]
		var unattached []string
		for _, ep := range s.Endpoints {
			if _, ok := far[att{ep.Device, ep.Interface}]; !ok {
				unattached = append(unattached, ep.Device+":"+ep.Interface)
			}
		}
		if len(unattached) > 0 {
			p.checks = append(p.checks, change.Check{Name: "l2.service_reach_" + s.ID, Level: change.L2, Status: change.Skip,
				Message: fmt.Sprintf("not probed: no device of the twin is attached to %s (a test host goes on the far side of an endpoint's link)", strings.Join(unattached, ", "))})
			continue
		}
		p.add(s.ID, true, emulation.ProbeSpec{ID: "reach:" + s.ID, Kind: emulation.ProbeL2Ping, Src: a.Device, SrcPort: a.Interface, Dst: b.Device, DstPort: b.Interface, Count: 3, Timeout: 500 * time.Millisecond})
		var pick *att
		for _, dev := range []string{a.Device, b.Device} {
			for _, l := range n.Links {
				for _, ep := range l.Endpoints {
					k := att{ep.Device, ep.EndPoint}
					if ep.Device != dev || used[k] {
						continue
					}
					if pick == nil || (isHost[far[k]] && !isHost[far[*pick]]) {
						pick = &k
					}
				}
			}
		}
		if pick == nil {
			p.checks = append(p.checks, change.Check{Name: "l2.service_isolation_" + s.ID, Level: change.L2, Status: change.Skip,
				Message: fmt.Sprintf("not probed: %s and %s have no other linked interface to put a non-member host behind", a.Device, b.Device)})
			continue
		}
		p.add(s.ID, false, emulation.ProbeSpec{ID: "isolation:" + s.ID, Kind: emulation.ProbeL2Ping, Src: pick.dev, SrcPort: pick.ifc, Dst: b.Device, DstPort: b.Interface, Count: 3, Timeout: 500 * time.Millisecond})
	}
	return p, nil
}

func (p *attachmentPlan) add(svc string, reach bool, spec emulation.ProbeSpec) {
	p.specs = append(p.specs, spec)
	p.expect = append(p.expect, reach)
	p.svc = append(p.svc, svc)
}

// judge turns the probe results into checks: a reach probe passes when answered; an
// isolation probe passes when it ran (its test hosts were set up) and got no reply.
func (p *attachmentPlan) judge(res []emulation.ProbeResult) []change.Check {
	out := make([]change.Check, 0, len(res))
	for i := range res {
		r := &res[i]
		c := change.Check{Level: change.L2, Status: change.Fail, Evidence: r}
		if p.expect[i] {
			c.Name = "l2.service_reach_" + p.svc[i]
			if r.OK {
				c.Status = change.Pass
				c.Message = fmt.Sprintf("%s reaches %s over the service: %d/%d replies, median rtt %.3f ms", r.Src, r.Dst, r.Ping.Received, r.Ping.Sent, r.Ping.RTTMedianMs)
			} else {
				c.Message = "the service's endpoints do not reach each other: " + r.Error
			}
		} else {
			c.Name = "l2.service_isolation_" + p.svc[i]
			switch {
			case r.OK:
				c.Message = fmt.Sprintf("non-member %s reaches member %s (%d/%d replies): the service is not isolated", r.Src, r.Dst, r.Ping.Received, r.Ping.Sent)
			case r.Ping == nil:
				c.Message = "the isolation probe did not run: " + r.Error
			default:
				c.Status = change.Pass
				c.Message = fmt.Sprintf("non-member %s does not reach member %s: %d sent, 0 received", r.Src, r.Dst, r.Ping.Sent)
			}
		}
		out = append(out, c)
	}
	return out
}
