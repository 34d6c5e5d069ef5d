package change

import (
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	cases := []struct {
		in, canon string
		n         int
	}{
		{"/", "/", 0},
		{"/interfaces", "/interfaces", 1},
		{"/openconfig-interfaces:interfaces/interface[name=eth1]/config/mtu", "/interfaces/interface[name=eth1]/config/mtu", 4},
		{"/network-instances/network-instance[name=blue]/protocols/protocol[name=static][identifier=STATIC]/static-routes/static[prefix=10.0.0.0/24]",
			"/network-instances/network-instance[name=blue]/protocols/protocol[identifier=STATIC][name=static]/static-routes/static[prefix=10.0.0.0/24]", 6},
		{`/a[k=x\]y]/b`, `/a[k=x\]y]/b`, 2},
		{`/a[k=]`, `/a[k=]`, 1},
	}
	for _, tc := range cases {
		p, err := ParsePath(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got, want := len(p), tc.n; got != want {
			t.Errorf("%s: got %d elems; want %d", tc.in, got, want)
		}
		if got, want := p.String(), tc.canon; got != want {
			t.Errorf("%s: got %s; want %s", tc.in, got, want)
		}
	}
	if p, _ := ParsePath(`/a[k=x\]y]`); p[0].Key["k"] != "x]y" {
		t.Errorf("escaped key: %q", p[0].Key["k"])
	}
}

func TestParsePathErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":             "empty path",
		"a/b":          "not absolute",
		"/a//b":        "empty element",
		"/a/":          "trailing",
		"/a[k]":        "unexpected ']' in key name",
		"/a[=v]":       "empty key name",
		"/a[k=v":       "unterminated",
		"/a[k=v][k=w]": "duplicate key",
		"/a]":          "unexpected",
		"/a[k=v]x":     "unexpected",
		"/:a":          "module prefix",
		`/a[k=v\`:      "dangling escape",
		"/a b":         "whitespace",
	} {
		_, err := ParsePath(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParsePath(%q): got %v; want error mentioning %q", in, err, want)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"/", "/a/b[k=v]/c", `/a[k=x\]y][j=1]/b`, "/m:a/b", "/a[k=10.0.0.0/24]/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		// The canonical form parses back to the same canonical form.
		c := p.String()
		p2, err := ParsePath(c)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", c, s, err)
		}
		if p2.String() != c {
			t.Fatalf("canonical form unstable: %q -> %q", c, p2.String())
		}
	})
}
