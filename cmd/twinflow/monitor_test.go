package main

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMonitoringCLI (issue 17; REQ-MON-01, -08) runs `twinflow serve --demo` as a
// process and drives the monitor through the CLI: a KPI is created (bad ones exit 2 or
// 1 with the field named), listed with its latest value, ranged and deleted; a change
// committed on the demo's stand-in network (which carries what the twin predicts)
// shows "predicted vs observed … within the bound" in `change show` once settled;
// `alarm list` answers.
func TestMonitoringCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binaries")
	}
	dir := labBinaries(t)
	bin := filepath.Join(dir, "twinflow")
	s := serveBinary(t, bin, "--demo", "--standin-bin", filepath.Join(dir, "twinflow-node"), "--monitor-settle", "2s", "--log-level", "warn")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--server", s.URL)...).CombinedOutput()
		return string(out), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("twinflow %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	exitCode := func(err error) int {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return -1
	}
	must("kpi", "create", "--id", "l1-util", "--kind", "link", "--subject", "spine-0--leaf-0", "--metric", "utilisation",
		"--above", "0.9", "--clear", "0.8", "--interval", "0.5")
	for _, bad := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"kpi", "create", "--id", "k", "--kind", "link", "--subject", "x", "--metric", "reachable"}, 2, "metric"},
		{[]string{"kpi", "create", "--id", "k", "--kind", "link", "--subject", "x", "--metric", "utilisation", "--above", "1", "--clear", "2"}, 2, "clear"},
		{[]string{"kpi", "create", "--id", "l1-util", "--kind", "link", "--subject", "x", "--metric", "utilisation"}, 1, "already exists"},
		{[]string{"kpi", "get", "nope"}, 1, "not found"},
		{[]string{"alarm", "list", "--state", "open"}, 2, "--state"},
	} {
		out, err := run(bad.args...)
		if exitCode(err) != bad.code || !strings.Contains(out, bad.want) {
			t.Errorf("twinflow %s: exit %d, want %d; output %q lacks %q", strings.Join(bad.args, " "), exitCode(err), bad.code, out, bad.want)
		}
	}
	var kpis []struct {
		ID     string
		Latest *struct{ Value float64 }
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if err := json.Unmarshal([]byte(must("kpi", "list", "-o", "json")), &kpis); err != nil {
			t.Fatal(err)
		}
		if len(kpis) == 1 && kpis[0].Latest != nil && kpis[0].Latest.Value > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no positive utilisation sampled: %+v", kpis)
		}
	}
	if out := must("kpi", "range", "l1-util", "--since", "1m"); !strings.Contains(out, "VALUE") || strings.Count(out, "\n") < 2 {
		t.Errorf("kpi range:\n%s", out)
	}

	// A change committed on the stand-in network: predicted vs observed within the bound.
	cs := writeFile(t, "mtu.yaml", "kind: raw-config\nlabel: mtu\ndevice_ops:\n  leaf-0:\n    - {op: update, path: \"/interfaces/interface[name=eth1]/config/mtu\", value: 9000}\n")
	var ch struct{ ID string }
	if err := json.Unmarshal([]byte(must("change", "propose", "-f", cs, "-o", "json")), &ch); err != nil || ch.ID == "" {
		t.Fatalf("propose: %v", err)
	}
	must("change", "approve", ch.ID, "--as", "carla")
	must("change", "commit", ch.ID)
	var show string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		show = must("change", "show", ch.ID)
		if strings.Contains(show, "predicted vs observed (2s after commit") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(show, "within the bound") || !strings.Contains(show, "spine-0--leaf-0") {
		t.Fatalf("change show:\n%s", show)
	}
	var view struct {
		PredictedVsObserved *struct{ Diverged bool } `json:"predicted_vs_observed"`
	}
	if err := json.Unmarshal([]byte(must("change", "show", ch.ID, "-o", "json")), &view); err != nil || view.PredictedVsObserved == nil || view.PredictedVsObserved.Diverged {
		t.Fatalf("change show -o json: %v %+v", err, view.PredictedVsObserved)
	}
	if out := must("alarm", "list"); !strings.HasPrefix(out, "ID") {
		t.Errorf("alarm list:\n%s", out)
	}
	must("kpi", "delete", "l1-util")
	if out, err := run("kpi", "get", "l1-util"); exitCode(err) != 1 {
		t.Errorf("deleted kpi: %v %s", err, out)
	}
}
