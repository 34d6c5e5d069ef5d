package interdomain

import (
	"errors"
	"testing"
)

// FuzzParseSliceRequest: the end-to-end slice parser never panics; what it accepts
// is within its bounds and its latency budgets add up to at most the objective.
func FuzzParseSliceRequest(f *testing.F) {
	f.Add([]byte(goodSlice))
	f.Add([]byte(`{"name":"x","domains":["A","A"]}`))
	f.Add([]byte(`{"slo":{"min_rate_gbps":NaN}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSliceRequest(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		if !validID(r.Name) || len(r.Domains) < 2 || len(r.Domains) > MaxDomainsInPath || r.SLO.MinRateGbps <= 0 {
			t.Fatalf("accepted %+v", r)
		}
		var sum float64
		for _, v := range r.budgets() {
			if v < 0 {
				t.Fatalf("negative budget in %+v", r)
			}
			sum += v
		}
		if sum > r.SLO.MaxLatencyMs*(1+1e-9) {
			t.Fatalf("budgets %v exceed %v", r.budgets(), r.SLO.MaxLatencyMs)
		}
	})
}

// FuzzParseSubSliceRequest: a peer's sub-slice request never panics the parser, and
// an accepted one yields a ChangeSet the change model accepts.
func FuzzParseSubSliceRequest(f *testing.F) {
	f.Add([]byte(`{"slice":"e2e-1","coordinator":"AS1","src":"a","dst":"b","slo":{"min_rate_gbps":2}}`))
	f.Add([]byte(`{"slice":"e2e-1","coordinator":"AS1","src":"a","dst":"a","slo":{"min_rate_gbps":2}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSubSliceRequest(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error without ErrInvalid: %v", err)
			}
			return
		}
		cs, err := r.ChangeSet("peer", func(string) bool { return true })
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.Validate(); err != nil {
			t.Fatalf("accepted %s but its change is invalid: %v", b, err)
		}
	})
}

// FuzzParseConfig: the coordinator's configuration parser never panics.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"domain":"AS1","state-dir":"s","peers":[{"name":"AS2","url":"http://a","token-file":"t"}]}`))
	f.Add([]byte(`{"domain":"AS1","state-dir":"s","peers":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, _, err := ParseConfig(b)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error without ErrConfig: %v", err)
			}
			return
		}
		for _, p := range s.Peers {
			if p.Name == s.Domain {
				t.Fatalf("accepted itself as a peer: %+v", s)
			}
		}
	})
}
