package linux_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/node/linux"
	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

// TestL2ServiceOverVXLAN (REQ-SERV-01 L2VPN, REQ-TE-03 SR paths): two twinflow-node
// processes with the linux dataplane, joined by a veth underlay. Over gNMI each gets a
// VXLAN interface and an L2VSI instance bridging it with an access port; hosts on the
// access ports (addresses set by the test, as a customer would) reach each other over
// the overlay. An SRv6 encapsulating route is installed as a seg6 lwtunnel with the
// segments in travel order. Deleting the instance and the VXLAN interface removes the
// bridge and the tunnel, and the hosts no longer reach each other.
func TestL2ServiceOverVXLAN(t *testing.T) {
	requireRoot(t)
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	nsA, nsB := "tfs-"+suffix+"-a", "tfs-"+suffix+"-b"
	netns(t, nsA)
	netns(t, nsB)
	veth := func(a, b, nsa, na, nsb, nb string) {
		run(t, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
		t.Cleanup(func() { _ = exec.Command("ip", "link", "del", a).Run() })
		run(t, "ip", "link", "set", a, "netns", nsa, "name", na)
		run(t, "ip", "link", "set", b, "netns", nsb, "name", nb)
	}
	veth("tfsu"+suffix, "tfsv"+suffix, nsA, "ua", nsB, "ub")
	// access port pX and the customer's host end cX, both in the node's namespace
	run(t, "ip", "-n", nsA, "link", "add", "pa", "type", "veth", "peer", "name", "ca")
	run(t, "ip", "-n", nsB, "link", "add", "pb", "type", "veth", "peer", "name", "cb")
	for _, c := range [][]string{{nsA, "ca", "10.50.0.1/24"}, {nsB, "cb", "10.50.0.2/24"}} {
		run(t, "ip", "-n", c[0], "addr", "add", c[2], "dev", c[1])
		run(t, "ip", "-n", c[0], "link", "set", c[1], "up")
	}
	bin := startNodes(t)
	a := bin.start(t, "a", nsA, "ua", "pa")
	b := bin.start(t, "b", nsB, "ub", "pb")

	service := func(self, peer, underlay, access string) []tfgnmi.Op {
		return []tfgnmi.Op{
			op(tfgnmi.OpUpdate, "/interfaces/interface[name="+underlay+"]", fmt.Sprintf(`{"config":{"enabled":true},"subinterfaces":{"subinterface":[{"index":0,"openconfig-if-ip:ipv4":{"addresses":{"address":[{"ip":%q,"config":{"prefix-length":30}}]}}}]}}`, self)),
			op(tfgnmi.OpUpdate, "/interfaces/interface[name="+access+"]/config", `{"enabled":true}`),
			op(tfgnmi.OpUpdate, "/interfaces/interface[name=vx42]", fmt.Sprintf(`{"config":{"enabled":true},"twinflow-vxlan:vxlan":{"config":{"vni":42,"local-address":%q,"remote-address":%q}}}`, self, peer)),
			op(tfgnmi.OpUpdate, "/network-instances/network-instance[name=l2svc]", `{"config":{"type":"openconfig-network-instance-types:L2VSI"},
				"interfaces":{"interface":[{"id":"`+access+`","config":{"interface":"`+access+`"}},{"id":"vx42","config":{"interface":"vx42"}}]}}`),
		}
	}
	apply(t, a, service("192.0.2.1", "192.0.2.2", "ua", "pa")...)
	apply(t, b, service("192.0.2.2", "192.0.2.1", "ub", "pb")...)
	for _, ns := range []string{nsA, nsB} {
		out := run(t, "ip", "-n", ns, "-d", "link", "show", "vx42")
		if !strings.Contains(out, "vxlan id 42") || !strings.Contains(out, "master l2svc") || !strings.Contains(out, "alias "+linux.OwnedAlias) {
			t.Fatalf("%s: vx42 not a VXLAN in l2svc:\n%s", ns, out)
		}
	}
	if out := run(t, "ip", "-n", nsA, "link", "show", "pa"); !strings.Contains(out, "master l2svc") {
		t.Fatalf("pa not in the bridge:\n%s", out)
	}
	t.Log(run(t, "ip", "netns", "exec", nsA, bin.path, "probe", "ping", "--dst", "10.50.0.2", "--src", "10.50.0.1", "--count", "3", "--interval", "200ms"))

	// SRv6 encapsulation route, segments in travel order. Kernels built without
	// CONFIG_IPV6_SEG6_LWTUNNEL refuse it: then the Set must fail naming that, and
	// leave the node as it was (the overlay still works).
	_, err := a.Apply(context.Background(), []tfgnmi.Op{op(tfgnmi.OpUpdate, "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]",
		`{"static-routes":{"static":[{"prefix":"10.77.0.0/24","next-hops":{"next-hop":[{"index":"sr","twinflow-srv6:srv6":{"config":{"mode":"ENCAP","interface":"ua"},
		  "segments":{"segment":[{"index":0,"config":{"sid":"fc00::2"}},{"index":1,"config":{"sid":"fc00::3"}}]}}}]}}]}}`)})
	route := run(t, "ip", "-n", nsA, "route", "show", "10.77.0.0/24")
	switch {
	case err == nil:
		if !strings.Contains(route, "encap seg6 mode encap segs 2 [ fc00::2 fc00::3 ]") || !strings.Contains(route, "dev ua") {
			t.Fatalf("seg6 route:\n%s", route)
		}
	case strings.Contains(err.Error(), linux.NoSeg6Message):
		t.Logf("this kernel has no seg6 lwtunnel: the SRv6 route was refused (%v)", err)
		if strings.TrimSpace(route) != "" {
			t.Fatalf("a refused SRv6 route left %q", route)
		}
		run(t, "ip", "netns", "exec", nsA, bin.path, "probe", "ping", "--dst", "10.50.0.2", "--src", "10.50.0.1", "--count", "1", "--interval", "200ms")
	default:
		t.Fatalf("SRv6 route: %v", err)
	}

	// Tear down: the bridge and the tunnel go, the hosts no longer reach each other.
	apply(t, a,
		op(tfgnmi.OpDelete, "/network-instances/network-instance[name=l2svc]", ""),
		op(tfgnmi.OpDelete, "/interfaces/interface[name=vx42]", ""),
		op(tfgnmi.OpDelete, "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]", ""),
	)
	if out := run(t, "ip", "-n", nsA, "link", "show"); strings.Contains(out, "vx42") || strings.Contains(out, "l2svc") {
		t.Fatalf("virtual links left after deleting the service:\n%s", out)
	}
	if out := run(t, "ip", "-n", nsA, "route", "show", "10.77.0.0/24"); strings.TrimSpace(out) != "" {
		t.Fatalf("seg6 route left:\n%s", out)
	}
	if out, err := exec.Command("ip", "netns", "exec", nsA, bin.path, "probe", "ping", "--dst", "10.50.0.2", "--src", "10.50.0.1", "--count", "1", "--timeout", "500ms").CombinedOutput(); err == nil {
		t.Fatalf("hosts still reach each other without the service:\n%s", out)
	}
}

type nodeBin struct{ path string }

func startNodes(t *testing.T) nodeBin { return nodeBin{path: nodetest.Binary(t)} }

// start runs a linux-dataplane node in ns over ports, stopped at test end.
func (nb nodeBin) start(t *testing.T, name, ns string, ports ...string) *tfgnmi.Client {
	t.Helper()
	n, err := standin.StartNode(context.Background(), nb.path, standin.NodeSpec{Name: name, NetNS: ns, Dataplane: "linux", Ports: ports, StateInterval: 50 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		n.Stop()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, n.Stderr())
		}
	})
	c, err := tfgnmi.Dial(n.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestProtectedTunnelsProgrammed (REQ-SLI-04): one linux-dataplane node with two
// underlay ports gets, over gNMI, what a protected L2VPN compiles to on a PE: two
// tunnels with one VNI on ports 4789 and 4790, each bound to its own underlay port,
// without learning and in split horizon in the bridge, and a route to the far PE
// with two on-link next hops, one per port. The kernel holds exactly that; turning
// split horizon off and learning on reconciles the bridge ports, and deleting the
// tunnels removes them.
func TestProtectedTunnelsProgrammed(t *testing.T) {
	requireRoot(t)
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	ns, peer := "tfp-"+suffix+"-a", "tfp-"+suffix+"-b"
	netns(t, ns)
	netns(t, peer)
	for _, p := range []string{"u1", "u2"} {
		run(t, "ip", "-n", ns, "link", "add", p, "type", "veth", "peer", "name", p+"x", "netns", peer)
	}
	run(t, "ip", "-n", ns, "link", "add", "pa", "type", "veth", "peer", "name", "ca")
	a := startNodes(t).start(t, "a", ns, "u1", "u2", "pa")
	tunnel := func(name string, port int, underlay string, learning, split bool) tfgnmi.Op {
		return op(tfgnmi.OpUpdate, "/interfaces/interface[name="+name+"]", fmt.Sprintf(`{"config":{"enabled":true},"twinflow-vxlan:vxlan":{"config":{"vni":7,
			"local-address":"192.0.2.1","remote-address":"192.0.2.2","destination-port":%d,"underlay-interface":%q,"learning":%v,"split-horizon":%v}}}`, port, underlay, learning, split))
	}
	apply(t, a,
		tunnel("vx7", 4789, "u1", false, true), tunnel("vx7p1", 4790, "u2", false, true),
		op(tfgnmi.OpUpdate, "/network-instances/network-instance[name=bd7]", `{"config":{"type":"openconfig-network-instance-types:L2VSI"},
			"interfaces":{"interface":[{"id":"pa","config":{"interface":"pa"}},{"id":"vx7","config":{"interface":"vx7"}},{"id":"vx7p1","config":{"interface":"vx7p1"}}]}}`),
		op(tfgnmi.OpUpdate, "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=192.0.2.2/32]",
			`{"next-hops":{"next-hop":[{"index":"u1","config":{"next-hop":"192.0.2.11","metric":10},"interface-ref":{"config":{"interface":"u1"}}},
			  {"index":"u2","config":{"next-hop":"192.0.2.12","metric":10},"interface-ref":{"config":{"interface":"u2"}}}]}}`),
	)
	for name, want := range map[string][]string{
		"vx7":   {"vxlan id 7", "dev u1", "dstport 4789", "nolearning", "master bd7"},
		"vx7p1": {"vxlan id 7", "dev u2", "dstport 4790", "nolearning", "master bd7"},
	} {
		out := run(t, "ip", "-n", ns, "-d", "link", "show", name)
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", name, w, out)
			}
		}
		if br := run(t, "bridge", "-n", ns, "-d", "link", "show", "dev", name); !strings.Contains(br, "learning off") || !strings.Contains(br, "isolated on") {
			t.Errorf("%s bridge port flags:\n%s", name, br)
		}
	}
	route := run(t, "ip", "-n", ns, "route", "show", "192.0.2.2/32")
	for _, w := range []string{"metric 10", "nexthop via 192.0.2.11 dev u1 weight 1 onlink", "nexthop via 192.0.2.12 dev u2 weight 1 onlink"} {
		if !strings.Contains(route, w) {
			t.Errorf("route lacks %q:\n%s", w, route)
		}
	}
	// the access port keeps the bridge's defaults
	if br := run(t, "bridge", "-n", ns, "-d", "link", "show", "dev", "pa"); !strings.Contains(br, "learning on") || !strings.Contains(br, "isolated off") {
		t.Errorf("access port flags:\n%s", br)
	}

	apply(t, a, tunnel("vx7p1", 4790, "u2", true, false))
	if br := run(t, "bridge", "-n", ns, "-d", "link", "show", "dev", "vx7p1"); !strings.Contains(br, "learning on") || !strings.Contains(br, "isolated off") {
		t.Errorf("vx7p1 after learning on, split horizon off:\n%s", br)
	}
	if out := run(t, "ip", "-n", ns, "-d", "link", "show", "vx7p1"); strings.Contains(out, "nolearning") || !strings.Contains(out, "master bd7") {
		t.Errorf("vx7p1 recreated with learning, in the bridge:\n%s", out)
	}

	apply(t, a,
		op(tfgnmi.OpDelete, "/network-instances/network-instance[name=bd7]", ""),
		op(tfgnmi.OpDelete, "/interfaces/interface[name=vx7]", ""),
		op(tfgnmi.OpDelete, "/interfaces/interface[name=vx7p1]", ""),
	)
	if out := run(t, "ip", "-n", ns, "link", "show"); strings.Contains(out, "vx7") || strings.Contains(out, "bd7") {
		t.Fatalf("tunnels left:\n%s", out)
	}
}
