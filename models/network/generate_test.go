package network

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// degrees returns the number of links attached to each device.
func degrees(n *Network) map[string]int {
	deg := map[string]int{}
	for _, l := range n.Links {
		for _, ep := range l.Endpoints {
			deg[ep.Device]++
		}
	}
	return deg
}

func countTypes(n *Network) map[DeviceType]int {
	m := map[DeviceType]int{}
	for _, d := range n.Devices {
		m[d.Type]++
	}
	return m
}

// connected reports whether every device is reachable from the first one.
func connected(n *Network) bool {
	if len(n.Devices) == 0 {
		return true
	}
	ix := n.Index()
	seen := map[string]bool{n.Devices[0].ID: true}
	queue := []string{n.Devices[0].ID}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, nb := range ix.Neighbors(d) {
			if !seen[nb] {
				seen[nb] = true
				queue = append(queue, nb)
			}
		}
	}
	return len(seen) == len(n.Devices)
}

func TestFatTree(t *testing.T) {
	for _, k := range []int{2, 4, 6, 8} {
		t.Run("k"+strconv.Itoa(k), func(t *testing.T) {
			n, err := FatTree(k)
			if err != nil {
				t.Fatal(err)
			}
			checkGenerated(t, n)
			h := k / 2
			types := countTypes(n)
			if got, want := types[DeviceSwitch], h*h+k*k; got != want {
				t.Errorf("switches = %d; want %d", got, want)
			}
			if got, want := types[DeviceHost], k*k*k/4; got != want {
				t.Errorf("hosts = %d; want %d", got, want)
			}
			if got, want := len(n.Links), 3*k*k*k/4; got != want {
				t.Errorf("links = %d; want %d", got, want)
			}
			deg := degrees(n)
			for _, d := range n.Devices {
				want := k
				if d.Type == DeviceHost {
					want = 1
				}
				if deg[d.ID] != want {
					t.Errorf("degree(%s) = %d; want %d", d.ID, deg[d.ID], want)
				}
			}
			ix := n.Index()
			// Structure: every host hangs off an edge switch of its own pod; every
			// edge switch sees every aggregation switch of its pod and no core switch.
			for _, d := range n.Devices {
				nb := ix.Neighbors(d.ID)
				switch {
				case strings.HasPrefix(d.ID, "h-"):
					pod := strings.Split(d.ID, "-")[1]
					if len(nb) != 1 || !strings.HasPrefix(nb[0], "pod"+pod+"-edge") {
						t.Errorf("host %s neighbours %v; want one pod%s edge switch", d.ID, nb, pod)
					}
				case strings.Contains(d.ID, "-edge"):
					pod := strings.Split(d.ID, "-")[0]
					aggs := 0
					for _, x := range nb {
						if strings.HasPrefix(x, pod+"-agg") {
							aggs++
						}
						if strings.HasPrefix(x, "core-") {
							t.Errorf("edge %s linked to core %s", d.ID, x)
						}
					}
					if aggs != h {
						t.Errorf("edge %s has %d aggregation neighbours; want %d", d.ID, aggs, h)
					}
				case strings.HasPrefix(d.ID, "core-"):
					pods := map[string]bool{}
					for _, x := range nb {
						pods[strings.Split(x, "-")[0]] = true
					}
					if len(pods) != k {
						t.Errorf("core %s reaches %d pods; want %d", d.ID, len(pods), k)
					}
				}
			}
			if !connected(n) {
				t.Error("fat-tree not connected")
			}
		})
	}
}

