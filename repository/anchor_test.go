package repository

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParseLedgerAnchor: anything accepted is a positive sequence number and a
// SHA-256, and its canonical spelling parses back to it.
//
//	go test -run '^$' -fuzz FuzzParseLedgerAnchor ./repository
func FuzzParseLedgerAnchor(f *testing.F) {
	f.Add("9:" + strings.Repeat("0a", 32))
	f.Add("1:")
	f.Add(":")
	f.Add("-1:" + strings.Repeat("ff", 32))
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseLedgerAnchor(s)
		if err != nil {
			return
		}
		if a.Seq < 1 || len(a.Hash) != 32 {
			t.Fatalf("ParseLedgerAnchor(%q) = %+v", s, a)
		}
		// The canonical spelling parses back to the same anchor.
		b, err := ParseLedgerAnchor(a.String())
		if err != nil || b.Seq != a.Seq || !bytes.Equal(b.Hash, a.Hash) {
			t.Fatalf("ParseLedgerAnchor(%q) = %+v does not round-trip: %+v %v", s, a, b, err)
		}
	})
}
