package routing

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// randomNet is a random multigraph of n devices with integer latencies (parallel links
// allowed) for the brute-force comparisons.
func randomNet(r *rand.Rand, n, links int) *network.Network {
	net := &network.Network{}
	for i := range n {
		net.Devices = append(net.Devices, network.Device{ID: fmt.Sprintf("d%d", i), Type: network.DeviceRouter})
	}
	for i := range links {
		a, b := r.IntN(n), r.IntN(n)
		if a == b {
			continue
		}
		net.Links = append(net.Links, network.Link{ID: fmt.Sprintf("l%d", i), CapacityGbps: 10, LatencyMs: float64(1 + r.IntN(9)),
			Endpoints: []network.EndPointRef{{Device: fmt.Sprintf("d%d", a), EndPoint: fmt.Sprintf("l%d-a", i)}, {Device: fmt.Sprintf("d%d", b), EndPoint: fmt.Sprintf("l%d-z", i)}}})
	}
	return net
}

// simplePaths enumerates every simple path from s to t over directed links.
func simplePaths(g *Graph, s, t int32) [][]int32 {
	var out [][]int32
	on := make([]bool, len(g.devs))
	var cur []int32
	var walk func(u int32)
	walk = func(u int32) {
		if u == t {
			out = append(out, slices.Clone(cur))
			return
		}
		on[u] = true
		for _, e := range g.out[u] {
			v := g.eTo[e]
			if on[v] || v == u {
				continue
			}
			cur = append(cur, e)
			walk(v)
			cur = cur[:len(cur)-1]
		}
		on[u] = false
	}
	walk(s)
	return out
}

func disjointPair(g *Graph, a, b []int32, mode Disjointness) bool {
	links := map[string]bool{}
	devs := map[int32]bool{}
	for _, e := range a {
		links[g.eLink[e]] = true
		devs[g.eTo[e]] = true
	}
	for i, e := range b {
		if links[g.eLink[e]] {
			return false
		}
		if mode == NodeDisjoint && i < len(b)-1 && devs[g.eTo[e]] {
			return false
		}
	}
	return true
}

func checkPath(t *testing.T, g *Graph, p Path, src, dst string) {
	t.Helper()
	if len(p.Devices) != len(p.Links)+1 || p.Devices[0] != src || p.Devices[len(p.Devices)-1] != dst {
		t.Fatalf("malformed path %+v from %s to %s", p, src, dst)
	}
	var w float64
	for i, dl := range p.Links {
		e, ok := g.edgeIdx(dl)
		if !ok || g.devs[g.eFrom[e]] != p.Devices[i] || g.devs[g.eTo[e]] != p.Devices[i+1] {
			t.Fatalf("path %+v: link %s does not join %s and %s", p, dl, p.Devices[i], p.Devices[i+1])
		}
		w += g.weight(e, Latency)
	}
	if math.Abs(w-p.Weight) > 1e-9 {
		t.Fatalf("path %+v: weight %v, links sum to %v", p, p.Weight, w)
	}
}