// checkGenerated asserts what every generated network satisfies: valid, one context
// "admin", one topology listing every device and link, endpoints eth1..ethN each used
// by exactly one link, drivers by type, positive capacities.
func checkGenerated(t *testing.T, n *Network) {
	t.Helper()
	if err := n.Validate(); err != nil {
		t.Fatalf("generated network invalid: %v", err)
	}
	if len(n.Contexts) != 1 || n.Contexts[0].ID != DefaultContext {
		t.Errorf("contexts = %+v; want one %q", n.Contexts, DefaultContext)
	}
	if len(n.Topologies) != 1 {
		t.Fatalf("got %d topologies; want 1", len(n.Topologies))
	}
	tp := n.Topologies[0]
	if len(tp.DeviceIDs) != len(n.Devices) || len(tp.LinkIDs) != len(n.Links) {
		t.Errorf("topology lists %d devices, %d links; want %d, %d", len(tp.DeviceIDs), len(tp.LinkIDs), len(n.Devices), len(n.Links))
	}
	deg := degrees(n)
	for _, d := range n.Devices {
		if got := len(d.Endpoints); got != deg[d.ID] {
			t.Errorf("device %s has %d endpoints but %d links", d.ID, got, deg[d.ID])
		}
		for i, ep := range d.Endpoints {
			if want := "eth" + strconv.Itoa(i+1); ep.ID != want {
				t.Errorf("device %s endpoint %d = %q; want %q", d.ID, i, ep.ID, want)
			}
		}
		wantDrv := DriverGNMI
		if d.Type == DeviceHost {
			wantDrv = DriverEmulated
		}
		if len(d.Drivers) != 1 || d.Drivers[0] != wantDrv {
			t.Errorf("device %s drivers = %v; want [%s]", d.ID, d.Drivers, wantDrv)
		}
		if d.OperStatus != StatusEnabled {
			t.Errorf("device %s status %q", d.ID, d.OperStatus)
		}
	}
	for _, l := range n.Links {
		if !(l.CapacityGbps > 0) || l.LatencyMs < 0 {
			t.Errorf("link %s capacity %v latency %v", l.ID, l.CapacityGbps, l.LatencyMs)
		}
	}
}

func TestFatTree32Counts(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	n, err := FatTree(32)
	if err != nil {
		t.Fatal(err)
	}
	types := countTypes(n)
	if types[DeviceSwitch] != 1280 || types[DeviceHost] != 8192 {
		t.Errorf("k=32: %d switches, %d hosts; want 1280, 8192", types[DeviceSwitch], types[DeviceHost])
	}
	if err := n.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestFatTreeIDs(t *testing.T) {
	n, err := FatTree(4)
	if err != nil {
		t.Fatal(err)
	}
	ix := n.Index()
	for _, id := range []string{"core-0", "core-3", "pod0-agg0", "pod3-agg1", "pod1-edge1", "h-1-1-0", "h-3-1-1"} {
		if _, ok := ix.Device(id); !ok {
			t.Errorf("device %s missing", id)
		}
	}
	for _, id := range []string{"core-4", "pod4-agg0", "h-0-0-2"} {
		if _, ok := ix.Device(id); ok {
			t.Errorf("unexpected device %s", id)
		}
	}
	if l, ok := ix.Link("pod1-edge1--h-1-1-0"); !ok || l.CapacityGbps != FatTreeCapacityGbps {
		t.Errorf("link pod1-edge1--h-1-1-0 = %+v, %v", l, ok)
	}
}

func TestLeafSpine(t *testing.T) {
	tests := []struct{ leaves, spines, hosts int }{{1, 1, 0}, {4, 2, 2}, {8, 4, 16}, {3, 5, 1}}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.leaves)+"x"+strconv.Itoa(tc.spines)+"x"+strconv.Itoa(tc.hosts), func(t *testing.T) {
			n, err := LeafSpine(tc.leaves, tc.spines, tc.hosts)
			if err != nil {
				t.Fatal(err)
			}
			checkGenerated(t, n)
			types := countTypes(n)
			if got, want := types[DeviceSwitch], tc.leaves+tc.spines; got != want {
				t.Errorf("switches = %d; want %d", got, want)
			}
			if got, want := types[DeviceHost], tc.leaves*tc.hosts; got != want {
				t.Errorf("hosts = %d; want %d", got, want)
			}
			deg := degrees(n)
			for _, d := range n.Devices {
				var want int
				switch {
				case strings.HasPrefix(d.ID, "spine-"):
					want = tc.leaves
				case strings.HasPrefix(d.ID, "leaf-"):
					want = tc.spines + tc.hosts
				default:
					want = 1
				}
				if deg[d.ID] != want {
					t.Errorf("degree(%s) = %d; want %d", d.ID, deg[d.ID], want)
				}
			}
			for _, l := range n.Links {
				want := LeafSpineFabricGbps
				if strings.Contains(l.ID, "--h-") {
					want = LeafSpineHostGbps
				}
				if l.CapacityGbps != want {
					t.Errorf("link %s capacity %v; want %v", l.ID, l.CapacityGbps, want)
				}
			}
			if !connected(n) {
				t.Error("not connected")
			}
		})
	}
}

