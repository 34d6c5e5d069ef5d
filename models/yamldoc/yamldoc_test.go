package yamldoc

import (
	"errors"
	"strings"
	"testing"
)

type inner struct {
	Rate float64 `yaml:"rate_gbps"`
	On   bool    `yaml:"on"`
}

type embedded struct {
	ID string `yaml:"id"`
}

type doc struct {
	embedded `yaml:",inline"`
	Kind     string             `yaml:"kind"`
	Items    []inner            `yaml:"items"`
	ByName   map[string][]inner `yaml:"by_name"`
	Any      any                `yaml:"any"`
	Hidden   []byte             `yaml:"-"`
	Count    uint16             `yaml:"count"`
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		name, in string
		line     int
		field    string
		msg      string
	}{
		{"unknown", "kind: a\n\nbogus: 1\n", 3, "bogus", "unknown field (known: any, by_name, count, id, items, kind)"},
		{"nested-unknown", "items:\n  - rate_gbps: 1\n    colour: red\n", 3, "items[0].colour", "unknown field"},
		{"number", "items:\n  - rate_gbps: 1\n  - rate_gbps: fast\n", 3, "items[1].rate_gbps", `must be a number, got "fast"`},
		{"bool", "by_name:\n  x:\n    - on: maybe\n", 3, "by_name[x][0].on", "must be true or false"},
		{"range", "count: 70000\n", 1, "count", "must be a non-negative integer"},
		{"list-for-string", "kind: [a]\n", 1, "kind", "must be a string, got a list"},
		{"scalar-for-list", "items: 3\n", 1, "items", "must be a list"},
		{"top-list", "- a\n", 1, "", "must be a mapping, got a list"},
		{"hidden", "hidden: x\n", 1, "hidden", "unknown field"},
		{"alias-expanded", "items: &x\n  - {rate_gbps: 1, bad: 2}\nby_name: {a: *x}\n", 2, "items[0].bad", "unknown field"},
		{"two-docs", "kind: a\n---\nkind: b\n", 2, "", "more than one document"},
		{"syntax", "kind: a\n\tid: b\n", 2, "", "tab character"},
		// yaml.v3 cites parser errors one line early (issue #12): corrected
		{"flow-seq", "kind: a\nid: [a, b\ncount: 1\n", 2, "", "did not find expected ',' or ']'"},
		{"flow-map", "kind: a\n\nany: {a: 1\ncount: 2\n", 3, "", "did not find expected ',' or '}'"},
		{"block-seq", "kind: a\nitems:\n  - rate_gbps: 1\n   on: true\n", 3, "", "did not find expected '-' indicator"},
		{"first-line-to-end", "[a, b\n", 2, "", "did not find expected ',' or ']'"},
		{"unterminated-quote", "kind: a\nid: \"x\nitems: []\n", 2, "", "found unexpected end of stream"},
		{"duplicate-key", "kind: a\nkind: b\n", 2, "", "already defined at line 1"},
		{"empty", "", 0, "", "empty document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var d doc
			err := Decode([]byte(c.in), &d)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not *Error", err, err)
			}
			if e.Line != c.line || e.Field != c.field || !strings.Contains(e.Msg, c.msg) {
				t.Fatalf("got line %d field %q msg %q; want line %d field %q msg containing %q", e.Line, e.Field, e.Msg, c.line, c.field, c.msg)
			}
			if strings.Contains(err.Error(), "yamldoc.") || strings.Contains(err.Error(), "float64") {
				t.Fatalf("error names a Go type: %v", err)
			}
		})
	}
}

func TestDecodeOK(t *testing.T) {
	var d doc
	if err := Decode([]byte("id: x\nkind: a\nitems:\n  - {rate_gbps: 2.5, on: true}\nby_name: {a: [{rate_gbps: 1}]}\nany: {deep: [1, 2]}\ncount: 3\n"), &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != "x" || d.Items[0].Rate != 2.5 || !d.Items[0].On || d.ByName["a"][0].Rate != 1 || d.Count != 3 {
		t.Fatalf("decoded %+v", d)
	}
}

func TestAliasBomb(t *testing.T) {
	in := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	var m struct {
		A, B, C, D, E, F, G any
	}
	if err := Decode([]byte(in), &m); err == nil {
		t.Fatal("an alias bomb decoded")
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"kind: a\n", "items:\n  - rate_gbps: 1\n", "a: &a [*a]\n", "by_name: {x: [{on: true}]}\n", "- 1\n", "<<: {kind: a}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		err := Decode(data, &d)
		if err == nil {
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not *Error", err, err)
		}
		if strings.Contains(err.Error(), "yamldoc.") {
			t.Fatalf("error names a Go type: %v", err)
		}
	})
}
