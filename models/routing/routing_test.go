package routing

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

// diamond: a→b→d (fast, 2 hops, 1+1 ms), a→c→d (2 hops, 5+5 ms), a→d direct (20 ms).
func diamond() *network.Network {
	n := &network.Network{}
	for _, d := range []string{"a", "b", "c", "d"} {
		n.Devices = append(n.Devices, network.Device{ID: d, Type: network.DeviceRouter})
	}
	link := func(id, x, y string, lat, capa, used float64) {
		n.Links = append(n.Links, network.Link{ID: id, CapacityGbps: capa, UsedGbps: used, LatencyMs: lat,
			Endpoints: []network.EndPointRef{{Device: x, EndPoint: id + "-a"}, {Device: y, EndPoint: id + "-z"}}})
	}
	link("ab", "a", "b", 1, 10, 9)
	link("bd", "b", "d", 1, 10, 0)
	link("ac", "a", "c", 5, 10, 0)
	link("cd", "c", "d", 5, 10, 0)
	link("ad", "a", "d", 20, 10, 0)
	return n
}

func mustGraph(t *testing.T, n *network.Network) *Graph {
	t.Helper()
	g, err := NewGraph(n)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestShortest(t *testing.T) {
	g := mustGraph(t, diamond())
	p, err := g.Shortest("a", "d", Options{Metric: Latency})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Links, []string{"ab", "bd"}; !slices.Equal(got, want) {
		t.Errorf("latency path: got %v; want %v", got, want)
	}
	if p.LatencyMs != 2 || p.MinAvailGbps != 1 {
		t.Errorf("latency %v avail %v; want 2, 1", p.LatencyMs, p.MinAvailGbps)
	}
	p, _ = g.Shortest("a", "d", Options{Metric: Hops})
	if got, want := p.Links, []string{"ad"}; !slices.Equal(got, want) {
		t.Errorf("hop path: got %v; want %v", got, want)
	}
	p, _ = g.Shortest("d", "a", Options{Metric: Latency})
	if got, want := p.Links, []string{"bd~r", "ab~r"}; !slices.Equal(got, want) {
		t.Errorf("reverse path: got %v; want %v", got, want)
	}
	// failure: exclude link ab (both directions)
	p, _ = g.Shortest("a", "d", Options{Metric: Latency, ExcludeLinks: map[string]bool{"ab": true}})
	if got, want := p.Links, []string{"ac", "cd"}; !slices.Equal(got, want) {
		t.Errorf("with ab failed: got %v; want %v", got, want)
	}
	_, err = g.Shortest("a", "d", Options{ExcludeDevices: map[string]bool{"d": true}})
	if !errors.Is(err, ErrNoPath) {
		t.Errorf("excluded destination: got %v; want ErrNoPath", err)
	}
	_, err = g.Shortest("a", "zz", Options{})
	if !errors.Is(err, ErrUnknownDevice) || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("unknown device: got %v", err)
	}
}

func TestKShortestAndConstrained(t *testing.T) {
	g := mustGraph(t, diamond())
	ps, err := g.KShortest("a", "d", 5, Options{Metric: Latency})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, strings.Join(p.Links, ","))
	}
	want := []string{"ab,bd", "ac,cd", "ad"}
	if !slices.Equal(got, want) {
		t.Errorf("k-shortest: got %v; want %v", got, want)
	}
	// ab has only 1 Gb/s available: a 5 Gb/s demand avoids it
	p, err := g.Constrained("a", "d", Constraints{MinAvailGbps: 5}, Options{Metric: Latency})
	if err != nil || !slices.Equal(p.Links, []string{"ac", "cd"}) {
		t.Errorf("min bandwidth: got %v, %v", p.Links, err)
	}
	// hop metric prefers ad (20 ms) but a 15 ms bound forces a two-hop path
	p, err = g.Constrained("a", "d", Constraints{MaxLatencyMs: 15}, Options{Metric: Hops})
	if err != nil || p.LatencyMs > 15 || len(p.Links) != 2 {
		t.Errorf("latency bound: got %v (%v ms), %v", p.Links, p.LatencyMs, err)
	}
	_, err = g.Constrained("a", "d", Constraints{MaxLatencyMs: 1}, Options{Metric: Hops})
	if !errors.Is(err, ErrNoPath) {
		t.Errorf("impossible bound: got %v", err)
	}
	if _, err := g.KShortest("a", "d", 0, Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("k=0: got %v", err)
	}
}

