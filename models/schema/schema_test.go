package schema

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/ocpath"
)

const ifDoc = `{"openconfig-interfaces:interface":[{"name":"eth1","config":{"name":"eth1","mtu":9000,"enabled":false,"description":"a \"quoted\" \\ desc\n","type":"iana-if-type:ethernetCsmacd"},
 "subinterfaces":{"subinterface":[{"index":0,"openconfig-if-ip:ipv4":{"addresses":{"address":[{"ip":"10.0.0.1","config":{"ip":"10.0.0.1","prefix-length":24}}]}}}]}}]}`

const niDoc = `{"network-instance":[{"name":"blue","config":{"type":"openconfig-network-instance-types:L3VRF"},
 "interfaces":{"interface":[{"id":"eth1","config":{"id":"eth1","interface":"eth1","subinterface":0}}]},
 "protocols":{"protocol":[{"identifier":"openconfig-policy-types:STATIC","name":"static","static-routes":{"static":[{"prefix":"10.9.0.0/16","next-hops":{"next-hop":[{"index":"0","config":{"next-hop":"10.0.0.2","metric":"5"}}]}}]}}]}}]}`

func TestUpdateAndLookup(t *testing.T) {
	tr := NewTree(Root())
	if err := tr.Update(ocpath.MustParse("/interfaces"), []byte(ifDoc)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Update(ocpath.MustParse("/network-instances"), []byte(niDoc)); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]Value{
		"/interfaces/interface[name=eth1]/config/mtu":                                                                                   Uint(9000),
		"/interfaces/interface[name=eth1]/config/enabled":                                                                               BoolV(false),
		"/interfaces/interface[name=eth1]/config/name":                                                                                  Str("eth1"),
		"/interfaces/interface[name=eth1]/config/type":                                                                                  Str("ethernetCsmacd"),
		"/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/config/index":                                             Uint(0),
		"/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.0.0.1]/config/prefix-length": Uint(24),
		"/network-instances/network-instance[name=blue]/config/type":                                                                    Str("L3VRF"),
		"/network-instances/network-instance[name=blue]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.9.0.0/16]/next-hops/next-hop[index=0]/config/metric": Uint(5),
	} {
		got, ok := tr.Lookup(path)
		if !ok || got != want {
			t.Errorf("%s = %+v (%v); want %+v", path, got, ok, want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		name, path, doc string
		want            error
	}{
		{"unknown-member", "/interfaces/interface[name=eth1]/config", `{"speed":1}`, ErrUnknown},
		{"wrong-module", "/interfaces/interface[name=eth1]/config", `{"openconfig-system:mtu":1}`, ErrUnknown},
		{"wrong-type-bool", "/interfaces/interface[name=eth1]/config", `{"enabled":"true"}`, ErrInvalid},
		{"wrong-type-uint", "/interfaces/interface[name=eth1]/config/mtu", `-1`, ErrInvalid},
		{"uint-overflow", "/interfaces/interface[name=eth1]/config/mtu", `70000`, ErrInvalid},
		{"float", "/interfaces/interface[name=eth1]/config/mtu", `1500.5`, ErrInvalid},
		{"read-only", "/interfaces/interface[name=eth1]", `{"state":{"mtu":1}}`, ErrReadOnly},
		{"key-mismatch", "/interfaces/interface[name=eth1]", `{"name":"eth2"}`, ErrInvalid},
		{"list-needs-array", "/interfaces", `{"interface":{}}`, ErrInvalid},
		{"entry-without-key", "/interfaces", `{"interface":[{"config":{}}]}`, ErrInvalid},
		{"bad-identity", "/network-instances/network-instance[name=x]/config/type", `"foo:L3VRF"`, ErrInvalid},
		{"bad-ip", "/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=0]/ipv4/addresses/address[ip=10.0.0.1]/config/ip", `"10.0.0.300"`, ErrInvalid},
		{"host-bits", "/network-instances/network-instance[name=x]/protocols/protocol[identifier=STATIC][name=s]/static-routes/static[prefix=10.0.0.1/8]", `{}`, ErrInvalid},
		{"trailing-data", "/system/config", `{} {}`, ErrInvalid},
		{"nul-in-string", "/interfaces/interface[name=eth1]/config/description", `"a\u0000b"`, ErrInvalid},
		{"control-in-string", "/interfaces/interface[name=eth1]/config/description", `"a\u001bb"`, ErrInvalid},
		{"below-leaf", "/system/config/hostname/x", `1`, ErrUnknown},
		{"missing-key", "/interfaces/interface/config/mtu", `1`, ErrInvalid},
		{"keys-on-container", "/system[x=1]", `{}`, ErrInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTree(Root())
			p, err := ocpath.Parse(c.path)
			if err != nil {
				t.Fatal(err)
			}
			err = tr.Update(p, []byte(c.doc))
			if !errors.Is(err, c.want) {
				t.Fatalf("Update(%s, %s) = %v; want %v", c.path, c.doc, err, c.want)
			}
		})
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	root := Root()
	tr := NewTree(root)
	if err := tr.Update(ocpath.MustParse("/interfaces"), []byte(ifDoc)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Update(ocpath.MustParse("/network-instances"), []byte(niDoc)); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetLeaf(ocpath.MustParse("/system/config/hostname"), Str("r1")); err != nil {
		t.Fatal(err)
	}
	for _, ietf := range []bool{true, false} {
		js, err := EncodeJSON(root, ocpath.Path{}, tr.Leaves(), ietf)
		if err != nil {
			t.Fatal(err)
		}
		tr2 := NewTree(root)
		if err := tr2.Replace(ocpath.Path{}, js); err != nil {
			t.Fatalf("decode own encoding (ietf=%v): %v\n%s", ietf, err, js)
		}
		if !sameLeaves(tr, tr2) {
			t.Fatalf("round trip (ietf=%v) differs:\n%s", ietf, js)
		}
	}
}

func TestDeleteAndReplace(t *testing.T) {
	tr := NewTree(Root())
	if err := tr.Update(ocpath.MustParse("/interfaces"), []byte(ifDoc)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Delete(ocpath.MustParse("/interfaces/interface[name=eth1]/config/name")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("deleting a key leaf: %v; want ErrInvalid", err)
	}
	if err := tr.Replace(ocpath.MustParse("/interfaces/interface[name=eth1]/config"), []byte(`{"mtu":1400}`)); err != nil {
		t.Fatal(err)
	}
	if _, ok := tr.Lookup("/interfaces/interface[name=eth1]/config/description"); ok {
		t.Error("replace kept description")
	}
	if v, _ := tr.Lookup("/interfaces/interface[name=eth1]/config/name"); v != Str("eth1") {
		t.Error("replace lost the key leaf")
	}
	if err := tr.Delete(ocpath.MustParse("/interfaces/interface[name=eth1]/subinterfaces")); err != nil {
		t.Fatal(err)
	}
	if n := len(tr.Match(ocpath.MustParse("/interfaces/interface[name=eth1]/subinterfaces"))); n != 0 {
		t.Errorf("%d leaves left under subinterfaces", n)
	}
	if err := tr.Delete(ocpath.MustParse("/interfaces/interface[name=eth9]")); err != nil {
		t.Errorf("deleting what does not exist: %v; want nil", err)
	}
}

func sameLeaves(a, b *Tree) bool {
	la, lb := a.Leaves(), b.Leaves()
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		if !la[i].Path.Equal(lb[i].Path) || la[i].Value != lb[i].Value {
			return false
		}
	}
	return true
}

// FuzzDecode: decoding arbitrary JSON at a few paths never panics, fails with a schema
// error, and what is accepted survives an encode/decode round trip.
func FuzzDecode(f *testing.F) {
	paths := []string{"/", "/interfaces", "/network-instances", "/interfaces/interface[name=eth1]", "/system/config/hostname"}
	for i := range paths {
		f.Add(uint8(i), ifDoc)
		f.Add(uint8(i), niDoc)
		f.Add(uint8(i), `{"openconfig-system:system":{"config":{"hostname":"x"}}}`)
		f.Add(uint8(i), `"r1"`)
	}
	root := Root()
	f.Fuzz(func(t *testing.T, pi uint8, doc string) {
		if len(doc) > 1<<16 {
			return
		}
		p := ocpath.MustParse(paths[int(pi)%len(paths)])
		tr := NewTree(root)
		err := tr.Update(p, []byte(doc))
		ck := NewChecker(root)
		if cerr := ck.Update(p, []byte(doc)); fmt.Sprint(cerr) != fmt.Sprint(err) || ck.Len() != 0 {
			t.Fatalf("checker: %v (%d leaves), tree: %v", cerr, ck.Len(), err)
		}
		if err != nil {
			if !errors.Is(err, ErrUnknown) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrReadOnly) {
				t.Fatalf("error %v is not a schema error", err)
			}
			return
		}
		js, err := EncodeJSON(root, ocpath.Path{}, tr.Leaves(), true)
		if err != nil {
			t.Fatalf("encode accepted tree: %v", err)
		}
		tr2 := NewTree(root)
		if err := tr2.Replace(ocpath.Path{}, js); err != nil {
			t.Fatalf("re-decode %s: %v", js, err)
		}
		if !sameLeaves(tr, tr2) {
			t.Fatalf("round trip differs for %q:\n%s", doc, js)
		}
	})
}

// FuzzResolve: any parsable path resolves or fails with a schema error, never panics;
// a resolved concrete path can be set (leaf) or deleted (non-leaf) without panicking.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{
		"/interfaces/interface[name=eth1]/config/mtu",
		"/interfaces/interface[name=*]/state/counters",
		"/network-instances/network-instance[name=a]/protocols/protocol[identifier=STATIC][name=s]/static-routes/static[prefix=10.0.0.0/8]",
		"/openconfig-interfaces:interfaces/interface",
		"/system/config/hostname/x",
		"/interfaces/interface[foo=1]",
	} {
		f.Add(s, true)
	}
	root := Root()
	f.Fuzz(func(t *testing.T, s string, wild bool) {
		p, err := ocpath.Parse(s)
		if err != nil {
			return
		}
		n, err := Resolve(root, p, wild)
		if err != nil {
			if !errors.Is(err, ErrUnknown) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Resolve(%s): %v is not a schema error", s, err)
			}
			return
		}
		if n == nil {
			t.Fatalf("Resolve(%s) returned no node and no error", s)
		}
		if wild || p.HasWildcard() {
			return
		}
		tr := NewTree(root)
		if n.Kind == Leaf {
			_ = tr.UpdateScalar(p, "1")
		} else {
			_ = tr.Delete(p)
		}
	})
}

