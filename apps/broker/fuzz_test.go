package broker

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzParseConfig: the broker configuration parser never panics, and what it accepts
// is within its bounds.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"domains":[{"name":"AS1","url":"https://127.0.0.1:8443","token-file":"t","cert-sha256":"` + strings.Repeat("ab", 32) + `"}],"refresh":"5s"}`))
	f.Add([]byte(`{"domains":[{"name":"AS1","url":"http://a","token-file":"t"},{"name":"AS1","url":"http://b","token-file":"t"}]}`))
	f.Add([]byte(`{"domains":[]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, refresh, err := ParseConfig(b)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error without ErrConfig: %v", err)
			}
			return
		}
		if len(c.Domains) == 0 || len(c.Domains) > MaxDomains || refresh < minRefresh || refresh > maxRefresh {
			t.Fatalf("accepted out of bounds: %d domains, refresh %v", len(c.Domains), refresh)
		}
		for _, d := range c.Domains {
			if !ValidDomainName(d.Name) || d.TokenFile == "" || (d.CertSHA256 != "" && len(d.certHash) != 32) {
				t.Fatalf("accepted %+v", d)
			}
		}
	})
}

// FuzzParseAbstraction: a domain's answer, decoded by the broker, never panics, and an
// accepted one only holds valid names and finite non-negative numbers.
func FuzzParseAbstraction(f *testing.F) {
	f.Add([]byte(`{"meta":{"vtag":{"resource-id":"interdomain","tag":"r1"}},"domains":{"AS1":{"cpu":50,"mem":60,"storage":70,"nfs":["NF1","NF3"],"saps":["SAP1"],"devices":4}},"links":[{"ane":"a--b","from-domain":"AS1","to-domain":"AS2","from-device":"a","to-device":"b","capacity-bps":1e10,"latency-ms":5,"max-reservable-bandwidth":1e10}]}`))
	f.Add([]byte(`{"domains":{"AS 1":{}}}`))
	f.Add([]byte(`{"domains":{"AS1":{"cpu":-1}}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := ParseAbstraction(b)
		if err != nil {
			return
		}
		for name, r := range doc.Domains {
			if !validName(name) || r.CPU < 0 || r.Mem < 0 || r.Storage < 0 {
				t.Fatalf("accepted domain %q %+v", name, r)
			}
		}
		for _, l := range doc.Links {
			if !validName(l.FromDomain) || !validName(l.ToDomain) || l.CapacityBps < 0 || l.LatencyMs < 0 {
				t.Fatalf("accepted link %+v", l)
			}
		}
	})
}

// FuzzSGRequest: the service graph request parser never panics; its errors are ALTO
// errors with a code; an accepted request's paths are chains of its links.
func FuzzSGRequest(f *testing.F) {
	f.Add([]byte(strings.Replace(sgRequestDraft, "%s", "", 1)))
	f.Add([]byte(strings.Replace(sgRequestDraft, "%s", `, "priv:tf-demands": {"NF1": {"cpu": 50}}`, 1)))
	f.Add([]byte(`{"cost-type":{"cost-mode":"array","cost-metric":"ane-path"},"sg":{"nfs":["a"],"saps":["b"],"sg_links":[{"id":1,"src-node":"b","dst-node":"a"}],"reqs":[{"id":"r","src-node":"b","dst-node":"a","sg-path":[1]}]}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, e := parseRequest(b)
		if e != nil {
			if e.Code == "" || e.Status != 400 {
				t.Fatalf("error %+v", e)
			}
			if _, err := json.Marshal(e.Value); err != nil && e.Value != nil {
				t.Fatalf("error value does not encode: %v", err)
			}
			return
		}
		for _, r := range q.Reqs {
			at := r.Src
			for _, id := range r.Path {
				l := q.Links[id]
				if l.Src != at {
					t.Fatalf("accepted a broken chain: %+v", r)
				}
				at = l.Dst
			}
			if at != r.Dst {
				t.Fatalf("accepted a path that misses dst: %+v", r)
			}
		}
	})
}
