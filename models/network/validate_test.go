package network

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// smallNet is a valid three-router line r1 — r2 — r3 with one flow r1→r3.
func smallNet() *Network {
	demand := 2.5
	return &Network{
		Contexts:   []Context{{ID: "admin"}},
		Topologies: []Topology{{ID: "t", Context: "admin", DeviceIDs: []string{"r1", "r2", "r3"}, LinkIDs: []string{"l1", "l2"}}},
		Devices: []Device{
			{ID: "r1", Type: DeviceRouter, Drivers: []DriverKind{DriverGNMI}, Endpoints: []EndPoint{{ID: "eth1"}}},
			{ID: "r2", Type: DeviceRouter, Endpoints: []EndPoint{{ID: "eth1"}, {ID: "eth2"}}, ConfigRules: []ConfigRule{{Action: ConfigSet, ResourceKey: "/system/config/hostname", ResourceValue: `"r2"`}}},
			{ID: "r3", Type: DeviceHost, Endpoints: []EndPoint{{ID: "eth1"}}},
		},
		Links: []Link{
			{ID: "l1", Endpoints: []EndPointRef{{"r1", "eth1"}, {"r2", "eth1"}}, CapacityGbps: 10, UsedGbps: 1, LatencyMs: 1},
			{ID: "l2", Endpoints: []EndPointRef{{"r3", "eth1"}, {"r2", "eth2"}}, CapacityGbps: 10},
		},
		Flows: []Flow{{ID: "f1", Src: "r1", Dst: "r3", Path: []string{"l1", "l2~r"}, DemandGbps: &demand}},
	}
}

