package change

import (
	"testing"

	"github.com/twinflow/twinflow/models/schema"
)

// BenchmarkStaticRawConfig: L0 of a one-device MTU change, which now builds the node
// agent's schema and applies the operation to it (issue #13).
func BenchmarkStaticRawConfig(b *testing.B) {
	cs := &ChangeSet{Kind: KindRawConfig, DeviceOps: map[string][]Op{"r1": {op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"mtu":9000,"description":"to-r2"}`)}}}
	if err := cs.Validate(); err != nil {
		b.Fatal(err)
	}
	in := StaticInput{Network: testNet(), Schema: schema.Root()}
	b.ReportAllocs()
	for b.Loop() {
		Static(cs, in)
	}
}

// BenchmarkSchemaRoot: building the schema tree, the fixed cost L0 pays per change.
func BenchmarkSchemaRoot(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		schema.Root()
	}
}