func TestModulePrefixedPath(t *testing.T) {
	tr := NewTree(Root())
	p := ocpath.MustParse("/openconfig-interfaces:interfaces/interface[name=eth1]/config/mtu")
	if err := tr.UpdateScalar(p, uint64(1400)); err != nil {
		t.Fatal(err)
	}
	if v, ok := tr.Lookup("/interfaces/interface[name=eth1]/config/mtu"); !ok || v != Uint(1400) {
		t.Fatalf("prefixed path stored as %v (%v)", tr.Leaves(), ok)
	}
	if _, err := Resolve(Root(), ocpath.MustParse("/openconfig-system:interfaces"), false); !errors.Is(err, ErrUnknown) {
		t.Fatalf("wrong module prefix: %v; want ErrUnknown", err)
	}
}

// TestKeylessListEntry: a leaf set below a list without the entry's keys was stored
// keyless, and the configuration then no longer encoded into something that reads back
// (FuzzSetValue, testdata/fuzz/FuzzSetValue/399967c85f675556 in labs/node).
func TestKeylessListEntry(t *testing.T) {
	root := Root()
	p := ocpath.MustParse("/interfaces/interface/config/mtu")
	tr := NewTree(root)
	if err := tr.UpdateScalar(p, "9000"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("UpdateScalar: %v", err)
	}
	if err := tr.Update(ocpath.MustParse("/interfaces/interface/config"), []byte(`{"mtu":9000}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Update: %v", err)
	}
	if tr.Len() != 0 {
		t.Fatalf("refused operations left %d leaves", tr.Len())
	}
	// the whole list, with its entries' keys in the value, is fine
	if err := tr.Update(ocpath.MustParse("/interfaces/interface"), []byte(`[{"name":"eth1","config":{"mtu":9000}}]`)); err != nil {
		t.Fatal(err)
	}
}

// TestStringCharacters: a YANG string takes tab, CR, LF and Unicode characters;
// invalid UTF-8 and other control characters are refused from JSON and from gNMI
// string scalars alike (the fuzz input of FuzzSetValue 23ca4aae51bde691: a NUL and
// 0xfa bytes in a description changed in a JSON round trip).
func TestStringCharacters(t *testing.T) {
	p := ocpath.MustParse("/interfaces/interface[name=eth1]/config/description")
	tr := NewTree(Root())
	for _, ok := range []string{"", "tab\there", "line\nbreak\r", "ünï©ødé ✓", "del\x7f"} {
		if err := tr.UpdateScalar(p, ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"a\x00b", "\xfa", "{\"a\xfa\x00\x00\xfa", "bell\a", "esc\x1b[0m", "\xef\xbf\xbf"} {
		if err := tr.UpdateScalar(p, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: %v, want ErrInvalid", bad, err)
		}
	}
	if v, _ := tr.Lookup(p.String()); v != Str("del\x7f") {
		t.Errorf("a refused value changed the leaf: %+v", v)
	}
}

// TestLeafKeysAreCanonical: every leaf is stored under its path's canonical string
// (ensureKeys builds it while walking the path), with one- and two-key lists and key
// values that need escaping.
func TestLeafKeysAreCanonical(t *testing.T) {
	tr := NewTree(Root())
	if err := tr.Update(ocpath.MustParse("/interfaces"), []byte(ifDoc)); err != nil {
		t.Fatal(err)
	}
	if err := tr.Update(ocpath.MustParse("/network-instances"), []byte(niDoc)); err != nil {
		t.Fatal(err)
	}
	odd := `{"interface":[{"name":"e]1\\x","config":{"name":"e]1\\x","mtu":1500}}]}`
	if err := tr.Update(ocpath.MustParse("/interfaces"), []byte(odd)); err != nil {
		t.Fatal(err)
	}
	keys, leaves := tr.KeyedLeaves()
	if len(keys) < 10 {
		t.Fatalf("only %d leaves", len(keys))
	}
	var twoKeys, escaped bool
	for i, k := range keys {
		if want := leaves[i].Path.String(); k != want {
			t.Errorf("leaf stored under %q, its path is %q", k, want)
		}
		for _, e := range leaves[i].Path {
			twoKeys = twoKeys || len(e.Key) == 2
		}
		escaped = escaped || strings.Contains(k, `e\]1\\x`)
	}
	if !twoKeys || !escaped {
		t.Fatalf("the documents lost their two-key list (%v) or escaped key (%v): %q", twoKeys, escaped, keys)
	}
}

// TestCheckerRefusesAsTree: a checker refuses exactly what a tree refuses (same error)
// for each operation of random sequences of updates, replaces and deletes drawn from
// valid and invalid documents and paths (the TestErrors cases among them), and stores
// nothing.
func TestCheckerRefusesAsTree(t *testing.T) {
	type op struct{ kind, path, doc string }
	ops := []op{
		{"update", "/interfaces", ifDoc}, {"update", "/network-instances", niDoc}, {"replace", "/interfaces", ifDoc},
		{"update", "/interfaces/interface[name=eth1]/config", `{"mtu":1400}`},
		{"update", "/interfaces/interface[name=eth2]", `{"name":"eth2","config":{"name":"eth2"}}`},
		{"update", "/interfaces/interface[name=eth1]/config/name", `"eth1"`},
		{"update", "/interfaces/interface[name=eth1]/config/name", `"eth9"`},
		{"update", "/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=x]/config", `{}`},
		{"update", "/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=x]", `{"config":{}}`},
		{"update", "/interfaces/interface[name=eth1]/subinterfaces/subinterface[index=3]/config", `{"index":3}`},
		{"delete", "/interfaces/interface[name=eth1]", ""}, {"delete", "/interfaces/interface[name=eth1]/config/name", ""},
		{"delete", "/interfaces/interface[name=eth1]/state", ""}, {"delete", "/interfaces", ""},
		{"replace", "/interfaces/interface[name=eth1]/config/mtu", `1500`},
		{"replace", "/network-instances/network-instance[name=blue]", `{"name":"blue","config":{"name":"blue"}}`},
	}
	for _, c := range []struct{ path, doc string }{
		{"/interfaces/interface[name=eth1]/config", `{"speed":1}`}, {"/interfaces/interface[name=eth1]", `{"state":{"mtu":1}}`},
		{"/interfaces/interface[name=eth1]", `{"name":"eth2"}`}, {"/interfaces", `{"interface":[{"config":{}}]}`},
		{"/network-instances/network-instance[name=x]/protocols/protocol[identifier=STATIC][name=s]/static-routes/static[prefix=10.0.0.1/8]", `{}`},
		{"/interfaces/interface/config/mtu", `1`}, {"/system[x=1]", `{}`}, {"/system/config/hostname/x", `1`},
	} {
		ops = append(ops, op{"update", c.path, c.doc})
	}
	seed := uint64(7)
	next := func(n int) int { seed = seed*6364136223846793005 + 1442695040888963407; return int(seed>>33) % n }
	refused := 0
	for range 300 {
		tr, ck := NewTree(Root()), NewChecker(Root())
		for range 1 + next(8) {
			o := ops[next(len(ops))]
			p := ocpath.MustParse(o.path)
			var err, cerr error
			switch o.kind {
			case "update":
				err, cerr = tr.Update(p, []byte(o.doc)), ck.Update(p, []byte(o.doc))
			case "replace":
				err, cerr = tr.Replace(p, []byte(o.doc)), ck.Replace(p, []byte(o.doc))
			default:
				err, cerr = tr.Delete(p), ck.Delete(p)
			}
			if fmt.Sprint(err) != fmt.Sprint(cerr) {
				t.Fatalf("%s %s %s: tree %v, checker %v", o.kind, o.path, o.doc, err, cerr)
			}
			if err != nil {
				refused++
			}
		}
		if ck.Len() != 0 {
			t.Fatalf("the checker stored %d leaves", ck.Len())
		}
	}
	if refused == 0 {
		t.Fatal("no operation was refused: the sequences test nothing")
	}
}