func TestRing(t *testing.T) {
	for _, size := range []int{3, 8, 100} {
		n, err := Ring(size)
		if err != nil {
			t.Fatal(err)
		}
		checkGenerated(t, n)
		if len(n.Devices) != size || len(n.Links) != size {
			t.Errorf("ring %d: %d devices %d links", size, len(n.Devices), len(n.Links))
		}
		for id, d := range degrees(n) {
			if d != 2 {
				t.Errorf("ring %d: degree(%s) = %d", size, id, d)
			}
		}
		if !connected(n) {
			t.Errorf("ring %d not connected", size)
		}
		if countTypes(n)[DeviceRouter] != size {
			t.Errorf("ring %d: not all routers", size)
		}
	}
}

func TestWAN(t *testing.T) {
	for _, tc := range []struct {
		n           int
		seed        int64
		alpha, beta float64
	}{{2, 1, 0.4, 0.1}, {50, 1, 0.4, 0.1}, {50, 2, 0.4, 0.1}, {200, 7, 0.15, 0.3}, {30, 3, 0.4, 0}, {30, 3, 1, 1}} {
		n, err := WAN(tc.n, tc.seed, tc.alpha, tc.beta)
		if err != nil {
			t.Fatal(err)
		}
		checkGenerated(t, n)
		if len(n.Devices) != tc.n {
			t.Errorf("%d devices; want %d", len(n.Devices), tc.n)
		}
		if !connected(n) {
			t.Errorf("wan n=%d seed=%d not connected", tc.n, tc.seed)
		}
		if len(n.Links) < tc.n-1 {
			t.Errorf("%d links < n-1", len(n.Links))
		}
		if tc.beta == 0 && len(n.Links) != tc.n-1 {
			t.Errorf("beta=0: %d links; want the spanning tree's %d", len(n.Links), tc.n-1)
		}
		if tc.beta == 1 && tc.alpha == 1 && len(n.Links) < tc.n*(tc.n-1)/4 {
			t.Errorf("beta=1 alpha=1: only %d links", len(n.Links))
		}
		ix := n.Index()
		pairs := map[[2]string]bool{}
		for _, l := range n.Links {
			a, _ := ix.Device(l.Endpoints[0].Device)
			b, _ := ix.Device(l.Endpoints[1].Device)
			d := math.Hypot(a.X-b.X, a.Y-b.Y)
			if math.Abs(l.LatencyMs-d*LatencyMsPerKm) > 1e-5 {
				t.Errorf("link %s latency %v; want %v for %v km", l.ID, l.LatencyMs, d*LatencyMsPerKm, d)
			}
			p := [2]string{a.ID, b.ID}
			if pairs[p] || pairs[[2]string{b.ID, a.ID}] {
				t.Errorf("parallel link %s", l.ID)
			}
			pairs[p] = true
		}
		for _, d := range n.Devices {
			if d.X < 0 || d.X > WANSide || d.Y < 0 || d.Y > WANSide {
				t.Errorf("device %s at (%v,%v) outside the plane", d.ID, d.X, d.Y)
			}
		}
	}
}

