package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/server"
	"github.com/twinflow/twinflow/repository"
)

// startRegisteringNode starts a twinflow-node process with no configuration beyond its
// ports that registers itself with srv using the token in tokenFile, and returns its
// gNMI address.
func startRegisteringNode(t *testing.T, name, srv, tokenFile string) string {
	t.Helper()
	bin := filepath.Join(os.Getenv("TWINFLOW_BIN"), "twinflow-node")
	if os.Getenv("TWINFLOW_BIN") == "" || !fileExists(bin) {
		dir := t.TempDir()
		if out, err := exec.Command("go", "build", "-o", dir, "github.com/twinflow/twinflow/cmd/twinflow-node").CombinedOutput(); err != nil {
			t.Fatalf("build twinflow-node: %v\n%s", err, out)
		}
		bin = filepath.Join(dir, "twinflow-node")
	}
	cmd := exec.Command(bin, "--name", name, "--gnmi-addr", "127.0.0.1:0", "--insecure", "--ports", "eth1,eth2",
		"--log-level", "warn", "--register", srv, "--token-file", tokenFile)
	cmd.Stderr = os.Stderr
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
	return ready.GNMIAddr
}

// getJSON reads paths of a node over gNMI with `twinflow node get`.
func nodeGet(t *testing.T, addr, path string) string {
	t.Helper()
	out, err := runTwinflow("node", "get", "--address", addr, "--insecure", "-o", "json", path)
	if err != nil {
		t.Fatalf("node get %s: %v\n%s", path, err, out)
	}
	return out
}

const leafRoleDoc = `name: leaf
description: leaf router, day 0
match:
  name_prefix: leaf-
template: |
  - op: update
    path: /interfaces/interface[name=eth1]/config/description
    value: {{ json (printf "uplink of %s" .Name) }}
  - op: update
    path: /interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip={{ ip4 "10.20.0.0/24" .Index }}]/config/prefix-length
    value: 24
`

