package network

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// generated returns the generated networks the format tests run on.
func generated(t testing.TB) map[string]*Network {
	t.Helper()
	out := map[string]*Network{}
	for _, spec := range []string{"fat-tree:k=4", "leaf-spine:leaves=3,spines=2,hosts=2", "ring:n=5", "wan:n=30", "alto3"} {
		n, err := Generate(spec, 7)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.NewReplacer(":", "_", "=", "", ",", "_").Replace(spec)] = n
	}
	return out
}

// equateEmpty treats nil and empty slices and maps alike: the encoders omit both.
var equateEmpty = cmpopts.EquateEmpty()

func roundTrip(t *testing.T, n *Network, f Format) *Network {
	t.Helper()
	var buf bytes.Buffer
	if err := Encode(&buf, n, f); err != nil {
		t.Fatalf("encode %s: %v", f, err)
	}
	got, err := Decode(bytes.NewReader(buf.Bytes()), f)
	if err != nil {
		t.Fatalf("decode %s: %v\n%s", f, err, truncate(buf.String(), 2000))
	}
	return got
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func TestRoundTripGenerated(t *testing.T) {
	for name, n := range generated(t) {
		for _, f := range codedHere {
			t.Run(name+"/"+string(f), func(t *testing.T) {
				got := roundTrip(t, n, f)
				want := n.Clone()
				if diff := cmp.Diff(want, got, equateEmpty); diff != "" {
					t.Errorf("round trip through %s changed the network (-want +got):\n%s", f, diff)
				}
			})
		}
	}
}

func TestRoundTripNativeKeepsEverything(t *testing.T) {
	n := smallNet()
	n.Devices[0].Labels = map[string]string{"site": "lab 1", "empty": ""}
	n.Devices[0].Endpoints[0].SampleTypes = []string{"bytes_transmitted"}
	n.Devices[0].Address = "127.0.0.1:9339"
	n.Devices[1].X, n.Devices[1].Y = 12.5, -3
	n.Links[0].Name = "first"
	n.Links[0].OperStatus = StatusDisabled
	n.Flows[0].Class = "gold"
	n.Flows[0].Owner = "slice-1"
	for _, f := range []Format{FormatJSON, FormatYAML} {
		got := roundTrip(t, n, f)
		if diff := cmp.Diff(n, got, equateEmpty); diff != "" {
			t.Errorf("%s round trip (-want +got):\n%s", f, diff)
		}
	}
}

func TestYAMLUsesJSONNames(t *testing.T) {
	var buf bytes.Buffer
	if err := Encode(&buf, smallNet(), FormatYAML); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"capacity_gbps: 10", "used_capacity_gbps: 1", "latency_ms: 1", "resource_key: /system/config/hostname", "device_ids:", "demand_gbps: 2.5", "endpoint: eth1"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("YAML lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestDecodeNativeErrors(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		doc     string
		want    string
		invalid bool // a *ValidationError rather than ErrFormat
	}{
		{"json-empty", FormatJSON, "  \n", "empty document", false},
		{"json-unknown-top", FormatJSON, `{"devicez": []}`, `unknown field "devicez"`, false},
		{"json-unknown-nested", FormatJSON, `{"devices": [{"id": "a", "type": "host", "colour": "red"}]}`, `unknown field "colour"`, false},
		{"json-type", FormatJSON, "{\n\"links\": [{\"id\": \"l\", \"capacity_gbps\": \"ten\"}]}", `line 2, column 44: field links.capacity_gbps: cannot use string as float64`, false},
		{"json-syntax", FormatJSON, "{\n  \"devices\": [,]}", "line 2, column 15", false},
		{"json-truncated", FormatJSON, `{"devices": [`, "unexpected end", false},
		{"json-trailing", FormatJSON, `{} {}`, "trailing data", false},
		{"json-null", FormatJSON, "\n null", "line 2, column 2: the document must be an object", false},
		{"json-array", FormatJSON, `[]`, "must be an object", false},
		{"json-invalid", FormatJSON, `{"devices": [{"id": "a", "type": "toaster"}]}`, `devices[a].type: unknown device type "toaster"`, true},
		{"yaml-empty", FormatYAML, "", "empty document", false},
		{"yaml-unknown", FormatYAML, "devices:\n  - id: a\n    type: host\n    colour: red\n", "line 4: devices[0].colour: unknown field", false},
		{"yaml-go-name", FormatYAML, "links:\n  - id: l\n    CapacityGbps: 3\n", "line 3: links[0].CapacityGbps: unknown field (known: capacity_gbps,", false},
		{"yaml-type", FormatYAML, "links:\n  - id: l\n    capacity_gbps: [1]\n", "line 3: links[0].capacity_gbps: must be a number, got a list", false},
		{"yaml-null", FormatYAML, "# nothing\n---\n~\n", "the document is null", false},
		{"yaml-list", FormatYAML, "- a\n", "line 1: must be a mapping, got a list", false},
		{"yaml-two-docs", FormatYAML, "devices: []\n---\ndevices: []\n", "more than one document", false},
		{"yaml-dup-key", FormatYAML, "devices: []\ndevices: []\n", "already defined", false},
		{"yaml-invalid", FormatYAML, "links:\n  - id: l\n    endpoints: []\n    capacity_gbps: 1\n", "links[l].endpoints: must have exactly 2 endpoints, got 0", true},
		{"yaml-nan", FormatYAML, "devices:\n  - id: a\n    type: host\n    x: .nan\n", "devices[a].x: must be finite", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tc.doc), tc.format)
			if err == nil {
				t.Fatalf("decode succeeded; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q; want it to contain %q", err, tc.want)
			}
			if tc.invalid {
				if !errors.Is(err, ErrInvalid) {
					t.Errorf("error %v does not wrap ErrInvalid", err)
				}
			} else if !errors.Is(err, ErrFormat) {
				t.Errorf("error %v does not wrap ErrFormat", err)
			}
		})
	}
}

