package repository

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// LedgerAnchor is a (Seq, Hash) pair of the ledger kept outside the database (the
// output of `twinflow ledger head`): a rewrite of the whole chain after Seq, which the
// hash chain alone cannot reveal, no longer matches it (REQ-DLT-04).
type LedgerAnchor struct {
	Seq  int64
	Hash []byte // SHA-256, 32 bytes
}

// String is the anchor's canonical spelling, SEQ:SHA256HEX.
func (a LedgerAnchor) String() string { return fmt.Sprintf("%d:%x", a.Seq, a.Hash) }

// ParseLedgerAnchor parses SEQ:SHA256HEX (seq >= 1, 64 hexadecimal digits).
func ParseLedgerAnchor(s string) (LedgerAnchor, error) {
	seqS, hashS, ok := strings.Cut(s, ":")
	if !ok {
		return LedgerAnchor{}, fmt.Errorf("%q: want SEQ:SHA256HEX", s)
	}
	seq, err := strconv.ParseInt(seqS, 10, 64)
	if err != nil || seq < 1 {
		return LedgerAnchor{}, fmt.Errorf("%q: sequence number %q must be a positive integer", s, seqS)
	}
	h, err := hex.DecodeString(hashS)
	if err != nil || len(h) != 32 {
		return LedgerAnchor{}, fmt.Errorf("%q: hash must be 64 hexadecimal digits (SHA-256)", s)
	}
	return LedgerAnchor{Seq: seq, Hash: h}, nil
}

// CheckLedgerAnchor returns a non-empty reason if the ledger's record a.Seq is missing
// or has another hash than a.Hash.
func CheckLedgerAnchor(ctx context.Context, l Ledger, a LedgerAnchor) (string, error) {
	recs, err := l.List(ctx, a.Seq, 1)
	if err != nil {
		return "", err
	}
	if len(recs) == 0 || recs[0].Seq != a.Seq {
		return fmt.Sprintf("anchored record %d is missing (ledger truncated or rewritten)", a.Seq), nil
	}
	if !bytes.Equal(recs[0].Hash, a.Hash) {
		return fmt.Sprintf("record %d hash %x does not match the anchor %x (ledger rewritten)", a.Seq, short8(recs[0].Hash), short8(a.Hash)), nil
	}
	return "", nil
}

// short8 is the first 8 bytes of h (all of it if shorter).
func short8(h []byte) []byte {
	if len(h) > 8 {
		return h[:8]
	}
	return h
}