func TestECMPFatTree(t *testing.T) {
	n, err := network.FatTree(4)
	if err != nil {
		t.Fatal(err)
	}
	g := mustGraph(t, n)
	r := g.NewECMP(Options{Metric: Hops})
	used := map[string]bool{}
	for i := range 64 {
		id := "flow-" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		p, err := r.Route(id, "h-0-0-0", "h-3-1-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Links) != 6 {
			t.Fatalf("inter-pod path has %d hops: %v", len(p.Links), p.Links)
		}
		if p.Devices[0] != "h-0-0-0" || p.Devices[6] != "h-3-1-1" {
			t.Fatalf("bad endpoints %v", p.Devices)
		}
		p2, _ := r.Route(id, "h-0-0-0", "h-3-1-1")
		if !slices.Equal(p.Links, p2.Links) {
			t.Fatalf("ECMP not deterministic for %s", id)
		}
		used[p.Devices[3]] = true // the core switch
	}
	if len(used) != 4 {
		t.Errorf("64 flows used %d of 4 core switches", len(used))
	}
	// with core-0 down no path crosses it
	r = g.NewECMP(Options{Metric: Hops, ExcludeDevices: map[string]bool{"core-0": true}})
	for i := range 32 {
		p, err := r.Route(strings.Repeat("y", i+1), "h-0-0-0", "h-3-1-1")
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(p.Devices, "core-0") {
			t.Fatalf("path crosses excluded core-0: %v", p.Devices)
		}
	}
	links, err := g.DirectedLinksOf("core-0")
	if err != nil || len(links) != 8 {
		t.Errorf("core-0 links: %v %v; want 8 directed", links, err)
	}
}

// TestDeterministicTies: equal-cost alternatives are broken the same way every time
// (gonum's simple graphs iterate maps; the ordered wrapper fixes the order).
func TestDeterministicTies(t *testing.T) {
	n, err := network.FatTree(4)
	if err != nil {
		t.Fatal(err)
	}
	g := mustGraph(t, n)
	first, err := g.Shortest("h-0-0-0", "h-3-1-1", Options{Metric: Latency})
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		p, _ := g.Shortest("h-0-0-0", "h-3-1-1", Options{Metric: Latency})
		if !slices.Equal(p.Links, first.Links) {
			t.Fatalf("shortest path changed between runs: %v vs %v", p.Links, first.Links)
		}
		ps, _ := g.KShortest("h-0-0-0", "h-3-1-1", 3, Options{Metric: Hops})
		ps2, _ := g.KShortest("h-0-0-0", "h-3-1-1", 3, Options{Metric: Hops})
		for i := range ps {
			if !slices.Equal(ps[i].Links, ps2[i].Links) {
				t.Fatalf("k-shortest changed between runs")
			}
		}
	}
}

