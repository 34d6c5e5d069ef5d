package dataplane

import (
	"errors"
	"github.com/twinflow/twinflow/models/ocpath"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const vxlanIfc = `{"interface":[{"name":"eth1"},{"name":"vx100","twinflow-vxlan:vxlan":{"config":{"vni":100,"local-address":"192.0.2.1","remote-address":"192.0.2.2","destination-port":4789}}}]}`

// TestFromTreeServices (REQ-SERV-01/02, REQ-TE-03): a VXLAN interface (not a port), an
// L2VSI bridge of eth1 and the VXLAN, an RD on an L3VRF and an SRv6 next hop come out
// of the tree typed.
func TestFromTreeServices(t *testing.T) {
	tr := tree(t, map[string]string{
		"/interfaces": vxlanIfc,
		"/network-instances": `{"network-instance":[
		  {"name":"l2svc","config":{"type":"openconfig-network-instance-types:L2VSI"},"interfaces":{"interface":[{"id":"eth1","config":{"interface":"eth1"}},{"id":"vx100","config":{"interface":"vx100"}}]}},
		  {"name":"red","config":{"type":"L3VRF","route-distinguisher":"65000:7"},
		   "protocols":{"protocol":[{"identifier":"STATIC","name":"s","static-routes":{"static":[{"prefix":"10.9.0.0/16","next-hops":{"next-hop":[
		     {"index":"sr","twinflow-srv6:srv6":{"config":{"mode":"ENCAP","interface":"eth1"},"segments":{"segment":[{"index":1,"config":{"sid":"fc00::3"}},{"index":0,"config":{"sid":"fc00::2"}}]}}}]}}]}}]}}]}`,
	})
	cfg, err := FromTree(tr, []Port{{Name: "eth1"}})
	if err != nil {
		t.Fatal(err)
	}
	vx := cfg.Interfaces["vx100"].VXLAN
	if vx == nil || vx.VNI != 100 || vx.Remote != netip.MustParseAddr("192.0.2.2") || vx.Port != 4789 {
		t.Fatalf("vx100 = %+v", cfg.Interfaces["vx100"])
	}
	l2 := cfg.Instances["l2svc"]
	if l2.Type != InstanceL2VSI || !slices.Equal(l2.Interfaces, []string{"eth1", "vx100"}) {
		t.Fatalf("l2svc = %+v", l2)
	}
	red := cfg.Instances["red"]
	if red.RD != "65000:7" || len(red.Routes) != 1 || red.Routes[0].SRv6 == nil {
		t.Fatalf("red = %+v", red)
	}
	sr := red.Routes[0].SRv6
	if sr.Mode != "ENCAP" || sr.Interface != "eth1" || !slices.Equal(sr.Segments, []netip.Addr{netip.MustParseAddr("fc00::2"), netip.MustParseAddr("fc00::3")}) {
		t.Fatalf("srv6 = %+v", sr)
	}
}

func TestFromTreeServiceErrors(t *testing.T) {
	srv6 := func(body string) map[string]string {
		return map[string]string{"/interfaces": `{"interface":[{"name":"eth1"}]}`, "/network-instances": `{"network-instance":[{"name":"DEFAULT","protocols":{"protocol":[{"identifier":"STATIC","name":"s","static-routes":{"static":[{"prefix":"10.9.0.0/16","next-hops":{"next-hop":[` + body + `]}}]}}]}}]}`}
	}
	for _, c := range []struct {
		name string
		docs map[string]string
	}{
		{"vxlan-without-remote", map[string]string{"/interfaces": `{"interface":[{"name":"vx1","twinflow-vxlan:vxlan":{"config":{"vni":1,"local-address":"192.0.2.1"}}}]}`}},
		{"vxlan-duplicate-vni", map[string]string{"/interfaces": `{"interface":[
			{"name":"vx1","twinflow-vxlan:vxlan":{"config":{"vni":1,"local-address":"192.0.2.1","remote-address":"192.0.2.2"}}},
			{"name":"vx2","twinflow-vxlan:vxlan":{"config":{"vni":1,"local-address":"192.0.2.1","remote-address":"192.0.2.3"}}}]}`}},
		{"vxlan-long-name", map[string]string{"/interfaces": `{"interface":[{"name":"vxlan-name-too-long","twinflow-vxlan:vxlan":{"config":{"vni":1,"local-address":"192.0.2.1","remote-address":"192.0.2.2"}}}]}`}},
		{"l2vsi-with-routes", map[string]string{"/network-instances": `{"network-instance":[{"name":"br","config":{"type":"L2VSI"},"protocols":{"protocol":[{"identifier":"STATIC","name":"s","static-routes":{"static":[{"prefix":"10.9.0.0/16","next-hops":{"next-hop":[{"index":"a","config":{"next-hop":"10.0.0.2"}}]}}]}}]}}]}`}},
		{"srv6-no-segments", srv6(`{"index":"sr","twinflow-srv6:srv6":{"config":{"interface":"eth1"}}}`)},
		{"srv6-no-interface", srv6(`{"index":"sr","twinflow-srv6:srv6":{"segments":{"segment":[{"index":0,"config":{"sid":"fc00::2"}}]}}}`)},
		{"srv6-unconfigured-interface", srv6(`{"index":"sr","twinflow-srv6:srv6":{"config":{"interface":"eth2"},"segments":{"segment":[{"index":0,"config":{"sid":"fc00::2"}}]}}}`)},
		{"srv6-gap", srv6(`{"index":"sr","twinflow-srv6:srv6":{"config":{"interface":"eth1"},"segments":{"segment":[{"index":1,"config":{"sid":"fc00::2"}}]}}}`)},
		{"srv6-and-ip", srv6(`{"index":"sr","twinflow-srv6:srv6":{"config":{"interface":"eth1"},"segments":{"segment":[{"index":0,"config":{"sid":"fc00::2"}}]}}},{"index":"ip","config":{"next-hop":"10.0.0.2"}}`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromTree(tree(t, c.docs), ports)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v; want ErrInvalid", err)
			}
		})
	}
	// the schema itself refuses malformed values
	for _, bad := range []string{
		`{"interface":[{"name":"vx1","twinflow-vxlan:vxlan":{"config":{"vni":16777216}}}]}`,
		`{"interface":[{"name":"vx1","twinflow-vxlan:vxlan":{"config":{"remote-address":"fc00::1"}}}]}`,
	} {
		tr := tree(t, nil)
		if err := tr.Update(mustPath("/interfaces"), []byte(bad)); err == nil {
			t.Errorf("schema accepted %s", bad)
		}
	}
	tr := tree(t, map[string]string{"/interfaces": `{"interface":[{"name":"eth1"}]}`})
	bad := `{"network-instance":[{"name":"DEFAULT","protocols":{"protocol":[{"identifier":"STATIC","name":"s","static-routes":{"static":[{"prefix":"10.9.0.0/16","next-hops":{"next-hop":[{"index":"sr","twinflow-srv6:srv6":{"segments":{"segment":[{"index":0,"config":{"sid":"10.0.0.1"}}]}}}]}}]}}]}}]}`
	if err := tr.Update(mustPath("/network-instances"), []byte(bad)); err == nil {
		t.Error("schema accepted an IPv4 SID")
	}
}

