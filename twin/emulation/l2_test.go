package emulation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/labtest"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/network"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/twin/emulation"
)

// gnmiConfigurer pushes config rules with the production gNMI driver (physical/gnmi).
type gnmiConfigurer struct{}

func (gnmiConfigurer) Push(ctx context.Context, node emulation.NodeInfo, rules []network.ConfigRule) error {
	return tfgnmi.ApplyRules(ctx, tfgnmi.Options{Address: node.GNMIAddress, Insecure: true}, rules)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("L2 sandbox test needs root and TWINFLOW_REQUIRE_INTEGRATION=1 is set")
		}
		t.Skip("L2 sandbox test needs root")
	}
}

func staticRoute(prefix, nextHop string) network.ConfigRule {
	return network.ConfigRule{
		Action:        network.ConfigSet,
		ResourceKey:   "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]",
		ResourceValue: fmt.Sprintf(`{"static-routes":{"static":[{"prefix":%q,"next-hops":{"next-hop":[{"index":"0","config":{"next-hop":%q}}]}}]}}`, prefix, nextHop),
	}
}

// TestL2RejectsWrongNextHop: a change that is fine in the model (vector A's paths are
// untouched) but adds, on n1, a static route to n3's address pointing back at n0 is
// rejected at L2; the failing ping is the evidence. The same change with the right next
// hop passes. Device configs go through twinflow-node's gNMI agent with the production
// driver.
func TestL2RejectsWrongNextHop(t *testing.T) {
	requireRoot(t)
	bin := nodetest.Binary(t)
	raw, err := os.ReadFile("../../labs/vector-a/network.json")
	if err != nil {
		t.Fatal(err)
	}
	var n network.Network
	if err := json.Unmarshal(raw, &n); err != nil {
		t.Fatal(err)
	}
	labtest.Lock(t, "tfe-l2")
	b := &emulation.Netns{
		Options:  emulation.Options{Lab: "l2", Prefix: "tfe-"},
		NodeCmd:  []string{bin, "--dataplane", "linux", "--insecure"},
		ProbeCmd: []string{bin, "probe"},
		Config:   gnmiConfigurer{},
		StateDir: t.TempDir(),
	}
	t.Cleanup(func() {
		if err := b.Destroy(context.Background()); err != nil {
			t.Errorf("destroy: %v", err)
		}
		if left, _ := emulation.LabNamespaces(context.Background(), "tfe-l2"); len(left) > 0 {
			t.Errorf("namespaces left behind: %v", left)
		}
	})
	sb := &emulation.Sandbox{Backend: b, Config: gnmiConfigurer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// n3's address is 10.0.0.4; from n1 the right next hop is n2 (10.128.0.6), the wrong
	// one n0 (10.128.0.1), which sends the packets straight back: a loop.
	change := func(nextHop string) *network.Network {
		m := n
		m.Devices = append([]network.Device(nil), n.Devices...)
		m.Devices[1].ConfigRules = []network.ConfigRule{staticRoute("10.0.0.4/32", nextHop)}
		return &m
	}
	probes := []emulation.ProbeSpec{{ID: "ping:n1->n3", Kind: emulation.ProbePing, Src: "n1", Dst: "n3", Count: 3, Timeout: 300 * time.Millisecond}}

	rep, err := sb.Validate(ctx, change("10.128.0.1"), probes)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pass {
		t.Fatalf("wrong next hop passed L2: %+v", rep.Checks)
	}
	ev := rep.Checks[0].Evidence
	if rep.Checks[0].Pass || ev == nil || ev.Ping == nil || ev.Ping.Received != 0 || ev.Ping.Sent != 3 {
		t.Fatalf("first check should be the failing ping with evidence: %+v", rep.Checks[0])
	}
	t.Logf("rejected: %s: %s; evidence %s", rep.Checks[0].Name, rep.Checks[0].Detail, ev.Evidence)
	// The route really is on the node (pushed through gNMI, not by the test).
	out, _ := exec.Command("ip", "-n", "tfe-l2.n1", "route", "show", "10.0.0.4").CombinedOutput()
	if !strings.Contains(string(out), "10.0.0.4 via 10.128.0.1 dev eth1 proto ospf") { // rtnetlink protocol 188 prints as "ospf"
		t.Errorf("n1 routes to 10.0.0.4:\n%s", out)
	}

	// The right next hop passes, with everything the change implies: a ping per flow
	// and the six flows as TCP, goodput within tolerance of the max-min prediction.
	good := change("10.128.0.6")
	rep, err = sb.Validate(ctx, good, append(probes, emulation.ImpliedProbes(good, "cubic", 5*time.Second)...))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Comparison == nil || len(rep.Comparison.Rows) != 6 || len(rep.Checks) != 1+6+6 { // explicit ping, a ping per flow, a goodput check per flow
		t.Fatalf("comparison = %+v, %d checks", rep.Comparison, len(rep.Checks))
	}
	for _, c := range rep.Checks {
		t.Logf("%v %s: %s", c.Pass, c.Name, c.Detail)
	}
	if !rep.Pass {
		for _, ns := range []string{"n0", "n1", "n2", "n3"} {
			out, _ := exec.Command("ip", "-n", "tfe-l2."+ns, "route").CombinedOutput()
			a, _ := exec.Command("ip", "-n", "tfe-l2."+ns, "-br", "addr").CombinedOutput()
			t.Logf("%s:\n%s%s", ns, out, a)
		}
		t.Fatalf("right next hop failed L2: %+v", rep.Checks)
	}
}