func TestNilNetwork(t *testing.T) {
	var n *Network
	if err := n.Validate(); err == nil || !errors.Is(err, ErrInvalid) {
		t.Errorf("Validate(nil) = %v", err)
	}
	for _, f := range Formats {
		if err := Encode(io.Discard, nil, f); err == nil || !strings.Contains(err.Error(), "nil network") {
			t.Errorf("Encode(nil, %s) = %v", f, err)
		}
	}
	if err := EncodeGML(io.Discard, nil); err == nil {
		t.Error("EncodeGML(nil) succeeded")
	}
}

// codedHere are the formats this package reads and writes (containerlab files are
// twin/emulation/clab's).
var codedHere = []Format{FormatJSON, FormatYAML, FormatGML}

// TestContainerlabIsCodedElsewhere: the format is known by name here, and Decode and
// Encode of it say which package reads and writes it.
func TestContainerlabIsCodedElsewhere(t *testing.T) {
	if !slices.Contains(Formats, FormatContainerlab) {
		t.Error("Formats lacks containerlab")
	}
	_, err := Decode(strings.NewReader("name: x\ntopology:\n  nodes: {}\n"), FormatContainerlab)
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "twin/emulation/clab") {
		t.Errorf("Decode(containerlab) = %v", err)
	}
	if err := Encode(io.Discard, smallNet(), FormatContainerlab); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "twin/emulation/clab") {
		t.Errorf("Encode(containerlab) = %v", err)
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	big := strings.NewReader(`{"devices": [` + strings.Repeat(" ", MaxDocumentBytes) + `]}`)
	_, err := DecodeJSON(big)
	if err == nil || !strings.Contains(err.Error(), "larger than") || !errors.Is(err, ErrFormat) {
		t.Errorf("oversized document: %v", err)
	}
}

func TestParseFormatAndDetect(t *testing.T) {
	for in, want := range map[string]Format{"json": FormatJSON, "YAML": FormatYAML, "yml": FormatYAML, "clab": FormatContainerlab, "containerlab": FormatContainerlab, "gml": FormatGML} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), `unknown format "xml"`) {
		t.Errorf("ParseFormat(xml) = %v", err)
	}
	tests := []struct {
		name, content string
		want          Format
	}{
		{"a.json", "devices: []", FormatJSON},
		{"a.GML", "", FormatGML},
		{"lab.clab.yml", "", FormatContainerlab},
		{"", `  {"devices": []}`, FormatJSON},
		{"", "# Zoo\nCreator \"x\"\ngraph [\n node [ id 0 ]\n]", FormatGML},
		{"", "graph [ ]", FormatGML},
		{"x.yaml", "name: lab\ntopology:\n  nodes: {}\n", FormatContainerlab},
		{"x.yaml", "devices:\n  - id: a\n", FormatYAML},
	}
	for _, tc := range tests {
		if got := DetectFormat(tc.name, []byte(tc.content)); got != tc.want {
			t.Errorf("DetectFormat(%q, %q) = %q; want %q", tc.name, tc.content, got, tc.want)
		}
	}
}