func mustPath(s string) ocpath.Path { return ocpath.MustParse(s) }

// TestFromTreeProtection (REQ-SLI-04): what a protected L2VPN needs comes out typed:
// two tunnels with one VNI told apart by UDP port, each bound to an underlay port,
// without learning and in split horizon, and a static route whose next hops are on
// link through their interfaces.
func TestFromTreeProtection(t *testing.T) {
	vx := func(name string, port int, underlay string) string {
		return `{"name":"` + name + `","twinflow-vxlan:vxlan":{"config":{"vni":7,"local-address":"192.0.2.1","remote-address":"192.0.2.2","destination-port":` +
			itoa(port) + `,"underlay-interface":"` + underlay + `","learning":false,"split-horizon":true}}}`
	}
	tr := tree(t, map[string]string{
		"/interfaces": `{"interface":[{"name":"eth1"},{"name":"eth2"},` + vx("vx7", 4789, "eth1") + `,` + vx("vx7p1", 4790, "eth2") + `]}`,
		"/network-instances": `{"network-instance":[{"name":"DEFAULT","protocols":{"protocol":[{"identifier":"STATIC","name":"s","static-routes":{"static":[{"prefix":"192.0.2.2/32","next-hops":{"next-hop":[
		  {"index":"eth1","config":{"next-hop":"192.0.2.11","metric":10},"interface-ref":{"config":{"interface":"eth1"}}},
		  {"index":"eth2","config":{"next-hop":"192.0.2.12"},"interface-ref":{"config":{"interface":"eth2"}}}]}}]}}]}}]}`,
	})
	cfg, err := FromTree(tr, []Port{{Name: "eth1"}, {Name: "eth2"}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Interfaces["vx7"].VXLAN, cfg.Interfaces["vx7p1"].VXLAN
	if a == nil || b == nil || a.Underlay != "eth1" || b.Underlay != "eth2" || b.Port != 4790 || !a.NoLearning || !b.SplitHorizon {
		t.Fatalf("tunnels %+v %+v", a, b)
	}
	r := cfg.Instances[DefaultInstance].Routes
	if len(r) != 1 || !slices.Equal(r[0].NextHopInterfaces, []string{"eth1", "eth2"}) || r[0].Metric != 10 ||
		!slices.Equal(r[0].NextHops, []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")}) {
		t.Fatalf("routes %+v", r)
	}
	// a route without interface-bound next hops has none
	tr = tree(t, map[string]string{"/interfaces": `{"interface":[{"name":"eth1"}]}`,
		"/network-instances": `{"network-instance":[{"name":"DEFAULT","protocols":{"protocol":[{"identifier":"STATIC","name":"s","static-routes":{"static":[{"prefix":"192.0.2.2/32","next-hops":{"next-hop":[{"index":"0","config":{"next-hop":"10.0.0.2"}}]}}]}}]}}]}`})
	if cfg, err = FromTree(tr, ports); err != nil || cfg.Instances[DefaultInstance].Routes[0].NextHopInterfaces != nil {
		t.Fatalf("plain route: %+v %v", cfg.Instances[DefaultInstance].Routes, err)
	}

	route := func(hop string) map[string]string {
		return map[string]string{"/interfaces": `{"interface":[{"name":"eth1"},` + vx("vx7", 4789, "eth1") + `]}`,
			"/network-instances": `{"network-instance":[{"name":"DEFAULT","protocols":{"protocol":[{"identifier":"STATIC","name":"s","static-routes":{"static":[{"prefix":"192.0.2.2/32","next-hops":{"next-hop":[` + hop + `]}}]}}]}}]}`}
	}
	for _, c := range []struct {
		name, want string
		docs       map[string]string
	}{
		{"same-vni-same-port", `both use VNI 7 on UDP port 4790`, map[string]string{"/interfaces": `{"interface":[{"name":"eth1"},` + vx("vx7", 4790, "eth1") + `,` + vx("vx7p1", 4790, "eth1") + `]}`}},
		{"unconfigured-underlay", `underlay-interface "eth9" is neither a port nor a configured interface`, map[string]string{"/interfaces": `{"interface":[{"name":"eth1"},` + vx("vx7", 4789, "eth9") + `]}`}},
		{"tunnel-underlay", `underlay-interface "vx7" is itself a VXLAN interface`, map[string]string{"/interfaces": `{"interface":[{"name":"eth1"},` + vx("vx7", 4789, "eth1") + `,` + vx("vx7p1", 4790, "vx7") + `]}`}},
		{"hop-unconfigured-interface", `next hop on link through "eth9": neither a port nor a configured interface`, route(`{"index":"a","config":{"next-hop":"10.0.0.2"},"interface-ref":{"config":{"interface":"eth9"}}}`)},
		{"hop-through-tunnel", `next hop on link through VXLAN interface "vx7"`, route(`{"index":"a","config":{"next-hop":"10.0.0.2"},"interface-ref":{"config":{"interface":"vx7"}}}`)},
		{"hop-interface-only", `next hop has no config/next-hop`, route(`{"index":"a","interface-ref":{"config":{"interface":"eth1"}}}`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := FromTree(tree(t, c.docs), ports)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want ErrInvalid with %q", err, c.want)
			}
		})
	}
	// the schema refuses a non-boolean learning
	if err := tree(t, nil).Update(mustPath("/interfaces"), []byte(`{"interface":[{"name":"vx1","twinflow-vxlan:vxlan":{"config":{"learning":"no"}}}]}`)); err == nil {
		t.Error("schema accepted learning \"no\"")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
