package repository

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestChunkRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		ts   []int64
		vals []float64
	}{
		{"one", []int64{42}, []float64{1.5}},
		{"negative-time", []int64{-5_000_000_000, -1, 0, 7}, []float64{-1, 0, math.MaxFloat64, -math.SmallestNonzeroFloat64}},
		{"duplicates", []int64{10, 10, 10}, []float64{1, 2, 3}},
		{"extremes", []int64{math.MinInt64 + 1, math.MaxInt64}, []float64{0, 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := appendChunk(nil, tc.ts, tc.vals)
			ts, vals, err := decodeChunk(b, []int64{99}, []float64{99})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ts[1:], tc.ts) || !slices.Equal(vals[1:], tc.vals) || ts[0] != 99 {
				t.Fatalf("round trip: %v %v", ts, vals)
			}
		})
	}
}

func TestChunkRejectsCorruption(t *testing.T) {
	good := appendChunk(nil, []int64{1, 2, 3}, []float64{1, 2, 3})
	nan := appendChunk(nil, []int64{1}, []float64{math.NaN()})
	cases := map[string][]byte{
		"empty":          {},
		"version":        append([]byte{2}, good[1:]...),
		"zero-count":     {1, 0},
		"huge-count":     {1, 0xff, 0xff, 0x03},
		"truncated":      good[:len(good)-1],
		"trailing":       append(slices.Clone(good), 0),
		"nan":            nan,
		"delta-overflow": append([]byte{1, 2}, append(appendVarint(math.MaxInt64-1), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)...),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			ts, vals, err := decodeChunk(b, nil, nil)
			if !errors.Is(err, errChunk) {
				t.Fatalf("got %v; want errChunk", err)
			}
			if len(ts) != 0 || len(vals) != 0 {
				t.Fatalf("partial output on error: %v %v", ts, vals)
			}
		})
	}
}

func appendVarint(v int64) []byte {
	return appendChunk(nil, []int64{v}, []float64{0})[2 : len(appendChunk(nil, []int64{v}, []float64{0}))-8]
}

// FuzzDecodeChunk: decoding arbitrary bytes never panics, never returns partial output
// on error, and whatever decodes re-encodes to the same bytes.
func FuzzDecodeChunk(f *testing.F) {
	f.Add(appendChunk(nil, []int64{1, 2, 3}, []float64{1, 2, 3}))
	f.Add(appendChunk(nil, []int64{-7}, []float64{-0.5}))
	f.Add([]byte{1, 1, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, vals, err := decodeChunk(b, nil, nil)
		if err != nil {
			if len(ts) != 0 || len(vals) != 0 {
				t.Fatalf("partial output on error")
			}
			return
		}
		if len(ts) != len(vals) || len(ts) == 0 || !slices.IsSorted(ts) {
			t.Fatalf("decoded %d/%d samples, sorted %v", len(ts), len(vals), slices.IsSorted(ts))
		}
		if re := appendChunk(nil, ts, vals); string(re) != string(b) {
			// Varints have one canonical form in Go's encoder; non-minimal input
			// encodings decode but re-encode differently. Re-decoding must agree.
			ts2, vals2, err := decodeChunk(re, nil, nil)
			if err != nil || !slices.Equal(ts, ts2) || !slices.Equal(vals, vals2) {
				t.Fatalf("re-encoding does not round-trip: %v", err)
			}
		}
	})
}
