package network

import (
	"bytes"
	"testing"
)

var sinkNet *Network

func BenchmarkFatTree32(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		n, err := FatTree(32)
		if err != nil {
			b.Fatal(err)
		}
		sinkNet = n
	}
}

func BenchmarkValidateFatTree32(b *testing.B) {
	n, err := FatTree(32)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := n.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWAN1000(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		n, err := WAN(1000, 1, DefaultWaxmanAlpha, DefaultWaxmanBetaFor(1000))
		if err != nil {
			b.Fatal(err)
		}
		sinkNet = n
	}
}

// BenchmarkImport decodes (and validates) a 1,000-node network: WAN(1000) with the
// default β (about 2,000 links), in every format.
func BenchmarkImport(b *testing.B) {
	n, err := WAN(1000, 1, DefaultWaxmanAlpha, DefaultWaxmanBetaFor(1000))
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range codedHere {
		var buf bytes.Buffer
		if err := Encode(&buf, n, f); err != nil {
			b.Fatal(err)
		}
		doc := buf.Bytes()
		b.Run(string(f)+"/wan-1000", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(doc)))
			for b.Loop() {
				got, err := Decode(bytes.NewReader(doc), f)
				if err != nil {
					b.Fatal(err)
				}
				sinkNet = got
			}
		})
	}
}

// BenchmarkExport encodes the same 1,000-node network in every format.
func BenchmarkExport(b *testing.B) {
	n, err := WAN(1000, 1, DefaultWaxmanAlpha, DefaultWaxmanBetaFor(1000))
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range codedHere {
		b.Run(string(f)+"/wan-1000", func(b *testing.B) {
			b.ReportAllocs()
			var buf bytes.Buffer
			for b.Loop() {
				buf.Reset()
				if err := Encode(&buf, n, f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
