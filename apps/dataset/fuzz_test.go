package dataset

import (
	"errors"
	"testing"
)

// FuzzParseSpec: any input gives a valid spec or an ErrSpec error, never a panic, and
// a parsed spec passes Normalize again unchanged.
func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(testSpec))
	f.Add([]byte("name: a\nsamples: 1\ntopologies: [{generator: ring}]"))
	f.Add([]byte("name: a\nsamples: 1\ntopologies: [{file: x.gml}]\ntraffic: {intensity_gbps: [1e308, 1e309]}"))
	f.Add([]byte(emuSpec))
	f.Add([]byte("name: a\nsamples: 5\ntopologies: [{generator: ring}]\ntraffic: {flows: 4}\nemulate: {samples: 5, seconds: 60, max_flows: 4}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSpec(b)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("error %v does not wrap ErrSpec", err)
			}
			return
		}
		before := *s
		if err := s.Normalize(); err != nil {
			t.Fatalf("a parsed spec fails Normalize: %v", err)
		}
		if s.Samples != before.Samples || s.Scenarios() < 1 {
			t.Fatal("Normalize changed a normalized spec")
		}
		if e := s.Emulate; e != nil && (e.Samples < 1 || e.Samples > min(MaxEmulateSamples, s.Samples) || e.Seconds < 2 || e.Seconds > MaxEmulateSeconds || e.MaxFlows < s.Traffic.Flows || e.MaxFlows > MaxEmulateFlows) {
			t.Fatalf("emulate out of bounds after parsing: %+v", *e)
		}
	})
}

func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"0/1", "3/4", "4/4", "a/b", "1/-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sh, err := ParseShard(s)
		if err == nil && (sh.Index < 0 || sh.Index >= sh.Count) {
			t.Fatalf("ParseShard(%q) = %+v", s, sh)
		}
	})
}
