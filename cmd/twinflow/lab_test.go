package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/labs/labtest"
	"github.com/twinflow/twinflow/twin/emulation"
)

func TestLabRejectsMalformedInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"devices":[{"id":"a","type":"packet-router"}],"links":[{"id":"l","endpoints":[{"device":"a","endpoint":"e1"},{"device":"zz","endpoint":"e1"}],"capacity_gbps":1}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	va := filepath.Join("..", "..", "labs", "vector-a", "network.json")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"lab", "deploy"}, "-f/--file is required"},
		{[]string{"lab", "deploy", "-f", filepath.Join(dir, "missing.json")}, "missing.json"},
		{[]string{"lab", "deploy", "-f", bad}, "zz"},
		{[]string{"lab", "deploy", "-f", va, "--queue", "red"}, `queue model "red"`},
		{[]string{"lab", "deploy", "-f", va, "--scale", "3"}, "scale 3 must be in (0, 1]"},
		{[]string{"lab", "deploy", "-f", va, "--name", "Bad_Name"}, `lab name "Bad_Name"`},
		{[]string{"lab", "deploy", "-f", va, "--backend", "vm"}, "--backend must be netns or containerlab"},
		{[]string{"lab", "destroy"}, "--name is required"},
		{[]string{"lab", "sweep", "--prefix", "Bad"}, `prefix "Bad"`},
		{[]string{"lab", "probe", "--name", "x", "--cc", "vegas"}, "--cc must be cubic, bbr or reno"},
		{[]string{"lab", "fidelity", "-f", va, "--cc", "cubic,vegas"}, `--cc: "vegas"`},
		{[]string{"lab", "fidelity", "-f", va, "--queue", "fq,wfq"}, `queue model "wfq"`},
		{[]string{"lab", "fidelity", "-f", va, "--duration", "2s", "--warmup", "3s"}, "--duration 2s must be > 0 and longer than --warmup 3s"},
		{[]string{"lab", "calibrate", "--version", "v1"}, "--runs and --version are required"},
		{[]string{"lab", "calibrate", "--runs", filepath.Join("..", "..", "labs", "fidelity", "runs", "gen-s4-fifo-b50.json"), "--version", "v1", "--fit", "queue_fill,bogus"}, `--fit: unknown parameter "bogus"`},
	}
	for _, c := range cases {
		out, err := runTwinflow(append(c.args, "--state-dir", dir)...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v (exit %d), want exit 2 naming %q; output %s", c.args, err, exitCode(err), c.want, out)
		}
	}
	if _, _, _, err := parsePair("--ping", "n0-n1"); err == nil || !strings.Contains(err.Error(), `--ping "n0-n1": want SRC:DST`) {
		t.Errorf("parsePair: %v", err)
	}
}

func TestDefaultLabName(t *testing.T) {
	va, err := readLabNetwork(filepath.Join("..", "..", "labs", "vector-a", "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := defaultLabName("x.json", va); got != "vector-a" {
		t.Errorf("from topology: %q", got)
	}
	va.Topologies = nil
	if got := defaultLabName("/tmp/My Lab.clab.yml", va); got != "my-lab" {
		t.Errorf("from file: %q", got)
	}
}

// requireRoot skips a test that needs root (network namespaces) when not run as root,
// or fails it when TWINFLOW_REQUIRE_INTEGRATION=1 says integration tests must run.
func requireRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("TWINFLOW_REQUIRE_INTEGRATION") == "1" {
		t.Fatal(why + " and TWINFLOW_REQUIRE_INTEGRATION=1 is set")
	}
	t.Skip(why)
}

// labBinaries returns twinflow and twinflow-node from $TWINFLOW_BIN or built here.
func labBinaries(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("TWINFLOW_BIN"); dir != "" {
		if fileExists(filepath.Join(dir, "twinflow")) && fileExists(filepath.Join(dir, "twinflow-node")) {
			return dir
		}
	}
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir+"/", "github.com/twinflow/twinflow/cmd/twinflow", "github.com/twinflow/twinflow/cmd/twinflow-node").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return dir
}

