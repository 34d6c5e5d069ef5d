package clab

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/twinflow/twinflow/models/network"
	"io"
)

const clabExample = `# a typical lab
name: srl02
prefix: ""
mgmt:
  network: custom
  ipv4-subnet: 172.100.100.0/24
topology:
  defaults:
    kind: nokia_srlinux
  groups:
    clients:
      kind: linux
  kinds:
    nokia_srlinux:
      image: ghcr.io/nokia/srlinux
  nodes:
    srl1:
      mgmt-ipv4: 172.100.100.11
      labels:
        rack: 7
    srl2: {}
    br: {kind: bridge}
    client1:
      group: clients
      image: alpine:3
      labels:
        twinflow.domain: AS9
        twinflow.x: 1.5
        empty: ""
    client2: ~
  links:
    - endpoints: ["srl1:e1-1", "srl2:e1-1"]
      vars:
        twinflow: {capacity_gbps: 100, latency_ms: 0.25, labels: {tier: core}}
    - endpoints: ["srl1:e1-2", "br:eth1"]
    - type: veth
      endpoints:
        - node: client1
          interface: eth1
        - node: br
          interface: eth2
      mtu: 9000
    - endpoints: ["srl2:e1-9", "host:srl2-e19"]
    - type: mgmt-net
      endpoint: {node: srl2, interface: e1-10}
      host-interface: srl2-mgmt
    - endpoints: ["client2:eth1", "srl2:e1-2"]
      vars: {foo: bar}
`