func TestValidateOK(t *testing.T) {
	if err := smallNet().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (&Network{}).Validate(); err != nil {
		t.Errorf("empty network: %v", err)
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(n *Network)
		field  string // expected FieldError.Field
		msg    string // substring of FieldError.Msg
	}{
		{"context-empty-id", func(n *Network) { n.Contexts[0].ID = "" }, "contexts[0].id", "required"},
		{"context-dup", func(n *Network) { n.Contexts = append(n.Contexts, Context{ID: "admin"}) }, "contexts[1].id", `duplicate ID "admin" (also contexts[0])`},
		{"topology-bad-context", func(n *Network) { n.Topologies[0].Context = "x" }, "topologies[t].context", `unknown context "x"`},
		{"topology-no-context", func(n *Network) { n.Topologies[0].Context = "" }, "topologies[t].context", "required"},
		{"topology-bad-device", func(n *Network) { n.Topologies[0].DeviceIDs[1] = "r9" }, "topologies[t].device_ids[1]", `unknown device "r9"`},
		{"topology-dup-device", func(n *Network) { n.Topologies[0].DeviceIDs[1] = "r1" }, "topologies[t].device_ids[1]", `duplicate device "r1"`},
		{"topology-bad-link", func(n *Network) { n.Topologies[0].LinkIDs[0] = "l9" }, "topologies[t].link_ids[0]", `unknown link "l9"`},
		{"device-id-charset", func(n *Network) { n.Devices[0].ID = "r 1" }, "devices[0].id", `invalid character ' ' at offset 1`},
		{"device-id-long", func(n *Network) { n.Devices[0].ID = strings.Repeat("a", 129) }, "devices[0].id", "longer than 128"},
		{"device-id-tilde", func(n *Network) { n.Devices[0].ID = "r~1" }, "devices[0].id", "invalid character '~'"},
		{"device-dup", func(n *Network) { n.Devices[2].ID = "r1" }, "devices[2].id", `duplicate ID "r1" (also devices[0])`},
		{"device-type-missing", func(n *Network) { n.Devices[1].Type = "" }, "devices[r2].type", "required"},
		{"device-type-unknown", func(n *Network) { n.Devices[1].Type = "toaster" }, "devices[r2].type", `unknown device type "toaster"`},
		{"device-driver-unknown", func(n *Network) { n.Devices[0].Drivers = []DriverKind{DriverGNMI, "netconf"} }, "devices[r1].drivers[1]", `unknown driver "netconf"`},
		{"device-driver-dup", func(n *Network) { n.Devices[0].Drivers = []DriverKind{DriverGNMI, DriverGNMI} }, "devices[r1].drivers[1]", "duplicate driver"},
		{"device-status", func(n *Network) { n.Devices[0].OperStatus = "up" }, "devices[r1].oper_status", `unknown status "up"`},
		{"endpoint-dup", func(n *Network) { n.Devices[1].Endpoints[1].ID = "eth1" }, "devices[r2].endpoints[1].id", `duplicate endpoint ID "eth1" (also endpoints[0])`},
		{"endpoint-empty", func(n *Network) { n.Devices[1].Endpoints = append(n.Devices[1].Endpoints, EndPoint{}) }, "devices[r2].endpoints[2].id", "required"},
		{"config-action", func(n *Network) { n.Devices[1].ConfigRules[0].Action = "merge" }, "devices[r2].config_rules[0].action", `got "merge"`},
		{"config-key", func(n *Network) { n.Devices[1].ConfigRules[0].ResourceKey = "" }, "devices[r2].config_rules[0].resource_key", "required"},
		{"device-x-nan", func(n *Network) { n.Devices[0].X = math.NaN() }, "devices[r1].x", "finite"},
		{"device-label-empty-key", func(n *Network) { n.Devices[0].Labels = map[string]string{"": "v"} }, "devices[r1].labels", "empty label key"},
		{"link-dup", func(n *Network) { n.Links[1].ID = "l1" }, "links[1].id", `duplicate ID "l1" (also links[0])`},
		{"link-one-endpoint", func(n *Network) { n.Links[1].Endpoints = n.Links[1].Endpoints[:1] }, "links[l2].endpoints", "exactly 2 endpoints, got 1"},
		{"link-three-endpoints", func(n *Network) {
			n.Links[1].Endpoints = append(n.Links[1].Endpoints, EndPointRef{"r1", "eth1"})
		}, "links[l2].endpoints", "exactly 2 endpoints, got 3"},
		{"link-unknown-device", func(n *Network) { n.Links[1].Endpoints[1].Device = "r9" }, "links[l2].endpoints[1].device", `unknown device "r9"`},
		{"link-unknown-endpoint", func(n *Network) { n.Links[1].Endpoints[1].EndPoint = "eth7" }, "links[l2].endpoints[1].endpoint", `device "r2" has no endpoint "eth7"`},
		{"link-empty-endpoint", func(n *Network) { n.Links[1].Endpoints[0].EndPoint = "" }, "links[l2].endpoints[0].endpoint", "required"},
		{"link-endpoint-reused", func(n *Network) { n.Links[1].Endpoints[1].EndPoint = "eth1" }, "links[l2].endpoints[1]", `endpoint r2:eth1 already used by link links[l1]`},
		{"link-self", func(n *Network) { n.Links[1].Endpoints[1] = n.Links[1].Endpoints[0] }, "links[l2].endpoints[1]", "same endpoint as endpoints[0]"},
		{"link-capacity-zero", func(n *Network) { n.Links[0].CapacityGbps = 0; n.Links[0].UsedGbps = 0 }, "links[l1].capacity_gbps", "> 0, got 0"},
		{"link-capacity-inf", func(n *Network) { n.Links[0].CapacityGbps = math.Inf(1) }, "links[l1].capacity_gbps", "finite"},
		{"link-capacity-nan", func(n *Network) { n.Links[0].CapacityGbps = math.NaN() }, "links[l1].capacity_gbps", "finite"},
		{"link-used-over", func(n *Network) { n.Links[0].UsedGbps = 11 }, "links[l1].used_capacity_gbps", "11 exceeds capacity_gbps 10"},
		{"link-used-negative", func(n *Network) { n.Links[0].UsedGbps = -1 }, "links[l1].used_capacity_gbps", ">= 0"},
		{"link-latency-negative", func(n *Network) { n.Links[0].LatencyMs = -0.1 }, "links[l1].latency_ms", ">= 0, got -0.1"},
		{"link-status", func(n *Network) { n.Links[0].OperStatus = "bad" }, "links[l1].oper_status", "unknown status"},
		{"flow-dup", func(n *Network) { n.Flows = append(n.Flows, n.Flows[0]) }, "flows[1].id", `duplicate ID "f1"`},
		{"flow-src-unknown", func(n *Network) { n.Flows[0].Src = "r9" }, "flows[f1].src", `unknown device "r9"`},
		{"flow-dst-empty", func(n *Network) { n.Flows[0].Dst = "" }, "flows[f1].dst", "required"},
		{"flow-src-eq-dst", func(n *Network) { n.Flows[0].Dst = "r1"; n.Flows[0].Path = nil }, "flows[f1].dst", `must differ from src "r1"`},
		{"flow-demand-zero", func(n *Network) { z := 0.0; n.Flows[0].DemandGbps = &z }, "flows[f1].demand_gbps", "> 0, got 0"},
		// Numeric bounds and text sanitisation (seed 004 §11; issue #13: a capacity of 1e308
		// was accepted and the models then produced +Inf).
		{"link-capacity-huge", func(n *Network) { n.Links[0].CapacityGbps = 1e308 }, "links[l1].capacity_gbps", "must be from 1e-06 to 1e+06 Gb/s, got 1e+308"},
		{"link-capacity-tiny", func(n *Network) { n.Links[0].CapacityGbps = 1e-300 }, "links[l1].capacity_gbps", "must be from 1e-06"},
		{"link-capacity-nan", func(n *Network) { n.Links[0].CapacityGbps = math.NaN() }, "links[l1].capacity_gbps", "finite"},
		{"link-latency-huge", func(n *Network) { n.Links[0].LatencyMs = 1e308 }, "links[l1].latency_ms", "at most 1e+06 ms"},
		{"flow-demand-huge", func(n *Network) { z := 1e7; n.Flows[0].DemandGbps = &z }, "flows[f1].demand_gbps", "to 1e+06 Gb/s"},
		{"device-x-huge", func(n *Network) { n.Devices[0].X = 1e300 }, "devices[r1].x", "at most"},
		{"device-name-nul", func(n *Network) { n.Devices[0].Name = "a\x00b" }, "devices[r1].name", "control character"},
		{"device-label-utf8", func(n *Network) { n.Devices[0].Labels = map[string]string{"k": "\xff"} }, "devices[r1].labels[k]", "UTF-8"},
		{"link-name-long", func(n *Network) { n.Links[0].Name = strings.Repeat("n", MaxTextLength+1) }, "links[l1].name", "longer than 1024 bytes"},
		{"flow-demand-inf", func(n *Network) { z := math.Inf(1); n.Flows[0].DemandGbps = &z }, "flows[f1].demand_gbps", "finite"},
		{"flow-path-unknown", func(n *Network) { n.Flows[0].Path[1] = "l9" }, "flows[f1].path[1]", `unknown directed link "l9"`},
		{"flow-path-wrong-start", func(n *Network) { n.Flows[0].Path = []string{"l1~r", "l2~r"} }, "flows[f1].path[0]", `directed link "l1~r" leaves "r2", not src "r1"`},
		{"flow-path-gap", func(n *Network) { n.Flows[0].Path = []string{"l1", "l2"} }, "flows[f1].path[1]", `directed link "l2" leaves "r3", but path[0] ends at "r2"`},
		{"flow-path-short", func(n *Network) { n.Flows[0].Path = []string{"l1"} }, "flows[f1].path", `ends at "r2", not dst "r3"`},
		{"flow-path-repeat", func(n *Network) { n.Flows[0].Path = []string{"l1", "l1", "l2~r"} }, "flows[f1].path[1]", `directed link "l1" repeated (also path[0])`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := smallNet()
			tc.mutate(n)
			err := n.Validate()
			if err == nil {
				t.Fatal("Validate succeeded; want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not *ValidationError", err)
			}
			for _, fe := range ve.Errors {
				if fe.Field == tc.field && strings.Contains(fe.Msg, tc.msg) {
					return
				}
			}
			t.Errorf("no error on field %q containing %q; got %v", tc.field, tc.msg, err)
		})
	}
}

