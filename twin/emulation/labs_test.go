package emulation

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

var updateLabs = flag.Bool("update-labs", false, "rewrite the reference labs under labs/")

// referenceLabs are the reference labs under labs/: a network document (what `twinflow
// lab deploy -f` takes, flows included) and its containerlab topology file.
func referenceLabs(t testing.TB) map[string]*network.Network {
	t.Helper()
	ft, err := network.FatTree(4)
	if err != nil {
		t.Fatal(err)
	}
	wan, err := network.ALTOThreeDomain()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]*network.Network{"vector-a": vectorA(t), "fat-tree": ft, "wan3": wan}
}

// TestReferenceLabsUpToDate checks labs/<name>/<name>.clab.yml (and the generated
// network documents) against what the code generates and validates them against
// containerlab's schema. Regenerate with: go test ./twin/emulation -run ReferenceLabs -update-labs
func TestReferenceLabsUpToDate(t *testing.T) {
	schema := clabSchema(t)
	root := repoRoot(t)
	for name, n := range referenceLabs(t) {
		dir := filepath.Join(root, "labs", name)
		c := &Containerlab{Options: Options{Lab: name, Prefix: "tf-"}}
		topo, err := c.Topology(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateContainerlab(schema, topo); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		files := map[string][]byte{name + ".clab.yml": topo}
		if name != "vector-a" { // vector A's document is hand-written
			doc, err := json.MarshalIndent(n, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			files["network.json"] = append(doc, '\n')
		}
		for f, want := range files {
			path := filepath.Join(dir, f)
			if *updateLabs {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Errorf("%v (regenerate with -update-labs)", err)
				continue
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale (regenerate with -update-labs)", path)
			}
		}
	}
}
