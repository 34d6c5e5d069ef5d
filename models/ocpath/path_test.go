package ocpath

import (
	"errors"
	"testing"
)

var parseCases = []struct {
	name, in, canon string
	elems           int
}{
	{"root", "/", "/", 0},
	{"empty", "", "/", 0},
	{"simple", "/system/config/hostname", "/system/config/hostname", 3},
	{"no-leading-slash", "system/config", "/system/config", 2},
	{"key", "/interfaces/interface[name=eth0]/config/mtu", "/interfaces/interface[name=eth0]/config/mtu", 4},
	{"slash-in-value", "/a/static[prefix=10.0.0.0/24]/x", "/a/static[prefix=10.0.0.0/24]/x", 3},
	{"sorted-keys", "/p/protocol[name=s][identifier=STATIC]", "/p/protocol[identifier=STATIC][name=s]", 2},
	{"escaped-bracket", `/a/b[k=x\]y]`, `/a/b[k=x\]y]`, 2},
	{"escaped-backslash", `/a/b[k=x\\]`, `/a/b[k=x\\]`, 2},
	{"escaped-other", `/a/b[k=\x]`, `/a/b[k=x]`, 2},
	{"equals-in-value", "/a/b[k=a=b]", "/a/b[k=a=b]", 2},
	{"empty-value", "/a/b[k=]", "/a/b[k=]", 2},
	{"wildcard", "/interfaces/interface[name=*]/state", "/interfaces/interface[name=*]/state", 3},
}

func TestParse(t *testing.T) {
	for _, c := range parseCases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Parse(c.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", c.in, err)
			}
			if got, want := len(p), c.elems; got != want {
				t.Errorf("len = %d; want %d", got, want)
			}
			if got, want := p.String(), c.canon; got != want {
				t.Errorf("String() = %q; want %q", got, want)
			}
			q, err := Parse(p.String())
			if err != nil || !q.Equal(p) {
				t.Errorf("round trip of %q: %v, equal=%v", p.String(), err, q.Equal(p))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, in string }{
		{"double-slash", "/a//b"},
		{"trailing-slash", "/a/b/"},
		{"unterminated", "/a/b[k=v"},
		{"no-equals", "/a/b[k]"},
		{"empty-key", "/a/b[=v]"},
		{"dangling-escape", `/a/b[k=v\`},
		{"junk-after-key", "/a/b[k=v]x"},
		{"bracket-in-name", "/a]/b"},
		{"duplicate-key", "/a/b[k=1][k=2]"},
		{"empty-name", "/[k=v]"},
		{"slash-in-key-name", "/a/b[k/x=v]"},
		// control characters and invalid UTF-8 (issue #13: a NUL passed L0 and the
		// device's refusal then left the change committing for good)
		{"nul-in-name", "/interfaces/interface[name=eth1]/config/mtu\x00"},
		{"control-in-name", "/a/b\x01c"},
		{"nul-in-key-value", "/a/b[k=v\x00]"},
		{"newline-in-key-value", "/a/b[k=v\n]"},
		{"escaped-nul-in-value", "/a/b[k=\\\x00]"},
		{"invalid-utf8-name", "/a/\xff"},
		{"invalid-utf8-value", "/a/b[k=\xfe]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.in)
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Parse(%q) = %v; want ErrSyntax", c.in, err)
			}
		})
	}
}

func TestMatches(t *testing.T) {
	c := MustParse("/interfaces/interface[name=eth0]/state/counters/in-octets")
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"/", true},
		{"/interfaces", true},
		{"/interfaces/interface", true},
		{"/interfaces/interface[name=*]/state", true},
		{"/interfaces/interface[name=eth0]/state/counters/in-octets", true},
		{"/interfaces/interface[name=eth1]", false},
		{"/interfaces/*/state", true},
		{"/interfaces/interface[name=eth0]/config", false},
		{"/interfaces/interface[name=eth0]/state/counters/in-octets/x", false},
	} {
		if got := MustParse(tc.q).Matches(c); got != tc.want {
			t.Errorf("%s matches %s = %v; want %v", tc.q, c, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range parseCases {
		f.Add(c.in)
	}
	f.Add(`/a/b[k=\]\\\[]/c[x=1][y=2]`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		// Canonical form must re-parse to an equal path and be a fixed point.
		s1 := p.String()
		q, err := Parse(s1)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", s1, s, err)
		}
		if !q.Equal(p) {
			t.Fatalf("canonical %q of %q parses to a different path", s1, s)
		}
		if s2 := q.String(); s2 != s1 {
			t.Fatalf("canonical form not stable: %q vs %q", s1, s2)
		}
		if !p.Matches(q) || !q.Matches(p) {
			t.Fatalf("path does not match itself: %q", s1)
		}
	})
}