// TestDecodeExample covers REQ-TOP-02 (topology from configuration files).
func TestDecodeExample(t *testing.T) {
	n, err := Decode(strings.NewReader(clabExample))
	if err != nil {
		t.Fatal(err)
	}
	ix := n.Index()
	wantTypes := map[string]network.DeviceType{"srl1": network.DeviceRouter, "srl2": network.DeviceRouter, "br": network.DeviceSwitch, "client1": network.DeviceHost, "client2": network.DeviceRouter}
	if len(n.Devices) != len(wantTypes) {
		t.Errorf("%d devices; want %d", len(n.Devices), len(wantTypes))
	}
	for id, typ := range wantTypes {
		d, ok := ix.Device(id)
		if !ok {
			t.Errorf("device %s missing", id)
			continue
		}
		if d.Type != typ {
			t.Errorf("device %s type %q; want %q", id, d.Type, typ)
		}
	}
	if got := n.Devices[0].ID; got != "srl1" {
		t.Errorf("first device %q; want srl1 (document order)", got)
	}
	srl1, _ := ix.Device("srl1")
	if srl1.Labels["rack"] != "7" {
		t.Errorf("srl1 labels %v; want rack=7", srl1.Labels)
	}
	c1, _ := ix.Device("client1")
	if c1.Domain != "AS9" || c1.X != 1.5 || c1.Labels["empty"] != "" || len(c1.Labels) != 0 {
		t.Errorf("client1 = %+v", c1)
	}
	if len(n.Links) != 4 {
		t.Fatalf("%d links; want 4 (host and mgmt-net links skipped): %+v", len(n.Links), n.Links)
	}
	l0 := n.Links[0]
	if l0.ID != "srl1--srl2" || l0.CapacityGbps != 100 || l0.LatencyMs != 0.25 || l0.Labels["tier"] != "core" {
		t.Errorf("link 0 = %+v", l0)
	}
	if l := n.Links[1]; l.CapacityGbps != DefaultLinkCapacityGbps || l.LatencyMs != 0 {
		t.Errorf("link 1 defaults = %+v", l)
	}
	if l := n.Links[2]; l.Endpoints[0] != (network.EndPointRef{Device: "client1", EndPoint: "eth1"}) || l.Endpoints[1] != (network.EndPointRef{Device: "br", EndPoint: "eth2"}) {
		t.Errorf("extended veth link = %+v", l)
	}
	if got := len(srl1.Endpoints); got != 2 {
		t.Errorf("srl1 has %d endpoints; want 2", got)
	}
	if n.Topologies[0].ID != "srl02" || len(n.Topologies[0].DeviceIDs) != 5 || len(n.Topologies[0].LinkIDs) != 4 {
		t.Errorf("topology = %+v", n.Topologies[0])
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"empty", "", "empty document"},
		{"no-topology", "name: x\n", "missing topology"},
		{"no-name", "topology:\n  nodes: {a: {}}\n", "missing name"},
		{"bad-name", "name: 'a b'\ntopology:\n  nodes: {}\n", `name "a b": want a letter or digit, then letters, digits`},
		{"dot-name", "name: .\ntopology:\n  nodes: {}\n", `name "."`},
		{"colon-name", "name: a:b\ntopology:\n  nodes: {}\n", `name "a:b"`},
		{"nodes-list", "name: x\ntopology:\n  nodes: [a, b]\n", "topology.nodes must be a mapping"},
		{"bad-node-id", "name: x\ntopology:\n  nodes:\n    a|b: {kind: linux}\n", `topology.nodes.a|b (line 4): malformed document: device ID "a|b": invalid character '|'`},
		{"dup-node", "name: x\ntopology:\n  nodes:\n    a: {}\n    a: {}\n", "topology.nodes.a (line 5): malformed document: duplicate node"},
		{"unknown-node", "name: x\ntopology:\n  nodes: {a: {}}\n  links:\n    - endpoints: [\"a:e1\", \"b:e1\"]\n", `topology.links[0].endpoints[1]: malformed document: unknown node "b"`},
		// the two below are containerlab's own messages (its links package decodes the links)
		{"bad-endpoint", "name: x\ntopology:\n  nodes: {a: {}}\n  links:\n    - endpoints: [\"a-e1\", \"a:e2\"]\n", `invalid link endpoint format. expected <node>:<port>, got a-e1`},
		{"one-endpoint", "name: x\ntopology:\n  nodes: {a: {}}\n  links:\n    - endpoints: [\"a:e1\"]\n", "malformed document: endpoint definition should consist of exactly 2 entries. 1 provided"},
		{"bad-iface", "name: x\ntopology:\n  nodes: {a: {}, b: {}}\n  links:\n    - endpoints: [\"a:e 1\", \"b:e1\"]\n", `interface "e 1"`},
		{"reused-iface", "name: x\ntopology:\n  nodes: {a: {}, b: {}}\n  links:\n    - endpoints: [\"a:e1\", \"b:e1\"]\n    - endpoints: [\"a:e1\", \"b:e2\"]\n", "links[a--b-2].endpoints[0]: endpoint a:e1 already used by link links[a--b]"},
		{"bad-capacity", "name: x\ntopology:\n  nodes: {a: {}, b: {}}\n  links:\n    - endpoints: [\"a:e1\", \"b:e1\"]\n      vars: {twinflow: {capacity_gbps: -1}}\n", "links[a--b].capacity_gbps: must be a finite number > 0, got -1"},
		{"bad-type-label", "name: x\ntopology:\n  nodes:\n    a: {labels: {twinflow.type: toaster}}\n", `devices[a].type: unknown device type "toaster"`},
		{"bad-x-label", "name: x\ntopology:\n  nodes:\n    a: {labels: {twinflow.x: east}}\n", `label twinflow.x: "east" is not a finite number`},
		{"yaml-syntax", "name: x\ntopology: [\n", "malformed document"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.doc))
			if err == nil {
				t.Fatalf("decode succeeded; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, network.ErrFormat) && !errors.Is(err, network.ErrInvalid) {
				t.Errorf("error %v wraps neither network.ErrFormat nor network.ErrInvalid", err)
			}
		})
	}
}

func TestEncodeOptions(t *testing.T) {
	n := smallNet()
	n.Devices[0].ID = "site:1/r1" // not a valid containerlab node name
	n.Links[0].Endpoints[0].Device = "site:1/r1"
	n.Flows = nil
	n.Topologies[0].DeviceIDs[0] = "site:1/r1"
	var buf bytes.Buffer
	err := Encode(&buf, n, Options{Name: "lab1", Kind: "linux", Image: "example/node:1", MgmtNetwork: "tfmgmt"})
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"name: lab1\n", "network: tfmgmt", "image: example/node:1", "site_1_r1:", "twinflow.id: site:1/r1", `- site_1_r1:eth1`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	back, err := Decode(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if back.Devices[0].ID != "site:1/r1" || back.Links[0].Endpoints[0].Device != "site:1/r1" {
		t.Errorf("device ID not restored: %+v", back.Devices[0])
	}
	if err := Encode(&buf, n, Options{Name: "my lab"}); err == nil || !strings.Contains(err.Error(), `lab name "my lab"`) {
		t.Errorf("bad lab name: %v", err)
	}
	n.Devices[1].Labels = map[string]string{"twinflow.type": "x"}
	if err := Encode(&buf, n, Options{}); err == nil || !strings.Contains(err.Error(), "reserved prefix") {
		t.Errorf("reserved label: %v", err)
	}
}

// clabSchemaPath is containerlab's published topology schema, vendored under the
// repository's testdata/containerlab (found by walking up to go.mod).
func clabSchemaPath(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "testdata", "containerlab", "clab.schema.json")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test's directory")
		}
		dir = parent
	}
}

