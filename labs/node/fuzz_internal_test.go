package node

import (
	"testing"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/status"

	"github.com/twinflow/twinflow/models/ocpath"
	"github.com/twinflow/twinflow/models/schema"
)

// FuzzSetValue: the typed values of a gNMI SetRequest the node agent decodes (JSON,
// JSON_IETF and scalars, at a path from the request) either apply to the configuration
// tree or are refused with a gRPC status; never a panic. An accepted tree encodes to
// JSON_IETF and decodes back to the same leaves.
func FuzzSetValue(f *testing.F) {
	for _, s := range []struct {
		kind    uint8
		path    string
		val     string
		replace bool
	}{
		{0, "/interfaces/interface[name=eth1]/config", `{"mtu":9000,"description":"x"}`, false},
		{0, "/", `{}`, true},
		{1, "/openconfig-interfaces:interfaces", `{"interface":[{"name":"eth1","config":{"name":"eth1","enabled":true}}]}`, true},
		{0, "/interfaces/interface[name=eth1]/config/description", `{"a":1}`, false},
		{2, "/interfaces/interface[name=eth1]/config/mtu", "9000", false},
		{3, "/interfaces/interface[name=eth1]/config/mtu", "70000", false},
		{4, "/interfaces/interface[name=eth1]/config/enabled", "true", false},
		{0, "/network-instances/network-instance[name=a]/protocols/protocol[identifier=STATIC][name=s]/static-routes/static[prefix=10.0.0.0/8]/config", `{"prefix":"10.0.0.0/8"}`, false},
	} {
		f.Add(s.kind, s.path, s.val, s.replace)
	}
	root := schema.Root()
	f.Fuzz(func(t *testing.T, kind uint8, path, val string, replace bool) {
		p, err := ocpath.Parse(path)
		if err != nil || p.HasWildcard() {
			return
		}
		var tv *gpb.TypedValue
		switch kind % 6 {
		case 0:
			tv = &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: []byte(val)}}
		case 1:
			tv = &gpb.TypedValue{Value: &gpb.TypedValue_JsonVal{JsonVal: []byte(val)}}
		case 2:
			tv = &gpb.TypedValue{Value: &gpb.TypedValue_StringVal{StringVal: val}}
		case 3:
			tv = &gpb.TypedValue{Value: &gpb.TypedValue_UintVal{UintVal: uint64(len(val)) * 1000}}
		case 4:
			tv = &gpb.TypedValue{Value: &gpb.TypedValue_BoolVal{BoolVal: len(val)%2 == 0}}
		case 5:
			tv = &gpb.TypedValue{Value: &gpb.TypedValue_IntVal{IntVal: -int64(len(val))}}
		}
		tr := schema.NewTree(root)
		if err := statusOf(applyUpdate(tr, p, tv, replace)); err != nil {
			if _, ok := status.FromError(err); !ok {
				t.Fatalf("error %v is not a gRPC status", err)
			}
			return
		}
		js, err := schema.EncodeJSON(root, ocpath.Path{}, tr.Leaves(), true)
		if err != nil {
			t.Fatalf("encode accepted tree: %v", err)
		}
		tr2 := schema.NewTree(root)
		if err := tr2.Replace(ocpath.Path{}, js); err != nil {
			t.Fatalf("re-decode %s: %v", js, err)
		}
		if tr2.Len() != tr.Len() {
			t.Fatalf("round trip changed %d leaves to %d: %s", tr.Len(), tr2.Len(), js)
		}
		for _, e := range tr.Leaves() {
			if v, ok := tr2.Lookup(e.Path.String()); !ok || v != e.Value {
				t.Fatalf("leaf %s: %v became %v (%v)", e.Path, e.Value, v, ok)
			}
		}
	})
}
