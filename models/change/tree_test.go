package change

import (
	"encoding/json"
	"strings"
	"testing"
)

func op(kind OpKind, path, value string) Op {
	o := Op{Op: kind, Path: path}
	if value != "" {
		o.Value = json.RawMessage(value)
	}
	return o
}

func TestApplyOps(t *testing.T) {
	tr := Tree{}
	ops := []Op{
		op(OpUpdate, "/interfaces/interface[name=eth1]/config", `{"mtu":1500,"description":"a"}`),
		op(OpUpdate, "/interfaces/interface[name=eth1]/config/mtu", `9000`),
		op(OpUpdate, "/interfaces/interface[name=eth2]", `{"config":{"enabled":false}}`),
		op(OpUpdate, "/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.0.0.1]/config", `{"ip":"10.0.0.1","prefix-length":24}`),
	}
	if err := ApplyOps(tr, ops); err != nil {
		t.Fatal(err)
	}
	p, _ := ParsePath("/interfaces/interface[name=eth1]/config")
	v, ok := Lookup(tr, p)
	if !ok || !Equal(v, map[string]any{"mtu": 9000.0, "description": "a"}) {
		t.Fatalf("eth1 config: %v", v)
	}
	p2, _ := ParsePath("/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.0.0.1]/config/prefix-length")
	if v, ok := Lookup(tr, p2); !ok || v != 24.0 {
		t.Fatalf("prefix-length: %v %v", v, ok)
	}
	// replace drops other leaves but keeps the keys
	if err := ApplyOp(tr, op(OpReplace, "/interfaces/interface[name=eth1]", `{"config":{"mtu":1400}}`)); err != nil {
		t.Fatal(err)
	}
	v, _ = Lookup(tr, p)
	if !Equal(v, map[string]any{"mtu": 1400.0}) {
		t.Fatalf("after replace: %v", v)
	}
	if _, ok := Lookup(tr, p2); ok {
		t.Fatal("replace kept the subinterfaces")
	}
	pe, _ := ParsePath("/interfaces/interface[name=eth1]/name")
	if v, _ := Lookup(tr, pe); v != "eth1" {
		t.Fatalf("key leaf lost: %v", v)
	}
	// delete and idempotent delete
	for range 2 {
		if err := ApplyOp(tr, op(OpDelete, "/interfaces/interface[name=eth2]", "")); err != nil {
			t.Fatal(err)
		}
	}
	pi, _ := ParsePath("/interfaces/interface[name=eth2]")
	if _, ok := Lookup(tr, pi); ok {
		t.Fatal("eth2 not deleted")
	}
	if err := ApplyOp(tr, op(OpUpdate, "/interfaces/interface[name=eth1]/config/mtu/x", `1`)); err == nil {
		t.Fatal("descending into a leaf: no error")
	}
	if err := ApplyOp(tr, op(OpUpdate, "/interfaces/interface[name=eth1]", `3`)); err == nil {
		t.Fatal("scalar value for a list entry: no error")
	}
}

func TestMergeListsByKey(t *testing.T) {
	tr := Tree{}
	if err := ApplyOp(tr, op(OpUpdate, "/interfaces", `{"interface":[{"name":"e1","config":{"mtu":1500}},{"name":"e2"}]}`)); err != nil {
		t.Fatal(err)
	}
	if err := ApplyOp(tr, op(OpUpdate, "/interfaces", `{"interface":[{"name":"e1","config":{"description":"x"}},{"name":"e3"}]}`)); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"interface": []any{
		map[string]any{"name": "e1", "config": map[string]any{"mtu": 1500.0, "description": "x"}},
		map[string]any{"name": "e2"}, map[string]any{"name": "e3"},
	}}
	if got := tr["interfaces"]; !Equal(got, want) {
		t.Fatalf("merged: %v", got)
	}
}

func TestContainsNumbersAsStrings(t *testing.T) {
	if !Contains(map[string]any{"mtu": "9000"}, map[string]any{"mtu": 9000.0}) {
		t.Error("RFC 7951 string integer not equal to number")
	}
	if Contains(map[string]any{"mtu": 1500.0}, map[string]any{"mtu": 9000.0}) {
		t.Error("different numbers contained")
	}
	if Contains(map[string]any{}, map[string]any{"mtu": 1.0}) {
		t.Error("missing member contained")
	}
}

