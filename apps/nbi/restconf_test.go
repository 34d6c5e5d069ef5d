package nbi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// svcEnv is a server over a ring of 6 routers (10 Gb/s, 1 ms links; management
// addresses and underlay labels; nothing is contacted: a fake committer records the
// operations) with flow "gold" r-0 -> r-1 holding a 6 Gb/s SLO, an "osm" user of role
// orchestrator, and the pipeline.
type svcEnv struct {
	*env
	fc  *fakeCommitter
	svc *pipeline.Service
}

func newSvcEnv(t *testing.T, rules ...change.ApprovalRule) *svcEnv {
	t.Helper()
	ctx := context.Background()
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := network.Ring(6)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.Devices {
		n.Devices[i].Address = fmt.Sprintf("127.0.0.1:%d", 20000+i)
		n.Devices[i].Labels = map[string]string{service.LabelUnderlay: fmt.Sprintf("192.0.2.%d", i+1)}
	}
	slo, _ := json.Marshal(change.SLO{MinRateGbps: 6})
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error {
		if _, err := tx.Apply(n); err != nil {
			return err
		}
		if _, err := tx.PutFlow(network.Flow{ID: "gold", Src: "r-0", Dst: "r-1", Path: []string{"r-0--r-1"}, Owner: "bank"}, twin.Upsert, twin.Any); err != nil {
			return err
		}
		_, err := tx.PutRecord(twin.TableServices, twin.Record{ID: "slo:gold", Kind: "flow_slo", Spec: slo}, twin.Upsert, twin.Any)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	sec := testSecurity(t)
	if _, err := sec.auth.CreateUser(ctx, "osm", []auth.Role{auth.Orchestrator}, "correct horse battery osm"); err != nil {
		t.Fatal(err)
	}
	secret, _, err := sec.auth.CreateToken(ctx, "osm", "test", 0)
	if err != nil {
		t.Fatal(err)
	}
	sec.tokens["osm"] = secret
	st, err := repository.Open(ctx, "file:"+filepath.Join(t.TempDir(), "svc.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	fc := &fakeCommitter{commits: map[string]map[string][]change.Op{}, window: map[string]bool{}}
	svc, err := pipeline.New(pipeline.Config{Twins: m, Store: st, Committer: fc, ApprovalRules: rules})
	if err != nil {
		t.Fatal(err)
	}
	o := nbi.Options{Twins: m, Auth: sec.auth, Audit: sec.store.Ledger(), Changes: svc,
		Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))}
	e := &env{t: t, m: m, sec: sec, as: "osm"}
	s, err := nbi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.hs, e.o = s, httptest.NewServer(recordRoutes(s.Handler())), o
	t.Cleanup(func() { e.srv.Close(); e.hs.Close(); m.Close() })
	return &svcEnv{env: e, fc: fc, svc: svc}
}

var autoSlices = change.ApprovalRule{Name: "auto-slices", Kinds: []change.Kind{change.KindSlice, change.KindService},
	Roles: []string{"orchestrator"}, MinMargin: 0.10}

// intended returns a device's intended configuration in the live twin.
func (e *svcEnv) intended(dev string) string {
	e.t.Helper()
	var cfg string
	_ = e.m.Live().View(func(r *twin.Reader) error {
		if c, err := r.DeviceConfig(dev); err == nil {
			cfg = string(c.Config)
		}
		return nil
	})
	return cfg
}

func rcErrors(t *testing.T, r resp) nbi.RestconfError {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != nbi.YANGJSON {
		t.Fatalf("content type %q; want %s (status %d, body %s)", ct, nbi.YANGJSON, r.status, r.body)
	}
	var b nbi.RestconfErrors
	if err := json.Unmarshal(r.body, &b); err != nil || len(b.Errors.Error) != 1 {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	return b.Errors.Error[0]
}

const nsPath = "/restconf/data/ietf-network-slice-service:network-slice-services"

// sliceBody is a TeraFlowSDN-style slice request: two SDPs (r-2 eth9, r-4 eth9), one
// point-to-point group with a construct per direction whose bounds are strings,
// hard isolation.
func sliceBody(id string, mbps, delayMs any, bare bool) string {
	b := func(v any) string { bb, _ := json.Marshal(v); return string(bb) }
	cc := func(n int, s, r string) string {
		return fmt.Sprintf(`{"id": %d, "p2p-sender-sdp": %q, "p2p-receiver-sdp": %q, "service-slo-sle-policy": {"slo-policy": {"metric-bound": [
			{"metric-type": "ietf-network-slice-service:one-way-bandwidth", "metric-unit": "Mbps", "bound": %s},
			{"metric-type": "ietf-network-slice-service:one-way-delay-maximum", "metric-unit": "milliseconds", "bound": %s},
			{"metric-type": "ietf-network-slice-service:two-way-packet-loss", "metric-unit": "percentage", "percentile-value": "0.001"}]}}}`, n, s, r, b(mbps), b(delayMs))
	}
	sl := fmt.Sprintf(`{"id": %q, "description": "demo slice",
		"slo-sle-policy": {"custom": {"service-slo-sle-policy": {"sle-policy": {"isolation": ["ietf-network-slice-service:traffic-isolation"]}}}},
		"sdps": {"sdp": [
			{"id": "1", "node-id": "r-2", "sdp-ip-address": ["10.0.0.1"], "attachment-circuits": {"attachment-circuit": [{"id": "AC1", "ac-node-id": "r-2", "ac-tp-id": "eth9"}]}},
			{"id": "2", "node-id": "r-4", "attachment-circuits": {"attachment-circuit": [{"id": "AC2", "ac-tp-id": "eth9"}]}}]},
		"connection-groups": {"connection-group": [{"id": "line1", "connectivity-type": "point-to-point",
			"connectivity-construct": [%s, %s]}]}}`, id, cc(1, "1", "2"), cc(2, "2", "1"))
	if bare {
		return `{"slice-service": [` + sl + `]}`
	}
	return `{"ietf-network-slice-service:network-slice-services": {"slice-service": [` + sl + `]}}`
}

// TestSliceLifecycle (REQ-SLI-01, REQ-SLI-03, REQ-COM-05): a hard-isolated slice with
// bandwidth and latency SLOs is created through the IETF endpoint by an orchestrator,
// approved by the rule auto-slices (recorded as the approver) and committed; the
// report shows its paths, predicted rates and the effect on the existing flow; the
// devices get the VXLAN/bridge configuration; get, update (PUT) and delete follow, with
// the device operations checked after each step.
func TestSliceLifecycle(t *testing.T) {
	e := newSvcEnv(t, autoSlices)
	// create (bare list, bounds as strings, trailing slash)
	r := e.do("POST", nsPath+"/", sliceBody("s1", "2000", "10", true))
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r.header.Get("X-TwinFlow-Status") != "active" || !strings.HasSuffix(r.header.Get("Location"), "/slice-service=s1") {
		t.Fatalf("create headers %v", r.header)
	}
	chID := r.header.Get("X-TwinFlow-Change")
	c, err := e.svc.Get(context.Background(), chID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Approver != "rule:auto-slices" || c.State != change.StateCommitted {
		t.Fatalf("change %s: state %s approver %q", chID, c.State, c.Approver)
	}
	// the report: paths, predicted rates of the slice's flows, effect on gold
	var paths, rates int
	for _, ch := range c.Report.Checks {
		if ch.Name == "l1.paths" {
			m, _ := ch.Evidence.(map[string]any)
			paths = len(m)
		}
	}
	for _, k := range c.Report.KPIs {
		if k.Name == "rate" && strings.HasPrefix(k.Subject, "s1.c1/") {
			rates++
		}
	}
	if paths != 2 || rates != 2 {
		t.Fatalf("report: %d paths, %d rates; want 2 and 2", paths, rates)
	}
	ops := e.fc.commits[chID]
	for _, dev := range []string{"r-2", "r-4"} {
		var paths []string
		for _, op := range ops[dev] {
			paths = append(paths, string(op.Op)+" "+op.Path)
		}
		if !strings.Contains(strings.Join(paths, ","), "update /interfaces/interface[name=vx") {
			t.Fatalf("%s got %v", dev, paths)
		}
		if !strings.Contains(e.intended(dev), "L2VSI") {
			t.Fatalf("%s intended config lacks the bridge: %s", dev, e.intended(dev))
		}
	}

	// get: the model's terms, with status
	var got map[string][]nbi.NSSlice
	r = e.json("GET", nsPath+"/slice-service=s1", "", 200, &got)
	v := got["ietf-network-slice-service:slice-service"]
	if len(v) != 1 || v[0].TFStatus != "active" || v[0].Status.Oper.Status != "ietf-network-slice-service:op-up" ||
		len(v[0].SDPs.SDP) != 2 || v[0].SDPs.SDP[0].ID != "1" || len(v[0].Groups.Group) != 1 || v[0].Groups.Group[0].ID != "line1" {
		t.Fatalf("get: %s", r.body)
	}
	if !strings.Contains(string(r.body), `"bound":"2000"`) || !strings.Contains(string(r.body), "traffic-isolation") {
		t.Fatalf("get lost the SLOs: %s", r.body)
	}
	var all map[string]map[string][]nbi.NSSlice
	e.json("GET", nsPath, "", 200, &all)
	if len(all["ietf-network-slice-service:network-slice-services"]["slice-service"]) != 1 {
		t.Fatalf("list: %+v", all)
	}
	// native reads
	var recs nbi.ServiceList
	e.json("GET", "/api/v1/twins/live/slices", "", 200, &recs)
	if len(recs.Items) != 1 || recs.Items[0].Status != "active" {
		t.Fatalf("native slices: %+v", recs)
	}
	var rec nbi.ServiceRecord
	e.json("GET", "/api/v1/twins/live/slices/s1", "", 200, &rec)
	var te nbi.TEPathList
	e.json("GET", "/api/v1/twins/live/te/paths?service=s1.c1", "", 200, &te)
	if len(te.Items) != 2 || te.Items[0].SLO == nil || te.Items[0].SLO.Isolation != change.IsolationHard || len(te.Items[0].Path) == 0 {
		t.Fatalf("te paths: %+v", te)
	}

	// create again: data-exists
	r = e.do("POST", nsPath, sliceBody("s1", 2000, 10, false))
	if er := rcErrors(t, r); r.status != 409 || er.Tag != "data-exists" {
		t.Fatalf("duplicate: %d %+v", r.status, er)
	}

	// update: 3 Gb/s, numbers this time
	r = e.do("PUT", nsPath+"/slice-service=s1", sliceBody("s1", 3000, 10.5, false))
	if r.status != 204 {
		t.Fatalf("update: %d %s", r.status, r.body)
	}
	up := e.fc.commits[r.header.Get("X-TwinFlow-Change")]
	var kinds []string
	for _, op := range up["r-2"] {
		kinds = append(kinds, string(op.Op))
	}
	if k := strings.Join(kinds, ","); !strings.HasPrefix(k, "delete") || !strings.Contains(k, "update") {
		t.Fatalf("update ops on r-2: %v", k)
	}
	e.json("GET", "/api/v1/twins/live/te/paths?service=s1.c1", "", 200, &te)
	if len(te.Items) != 2 || te.Items[0].SLO.MinRateGbps != 3 || !strings.Contains(te.Items[0].Flow, "/g2/") {
		t.Fatalf("after update: %+v", te)
	}

	// delete: 204, devices cleaned
	r = e.do("DELETE", nsPath+"/slice-service=s1/", "")
	if r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	del := e.fc.commits[r.header.Get("X-TwinFlow-Change")]
	for _, op := range del["r-4"] {
		if op.Op != change.OpDelete && !strings.Contains(op.Path, "/config") {
			t.Fatalf("delete left a creation on r-4: %+v", op)
		}
	}
	if strings.Contains(e.intended("r-4"), "L2VSI") {
		t.Fatalf("r-4 still holds the bridge: %s", e.intended("r-4"))
	}
	r = e.do("GET", nsPath+"/slice-service=s1", "")
	if er := rcErrors(t, r); r.status != 404 || er.Tag != "invalid-value" {
		t.Fatalf("after delete: %d %+v", r.status, er)
	}
	r = e.do("DELETE", nsPath+"/slice-service=s1", "")
	if r.status != 404 {
		t.Fatalf("delete twice: %d", r.status)
	}
}

// TestSliceRejected (REQ-SLI-04): a hard-isolated slice that would push the existing
// flow gold below its 6 Gb/s SLO on r-0--r-1 is rejected with an RFC 8040 error naming
// the failed check, the flow and its bottleneck link; nothing is stored. A latency SLO
// no path meets is refused as unsatisfiable.
func TestSliceRejected(t *testing.T) {
	e := newSvcEnv(t, autoSlices)
	body := strings.NewReplacer(`"r-2"`, `"r-0"`, `"r-4"`, `"r-1"`).Replace(sliceBody("big", "5000", "10", false))
	r := e.do("POST", nsPath, body)
	er := rcErrors(t, r)
	if r.status != 409 || er.Tag != "resource-denied" || !strings.Contains(er.Message, "gold") || !strings.Contains(er.Message, "r-0--r-1") {
		t.Fatalf("rejected: %d %+v", r.status, er)
	}
	if rip, _ := er.Info["twinflow:ripple"].([]any); len(rip) == 0 {
		t.Fatalf("error-info lacks the violated flow: %+v", er.Info)
	}
	r = e.do("GET", nsPath+"/slice-service=big", "")
	if r.status != 404 {
		t.Fatalf("a rejected slice is visible: %d %s", r.status, r.body)
	}
	r = e.do("POST", nsPath, sliceBody("slow", "100", "0.5", false))
	if er := rcErrors(t, r); r.status != 409 || er.AppTag != "twinflow:unsatisfiable" || !strings.Contains(er.Message, "latency") {
		t.Fatalf("unsatisfiable: %d %+v", r.status, er)
	}
}

// TestSliceWaitsForPerson (REQ-COM-05): without a matching rule the slice's change waits
// for a person: the create answers 201 with status pending-approval, GET shows it
// op-down/pending-approval; once a person approves and an operator commits, it is
// active.
func TestSliceWaitsForPerson(t *testing.T) {
	e := newSvcEnv(t) // no rules
	r := e.do("POST", nsPath, sliceBody("s2", "1000", "10", false))
	if r.status != 201 || r.header.Get("X-TwinFlow-Status") != "pending-approval" {
		t.Fatalf("create: %d %v %s", r.status, r.header, r.body)
	}
	id := r.header.Get("X-TwinFlow-Change")
	var got map[string][]nbi.NSSlice
	e.json("GET", nsPath+"/slice-service=s2", "", 200, &got)
	v := got["ietf-network-slice-service:slice-service"][0]
	if v.TFStatus != "pending-approval" || v.Status.Oper.Status != "ietf-network-slice-service:op-down" || v.TFChange != id {
		t.Fatalf("pending: %+v", v)
	}
	// the orchestrator cannot approve or commit
	if r = e.do("POST", "/api/v1/changes/"+id+"/approve", ""); r.status != 403 {
		t.Fatalf("orchestrator approved: %d", r.status)
	}
	// nor delete what is pending
	if r = e.do("DELETE", nsPath+"/slice-service=s2", ""); r.status != 409 {
		t.Fatalf("delete pending: %d %s", r.status, r.body)
	}
	e.as = "approver"
	e.json("POST", "/api/v1/changes/"+id+"/approve", "", 200, nil)
	e.as = "operator"
	e.json("POST", "/api/v1/changes/"+id+"/commit", "", 200, nil)
	e.as = "osm"
	e.json("GET", nsPath+"/slice-service=s2", "", 200, &got)
	if v := got["ietf-network-slice-service:slice-service"][0]; v.TFStatus != "active" {
		t.Fatalf("after commit: %+v", v)
	}
	// removal without a rule: 202, the slice is pending-removal
	r = e.do("DELETE", nsPath+"/slice-service=s2", "")
	if r.status != 202 || r.header.Get("X-TwinFlow-Status") != "pending-approval" {
		t.Fatalf("delete: %d %v", r.status, r.header)
	}
	e.json("GET", nsPath+"/slice-service=s2", "", 200, &got)
	if v := got["ietf-network-slice-service:slice-service"][0]; v.TFStatus != "pending-removal" {
		t.Fatalf("pending removal: %+v", v)
	}
}

// TestSlicePayloadConformance (REQ-COM-03): required fields, wrong types and unknown
// references are refused with RFC 8040 bodies naming the path; tolerated habits pass.
func TestSlicePayloadConformance(t *testing.T) {
	e := newSvcEnv(t, autoSlices)
	before := e.state()
	cases := []struct {
		name, body, tag, path string
		status                int
	}{
		{"not json", `{"slice-service": [`, "malformed-message", "", 400},
		{"both forms", `{"slice-service": [], "network-slice-services": {"slice-service": []}}`, "malformed-message", "", 400},
		{"no id", strings.Replace(sliceBody("x", 1, 1, true), `"id": "x", `, "", 1), "missing-element", "slice-service[0]/id", 400},
		{"bound not a number", sliceBody("x", "lots", 1, false), "invalid-value", "bound", 400},
		{"bound a bool", sliceBody("x", true, 1, false), "invalid-value", "bound", 400},
		{"sdps a string", `{"slice-service": [{"id": "x", "sdps": "r-1"}]}`, "invalid-value", "sdps", 400},
		{"unknown sdp", strings.Replace(sliceBody("x", 1, 1, false), `"p2p-receiver-sdp": "2"`, `"p2p-receiver-sdp": "9"`, 1), "data-missing", "connectivity-construct[0]", 409},
		{"unknown template", `{"slice-service": [{"id": "x", "slo-sle-policy": {"slo-sle-template": "gold-template"}}]}`, "data-missing", "slo-sle-template", 409},
		{"unknown metric", strings.Replace(sliceBody("x", 1, 1, false), "two-way-packet-loss", "frobs", 1), "invalid-value", "metric-type", 400},
		{"bad unit", strings.Replace(sliceBody("x", 1, 1, false), `"Mbps"`, `"furlongs"`, 1), "invalid-value", "metric-unit", 400},
		{"no ac", `{"slice-service": [{"id": "x", "sdps": {"sdp": [{"id": "1", "node-id": "r-1"}, {"id": "2", "node-id": "r-2"}]}}]}`, "missing-element", "attachment-circuit", 400},
		{"bad id", sliceBody("a:b", 1, 1, false), "invalid-value", "slice-service[0]", 400},
		{"multipoint", strings.Replace(sliceBody("x", 1, 1, false), `"point-to-point"`, `"hub-and-spoke"`, 1), "operation-not-supported", "connectivity-type", 501},
	}
	for _, c := range cases {
		r := e.do("POST", nsPath, c.body)
		er := rcErrors(t, r)
		if r.status != c.status || er.Tag != c.tag || !strings.Contains(er.Path, c.path) {
			t.Errorf("%s: %d %+v; want %d %s at %s", c.name, r.status, er, c.status, c.tag, c.path)
		}
	}
	// wrong media type
	r := e.do("POST", nsPath, sliceBody("x", 1, 1, false), "Content-Type", "text/plain")
	if r.status != 415 {
		t.Fatalf("text/plain: %d", r.status)
	}
	// PUT whose body names another slice
	r = e.do("PUT", nsPath+"/slice-service=other", sliceBody("x", 1, 1, false))
	if er := rcErrors(t, r); r.status != 400 || er.Path != "slice-service/id" {
		t.Fatalf("put mismatch: %d %+v", r.status, er)
	}
	if e.state() != before {
		t.Fatal("a refused request changed the twin")
	}
	// a viewer may not create
	e.as = "viewer"
	if r = e.do("POST", nsPath, sliceBody("x", 1, 1, false)); r.status != 403 {
		t.Fatalf("viewer created: %d", r.status)
	}
	// tolerated: two SDPs and no connection group; the urllc template by name; PUT creates
	e.as = "osm"
	tol := `{"network-slice-services": {"slice-service": [{"id": "t1", "slo-sle-policy": {"standard": {"slo-sle-template": "eMBB-template"}},
		"sdps": {"sdp": [{"id": 1, "attachment-circuits": {"attachment-circuit": [{"id": 1, "ac-node-id": "r-2", "ac-tp-id": "eth8"}]}},
		{"id": 2, "attachment-circuits": {"attachment-circuit": [{"id": 2, "ac-node-id": "r-5", "ac-tp-id": "eth8"}]}}]}}]}}`
	sls, err := nbi.ParseSliceServices([]byte(tol))
	if err != nil || len(sls) != 1 || sls[0].Template != service.EMBB || len(sls[0].Services) != 1 || sls[0].Services[0].Endpoints[1].Device != "r-5" {
		t.Fatalf("tolerated: %v %+v", err, sls)
	}
	r = e.do("PUT", nsPath+"/slice-service=t1", strings.Replace(tol, `"network-slice-services"`, `"ietf-network-slice-service:network-slice-services"`, 1))
	if r.status != 201 {
		t.Fatalf("put create: %d %s", r.status, r.body)
	}
}

// TestNativeServiceChanges (REQ-SERV-01, REQ-SLI-05): a slice change carrying only its
// intent is compiled by the server against the live twin (create, then delete by id),
// validated, approved by a person, committed; the native reads show the record.
func TestNativeServiceChanges(t *testing.T) {
	e := newSvcEnv(t)
	e.as = "alice" // engineer + operator
	spec := `{"id": "n1", "constraints": {"capacity_gbps": 1, "max_latency_ms": 5},
		"services": [{"id": "w", "type": "l2vpn", "l2": {"vni": 4242}, "endpoints": [{"device": "r-2", "interface": "eth6"}, {"device": "r-3", "interface": "eth6"}]}]}`
	var c pipeline.Change
	e.json("POST", "/api/v1/changes", `{"kind": "slice", "label": "native", "intents": [{"type": "slice", "name": "n1", "spec": `+spec+`}]}`, 201, &c)
	if c.State != change.StateValidated || len(c.ChangeSet.DeviceOps["r-2"]) == 0 || len(c.ChangeSet.Twin.AddFlows) != 2 || c.ChangeSet.Label != "native" {
		t.Fatalf("compiled: %+v", c.ChangeSet)
	}
	e.as = "carla"
	e.json("POST", "/api/v1/changes/"+c.ID+"/approve", "", 200, nil)
	e.as = "alice"
	e.json("POST", "/api/v1/changes/"+c.ID+"/commit", "", 200, nil)
	var rec nbi.ServiceRecord
	e.json("GET", "/api/v1/twins/live/slices/n1", "", 200, &rec)
	if rec.Status != "active" || rec.Kind != "slice" {
		t.Fatalf("record %+v", rec)
	}
	var list nbi.ServiceList
	e.json("GET", "/api/v1/twins/live/services", "", 200, &list)
	for _, it := range list.Items {
		if strings.HasPrefix(it.ID, "slo:") {
			t.Fatalf("flow SLO record listed as a service: %+v", it)
		}
	}
	if r := e.do("GET", "/api/v1/twins/live/services/nope", ""); r.status != 404 {
		t.Fatalf("missing service: %d", r.status)
	}
	// a malformed spec is refused naming the problem, nothing stored
	r := e.do("POST", "/api/v1/changes", `{"kind": "slice", "intents": [{"type": "slice", "name": "n2", "spec": {"id": "n2", "services": []}}]}`)
	if p := problem(t, r); r.status != 422 || !strings.Contains(p.Detail, "services") {
		t.Fatalf("bad spec: %d %+v", r.status, p)
	}
	// delete by id
	e.json("POST", "/api/v1/changes", `{"kind": "slice", "intents": [{"type": "slice.delete", "name": "n1", "spec": {"id": "n1"}}]}`, 201, &c)
	if c.State != change.StateValidated || len(c.ChangeSet.Twin.RemoveFlows) != 2 {
		t.Fatalf("delete compiled: %+v", c.ChangeSet)
	}
}

// TestServiceEventsOnSSE (REQ-MON-06..08): the existing SSE stream carries the slice's
// lifecycle (create with its paths, status sla-violated when telemetry shows both
// directions' path down, active again once the link is back, remove) under table
// service_events; GET shows the sla-violated status.
func TestServiceEventsOnSSE(t *testing.T) {
	e := newSvcEnv(t, autoSlices)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.hs.URL+"/api/v1/events?table=service_events", nil)
	req.Header.Set("Authorization", bearer(e.sec.tokens["osm"]))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	if r := e.do("POST", nsPath, sliceBody("s1", "1000", "10", false)); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	event := func(ev sse) pipeline.ServiceEvent {
		var te struct {
			Table  string                `json:"table"`
			Object pipeline.ServiceEvent `json:"object"`
		}
		if err := json.Unmarshal([]byte(ev.data), &te); err != nil || te.Table != "service_events" {
			t.Fatalf("event %+v: %v", ev, err)
		}
		return te.Object
	}
	evs := readSSE(t, sc, 1)
	if ev := event(evs[0]); evs[0].name != "create" || ev.ID != "s1" || ev.Kind != "slices" || ev.Status != "active" || len(ev.Paths) != 2 {
		t.Fatalf("create event %s %+v", evs[0].name, ev)
	}
	// telemetry: r-2--r-3 (on the slice's path) down
	var te nbi.TEPathList
	e.json("GET", "/api/v1/twins/live/te/paths?service=s1.c1", "", 200, &te)
	link := strings.TrimSuffix(te.Items[0].Path[0], "~r")
	if err := e.m.Live().ObserveLink(ctx, link, twin.LinkState{OperStatus: network.StatusDisabled}); err != nil {
		t.Fatal(err)
	}
	moved, err := e.svc.CheckSLAs(ctx)
	if err != nil || len(moved) != 1 || moved[0].Status != "sla-violated" || !strings.Contains(strings.Join(moved[0].Reasons, ";"), link+" is down") {
		t.Fatalf("check: %v %+v", err, moved)
	}
	evs = readSSE(t, sc, 1)
	if ev := event(evs[0]); evs[0].name != "update" || ev.Event != "status" || ev.Status != "sla-violated" || ev.From != "active" {
		t.Fatalf("status event %s %+v", evs[0].name, ev)
	}
	var got map[string][]nbi.NSSlice
	e.json("GET", nsPath+"/slice-service=s1", "", 200, &got)
	if v := got["ietf-network-slice-service:slice-service"][0]; v.TFStatus != "sla-violated" {
		t.Fatalf("get: %+v", v)
	}
	if again, _ := e.svc.CheckSLAs(ctx); len(again) != 0 {
		t.Fatalf("a second check moved %+v", again)
	}
	if err := e.m.Live().ObserveLink(ctx, link, twin.LinkState{OperStatus: network.StatusEnabled}); err != nil {
		t.Fatal(err)
	}
	if moved, err = e.svc.CheckSLAs(ctx); err != nil || len(moved) != 1 || moved[0].Status != "active" {
		t.Fatalf("recovery: %v %+v", err, moved)
	}
	evs = readSSE(t, sc, 1)
	if ev := event(evs[0]); ev.Status != "active" || ev.From != "sla-violated" {
		t.Fatalf("recovery event %+v", ev)
	}
	if r := e.do("DELETE", nsPath+"/slice-service=s1", ""); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	evs = readSSE(t, sc, 1)
	if ev := event(evs[0]); evs[0].name != "remove" || ev.Event != "remove" || ev.ID != "s1" {
		t.Fatalf("remove event %s %+v", evs[0].name, ev)
	}
}
