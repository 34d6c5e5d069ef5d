package change

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/twinflow/twinflow/models/schema"
)

// TestDecodeValidJSON: decodeValidJSON builds what schema.DecodeJSON (encoding/json,
// UseNumber) builds, on hand-picked documents (escapes, surrogates, invalid UTF-8,
// repeated members, empty containers, number forms, white space) and 20,000 random
// ones.
func TestDecodeValidJSON(t *testing.T) {
	docs := []string{
		`{}`, `[]`, ` { "a" : [ 1 , -0.5e+3 , 2E-7 , 0 ] , "b" : { } , "c" : [ ] } `, `"x"`, `12`, `-0`, `true`, `false`, `null`,
		`{"a":1,"a":{"b":2}}`, `{"\u00e9\n\t\"\\\/":"\ud83d\ude00 \ud800 x"}`, "{\"k\":\"\xff\xfe\"}", "[\"\xed\xa0\x80\"]",
		`["\u2028", "日本", "<&>"]`, `{"a":[[[[{"b":[null,true,false]}]]]]}`,
	}
	rng := rand.New(rand.NewPCG(15, 7))
	for range 20000 {
		b, err := json.Marshal(randomTree(rng, 0))
		if err != nil {
			continue
		}
		docs = append(docs, string(b))
	}
	for i, doc := range docs {
		if !json.Valid([]byte(doc)) {
			t.Fatalf("doc %d %q is not valid JSON", i, doc)
		}
		want, err := schema.DecodeJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeValidJSON([]byte(doc))
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("doc %d %q:\n got  %#v (%v)\n want %#v", i, doc, got, ok, want)
		}
	}
}

// FuzzDecodeValidJSON: for any valid JSON text, decodeValidJSON builds what
// schema.DecodeJSON builds.
func FuzzDecodeValidJSON(f *testing.F) {
	f.Add(`{"a":[1,"\u00e9",{"b":null}],"a":-1.5e3}`)
	f.Fuzz(func(t *testing.T, doc string) {
		if !json.Valid([]byte(doc)) {
			return
		}
		want, err := schema.DecodeJSON([]byte(doc))
		if err != nil {
			t.Fatalf("schema.DecodeJSON refuses valid JSON %q: %v", doc, err)
		}
		got, ok := decodeValidJSON([]byte(doc))
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v (%v), want %#v", doc, got, ok, want)
		}
	})
}
