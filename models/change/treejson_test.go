package change

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// TestMarshalTreeAsEncodingJSON: MarshalTree writes exactly what json.Marshal writes,
// and fails where it fails, on hand-picked values (escapes, HTML characters, invalid
// UTF-8, line separators, numbers at the exponent cut-offs, NaN, infinities, nil
// maps and slices, types a parsed tree never holds) and 20,000 random trees.
func TestMarshalTreeAsEncodingJSON(t *testing.T) {
	cases := []Tree{
		{},
		{"a": "x", "b": 1.0, "c": true, "d": nil, "e": []any{}, "f": map[string]any{}},
		{"s": "<a href=\"x\">&amp;</a>", "t": "tab\there", "u": "\x00\x1f\x7f", "v": "\xff\xfe", "w": "\u2028\u2029", "x": "é ü 日本"},
		{"<key>": 1.0, "k\"q": 2.0, "k\\": 3.0, "": 4.0, "\xff": 5.0},
		{"n": []any{0.0, math.Copysign(0, -1), 1e-6, 9.99999e-7, 1e21, 9.99999e20, -1e21, 1e-7, 123456789.125, 5e-324, math.MaxFloat64, 0.1, 1.0 / 3}},
		{"nan": math.NaN()},
		{"inf": math.Inf(1)},
		{"deep": map[string]any{"l": []any{map[string]any{"x": []any{nil, "y", -0.5}}}}},
		{"nilmap": map[string]any(nil), "nilslice": []any(nil)},
		{"num": json.Number("12"), "int": 7, "raw": json.RawMessage(`{"z":1,"a":2}`), "strs": []string{"a"}},
		{"badnum": json.Number("x")},
	}
	rng := rand.New(rand.NewPCG(15, 2412))
	for range 20000 {
		cases = append(cases, Tree{"v": randomTree(rng, 0)})
	}
	for i, c := range cases {
		want, werr := json.Marshal(c)
		got, gerr := MarshalTree(c)
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("case %d %#v: error %v, encoding/json %v", i, c, gerr, werr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d %#v:\n got  %s\n want %s", i, c, got, want)
		}
	}
}

func randomTree(rng *rand.Rand, depth int) any {
	strs := []string{"a", "name", "mtu", "10.0.0.1/24", "<", ">", "&", "\"", "\\", "\n", "\x01", "\x7f", "é", "\u2028", "\xc3", "x y", ""}
	str := func() string {
		s := ""
		for range rng.IntN(4) {
			s += strs[rng.IntN(len(strs))]
		}
		return s
	}
	switch k := rng.IntN(9); {
	case k == 0:
		return str()
	case k == 1:
		e := rng.IntN(60) - 30
		return (rng.Float64() - 0.5) * math.Pow(10, float64(e))
	case k == 2:
		return float64(rng.IntN(100000))
	case k == 3:
		return rng.IntN(2) == 0
	case k == 4:
		return nil
	case k < 7 && depth < 4:
		m := map[string]any{}
		for range rng.IntN(5) {
			m[str()] = randomTree(rng, depth+1)
		}
		return m
	case depth < 4:
		var l []any
		for range rng.IntN(4) {
			l = append(l, randomTree(rng, depth+1))
		}
		return l
	}
	return str()
}

// FuzzMarshalTree: for any JSON object, MarshalTree of its parsed tree is what
// json.Marshal writes.
func FuzzMarshalTree(f *testing.F) {
	f.Add(`{"a":"<b>","c":[1,2.5,1e21,1e-7,null,true],"d":{"e":"\u2028\ud800"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTree([]byte(s))
		if err != nil {
			return
		}
		want, werr := json.Marshal(tr)
		got, gerr := MarshalTree(tr)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("got %s (%v), encoding/json %s (%v)", got, gerr, want, werr)
		}
	})
}
