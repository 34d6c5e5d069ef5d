package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// ringEnv is a ring of n routers (10 Gb/s links, 1 ms each) with underlay addresses
// 192.0.2.<i+1> and SIDs fc00::<i+1>.
func ringEnv(t testing.TB, n int) *Env {
	t.Helper()
	net, err := network.Ring(n)
	if err != nil {
		t.Fatal(err)
	}
	g, err := routing.NewGraph(net)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{Network: net, Graph: g, Underlay: map[string]netip.Addr{}, SIDs: map[string]netip.Addr{},
		Reservations: routing.NewReservations(), Now: time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)}
	for i, d := range net.Devices {
		env.Underlay[d.ID] = netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})
		env.SIDs[d.ID] = netip.MustParseAddr(fmt.Sprintf("fc00::%x", i+1))
	}
	return env
}

func l3vpn() *Service {
	return &Service{ID: "acme", Type: L3VPN,
		Endpoints: []Endpoint{
			{Device: "r-0", Interface: "eth9", Address: "10.1.0.1/24"},
			{Device: "r-2", Interface: "eth9", Address: "10.2.0.1/24"},
			{Device: "r-4", Interface: "eth9", Address: "10.3.0.1/24"},
		},
		Constraints: Constraints{CapacityGbps: 2, MaxLatencyMs: 5},
		L3:          &L3Options{RD: "65000:7", VNIBase: 5000},
	}
}

// applyAll applies every device's ops to an empty tree per device.
func applyAll(t *testing.T, trees map[string]change.Tree, ops map[string][]change.Op) {
	t.Helper()
	for d, os := range ops {
		if trees[d] == nil {
			trees[d] = change.Tree{}
		}
		if err := change.ApplyOps(trees[d], os); err != nil {
			t.Fatalf("%s: %v", d, err)
		}
	}
}

// TestL3VPNCompile (REQ-SERV-02): each PE gets a VRF with the service's RD, the site's
// interface and a VXLAN tunnel per other PE, and static routes to the other sites'
// prefixes through them; every ordered site pair gets a flow with the SLO on a path
// within the latency bound.
func TestL3VPNCompile(t *testing.T) {
	env := ringEnv(t, 6)
	reg := DefaultRegistry()
	cs, err := reg.Create(env, l3vpn())
	if err != nil {
		t.Fatal(err)
	}
	if cs.Kind != change.KindService || len(cs.Intents) != 1 || cs.Intents[0].Name != "acme" {
		t.Fatalf("changeset %+v", cs)
	}
	if got := cs.Devices(); !slices.Equal(got, []string{"r-0", "r-2", "r-4"}) {
		t.Fatalf("devices %v", got)
	}
	trees := map[string]change.Tree{}
	applyAll(t, trees, cs.DeviceOps)
	ni, ok := change.Lookup(trees["r-0"], mustPath(t, "/network-instances/network-instance[name=acme]/config/route-distinguisher"))
	if !ok || ni != "65000:7" {
		t.Fatalf("RD on r-0: %v %v", ni, ok)
	}
	for _, q := range []string{
		"/network-instances/network-instance[name=acme]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.2.0.0/24]/next-hops/next-hop[index=0]/config/next-hop",
		"/network-instances/network-instance[name=acme]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.3.0.0/24]/next-hops/next-hop[index=0]/config/next-hop",
		"/interfaces/interface[name=vx5000]/vxlan/config/remote-address",
		"/interfaces/interface[name=vx5001]/vxlan/config/remote-address",
		"/network-instances/network-instance[name=acme]/interfaces/interface[id=eth9]/config/interface",
		"/interfaces/interface[name=eth9]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.1.0.1]/config/prefix-length",
	} {
		if _, ok := change.Lookup(trees["r-0"], mustPath(t, q)); !ok {
			t.Errorf("r-0 lacks %s", q)
		}
	}
	// the tunnel r-0 <-> r-2 (pair 0, vx5000): r-0 is 100.64.0.0, r-2 100.64.0.1, so
	// r-0's route to site 2 goes to 100.64.0.1
	nh, _ := change.Lookup(trees["r-0"], mustPath(t, "/network-instances/network-instance[name=acme]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.2.0.0/24]/next-hops/next-hop[index=0]/config/next-hop"))
	if nh != "100.64.0.1" {
		t.Errorf("next hop to site 2: %v", nh)
	}
	if rem, _ := change.Lookup(trees["r-2"], mustPath(t, "/interfaces/interface[name=vx5000]/vxlan/config/remote-address")); rem != "192.0.2.1" {
		t.Errorf("r-2 vx5000 remote %v", rem)
	}
	if len(cs.Twin.AddFlows) != 6 {
		t.Fatalf("%d flows; want 6 (3 sites, ordered pairs)", len(cs.Twin.AddFlows))
	}
	for _, f := range cs.Twin.AddFlows {
		if f.SLO == nil || f.SLO.MinRateGbps != 2 || f.SLO.MaxLatencyMs != 5 || len(f.Path) == 0 || f.Owner != "acme" {
			t.Errorf("flow %+v", f)
		}
		if strings.HasPrefix(f.ID, "slo:") || !strings.HasPrefix(f.ID, "acme/g1/") {
			t.Errorf("flow ID %q", f.ID)
		}
	}
}

