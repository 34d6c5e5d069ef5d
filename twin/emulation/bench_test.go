package emulation

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twinflow/twinflow/labs/labtest"
	"github.com/twinflow/twinflow/labs/standin/nodetest"
	"github.com/twinflow/twinflow/models/network"
)

// BenchmarkNetnsDeployDestroy50 deploys and destroys a 50-router Waxman WAN (plumbing
// only: namespaces, veths, addresses, routes, HTB fq shaping; no agents) and reports
// deploy and destroy times separately. Every iteration checks zero residue.
// Run as root: go test -run '^$' -bench NetnsDeployDestroy50 -benchtime 5x ./twin/emulation
func BenchmarkNetnsDeployDestroy50(b *testing.B) {
	n, err := network.Generate("wan:n=50", 1)
	if err != nil {
		b.Fatal(err)
	}
	benchDeployDestroy(b, n, nil)
}

// BenchmarkNetnsDeployDestroy50Agents is the same lab with a twinflow-node agent per
// namespace (gNMI on the management network, interface addresses pushed over gNMI).
func BenchmarkNetnsDeployDestroy50Agents(b *testing.B) {
	n, err := network.Generate("wan:n=50", 1)
	if err != nil {
		b.Fatal(err)
	}
	bin := nodetest.Binary(b)
	benchDeployDestroy(b, n, []string{bin})
}

// settle is the pause between iterations (outside the timer), see benchDeployDestroy.
const settle = 3 * time.Second

func benchDeployDestroy(b *testing.B, n *network.Network, node []string) {
	requireRootT(b)
	o := Options{Lab: "bench", Prefix: testPrefix}
	labtest.Lock(b, o.Label())
	nb := &Netns{Options: o, StateDir: b.TempDir()}
	if node != nil {
		nb.NodeCmd = append(node, "--dataplane", "linux", "--insecure")
		nb.Config = benchConfigurer
	}
	b.Cleanup(func() { _ = Sweep(context.Background(), testPrefix+"bench", nb.StateDir) })
	ctx := context.Background()
	var deploy, destroy time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := nb.Deploy(ctx, n); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := nb.Destroy(ctx); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		deploy += t1.Sub(t0)
		destroy += t2.Sub(t1)
		b.StopTimer()
		if left := residue(b, testPrefix+"bench"); len(left) != 0 {
			b.Fatalf("residue after destroy: %v", left)
		}
		// The kernel frees destroyed namespaces asynchronously (cleanup_net); let it
		// finish so that it is not billed to the next deploy.
		time.Sleep(settle)
		b.StartTimer()
	}
	b.ReportMetric(deploy.Seconds()/float64(b.N), "deploy-s/op")
	b.ReportMetric(destroy.Seconds()/float64(b.N), "destroy-s/op")
	b.ReportMetric(float64(len(n.Devices)), "nodes")
	b.ReportMetric(float64(len(n.Links)), "links")
}

// BenchmarkContainerlabTopology generates and schema-validates containerlab files for
// WANs of 10 to 1,000 nodes.
func BenchmarkContainerlabTopology(b *testing.B) {
	schema := clabSchema(b)
	for _, size := range []int{10, 100, 1000} {
		n, err := network.Generate(fmt.Sprintf("wan:n=%d", size), 1)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("nodes=%d", size), func(b *testing.B) {
			c := &Containerlab{Options: Options{Lab: "bench", Prefix: "tfe-"}}
			for i := 0; i < b.N; i++ {
				topo, err := c.Topology(n)
				if err != nil {
					b.Fatal(err)
				}
				if err := ValidateContainerlab(schema, topo); err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(len(topo)))
			}
		})
	}
}