func TestValidateDoesNotMutate(t *testing.T) {
	n := smallNet()
	n.Links[0].CapacityGbps = -1
	before := n.Clone()
	_ = n.Validate()
	if diff := cmp.Diff(before, n); diff != "" {
		t.Errorf("Validate changed the network:\n%s", diff)
	}
}

func TestPerElementValidators(t *testing.T) {
	n := smallNet()
	ix := n.Index()
	lookup := func(id string) (Device, bool) {
		d, ok := ix.Device(id)
		if !ok {
			return Device{}, false
		}
		return *d, true
	}
	if err := ValidateDevice(n.Devices[0]); err != nil {
		t.Errorf("ValidateDevice: %v", err)
	}
	if err := ValidateDevice(Device{ID: "x", Type: "bogus"}); err == nil || !strings.Contains(err.Error(), "devices[x].type: unknown device type") {
		t.Errorf("ValidateDevice(bogus) = %v", err)
	}
	if err := ValidateLink(n.Links[0], lookup); err != nil {
		t.Errorf("ValidateLink: %v", err)
	}
	bad := n.Links[0]
	bad.Endpoints = []EndPointRef{{"r1", "eth1"}, {"r2", "eth9"}}
	if err := ValidateLink(bad, lookup); err == nil || !strings.Contains(err.Error(), `links[l1].endpoints[1].endpoint: device "r2" has no endpoint "eth9"`) {
		t.Errorf("ValidateLink(bad endpoint) = %v", err)
	}
	if err := ValidateLink(bad, nil); err != nil {
		t.Errorf("ValidateLink without lookup checks references: %v", err)
	}
	if err := ValidateContext(Context{ID: "a/b"}); err != nil {
		t.Errorf("ValidateContext: %v", err)
	}
	if err := ValidateContext(Context{}); err == nil || err.Error() != "contexts[0].id: required" {
		t.Errorf("ValidateContext(empty) = %v", err)
	}
	exists := func(k Kind, id string) bool {
		return k == KindContext && id == "admin" || k == KindDevice && id == "r1"
	}
	if err := ValidateTopology(Topology{ID: "t", Context: "admin", DeviceIDs: []string{"r1"}}, exists); err != nil {
		t.Errorf("ValidateTopology: %v", err)
	}
	if err := ValidateTopology(Topology{ID: "t", Context: "admin", LinkIDs: []string{"l1"}}, exists); err == nil || !strings.Contains(err.Error(), `topologies[t].link_ids[0]: unknown link "l1"`) {
		t.Errorf("ValidateTopology(unknown link) = %v", err)
	}
	hasDevice := func(id string) bool { _, ok := ix.Device(id); return ok }
	lookupLink := func(id string) (string, string, bool) {
		d, ok := ix.Directed(id)
		return d.From.Device, d.To.Device, ok
	}
	if err := ValidateFlow(n.Flows[0], hasDevice, lookupLink); err != nil {
		t.Errorf("ValidateFlow: %v", err)
	}
	f := n.Flows[0]
	f.Path = []string{"l2"}
	if err := ValidateFlow(f, hasDevice, lookupLink); err == nil || !strings.Contains(err.Error(), `flows[f1].path[0]: directed link "l2" leaves "r3", not src "r1"`) {
		t.Errorf("ValidateFlow(bad path) = %v", err)
	}
	if err := ValidateFlow(f, nil, nil); err != nil {
		t.Errorf("ValidateFlow without lookups: %v", err)
	}
}

