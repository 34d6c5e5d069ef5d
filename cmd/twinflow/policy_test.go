package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/apps/server"
)

// TestPolicyCLI: twinflow policy against a server with the closed loops: a malformed
// rule fails locally naming its field (exit 1); create, list, activate (alice is an
// operator too), show, update, deactivate, delete; an engineer-only user cannot
// activate; restore and optimize answer with a record, and restore list shows them.
func TestPolicyCLI(t *testing.T) {
	srv := runServer(t, server.Config{DB: "file:" + filepath.Join(t.TempDir(), "p.db"),
		Changes:    &server.ChangesConfig{DriftInterval: time.Hour},
		ClosedLoop: &server.ClosedLoopConfig{Restore: true}})
	if _, errs, code := cli(t, srv, "policy", "create", "-f", writeFile(t, "bad.yaml", "id: x\nlimits: [{type: max-link-utilisation, percent: 0}]\n")); code != 1 || !strings.Contains(errs, "limits[0].percent") {
		t.Fatalf("bad rule: exit %d %s", code, errs)
	}
	if _, _, code := cli(t, srv, "policy", "create"); code != 2 {
		t.Fatalf("no -f: exit %d", code)
	}
	rule := "id: cap\npriority: 7\nlimits: [{type: max-link-utilisation, percent: 80}]\n"
	out := mustCLI(t, srv, "policy", "create", "-f", writeFile(t, "r.yaml", rule))
	if !strings.Contains(out, "cap") || !strings.Contains(out, "planned") {
		t.Fatalf("create:\n%s", out)
	}
	if _, errs, code := cli(t, srv, "policy", "activate", "cap", "--as", "carla"); code == 0 || !strings.Contains(errs, "403") && !strings.Contains(strings.ToLower(errs), "forbidden") {
		t.Fatalf("carla (approver) activated: exit %d %s", code, errs)
	}
	if out := mustCLI(t, srv, "policy", "activate", "cap"); !strings.Contains(out, "active") {
		t.Fatalf("activate:\n%s", out)
	}
	var sr closedloop.StoredRule
	if err := json.Unmarshal([]byte(mustCLI(t, srv, "policy", "show", "cap", "-o", "json")), &sr); err != nil || sr.ActivatedAt == nil || sr.Priority != 7 {
		t.Fatalf("show: %+v %v", sr, err)
	}
	mustCLI(t, srv, "policy", "update", "-f", writeFile(t, "r2.yaml", strings.Replace(rule, "80", "60", 1)))
	if out := mustCLI(t, srv, "policy", "list"); !strings.Contains(out, "active") || !strings.Contains(out, "network") {
		t.Fatalf("list:\n%s", out)
	}
	if _, _, code := cli(t, srv, "policy", "delete", "cap"); code == 0 {
		t.Fatal("deleted an active rule")
	}
	mustCLI(t, srv, "policy", "deactivate", "cap")
	mustCLI(t, srv, "policy", "delete", "cap")
	if out := mustCLI(t, srv, "restore"); !strings.Contains(out, "nothing-to-do") {
		t.Fatalf("restore:\n%s", out)
	}
	if out := mustCLI(t, srv, "optimize"); !strings.Contains(out, "nothing-to-do") {
		t.Fatalf("optimize:\n%s", out)
	}
	if out := mustCLI(t, srv, "restore", "list"); strings.Count(out, "nothing-to-do") != 2 {
		t.Fatalf("restore list:\n%s", out)
	}
}
