package nbi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/change"
)

const l2Path = "/restconf/data/ietf-l2vpn-svc:l2vpn-svc"

// osmAccess is a site-network-access as an NFV orchestrator's WIM connector sends it:
// network-access-id (not site-network-access-id), dot1q-vlan-tagged with cvlan-id, the
// bearer-reference "<device>:<interface>", and no other field RFC 8466 makes mandatory.
func osmAccess(id, vpn, bearer string, vlan int) string {
	return fmt.Sprintf(`{"ietf-l2vpn-svc:site-network-access": [{"network-access-id": %q,
		"connection": {"encapsulation-type": "dot1q-vlan-tagged", "tagged-interface": {"dot1q-vlan-tagged": {"cvlan-id": %d}}},
		"vpn-attachment": {"vpn-id": %q, "site-role": "any-to-any-role"},
		"service": {"svc-input-bandwidth": "1000000000", "svc-output-bandwidth": 1000000000},
		"bearer": {"bearer-reference": %q}}]}`, id, vlan, vpn, bearer)
}

// TestL2VPNLifecycle (REQ-COM-01..05, REQ-SERV-01): the WIM connector's calls — create
// the vpn-service (201), attach two site-network-accesses (201; the second realises the
// L2VPN through the pipeline, approved by the rule and committed), poll (200), edit an
// access (PUT, 204), delete (204) — with trailing slashes, and the devices' operations
// checked after each step.
func TestL2VPNLifecycle(t *testing.T) {
	e := newSvcEnv(t, autoSlices)
	vpn := "5b0d3c1e-0000-4000-8000-000000000001"
	r := e.do("POST", l2Path+"/vpn-services", `{"ietf-l2vpn-svc:vpn-service": [{"vpn-id": "`+vpn+`", "vpn-svc-type": "vpws", "svc-topo": "any-to-any", "customer-name": "osm"}]}`)
	if r.status != 201 {
		t.Fatalf("create vpn: %d %s", r.status, r.body)
	}
	var got map[string][]nbi.L2VPNService
	e.json("GET", l2Path+"/vpn-services/vpn-service="+vpn+"/", "", 200, &got)
	if v := got["ietf-l2vpn-svc:vpn-service"]; len(v) != 1 || v[0].TFStatus != "planned" {
		t.Fatalf("poll empty vpn: %+v", got)
	}
	// first end: stored, nothing committed
	r = e.do("POST", l2Path+"/sites/site=dc1/site-network-accesses/", osmAccess("a1", vpn, "r-2:eth7", 100))
	if r.status != 201 || len(e.fc.commits) != 0 {
		t.Fatalf("first access: %d %s (commits %d)", r.status, r.body, len(e.fc.commits))
	}
	// second end: the L2VPN is proposed, approved by rule, committed
	r = e.do("POST", l2Path+"/sites/site=dc2/site-network-accesses/", osmAccess("a2", vpn, "r-4:eth7", 100))
	if r.status != 201 || r.header.Get("X-TwinFlow-Status") != "active" {
		t.Fatalf("second access: %d %v %s", r.status, r.header, r.body)
	}
	c, err := e.svc.Get(context.Background(), r.header.Get("X-TwinFlow-Change"))
	if err != nil || c.Approver != "rule:auto-slices" || c.ChangeSet.Kind != change.KindService {
		t.Fatalf("change: %v %+v", err, c)
	}
	ops := e.fc.commits[c.ID]
	for _, dev := range []string{"r-2", "r-4"} {
		joined := ""
		for _, op := range ops[dev] {
			joined += string(op.Op) + " " + op.Path + ";"
		}
		if !strings.Contains(joined, "update /interfaces/interface[name=eth7]") || !strings.Contains(joined, "update /network-instances/network-instance[name=bd") {
			t.Fatalf("%s ops: %s", dev, joined)
		}
	}
	e.json("GET", l2Path+"/vpn-services/vpn-service="+vpn, "", 200, &got)
	v := got["ietf-l2vpn-svc:vpn-service"][0]
	if v.TFStatus != "active" || len(v.Accesses) != 2 || v.Accesses[1].Bearer.Reference != "r-4:eth7" || v.Accesses[0].Site != "dc1" {
		t.Fatalf("poll: %+v", v)
	}
	var list map[string]nbi.L2VPNServices
	e.json("GET", l2Path+"/vpn-services", "", 200, &list)
	if len(list["ietf-l2vpn-svc:vpn-services"].Service) != 1 {
		t.Fatalf("list: %+v", list)
	}
	// a third end: point-to-point only
	r = e.do("POST", l2Path+"/sites/site=dc3/site-network-accesses", osmAccess("a3", vpn, "r-5:eth7", 100))
	if er := rcErrors(t, r); r.status != 501 || er.Tag != "operation-not-supported" {
		t.Fatalf("third access: %d %+v", r.status, er)
	}
	// edit: the second end moves to r-5 (PUT replaces the access with the same ID)
	r = e.do("PUT", l2Path+"/sites/site=dc2/site-network-accesses/", osmAccess("a2", vpn, "r-5:eth7", 100))
	if r.status != 204 {
		t.Fatalf("edit: %d %s", r.status, r.body)
	}
	up := e.fc.commits[r.header.Get("X-TwinFlow-Change")]
	if len(up["r-4"]) == 0 || up["r-4"][0].Op != change.OpDelete || len(up["r-5"]) == 0 {
		t.Fatalf("edit ops: r-4 %v r-5 %d", up["r-4"], len(up["r-5"]))
	}
	// delete: 204, devices cleaned
	r = e.do("DELETE", l2Path+"/vpn-services/vpn-service="+vpn+"/", "")
	if r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	for _, op := range e.fc.commits[r.header.Get("X-TwinFlow-Change")]["r-5"] {
		if op.Op != change.OpDelete && strings.Contains(op.Path, "network-instance") {
			t.Fatalf("delete created %+v", op)
		}
	}
	if strings.Contains(e.intended("r-5"), "L2VSI") {
		t.Fatalf("r-5 keeps the bridge")
	}
	if r = e.do("GET", l2Path+"/vpn-services/vpn-service="+vpn, ""); r.status != 404 {
		t.Fatalf("after delete: %d", r.status)
	}
	if r = e.do("DELETE", l2Path+"/vpn-services/vpn-service="+vpn, ""); r.status != 404 {
		t.Fatalf("delete twice: %d", r.status)
	}
	// an empty VPN is deleted without a change
	e.json("POST", l2Path+"/vpn-services", `{"vpn-service": [{"vpn-id": "v2"}]}`, 201, nil)
	if r = e.do("DELETE", l2Path+"/vpn-services/vpn-service=v2", ""); r.status != 204 {
		t.Fatalf("delete empty: %d", r.status)
	}
}