// clabSchemas compiles containerlab's schema twice: as published (draft-07, which
// ignores prefixItems) and as draft 2020-12 (which enforces the "node:iface" pattern
// of brief link endpoints through prefixItems).
func clabSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	path := clabSchemaPath(t)
	out := map[string]*jsonschema.Schema{}
	for _, draft := range []string{"draft7", "draft2020"} {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		if draft == "draft2020" {
			m := doc.(map[string]any)
			delete(m, "$schema")
			c.DefaultDraft(jsonschema.Draft2020)
		}
		if err := c.AddResource("clab.schema.json", doc); err != nil {
			t.Fatal(err)
		}
		sch, err := c.Compile("clab.schema.json")
		if err != nil {
			t.Fatalf("compile %s: %v", draft, err)
		}
		out[draft] = sch
	}
	return out
}

// yamlToJSONValue decodes YAML into the JSON value model the validator expects.
func yamlToJSONValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return inst
}

func TestExportMatchesSchema(t *testing.T) {
	schemas := clabSchemas(t)
	nets := map[string]*network.Network{}
	for _, spec := range []string{"ring:n=10", "fat-tree:k=4", "leaf-spine:leaves=8,spines=4,hosts=8", "alto3", "wan:n=200", "fat-tree:k=12", "wan:n=1000"} {
		n, err := network.Generate(spec, 3)
		if err != nil {
			t.Fatal(err)
		}
		nets[spec] = n
	}
	n := smallNet()
	n.Devices[0].ID = "-odd:id"
	n.Links[0].Endpoints[0].Device = "-odd:id"
	n.Topologies[0].DeviceIDs[0] = "-odd:id"
	n.Flows = nil
	n.Devices[1].Labels = map[string]string{"empty": "", "k": "v"}
	nets["odd-ids"] = n
	for name, n := range nets {
		var buf bytes.Buffer
		if err := Encode(&buf, n, Options{MgmtNetwork: "tf-mgmt"}); err != nil {
			t.Fatal(err)
		}
		inst := yamlToJSONValue(t, buf.Bytes())
		for draft, sch := range schemas {
			if err := sch.Validate(inst); err != nil {
				t.Errorf("%s export (%d devices) violates the containerlab schema (%s): %v", name, len(n.Devices), draft, err)
			}
		}
	}
	// The check can fail: a malformed brief endpoint, an unknown node key and a
	// missing name are rejected.
	bad := map[string]string{
		"endpoint":     "name: x\ntopology:\n  nodes: {a: {kind: linux}}\n  links:\n    - endpoints: [\"a-eth1\", \"a:eth2\"]\n",
		"node-key":     "name: x\ntopology:\n  nodes: {a: {kind: linux, colour: red}}\n",
		"missing-name": "topology:\n  nodes: {a: {kind: linux}}\n",
	}
	for name, doc := range bad {
		inst := yamlToJSONValue(t, []byte(doc))
		if err := schemas["draft2020"].Validate(inst); err == nil {
			t.Errorf("schema accepted bad document %s", name)
		}
	}
}

