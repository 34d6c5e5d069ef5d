package nbi

import (
	"errors"
	"strings"
	"testing"
)

// checkParsed holds for every parser answer: an error is a *FieldError with a known
// tag and a message; a success returns values the model validates.
func checkFieldErr(t *testing.T, err error, body []byte) {
	t.Helper()
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error %T %v is not a *FieldError (body %q)", err, err, body)
	}
	if _, ok := tagStatus[fe.Tag]; !ok || fe.Msg == "" {
		t.Fatalf("error tag %q msg %q for %q", fe.Tag, fe.Msg, body)
	}
}

// FuzzParseSliceServices (REQ-COM-03): the IETF slice payload parser never panics,
// answers every malformed body with a tagged error, and returns only slices the model
// validates (two endpoints per service, bounded, finite non-negative constraints).
func FuzzParseSliceServices(f *testing.F) {
	for _, s := range []string{
		`{"slice-service":[{"id":"s","sdps":{"sdp":[{"id":"1","node-id":"a","attachment-circuits":{"attachment-circuit":[{"id":"x","ac-tp-id":"e1"}]}},{"id":2,"node-id":"b","attachment-circuits":{"attachment-circuit":[{"id":"y","ac-tp-id":"e1"}]}}]}}]}`,
		`{"ietf-network-slice-service:network-slice-services":{"slo-sle-templates":{"slo-sle-template":[{"id":"t","slo-policy":{"metric-bound":[{"metric-type":"one-way-bandwidth","bound":"10"}]}}]},"slice-service":[{"id":"s","slo-sle-policy":{"slo-sle-template":"t"}}]}}`,
		`{"slice-service":[{"id":"s","connection-groups":{"connection-group":[{"id":"g","connectivity-construct":[{"id":1,"a2a-sdp":[{"sdp-id":"1"},{"sdp-id":"2"}]}]}]}}]}`,
		`{"slice-service":[{"id":1e400}]}`, `[]`, `null`, `{"slice-service":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sls, err := ParseSliceServices(body)
		if err != nil {
			checkFieldErr(t, err, body)
			return
		}
		if len(sls) == 0 {
			t.Fatalf("no slice and no error for %q", body)
		}
		for _, sl := range sls {
			if err := sl.Validate(); err != nil {
				t.Fatalf("parsed slice does not validate: %v (%q)", err, body)
			}
			for _, s := range sl.Services {
				if len(s.Endpoints) != 2 || s.L2 == nil || s.L2.VNI < 1<<20 || s.L2.VNI >= 1<<24 {
					t.Fatalf("service %+v from %q", s, body)
				}
			}
		}
	})
}

// FuzzParseL2VPN (REQ-COM-03): the RFC 8466 parsers (vpn-services and
// site-network-accesses bodies) never panic, answer malformed bodies with tagged errors
// and return bounded, well-formed values.
func FuzzParseL2VPN(f *testing.F) {
	for _, s := range []string{
		`{"ietf-l2vpn-svc:vpn-service":[{"vpn-id":"v","vpn-svc-type":"vpws","svc-topo":"any-to-any","customer-name":"osm"}]}`,
		`{"ietf-l2vpn-svc:site-network-access":[{"network-access-id":"a","connection":{"encapsulation-type":"dot1q-vlan-tagged","tagged-interface":{"dot1q-vlan-tagged":{"cvlan-id":10}}},"vpn-attachment":{"vpn-id":"v"},"bearer":{"bearer-reference":"r-1:eth1"}}]}`,
		`{"site-network-accesses":{"site-network-access":[{"site-network-access-id":1,"vpn-attachment":{"vpn-id":"v"},"bearer":{"bearer-reference":"d:i"},"service":{"svc-input-bandwidth":"1e9"}}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if shells, err := ParseVPNServices(body); err != nil {
			checkFieldErr(t, err, body)
		} else {
			for _, s := range shells {
				if s.ID == "" || len(s.Customer) > 256 {
					t.Fatalf("shell %+v from %q", s, body)
				}
			}
		}
		accs, err := ParseAccesses("site", body)
		if err != nil {
			checkFieldErr(t, err, body)
			return
		}
		for _, a := range accs {
			if a.ID == "" || a.VPN == "" || a.Device == "" || a.Interface == "" || strings.Contains(a.Interface, ":") ||
				a.VLAN < 0 || a.VLAN > 4094 || a.Gbps < 0 {
				t.Fatalf("access %+v from %q", a, body)
			}
		}
	})
}
