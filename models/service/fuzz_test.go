package service

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeService: any input either fails with ErrInvalid or yields a valid service
// whose JSON decodes to the same service again (defaults are stable).
func FuzzDecodeService(f *testing.F) {
	f.Add([]byte(`{"id":"a","type":"l2vpn","endpoints":[{"device":"r-0","interface":"e"},{"device":"r-1","interface":"e"}],"l2":{"vni":1}}`))
	f.Add([]byte(`{"id":"acme","type":"l3vpn","endpoints":[{"device":"a","interface":"e","address":"10.0.0.1/24"},{"device":"b","interface":"e","address":"10.0.1.1/24"}],"l3":{"rd":"1:1","vni_base":10},"constraints":{"capacity_gbps":2,"availability":2,"protection":"1+1","isolation":"hard","schedule":{"start":"2026-12-07T00:00:00Z"}}}`))
	f.Add([]byte(`{"id":"te","type":"sr-policy","endpoints":[{"device":"a"},{"device":"b"}],"sr":{"prefix":"10.0.0.0/8","hops":[{"device":"c","loose":true}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeService(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := DecodeService(b)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
		b2, _ := json.Marshal(s2)
		if string(b) != string(b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}

// FuzzDecodeSlice: the same for slices.
func FuzzDecodeSlice(f *testing.F) {
	f.Add([]byte(`{"id":"s","template":"urllc","constraints":{"capacity_gbps":1},"services":[{"id":"a","type":"l2vpn","endpoints":[{"device":"r-0","interface":"e"},{"device":"r-1","interface":"e"}],"l2":{"vni":1}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sl, err := DecodeSlice(data)
		if err != nil {
			return
		}
		b, err := json.Marshal(sl)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeSlice(b); err != nil {
			t.Fatalf("re-decoding %s: %v", b, err)
		}
	})
}
