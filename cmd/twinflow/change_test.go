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
	saved := changeServe
	changeServe.GNMIInsecure = true
	t.Cleanup(func() { changeServe = saved })
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	db := "file:" + filepath.Join(t.TempDir(), "changes.db")
	tokens := seedUsers(t, db, "admin=admin", "alice=engineer,operator", "carla=approver")
	so := &serveOptions{Listen: "127.0.0.1:0", LogLevel: "warn", DB: db,
		Ready: func(a string) { addr <- a }, Security: securityOptions{PlainHTTP: true}}
	go func() { done <- runServe(ctx, so, &syncBuffer{}, t.Output()) }()
	exited := false
	t.Cleanup(func() {
		cancel()
		if exited {
			return
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not shut down")
		}
	})
	select {
	case a := <-addr:
		saveTokens(t, a, tokens)
		return "http://" + a
	case err := <-done:
		exited = true
		t.Fatalf("serve: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
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
	out := mustCLI(t, srv, "change", "propose", "-f", writeFile(t, "c.yaml", changeYAML), "-o", "json") // as alice, the default
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
	out = mustCLI(t, srv, "change", "diff", c.ID)
	if !strings.Contains(out, "jsonIetfVal") || !strings.Contains(out, "+ /interfaces/interface[name=eth1]/config/mtu = 9000") {
		t.Errorf("diff:\n%s", out)
	}
	if c.Author != "alice" {
		t.Fatalf("author %q; want alice", c.Author)
	}
	if _, errs, code := cli(t, srv, "change", "approve", c.ID); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Fatalf("self approval: exit %d %s", code, errs)
	}
	mustCLI(t, srv, "change", "approve", c.ID, "--as", "carla")
	if _, errs, code := cli(t, srv, "change", "commit", c.ID, "--as", "carla"); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Fatalf("an approver commits: exit %d %s", code, errs)
	}
	out = mustCLI(t, srv, "change", "commit", c.ID, "--confirm-timeout", "30s")
	if !strings.Contains(out, "COMMITTING") || !strings.Contains(out, "awaiting_confirm") {
		t.Errorf("commit:\n%s", out)
	}
	out = mustCLI(t, srv, "change", "confirm", c.ID)
	if !strings.Contains(out, "COMMITTED") {
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
	mustCLI(t, srv, "change", "approve", rc.ID, "--as", "carla")
	mustCLI(t, srv, "change", "commit", rc.ID)
	vals, err = cl.GetJSON(context.Background(), gpb.GetRequest_CONFIG, "/interfaces/interface[name=eth1]/config/mtu")
	if err != nil || !strings.Contains(string(vals[0].JSON), "9000") {
		t.Fatalf("after reconcile: %v %v", vals, err)
	}
}
