package bottleneck

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse and New: no panic, errors wrap
// ErrInvalid, and any accepted network yields a feasible allocation.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"links":[{"id":"l1","capacity":25}],"flows":[{"id":"f1","path":["l1"],"demand":null}]}`,
		`{"links":[{"id":"l1","capacity":25},{"id":"l2","capacity":50}],"flows":[{"id":"f1","path":["l1","l2"],"demand":3}]}`,
		`{"links":[{"id":"l1","capacity":0}],"flows":[]}`,
		`{"links":[{"id":"l1","capacity":5},{"id":"l1","capacity":3}]}`,
		`{"links":[{"id":"l1","capacity":5}],"flows":[{"id":"f1","path":["l1","l1"]}]}`,
		`{"links":[{"id":"l1","capacity":5}],"flows":[{"id":"f1","path":[]}]}`,
		`{"links":[{"id":"l1","capacity":5}],"flows":[{"id":"f1","path":["zz"]}]}`,
		"links:\n  - {id: a, capacity: 2}\nflows:\n  - {id: x, path: [a]}\n",
		`{"devices":[{"id":"a","type":"host"}],"links":[]}`,
		`[]`, `{}`, `null`, `{"links":[{"id":"l1","capacity":1e400}]}`,
		`{"Links":[{"id":"l1","capacity":5}]}`, `{"links":[],"links":[{"id":"a","capacity":1}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		// the one-pass decode accepts exactly the documents of the engine's format that
		// the element-by-element pass accepts, with the same result
		if tr := bytes.TrimSpace(data); len(tr) > 0 && tr[0] == '{' {
			if _, ok := parseFast(tr); ok {
				if slow, err := parseSlow(tr); err != nil || slow.Bottleneck == nil {
					t.Fatalf("one-pass decode accepts what the element-wise pass refuses (%v)", err)
				}
			}
			if slow, err := parseSlow(tr); err == nil && slow.Bottleneck != nil {
				fast, ok := parseFast(tr)
				if ok {
					// an empty list and an absent one are the same network
					if len(fast.Links) == 0 {
						fast.Links = nil
					}
					if len(fast.Flows) == 0 {
						fast.Flows = nil
					}
					for i := range fast.Flows {
						if i < len(slow.Bottleneck.Flows) && len(fast.Flows[i].Path) == 0 && len(slow.Bottleneck.Flows[i].Path) == 0 {
							fast.Flows[i].Path = slow.Bottleneck.Flows[i].Path
						}
					}
				}
				if !ok || !reflect.DeepEqual(fast, slow.Bottleneck) {
					t.Fatalf("one-pass decode: %v %+v; element-wise: %+v", ok, fast, slow.Bottleneck)
				}
			}
		}
		doc, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if doc.Bottleneck == nil {
			return
		}
		s, err := New(doc.Bottleneck)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			if doc.Bottleneck.Validate() == nil {
				t.Fatalf("New rejected what Validate accepts: %v", err)
			}
			return
		}
		if err := doc.Bottleneck.Validate(); err != nil {
			t.Fatalf("Validate rejects what New accepts: %v", err)
		}
		load := make([]float64, len(s.capa))
		for fl, p := range s.path {
			if !(s.rate[fl] > 0) {
				t.Fatalf("flow %s has rate %v", s.flowID[fl], s.rate[fl])
			}
			for _, l := range p {
				load[l] += s.rate[fl]
			}
		}
		for l, c := range s.capa {
			if load[l] > c*(1+1e-6) {
				t.Fatalf("link %d overloaded: %v > %v", l, load[l], c)
			}
		}
	})
}
