package bottleneck

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// TestFailureRerouteFatTree fails a core link and then a whole aggregation switch on a
// fat-tree with ECMP-routed flows: rerouted paths avoid the failed links, and the
// incremental structure equals a full recomputation.
func TestFailureRerouteFatTree(t *testing.T) {
	n, r, s, _ := ecmpFatTree(t, 4, 4, 300)
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

// TestRerouteECMPAsFreshRouter: through a sequence of link failures (some kept, some
// restored), each ECMP Reroute — failed links marked by index, its router derived
// into the previous one's storage — moves every affected flow to the path a router
// built from scratch with a predicate over every link failed so far chooses.
func TestRerouteECMPAsFreshRouter(t *testing.T) {
	n, r, s, rng := ecmpFatTree(t, 5, 6, 400)
	ends := map[string][2]string{}
	for _, f := range n.Flows {
		ends[f.ID] = [2]string{f.Src, f.Dst}
	}
	failed := map[string]bool{}
	rerouted := 0
	for it := range 60 {
		l := n.Links[rng.IntN(len(n.Links))].ID
		if failed[l] {
			continue
		}
		ids := []string{l, l + network.ReverseSuffix}
		for _, id := range ids {
			failed[id] = true
		}
		d, err := s.FailLinks(ids, r.Reroute())
		if err != nil {
			t.Fatal(err)
		}
		fresh := r.Graph().NewECMP(routing.Options{Metric: routing.Hops, Exclude: func(id string) bool { return failed[id] }})
		for _, f := range d.Rerouted {
			want, err := fresh.Route(f, ends[f][0], ends[f][1])
			got, _ := s.Path(f)
			if err != nil || !slices.Equal(got, want.Links) {
				t.Fatalf("it %d: %s rerouted to %v, a fresh router gives %v (%v)", it, f, got, want.Links, err)
			}
			rerouted++
		}
		for _, f := range d.Dropped {
			if _, err := fresh.Route(f, ends[f][0], ends[f][1]); err == nil {
				t.Fatalf("it %d: %s dropped, a fresh router has a path", it, f)
			}
		}
		if rng.IntN(3) > 0 { // restore it: the next failure starts from fewer failed links
			for _, id := range ids {
				if _, err := s.RestoreLink(id); err != nil {
					t.Fatal(err)
				}
				delete(failed, id)
			}
		}
	}
	if rerouted == 0 {
		t.Fatal("no flow was rerouted")
	}
}

// TestRerouteWrappedRouter: a Reroute that calls a Router's and returns another path
// gets that path (the router's link indices, which FailLinks uses in place of the IDs,
// are checked against the IDs returned): a shortened path is kept as returned, an
// unknown link is an error that leaves the state and the scratch as they were.
func TestRerouteWrappedRouter(t *testing.T) {
	n, r, s, _ := ecmpFatTree(t, 8, 8, 200)
	core := n.Links[0].ID
	ids := []string{core, core + network.ReverseSuffix}
	before := fmt.Sprint(s.Network())
	_, err := s.FailLinks(ids, func(id string, f *Failure) ([]string, bool) {
		p, ok := r.Reroute()(id, f)
		if !ok {
			return nil, false
		}
		return append(slices.Clone(p[:len(p)-1]), "nope"), true
	})
	if err == nil || !strings.Contains(err.Error(), `unknown link "nope"`) {
		t.Fatalf("wrapped reroute through an unknown link: %v", err)
	}
	if fmt.Sprint(s.Network()) != before {
		t.Fatal("a rejected failure changed the state")
	}
	checkFailScratch(t, s)
	want := map[string][]string{}
	inner := r.Reroute()
	d, err := s.FailLinks(ids, func(id string, f *Failure) ([]string, bool) {
		p, ok := inner(id, f)
		if !ok {
			return nil, false
		}
		if len(p) > 1 && len(want)%2 == 0 {
			p = p[1:] // the same storage, shortened: not the router's path
		}
		want[id] = slices.Clone(p)
		return p, true
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rerouted) < 4 {
		t.Fatalf("%d flows rerouted", len(d.Rerouted))
	}
	for _, id := range d.Rerouted {
		if got, _ := s.Path(id); !slices.Equal(got, want[id]) {
			t.Fatalf("%s: path %v, the reroute returned %v", id, got, want[id])
		}
	}
	checkFailScratch(t, s)
	sameAsFull(t, s, "wrapped reroute")
}

// ecmpFatTree is the fat-tree(4) of the reroute tests: up to nFlows flows between
// random distinct hosts (rand seeds s1, s2; flow IDs "f<i>", a draw of one host twice
// is skipped), routed by a Router's ECMP, its State, and the generator (for the test's
// further draws).
func ecmpFatTree(t *testing.T, s1, s2 uint64, nFlows int) (*network.Network, *Router, *State, *rand.Rand) {
	t.Helper()
	n, err := network.FatTree(4)
	if err != nil {
		t.Fatal(err)
	}
	hosts := hostsOf(n)
	rng := rand.New(rand.NewPCG(s1, s2))
	for i := range nFlows {
		a, b := hosts[rng.IntN(len(hosts))], hosts[rng.IntN(len(hosts))]
		if a != b {
			n.Flows = append(n.Flows, network.Flow{ID: fmt.Sprint("f", i), Src: a, Dst: b})
		}
	}
	r, err := NewRouter(n, RouteECMP)
	if err != nil {
		t.Fatal(err)
	}
	in, err := FromNetwork(n, r.Route)
	if err != nil {
		t.Fatal(err)
	}
	return n, r, mustNew(t, in), rng
}
