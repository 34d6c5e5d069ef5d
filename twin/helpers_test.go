package twin_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/twin"
)

func newManager(t testing.TB) *twin.Manager {
	t.Helper()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// hop maps "from>to" device pairs to the directed link between them.
func hops(n *network.Network) map[string]string {
	ix := n.Index()
	out := map[string]string{}
	for _, d := range n.Devices {
		for _, dl := range ix.Out(d.ID) {
			out[d.ID+">"+dl.To.Device] = dl.ID
		}
	}
	return out
}

// pathOf turns a device sequence into directed link IDs.
func pathOf(t testing.TB, h map[string]string, devs ...string) []string {
	t.Helper()
	var p []string
	for i := 0; i+1 < len(devs); i++ {
		id, ok := h[devs[i]+">"+devs[i+1]]
		if !ok {
			t.Fatalf("no link %s -> %s", devs[i], devs[i+1])
		}
		p = append(p, id)
	}
	return p
}

// fatTreeFlows returns n flows between hosts of a k-ary fat-tree (network.FatTree),
// each on a valid up-down path through a core switch.
func fatTreeFlows(t testing.TB, nw *network.Network, k, n int) []network.Flow {
	h := hops(nw)
	half := k / 2
	hosts := k * k * k / 4
	flows := make([]network.Flow, 0, n)
	for i := range n {
		s := i % hosts
		d := (i*7919 + hosts/2 + 1) % hosts
		sp, se, sx := s/(half*half), (s/half)%half, s%half
		dp, de, dx := d/(half*half), (d/half)%half, d%half
		if sp == dp {
			dp = (dp + 1) % k
		}
		agg := i % half
		core := agg*half + (i/half)%half
		devs := []string{
			fmt.Sprintf("h-%d-%d-%d", sp, se, sx), fmt.Sprintf("pod%d-edge%d", sp, se),
			fmt.Sprintf("pod%d-agg%d", sp, agg), fmt.Sprintf("core-%d", core),
			fmt.Sprintf("pod%d-agg%d", dp, agg), fmt.Sprintf("pod%d-edge%d", dp, de),
			fmt.Sprintf("h-%d-%d-%d", dp, de, dx),
		}
		flows = append(flows, network.Flow{ID: fmt.Sprintf("f%06d", i), Src: devs[0], Dst: devs[6],
			Path: pathOf(t, h, devs...)})
	}
	return flows
}

func load(t testing.TB, tw *twin.Twin, n *network.Network) {
	t.Helper()
	if _, err := tw.Update(context.Background(), func(tx *twin.Txn) error {
		_, err := tx.Apply(n)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func leafSpine(t testing.TB) *network.Network {
	t.Helper()
	n, err := network.LeafSpine(2, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
