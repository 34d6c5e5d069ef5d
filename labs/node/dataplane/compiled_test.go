package dataplane

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/ocpath"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/models/schema"
	"github.com/twinflow/twinflow/models/service"
)

func applyOps(t *testing.T, tr *schema.Tree, ops []change.Op) {
	t.Helper()
	for i, op := range ops {
		p, err := ocpath.Parse(op.Path)
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		switch op.Op {
		case change.OpUpdate:
			err = tr.Update(p, op.Value)
		case change.OpReplace:
			err = tr.Replace(p, op.Value)
		case change.OpDelete:
			err = tr.Delete(p)
		}
		if err != nil {
			t.Fatalf("op %d %s %s: %v", i, op.Op, op.Path, err)
		}
	}
}

// TestCompiledServicesFitTheNode (REQ-SERV-01/02): what models/service compiles for an
// L3VPN, an L2VPN and an SR policy is accepted by the node's schema and dataplane
// checks on every device it touches, and its deletion leaves no instance, tunnel or
// route behind.
func TestCompiledServicesFitTheNode(t *testing.T) {
	net, err := network.Ring(6)
	if err != nil {
		t.Fatal(err)
	}
	g, err := routing.NewGraph(net)
	if err != nil {
		t.Fatal(err)
	}
	env := &service.Env{Network: net, Graph: g, Underlay: map[string]netip.Addr{}, SIDs: map[string]netip.Addr{}, Now: time.Unix(0, 0)}
	ports := map[string][]Port{}
	for i, d := range net.Devices {
		env.Underlay[d.ID] = netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
		env.SIDs[d.ID] = netip.MustParseAddr(fmt.Sprintf("fc00::%x", i+1))
		ports[d.ID] = append(ports[d.ID], Port{Name: "eth9"})
		for _, ep := range d.Endpoints {
			ports[d.ID] = append(ports[d.ID], Port{Name: ep.ID})
		}
	}
	reg := service.DefaultRegistry()
	for _, s := range []*service.Service{
		{ID: "acme", Type: service.L3VPN, L3: &service.L3Options{RD: "65000:1", VNIBase: 100},
			Endpoints: []service.Endpoint{{Device: "r-0", Interface: "eth9", Address: "10.1.0.1/24"}, {Device: "r-2", Interface: "eth9", Address: "10.2.0.1/24"}, {Device: "r-4", Interface: "eth9", Address: "10.3.0.1/24"}}},
		{ID: "wire", Type: service.L2VPN, L2: &service.L2Options{VNI: 42},
			Endpoints: []service.Endpoint{{Device: "r-1", Interface: "eth9"}, {Device: "r-4", Interface: "eth9"}}},
		{ID: "prot", Type: service.L2VPN, L2: &service.L2Options{VNI: 43},
			Endpoints:   []service.Endpoint{{Device: "r-0", Interface: "eth9"}, {Device: "r-3", Interface: "eth9"}},
			Constraints: service.Constraints{Availability: 2, Protection: service.OnePlusOne, Disjointness: "node"}},
		{ID: "te1", Type: service.SRPolicy, SR: &service.SROptions{Prefix: "10.9.0.0/16"},
			Endpoints: []service.Endpoint{{Device: "r-0"}, {Device: "r-3"}}},
	} {
		t.Run(s.ID, func(t *testing.T) {
			create, err := reg.Create(env, s)
			if err != nil {
				t.Fatal(err)
			}
			del, err := reg.Delete(env, s)
			if err != nil {
				t.Fatal(err)
			}
			for _, dev := range create.Devices() {
				tr := schema.NewTree(schema.Root())
				applyOps(t, tr, create.DeviceOps[dev])
				cfg, err := FromTree(tr, ports[dev])
				if err != nil {
					t.Fatalf("%s: compiled config refused by the node: %v", dev, err)
				}
				switch s.Type {
				case service.L3VPN:
					ni := cfg.Instances["acme"]
					if ni.RD != "65000:1" || len(ni.Routes) != 2 || len(ni.Interfaces) != 3 {
						t.Fatalf("%s: instance %+v", dev, ni)
					}
				case service.L2VPN:
					if s.ID == "prot" {
						checkProtected(t, dev, cfg)
						break
					}
					if ni := cfg.Instances["bd42"]; ni.Type != InstanceL2VSI || len(ni.Interfaces) != 2 || cfg.Interfaces["vx42"].VXLAN == nil {
						t.Fatalf("%s: %+v", dev, cfg)
					}
				case service.SRPolicy:
					r := cfg.Instances[DefaultInstance].Routes
					if len(r) != 1 || r[0].SRv6 == nil || len(r[0].SRv6.Segments) == 0 {
						t.Fatalf("%s: routes %+v", dev, r)
					}
				}
				applyOps(t, tr, del.DeviceOps[dev])
				cfg, err = FromTree(tr, ports[dev])
				if err != nil {
					t.Fatal(err)
				}
				for n, ni := range cfg.Instances {
					if s.ID == "prot" && n == DefaultInstance && len(ni.Routes) > 0 && ni.Routes[0].Metric == service.ProtectionRouteMetric {
						continue // the per-path underlay routes are needed, not owned: they stay
					}
					if n != DefaultInstance || len(ni.Routes) > 0 {
						t.Fatalf("%s: instance %s left after deletion: %+v", dev, n, ni)
					}
				}
				for n, ifc := range cfg.Interfaces {
					if ifc.VXLAN != nil || len(ifc.Addresses) > 0 {
						t.Fatalf("%s: interface %s left configured: %+v", dev, n, ifc)
					}
				}
			}
		})
	}
}

// checkProtected: on the PEs of a 1+1 L2VPN, two tunnels with VNI 43 on ports 4789 and
// 4790, each bound to another port, without learning, in split horizon, in the
// bridge with the access port; on every device, a route to the far PE's underlay
// address with interface-bound next hops.
func checkProtected(t *testing.T, dev string, cfg Config) {
	t.Helper()
	routes := cfg.Instances[DefaultInstance].Routes
	if len(routes) == 0 || len(routes[0].NextHopInterfaces) != len(routes[0].NextHops) || routes[0].NextHopInterfaces[0] == "" || routes[0].Metric != service.ProtectionRouteMetric {
		t.Fatalf("%s: routes %+v", dev, routes)
	}
	if dev != "r-0" && dev != "r-3" {
		if len(routes) != 2 || len(cfg.Instances) != 1 { // transit: both directions of one path, nothing else
			t.Fatalf("transit %s: %+v", dev, cfg.Instances)
		}
		return
	}
	a, b := cfg.Interfaces["vx43"].VXLAN, cfg.Interfaces["vx43p1"].VXLAN
	if a == nil || b == nil || a.VNI != 43 || b.VNI != 43 || a.Port != 4789 || b.Port != 4790 || a.Underlay == b.Underlay ||
		!a.NoLearning || !b.NoLearning || !a.SplitHorizon || !b.SplitHorizon {
		t.Fatalf("%s: tunnels %+v %+v", dev, a, b)
	}
	if ni := cfg.Instances["bd43"]; len(ni.Interfaces) != 3 {
		t.Fatalf("%s: bridge %+v", dev, ni)
	}
	if len(routes) != 1 || len(routes[0].NextHops) != 2 {
		t.Fatalf("%s: PE routes %+v", dev, routes)
	}
}