// TestDisjointAgainstBruteForce (REQ-SLI-03 reserved backup paths): on random small
// multigraphs, the pair Disjoint returns is link- (node-) disjoint, made of valid
// paths, and of least total weight among all pairs of simple paths; when it finds none,
// no disjoint pair exists.
func TestDisjointAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 15))
	checked := 0
	for iter := range 400 {
		n := 3 + r.IntN(5)
		g := mustGraph(t, randomNet(r, n, n+r.IntN(2*n)))
		s, d := int32(0), int32(n-1)
		src, dst := g.devs[s], g.devs[d]
		all := simplePaths(g, s, d)
		for _, mode := range []Disjointness{LinkDisjoint, NodeDisjoint} {
			best := math.Inf(1)
			for i := range all {
				for j := i + 1; j < len(all); j++ {
					if !disjointPair(g, all[i], all[j], mode) {
						continue
					}
					var w float64
					for _, e := range append(slices.Clone(all[i]), all[j]...) {
						w += g.weight(e, Latency)
					}
					best = math.Min(best, w)
				}
			}
			ps, err := g.Disjoint(src, dst, 2, mode, Options{Metric: Latency}, math.Inf(-1))
			if math.IsInf(best, 1) {
				if !errors.Is(err, ErrNoPath) {
					t.Fatalf("iter %d %s: brute force finds no disjoint pair, Disjoint returned %v, %v", iter, mode, ps, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("iter %d %s: brute force finds a pair of weight %v; Disjoint: %v", iter, mode, best, err)
			}
			checked++
			var idx [2][]int32
			for k, p := range ps {
				checkPath(t, g, p, src, dst)
				for _, dl := range p.Links {
					e, _ := g.edgeIdx(dl)
					idx[k] = append(idx[k], e)
				}
			}
			if !disjointPair(g, idx[0], idx[1], mode) || !disjointPair(g, idx[1], idx[0], mode) {
				t.Fatalf("iter %d %s: paths %v and %v are not disjoint", iter, mode, ps[0].Links, ps[1].Links)
			}
			if got := ps[0].Weight + ps[1].Weight; math.Abs(got-best) > 1e-6 {
				t.Fatalf("iter %d %s: total weight %v; the optimum is %v (%v, %v)", iter, mode, got, best, ps[0].Links, ps[1].Links)
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d instances had a disjoint pair: the generator is too sparse to test anything", checked)
	}
}

// TestDisjointTrap: the classic trap topology where the shortest path blocks every
// disjoint partner; Suurballe finds the pair by interlacing.
func TestDisjointTrap(t *testing.T) {
	n := &network.Network{}
	for _, d := range []string{"s", "a", "b", "t"} {
		n.Devices = append(n.Devices, network.Device{ID: d, Type: network.DeviceRouter})
	}
	link := func(id, x, y string, lat float64) {
		n.Links = append(n.Links, network.Link{ID: id, CapacityGbps: 10, LatencyMs: lat,
			Endpoints: []network.EndPointRef{{Device: x, EndPoint: id + "-a"}, {Device: y, EndPoint: id + "-z"}}})
	}
	link("sa", "s", "a", 1)
	link("ab", "a", "b", 1)
	link("bt", "b", "t", 1)
	link("sb", "s", "b", 3)
	link("at", "a", "t", 3)
	g := mustGraph(t, n)
	sp, _ := g.Shortest("s", "t", Options{Metric: Latency})
	if !slices.Equal(sp.Links, []string{"sa", "ab", "bt"}) {
		t.Fatalf("shortest %v", sp.Links)
	}
	ps, err := g.Disjoint("s", "t", 2, NodeDisjoint, Options{Metric: Latency}, math.Inf(-1))
	if err != nil {
		t.Fatal(err)
	}
	got := [][]string{ps[0].Links, ps[1].Links}
	want := [][]string{{"sa", "at"}, {"sb", "bt"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("pair %v; want %v", got, want)
	}
	if _, err := g.Disjoint("s", "t", 3, LinkDisjoint, Options{Metric: Latency}, math.Inf(-1)); !errors.Is(err, ErrNoPath) {
		t.Fatalf("3 disjoint paths in a graph with a 2-cut: %v", err)
	}
	for _, bad := range []int{0, 9} {
		if _, err := g.Disjoint("s", "t", bad, LinkDisjoint, Options{}, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("k=%d: %v", bad, err)
		}
	}
}

// TestHopBoundedAgainstBruteForce (REQ-TE-03 constraints: hop count): the TE path with a
// hop bound is the least-weight simple path with at most that many links.
func TestHopBoundedAgainstBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 9))
	for iter := range 300 {
		n := 3 + r.IntN(5)
		g := mustGraph(t, randomNet(r, n, n+r.IntN(2*n)))
		h := 1 + r.IntN(3)
		best := math.Inf(1)
		for _, p := range simplePaths(g, 0, int32(n-1)) {
			if len(p) > h {
				continue
			}
			var w float64
			for _, e := range p {
				w += g.weight(e, Latency)
			}
			best = math.Min(best, w)
		}
		ps, err := g.TE(TERequest{Src: g.devs[0], Dst: g.devs[n-1], Metric: Latency, MaxHops: h, Candidates: 1}, nil)
		if math.IsInf(best, 1) {
			if !errors.Is(err, ErrNoPath) {
				t.Fatalf("iter %d: no path within %d hops exists; TE returned %v, %v", iter, h, ps, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("iter %d: %v (best %v within %d hops)", iter, err, best, h)
		}
		checkPath(t, g, ps[0], g.devs[0], g.devs[n-1])
		if len(ps[0].Links) > h || math.Abs(ps[0].Weight-best) > 1e-9 {
			t.Fatalf("iter %d: path %v (%v, %d hops); best within %d hops is %v", iter, ps[0].Links, ps[0].Weight, len(ps[0].Links), h, best)
		}
	}
}

func TestTEExplicitAndFallbacks(t *testing.T) {
	g := mustGraph(t, diamond())
	// strict hop c: a-c-d; loose hop b: a-b-d
	ps, err := g.TE(TERequest{Src: "a", Dst: "d", Metric: Latency, Hops: []Hop{{Device: "c"}}}, nil)
	if err != nil || !slices.Equal(ps[0].Links, []string{"ac", "cd"}) {
		t.Fatalf("strict via c: %v, %v", ps, err)
	}
	if _, err := g.TE(TERequest{Src: "a", Dst: "d", Hops: []Hop{{Device: "b"}, {Device: "c"}}}, nil); !errors.Is(err, ErrNoPath) || !strings.Contains(err.Error(), "not adjacent") {
		t.Fatalf("strict b then c (not adjacent): %v", err)
	}
	ps, err = g.TE(TERequest{Src: "a", Dst: "d", Metric: Latency, Hops: []Hop{{Device: "d", Loose: true}}}, nil)
	if err != nil || !slices.Equal(ps[0].Links, []string{"ab", "bd"}) {
		t.Fatalf("loose to d: %v, %v", ps, err)
	}
	// the shortest (a-b-d, 2 ms) has 1 Gb/s left on ab: 5 Gb/s falls back to a-c-d
	ps, err = g.TE(TERequest{Src: "a", Dst: "d", Metric: Latency, BandwidthGbps: 5}, nil)
	if err != nil || !slices.Equal(ps[0].Links, []string{"ac", "cd"}) {
		t.Fatalf("5 Gb/s: %v, %v", ps, err)
	}
	// latency bound 3 ms with 5 Gb/s: nothing
	if _, err := g.TE(TERequest{Src: "a", Dst: "d", Metric: Latency, BandwidthGbps: 5, MaxLatencyMs: 3}, nil); !errors.Is(err, ErrNoPath) || !strings.Contains(err.Error(), "latency <= 3 ms") {
		t.Fatalf("5 Gb/s within 3 ms: %v", err)
	}
	// one hop only: the direct link
	ps, err = g.TE(TERequest{Src: "a", Dst: "d", Metric: Latency, MaxHops: 1}, nil)
	if err != nil || !slices.Equal(ps[0].Links, []string{"ad"}) {
		t.Fatalf("1 hop: %v, %v", ps, err)
	}
	// three disjoint paths in the diamond (ab-bd, ac-cd, ad)
	ps, err = g.TE(TERequest{Src: "a", Dst: "d", Metric: Latency, Paths: 3}, nil)
	if err != nil || len(ps) != 3 || !slices.Equal(ps[2].Links, []string{"ad"}) {
		t.Fatalf("3 disjoint: %v, %v", ps, err)
	}
	for _, bad := range []TERequest{
		{Src: "a", Dst: "d", BandwidthGbps: math.NaN()},
		{Src: "a", Dst: "d", MaxHops: -1},
		{Src: "a", Dst: "d", Priority: 8},
		{Src: "a", Dst: "d", Paths: 2, Hops: []Hop{{Device: "b"}}},
		{Src: "a", Dst: "d", Metric: "cost"},
	} {
		if _, err := g.TE(bad, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v; want ErrInvalid", bad, err)
		}
	}
}

// TestReservations (REQ-SLI-04 hard isolation bookkeeping): what is held at a priority
// and better reduces what a request at that priority sees; lower priorities do not;
// release gives it back.
func TestReservations(t *testing.T) {
	g := mustGraph(t, diamond())
	r := NewReservations()
	if err := r.Reserve("svc-a", []string{"ac", "cd"}, 6, 0); err != nil {
		t.Fatal(err)
	}
	if err := r.Reserve("svc-b", []string{"ad"}, 8, 5); err != nil {
		t.Fatal(err)
	}
	if h := r.Held("ac", 0); h != 6 {
		t.Fatalf("held on ac at 0: %v", h)
	}
	if h := r.Held("ad", 4); h != 0 {
		t.Fatalf("held on ad at 4: %v (priority 5 must not count)", h)
	}
	// 5 Gb/s at priority 1: ac has 4 left, ab has 10 (reservations ignore "used"), ad 10
	ps, err := g.TE(TERequest{Src: "a", Dst: "d", Metric: Latency, BandwidthGbps: 5, Priority: 1}, r)
	if err != nil || !slices.Equal(ps[0].Links, []string{"ab", "bd"}) {
		t.Fatalf("5 Gb/s at prio 1: %v, %v", ps, err)
	}
	// excluding b: ac-cd has 4 left, ad is held at priority 5 (preemptable from 1)
	ps, err = g.TE(TERequest{Src: "a", Dst: "d", Metric: Latency, BandwidthGbps: 5, Priority: 1, ExcludeDevices: map[string]bool{"b": true}}, r)
	if err != nil || !slices.Equal(ps[0].Links, []string{"ad"}) {
		t.Fatalf("5 Gb/s at prio 1 without b: %v, %v", ps, err)
	}
	// at priority 7 ad has only 2 left
	if _, err := g.TE(TERequest{Src: "a", Dst: "d", BandwidthGbps: 5, Priority: 7, ExcludeDevices: map[string]bool{"b": true}}, r); !errors.Is(err, ErrNoPath) {
		t.Fatalf("5 Gb/s at prio 7 without b: %v", err)
	}
	if err := r.Reserve("svc-c", []string{"ad"}, 5, 0); err != nil {
		t.Fatal(err)
	}
	if ob := r.Overbooked(g); len(ob) != 1 || !strings.HasPrefix(ob[0], "ad:") {
		t.Fatalf("overbooked: %v", ob)
	}
	r.Release("svc-c")
	r.Release("svc-a")
	r.Release("nobody")
	if h := r.Held("ac", 7); h != 0 || len(r.Overbooked(g)) != 0 || !slices.Equal(r.Owners(), []string{"svc-b"}) {
		t.Fatalf("after release: held %v, owners %v", h, r.Owners())
	}
	for _, bad := range []struct {
		owner string
		gbps  float64
		prio  int
	}{{"", 1, 0}, {"x", 0, 0}, {"x", math.Inf(1), 0}, {"x", 1, -1}, {"x", 1, 8}} {
		if err := r.Reserve(bad.owner, []string{"ab"}, bad.gbps, bad.prio); !errors.Is(err, ErrInvalid) {
			t.Errorf("Reserve(%+v): %v", bad, err)
		}
	}
}

// TestSegmentList (REQ-TE-03: SR paths): a path off the shortest one needs a segment at
// the detour; the shortest path compresses to the destination alone.
func TestSegmentList(t *testing.T) {
	g := mustGraph(t, diamond())
	o := Options{Metric: Latency}
	sp, _ := g.Shortest("a", "d", o)
	segs, err := g.SegmentList(sp, true, o)
	if err != nil || !slices.Equal(segs, []string{"d"}) {
		t.Fatalf("shortest compressed: %v, %v", segs, err)
	}
	segs, err = g.SegmentList(sp, false, o)
	if err != nil || !slices.Equal(segs, []string{"b", "d"}) {
		t.Fatalf("shortest strict: %v, %v", segs, err)
	}
	viaC := Path{Devices: []string{"a", "c", "d"}, Links: []string{"ac", "cd"}}
	segs, err = g.SegmentList(viaC, true, o)
	if err != nil || !slices.Equal(segs, []string{"c", "d"}) {
		t.Fatalf("via c compressed: %v, %v", segs, err)
	}
	// the direct link a-d (20 ms) is not how a forwards to d: node SIDs cannot say it
	direct := Path{Devices: []string{"a", "d"}, Links: []string{"ad"}}
	if _, err := g.SegmentList(direct, true, o); !errors.Is(err, ErrNoPath) || !strings.Contains(err.Error(), "adjacency") {
		t.Fatalf("direct: %v", err)
	}
	if _, err := g.SegmentList(Path{Devices: []string{"a"}}, true, o); !errors.Is(err, ErrInvalid) {
		t.Fatalf("one device: %v", err)
	}
}

// TestNativeDijkstraMatchesShortest: the native search TE uses first finds paths of
// the same weight as the gonum-based Shortest on random multigraphs.
func TestNativeDijkstraMatchesShortest(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for iter := range 300 {
		n := 3 + r.IntN(8)
		g := mustGraph(t, randomNet(r, n, n+r.IntN(3*n)))
		o := Options{Metric: Latency}
		want, err1 := g.Shortest(g.devs[0], g.devs[n-1], o)
		got, err2 := g.dijkstra(g.devs[0], g.devs[n-1], &o, math.Inf(-1))
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("iter %d: %v vs %v", iter, err1, err2)
		}
		if err1 != nil {
			continue
		}
		checkPath(t, g, got, g.devs[0], g.devs[n-1])
		if math.Abs(got.Weight-want.Weight) > 1e-9 {
			t.Fatalf("iter %d: weight %v; Shortest %v", iter, got.Weight, want.Weight)
		}
	}
}

// TestTETreeLazyMatchesFullSearch: the lazy tree, asked for destinations in a random
// order (so its search stops and resumes at different points), returns for each the
// very path (links, weight) of the full search from the source, and ErrNoPath exactly
// where the full search reaches nothing; with exclusions and bandwidth pruning.
func TestTETreeLazyMatchesFullSearch(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 3))
	for iter := range 300 {
		n := 2 + r.IntN(12)
		net := randomNet(r, n, n+r.IntN(3*n))
		g := mustGraph(t, net)
		req := TERequest{Src: g.devs[r.IntN(n)], Metric: []Metric{Hops, Latency}[r.IntN(2)], BandwidthGbps: float64(r.IntN(8))}
		if r.IntN(3) == 0 && len(g.eID) > 0 {
			req.ExcludeLinks = map[string]bool{g.eID[r.IntN(len(g.eID))]: true}
		}
		if r.IntN(4) == 0 {
			if x := g.devs[r.IntN(n)]; x != req.Src {
				req.ExcludeDevices = map[string]bool{x: true}
			}
		}
		var resv *Reservations
		if r.IntN(2) == 0 && len(g.eID) > 0 {
			resv = NewReservations()
			_ = resv.Reserve("x", []string{g.eID[r.IntN(len(g.eID))]}, 6, 0)
		}
		tr, err := g.TETree(req, resv)
		if err != nil {
			t.Fatal(err)
		}
		s := g.devIdx[req.Src]
		dist, via := g.search(s, -1, &tr.o, tr.minAvail)
		for _, d := range r.Perm(n) {
			got, err := tr.Path(g.devs[d])
			if unreachable := math.IsInf(dist[d], 1) || int32(d) == s; unreachable {
				if !errors.Is(err, ErrNoPath) {
					t.Fatalf("iter %d to %s: full search reaches nothing, tree gives %v, %v", iter, g.devs[d], got, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("iter %d to %s: %v", iter, g.devs[d], err)
			}
			want := g.walkBack(s, int32(d), via, req.Metric)
			if !slices.Equal(got.Links, want.Links) || got.Weight != want.Weight {
				t.Fatalf("iter %d to %s: tree %v (%v), full search %v (%v)", iter, g.devs[d], got.Links, got.Weight, want.Links, want.Weight)
			}
		}
	}
}

// TestTETreeMatchesTE: a source's TE tree gives every destination a path of the
// weight TE finds for that pair alone, under the same bandwidth pruning.
func TestTETreeMatchesTE(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 4))
	for iter := range 200 {
		n := 3 + r.IntN(8)
		net := randomNet(r, n, n+r.IntN(3*n))
		g := mustGraph(t, net)
		resv := NewReservations()
		if len(g.eID) > 0 {
			_ = resv.Reserve("x", []string{g.eID[r.IntN(len(g.eID))]}, 6, 0)
		}
		req := TERequest{Src: g.devs[0], Metric: Latency, BandwidthGbps: 5}
		tr, err := g.TETree(req, resv)
		if err != nil {
			t.Fatal(err)
		}
		for d := 1; d < n; d++ {
			req.Dst = g.devs[d]
			want, err1 := g.TE(req, resv)
			got, err2 := tr.Path(g.devs[d])
			if (err1 == nil) != (err2 == nil) {
				t.Fatalf("iter %d to %s: TE %v, tree %v", iter, g.devs[d], err1, err2)
			}
			if err1 == nil && math.Abs(want[0].Weight-got.Weight) > 1e-9 {
				t.Fatalf("iter %d to %s: TE weight %v, tree %v", iter, g.devs[d], want[0].Weight, got.Weight)
			}
			if err1 == nil {
				checkPath(t, g, got, g.devs[0], g.devs[d])
			}
		}
	}
}