// TestDeleteIsDerivedFromCreate: applying a service's creation and then its deletion
// leaves on every device only what the service needed but did not own (its access
// ports enabled); deleting removes exactly what creating added.
func TestDeleteIsDerivedFromCreate(t *testing.T) {
	env := ringEnv(t, 6)
	reg := DefaultRegistry()
	for _, s := range []*Service{l3vpn(),
		{ID: "wire", Type: L2VPN, Endpoints: []Endpoint{{Device: "r-1", Interface: "eth9"}, {Device: "r-3", Interface: "eth7"}}, L2: &L2Options{VNI: 77}},
		{ID: "te1", Type: SRPolicy, Endpoints: []Endpoint{{Device: "r-0"}, {Device: "r-3"}}, SR: &SROptions{Prefix: "10.9.0.0/16"}},
	} {
		t.Run(string(s.Type), func(t *testing.T) {
			create, err := reg.Create(env, s)
			if err != nil {
				t.Fatal(err)
			}
			del, err := reg.Delete(env, s)
			if err != nil {
				t.Fatal(err)
			}
			trees := map[string]change.Tree{}
			applyAll(t, trees, create.DeviceOps)
			applyAll(t, trees, del.DeviceOps)
			for d, tr := range trees {
				b, _ := json.Marshal(tr)
				if strings.Contains(string(b), "network-instance\"") && strings.Contains(string(b), "\"name\"") && strings.Contains(string(b), s.ID) {
					t.Errorf("%s keeps service objects after deletion: %s", d, b)
				}
				if strings.Contains(string(b), "vxlan") || strings.Contains(string(b), "static-routes\":{\"static\":[{") {
					t.Errorf("%s keeps tunnels or routes: %s", d, b)
				}
			}
			var removed []string
			for _, f := range create.Twin.AddFlows {
				removed = append(removed, f.ID)
			}
			if !slices.Equal(removed, del.Twin.RemoveFlows) {
				t.Errorf("deletion removes flows %v; creation added %v", del.Twin.RemoveFlows, removed)
			}
			for _, ops := range del.DeviceOps {
				for _, op := range ops {
					if op.Op != change.OpDelete || strings.HasSuffix(op.Path, "/config") {
						t.Errorf("deletion op %+v: only owned objects are deleted", op)
					}
				}
			}
		})
	}
}

