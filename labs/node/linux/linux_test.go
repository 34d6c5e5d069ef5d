package linux_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/standin"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	tfgnmi "github.com/twinflow/twinflow/physical/gnmi"
)

func TestMain(m *testing.M) {
	code := m.Run()
	nodetest.Cleanup()
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("ip"); err == nil {
			return
		}
	}
	msg := "needs root and iproute2 (ip) for network namespaces"
	if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netns creates a network namespace with lo up, deleted at test end (even on failure).
func netns(t *testing.T, name string) {
	t.Helper()
	_ = exec.Command("ip", "netns", "del", name).Run()
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
}

func apply(t *testing.T, c *tfgnmi.Client, ops ...tfgnmi.Op) {
	t.Helper()
	if _, err := c.Apply(context.Background(), ops); err != nil {
		t.Fatal(err)
	}
}

func op(kind tfgnmi.OpKind, path, value string) tfgnmi.Op {
	o := tfgnmi.Op{Kind: kind, Path: path}
	if value != "" {
		o.Value = json.RawMessage(value)
	}
	return o
}

// TestTwoNodesPing: two twinflow-node processes with the linux dataplane in their own
// namespaces joined by a veth; addresses, MTU and a static route are configured over
// gNMI and a ping crosses; then the route moves into a network instance (routing table
// plus ip rules) and only traffic sourced in that instance still reaches.
func TestTwoNodesPing(t *testing.T) {
	requireRoot(t)
	suffix := fmt.Sprintf("%d", os.Getpid()%100000)
	nsA, nsB := "tfn-"+suffix+"-a", "tfn-"+suffix+"-b"
	netns(t, nsA)
	netns(t, nsB)
	run(t, "ip", "link", "add", "tfnva"+suffix, "type", "veth", "peer", "name", "tfnvb"+suffix)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "tfnva"+suffix).Run() })
	run(t, "ip", "link", "set", "tfnva"+suffix, "netns", nsA, "name", "va")
	run(t, "ip", "link", "set", "tfnvb"+suffix, "netns", nsB, "name", "vb")

	bin := nodetest.Binary(t)
	start := func(name, ns string, ports ...string) *tfgnmi.Client {
		n, err := standin.StartNode(context.Background(), bin, standin.NodeSpec{Name: name, NetNS: ns, Dataplane: "linux", Ports: ports, StateInterval: 50 * time.Millisecond}, nil)
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
	a := start("a", nsA, "va")
	b := start("b", nsB, "vb", "lo")

	addr := func(ifc, ip string, plen int) tfgnmi.Op {
		return op(tfgnmi.OpUpdate, "/interfaces/interface[name="+ifc+"]/subinterfaces/subinterface[index=0]",
			fmt.Sprintf(`{"index":0,"openconfig-if-ip:ipv4":{"addresses":{"address":[{"ip":%q,"config":{"ip":%q,"prefix-length":%d}}]}}}`, ip, ip, plen))
	}
	const staticBase = "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]"
	route := `{"static-routes":{"static":[{"prefix":"10.99.0.0/24","next-hops":{"next-hop":[{"index":"0","config":{"next-hop":"10.0.0.2"}}]}}]}}`
	apply(t, a,
		op(tfgnmi.OpUpdate, "/interfaces/interface[name=va]/config", `{"enabled":true,"mtu":1400}`),
		addr("va", "10.0.0.1", 30),
		op(tfgnmi.OpUpdate, staticBase, route),
	)
	apply(t, b,
		op(tfgnmi.OpUpdate, "/interfaces/interface[name=vb]/config", `{"enabled":true,"mtu":1400}`),
		addr("vb", "10.0.0.2", 30),
		addr("lo", "10.99.0.1", 32),
	)
	if out := run(t, "ip", "-n", nsA, "-4", "addr", "show", "dev", "va"); !strings.Contains(out, "10.0.0.1/30") || !strings.Contains(out, "mtu 1400") {
		t.Fatalf("va not configured:\n%s", out)
	}
	if out := run(t, "ip", "-n", nsA, "route", "show", "10.99.0.0/24"); !strings.Contains(out, "via 10.0.0.2") {
		t.Fatalf("static route missing:\n%s", out)
	}
	// Ping with twinflow-node's own probe (labs/probe): no ping binary is needed.
	t.Log(run(t, "ip", "netns", "exec", nsA, bin, "probe", "ping", "--dst", "10.99.0.1", "--count", "3", "--interval", "200ms"))

	// Kernel counters and oper-status come back over gNMI (state at most 50 ms old:
	// poll until it reflects the ping, rather than sleep and hope).
	for deadline := time.Now().Add(10 * time.Second); ; {
		vs, err := a.GetJSON(context.Background(), 0, "/interfaces/interface[name=va]/state")
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			Oper     string `json:"oper-status"`
			Counters struct {
				OutPkts string `json:"out-pkts"`
			} `json:"counters"`
		}
		if err := json.Unmarshal(vs[0].JSON, &st); err != nil {
			t.Fatal(err)
		}
		if st.Oper == "UP" && st.Counters.OutPkts != "0" && st.Counters.OutPkts != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("va state %s; want oper UP and out-pkts > 0", vs[0].JSON)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Move va and the route into network instance "blue".
	apply(t, a,
		op(tfgnmi.OpDelete, staticBase, ""),
		op(tfgnmi.OpUpdate, "/network-instances/network-instance[name=blue]",
			`{"config":{"type":"openconfig-network-instance-types:L3VRF"},"interfaces":{"interface":[{"id":"va","config":{"interface":"va","subinterface":0}}]},
			  "protocols":{"protocol":[{"identifier":"STATIC","name":"static",`+route[1:len(route)-1]+`}]}}`),
	)
	rules := run(t, "ip", "-n", nsA, "rule", "show")
	if !strings.Contains(rules, "iif va lookup 1000") || !strings.Contains(rules, "from 10.0.0.1 lookup 1000") {
		t.Fatalf("ip rules for the instance missing:\n%s", rules)
	}
	if out := run(t, "ip", "-n", nsA, "route", "show", "table", "1000"); !strings.Contains(out, "10.99.0.0/24 via 10.0.0.2") {
		t.Fatalf("instance table lacks the route:\n%s", out)
	}
	if out := run(t, "ip", "-n", nsA, "route", "show", "10.99.0.0/24"); strings.TrimSpace(out) != "" {
		t.Fatalf("main table still has the route:\n%s", out)
	}
	t.Log(run(t, "ip", "netns", "exec", nsA, bin, "probe", "ping", "--dst", "10.99.0.1", "--count", "2", "--interval", "200ms", "--src", "10.0.0.1"))
	// Traffic not sourced in the instance has no route any more.
	if out, err := exec.Command("ip", "netns", "exec", nsA, bin, "probe", "ping", "--dst", "10.99.0.1", "--count", "1", "--timeout", "500ms").CombinedOutput(); err == nil {
		t.Fatalf("ping outside the instance succeeded:\n%s", out)
	}

	// A rejected Set leaves the kernel alone.
	_, err := a.Apply(context.Background(), []tfgnmi.Op{
		op(tfgnmi.OpUpdate, "/interfaces/interface[name=va]/config/mtu", `1300`),
		op(tfgnmi.OpUpdate, "/interfaces/interface[name=nope]/config/mtu", `1300`),
	})
	if err == nil {
		t.Fatal("Set with an unknown port succeeded")
	}
	if out := run(t, "ip", "-n", nsA, "link", "show", "va"); !strings.Contains(out, "mtu 1400") {
		t.Fatalf("mtu changed by a rejected Set:\n%s", out)
	}
	// Removing the instance cleans rules and table.
	apply(t, a, op(tfgnmi.OpDelete, "/network-instances/network-instance[name=blue]", ""))
	if rules := run(t, "ip", "-n", nsA, "rule", "show"); strings.Contains(rules, "lookup 1000") {
		t.Fatalf("rules left after deleting the instance:\n%s", rules)
	}
	if out := run(t, "ip", "-n", nsA, "route", "show", "table", "1000"); strings.TrimSpace(out) != "" {
		t.Fatalf("table 1000 not empty after deleting the instance:\n%s", out)
	}
}
