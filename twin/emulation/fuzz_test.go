package emulation

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// FuzzNewPlan feeds network documents to the planner: it must never panic, must reject
// with ErrInvalid, and an accepted plan must be internally consistent (every route's
// device exists on its node, every node address unique).
func FuzzNewPlan(f *testing.F) {
	for _, p := range []string{"labs/vector-a/network.json"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, 0.01, "fq")
	}
	f.Add([]byte(`{"devices":[{"id":"a"},{"id":"b"}],"links":[{"id":"l","endpoints":[{"device":"a","endpoint":"lo"},{"device":"b","endpoint":"a/b"}],"capacity_gbps":1}],"flows":[{"id":"f","src":"a","dst":"b"}]}`), 0.5, "fifo")
	f.Add([]byte(`{"devices":[{"id":"a"}],"flows":[{"id":"f","src":"a","dst":"a","path":["x~r"]}]}`), 1.0, "fq")
	f.Fuzz(func(t *testing.T, raw []byte, scale float64, queue string) {
		var n network.Network
		if json.Unmarshal(raw, &n) != nil {
			return
		}
		p, err := NewPlan(&n, Options{Lab: "fz", Prefix: "tfe-", Scale: scale, Queue: QueueModel(queue)}, nil, 1)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		addrs := map[string]bool{}
		for _, node := range p.Nodes {
			if addrs[node.Addr.String()] {
				t.Fatalf("duplicate node address %s", node.Addr)
			}
			addrs[node.Addr.String()] = true
			ifs := map[string]bool{}
			for _, ifc := range node.Ifaces {
				if ifs[ifc.Name] || !ifnameRE.MatchString(ifc.Name) || reservedIf[ifc.Name] {
					t.Fatalf("node %s: bad or duplicate interface %q", node.ID, ifc.Name)
				}
				ifs[ifc.Name] = true
			}
			for _, r := range node.Routes {
				if !ifs[r.Dev] {
					t.Fatalf("node %s: route via unknown device %q", node.ID, r.Dev)
				}
			}
			_ = tcBatch(p, &node)
		}
	})
}
