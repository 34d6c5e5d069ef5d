package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/whatif"
)

const (
	whatifScenario = "../../apps/whatif/testdata/n-minus-1.yaml"
	whatifNet      = "../../apps/whatif/testdata/backbone.yaml"
)

// REQ-WIF-01, REQ-WIF-02: twinflow whatif on a network file: table, JSON, SVG; the
// worst single failure of the example backbone is da (30 Gb/s of 65 lost).
func TestWhatifCLI(t *testing.T) {
	dir := t.TempDir()
	svg := filepath.Join(dir, "n1.svg")
	out, code, err := runTopology(t, "", "whatif", "-f", whatifScenario, "--network", whatifNet, "--svg", svg)
	if err != nil || code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	for _, want := range []string{"total throughput: 65 Gb/s", "fail da", "CRITICAL LINK", "RECOMMENDATIONS", "protect or duplicate link da: its failure loses 30 Gb/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil || !strings.HasPrefix(string(b), "<svg") || !strings.Contains(string(b), "fail da") {
		t.Fatalf("svg: %v %.200s", err, b)
	}
	out, code, err = runTopology(t, "", "whatif", "-f", whatifScenario, "--network", whatifNet, "-o", "json")
	if err != nil || code != 0 {
		t.Fatalf("json: exit %d: %v", code, err)
	}
	var rep whatif.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != whatif.Schema || rep.Base.TotalGbps != 65 || rep.Criticality[0].Link != "da" || rep.Criticality[0].LossGbps != 30 || rep.N2 == nil || rep.N2.Cases != 10 {
		t.Fatalf("report: %+v", rep)
	}
	// the isolating pair ab+bc drops a->b (acme-2) below its SLO
	found := false
	for _, c := range rep.Cases {
		if c.Name == "fail ab+bc" {
			found = c.Violations == 1 && c.Dropped == 2 && c.SLOs[0].Violated[0] == "acme-2"
		}
	}
	if !found {
		t.Fatalf("fail ab+bc not reported as violating acme: %+v", rep.Cases)
	}
}

// Bad input exits 2 with the file, field and line.
func TestWhatifCLIErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("sweeps:\n  n1: true\n  n3: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"whatif", "--network", whatifNet}, "-f/--file is required"},
		{[]string{"whatif", "-f", bad, "--network", whatifNet}, "line 3"},
		{[]string{"whatif", "-f", whatifScenario, "--network", "nope.yaml"}, "--network"},
		{[]string{"whatif", "-f", whatifScenario, "--snapshot", "x"}, "--snapshot needs --db"},
		{[]string{"whatif", "-f", whatifScenario, "--network", whatifNet, "--snapshot", "x"}, "at most one"},
	} {
		_, code, err := runTopology(t, "", tc.args...)
		if code != 2 || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: exit %d, error %v; want 2 and %q", tc.args, code, err, tc.want)
		}
	}
}

// The base from a named snapshot (--snapshot --db) and from a server's live twin
// (--server) gives the same answer as the file.
func TestWhatifCLISnapshotAndServer(t *testing.T) {
	url := startChangeServer(t)
	mustCLI(t, url, "apply", "-f", whatifNet, "--as", "admin") // a direct live write: admin only
	db := "file:" + filepath.Join(t.TempDir(), "snap.db")
	mustCLI(t, url, "snapshot", "create", "backbone", "-f", whatifNet, "--db", db)
	for _, args := range [][]string{
		{"whatif", "-f", whatifScenario, "--snapshot", "backbone", "--db", db, "-o", "json"},
		{"whatif", "-f", whatifScenario, "-o", "json"}, // --server from cli()
	} {
		out := mustCLI(t, url, args...)
		var rep whatif.Report
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if rep.Base.TotalGbps != 65 || rep.Criticality[0].Link != "da" || rep.Criticality[0].LossGbps != 30 {
			t.Fatalf("%v: base %+v criticality %+v", args, rep.Base, rep.Criticality)
		}
	}
	if _, errs, code := cli(t, url, "whatif", "-f", whatifScenario, "--snapshot", "nope", "--db", db); code != 2 || !strings.Contains(errs, "nope") {
		t.Fatalf("unknown snapshot: exit %d %s", code, errs)
	}
}
