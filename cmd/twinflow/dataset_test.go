package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliDatasetSpec = `name: cli
seed: 11
samples: 9
samples_per_scenario: 2
topologies:
  - generator: "ring:n=5"
  - file: net.yaml
traffic: {flows: 12}
failures: {max: 1}
`

const cliDatasetNet = `devices:
  - {id: a, type: packet-router, endpoints: [{id: e1}, {id: e2}]}
  - {id: b, type: packet-router, endpoints: [{id: e1}, {id: e2}]}
  - {id: c, type: packet-router, endpoints: [{id: e1}, {id: e2}]}
links:
  - {id: ab, endpoints: [{device: a, endpoint: e1}, {device: b, endpoint: e1}], capacity_gbps: 10, latency_ms: 1}
  - {id: bc, endpoints: [{device: b, endpoint: e2}, {device: c, endpoint: e1}], capacity_gbps: 10, latency_ms: 1}
  - {id: ca, endpoints: [{device: c, endpoint: e2}, {device: a, endpoint: e2}], capacity_gbps: 40, latency_ms: 1}
`

func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			m[rel] = b
		}
		return err
	})
	return m
}

// Seed 004 §9.2: the CLI's --shard I/N and merge reproduce a single run; progress is on stderr.
func TestDatasetGenerateShardMergeCLI(t *testing.T) {
	dir := t.TempDir()
	spec := filepath.Join(dir, "spec.yaml")
	os.WriteFile(spec, []byte(cliDatasetSpec), 0o644)
	os.WriteFile(filepath.Join(dir, "net.yaml"), []byte(cliDatasetNet), 0o644)

	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"dataset", "generate", "-f", spec, "-d", filepath.Join(dir, "single")})
	if err := root.Execute(); err != nil {
		t.Fatalf("generate: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "9 samples in 5 scenarios") || !strings.Contains(errOut.String(), "9/9 samples (100.0%)") || !strings.Contains(errOut.String(), "ETA") {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
	for _, sh := range []string{"0/2", "1/2"} {
		d := filepath.Join(dir, "shard"+sh[:1])
		if o, code, err := runTopology(t, "", "dataset", "generate", "-q", "-f", spec, "-d", d, "--shard", sh); err != nil {
			t.Fatalf("shard %s: %d %v %s", sh, code, err, o)
		}
	}
	if o, _, err := runTopology(t, "", "dataset", "merge", "-d", filepath.Join(dir, "merged"), filepath.Join(dir, "shard0"), filepath.Join(dir, "shard1")); err != nil {
		t.Fatalf("merge: %v %s", err, o)
	}
	a, b := readTree(t, filepath.Join(dir, "single")), readTree(t, filepath.Join(dir, "merged"))
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("single run has %d files, merged %d", len(a), len(b))
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			t.Fatalf("%s differs between the single run and the merge", k)
		}
	}
	// usage errors exit 2 and name the problem
	for _, args := range [][]string{
		{"dataset", "generate", "-f", spec},
		{"dataset", "generate", "-f", spec, "-d", dir, "--shard", "2/2"},
	} {
		if _, code, err := runTopology(t, "", args...); code != 2 || err == nil {
			t.Fatalf("%v: exit %d, err %v; want 2", args, code, err)
		}
	}
	os.WriteFile(spec, []byte(strings.Replace(cliDatasetSpec, "samples: 9", "samples: -1", 1)), 0o644)
	if _, code, err := runTopology(t, "", "dataset", "generate", "-f", spec, "-d", filepath.Join(dir, "x")); code != 2 || !strings.Contains(err.Error(), "samples") {
		t.Fatalf("bad spec: exit %d, err %v", code, err)
	}
}