func TestCheckID(t *testing.T) {
	for _, id := range []string{"a", "r-1", "pod1-agg0", "h-1-1-0", "x_y.z:1/2", strings.Repeat("z", 128)} {
		if msg := CheckID(id); msg != "" {
			t.Errorf("CheckID(%q) = %q; want valid", id, msg)
		}
	}
	for _, id := range []string{"", " ", "a b", "é", "a~r", "a,b", strings.Repeat("z", 129), "a\x00"} {
		if CheckID(id) == "" {
			t.Errorf("CheckID(%q) valid; want invalid", id)
		}
	}
}

func TestIndexAndDirections(t *testing.T) {
	n := smallNet()
	ix := n.Index()
	fwd, rev, ok := LinkDirections(n.Links[1])
	if !ok {
		t.Fatal("LinkDirections failed")
	}
	if fwd.ID != "l2" || fwd.From.Device != "r3" || fwd.To.Device != "r2" || fwd.Reverse {
		t.Errorf("fwd = %+v", fwd)
	}
	if rev.ID != "l2~r" || rev.From != (EndPointRef{"r2", "eth2"}) || rev.To != (EndPointRef{"r3", "eth1"}) || !rev.Reverse {
		t.Errorf("rev = %+v", rev)
	}
	if _, _, ok := LinkDirections(Link{ID: "x"}); ok {
		t.Error("LinkDirections of a link without endpoints succeeded")
	}
	if d, ok := ix.Directed("l2~r"); !ok || d != rev {
		t.Errorf("Directed(l2~r) = %+v, %v", d, ok)
	}
	if _, ok := ix.Directed("l9~r"); ok {
		t.Error("Directed(l9~r) found")
	}
	if id, rev := ParseDirectedLinkID("a--b~r"); id != "a--b" || !rev {
		t.Errorf("ParseDirectedLinkID = %q %v", id, rev)
	}
	if got, want := ix.Neighbors("r2"), []string{"r1", "r3"}; !cmp.Equal(got, want) {
		t.Errorf("Neighbors(r2) = %v; want %v", got, want)
	}
	if got := len(ix.Out("r2")); got != 2 {
		t.Errorf("Out(r2) has %d links; want 2", got)
	}
	if id, ok := ix.LinkAt(EndPointRef{"r2", "eth2"}); !ok || id != "l2" {
		t.Errorf("LinkAt(r2:eth2) = %q %v", id, ok)
	}
	if ep, ok := ix.EndPoint(EndPointRef{"r2", "eth2"}); !ok || ep.ID != "eth2" {
		t.Errorf("EndPoint(r2:eth2) = %v %v", ep, ok)
	}
	if _, ok := ix.EndPoint(EndPointRef{"r9", "eth2"}); ok {
		t.Error("EndPoint(r9:eth2) found")
	}
	for _, c := range []struct {
		ok bool
	}{{func() bool { _, ok := ix.Context("admin"); return ok }()}, {func() bool { _, ok := ix.Topology("t"); return ok }()}, {func() bool { _, ok := ix.Flow("f1"); return ok }()}} {
		if !c.ok {
			t.Error("lookup by ID failed")
		}
	}
}