// TestProtectedL2VPN (REQ-SLI-03 reserved backup paths): availability 2 with 1+1
// gives each direction two link-disjoint paths, each carrying the full capacity.
func TestProtectedL2VPN(t *testing.T) {
	env := ringEnv(t, 6)
	s := &Service{ID: "wire", Type: L2VPN, Endpoints: []Endpoint{{Device: "r-0", Interface: "eth9"}, {Device: "r-3", Interface: "eth9"}},
		L2: &L2Options{VNI: 77}, Constraints: Constraints{CapacityGbps: 3, Availability: 2, Protection: OnePlusOne, Isolation: change.IsolationHard}}
	cs, err := DefaultRegistry().Create(env, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Twin.AddFlows) != 4 {
		t.Fatalf("%d flows; want 4", len(cs.Twin.AddFlows))
	}
	a, b := cs.Twin.AddFlows[0], cs.Twin.AddFlows[1]
	for _, x := range a.Path {
		for _, y := range b.Path {
			if strings.TrimSuffix(x, network.ReverseSuffix) == strings.TrimSuffix(y, network.ReverseSuffix) {
				t.Fatalf("primary %v and backup %v share link %s", a.Path, b.Path, x)
			}
		}
	}
	if a.SLO.MinRateGbps != 3 || b.SLO.MinRateGbps != 3 || a.SLO.Isolation != change.IsolationHard {
		t.Fatalf("1+1 SLOs %+v %+v", a.SLO, b.SLO)
	}
	// hard isolation reserved 3 Gb/s on every path link
	if h := env.Reservations.Held(a.Path[0], routing.NumPriorities-1); h != 3 {
		t.Fatalf("held on %s: %v", a.Path[0], h)
	}
	// dataplane protection: one tunnel per path on each PE (ports 4789, 4790), each
	// bound to its path's first link; per-path underlay routes on every device of the
	// paths; the deletion removes the tunnels and the bridge, not the routes
	ops := map[string]string{}
	for dev, l := range cs.DeviceOps {
		for _, op := range l {
			ops[dev] += op.Path + " " + string(op.Value) + "\n"
		}
	}
	for _, want := range []struct{ dev, sub string }{
		{"r-0", `"destination-port":4789`}, {"r-0", `"destination-port":4790`},
		{"r-0", `/interfaces/interface[name=vx77p1]`}, {"r-3", `/interfaces/interface[name=vx77p1]`},
		{"r-0", `"underlay-interface":"eth1"`}, {"r-0", `"underlay-interface":"eth2"`},
		{"r-0", `"split-horizon":true`}, {"r-0", `"learning":false`},
		{"r-0", `static[prefix=192.0.2.4/32]`}, {"r-3", `static[prefix=192.0.2.1/32]`},
		{"r-1", `static[prefix=192.0.2.4/32]`}, {"r-5", `static[prefix=192.0.2.4/32]`},
		{"r-1", `"interface-ref":{"config":{"interface":`},
	} {
		if !strings.Contains(ops[want.dev], want.sub) {
			t.Errorf("%s: no %s in\n%s", want.dev, want.sub, ops[want.dev])
		}
	}
	del, err := DefaultRegistry().Delete(env, s)
	if err != nil {
		t.Fatal(err)
	}
	var gone []string
	for _, op := range del.DeviceOps["r-0"] {
		gone = append(gone, op.Path)
	}
	if want := []string{"/network-instances/network-instance[name=bd77]", "/interfaces/interface[name=vx77p1]", "/interfaces/interface[name=vx77]"}; !slices.Equal(gone, want) || len(del.DeviceOps["r-1"]) != 0 {
		t.Errorf("deletion on r-0 %v (want %v), on r-1 %v", gone, want, del.DeviceOps["r-1"])
	}
	// all-active splits the capacity
	s2 := *s
	s2.ID, s2.L2 = "wire2", &L2Options{VNI: 78}
	s2.Constraints.Protection = AllActive
	cs, err = DefaultRegistry().Create(env, &s2)
	if err != nil {
		t.Fatal(err)
	}
	if got := cs.Twin.AddFlows[0].SLO.MinRateGbps; got != 1.5 {
		t.Fatalf("all-active share %v; want 1.5", got)
	}
}

