package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"

	"github.com/twinflow/twinflow/apps/server"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/physical/gnmi"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// startStandIn builds and starts one twinflow-node (plaintext gNMI) and returns its
// gNMI address.
func startStandIn(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(os.Getenv("TWINFLOW_BIN"), "twinflow-node")
	if os.Getenv("TWINFLOW_BIN") == "" || !fileExists(bin) {
		dir := t.TempDir()
		out, err := exec.Command("go", "build", "-o", dir, "github.com/twinflow/twinflow/cmd/twinflow-node").CombinedOutput()
		if err != nil {
			t.Fatalf("build twinflow-node: %v\n%s", err, out)
		}
		bin = filepath.Join(dir, "twinflow-node")
	}
	cmd := exec.Command(bin, "--name", name, "--gnmi-addr", "127.0.0.1:0", "--insecure", "--ports", "eth1,eth2", "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		t.Fatalf("node %s printed no ready line", name)
	}
	var ready struct {
		GNMIAddr string `json:"gnmi_addr"`
	}
	if err := json.Unmarshal(sc.Bytes(), &ready); err != nil {
		t.Fatal(err)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return ready.GNMIAddr
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// startChangeServer runs serve with the change pipeline reaching plaintext nodes.
func startChangeServer(t *testing.T) string {
	t.Helper()
	return runServer(t, server.Config{DB: "file:" + filepath.Join(t.TempDir(), "changes.db"),
		GNMI:    server.GNMIConfig{Insecure: true},
		Changes: &server.ChangesConfig{DriftInterval: 500 * time.Millisecond}, Telemetry: &server.TelemetryConfig{}})
}

// TestChangeCLIStory is scenario 4 with the CLI against a stand-in node: propose,
// show, diff, approve (by another user), commit with a confirm window, confirm, list,
// and the device holds the new configuration.
func TestChangeCLIStory(t *testing.T) {
	r1 := startStandIn(t, "tfc-cli-r1")
	srv := startChangeServer(t)
	netDoc := fmt.Sprintf(`{"devices":[{"id":"r1","type":"packet-router","drivers":["gnmi-openconfig"],"address":%q,
		"endpoints":[{"id":"eth1"},{"id":"eth2"}]}]}`, r1)
	mustCLI(t, srv, "apply", "-f", writeFile(t, "net.json", netDoc), "--as", "admin") // a direct live write: admin only

	// the node speaks plaintext gNMI: without --insecure, node commands say so and
	// suggest the flag (issue #12: they printed "first record does not look like a TLS
	// handshake", and the probe "unreachable")
	_, errs, code := cli(t, srv, "node", "get", "r1", "/interfaces/interface[name=eth1]/config/mtu")
	if code != 1 || !strings.Contains(errs, "speaks plaintext gNMI") || !strings.Contains(errs, "add --insecure") {
		t.Errorf("node get without --insecure: exit %d: %s", code, errs)
	}
	out, errs, code := cli(t, srv, "node", "list", "--probe")
	if code != 0 || !strings.Contains(out, "plaintext") || !strings.Contains(errs, "probe them with --insecure") {
		t.Errorf("node list --probe without --insecure: exit %d\n%s%s", code, out, errs)
	}
	if out := mustCLI(t, srv, "node", "list", "--probe", "--insecure"); !strings.Contains(out, " ok") {
		t.Errorf("node list --probe --insecure:\n%s", out)
	}

	// malformed change files fail locally, naming the element, exit 1; missing -f exits 2
	if _, errs, code := cli(t, srv, "change", "propose", "-f", writeFile(t, "bad.yaml", "kind: raw-config\ndevice_ops:\n  r1:\n    - {op: merge, path: /a}\n")); code != 1 || !strings.Contains(errs, "device_ops[r1][0].op") {
		t.Fatalf("bad file: exit %d %s", code, errs)
	}
	if _, _, code := cli(t, srv, "change", "propose"); code != 2 {
		t.Fatalf("no -f: exit %d", code)
	}
	if _, _, code := cli(t, srv, "change", "commit", "x", "--confirm-timeout", "-5s"); code != 2 {
		t.Fatalf("negative timeout: exit %d", code)
	}

	changeYAML := `label: jumbo
kind: raw-config
device_ops:
  r1:
    - op: update
      path: /interfaces/interface[name=eth1]/config
      value: {mtu: 9000, description: jumbo}
`
	out = mustCLI(t, srv, "change", "propose", "-f", writeFile(t, "c.yaml", changeYAML), "-o", "json") // as alice, the default
	var c pipeline.Change
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if c.State != change.StateValidated {
		t.Fatalf("proposed: %s", c.State)
	}
	out = mustCLI(t, srv, "change", "show", c.ID)
	if !strings.Contains(out, "VALIDATED") || !strings.Contains(out, "l0.conflicts.ip") {
		t.Errorf("show:\n%s", out)
	}
	// the diff: the SetRequest's values as JSON (not base64), the device's old -> new
	// values (its running MTU is 1500), and the intended configuration's change
	out = mustCLI(t, srv, "change", "diff", c.ID)
	for _, want := range []string{
		`update  /interfaces/interface[name=eth1]/config = {"description":"jumbo","mtu":9000}`,
		"~ /interfaces/interface[name=eth1]/config/mtu: 1500 -> 9000",
		"+ /interfaces/interface[name=eth1]/config/mtu = 9000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "jsonIetfVal") {
		t.Errorf("diff shows base64 protobuf JSON:\n%s", out)
	}
	if c.Author != "alice" {
		t.Fatalf("author %q; want alice", c.Author)
	}
	if _, errs, code := cli(t, srv, "change", "approve", c.ID); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Fatalf("self approval: exit %d %s", code, errs)
	}
	// transitions print one line (the check table is for propose, show and validate)
	out = mustCLI(t, srv, "change", "approve", c.ID, "--as", "carla")
	if strings.TrimSpace(out) != "change "+c.ID+" APPROVED by carla (details: twinflow change show "+c.ID+")" {
		t.Errorf("approve:\n%s", out)
	}
	if _, errs, code := cli(t, srv, "change", "commit", c.ID, "--as", "carla"); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Fatalf("an approver commits: exit %d %s", code, errs)
	}
	out = mustCLI(t, srv, "change", "commit", c.ID, "--confirm-timeout", "30s")
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "COMMITTING: 1 device(s) set, confirm before") {
		t.Errorf("commit:\n%s", out)
	}
	out = mustCLI(t, srv, "change", "confirm", c.ID)
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "COMMITTED") || strings.Contains(out, "CHECK") {
		t.Errorf("confirm:\n%s", out)
	}
	out = mustCLI(t, srv, "change", "list", "--state", "committed")
	if !strings.Contains(out, c.ID) || !strings.Contains(out, "jumbo") {
		t.Errorf("list:\n%s", out)
	}
	// the device holds the new configuration (read with the gNMI driver)
	cl, err := gnmi.Dial(gnmi.Options{Address: r1, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	vals, err := cl.GetJSON(context.Background(), gpb.GetRequest_CONFIG, "/interfaces/interface[name=eth1]/config/mtu")
	if err != nil || len(vals) != 1 || !strings.Contains(string(vals[0].JSON), "9000") {
		t.Fatalf("device mtu: %v %v", vals, err)
	}

	// someone edits the router by hand: drift shows within 2 s, reconcile fixes it
	if _, err := cl.Apply(context.Background(), []gnmi.Op{{Kind: gnmi.OpUpdate, Path: "/interfaces/interface[name=eth1]/config/mtu", Value: []byte("1400")}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		out = mustCLI(t, srv, "change", "drift")
		if strings.Contains(out, "9000 -> 1400") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no drift within 2 s:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	out = mustCLI(t, srv, "change", "reconcile", "r1", "-o", "json")
	var rc pipeline.Change
	if err := json.Unmarshal([]byte(out), &rc); err != nil || rc.State != change.StateValidated {
		t.Fatalf("reconcile: %v %s", err, out)
	}
	// the reconcile's diff shows what it reverts on the device
	out = mustCLI(t, srv, "change", "diff", rc.ID)
	if !strings.Contains(out, "~ /interfaces/interface[name=eth1]/config/mtu: 1400 -> 9000") {
		t.Errorf("reconcile diff does not show the revert:\n%s", out)
	}
	mustCLI(t, srv, "change", "approve", rc.ID, "--as", "carla")
	mustCLI(t, srv, "change", "commit", rc.ID)
	vals, err = cl.GetJSON(context.Background(), gpb.GetRequest_CONFIG, "/interfaces/interface[name=eth1]/config/mtu")
	if err != nil || !strings.Contains(string(vals[0].JSON), "9000") {
		t.Fatalf("after reconcile: %v %v", vals, err)
	}

	// a rollback in the confirm window exits 0: it is what was asked for
	back := `label: mtu 9100
kind: raw-config
device_ops:
  r1:
    - {op: update, path: "/interfaces/interface[name=eth1]/config/mtu", value: 9100}
`
	out = mustCLI(t, srv, "change", "propose", "-f", writeFile(t, "b.yaml", back), "-o", "json")
	var bc pipeline.Change
	if err := json.Unmarshal([]byte(out), &bc); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, srv, "change", "approve", bc.ID, "--as", "carla")
	mustCLI(t, srv, "change", "commit", bc.ID, "--confirm-timeout", "60s")
	out, errs, code = cli(t, srv, "change", "rollback", bc.ID, "--reason", "test")
	if code != 0 || !strings.Contains(out, "ROLLED_BACK") {
		t.Errorf("rollback: exit %d\n%s%s", code, out, errs)
	}
	vals, err = cl.GetJSON(context.Background(), gpb.GetRequest_CONFIG, "/interfaces/interface[name=eth1]/config/mtu")
	if err != nil || !strings.Contains(string(vals[0].JSON), "9000") {
		t.Fatalf("after rollback: %v %v", vals, err)
	}
}