func TestClone(t *testing.T) {
	n := smallNet()
	n.Devices[0].Labels = map[string]string{"a": "b"}
	n.Devices[0].Endpoints[0].SampleTypes = []string{"bytes"}
	n.Links[0].Labels = map[string]string{"c": "d"}
	c := n.Clone()
	if diff := cmp.Diff(n, c); diff != "" {
		t.Fatalf("clone differs:\n%s", diff)
	}
	c.Devices[0].Labels["a"] = "x"
	c.Devices[0].Endpoints[0].SampleTypes[0] = "x"
	c.Devices[0].Drivers[0] = "x"
	c.Devices[1].ConfigRules[0].ResourceKey = "x"
	c.Links[0].Labels["c"] = "x"
	c.Links[0].Endpoints[0].Device = "x"
	c.Topologies[0].DeviceIDs[0] = "x"
	c.Topologies[0].LinkIDs[0] = "x"
	c.Flows[0].Path[0] = "x"
	*c.Flows[0].DemandGbps = 99
	if diff := cmp.Diff(smallNetWith(func(n *Network) {
		n.Devices[0].Labels = map[string]string{"a": "b"}
		n.Devices[0].Endpoints[0].SampleTypes = []string{"bytes"}
		n.Links[0].Labels = map[string]string{"c": "d"}
	}), n); diff != "" {
		t.Errorf("modifying the clone changed the original:\n%s", diff)
	}
	var nilNet *Network
	if nilNet.Clone() != nil {
		t.Error("nil clone not nil")
	}
}

func smallNetWith(f func(*Network)) *Network {
	n := smallNet()
	f(n)
	return n
}