func TestDiffTrees(t *testing.T) {
	before, _ := ParseTree([]byte(`{"openconfig-interfaces:interfaces":{"interface":[{"name":"e1","config":{"mtu":1500,"description":"old"}}]}}`))
	after := Clone(before).(map[string]any)
	if err := ApplyOps(after, []Op{
		op(OpUpdate, "/interfaces/interface[name=e1]/config/mtu", `9000`),
		op(OpDelete, "/interfaces/interface[name=e1]/config/description", ""),
		op(OpUpdate, "/interfaces/interface[name=e2]/config/enabled", `true`),
	}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, d := range DiffTrees(before, after) {
		lines = append(lines, d.String())
	}
	got := strings.Join(lines, "\n")
	want := strings.Join([]string{
		"- /interfaces/interface[name=e1]/config/description = \"old\"",
		"~ /interfaces/interface[name=e1]/config/mtu: 1500 -> 9000",
		"+ /interfaces/interface[name=e2]/config/enabled = true",
		"+ /interfaces/interface[name=e2]/name = \"e2\"",
	}, "\n")
	if got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
}

func FuzzApplyOp(f *testing.F) {
	f.Add(`{"interfaces":{"interface":[{"name":"e1","config":{"mtu":1500}}]}}`, "update", "/interfaces/interface[name=e1]/config", `{"mtu":9000}`)
	f.Add(`{}`, "replace", "/network-instances/network-instance[name=a]", `{"config":{"route-distinguisher":"1:1"}}`)
	f.Add(`{"a":[1,2]}`, "delete", "/a", ``)
	f.Add(`{"a":{"b":[{"name":"x"}]}}`, "update", "/a/b[name=x]/c[k=1]", `[{"k":"1"}]`)
	f.Fuzz(func(t *testing.T, tree, kind, path, value string) {
		tr, err := ParseTree([]byte(tree))
		if err != nil {
			return
		}
		before := Clone(tr).(map[string]any)
		op := Op{Op: OpKind(kind), Path: path}
		if value != "" {
			op.Value = json.RawMessage(value)
		}
		if err := ApplyOp(tr, op); err != nil {
			return
		}
		// the result is JSON, diffs and a second application agree
		if _, err := json.Marshal(tr); err != nil {
			t.Fatalf("result not JSON: %v", err)
		}
		_ = DiffTrees(before, tr)
		p, err := ParsePath(path)
		if err != nil {
			t.Fatalf("applied an op with an unparsable path %q", path)
		}
		if op.Op == OpDelete && len(p) > 0 {
			if _, ok := Lookup(tr, p); ok {
				t.Fatalf("%s still present after delete", path)
			}
		}
	})
}

// A device reports identityref keys module-qualified (JSON_IETF); a path names them
// without the module (as the node's gNMI paths do). Lookup and delete find the entry;
// IPv6 address keys and other modules' look-alikes are not confused with it.
func TestLookupQualifiedIdentityKey(t *testing.T) {
	tr, err := ParseTree([]byte(`{"network-instances":{"network-instance":[{"name":"DEFAULT","protocols":{"protocol":[
		{"identifier":"openconfig-policy-types:STATIC","name":"static","static-routes":{"static":[{"prefix":"10.9.0.0/16"}]}}]}}]},
		"addrs":{"addr":[{"ip":"fc00::1","v":1}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	p := mustPath(t, "/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.9.0.0/16]")
	if _, ok := Lookup(tr, p); !ok {
		t.Fatal("the qualified identity key is not found by its unqualified name")
	}
	for _, s := range []string{
		"/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=DIRECTLY_CONNECTED][name=static]",
		"/network-instances/network-instance[name=DEFAULT]/protocols/protocol[identifier=policy-types:STATIC][name=static]",
		"/addrs/addr[ip=1]", "/addrs/addr[ip=:1]",
	} {
		if _, ok := Lookup(tr, mustPath(t, s)); ok {
			t.Errorf("%s found", s)
		}
	}
	if err := ApplyOp(tr, Op{Op: OpDelete, Path: p.String()}); err != nil {
		t.Fatal(err)
	}
	if _, ok := Lookup(tr, p); ok {
		t.Fatal("deleted by its unqualified key, the route is still there")
	}
	for _, c := range []struct {
		got, want string
		ok        bool
	}{{"a:B", "B", true}, {"a-1.x_y:B", "B", true}, {"1a:B", "B", false}, {":B", "B", false},
		{"fc00::1", ":1", false}, {"fc00::1", "1", false}, {"a:b:c", "b:c", false}, {"a:", "", false}} {
		if qualifiedIdentity(c.got, c.want) != c.ok {
			t.Errorf("qualifiedIdentity(%q, %q) != %v", c.got, c.want, c.ok)
		}
	}
}

func mustPath(t *testing.T, s string) Path {
	t.Helper()
	p, err := ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
