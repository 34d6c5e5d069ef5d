package pipeline_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/twin/emulation"
)

// TestPipelineProtectedL2VPNSurvivesLinkFailure (REQ-SLI-04, issue 15): on a leaf-spine
// twin (two leaves, two spines, two hosts per leaf), a 1+1 L2VPN between leaf-0:eth3
// and leaf-1:eth3 over two node-disjoint paths (one per spine) is compiled from the
// live twin and proposed at L2: the fork is mirrored into network namespaces of real
// twinflow-node agents (linux dataplane), the compiled tunnels, bridge and per-path
// routes pushed over gNMI, and the service's L2 probes pass. Then, in the emulation,
// a link of the first path (the spine's end of its second link, so the head PE's own
// port stays up) is set down: the test host behind leaf-0:eth3 still reaches the one
// behind leaf-1:eth3, over the second path. Control: with a link of the second path
// down as well, it no longer does (the probe can fail, and nothing but the two
// paths carries the frames).
func TestPipelineProtectedL2VPNSurvivesLinkFailure(t *testing.T) {
	if os.Geteuid() != 0 {
		requireIntegration(t, "L2 emulation of a protected service needs root for network namespaces")
	}
	bin := nodetest.Binary(t)
	n, err := network.LeafSpine(2, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.Devices {
		d := &n.Devices[i]
		// never contacted: nothing commits (noCommit fails the test if it tries)
		d.Drivers = []network.DriverKind{network.DriverGNMI}
		d.Address = fmt.Sprintf("127.0.0.1:%d", 1+i)
		if d.Type != network.DeviceHost {
			d.Labels = map[string]string{service.LabelUnderlay: fmt.Sprintf("10.255.0.%d", i+1)}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	svc, sandbox, backend := sandboxPipeline(ctx, t, n, bin, emulation.Options{Lab: "prot", Prefix: "tfq-", FirstPathWins: true})

	env, err := svc.ServiceEnv(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &service.Service{ID: "wire", Type: service.L2VPN, L2: &service.L2Options{VNI: 4242},
		Endpoints:   []service.Endpoint{{Device: "leaf-0", Interface: "eth3"}, {Device: "leaf-1", Interface: "eth3"}},
		Constraints: service.Constraints{Availability: 2, Protection: service.OnePlusOne, Disjointness: "node"}}
	cs, err := service.DefaultRegistry().Create(env, s)
	if err != nil {
		t.Fatal(err)
	}
	cs.Level = change.L2
	ch, err := svc.Propose(ctx, cs, "bo")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ch.Report.Checks {
		t.Logf("%s %s: %s", c.Status, c.Name, c.Message)
	}
	if ch.State != change.StateValidated {
		dumpLab(t, backend)
		t.Fatalf("protected L2VPN: state %s; want validated", ch.State)
	}
	reach := false
	for _, c := range ch.Report.Checks {
		reach = reach || (c.Name == "l2.service_reach_wire" && c.Status == change.Pass)
	}
	if !reach {
		t.Fatal("no passing l2.service_reach_wire check")
	}

	// The two paths leaf-0 -> leaf-1 (flows p0 and p1), each over one spine.
	var p0, p1 []string
	for _, f := range cs.Twin.AddFlows {
		switch {
		case f.Src == "leaf-0" && strings.HasSuffix(f.ID, "/p0"):
			p0 = f.Path
		case f.Src == "leaf-0" && strings.HasSuffix(f.ID, "/p1"):
			p1 = f.Path
		}
	}
	if len(p0) != 2 || len(p1) != 2 {
		t.Fatalf("paths %v %v; want two links each", p0, p1)
	}
	t.Logf("path 0 %v, path 1 %v", p0, p1)
	plan := backend.Plan()
	// down sets the interface of the spine (the second link's source) on the link
	// of directed link dl down in its namespace.
	down := func(dl string) {
		t.Helper()
		var from, link string
		for _, l := range n.Links {
			fwd, rev, ok := network.LinkDirections(l)
			for _, d := range []network.DirectedLink{fwd, rev} {
				if ok && d.ID == dl {
					from, link = d.From.Device, d.Link
				}
			}
		}
		node, ok := plan.Node(from)
		if !ok {
			t.Fatalf("no lab node %q (link %s)", from, dl)
		}
		for _, ifc := range node.Ifaces {
			if ifc.Link != link {
				continue
			}
			state := "down"
			if out, err := exec.Command("ip", "-n", node.Namespace, "link", "set", "dev", ifc.Name, state).CombinedOutput(); err != nil {
				t.Fatalf("ip -n %s link set %s %s: %v %s", node.Namespace, ifc.Name, state, err, out)
			}
			t.Logf("%s %s (%s:%s)", state, link, from, ifc.Name)
			return
		}
		t.Fatalf("lab node %s has no interface on link %s", from, link)
	}
	probe := func(what string, want bool) {
		t.Helper()
		res, err := sandbox.Probe(ctx, []emulation.ProbeSpec{{ID: what, Kind: emulation.ProbeL2Ping,
			Src: "leaf-0", SrcPort: "eth3", Dst: "leaf-1", DstPort: "eth3", Count: 5, Timeout: 500 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		got := "no ping result"
		if r.Ping != nil {
			got = fmt.Sprintf("%d sent, %d received", r.Ping.Sent, r.Ping.Received)
		}
		t.Logf("%s: reach %v (%s) %s", what, r.OK, got, r.Error)
		if r.OK != want {
			dumpLab(t, backend)
			t.Fatalf("%s: leaf-0:eth3 reaches leaf-1:eth3 = %v; want %v (%s; %s)", what, r.OK, want, got, r.Error)
		}
		if !want && r.Ping == nil {
			t.Fatalf("%s: the probe did not run: %s", what, r.Error)
		}
	}
	probe("both paths up", true)
	down(p0[1])
	probe("first path's link down", true)
	down(p1[1])
	probe("a link of each path down", false)
	// Not brought back up: setting an interface down makes the kernel remove the
	// routes through it (the lab's and the agent's), and nothing re-installs them
	// until the configuration is applied again.
}

// dumpLab logs the leaves' and spines' links, bridges and routes.
func dumpLab(t *testing.T, b *emulation.Netns) {
	t.Helper()
	p := b.Plan()
	if p == nil {
		return
	}
	for _, id := range []string{"leaf-0", "leaf-1", "spine-0", "spine-1"} {
		nd, ok := p.Node(id)
		if !ok {
			continue
		}
		var out []byte
		for _, args := range [][]string{{"-d", "-br", "link"}, {"route"}, {"neigh"}} {
			o, _ := exec.Command("ip", append([]string{"-n", nd.Namespace}, args...)...).CombinedOutput()
			out = append(out, o...)
		}
		o, _ := exec.Command("bridge", "-n", nd.Namespace, "-d", "link").CombinedOutput()
		t.Logf("%s:\n%s%s", id, out, o)
	}
}
