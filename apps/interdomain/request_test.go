package interdomain

import (
	"errors"
	"strings"
	"testing"
)

const goodSlice = `{"name":"e2e-1","src":{"domain":"AS1","device":"as1-sap1"},"dst":{"domain":"AS3","device":"as3-sap2"},
 "domains":["AS1","AS2","AS3"],"slo":{"min_rate_gbps":2,"max_latency_ms":30,"isolation":"hard"},"latency_budget_ms":{"AS2":4}}`

// TestParseSliceRequest (REQ-INT-02): a valid request is accepted and its latency
// budgets split; every malformed one is refused naming the field.
func TestParseSliceRequest(t *testing.T) {
	r, err := ParseSliceRequest([]byte(goodSlice))
	if err != nil {
		t.Fatal(err)
	}
	b := r.budgets()
	if b["AS2"] != 4 || b["AS1"] != 13 || b["AS3"] != 13 {
		t.Fatalf("budgets %v", b)
	}
	for _, c := range []struct{ doc, field string }{
		{`{"name":"a b"}`, "name"},
		{strings.Replace(goodSlice, `"AS3"]`, `"AS1"]`, 1), "appears twice"},
		{strings.Replace(goodSlice, `["AS1","AS2","AS3"]`, `["AS1"]`, 1), "domains"},
		{strings.Replace(goodSlice, `"min_rate_gbps":2`, `"min_rate_gbps":0`, 1), "min_rate_gbps"},
		{strings.Replace(goodSlice, `"min_rate_gbps":2`, `"min_rate_gbps":1e9`, 1), "min_rate_gbps"},
		{strings.Replace(goodSlice, `"hard"`, `"firm"`, 1), "isolation"},
		{strings.Replace(goodSlice, `"AS2":4`, `"AS2":30`, 1), "latency_budget_ms"},
		{strings.Replace(goodSlice, `"AS2":4`, `"AS9":4`, 1), "latency_budget_ms.AS9"},
		{strings.Replace(goodSlice, `"device":"as1-sap1"`, `"device":""`, 1), "src.device"},
		{strings.Replace(goodSlice, `{"domain":"AS1"`, `{"domain":"AS2"`, 1), "src.domain"},
		{strings.Replace(goodSlice, `"name"`, `"nome"`, 1), "unknown field"},
		{goodSlice + `{}`, "data after"},
		{strings.Replace(goodSlice, `"slo"`, `"confirm_timeout":"1s","slo"`, 1), "confirm_timeout"},
		{`{"name":"x","pad":"` + strings.Repeat("a", MaxRequestBytes) + `"}`, "larger than"},
	} {
		_, err := ParseSliceRequest([]byte(c.doc))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%.80s: got %v, want an error naming %q", c.doc, err, c.field)
		}
	}
}

func TestParseSubSliceRequest(t *testing.T) {
	good := `{"slice":"e2e-1","coordinator":"AS1","src":"as2-br1","dst":"as3-br","slo":{"min_rate_gbps":2,"max_latency_ms":10},"confirm_timeout":"30s"}`
	r, err := ParseSubSliceRequest([]byte(good))
	if err != nil || r.Window().Seconds() != 30 {
		t.Fatalf("%v %+v", err, r)
	}
	cs, err := r.ChangeSet("peer-as1", func(d string) bool { return d == "as2-br1" })
	if err != nil || len(cs.Twin.AddFlows) != 1 || cs.Twin.AddFlows[0].ID != "interdomain/e2e-1" || cs.Intents[0].Type != IntentType || len(cs.DeviceOps) != 1 || len(cs.DeviceOps["as2-br1"]) != 1 {
		t.Fatalf("%v %+v", err, cs)
	}
	if err := cs.Validate(); err != nil {
		t.Fatalf("the sub-slice's change does not validate: %v", err)
	}
	for _, c := range []struct{ doc, field string }{
		{strings.Replace(good, `"as3-br"`, `"as2-br1"`, 1), "equal to src"},
		{strings.Replace(good, `"AS1"`, `"AS 1"`, 1), "coordinator"},
		{strings.Replace(good, `"30s"`, `"11m"`, 1), "confirm_timeout"},
		{strings.Replace(good, `"e2e-1"`, `"a/b"`, 1), "slice"},
		{strings.Replace(good, `"max_latency_ms":10`, `"max_latency_ms":-1`, 1), "max_latency_ms"},
	} {
		_, err := ParseSubSliceRequest([]byte(c.doc))
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got %v, want an error naming %q", c.doc, err, c.field)
		}
	}
}

func TestParseConfig(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	good := `{"domain":"AS1","state-dir":"s","peers":[{"name":"AS2","url":"https://127.0.0.1:1","token-file":"t","cert-sha256":"` + pin + `"}]}`
	s, _, err := ParseConfig([]byte(good))
	if err != nil || s.Domain != "AS1" || len(s.Peers) != 1 || len(s.Peers[0].CertSHA256) != 32 {
		t.Fatalf("%v %+v", err, s)
	}
	for _, c := range []struct{ doc, field string }{
		{strings.Replace(good, `"AS2"`, `"AS1"`, 1), "own domain"},
		{strings.Replace(good, `"state-dir":"s",`, ``, 1), "state-dir"},
		{strings.Replace(good, `https://127.0.0.1:1`, `ftp://x`, 1), "url"},
		{strings.Replace(good, `"domain":"AS1"`, `"domain":""`, 1), "domain"},
		{`{"domain":"AS1","state-dir":"s"}`, "peers"},
		{strings.Replace(good, `"peers"`, `"peerz"`, 1), "unknown field"},
	} {
		_, _, err := ParseConfig([]byte(c.doc))
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: got %v, want an error naming %q", c.doc, err, c.field)
		}
	}
}
