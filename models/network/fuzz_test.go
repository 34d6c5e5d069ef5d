package network

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Fuzz targets for every importer. The property: decoding never panics, and anything
// accepted is valid and survives export to the same format and re-import unchanged
// (nil and empty slices/maps are equal: the encoders omit empty ones).
//
//	go test -run '^$' -fuzz FuzzDecodeGML ./models/network

// maxFuzzInput keeps fuzz inputs small so the fuzzer explores structure, not size.
const maxFuzzInput = 64 << 10

func fuzzSeeds(f *testing.F, format Format, extra ...string) {
	for _, spec := range []string{"ring:n=3", "alto3", "leaf-spine:leaves=2,spines=1,hosts=1", "wan:n=4"} {
		n, err := Generate(spec, 1)
		if err != nil {
			f.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Encode(&buf, n, format); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	n := smallNet()
	n.Devices[0].Labels = map[string]string{"k": "v"}
	var buf bytes.Buffer
	if format == FormatGML {
		n.Flows = nil
	}
	if err := Encode(&buf, n, format); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

func fuzzRoundTrip(t *testing.T, data []byte, format Format) {
	if len(data) > maxFuzzInput {
		t.Skip()
	}
	n, err := Decode(bytes.NewReader(data), format)
	if err != nil {
		return
	}
	if err := n.Validate(); err != nil {
		t.Fatalf("accepted an invalid network: %v", err)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, n, format); err != nil {
		t.Fatalf("export of an accepted network failed: %v", err)
	}
	back, err := Decode(bytes.NewReader(buf.Bytes()), format)
	if err != nil {
		t.Fatalf("re-import failed: %v\nexported:\n%s", err, buf.String())
	}
	if diff := cmp.Diff(n, back, equateEmpty); diff != "" {
		t.Fatalf("round trip changed the network (-first +second):\n%s\nexported:\n%s", diff, buf.String())
	}
}

func FuzzDecodeJSON(f *testing.F) {
	fuzzSeeds(f, FormatJSON, `{}`, `{"devices": [{"id": "a", "type": "host", "x": -0}]}`, `{"flows": [{"id": "f", "src": "a", "dst": "b", "demand_gbps": 1e308}]}`, `[`, `{"links": null}`, queuedJSON)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, FormatJSON) })
}

func FuzzDecodeYAML(f *testing.F) {
	fuzzSeeds(f, FormatYAML, "devices: []\n", "devices:\n  - id: a\n    type: host\n    labels: {x: 'y: z'}\n", "a: &a [*a]\n", "contexts: [{id: admin}]\n---\n", "devices:\n  - &d {id: a, type: host}\n", queuedYAML)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, FormatYAML) })
}

func FuzzDecodeGML(f *testing.F) {
	fuzzSeeds(f, FormatGML, zooExample, "graph [ node [ id 0 label \"a b\" ] node [ id 1 label \"a b\" ] edge [ source 0 target 1 ] ]", "graph [ node [ id -3 Latitude 1 Longitude 2 ] ]", "graph [ label 7 name \"&quot;\" ]")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, FormatGML) })
}