// TestLabCLIEndToEnd drives the sandbox the way an engineer does, one process per
// command: deploy vector A (node agents included), status, probe (ping and TCP), a
// short fidelity run, destroy; nothing may be left behind.
func TestLabCLIEndToEnd(t *testing.T) {
	requireRoot(t, "lab CLI test needs root")
	bin := filepath.Join(labBinaries(t), "twinflow")
	state := t.TempDir()
	labtest.Lock(t, "tfe-c-va")
	labtest.Lock(t, "tfe-c-fid")
	va, _ := filepath.Abs(filepath.Join("..", "..", "labs", "vector-a", "network.json"))
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append(args, "--prefix", "tfe-", "--state-dir", state)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	leftovers := func() []string {
		out, _ := exec.Command("ip", "netns", "list").Output()
		var left []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "tfe-c-") {
				left = append(left, l)
			}
		}
		out, _ = exec.Command("ip", "-o", "link", "show").Output()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "twinflow-lab:tfe-c-") {
				left = append(left, l)
			}
		}
		return left
	}
	t.Cleanup(func() {
		_, _ = run("lab", "sweep", "--name", "c-va")
		_, _ = run("lab", "sweep", "--name", "c-fid")
		if left := leftovers(); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	})
	out, err := run("lab", "deploy", "-f", va, "--name", "c-va", "-o", "json")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	out, err = run("lab", "status", "--name", "c-va", "-o", "json")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	var nodes []struct {
		ID   string `json:"id"`
		GNMI string `json:"gnmi_address"`
		PID  int    `json:"pid"`
	}
	if err := json.Unmarshal([]byte(out), &nodes); err != nil || len(nodes) != 5 || nodes[0].GNMI == "" || nodes[0].PID == 0 {
		t.Fatalf("status: %v %+v\n%s", err, nodes, out)
	}
	out, err = run("lab", "probe", "--name", "c-va", "--ping", "n0:n4", "--tcp", "f6=n0:n3", "--duration", "3s", "--warmup", "1s")
	if err != nil || !strings.Contains(out, "3/3 replies") || !strings.Contains(out, "Mb/s goodput") {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	// A probe naming a device the lab lacks is a usage error (exit 2) naming it.
	out, err = run("lab", "probe", "--name", "c-va", "--ping", "n0:n9", "--count", "1")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, `unknown dst node "n9"`) {
		t.Fatalf("probe of an unknown node: %v\n%s", err, out)
	}
	// Agents run as separate processes: kill the lab from another process.
	pids := []int{nodes[0].PID}
	if out, err := run("lab", "destroy", "--name", "c-va"); err != nil {
		t.Fatalf("destroy: %v\n%s", err, out)
	}
	for _, pid := range pids {
		if _, err := os.Stat(filepath.Join("/proc", itoa(pid))); err == nil {
			if b, _ := os.ReadFile(filepath.Join("/proc", itoa(pid), "stat")); !strings.Contains(string(b), ") Z") {
				t.Errorf("agent %d survived destroy", pid)
			}
		}
	}
	out, err = run("lab", "fidelity", "-f", va, "--name", "c-fid", "--queue", "fq", "--cc", "cubic", "--duration", "4s", "-o", "json")
	if err != nil {
		t.Fatalf("fidelity: %v\n%s", err, out)
	}
	var rep fidelityReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Runs) != 1 || len(rep.Runs[0].Comparison.Rows) != 6 {
		t.Fatalf("fidelity report: %v\n%s", err, out)
	}
	// The report is versioned and records how latencies were applied (vector A has
	// none: no delay line, whatever the kernel).
	if rep.Version != emulation.FidelityReportVersion || rep.Runs[0].DelayLine || !strings.Contains(out, `"delay_line": false`) {
		t.Errorf("fidelity report: version %d (want %d), delay_line %v (want false, recorded)\n%s", rep.Version, emulation.FidelityReportVersion, rep.Runs[0].DelayLine, out)
	}
	if left := leftovers(); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