// TestUnsatisfiable: a latency the ring cannot meet, and a hard capacity the links
// cannot hold after another service reserved them, are refused naming the endpoints.
func TestUnsatisfiable(t *testing.T) {
	env := ringEnv(t, 6)
	s := l3vpn()
	s.Constraints.MaxLatencyMs = 1.5
	if _, err := DefaultRegistry().Create(env, s); !errors.Is(err, ErrUnsatisfiable) || !strings.Contains(err.Error(), "latency <= 1.5 ms") {
		t.Fatalf("latency 1.5 ms over 2 hops: %v", err)
	}
	big := &Service{ID: "big", Type: L2VPN, Endpoints: []Endpoint{{Device: "r-0", Interface: "eth9"}, {Device: "r-1", Interface: "eth9"}},
		L2: &L2Options{VNI: 9}, Constraints: Constraints{CapacityGbps: 12, Isolation: change.IsolationHard, Availability: 2}}
	if _, err := DefaultRegistry().Create(env, big); err != nil {
		t.Fatal(err)
	}
	more := &Service{ID: "more", Type: L2VPN, Endpoints: []Endpoint{{Device: "r-0", Interface: "eth8"}, {Device: "r-1", Interface: "eth8"}},
		L2: &L2Options{VNI: 10}, Constraints: Constraints{CapacityGbps: 5, Isolation: change.IsolationHard}}
	if _, err := DefaultRegistry().Create(env, more); !errors.Is(err, ErrUnsatisfiable) || !strings.Contains(err.Error(), "r-0") {
		t.Fatalf("5 Gb/s more on 10 Gb/s ring links holding 6 (1+1 split all-active: 2x6): %v", err)
	}
}

func TestSRPolicy(t *testing.T) {
	env := ringEnv(t, 6)
	// the shortest way r-0 -> r-2 is r-1; a strict hop via r-5 forces the long way
	s := &Service{ID: "te1", Type: SRPolicy, Endpoints: []Endpoint{{Device: "r-0"}, {Device: "r-2"}},
		SR: &SROptions{Prefix: "10.9.0.0/16", Hops: []routing.Hop{{Device: "r-5"}}, Compress: true}}
	cs, err := DefaultRegistry().Create(env, s)
	if err != nil {
		t.Fatal(err)
	}
	trees := map[string]change.Tree{}
	applyAll(t, trees, cs.DeviceOps)
	base := "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.9.0.0/16]/next-hops/next-hop[index=sr-te1]/srv6"
	var sids []any
	for i := 0; ; i++ {
		v, ok := change.Lookup(trees["r-0"], mustPath(t, fmt.Sprintf("%s/segments/segment[index=%d]/config/sid", base, i)))
		if !ok {
			break
		}
		sids = append(sids, v)
	}
	// path r-0 r-5 r-4 r-3 r-2: r-0's only shortest way to r-4 is through r-5, but to
	// r-3 there are two (3 hops either way round), so the list is r-4 (fc00::5), then
	// r-2 (fc00::3), which r-4 reaches only through r-3
	if !slices.Equal(sids, []any{"fc00::5", "fc00::3"}) {
		t.Fatalf("segment list %v; want [fc00::5 fc00::3]", sids)
	}
	if out, _ := change.Lookup(trees["r-0"], mustPath(t, base+"/config/interface")); out == "" {
		t.Fatal("no egress interface")
	}
	if p := cs.Twin.AddFlows[0].Path; len(p) != 4 {
		t.Fatalf("flow path %v; want the 4-hop way through r-5", p)
	}
}

