package network

import (
	"fmt"
	"math/rand/v2"
	"strconv"
)

// Bounds of FlowTree.
const (
	MaxFlowTreeNodes = 64
	MaxFlowTreeFlows = 256
)

// FlowTreeCapacitiesGbps are the capacities FlowTree draws from (vector A's).
var FlowTreeCapacitiesGbps = []float64{2.5, 5, 7.5, 10}

// FlowTree builds a random tree of n routers "r-<i>" (router i ≥ 1 hangs off a random
// router among 0…i−1, so chains of several hops are common), each link with a capacity
// drawn from FlowTreeCapacitiesGbps, and flows "f<j>" between random distinct routers
// with their (unique) tree path. It is the kind of network the queueing fidelity
// experiments run (issue 16): multi-hop flows crossing loaded links upstream of their
// bottleneck, beside one-hop flows. The result depends only on (n, flows, seed).
func FlowTree(n, flows int, seed int64) (*Network, error) {
	switch {
	case n < 2 || n > MaxFlowTreeNodes:
		return nil, fmt.Errorf("flow-tree: %w: n must be in [2, %d], got %d", ErrSpec, MaxFlowTreeNodes, n)
	case flows < 1 || flows > MaxFlowTreeFlows:
		return nil, fmt.Errorf("flow-tree: %w: flows must be in [1, %d], got %d", ErrSpec, MaxFlowTreeFlows, flows)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x666c6f7774726565)) // "flowtree"
	b := newBuilder(fmt.Sprintf("flow-tree-%d-%d-s%d", n, flows, seed), fmt.Sprintf("flow-tree n=%d flows=%d seed=%d", n, flows, seed), "copper", n, n-1)
	ids := make([]string, n)
	parent := make([]int, n)
	up := make([]string, n) // directed link from i to its parent
	for i := range n {
		ids[i] = "r-" + strconv.Itoa(i)
		b.device(ids[i], DeviceRouter, n)
	}
	for i := 1; i < n; i++ {
		parent[i] = rng.IntN(i)
		c := FlowTreeCapacitiesGbps[rng.IntN(len(FlowTreeCapacitiesGbps))]
		li := b.link(ids[i], ids[parent[i]], c, 0)
		up[i] = b.n.Links[li].ID // A = i, B = parent: A→B is "up"
	}
	depth := func(i int) int {
		d := 0
		for ; i != 0; i = parent[i] {
			d++
		}
		return d
	}
	for j := range flows {
		s := rng.IntN(n)
		d := rng.IntN(n - 1)
		if d >= s {
			d++
		}
		// Path: up from s to the common ancestor, then down to d.
		var upPath, downPath []string
		a, z := s, d
		for depth(a) > depth(z) {
			upPath = append(upPath, up[a])
			a = parent[a]
		}
		for depth(z) > depth(a) {
			downPath = append(downPath, DirectedLinkID(up[z], true))
			z = parent[z]
		}
		for a != z {
			upPath = append(upPath, up[a])
			downPath = append(downPath, DirectedLinkID(up[z], true))
			a, z = parent[a], parent[z]
		}
		for k := len(downPath) - 1; k >= 0; k-- {
			upPath = append(upPath, downPath[k])
		}
		b.n.Flows = append(b.n.Flows, Flow{ID: "f" + strconv.Itoa(j+1), Src: ids[s], Dst: ids[d], Path: upPath})
	}
	return b.finish(), nil
}