// TestZTPStory is issue 17's zero-touch provisioning done-when, with real processes
// (the server with PostgreSQL, twinflow-node agents over gNMI): a new node with no
// configuration registers with a device-role token, is given its role, has its day-0
// configuration rendered, validated in the twin, committed and verified, and is
// enabled with no human step — its configuration is read back over gNMI. A role whose
// template conflicts with the network (an address another device holds) or breaks the
// schema is refused in the twin, and its node is untouched (REQ-AUTO-01, REQ-AUTO-05).
func TestZTPStory(t *testing.T) {
	dsn := ledgerTestPG(t)
	srv := runServer(t, server.Config{DB: dsn, GNMI: server.GNMIConfig{Insecure: true}, Changes: &server.ChangesConfig{}})
	tokens := seedUsers(t, dsn, "provisioner=device")
	tokenFile := writeFile(t, "device.token", tokens["provisioner"]+"\n")

	mustCLI(t, srv, "role", "create", "-f", writeFile(t, "leaf.yaml", leafRoleDoc), "--as", "admin")
	bad := strings.NewReplacer("name: leaf", "name: clash", "name_prefix: leaf-", "name_prefix: clash-",
		`{{ ip4 "10.20.0.0/24" .Index }}`, "10.20.0.1").Replace(leafRoleDoc)
	mustCLI(t, srv, "role", "create", "-f", writeFile(t, "clash.yaml", bad), "--as", "admin")
	broken := strings.NewReplacer("name: leaf", "name: broken", "name_prefix: leaf-", "name_prefix: broken-",
		"value: 24", `value: "twenty-four"`).Replace(leafRoleDoc)
	mustCLI(t, srv, "role", "create", "-f", writeFile(t, "broken.yaml", broken), "--as", "admin")

	// 1. A new node registers and is provisioned by role with no human step.
	leaf := startRegisteringNode(t, "leaf-1", srv, tokenFile)
	if out, errs, code := cli(t, srv, "ztp", "wait", "leaf-1", "--timeout", "60s", "--as", "admin"); code != 0 {
		t.Fatalf("leaf-1 not enabled: %s%s", out, errs)
	}
	var cfg []struct {
		Value struct {
			Description string `json:"description"`
		} `json:"value"`
	}
	if err := json.Unmarshal([]byte(nodeGet(t, leaf, "/interfaces/interface[name=eth1]/config")), &cfg); err != nil || len(cfg) != 1 || cfg[0].Value.Description != "uplink of leaf-1" {
		t.Fatalf("leaf-1 eth1 config read back over gNMI: %+v %v", cfg, err)
	}
	if out := nodeGet(t, leaf, "/interfaces/interface[name=eth1]/subinterfaces"); !strings.Contains(out, "10.20.0.1") {
		t.Fatalf("leaf-1 has no templated address:\n%s", out)
	}
	var dev repository.ZTPDevice
	if err := json.Unmarshal([]byte(mustCLI(t, srv, "ztp", "show", "leaf-1", "-o", "json", "--as", "admin")), &dev); err != nil ||
		dev.Role != "leaf" || dev.RoleVersion != 1 || dev.ChangeID == "" {
		t.Fatalf("leaf-1 record %+v %v", dev, err)
	}
	t.Logf("leaf-1: registered to enabled in %v (record created → last update)", dev.Updated.Sub(dev.Created))
	if out := mustCLI(t, srv, "change", "show", dev.ChangeID, "-o", "json", "--as", "admin"); !strings.Contains(out, `"state": "committed"`) && !strings.Contains(out, `"state":"committed"`) {
		t.Errorf("the day-0 change is not committed:\n%s", out)
	}
	if out := mustCLI(t, srv, "get", "devices", "leaf-1", "-o", "json", "--as", "admin"); !strings.Contains(out, `"enabled"`) {
		t.Errorf("leaf-1 is not enabled in the twin:\n%s", out)
	}

	// 1b. A device an admin adds to the inventory (its agent does not register) is
	// provisioned the same way, with the next index of its role.
	leaf2 := startStandIn(t, "leaf-2")
	mustCLI(t, srv, "ztp", "add", "leaf-2", "--address", leaf2, "--ports", "eth1,eth2", "--role", "leaf", "--as", "admin")
	if out, errs, code := cli(t, srv, "ztp", "wait", "leaf-2", "--timeout", "60s", "--as", "admin"); code != 0 {
		t.Fatalf("leaf-2 not enabled: %s%s", out, errs)
	}
	if out := nodeGet(t, leaf2, "/interfaces/interface[name=eth1]/subinterfaces"); !strings.Contains(out, "10.20.0.2") {
		t.Fatalf("leaf-2 has not the role's second address:\n%s", out)
	}
	// 1c. A device whose neighbour (a link in the twin) does not answer is refused
	// before anything is proposed.
	leaf3 := startStandIn(t, "leaf-3")
	inv := fmt.Sprintf(`{"devices":[
	  {"id":"leaf-3","type":"packet-router","drivers":["gnmi-openconfig"],"address":%q,"endpoints":[{"id":"eth1"},{"id":"eth2"}]},
	  {"id":"spine-x","type":"packet-router","drivers":["gnmi-openconfig"],"address":"127.0.0.1:1","endpoints":[{"id":"eth1"}]}],
	 "links":[{"id":"leaf-3:spine-x","endpoints":[{"device":"leaf-3","endpoint":"eth1"},{"device":"spine-x","endpoint":"eth1"}],"capacity_gbps":10}]}`, leaf3)
	mustCLI(t, srv, "apply", "-f", writeFile(t, "inv.json", inv), "--as", "admin")
	mustCLI(t, srv, "ztp", "add", "leaf-3", "--address", leaf3, "--ports", "eth1,eth2", "--as", "admin")
	if _, errs, code := cli(t, srv, "ztp", "wait", "leaf-3", "--timeout", "60s", "--as", "admin"); code != 1 || !strings.Contains(errs, "neighbours: spine-x") {
		t.Fatalf("leaf-3 with an unreachable neighbour: exit %d: %s", code, errs)
	}
	if out := nodeGet(t, leaf3, "/interfaces/interface[name=eth1]/config"); strings.Contains(out, "uplink") {
		t.Errorf("leaf-3 was configured although its neighbour is unreachable:\n%s", out)
	}

	// 2. Bad templates are refused in the twin; their nodes are untouched.
	for _, c := range []struct{ name, check string }{{"clash-1", "l0.conflicts.ip"}, {"broken-1", "l0.schema"}} {
		addr := startRegisteringNode(t, c.name, srv, tokenFile)
		_, errs, code := cli(t, srv, "ztp", "wait", c.name, "--timeout", "60s", "--as", "admin")
		if code != 1 || !strings.Contains(errs, "rejected") || !strings.Contains(errs, c.check) {
			t.Fatalf("%s: exit %d: %s", c.name, code, errs)
		}
		t.Logf("%s: %s", c.name, strings.TrimSpace(errs))
		if out := nodeGet(t, addr, "/interfaces/interface[name=eth1]/config"); strings.Contains(out, "uplink") {
			t.Errorf("%s was configured although its template was refused:\n%s", c.name, out)
		}
		if _, errs, _ := cli(t, srv, "node", "get", "--address", addr, "--insecure", "/interfaces/interface[name=eth1]/subinterfaces"); strings.Contains(errs, "10.20.0.1") {
			t.Errorf("%s holds the conflicting address", c.name)
		}
	}

	// 3. Registration is authenticated and bounded: only the device role (or an admin)
	// registers; the device token reads nothing; malformed registrations are refused.
	post := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv+"/api/v1/ztp/register", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	alice := seedUsers(t, dsn, "alice=engineer,operator")["alice"]
	if code := post(alice, `{"name":"leaf-9","address":"127.0.0.1:1","ports":["eth1"]}`); code != http.StatusForbidden {
		t.Errorf("engineer registered a device: %d", code)
	}
	if code := post("", `{"name":"leaf-9","address":"127.0.0.1:1","ports":["eth1"]}`); code != http.StatusUnauthorized {
		t.Errorf("anonymous registration: %d", code)
	}
	for _, body := range []string{`{"name":"../x","address":"127.0.0.1:1","ports":["eth1"]}`,
		`{"name":"leaf-9","address":"127.0.0.1:1","ports":["eth1"],"role":"clash"}`,
		`{"name":"leaf-9","address":"nowhere","ports":["eth1"]}`,
		`{"name":"leaf-9","address":"127.0.0.1:1","ports":["eth1"]` + strings.Repeat(" ", 17<<10) + `}`} {
		if code := post(tokens["provisioner"], body); code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
			t.Errorf("bad registration %.60s: %d", body, code)
		}
	}
	// A node may not take over the name of a device it is not (an inventory device).
	if code := post(tokens["provisioner"], `{"name":"leaf-1","address":"127.0.0.1:1","ports":["eth1"]}`); code != http.StatusConflict {
		t.Errorf("re-registration of enabled leaf-1 at another address: %d", code)
	}
	req, _ := http.NewRequest(http.MethodGet, srv+"/api/v1/ztp/devices", nil)
	req.Header.Set("Authorization", "Bearer "+tokens["provisioner"])
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("the device token read the inventory: %v %v", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}

	// 4. Roles are versioned: storing leaf again is version 2; version 1 stays readable.
	mustCLI(t, srv, "role", "create", "-f", writeFile(t, "leaf2.yaml", strings.Replace(leafRoleDoc, "day 0", "day 0, v2", 1)), "--as", "admin")
	if out := mustCLI(t, srv, "role", "show", "leaf", "--version", "1", "-o", "json", "--as", "admin"); !strings.Contains(out, `"version": 1`) || strings.Contains(out, "v2") {
		t.Errorf("role leaf v1:\n%s", out)
	}
	if out := mustCLI(t, srv, "role", "list", "--as", "admin"); !strings.Contains(out, "leaf") || !strings.Contains(out, "clash") {
		t.Errorf("role list:\n%s", out)
	}
	t.Logf("ztp list:\n%s", mustCLI(t, srv, "ztp", "list", "--as", "admin"))
}
