package repository

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

func testChain(n int) []LedgerRecord {
	prev := genesisHash
	var out []LedgerRecord
	for i := 1; i <= n; i++ {
		r := LedgerRecord{Seq: int64(i), Time: time.UnixMicro(int64(1_700_000_000_000_000 + i)).UTC(), Kind: "device.software",
			Subject: fmt.Sprintf("r%d", i), Payload: json.RawMessage(fmt.Sprintf(`{"v":%d}`, i)), PrevHash: prev}
		r.Hash = LedgerHash(r.Seq, r.Time, r.Kind, r.Subject, r.Payload, r.PrevHash)
		prev = r.Hash
		out = append(out, r)
	}
	return out
}

func verifyChain(recs []LedgerRecord, headSeq int64, headHash []byte) VerifyResult {
	v := newChainVerifier()
	for _, r := range recs {
		v.add(r)
	}
	return v.finish(headSeq, headHash)
}

// TestLedgerHashEncodingIsUnambiguous: moving bytes between fields changes the hash.
func TestLedgerHashEncodingIsUnambiguous(t *testing.T) {
	at := time.UnixMicro(1)
	a := LedgerHash(1, at, "ab", "c", []byte("{}"), genesisHash)
	b := LedgerHash(1, at, "a", "bc", []byte("{}"), genesisHash)
	if string(a) == string(b) {
		t.Fatal("kind/subject boundary is not part of the hash")
	}
	if string(LedgerHash(1, at, "a", "b", nil, genesisHash)) == string(LedgerHash(2, at, "a", "b", nil, genesisHash)) {
		t.Fatal("seq is not part of the hash")
	}
}

// FuzzLedgerTamper: any single-byte change to any field of any record of a valid chain
// is detected and the first bad record is the changed one (or, for a changed hash,
// the changed one as well: its content no longer matches).
func FuzzLedgerTamper(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint16(0), byte(1))
	f.Add(uint8(3), uint8(2), uint16(5), byte(0x80))
	f.Add(uint8(4), uint8(5), uint16(31), byte(0xff))
	f.Fuzz(func(t *testing.T, rec, field uint8, off uint16, x byte) {
		recs := testChain(5)
		head := recs[len(recs)-1]
		i := int(rec) % len(recs)
		r := &recs[i]
		flip := func(b []byte) []byte {
			if len(b) == 0 {
				return b
			}
			c := append([]byte(nil), b...)
			c[int(off)%len(c)] ^= x
			return c
		}
		switch field % 6 {
		case 0:
			r.Kind = string(flip([]byte(r.Kind)))
		case 1:
			r.Subject = string(flip([]byte(r.Subject)))
		case 2:
			r.Payload = flip(r.Payload)
		case 3:
			r.PrevHash = flip(r.PrevHash)
		case 4:
			r.Hash = flip(r.Hash)
		case 5:
			r.Time = r.Time.Add(time.Duration(x) * time.Microsecond)
		}
		res := verifyChain(recs, head.Seq, head.Hash)
		if x == 0 {
			if !res.OK {
				t.Fatalf("unchanged chain fails: %+v", res)
			}
			return
		}
		if res.OK || res.FirstBad == nil || *res.FirstBad != r.Seq {
			t.Fatalf("change to field %d of record %d: %+v (first bad %v)", field%6, r.Seq, res, res.FirstBad)
		}
	})
}

func TestVerifierReportsStructure(t *testing.T) {
	recs := testChain(6)
	head := recs[5]
	cases := []struct {
		name string
		recs []LedgerRecord
		bad  int64
	}{
		{"delete-2", append(append([]LedgerRecord{}, recs[:1]...), recs[2:]...), 2},
		{"delete-head", recs[:5], 6},
		{"swap-3-4", []LedgerRecord{recs[0], recs[1], recs[3], recs[2], recs[4], recs[5]}, 3},
		{"duplicate", []LedgerRecord{recs[0], recs[1], recs[1], recs[2], recs[3], recs[4], recs[5]}, 2},
		{"extra-after-head", append(append([]LedgerRecord{}, recs...), testChain(7)[6]), 7},
	}
	for _, tc := range cases {
		res := verifyChain(tc.recs, head.Seq, head.Hash)
		if res.OK || *res.FirstBad != tc.bad {
			t.Errorf("%s: %+v (first bad %v); want %d", tc.name, res, *res.FirstBad, tc.bad)
		}
	}
	if res := verifyChain(recs, head.Seq, head.Hash); !res.OK || res.Records != 6 {
		t.Fatalf("intact: %+v", res)
	}
	if res := verifyChain(nil, 0, genesisHash); !res.OK || res.Records != 0 {
		t.Fatalf("empty: %+v", res)
	}
}