// TestL2VPNPayloadConformance (REQ-COM-03): required fields, wrong types, unknown
// references and duplicates are refused with RFC 8040 bodies; tolerated habits pass.
func TestL2VPNPayloadConformance(t *testing.T) {
	e := newSvcEnv(t, autoSlices)
	before := e.state()
	cases := []struct {
		name, path, body, tag, epath string
		status                       int
	}{
		{"no vpn-id", "/vpn-services", `{"ietf-l2vpn-svc:vpn-service": [{"vpn-svc-type": "vpws"}]}`, "missing-element", "vpn-id", 400},
		{"vpn-id object", "/vpn-services", `{"ietf-l2vpn-svc:vpn-service": [{"vpn-id": {}}]}`, "invalid-value", "vpn-id", 400},
		{"bad vpn-id", "/vpn-services", `{"ietf-l2vpn-svc:vpn-service": [{"vpn-id": "a b"}]}`, "invalid-value", "vpn-id", 400},
		{"evpn", "/vpn-services", `{"ietf-l2vpn-svc:vpn-service": [{"vpn-id": "x", "vpn-svc-type": "evpn-bgp"}]}`, "operation-not-supported", "vpn-svc-type", 501},
		{"empty list", "/vpn-services", `{"ietf-l2vpn-svc:vpn-service": []}`, "missing-element", "vpn-service", 400},
		{"unknown vpn", "/sites/site=s/site-network-accesses", osmAccess("a", "nope", "r-1:eth7", 10), "data-missing", "vpn-id", 409},
		{"no bearer", "/sites/site=s/site-network-accesses", `{"site-network-access": [{"site-network-access-id": "a", "vpn-attachment": {"vpn-id": "x"}}]}`, "missing-element", "bearer-reference", 400},
		{"bad bearer", "/sites/site=s/site-network-accesses", strings.Replace(osmAccess("a", "x", "r-1:eth7", 5), "r-1:eth7", "r-1", 1), "invalid-value", "bearer-reference", 400},
		{"no vlan", "/sites/site=s/site-network-accesses", strings.Replace(osmAccess("a", "x", "r-1:eth7", 5), `"cvlan-id": 5`, `"x": 5`, 1), "missing-element", "cvlan-id", 400},
		{"vlan 5000", "/sites/site=s/site-network-accesses", osmAccess("a", "x", "r-1:eth7", 5000), "invalid-value", "cvlan-id", 400},
		{"bandwidth bool", "/sites/site=s/site-network-accesses", strings.Replace(osmAccess("a", "x", "r-1:eth7", 5), `"1000000000",`, `true,`, 1), "invalid-value", "svc-input-bandwidth", 400},
		{"qinq", "/sites/site=s/site-network-accesses", strings.Replace(osmAccess("a", "x", "r-1:eth7", 5), "dot1q-vlan-tagged\",", "qinq\",", 1), "operation-not-supported", "encapsulation-type", 501},
	}
	for _, c := range cases {
		r := e.do("POST", l2Path+c.path, c.body)
		er := rcErrors(t, r)
		if r.status != c.status || er.Tag != c.tag || !strings.Contains(er.Path, c.epath) {
			t.Errorf("%s: %d %+v; want %d %s at %s", c.name, r.status, er, c.status, c.tag, c.epath)
		}
	}
	e.json("POST", l2Path+"/vpn-services", `{"ietf-l2vpn-svc:vpn-services": {"vpn-service": [{"vpn-id": "dup"}]}}`, 201, nil)
	r := e.do("POST", l2Path+"/vpn-services", `{"ietf-l2vpn-svc:vpn-service": [{"vpn-id": "dup"}]}`)
	if er := rcErrors(t, r); r.status != 409 || er.Tag != "data-exists" {
		t.Fatalf("duplicate: %d %+v", r.status, er)
	}
	e.json("POST", l2Path+"/sites/site=s/site-network-accesses", osmAccess("a", "dup", "r-1:eth7", 7), 201, nil)
	r = e.do("POST", l2Path+"/sites/site=s/site-network-accesses", osmAccess("a", "dup", "r-1:eth7", 7))
	if er := rcErrors(t, r); r.status != 409 || er.Tag != "data-exists" {
		t.Fatalf("duplicate access: %d %+v", r.status, er)
	}
	// the parser tolerates RFC 8466's own names too
	acc, err := nbi.ParseAccesses("s", []byte(`{"ietf-l2vpn-svc:site-network-accesses": {"site-network-access": [{"site-network-access-id": 7,
		"vpn-attachment": {"vpn-id": "v"}, "bearer": {"bearer-reference": "r-1:eth7"}, "connection": {"encapsulation-type": "ietf-l2vpn-svc:ethernet-type"}}]}}`))
	if err != nil || len(acc) != 1 || acc[0].ID != "7" || acc[0].VLAN != 0 {
		t.Fatalf("rfc names: %v %+v", err, acc)
	}
	if e.state() != before {
		t.Fatal("a refused request changed the twin")
	}
}
