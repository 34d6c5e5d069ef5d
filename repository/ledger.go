package repository

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"
)

// ledgerDomain prefixes every hashed record so a ledger hash can never collide with a
// hash computed for another purpose.
const ledgerDomain = "twinflow-ledger-v1\x00"

// genesisHash is the PrevHash of the first record: 32 zero bytes.
var genesisHash = make([]byte, sha256.Size)

// LedgerHash computes a record's hash: SHA-256 over the canonical encoding
//
//	"twinflow-ledger-v1\x00" ||
//	u64be(seq) || i64be(unix microseconds of time) ||
//	u32be(len(kind)) || kind || u32be(len(subject)) || subject ||
//	u32be(len(payload)) || payload || prev_hash (32 bytes)
//
// Lengths make the encoding unambiguous; times are microseconds because that is what
// both backends store exactly.
func LedgerHash(seq int64, t time.Time, kind, subject string, payload, prevHash []byte) []byte {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte(ledgerDomain))
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(t.UnixMicro()))
	h.Write(b[:])
	for _, s := range [][]byte{[]byte(kind), []byte(subject), payload} {
		binary.BigEndian.PutUint32(b[:4], uint32(len(s)))
		h.Write(b[:4])
		h.Write(s)
	}
	h.Write(prevHash)
	return h.Sum(nil)
}

// chainVerifier checks records one by one, in the order the store returns them
// (ascending seq).
type chainVerifier struct {
	n        int
	prevSeq  int64
	prevHash []byte
	bad      *int64
	reason   string
}

func newChainVerifier() *chainVerifier {
	return &chainVerifier{prevHash: genesisHash}
}

// add checks one record; it returns false once the chain is broken.
func (v *chainVerifier) add(r LedgerRecord) bool {
	v.n++
	if v.bad != nil {
		return false
	}
	want := v.prevSeq + 1
	switch {
	case r.Seq > want:
		v.fail(want, fmt.Sprintf("record %d is missing (deleted?): next record is %d", want, r.Seq))
		return false
	case r.Seq < want:
		v.fail(r.Seq, fmt.Sprintf("record %d is out of order or duplicated (expected %d)", r.Seq, want))
		return false
	}
	if !bytes.Equal(r.PrevHash, v.prevHash) {
		v.fail(r.Seq, fmt.Sprintf("record %d prev_hash %s does not match the hash %s of record %d (reordered, inserted or predecessor edited)",
			r.Seq, short(r.PrevHash), short(v.prevHash), r.Seq-1))
		return false
	}
	got := LedgerHash(r.Seq, r.Time, r.Kind, r.Subject, r.Payload, r.PrevHash)
	if !bytes.Equal(got, r.Hash) {
		v.fail(r.Seq, fmt.Sprintf("record %d content does not match its hash (edited): stored %s, computed %s",
			r.Seq, short(r.Hash), short(got)))
		return false
	}
	v.prevSeq = r.Seq
	v.prevHash = r.Hash
	return true
}

// finish checks the chain against the head row (last seq and hash recorded in the same
// transaction as every append), which catches deletion of the newest records.
func (v *chainVerifier) finish(headSeq int64, headHash []byte) VerifyResult {
	if v.bad == nil {
		switch {
		case headSeq > v.prevSeq:
			v.fail(v.prevSeq+1, fmt.Sprintf("records %d..%d are missing (ledger head is %d, last record is %d)",
				v.prevSeq+1, headSeq, headSeq, v.prevSeq))
		case headSeq < v.prevSeq:
			v.fail(headSeq+1, fmt.Sprintf("record %d is past the ledger head %d (inserted?)", headSeq+1, headSeq))
		case headSeq > 0 && !bytes.Equal(headHash, v.prevHash):
			v.fail(headSeq, fmt.Sprintf("record %d hash %s does not match the ledger head hash %s",
				headSeq, short(v.prevHash), short(headHash)))
		}
	}
	res := VerifyResult{OK: v.bad == nil, Records: v.n, FirstBad: v.bad, Reason: v.reason}
	return res
}

func (v *chainVerifier) fail(seq int64, reason string) {
	v.bad = &seq
	v.reason = reason
}

func short(b []byte) string {
	s := hex.EncodeToString(b)
	if len(s) > 16 {
		return s[:16]
	}
	if s == "" {
		return "(empty)"
	}
	return s
}