func TestWANDeterministic(t *testing.T) {
	a, _ := WAN(60, 42, 0.4, 0.2)
	b, _ := WAN(60, 42, 0.4, 0.2)
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different networks:\n%s", diff)
	}
	c, _ := WAN(60, 43, 0.4, 0.2)
	if cmp.Equal(a, c) {
		t.Error("seeds 42 and 43 gave the same network")
	}
}

// TestALTOThreeDomain checks the scenario of seed 003, appendix A: three domains,
// AS2 transit (AS1–AS2–AS3), SAPs and the Property Map of Table 1.
func TestALTOThreeDomain(t *testing.T) {
	n, err := ALTOThreeDomain()
	if err != nil {
		t.Fatal(err)
	}
	checkGenerated(t, n)
	ix := n.Index()
	domains := map[string]int{}
	for _, d := range n.Devices {
		if d.Domain == "" {
			t.Errorf("device %s has no domain", d.ID)
		}
		domains[d.Domain]++
	}
	if len(domains) != 3 || domains["AS1"] == 0 || domains["AS2"] == 0 || domains["AS3"] == 0 {
		t.Errorf("domains = %v; want AS1, AS2, AS3", domains)
	}
	// Domain-level topology AS1-AS2-AS3: exactly two inter-domain links, none AS1-AS3.
	inter := map[[2]string]int{}
	for _, l := range n.Links {
		a, _ := ix.Device(l.Endpoints[0].Device)
		b, _ := ix.Device(l.Endpoints[1].Device)
		if a.Domain == b.Domain {
			if l.Labels[LabelInterDomain] != "" {
				t.Errorf("intra-domain link %s labelled inter-domain", l.ID)
			}
			continue
		}
		if l.Labels[LabelInterDomain] != "true" {
			t.Errorf("inter-domain link %s not labelled", l.ID)
		}
		if a.Labels[LabelRole] != "border" || b.Labels[LabelRole] != "border" {
			t.Errorf("inter-domain link %s between non-border devices %s, %s", l.ID, a.ID, b.ID)
		}
		p := [2]string{a.Domain, b.Domain}
		if p[0] > p[1] {
			p[0], p[1] = p[1], p[0]
		}
		inter[p]++
	}
	if want := map[[2]string]int{{"AS1", "AS2"}: 1, {"AS2", "AS3"}: 1}; !cmp.Equal(inter, want) {
		t.Errorf("inter-domain links %v; want %v", inter, want)
	}
	// Property Map of appendix A, Table 1.
	props := map[string][4]string{
		"AS1": {"50.0", "60.0", "70.0", "NF1,NF3"},
		"AS2": {"10.0", "20.0", "30.0", "NF2"},
		"AS3": {"80.0", "90.0", "100.0", "NF1,NF3"},
	}
	saps := map[string]string{"SAP1": "AS1", "SAP2": "AS3"}
	for _, d := range n.Devices {
		if d.Labels[LabelRole] == "nfvi" {
			want := props[d.Domain]
			got := [4]string{d.Labels[LabelALTOCPU], d.Labels[LabelALTOMem], d.Labels[LabelALTOStorage], d.Labels[LabelALTONF]}
			if got != want {
				t.Errorf("%s properties %v; want %v", d.ID, got, want)
			}
			delete(props, d.Domain)
		}
		if d.Labels[LabelRole] == "sap" {
			if dom := saps[d.Labels[LabelALTOPort]]; dom != d.Domain {
				t.Errorf("SAP %s in %s; want %s", d.Labels[LabelALTOPort], d.Domain, dom)
			}
			delete(saps, d.Labels[LabelALTOPort])
		}
		if d.Labels[LabelALTOPID] != "pid:"+d.Domain {
			t.Errorf("%s pid %q", d.ID, d.Labels[LabelALTOPID])
		}
	}
	if len(props) != 0 || len(saps) != 0 {
		t.Errorf("missing NFVI PoPs %v or SAPs %v", props, saps)
	}
	// Removing AS2 disconnects AS1 from AS3 (AS2 is the transit provider).
	var keep []Link
	for _, l := range n.Links {
		if !strings.HasPrefix(l.Endpoints[0].Device, "as2-") && !strings.HasPrefix(l.Endpoints[1].Device, "as2-") {
			keep = append(keep, l)
		}
	}
	cut := &Network{Devices: n.Devices, Links: keep}
	if connected(cut) {
		t.Error("network stays connected without AS2; AS2 should be transit")
	}
	if !connected(n) {
		t.Error("not connected")
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		spec    string
		devices int
		links   int
	}{
		{"fat-tree:k=4", 36, 48},
		{"fat-tree", 36, 48},
		{" fat-tree : k = 2 ", 7, 6},
		{"leaf-spine:leaves=4,spines=2,hosts=2", 14, 16},
		{"leaf-spine:spines=3", 4 + 3 + 8, 4*3 + 8},
		{"ring:n=8", 8, 8},
		{"wan:n=50", 50, -1},
		{"wan:n=20,alpha=0.3,beta=0", 20, 19},
		{"alto3", 12, 11},
	}
	for _, tc := range tests {
		t.Run(strings.NewReplacer(":", "_", "=", "", ",", "_", " ", "").Replace(tc.spec), func(t *testing.T) {
			n, err := Generate(tc.spec, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(n.Devices) != tc.devices {
				t.Errorf("devices = %d; want %d", len(n.Devices), tc.devices)
			}
			if tc.links >= 0 && len(n.Links) != tc.links {
				t.Errorf("links = %d; want %d", len(n.Links), tc.links)
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"", "empty spec"},
		{"mesh:n=3", `unknown kind "mesh"`},
		{"fat-tree:k=3", "fat-tree: invalid generator spec: k must be even and >= 2, got 3"},
		{"fat-tree:k=0", "k must be even and >= 2, got 0"},
		{"fat-tree:k=66", "k must be <= 64, got 66"},
		{"fat-tree:k=abc", `k must be an integer, got "abc"`},
		{"fat-tree:k=4,k=6", `parameter "k" given twice`},
		{"fat-tree:n=4", `unknown parameter "n" (known: k)`},
		{"fat-tree:k", `parameter "k" is not name=value`},
		{"leaf-spine:leaves=0", "leaves must be in [1, 1024], got 0"},
		{"leaf-spine:spines=-1", "spines must be in [1, 256], got -1"},
		{"leaf-spine:hosts=1000", "hosts must be in [0, 256], got 1000"},
		{"leaf-spine:leaves=1024,hosts=256", "exceed the limit"},
		{"ring:n=2", "ring: invalid generator spec: n must be in [3, 65536], got 2"},
		{"wan:n=1", "n must be in [2, 5000], got 1"},
		{"wan:n=5,alpha=0", "alpha must be a finite number > 0, got 0"},
		{"wan:n=5,alpha=NaN", "alpha must be a finite number > 0"},
		{"wan:n=5,beta=1.5", "beta must be in [0, 1], got 1.5"},
		{"wan:n=5,beta=x", `beta must be a number, got "x"`},
		{"alto3:n=3", `unknown parameter "n" (it takes none)`},
	}
	for _, tc := range tests {
		_, err := Generate(tc.spec, 1)
		if err == nil {
			t.Errorf("Generate(%q) succeeded; want error %q", tc.spec, tc.want)
			continue
		}
		if !errors.Is(err, ErrSpec) {
			t.Errorf("Generate(%q) error %v does not wrap ErrSpec", tc.spec, err)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Generate(%q) = %q; want it to contain %q", tc.spec, err, tc.want)
		}
	}
}
