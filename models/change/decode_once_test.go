package change

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/schema"
)

var testSchema = schema.Root()

// twoDecodings runs op the way Static did before it decoded each value once (the
// schema check decoding op.Value, then ApplyOp decoding it again) and the way it does
// now (decodeOnce, applySchema and applyDecoded on the shared value), each on its own
// copy of tree. It returns both outcomes as text: the schema error, the apply error
// and the resulting tree.
func twoDecodings(t *testing.T, tree Tree, o Op) (before, after string) {
	t.Helper()
	p, err := ParsePath(o.Path)
	if err != nil {
		t.Fatalf("path %q: %v", o.Path, err)
	}
	run := func(shared bool) string {
		tr := Clone(tree).(map[string]any)
		st := schema.NewChecker(testSchema)
		var dv any
		decoded := false
		if shared {
			dv, decoded = decodeOnce(o)
		}
		serr := applySchema(st, o, p, dv, decoded)
		var aerr error
		if shared {
			aerr = applyDecoded(tr, o, p, dv, decoded)
		} else {
			aerr = ApplyOp(tr, o)
		}
		return fmt.Sprintf("schema: %v\napply: %v\ntree: %#v", serr, aerr, tr)
	}
	return run(false), run(true)
}

// TestDecodeOnceAsTwice: L0 decodes an operation's value once for the schema check and
// the post-change tree; every outcome (schema verdict, apply error, resulting tree)
// equals decoding it twice, on hand-picked values (numbers beyond float64, invalid
// and trailing JSON, module prefixes, list entries) and 3,000 random ones.
func TestDecodeOnceAsTwice(t *testing.T) {
	base, err := ParseTree([]byte(`{"interfaces":{"interface":[{"name":"eth1","config":{"name":"eth1","mtu":1500}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	cases := []Op{
		op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"mtu":9000,"description":"x"}`),
		op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"openconfig-interfaces:mtu":9000}`),
		op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"mtu":1e400}`),
		op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"mtu":9000}}`),
		op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"mtu":9000} x`),
		op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"mtu":90`),
		op(OpReplace, "/interfaces/interface[name=eth2]", `{"name":"eth2","config":{"name":"eth2","enabled":true,"mtu":1400}}`),
		op(OpReplace, "/interfaces/interface[name=eth1]/config/mtu", `1500.0`),
		op(OpUpdate, "/interfaces/interface[name=eth1]/subinterfaces", `{"subinterface":[{"index":0,"config":{"index":0}},{"index":1,"config":{"index":1}},{"index":0,"ipv4":{"addresses":{"address":[{"ip":"10.0.0.1","config":{"ip":"10.0.0.1","prefix-length":24}}]}}}]}`),
		op(OpUpdate, "/interfaces", `{"interface":[{"name":"eth1","config":{"mtu":-0}}]}`),
		op(OpUpdate, "/interfaces/interface[name=eth1]/config/mtu", `null`),
		op(OpDelete, "/interfaces/interface[name=eth1]/config/mtu", ``),
		op(OpKind("merge"), "/interfaces/interface[name=eth1]/config", `{"mtu":9000}`),
	}
	rng := rand.New(rand.NewPCG(15, 24))
	for range 3000 {
		cases = append(cases, randomOp(rng))
	}
	for i, o := range cases {
		b, a := twoDecodings(t, base, o)
		if a != b {
			t.Fatalf("op %d %+v (value %s):\ndecoded twice:\n%s\ndecoded once:\n%s", i, o, o.Value, b, a)
		}
	}
}

// randomOp builds an update or replace of an interface subtree with random members:
// known and unknown names, with and without module prefixes, numbers of every size,
// strings, booleans, nulls, nested objects and lists; sometimes broken JSON.
func randomOp(rng *rand.Rand) Op {
	names := []string{"mtu", "description", "enabled", "name", "type", "colour", "openconfig-interfaces:mtu", "oc:description", ":x", "y:"}
	nums := []string{"0", "-0", "1", "9000", "1500.5", "1e3", "-1", "1e400", "-1e400", "1e-400", "18446744073709551616", "0.1"}
	var value func(d int) string
	value = func(d int) string {
		switch k := rng.IntN(8); {
		case k == 0:
			return nums[rng.IntN(len(nums))]
		case k == 1:
			return fmt.Sprintf("%q", names[rng.IntN(len(names))])
		case k == 2:
			return []string{"true", "false", "null"}[rng.IntN(3)]
		case k < 6 && d < 3:
			// members may repeat, but two different names that strip to one (mtu and
			// openconfig-interfaces:mtu) would make the result depend on map order
			var m []string
			used := map[string]string{}
			for range rng.IntN(4) {
				n := names[rng.IntN(len(names))]
				s := n
				if c := strings.LastIndexByte(n, ':'); c > 0 && c < len(n)-1 {
					s = n[c+1:]
				}
				if u, ok := used[s]; ok && u != n {
					continue
				}
				used[s] = n
				m = append(m, fmt.Sprintf("%q:%s", n, value(d+1)))
			}
			return "{" + strings.Join(m, ",") + "}"
		case d < 3:
			var l []string
			for range rng.IntN(3) {
				l = append(l, value(d+1))
			}
			return "[" + strings.Join(l, ",") + "]"
		}
		return "1"
	}
	paths := []string{"/interfaces/interface[name=eth1]/config", "/interfaces/interface[name=eth1]", "/interfaces/interface[name=eth3]",
		"/interfaces/interface[name=eth1]/config/mtu", "/interfaces", "/system/config"}
	v := value(0)
	if rng.IntN(4) == 0 {
		v = "{" + fmt.Sprintf("%q:%s", names[rng.IntN(len(names))], value(1)) + "}"
	}
	switch rng.IntN(20) {
	case 0:
		v += "}"
	case 1:
		v = v[:len(v)/2]
	}
	kind := OpUpdate
	if rng.IntN(3) == 0 {
		kind = OpReplace
	}
	return Op{Op: kind, Path: paths[rng.IntN(len(paths))], Value: json.RawMessage(v)}
}

// FuzzDecodeOnce: decoding an operation's value once (schema check and tree) gives
// the outcome of decoding it twice, for any value.
func FuzzDecodeOnce(f *testing.F) {
	f.Add("update", "/interfaces/interface[name=eth1]/config", `{"mtu":9000}`)
	f.Add("replace", "/interfaces/interface[name=eth1]", `{"name":"eth1","openconfig-interfaces:config":{"mtu":1e400}}`)
	f.Add("update", "/interfaces", `{"interface":[{"name":"a"},{"name":"a","config":{"mtu":1}}]}}`)
	base := Tree{"interfaces": map[string]any{"interface": []any{map[string]any{"name": "eth1", "config": map[string]any{"name": "eth1", "mtu": 1500.0}}}}}
	f.Fuzz(func(t *testing.T, kind, path, value string) {
		if _, err := ParsePath(path); err != nil {
			return
		}
		o := Op{Op: OpKind(kind), Path: path, Value: json.RawMessage(value)}
		var v any
		if json.Unmarshal(o.Value, &v) == nil && stripCollides(v) {
			return // which member survives depends on map order, in both
		}
		if b, a := twoDecodings(t, base, o); a != b {
			t.Fatalf("decoded twice:\n%s\ndecoded once:\n%s", b, a)
		}
	})
}

// stripCollides says whether an object of v has two member names that strip to one.
func stripCollides(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		seen := map[string]bool{}
		for k, e := range x {
			if c := strings.LastIndexByte(k, ':'); c > 0 && c < len(k)-1 {
				k = k[c+1:]
			}
			if seen[k] || stripCollides(e) {
				return true
			}
			seen[k] = true
		}
	case []any:
		for _, e := range x {
			if stripCollides(e) {
				return true
			}
		}
	}
	return false
}