func TestValidateErrors(t *testing.T) {
	for name, c := range map[string]struct {
		doc  string
		want string
	}{
		"unknown-field":  {`{"id":"a","type":"l2vpn","colour":1}`, "unknown field"},
		"bad-id":         {`{"id":"slo:x","type":"l2vpn","endpoints":[{"device":"r-0","interface":"e"},{"device":"r-1","interface":"e"}],"l2":{"vni":1}}`, "id:"},
		"no-type":        {`{"id":"a"}`, "type: missing"},
		"l2-three":       {`{"id":"a","type":"l2vpn","endpoints":[{"device":"a","interface":"e"},{"device":"b","interface":"e"},{"device":"c","interface":"e"}],"l2":{"vni":1}}`, "exactly 2"},
		"l3-no-rd":       {`{"id":"a","type":"l3vpn","endpoints":[{"device":"a","interface":"e","address":"10.0.0.1/24"},{"device":"b","interface":"e","address":"10.0.1.1/24"}],"l3":{"vni_base":10}}`, "l3.rd"},
		"l3-connected":   {`{"id":"a","type":"l3vpn","endpoints":[{"device":"a","interface":"e","address":"10.0.0.1/24"},{"device":"b","interface":"e","address":"10.0.1.1/24"}],"l3":{"rd":"1:1","vni_base":10,"routing":"connected"}}`, "routing protocol"},
		"l3-bad-address": {`{"id":"a","type":"l3vpn","endpoints":[{"device":"a","interface":"e","address":"10.0.0.1"},{"device":"b","interface":"e","address":"10.0.1.1/24"}],"l3":{"rd":"1:1","vni_base":10}}`, "endpoints[0].address"},
		"hard-no-cap":    {`{"id":"a","type":"l2vpn","endpoints":[{"device":"a","interface":"e"},{"device":"b","interface":"e"}],"l2":{"vni":1},"constraints":{"isolation":"hard"}}`, "hard isolation"},
		"schedule":       {`{"id":"a","type":"l2vpn","endpoints":[{"device":"a","interface":"e"},{"device":"b","interface":"e"}],"l2":{"vni":1},"constraints":{"schedule":{"start":"2026-12-08T00:00:00Z","end":"2026-12-07T00:00:00Z"}}}`, "schedule.end"},
		"availability":   {`{"id":"a","type":"l2vpn","endpoints":[{"device":"a","interface":"e"},{"device":"b","interface":"e"}],"l2":{"vni":1},"constraints":{"availability":9}}`, "availability"},
		"nan":            {`{"id":"a","type":"l2vpn","endpoints":[{"device":"a","interface":"e"},{"device":"b","interface":"e"}],"l2":{"vni":1},"constraints":{"capacity_gbps":-1}}`, "capacity_gbps"},
		"bad-interface":  {`{"id":"a","type":"l2vpn","endpoints":[{"device":"a","interface":"e[1]"},{"device":"b","interface":"e"}],"l2":{"vni":1}}`, "interface"},
		"trailing":       {`{"id":"a"} {}`, "trailing"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeService([]byte(c.doc))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want ErrInvalid mentioning %q", err, c.want)
			}
		})
	}
	// an ended schedule is refused at compile time
	env := ringEnv(t, 4)
	s := &Service{ID: "late", Type: L2VPN, Endpoints: []Endpoint{{Device: "r-0", Interface: "e"}, {Device: "r-1", Interface: "e"}}, L2: &L2Options{VNI: 3},
		Constraints: Constraints{Schedule: &Schedule{Start: env.Now.Add(-2 * time.Hour), End: env.Now.Add(-time.Hour)}}}
	if _, err := DefaultRegistry().Create(env, s); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "schedule ended") {
		t.Fatalf("ended schedule: %v", err)
	}
	// no underlay address
	delete(env.Underlay, "r-1")
	s.Constraints.Schedule = nil
	if _, err := DefaultRegistry().Create(env, s); !errors.Is(err, ErrUnsatisfiable) || !strings.Contains(err.Error(), "underlay") {
		t.Fatalf("no underlay: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	if _, err := NewRegistry(L2VPNCompiler{}, L2VPNCompiler{}); err == nil {
		t.Fatal("two compilers for one type accepted")
	}
	r, err := NewRegistry(L2VPNCompiler{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Create(ringEnv(t, 4), l3vpn()); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "no compiler") {
		t.Fatalf("unregistered type: %v", err)
	}
	if got := DefaultRegistry().Types(); !slices.Equal(got, []Type{L2VPN, L3VPN, SRPolicy}) {
		t.Fatalf("types %v", got)
	}
}

// TestSliceTemplates (REQ-SLI-01/02): a URLLC slice's services get node-disjoint 1+1
// paths with hard isolation; an eMBB slice's one soft path; the slice's flows belong to
// the slice, and its deletion removes exactly them.
func TestSliceTemplates(t *testing.T) {
	env := ringEnv(t, 6)
	sl := &Slice{ID: "factory", Template: URLLC, Constraints: Constraints{CapacityGbps: 1, MaxLatencyMs: 5},
		Services: []Service{{ID: "ctl", Type: L2VPN, Endpoints: []Endpoint{{Device: "r-0", Interface: "eth9"}, {Device: "r-3", Interface: "eth9"}}, L2: &L2Options{VNI: 100}}}}
	cs, err := DefaultRegistry().CreateSlice(env, sl)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Kind != change.KindSlice || len(cs.Twin.AddFlows) != 4 {
		t.Fatalf("slice change %+v", cs)
	}
	for _, f := range cs.Twin.AddFlows {
		if f.Owner != "factory" || f.SLO.Isolation != change.IsolationHard || f.SLO.MinRateGbps != 1 || !strings.HasPrefix(f.ID, "factory.ctl/") {
			t.Fatalf("URLLC flow %+v", f)
		}
	}
	del, err := DefaultRegistry().DeleteSlice(env, sl)
	if err != nil {
		t.Fatal(err)
	}
	if len(del.Twin.RemoveFlows) != 4 || del.Intents[0].Type != IntentSliceDelete {
		t.Fatalf("slice deletion %+v", del)
	}
	embb := &Slice{ID: "video", Template: EMBB, Constraints: Constraints{CapacityGbps: 5},
		Services: []Service{{ID: "cdn", Type: L2VPN, Endpoints: []Endpoint{{Device: "r-1", Interface: "eth9"}, {Device: "r-4", Interface: "eth9"}}, L2: &L2Options{VNI: 200}}}}
	cs, err = DefaultRegistry().CreateSlice(env, embb)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Twin.AddFlows) != 2 || cs.Twin.AddFlows[0].SLO.Isolation != change.IsolationSoft {
		t.Fatalf("eMBB flows %+v", cs.Twin.AddFlows)
	}
	if _, err := DecodeSlice([]byte(`{"id":"x","template":"gaming","services":[]}`)); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "template") {
		t.Fatalf("bad template: %v", err)
	}
}

