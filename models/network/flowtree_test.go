package network

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFlowTree(t *testing.T) {
	multi := 0
	for seed := range int64(50) {
		n, err := Generate("flow-tree:n=7,flows=9", seed)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Validate(); err != nil { // paths contiguous from src to dst
			t.Fatalf("seed %d: %v", seed, err)
		}
		if len(n.Devices) != 7 || len(n.Links) != 6 || len(n.Flows) != 9 {
			t.Fatalf("seed %d: %d devices, %d links, %d flows", seed, len(n.Devices), len(n.Links), len(n.Flows))
		}
		for _, f := range n.Flows {
			if len(f.Path) == 0 {
				t.Fatalf("seed %d: flow %s without a path", seed, f.ID)
			}
			if len(f.Path) > 1 {
				multi++
			}
		}
		again, _ := FlowTree(7, 9, seed)
		if diff := cmp.Diff(n, again); diff != "" {
			t.Fatalf("seed %d: not deterministic", seed)
		}
	}
	if multi == 0 {
		t.Error("no multi-hop flow in 50 trees")
	}
	for _, spec := range []string{"flow-tree:n=1", "flow-tree:n=65", "flow-tree:flows=0", "flow-tree:flows=257", "flow-tree:x=1"} {
		if _, err := Generate(spec, 1); err == nil {
			t.Errorf("%s accepted", spec)
		}
	}
}
