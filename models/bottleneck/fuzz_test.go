package bottleneck

import (
	"errors"
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
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
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