// TestUpdate: an update replaces the composition (old objects deleted, new created in
// one change) and moves the flows to the new generation.
func TestUpdate(t *testing.T) {
	env := ringEnv(t, 6)
	old := l3vpn()
	nw := l3vpn()
	nw.Constraints.CapacityGbps = 4
	nw.Endpoints = nw.Endpoints[:2]
	cs, err := DefaultRegistry().Update(env, old, nw)
	if err != nil {
		t.Fatal(err)
	}
	if nw.Generation != 2 || len(cs.Twin.RemoveFlows) != 6 || len(cs.Twin.AddFlows) != 2 || !strings.HasPrefix(cs.Twin.AddFlows[0].ID, "acme/g2/") {
		t.Fatalf("update: gen %d, remove %v, add %d", nw.Generation, cs.Twin.RemoveFlows, len(cs.Twin.AddFlows))
	}
	// r-4 left the service: it only gets deletions
	for _, op := range cs.DeviceOps["r-4"] {
		if op.Op != change.OpDelete {
			t.Fatalf("r-4 op %+v", op)
		}
	}
}

// TestUpdateReleasesHardReservation (REQ-SLI-05): a hard-isolated service's update
// routes the new version as if the old one's reservation were gone (it is removed in
// the same change), as a slice update does.
func TestUpdateReleasesHardReservation(t *testing.T) {
	env := ringEnv(t, 6)
	mk := func(gbps float64) *Service {
		return &Service{ID: "w", Type: L2VPN, L2: &L2Options{VNI: 9},
			Constraints: Constraints{CapacityGbps: gbps, Isolation: change.IsolationHard},
			Endpoints:   []Endpoint{{Device: "r-0", Interface: "eth9"}, {Device: "r-1", Interface: "eth9"}}}
	}
	old := mk(8)
	cs, err := DefaultRegistry().Create(env, old)
	if err != nil {
		t.Fatal(err)
	}
	env.Reservations = routing.NewReservations()
	for _, f := range cs.Twin.AddFlows { // as the live twin would hold them
		if err := env.Reservations.Reserve(f.ID, f.Path, f.SLO.MinRateGbps, 0); err != nil {
			t.Fatal(err)
		}
	}
	up, err := DefaultRegistry().Update(env, old, mk(9)) // 8 + 9 > 10 Gb/s on r-0--r-1
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Twin.AddFlows) != 2 || len(up.Twin.AddFlows[0].Path) != 1 {
		t.Fatalf("new version routed around its old reservation: %+v", up.Twin.AddFlows)
	}
	for _, f := range cs.Twin.AddFlows {
		if !slices.Contains(env.Reservations.Owners(), f.ID) {
			continue
		}
		t.Fatalf("old flow %s still holds a reservation", f.ID)
	}
}

