package bottleneck

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// TestFailureRerouteFatTree fails a core link and then a whole aggregation switch on a
// fat-tree with ECMP-routed flows: rerouted paths avoid the failed links, and the
// incremental structure equals a full recomputation.
func TestFailureRerouteFatTree(t *testing.T) {
	n, err := network.FatTree(4)
	if err != nil {
		t.Fatal(err)
	}
	hosts := hostsOf(n)
	rng := rand.New(rand.NewPCG(4, 4))
	for i := range 300 {
		a, b := hosts[rng.IntN(len(hosts))], hosts[rng.IntN(len(hosts))]
		if a == b {
			continue
		}
		n.Flows = append(n.Flows, network.Flow{ID: fmt.Sprint("f", i), Src: a, Dst: b})
	}
	r, err := NewRouter(n, RouteECMP)
	if err != nil {
		t.Fatal(err)
	}
	in, err := FromNetwork(n, r.Route)
	if err != nil {
		t.Fatal(err)
	}
	s := mustNew(t, in)
	core := n.Links[0].ID // core-0 — pod0-agg0
	d, err := s.FailLinks([]string{core, core + network.ReverseSuffix}, r.Reroute())
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rerouted) == 0 {
		t.Fatal("no flow crossed the failed core link")
	}
	sameAsFull(t, s, "core failure")
	dev, err := r.Graph().DirectedLinksOf("pod1-agg0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FailLinks(dev, r.Reroute()); err != nil {
		t.Fatal(err)
	}
	sameAsFull(t, s, "device failure")
	failed := append(slices.Clone(dev), core, core+network.ReverseSuffix)
	for _, f := range s.Network().Flows {
		for _, l := range f.Path {
			if slices.Contains(failed, l) {
				t.Fatalf("flow %s still crosses failed link %s", f.ID, l)
			}
		}
	}
	// a reroute through an unknown link is rejected and leaves the state untouched
	before := fmt.Sprint(s.Network())
	busy := ""
	for _, f := range s.Network().Flows {
		busy = f.Path[len(f.Path)/2]
	}
	_, err = s.FailLinks([]string{busy}, func(string, *Failure) ([]string, bool) { return []string{"nope"}, true })
	if err == nil {
		t.Fatal("reroute through an unknown link accepted")
	}
	if fmt.Sprint(s.Network()) != before {
		t.Fatal("a rejected failure changed the state")
	}
	if _, err := s.FailLink("nope", nil); err == nil {
		t.Error("unknown link accepted")
	}
	if _, err := s.AddFlow(Flow{ID: "x", Path: []string{core}}); err == nil {
		t.Error("flow over a failed link accepted")
	}
}

func TestFromNetworkDisabledLinks(t *testing.T) {
	n, _ := network.FatTree(2)
	n.Links[0].OperStatus = network.StatusDisabled
	in, err := FromNetwork(n, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Links) != 2*(len(n.Links)-1) {
		t.Errorf("%d directed links; want %d", len(in.Links), 2*(len(n.Links)-1))
	}
	n.Flows = []network.Flow{{ID: "f", Src: "h-0-0-0", Dst: "nowhere"}}
	r, _ := NewRouter(n, RouteShortest)
	if _, err := FromNetwork(n, r.Route); err == nil {
		t.Error("unroutable flow accepted")
	}
}
