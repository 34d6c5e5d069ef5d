package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/server"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// TestPushPolicyCLI (issue #18 item 4) on PostgreSQL with two twinflow-node
// processes: an admin sets the push policy; `twinflow change commit` of an
// uncertified raw-config change is refused with the reason; `twinflow certify
// --server` of the same ChangeSet records a certification on the server (its report
// file's hash is the one recorded); the commit then rolls out in the policy's stages;
// outside every maintenance window `commit` is refused and `commit --wait` says when
// the next window opens when that is beyond --max-wait.
func TestPushPolicyCLI(t *testing.T) {
	r1, r2 := startStandIn(t, "tfc-push-r1"), startStandIn(t, "tfc-push-r2")
	srv := runServer(t, server.Config{DB: ledgerTestPG(t), GNMI: server.GNMIConfig{Insecure: true},
		Changes: &server.ChangesConfig{DriftInterval: time.Second}, Telemetry: &server.TelemetryConfig{}})
	netDoc := fmt.Sprintf(`{"devices":[
		{"id":"r1","type":"packet-router","drivers":["gnmi-openconfig"],"address":%q,"endpoints":[{"id":"eth1"},{"id":"eth2"}]},
		{"id":"r2","type":"packet-router","drivers":["gnmi-openconfig"],"address":%q,"endpoints":[{"id":"eth1"},{"id":"eth2"}]}]}`, r1, r2)
	mustCLI(t, srv, "apply", "-f", writeFile(t, "net.json", netDoc), "--as", "admin")

	policy := writeFile(t, "policy.yaml", `
device_groups: {canary: [r1]}
require_certification: {kinds: [raw-config]}
stages: [canary]
`)
	if _, errs, code := cli(t, srv, "push-policy", "set", "-f", policy); code != 1 || !strings.Contains(errs, "Forbidden") {
		t.Fatalf("an engineer sets the policy: exit %d %s", code, errs)
	}
	if _, errs, code := cli(t, srv, "push-policy", "set", "-f", writeFile(t, "bad.yaml", "stages: [nope]\n"), "--as", "admin"); code != 2 || !strings.Contains(errs, `no device group "nope"`) {
		t.Fatalf("a malformed policy: exit %d %s", code, errs)
	}
	mustCLI(t, srv, "push-policy", "set", "-f", policy, "--as", "admin")
	if out := mustCLI(t, srv, "push-policy", "show"); !strings.Contains(out, "version 1, set by admin") || !strings.Contains(out, "raw-config changes") || !strings.Contains(out, "canary, then the rest") {
		t.Errorf("show:\n%s", out)
	}

	changeFile := writeFile(t, "jumbo.yaml", `label: jumbo
kind: raw-config
device_ops:
  r1:
    - {op: update, path: "/interfaces/interface[name=eth1]/config", value: {mtu: 9000}}
  r2:
    - {op: update, path: "/interfaces/interface[name=eth1]/config", value: {mtu: 9000}}
`)
	propose := func(file string) string {
		var c pipeline.Change
		if err := json.Unmarshal([]byte(mustCLI(t, srv, "change", "propose", "-f", file, "-o", "json")), &c); err != nil || c.State != change.StateValidated {
			t.Fatalf("propose: %v %+v", err, c)
		}
		mustCLI(t, srv, "change", "approve", c.ID, "--as", "carla")
		return c.ID
	}
	id := propose(changeFile)
	_, errs, code := cli(t, srv, "change", "commit", id)
	if code != 1 || !strings.Contains(errs, "requires a certification") || !strings.Contains(errs, "raw-config") || !strings.Contains(errs, "no passing certification") {
		t.Fatalf("uncertified commit: exit %d %s", code, errs)
	}
	if out := mustCLI(t, srv, "change", "show", id); !strings.Contains(out, "APPROVED") {
		t.Fatalf("a refused commit moved the change:\n%s", out)
	}

	report := filepath.Join(t.TempDir(), "certify.md")
	out := mustCLI(t, srv, "certify", "-f", changeFile, "--report", report)
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if !strings.Contains(out, "recorded by the server") || !strings.Contains(out, "-"+hex.EncodeToString(sum[:])[:16]+" recorded") {
		t.Fatalf("certify did not record the report it wrote:\n%s", out)
	}
	if out := mustCLI(t, srv, "push-policy", "plan", id); !strings.Contains(out, "ALLOWED") || !strings.Contains(out, "stage 1:\tcanary [r1]") && !strings.Contains(out, "canary [r1]") {
		t.Errorf("plan:\n%s", out)
	}
	out = mustCLI(t, srv, "change", "commit", id, "-o", "json")
	var c pipeline.Change
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.State != change.StateCommitted || c.Commit == nil || len(c.Commit.Stages) != 2 || c.Commit.StagesDone != 2 {
		t.Fatalf("certified commit: %v %s", err, out)
	}

	// a maintenance window two hours from now
	now := time.Now().UTC()
	win := writeFile(t, "win.yaml", fmt.Sprintf("maintenance_windows: [{start: %q, end: %q}]\noutside_window: wait\n",
		now.Add(2*time.Hour).Format("15:04"), now.Add(3*time.Hour).Format("15:04")))
	mustCLI(t, srv, "push-policy", "set", "-f", win, "--as", "admin", "--if-version", "1")
	id2 := propose(writeFile(t, "mtu.yaml", strings.ReplaceAll(strings.ReplaceAll(string(mustRead(t, changeFile)), "9000", "9100"), "jumbo", "later")))
	if _, errs, code := cli(t, srv, "change", "commit", id2); code != 1 || !strings.Contains(errs, "Outside every maintenance window") || !strings.Contains(errs, "next opens at") {
		t.Fatalf("commit outside the window: exit %d %s", code, errs)
	}
	if _, errs, code := cli(t, srv, "change", "commit", id2, "--wait", "--max-wait", "1m"); code != 1 || !strings.Contains(errs, "beyond --max-wait 1m0s") {
		t.Fatalf("commit --wait: exit %d %s", code, errs)
	}
}