func mustPath(t *testing.T, s string) change.Path {
	t.Helper()
	p, err := change.ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewEnv(t *testing.T) {
	net, _ := network.Ring(3)
	net.Devices[0].Labels = map[string]string{LabelUnderlay: "192.0.2.9", LabelSID: "fc00::9"}
	net.Devices[2].Labels = map[string]string{LabelSID: "10.0.0.1"} // not IPv6: ignored
	configs := map[string]change.Tree{}
	tr := change.Tree{}
	if err := change.ApplyOps(tr, []change.Op{{Op: change.OpUpdate, Path: "/interfaces/interface[name=lo]/subinterfaces/subinterface[index=0]",
		Value: json.RawMessage(`{"index":0,"ipv4":{"addresses":{"address":[{"ip":"10.255.0.2","config":{"ip":"10.255.0.2","prefix-length":32}},{"ip":"10.255.0.1","config":{"ip":"10.255.0.1","prefix-length":32}}]}}}`)}}); err != nil {
		t.Fatal(err)
	}
	configs["r-1"] = tr
	env, err := NewEnv(net, nil, configs)
	if err != nil {
		t.Fatal(err)
	}
	if env.Underlay["r-0"] != netip.MustParseAddr("192.0.2.9") || env.Underlay["r-1"] != netip.MustParseAddr("10.255.0.1") {
		t.Fatalf("underlay %v", env.Underlay)
	}
	if len(env.DownLinks) != 0 {
		t.Fatalf("down links %v", env.DownLinks)
	}
	if _, ok := env.Underlay["r-2"]; ok || len(env.SIDs) != 1 || env.SIDs["r-0"] != netip.MustParseAddr("fc00::9") {
		t.Fatalf("underlay %v sids %v", env.Underlay, env.SIDs)
	}
}

// TestDownLinksAvoided: a failed link is on no compiled path.
func TestDownLinksAvoided(t *testing.T) {
	env := ringEnv(t, 6)
	env.DownLinks = map[string]bool{"r-0--r-1": true}
	s := &Service{ID: "w", Type: L2VPN, Endpoints: []Endpoint{{Device: "r-0", Interface: "e"}, {Device: "r-1", Interface: "e"}}, L2: &L2Options{VNI: 5}}
	cs, err := DefaultRegistry().Create(env, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cs.Twin.AddFlows {
		if len(f.Path) != 5 || slices.Contains(f.Path, "r-0--r-1") || slices.Contains(f.Path, "r-0--r-1~r") {
			t.Fatalf("flow %s path %v crosses the down link", f.ID, f.Path)
		}
	}
}

// TestUpdateSlice (REQ-SLI-05): a slice update removes the old generation's flows and
// objects and adds the new ones in one change; the old version's hard reservation is
// released before the new one is routed.
func TestUpdateSlice(t *testing.T) {
	env := ringEnv(t, 6)
	env.Reservations = routing.NewReservations()
	mk := func(gbps float64) *Slice {
		return &Slice{ID: "s", Constraints: Constraints{CapacityGbps: gbps, Isolation: change.IsolationHard},
			Services: []Service{{ID: "w", Type: L2VPN, L2: &L2Options{VNI: 9},
				Endpoints: []Endpoint{{Device: "r-0", Interface: "eth9", Ref: "sdp1"}, {Device: "r-1", Interface: "eth9", Ref: "sdp2"}}}}}
	}
	old := mk(8)
	cs, err := DefaultRegistry().CreateSlice(env, old)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cs.Twin.AddFlows { // as the live twin would hold them
		if err := env.Reservations.Reserve(f.ID, f.Path, f.SLO.MinRateGbps, 0); err != nil {
			t.Fatal(err)
		}
	}
	nw := mk(9) // 8 + 9 > 10 Gb/s on r-0--r-1: only fits once the old version is released
	up, err := DefaultRegistry().UpdateSlice(env, old, nw)
	if err != nil {
		t.Fatal(err)
	}
	if nw.Generation != 2 || len(up.Twin.RemoveFlows) != 2 || len(up.Twin.AddFlows) != 2 || !strings.HasPrefix(up.Twin.AddFlows[0].ID, "s.w/g2/") {
		t.Fatalf("update: gen %d remove %v add %+v", nw.Generation, up.Twin.RemoveFlows, up.Twin.AddFlows)
	}
	if len(up.Twin.AddFlows[0].Path) != 1 {
		t.Fatalf("new version routed around its old reservation: %v", up.Twin.AddFlows[0].Path)
	}
	ops := up.DeviceOps["r-0"]
	if len(ops) == 0 || ops[0].Op != change.OpDelete || ops[len(ops)-1].Op == change.OpDelete {
		t.Fatalf("r-0 ops %+v; want deletions first, then creations", ops)
	}
	if _, err := DefaultRegistry().UpdateSlice(env, old, &Slice{ID: "other", Services: nw.Services}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("id change: %v", err)
	}
}

// TestRealised: the services a change's intents create, slices' members with their
// compiled IDs; removals and other intents realise nothing; a broken spec is named.
func TestRealised(t *testing.T) {
	svc, _ := json.Marshal(Service{ID: "a", Type: L2VPN})
	sl, _ := json.Marshal(Slice{ID: "s", Services: []Service{{ID: "c1", Type: L2VPN}, {ID: "c2", Type: L3VPN}}})
	got, err := Realised([]change.Intent{
		{Type: IntentService, Name: "a", Spec: svc},
		{Type: IntentSlice, Name: "s", Spec: sl},
		{Type: IntentSliceDelete, Name: "s", Spec: sl},
		{Type: "other", Name: "x", Spec: []byte(`[]`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, ",") != "a,s.c1,s.c2" {
		t.Errorf("realised %v, want a, s.c1, s.c2", ids)
	}
	if _, err := Realised([]change.Intent{{Type: IntentSlice, Name: "bad", Spec: []byte(`{"id": 3}`)}}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "bad") {
		t.Errorf("broken spec: %v", err)
	}
}
