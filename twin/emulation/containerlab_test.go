package emulation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// clabSchema returns containerlab's published topology schema, vendored under the
// repository's testdata/containerlab (found by walking up to go.mod).
func clabSchema(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "containerlab", "clab.schema.json")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

func TestParseInspectBothShapes(t *testing.T) {
	for _, f := range []string{"inspect-flat.json", "inspect-bylab.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		cts, err := ParseInspect(raw)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(cts) != 2 || cts[0].Name != "clab-tfe-va-n0" || cts[1].Name != "clab-tfe-va-n1" {
			t.Fatalf("%s: %+v", f, cts)
		}
		if cts[0].LabName != "tfe-va" || cts[0].Kind != "linux" || cts[0].State != "running" || !strings.HasPrefix(cts[0].IPv4Address, "172.20.20.2") {
			t.Errorf("%s: %+v", f, cts[0])
		}
	}
	for in, want := range map[string]string{
		`[]`:                        "containerlab inspect output",
		`{"containers": {"a": 1}}`:  `"containers": want a list of containers`,
		`{"lab": [{"kind": "x"}]}`:  `"lab"[0]: container without a name`,
		`{"containers": [1, 2, 3]}`: `"containers": want a list`,
	} {
		if _, err := ParseInspect([]byte(in)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseInspect(%s) = %v, want ErrInvalid containing %q", in, err, want)
		}
	}
}

