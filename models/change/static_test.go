package change

import (
	"reflect"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

func testNet() *network.Network {
	dev := func(id string, eps ...string) network.Device {
		d := network.Device{ID: id, Type: network.DeviceRouter, Drivers: []network.DriverKind{network.DriverGNMI}, Address: "127.0.0.1:1"}
		for _, e := range eps {
			d.Endpoints = append(d.Endpoints, network.EndPoint{ID: e})
		}
		return d
	}
	return &network.Network{
		Devices: []network.Device{dev("r1", "eth1", "eth2"), dev("r2", "eth1", "eth2"), dev("r3", "eth1"), {ID: "h1", Type: network.DeviceHost}},
		Links: []network.Link{
			{ID: "l12", Endpoints: []network.EndPointRef{{Device: "r1", EndPoint: "eth1"}, {Device: "r2", EndPoint: "eth1"}}, CapacityGbps: 10},
			{ID: "l23", Endpoints: []network.EndPointRef{{Device: "r2", EndPoint: "eth2"}, {Device: "r3", EndPoint: "eth1"}}, CapacityGbps: 10},
		},
		Flows: []network.Flow{{ID: "f1", Src: "r1", Dst: "r3", Path: []string{"l12", "l23"}}},
	}
}

func addrOp(itf, ip string, pl int) Op {
	return op(OpUpdate, "/interfaces/interface[name="+itf+"]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip="+ip+"]/config",
		`{"ip":"`+ip+`","prefix-length":`+itoa(pl)+`}`)
}

func itoa(n int) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func statusOf(res StaticResult, name string) (Status, string) {
	for _, c := range res.Checks {
		if c.Name == name {
			return c.Status, c.Message
		}
	}
	return "", "missing check " + name
}

func TestStaticChecks(t *testing.T) {
	base := map[string]Tree{}
	r2 := Tree{}
	if err := ApplyOps(r2, []Op{addrOp("eth1", "10.0.12.2", 30),
		op(OpUpdate, "/network-instances/network-instance[name=blue]/config", `{"name":"blue","route-distinguisher":"65000:1"}`)}); err != nil {
		t.Fatal(err)
	}
	base["r2"] = r2
	cases := []struct {
		name      string
		cs        ChangeSet
		failCheck string
		want      string
	}{
		{name: "clean", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {addrOp("eth1", "10.0.12.1", 30)}}}},
		{name: "dup-ip", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {addrOp("eth1", "10.0.12.2", 30)}}},
			failCheck: "l0.conflicts.ip", want: "10.0.12.2 is configured on r1 eth1.0 and r2 eth1.0"},
		{name: "overlap", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r2": {addrOp("eth2", "10.0.12.5", 24)}}},
			failCheck: "l0.conflicts.prefix", want: "overlaps"},
		{name: "rd-dup-device", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r2": {op(OpUpdate, "/network-instances/network-instance[name=red]/config", `{"route-distinguisher":"65000:1"}`)}}},
			failCheck: "l0.conflicts.rd", want: "65000:1"},
		{name: "rd-other-ni", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {op(OpUpdate, "/network-instances/network-instance[name=red]/config", `{"route-distinguisher":"65000:1"}`)}}},
			failCheck: "l0.conflicts.rd", want: "r1/red"},
		{name: "unknown-device", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r9": {addrOp("eth1", "10.9.9.9", 30)}}},
			failCheck: "l0.references", want: "device_ops[r9]: unknown device"},
		{name: "no-driver", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"h1": {addrOp("eth1", "10.9.9.9", 30)}}},
			failCheck: "l0.capabilities", want: "no management address"},
		{name: "unsupported-root", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {op(OpUpdate, "/qos/x", `1`)}}},
			failCheck: "l0.capabilities", want: `"qos" is not supported`},
		{name: "bad-mtu", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {op(OpUpdate, "/interfaces/interface[name=eth1]/config/mtu", `12`)}}},
			failCheck: "l0.schema", want: "12 is out of range [68, 65535]"},
		{name: "bad-ip", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {addrOp("eth1", "10.0.300.1", 30)}}},
			failCheck: "l0.schema", want: "is not an IPv4 address"},
		{name: "bad-static", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {op(OpUpdate, "/network-instances/network-instance[name=default]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.1.0.0/33]/config", `{"prefix":"10.1.0.0/33"}`)}}},
			failCheck: "l0.schema", want: "is not an IPv4 prefix"},
		{name: "unknown-interface-ref", cs: ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {op(OpUpdate, "/network-instances/network-instance[name=blue]/interfaces/interface[id=eth7]/config", `{"interface":"eth7"}`)}}},
			failCheck: "l0.references", want: `unknown interface "eth7"`},
		{name: "flow-exists", cs: ChangeSet{Kind: KindIntent, Twin: TwinDelta{AddFlows: []FlowSpec{{Flow: network.Flow{ID: "f1", Src: "r1", Dst: "r2"}}}}},
			failCheck: "l0.conflicts.names", want: `flow "f1" already exists`},
		{name: "flow-bad-path", cs: ChangeSet{Kind: KindIntent, Twin: TwinDelta{AddFlows: []FlowSpec{{Flow: network.Flow{ID: "f2", Src: "r1", Dst: "r3", Path: []string{"l23"}}}}}},
			failCheck: "l0.references", want: "not contiguous"},
		{name: "flow-unknown-dst", cs: ChangeSet{Kind: KindIntent, Twin: TwinDelta{AddFlows: []FlowSpec{{Flow: network.Flow{ID: "f2", Src: "r1", Dst: "zz"}}}}},
			failCheck: "l0.references", want: `unknown device "zz"`},
		{name: "remove-unknown", cs: ChangeSet{Kind: KindIntent, Twin: TwinDelta{RemoveFlows: []string{"nope"}}},
			failCheck: "l0.references", want: `unknown flow "nope"`},
		{name: "capacity-unknown", cs: ChangeSet{Kind: KindIntent, Twin: TwinDelta{Capacities: []CapacityChange{{Link: "l99", CapacityGbps: 1}}}},
			failCheck: "l0.references", want: `unknown link "l99"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := StaticInput{Network: testNet(), Configs: base}
			res := Static(&tc.cs, in)
			in.Index = NewIndex(in.Network) // a prebuilt index gives the same result
			if got := Static(&tc.cs, in); !reflect.DeepEqual(got, res) {
				t.Errorf("with an index: %+v\nwithout: %+v", got.Checks, res.Checks)
			}
			for _, c := range res.Checks {
				if c.Name == tc.failCheck {
					if c.Status != Fail || !strings.Contains(c.Message, tc.want) {
						t.Errorf("%s: got %s %q; want fail mentioning %q", c.Name, c.Status, c.Message, tc.want)
					}
					continue
				}
				if c.Status != Pass {
					t.Errorf("%s: unexpected %s: %s", c.Name, c.Status, c.Message)
				}
			}
			if tc.failCheck != "" {
				if s, _ := statusOf(res, tc.failCheck); s == "" {
					t.Errorf("check %s not run", tc.failCheck)
				}
			}
			// the input configuration was not modified
			if _, ok := Lookup(base["r2"], Path{{Name: "interfaces"}}); !ok {
				t.Fatal("base config lost")
			}
			if len(DiffTrees(base["r2"], r2)) != 0 {
				t.Fatal("Static modified its input")
			}
		})
	}
}

func TestStaticIgnoresPreexistingConflicts(t *testing.T) {
	a, b := Tree{}, Tree{}
	_ = ApplyOp(a, addrOp("eth1", "10.0.0.1", 24))
	_ = ApplyOp(b, addrOp("eth1", "10.0.0.1", 24))
	cs := ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r3": {op(OpUpdate, "/interfaces/interface[name=eth1]/config/mtu", `1500`)}}}
	res := Static(&cs, StaticInput{Network: testNet(), Configs: map[string]Tree{"r1": a, "r2": b}})
	if s, msg := statusOf(res, "l0.conflicts.ip"); s != Pass {
		t.Errorf("pre-existing conflict blamed on the change: %s", msg)
	}
	cs2 := ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r3": {addrOp("eth1", "10.0.0.1", 24)}}}
	res = Static(&cs2, StaticInput{Network: testNet(), Configs: map[string]Tree{"r1": a, "r2": b}})
	if s, _ := statusOf(res, "l0.conflicts.ip"); s != Fail {
		t.Error("new duplicate of a pre-existing conflict not reported")
	}
}

// TestStaticSchema: L0 applies the node agent's schema (models/schema) to every
// operation: operations the device would refuse fail l0.schema (issue #13: an unknown
// leaf and an object where a string leaf is expected validated, and the device then
// refused the commit).
func TestStaticSchema(t *testing.T) {
	for _, c := range []struct {
		name string
		op   Op
		want string // "" = passes
	}{
		{"mtu", op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"mtu":9000}`), ""},
		{"prefixed", op(OpUpdate, "/openconfig-interfaces:interfaces/interface[name=eth1]/config/mtu", `9000`), ""},
		{"unknown-leaf", op(OpUpdate, "/interfaces/interface[name=eth1]/config/colour", `"red"`), "colour"},
		{"unknown-member", op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"colour":"red"}`), "colour"},
		{"object-for-string", op(OpUpdate, "/interfaces/interface[name=eth1]/config/description", `{"a":1}`), "description"},
		{"string-for-uint", op(OpUpdate, "/interfaces/interface[name=eth1]/config/mtu", `"big"`), "mtu"},
		{"mtu-range", op(OpUpdate, "/interfaces/interface[name=eth1]/config/mtu", `10`), "out of range"},
		{"state-leaf", op(OpUpdate, "/interfaces/interface[name=eth1]/state/mtu", `9000`), "read-only"},
		{"missing-key", op(OpUpdate, "/interfaces/interface/config/mtu", `9000`), "needs keys"},
		{"bad-key-type", op(OpDelete, "/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=x]", ""), "uint32"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cs := &ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {c.op}}}
			if err := cs.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			st, msg := statusOf(Static(cs, StaticInput{Network: testNet()}), "l0.schema")
			switch {
			case c.want == "" && st != Pass:
				t.Fatalf("l0.schema failed: %s", msg)
			case c.want != "" && (st != Fail || !strings.Contains(msg, c.want)):
				t.Fatalf("l0.schema %s %q; want a failure naming %q", st, msg, c.want)
			}
		})
	}
}
