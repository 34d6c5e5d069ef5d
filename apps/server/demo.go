package server

import (
	"context"
	"fmt"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin"
)

// demoSummary says what loadDemo put into the live twin.
type demoSummary struct {
	Spec                  string
	Devices, Links, Flows int
	SampleLink            string
}

// loadDemo generates the demo network, gives its switches underlay addresses
// (demoUnderlay) and adds one flow from every host to a host on another leaf (shortest
// path, every other flow capped at 2 Gb/s), in one transaction.
func loadDemo(ctx context.Context, live *twin.Twin, spec string) (*demoSummary, error) {
	n, err := network.Generate(spec, 1)
	if err != nil {
		return nil, err
	}
	demoUnderlay(n)
	n.Flows = demoFlows(n)
	if _, err := live.Update(ctx, func(tx *twin.Txn) error {
		_, err := tx.Apply(n)
		return err
	}); err != nil {
		return nil, err
	}
	s := &demoSummary{Spec: spec, Devices: len(n.Devices), Links: len(n.Links), Flows: len(n.Flows)}
	for _, l := range n.Links {
		if l.Endpoints[0].Device != "" && len(n.Links) > 0 {
			s.SampleLink = l.ID
			break
		}
	}
	return s, nil
}

// demoUnderlay labels every device that is not a host with an underlay (tunnel source)
// address, 10.255.<i/250>.<i%250+1> for the i-th such device in device order
// (service.LabelUnderlay), so the demo's switches can be the PEs of services (L2VPN,
// L3VPN: VXLAN between underlay addresses). The generated devices have no loopback
// configuration to take it from, and the stand-in nodes' sim dataplane keeps the VXLAN
// configuration without sending packets, so a label is all the demo needs. A device
// that already has the label keeps it; devices past the 64,000th get none.
func demoUnderlay(n *network.Network) {
	i := 0
	for k := range n.Devices {
		d := &n.Devices[k]
		if d.Type == network.DeviceHost || i >= 250*256 { // 10.255.0.0/16 holds 64,000
			continue
		}
		if d.Labels == nil {
			d.Labels = map[string]string{}
		}
		if _, ok := d.Labels[service.LabelUnderlay]; !ok {
			d.Labels[service.LabelUnderlay] = fmt.Sprintf("10.255.%d.%d", i/250, i%250+1)
		}
		i++
	}
}

// demoFlows pairs each host with the host at the same position half the host list
// away and routes the flow on a shortest path (breadth-first, in link order).
func demoFlows(n *network.Network) []network.Flow {
	var hosts []string
	for _, d := range n.Devices {
		if d.Type == network.DeviceHost {
			hosts = append(hosts, d.ID)
		}
	}
	if len(hosts) < 2 {
		return nil
	}
	ix := n.Index()
	var flows []network.Flow
	for i, src := range hosts {
		dst := hosts[(i+len(hosts)/2)%len(hosts)]
		if dst == src {
			continue
		}
		path := shortestPath(ix, src, dst)
		if path == nil {
			continue
		}
		f := network.Flow{ID: fmt.Sprintf("flow-%d", i+1), Src: src, Dst: dst, Path: path, Owner: "demo"}
		if i%2 == 1 {
			d := 2.0
			f.DemandGbps = &d
		}
		flows = append(flows, f)
	}
	return flows
}

func shortestPath(ix *network.Index, src, dst string) []string {
	type hop struct{ prev, via string }
	seen := map[string]hop{src: {}}
	queue := []string{src}
	for len(queue) > 0 {
		at := queue[0]
		queue = queue[1:]
		if at == dst {
			var path []string
			for cur := dst; cur != src; cur = seen[cur].prev {
				path = append([]string{seen[cur].via}, path...)
			}
			return path
		}
		for _, dl := range ix.Out(at) {
			if _, ok := seen[dl.To.Device]; ok {
				continue
			}
			seen[dl.To.Device] = hop{prev: at, via: dl.ID}
			queue = append(queue, dl.To.Device)
		}
	}
	return nil
}