func FuzzParseInspect(f *testing.F) {
	for _, name := range []string{"inspect-flat.json", "inspect-bylab.json"} {
		raw, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"x":[{"name":""}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cts, err := ParseInspect(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		for _, c := range cts {
			if c.Name == "" {
				t.Fatal("container without a name accepted")
			}
		}
	})
}

func TestContainerlabTopologyValidates(t *testing.T) {
	schema := clabSchema(t)
	c := &Containerlab{Options: Options{Lab: "va", Prefix: "tfe-"}, MgmtSubnet: "172.31.250.0/24"}
	topo, err := c.Topology(vectorA(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateContainerlab(schema, topo); err != nil {
		t.Fatalf("%v\n%s", err, topo)
	}
	s := string(topo)
	for _, want := range []string{"name: tfe-va", "image: twinflow-node:latest", "kind: linux", "ipv4-subnet: 172.31.250.0/24",
		"cmd: /twinflow-node --name n1 --dataplane linux --insecure --gnmi-addr :9339 --ports eth1,eth2", "network: tfe-va-mgmt"} {
		if !strings.Contains(s, want) {
			t.Errorf("topology lacks %q:\n%s", want, s)
		}
	}
	// Validation can fail: a node with an unknown key is rejected, naming it.
	bad := strings.Replace(s, "kind: linux", "kind: linux\n      colour: red", 1)
	if err := ValidateContainerlab(schema, []byte(bad)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "colour") {
		t.Errorf("bad topology: %v", err)
	}
}

// TestContainerlabGeneratedLabsValidate: files generated for 10 to 1,000 nodes
// validate against containerlab's schema.
func TestContainerlabGeneratedLabsValidate(t *testing.T) {
	schema := clabSchema(t)
	for _, spec := range []string{"ring:n=10", "fat-tree:k=4", "alto3", "wan:n=100", "wan:n=1000"} {
		n, err := network.Generate(spec, 1)
		if err != nil {
			t.Fatal(err)
		}
		c := &Containerlab{Options: Options{Lab: "gen", Prefix: "tfe-"}}
		topo, err := c.Topology(n)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		if err := ValidateContainerlab(schema, topo); err != nil {
			t.Errorf("%s (%d nodes): %v", spec, len(n.Devices), err)
		}
	}
}

// fakeClab writes a fake containerlab executable that logs its arguments and answers
// inspect with a fixture; exit status and stderr are configurable per subcommand.
func fakeClab(t *testing.T, inspectFixture string, failOn string) (bin, logPath string) {
	t.Helper()
	dir := t.TempDir()
	logPath = filepath.Join(dir, "calls.log")
	fixture, err := filepath.Abs(filepath.Join("testdata", inspectFixture))
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!/bin/sh
echo "$@" >> %q
if [ "$1" = %q ]; then echo "Error: failed to deploy: boom" >&2; exit 1; fi
case "$1" in
inspect) cat %q ;;
exec) case "$*" in
  *"probe ping"*) echo 'INFO[0000] Executed command "ping" on the node' ; echo '{"kind":"ping","dst":"10.128.0.2","sent":3,"received":3,"loss_pct":0,"rtt_min_ms":0.1,"rtt_avg_ms":0.1,"rtt_median_ms":0.1,"rtt_max_ms":0.1}' ;;
  esac ;;
esac
exit 0
`, logPath, failOn, fixture)
	bin = filepath.Join(dir, "containerlab")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, logPath
}

func TestContainerlabDrivesCLI(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	for _, fixture := range []string{"inspect-flat.json", "inspect-bylab.json"} {
		t.Run(fixture, func(t *testing.T) {
			bin, logPath := fakeClab(t, fixture, "")
			dir := t.TempDir()
			c := &Containerlab{Options: Options{Lab: "va", Prefix: "tfe-"}, Bin: bin, Dir: dir}
			n := vectorA(t)
			// Keep two nodes so the fixture matches.
			n.Devices = n.Devices[:2]
			n.Links = n.Links[:1]
			n.Flows = n.Flows[:1]
			n.Topologies = nil
			ctx := context.Background()
			if err := c.Deploy(ctx, n); err != nil {
				t.Fatal(err)
			}
			nodes, err := c.Nodes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(nodes) != 2 || nodes[0].ID != "n0" || nodes[0].GNMIAddress != "172.20.20.2:9339" || nodes[0].Address != "10.128.0.1" {
				t.Fatalf("nodes = %+v", nodes)
			}
			// Another process (a new backend value) probes from the plan left on disk.
			c2 := &Containerlab{Options: c.Options, Bin: bin, Dir: dir}
			res, err := c2.Probe(ctx, []ProbeSpec{{ID: "p", Kind: ProbePing, Src: "n0", Dst: "n1", Count: 3}})
			if err != nil || !res[0].OK || res[0].Ping.Received != 3 {
				t.Fatalf("probe = %v %+v", err, res)
			}
			if err := c.Destroy(ctx); err != nil {
				t.Fatal(err)
			}
			calls, _ := os.ReadFile(logPath)
			topo := filepath.Join(dir, "tfe-va.clab.yml")
			want := []string{
				"deploy -t " + topo + " --reconfigure",
				"inspect -t " + topo + " -f json",
				"exec -t " + topo + " --label clab-node-name=n0 --cmd /twinflow-node probe ping --dst 10.128.0.2 --src 10.128.0.1 --count 3",
				"destroy -t " + topo + " --cleanup",
			}
			for _, w := range want {
				if !bytes.Contains(calls, []byte(w)) {
					t.Errorf("calls lack %q:\n%s", w, calls)
				}
			}
			for _, f := range []string{topo, filepath.Join(dir, "tfe-va.plan.json")} {
				if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s left after destroy: %v", f, err)
				}
			}
		})
	}
}

func TestContainerlabDeployFailureCleansUp(t *testing.T) {
	bin, logPath := fakeClab(t, "inspect-flat.json", "deploy")
	c := &Containerlab{Options: Options{Lab: "va", Prefix: "tfe-"}, Bin: bin, Dir: t.TempDir()}
	err := c.Deploy(context.Background(), vectorA(t))
	if !errors.Is(err, ErrCommand) || !strings.Contains(err.Error(), "failed to deploy: boom") {
		t.Fatalf("err = %v, want ErrCommand quoting containerlab's stderr", err)
	}
	calls, _ := os.ReadFile(logPath)
	if !bytes.Contains(calls, []byte("destroy -t")) {
		t.Errorf("failed deploy not destroyed:\n%s", calls)
	}
}

// TestContainerlabDeployReal deploys vector A with the real containerlab where it can
// deploy (a container engine, /proc/modules, the twinflow-node image).
func TestContainerlabDeployReal(t *testing.T) {
	if err := ContainerlabAvailable(""); err != nil {
		// Not fatal even with TWINFLOW_REQUIRE_INTEGRATION: these machines cannot run
		// containerlab at all (see ENVIRONMENT.md); the netns backend is the CI one.
		t.Skipf("containerlab cannot deploy here: %v", err)
	}
	if out, err := exec.Command("docker", "image", "inspect", DefaultImage).CombinedOutput(); err != nil {
		t.Skipf("image %s not built (docker build -f labs/node/Dockerfile): %v %s", DefaultImage, err, out)
	}
	c := &Containerlab{Options: Options{Lab: "clab", Prefix: "tfe-"}, Dir: t.TempDir(), SchemaPath: clabSchema(t)}
	t.Cleanup(func() { _ = c.Destroy(context.Background()) })
	ctx := context.Background()
	if err := c.Deploy(ctx, vectorA(t)); err != nil {
		t.Fatal(err)
	}
	nodes, err := c.Nodes(ctx)
	if err != nil || len(nodes) != 5 {
		t.Fatalf("nodes: %v %+v", err, nodes)
	}
}
