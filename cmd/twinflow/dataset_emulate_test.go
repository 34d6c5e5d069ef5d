package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/twinflow/twinflow/apps/dataset"
	"github.com/twinflow/twinflow/twin/emulation"
)

const cliEmulateSpec = `name: cliemu
seed: 5
samples: 3
samples_per_scenario: 3
topologies: [{generator: "ring:n=4"}]
traffic: {flows: 2, intensity_gbps: [100, 100]}
formats: [parquet]
emulate: {samples: 1, seconds: 2}
`

// Seed 004 §9.2, issue 18: `twinflow dataset generate` with emulate, as an engineer
// runs it (one process, the probe agent found as `twinflow lab` finds it): sample 0 is
// measured in namespaces (with link latencies: issue 16), the others are not, and no
// lab is left behind; run as an
// unprivileged user, the same command is refused before writing anything.
func TestDatasetGenerateEmulateCLI(t *testing.T) {
	requireRoot(t, "dataset emulate CLI test needs root")
	bin := filepath.Join(labBinaries(t), "twinflow")
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.yaml")
	if err := os.WriteFile(spec, []byte(cliEmulateSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	cmd := exec.Command(bin, "dataset", "generate", "-f", spec, "-d", filepath.Join(dir, "ds"))
	cmd.Env = append(os.Environ(), "TWINFLOW_LAB_STATE_DIR="+state)
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil { // the lab was tfds-ds<pid of the generate process>
		label := "tfds-ds" + strconv.Itoa(cmd.Process.Pid)
		t.Cleanup(func() {
			ctx := context.Background()
			nss, _ := emulation.LabNamespaces(ctx, label)
			links, _ := emulation.LabLinks(ctx, label)
			labs, _ := emulation.DeployedLabs(state)
			if len(nss)+len(links)+len(labs) > 0 {
				t.Errorf("left behind: %v %v %v", nss, links, labs)
				_ = emulation.Sweep(ctx, label, state)
			}
		})
	}
	if err != nil {
		t.Fatalf("generate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "3/3 samples (100.0%)") {
		t.Errorf("no final progress line: %s", out)
	}
	// Without root the same command is refused with a clear error, nothing written.
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		nr := filepath.Join(dir, "nonroot")
		if err := os.Mkdir(nr, 0o777); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(nr, 0o777)
		_ = os.Chmod(dir, 0o755)
		_ = os.Chmod(filepath.Dir(dir), 0o755) // the test's temp root
		_ = os.Chmod(spec, 0o644)
		c := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "dataset", "generate", "-f", spec, "-d", filepath.Join(nr, "ds"))
		o, err := c.CombinedOutput()
		if err == nil || !strings.Contains(string(o), "emulate") || !strings.Contains(string(o), "needs root") {
			t.Errorf("as nobody: err %v, output %q; want a refusal naming emulate and root", err, o)
		}
		if _, serr := os.Stat(filepath.Join(nr, "ds")); !os.IsNotExist(serr) {
			t.Errorf("as nobody: the refused run wrote %s (stat: %v)", filepath.Join(nr, "ds"), serr)
		}
	}
	flows, err := parquet.ReadFile[dataset.FlowRow](filepath.Join(dir, "ds", "parquet", "flows", "part-000000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range flows {
		if measured := r.EmulatedRateGbps != nil; measured != (r.Sample == 0) {
			t.Errorf("sample %d flow %d: emulated_rate_gbps %v", r.Sample, r.Flow, r.EmulatedRateGbps)
		} else if measured && !(*r.EmulatedRateGbps > 0) {
			t.Errorf("sample 0 flow %d: measured %v Gb/s", r.Flow, *r.EmulatedRateGbps)
		}
	}
	// The ring's links have a latency (1 ms) and twinflow-node is beside twinflow: the
	// CLI wires its delay line, so the lab applied the latencies (netem where the
	// kernel has it, else delay lines), and the sample says so.
	samples, err := parquet.ReadFile[dataset.SampleRow](filepath.Join(dir, "ds", "parquet", "samples", "part-000000.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range samples {
		got := "null"
		if r.EmulatedLatency != nil {
			got = *r.EmulatedLatency
		}
		if want := r.Sample == 0; want != (got == emulation.LatencyNetem || got == emulation.LatencyDelayLine) || (!want && got != "null") {
			t.Errorf("sample %d: emulated_latency %s, want netem or delay_line for sample 0, null otherwise", r.Sample, got)
		}
	}
}