// TestECMPDeriveEqualsFresh: a derived router (reusing the distances of one without
// exclusions) routes every flow exactly as a router built from scratch with the same
// exclusions, for random sets of failed links (host links included, so that some
// destinations become unreachable or need new distances).
func TestECMPDeriveEqualsFresh(t *testing.T) {
	n, err := network.FatTree(4)
	if err != nil {
		t.Fatal(err)
	}
	g := mustGraph(t, n)
	var hosts []string
	for _, d := range n.Devices {
		if strings.HasPrefix(d.ID, "h-") {
			hosts = append(hosts, d.ID)
		}
	}
	base := g.NewECMP(Options{Metric: Hops})
	for _, a := range hosts {
		for _, b := range hosts {
			if a != b {
				if _, err := base.Route("warm", a, b); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	reused := 0
	var prev *ECMP
	var buf []string
	var ibuf []int32
	for it := range 200 {
		failed := map[string]bool{}
		for range 1 + rng.IntN(3) {
			l := n.Links[rng.IntN(len(n.Links))]
			fwd, rev, _ := network.LinkDirections(l)
			failed[fwd.ID] = true
			if rng.IntN(2) == 0 {
				failed[rev.ID] = true
			}
		}
		o := Options{Metric: Hops, Exclude: func(dl string) bool { return failed[dl] }}
		derived, fresh := base.Derive(o), g.NewECMP(o)
		if it%2 == 1 { // the same failure by index, into the storage of the last router
			mask := make([]bool, g.NumLinks())
			for dl := range failed {
				e, _ := g.LinkIndex(dl)
				mask[e] = true
			}
			derived = base.DeriveReusing(prev, Options{ExcludeIndex: mask})
		}
		prev = derived
		for i := range 40 {
			a, b := hosts[rng.IntN(len(hosts))], hosts[rng.IntN(len(hosts))]
			if a == b {
				continue
			}
			id := fmt.Sprintf("f%d-%d", it, i)
			p1, err1 := derived.Route(id, a, b)
			p2, err2 := fresh.Route(id, a, b)
			if (err1 == nil) != (err2 == nil) || !slices.Equal(p1.Links, p2.Links) {
				t.Fatalf("it %d %s %s→%s with %v failed: derived %v (%v), fresh %v (%v)", it, id, a, b, failed, p1.Links, err1, p2.Links, err2)
			}
			ls, err3 := derived.RouteLinks(id, a, b, buf)
			if (err3 == nil) != (err1 == nil) || !slices.Equal(ls, p1.Links) {
				t.Fatalf("it %d %s: RouteLinks %v (%v), Route %v (%v)", it, id, ls, err3, p1.Links, err1)
			}
			if ls != nil {
				buf = ls
			}
			// by device and link index: the same path
			sa, _ := g.DeviceIndex(a)
			sb, _ := g.DeviceIndex(b)
			var ok bool
			ibuf, ok = derived.AppendRoute(id, sa, sb, ibuf[:0])
			byIdx := []string{}
			for _, e := range ibuf {
				byIdx = append(byIdx, g.LinkID(int(e)))
			}
			if ok != (err1 == nil) || ok && !slices.Equal(byIdx, p1.Links) {
				t.Fatalf("it %d %s: AppendRoute %v (%v), Route %v (%v)", it, id, byIdx, ok, p1.Links, err1)
			}
			for _, dl := range p1.Links {
				if failed[dl] {
					t.Fatalf("path crosses failed %s", dl)
				}
			}
		}
		for tt, d := range derived.dist {
			if bd := base.dist[tt]; d != nil && bd != nil && &bd[0] == &d[0] {
				reused++
			}
		}
	}
	if reused == 0 {
		t.Fatal("the derived routers never reused a cached distance vector")
	}
}

// TestECMPHash: the allocation-free hash ECMP uses is 64-bit FNV-1a (hash/fnv), so
// paths chosen before and after it replaced hash/fnv are the same.
func TestECMPHash(t *testing.T) {
	for _, parts := range [][2]string{{"", ""}, {"flow-1", "leaf-0"}, {"f\x00x", "core-12"}, {strings.Repeat("é", 40), "d"}} {
		h := fnv.New64a()
		h.Write([]byte(parts[0]))
		h.Write([]byte{0})
		h.Write([]byte(parts[1]))
		if got := ecmpHash(parts[0], parts[1]); got != h.Sum64() {
			t.Errorf("%q: ecmpHash %x, hash/fnv %x", parts, got, h.Sum64())
		}
	}
}

// TestECMPAppendRouteBounds: AppendRoute has no path for device indices out of range,
// for excluded devices, or between devices with no usable path, and appends to buf.
func TestECMPAppendRouteBounds(t *testing.T) {
	g, err := NewGraph(diamond())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := g.DeviceIndex("a")
	d, _ := g.DeviceIndex("d")
	r := g.NewECMP(Options{Metric: Hops})
	p, ok := r.AppendRoute("f", a, d, []int32{7})
	if !ok || len(p) != 2 || p[0] != 7 {
		t.Fatalf("a→d: %v %v, want [7 e] (the direct link, after 7)", p, ok)
	}
	if want, _ := r.Route("f", "a", "d"); g.LinkID(int(p[1])) != want.Links[0] {
		t.Fatalf("a→d by index %s, Route %v", g.LinkID(int(p[1])), want.Links)
	}
	for _, c := range [][2]int{{-1, d}, {a, g.Devices()}, {a, -5}} {
		if p, ok := r.AppendRoute("f", c[0], c[1], nil); ok || len(p) != 0 {
			t.Fatalf("%v: %v %v, want no path", c, p, ok)
		}
	}
	x := g.NewECMP(Options{Metric: Hops, ExcludeDevices: map[string]bool{"d": true}})
	if _, ok := x.AppendRoute("f", a, d, nil); ok {
		t.Fatal("route to an excluded device")
	}
	cut := g.NewECMP(Options{Metric: Hops, Exclude: func(string) bool { return true }})
	if _, ok := cut.AppendRoute("f", a, d, nil); ok {
		t.Fatal("route with every link excluded")
	}
}
