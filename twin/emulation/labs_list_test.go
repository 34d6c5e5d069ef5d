package emulation

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDeployedLabs lists labs from their state files, sorted by name, and skips files
// that are not lab states; a missing directory is no lab.
func TestDeployedLabs(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	for _, st := range []State{
		{Backend: "netns", Created: at, Plan: &Plan{Options: Options{Lab: "zeta", Prefix: "tfe-", Queue: QueueFQ, Scale: 0.01},
			Nodes: make([]PlanNode, 3), Links: make([]PlanLink, 2)}},
		{Backend: "netns", Created: at, Plan: &Plan{Options: Options{Lab: "alpha", Prefix: "tfe-"}, Nodes: make([]PlanNode, 1)}},
	} {
		raw, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, st.Plan.Options.Lab+".json"), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"junk.json": "{not json", "other.json": `{"backend":"netns"}`, "notes.txt": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	labs, err := DeployedLabs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(labs) != 2 || labs[0].Lab != "tfe-alpha" || labs[1].Lab != "tfe-zeta" {
		t.Fatalf("labs = %+v; want tfe-alpha, tfe-zeta", labs)
	}
	if z := labs[1]; z.Nodes != 3 || z.Links != 2 || z.Queue != string(QueueFQ) || z.Scale != 0.01 || !z.Created.Equal(at) || z.Backend != "netns" {
		t.Errorf("zeta = %+v", z)
	}
	if labs, err := DeployedLabs(filepath.Join(dir, "missing")); err != nil || len(labs) != 0 {
		t.Errorf("missing directory: %v, %v", labs, err)
	}
}
