package network

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// zooExample is shaped like an Internet Topology Zoo file (Abilene-like, made up).
const zooExample = `Creator "Topology Zoo Toolset"
Version "1.0"
# a comment line
graph [
  DateObtained "22/10/10"
  GeoLocation "US"
  Network "Abilene Like"
  multigraph 1
  node [
    id 0
    label "New York"
    Country "United States"
    Longitude -74.00597
    Internal 1
    Latitude 40.71427
  ]
  node [
    id 1
    label "Chicago"
    Longitude -87.65005
    Latitude 41.85003
  ]
  node [
    id 2
    label "Chicago"
  ]
  node [
    id 3
    label "Z&#252;rich &amp; Co"
  ]
  edge [
    source 0
    target 1
    LinkSpeed "10"
    LinkLabel "OC-192"
    LinkSpeedUnits "G"
    LinkSpeedRaw 10000000000.0
  ]
  edge [
    source 1
    target 2
    LinkSpeed "2.5"
    LinkSpeedUnits "G"
  ]
  edge [
    source 0
    target 1
    LinkSpeed 622
  ]
  edge [
    source 3
    target 2
  ]
]
`

// TestDecodeGMLZoo covers REQ-TOP-02 (topology from configuration files) for
// Internet Topology Zoo GML.
func TestDecodeGMLZoo(t *testing.T) {
	n, err := DecodeGML(strings.NewReader(zooExample))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, d := range n.Devices {
		ids = append(ids, d.ID)
	}
	if want := []string{"New_York", "Chicago", "Chicago-2", "Z_rich___Co"}; !cmp.Equal(ids, want) {
		t.Errorf("device IDs %v; want %v", ids, want)
	}
	if n.Devices[0].Name != "New York" || n.Devices[1].Name != "" || n.Devices[3].Name != "Zürich & Co" {
		t.Errorf("names %q %q %q", n.Devices[0].Name, n.Devices[1].Name, n.Devices[3].Name)
	}
	if n.Devices[0].Labels[LabelLatitude] != "40.71427" || n.Devices[0].Labels[LabelLongitude] != "-74.00597" {
		t.Errorf("geo labels %v", n.Devices[0].Labels)
	}
	if n.Devices[0].Type != DeviceRouter {
		t.Errorf("type %q", n.Devices[0].Type)
	}
	// Projected coordinates: New York is ~1,140 km east and ~126 km south of Chicago.
	dx := n.Devices[0].X - n.Devices[1].X
	dy := n.Devices[0].Y - n.Devices[1].Y
	if dx < 1100 || dx > 1180 || dy > -115 || dy < -135 {
		t.Errorf("projection offsets (%v, %v) km", dx, dy)
	}
	if n.Topologies[0].ID != "Abilene_Like" {
		t.Errorf("topology ID %q", n.Topologies[0].ID)
	}
	if len(n.Links) != 4 {
		t.Fatalf("%d links", len(n.Links))
	}
	l := n.Links
	if l[0].ID != "New_York--Chicago" || l[0].Name != "OC-192" || l[0].CapacityGbps != 10 {
		t.Errorf("link 0 %+v", l[0])
	}
	// Great-circle New York–Chicago is ~1,145 km: ~5.7 ms at 5 µs/km.
	if l[0].LatencyMs < 5.5 || l[0].LatencyMs > 5.9 {
		t.Errorf("link 0 latency %v ms", l[0].LatencyMs)
	}
	if l[1].CapacityGbps != 2.5 || l[1].LatencyMs != 0 {
		t.Errorf("link 1 %+v", l[1])
	}
	if l[2].ID != "New_York--Chicago-2" || math.Abs(l[2].CapacityGbps-0.622) > 1e-12 {
		t.Errorf("link 2 (parallel, Mb/s default) %+v", l[2])
	}
	if l[3].CapacityGbps != DefaultLinkCapacityGbps {
		t.Errorf("link 3 default capacity %v", l[3].CapacityGbps)
	}
	if eps := n.Devices[1].Endpoints; len(eps) != 3 || eps[0].ID != "eth1" || eps[2].ID != "eth3" {
		t.Errorf("Chicago endpoints %+v", eps)
	}
	// And it round-trips through GML export.
	got := roundTrip(t, n, FormatGML)
	if diff := cmp.Diff(n, got, equateEmpty); diff != "" {
		t.Errorf("GML round trip (-want +got):\n%s", diff)
	}
}

func TestGMLEscapes(t *testing.T) {
	n := smallNet()
	n.Flows = nil
	n.Devices[0].Name = `say "hi" & <bye> &amp;`
	n.Links[0].Labels = map[string]string{"a.b": `"q"`, "x": "&#65;"}
	got := roundTrip(t, n, FormatGML)
	if got.Devices[0].Name != n.Devices[0].Name {
		t.Errorf("name %q; want %q", got.Devices[0].Name, n.Devices[0].Name)
	}
	if !cmp.Equal(got.Links[0].Labels, n.Links[0].Labels) {
		t.Errorf("labels %v; want %v", got.Links[0].Labels, n.Links[0].Labels)
	}
}