// TestReservationMaskFollowsReservations: the reservation mask kept between TE trees
// is rebuilt when a reservation is made or released, and per bandwidth and priority:
// each tree's paths equal those of the full search under a mask built afresh, over
// random sequences of trees, reservations and releases.
func TestReservationMaskFollowsReservations(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 5))
	for iter := range 100 {
		n := 3 + r.IntN(10)
		g := mustGraph(t, randomNet(r, n, n+r.IntN(3*n)))
		if len(g.eID) == 0 {
			continue
		}
		resv := NewReservations()
		for step := range 30 {
			switch r.IntN(3) {
			case 0:
				var links []string
				for range 1 + r.IntN(3) {
					links = append(links, g.eID[r.IntN(len(g.eID))])
				}
				if err := resv.Reserve(fmt.Sprintf("o%d", r.IntN(4)), links, float64(1+r.IntN(6)), r.IntN(NumPriorities)); err != nil {
					t.Fatal(err)
				}
			case 1:
				resv.Release(fmt.Sprintf("o%d", r.IntN(4)))
			}
			req := TERequest{Src: g.devs[r.IntN(n)], Metric: Latency, BandwidthGbps: float64(1 + r.IntN(8)), Priority: r.IntN(NumPriorities)}
			tr, err := g.TETree(req, resv)
			if err != nil {
				t.Fatal(err)
			}
			o := tr.o
			o.mask = g.buildReservationMask(req.BandwidthGbps, req.Priority, resv)
			if !slices.Equal(tr.o.mask, o.mask) {
				t.Fatalf("iter %d step %d: kept mask %v, fresh mask %v", iter, step, tr.o.mask, o.mask)
			}
			s := g.devIdx[req.Src]
			dist, via := g.search(s, -1, &o, tr.minAvail)
			for d := range n {
				got, err := tr.Path(g.devs[d])
				if math.IsInf(dist[d], 1) || int32(d) == s {
					if err == nil {
						t.Fatalf("iter %d step %d: path %v where the fresh search has none", iter, step, got.Links)
					}
					continue
				}
				if want := g.walkBack(s, int32(d), via, req.Metric); err != nil || !slices.Equal(got.Links, want.Links) {
					t.Fatalf("iter %d step %d to %s: tree %v (%v), fresh search %v", iter, step, g.devs[d], got.Links, err, want.Links)
				}
			}
		}
	}
}