// smallNet is a small valid network (models/network's test network).
func smallNet() *network.Network {
	demand := 2.5
	return &network.Network{
		Contexts:   []network.Context{{ID: "admin"}},
		Topologies: []network.Topology{{ID: "t", Context: "admin", DeviceIDs: []string{"r1", "r2", "r3"}, LinkIDs: []string{"l1", "l2"}}},
		Devices: []network.Device{
			{ID: "r1", Type: network.DeviceRouter, Drivers: []network.DriverKind{network.DriverGNMI}, Endpoints: []network.EndPoint{{ID: "eth1"}}},
			{ID: "r2", Type: network.DeviceRouter, Endpoints: []network.EndPoint{{ID: "eth1"}, {ID: "eth2"}}},
			{ID: "r3", Type: network.DeviceHost, Endpoints: []network.EndPoint{{ID: "eth1"}}},
		},
		Links: []network.Link{
			{ID: "l1", Endpoints: []network.EndPointRef{{Device: "r1", EndPoint: "eth1"}, {Device: "r2", EndPoint: "eth1"}}, CapacityGbps: 10, UsedGbps: 1, LatencyMs: 1},
			{ID: "l2", Endpoints: []network.EndPointRef{{Device: "r3", EndPoint: "eth1"}, {Device: "r2", EndPoint: "eth2"}}, CapacityGbps: 10},
		},
		Flows: []network.Flow{{ID: "f1", Src: "r1", Dst: "r3", Path: []string{"l1", "l2~r"}, DemandGbps: &demand}},
	}
}

// equateEmpty treats nil and empty slices and maps alike: the encoder omits both.
var equateEmpty = cmpopts.EquateEmpty()

// TestRoundTripGenerated: generated networks survive export and import unchanged
// (containerlab has no topology name: the lab name is the topology ID).
func TestRoundTripGenerated(t *testing.T) {
	for _, spec := range []string{"fat-tree:k=4", "leaf-spine:leaves=3,spines=2,hosts=2", "ring:n=5", "wan:n=30", "alto3"} {
		n, err := network.Generate(spec, 7)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Encode(&buf, n, Options{}); err != nil {
			t.Fatalf("%s: encode: %v", spec, err)
		}
		got, err := Decode(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("%s: decode: %v", spec, err)
		}
		want := n.Clone()
		want.Topologies[0].Name = want.Topologies[0].ID
		if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
			t.Errorf("%s: round trip changed the network (-want +got):\n%s", spec, diff)
		}
	}
}

// TestEncodeNil: a nil network is refused.
func TestEncodeNil(t *testing.T) {
	if err := Encode(io.Discard, nil, Options{}); err == nil {
		t.Error("Encode(nil) succeeded")
	}
}

// TestFormatDispatch: DecodeFormat and EncodeFormat handle containerlab here and the
// other formats through models/network.
func TestFormatDispatch(t *testing.T) {
	n := smallNet()
	n.Flows = nil
	for _, f := range network.Formats {
		var buf bytes.Buffer
		if err := EncodeFormat(&buf, n, f, Options{}); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		back, err := DecodeFormat(bytes.NewReader(buf.Bytes()), f)
		if err != nil {
			t.Fatalf("%s: %v\n%s", f, err, buf.String())
		}
		if len(back.Devices) != len(n.Devices) || len(back.Links) != len(n.Links) {
			t.Errorf("%s: %d devices, %d links", f, len(back.Devices), len(back.Links))
		}
	}
}

// FuzzDecode: decoding never panics, and anything accepted is valid and survives
// export and re-import unchanged.
//
//	go test -run '^$' -fuzz FuzzDecode ./twin/emulation/clab
func FuzzDecode(f *testing.F) {
	for _, spec := range []string{"ring:n=3", "alto3", "leaf-spine:leaves=2,spines=1,hosts=1", "wan:n=4"} {
		n, err := network.Generate(spec, 1)
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Encode(&buf, n, Options{}); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	for _, s := range []string{clabExample, "name: x\ntopology:\n  nodes: {a: ~}\n", "name: x\ntopology:\n  nodes:\n    a: {labels: {twinflow.drivers: none}}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			t.Skip()
		}
		n, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := n.Validate(); err != nil {
			t.Fatalf("accepted an invalid network: %v", err)
		}
		var buf bytes.Buffer
		if err := Encode(&buf, n, Options{}); err != nil {
			t.Fatalf("export of an accepted network failed: %v", err)
		}
		back, err := Decode(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("re-import failed: %v\nexported:\n%s", err, buf.String())
		}
		if diff := cmp.Diff(n, back, equateEmpty); diff != "" {
			t.Fatalf("round trip changed the network (-first +second):\n%s\nexported:\n%s", diff, buf.String())
		}
	})
}