func TestDecodeGMLLatin1(t *testing.T) {
	doc := []byte("graph [ node [ id 0 label \"Z\xfcrich\" ] ]")
	n, err := DecodeGML(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if n.Devices[0].Name != "Zürich" {
		t.Errorf("name %q; want Zürich", n.Devices[0].Name)
	}
}

func TestDecodeGMLErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"empty", "", "empty document"},
		{"no-graph", "Creator \"x\"\n", `no "graph [ ... ]" list`},
		{"graph-not-list", "graph 3\n", `no "graph [ ... ]" list`},
		{"unclosed", "graph [\n node [ id 0 ]\n", "line 3: unexpected end of input: missing ']'"},
		{"extra-bracket", "graph [ ] ]", "line 1: unexpected ']'"},
		{"bad-key", "graph [\n  9node [ ]\n]", `line 2: expected a key, got "9node"`},
		{"bad-token", "graph [\n  node { id 0 }\n]", `line 2: key node: expected a number, string or list, got "{"`},
		{"no-value", "graph [ node", "key node has no value"},
		{"unterminated-string", "graph [\n node [ id 0 label \"abc ]\n]", "line 2: unterminated string for key label"},
		{"bad-number", "graph [ node [ id 1-2 ] ]", `key id: bad number "1-2"`},
		{"huge-number", "graph [ node [ id 0 x 1e999 ] ]", `bad number "1e999"`},
		{"node-not-list", "graph [ node 3 ]", "node must be a list"},
		{"node-no-id", "graph [\n node [ label \"a\" ]\n]", "line 2: node[0]: malformed document: id must be an integer"},
		{"node-real-id", "graph [ node [ id 1.5 ] ]", "id must be an integer"},
		{"dup-id", "graph [ node [ id 1 ] node [ id 1 ] ]", "node[1]: malformed document: duplicate id 1"},
		{"bad-x", "graph [ node [ id 1 x \"east\" ] ]", "x must be a finite number"},
		{"bad-type", "graph [ node [ id 1 device_type \"toaster\" ] ]", `devices[n1].type: unknown device type "toaster"`},
		{"edge-not-list", "graph [ edge 1 ]", "edge must be a list"},
		{"edge-unknown", "graph [ node [ id 0 ] edge [ source 0 target 5 ] ]", "edge[0]: malformed document: target: unknown node id 5"},
		{"edge-no-source", "graph [ node [ id 0 ] edge [ target 0 ] ]", "source must be an integer node id"},
		{"edge-bad-speed", "graph [ node [ id 0 ] node [ id 1 ] edge [ source 0 target 1 LinkSpeed \"fast\" ] ]", "LinkSpeed must be a number"},
		{"edge-bad-units", "graph [ node [ id 0 ] node [ id 1 ] edge [ source 0 target 1 LinkSpeed 1 LinkSpeedUnits \"X\" ] ]", `LinkSpeedUnits "X"`},
		{"edge-zero-capacity", "graph [ node [ id 0 ] node [ id 1 ] edge [ source 0 target 1 capacity_gbps 0 ] ]", "links[n0--n1].capacity_gbps: must be a finite number > 0, got 0"},
		{"edge-bad-endpoint", "graph [ node [ id 0 ] node [ id 1 ] edge [ source 0 target 1 source_endpoint \"e 1\" ] ]", `source_endpoint "e 1"`},
		{"edge-endpoint-reused", "graph [ node [ id 0 ] node [ id 1 ] edge [ source 0 target 1 source_endpoint \"e1\" ] edge [ source 0 target 1 source_endpoint \"e1\" ] ]", "endpoint n0:e1 already used by link links[n0--n1]"},
		{"labels-bad", "graph [ node [ id 0 labels [ k \"v\" ] ] ]", `labels holds "k"`},
		{"labels-entry", "graph [ node [ id 0 labels [ entry [ key \"k\" ] ] ] ]", "label entry needs key and value"},
		{"deep", "graph [" + strings.Repeat(" a [", 40) + strings.Repeat(" ]", 40) + " ]", "nested deeper than 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeGML(strings.NewReader(tc.doc))
			if err == nil {
				t.Fatalf("decode succeeded; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want it to contain %q", err, tc.want)
			}
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v wraps neither ErrFormat nor ErrInvalid", err)
			}
		})
	}
}

func TestGMLAutoEndpointsAvoidExplicit(t *testing.T) {
	doc := `graph [ node [ id 0 ] node [ id 1 ] node [ id 2 ]
	  edge [ source 0 target 1 ]
	  edge [ source 0 target 2 source_endpoint "eth2" ]
	  edge [ source 2 target 0 ] ]`
	n, err := DecodeGML(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range n.Links {
		got = append(got, l.Endpoints[0].EndPoint+"/"+l.Endpoints[1].EndPoint)
	}
	if want := []string{"eth1/eth1", "eth2/eth1", "eth2/eth3"}; !cmp.Equal(got, want) {
		t.Errorf("endpoints %v; want %v", got, want)
	}
}
