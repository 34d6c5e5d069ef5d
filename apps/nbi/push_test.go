package nbi_test

import (
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// TestPushAPI (issue #18 item 4): the push policy is set by an admin and refused when
// malformed (nothing stored); a raw-config change under a policy that requires a
// certification gets 409 "uncertified" with the reason and stays approved; the
// server records a certification from its own validation report, after which the
// commit goes through.
func TestPushAPI(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	fc, _ := attachPipeline(t, e)
	alice := []string{"Authorization", bearer(e.sec.tokens["alice"])}
	carla := []string{"Authorization", bearer(e.sec.tokens["carla"])}

	var doc nbi.PushPolicyDoc
	e.json("GET", "/api/v1/push-policy", "", 200, &doc)
	if doc.Version != 0 || doc.Policy == nil {
		t.Fatalf("no policy set: %+v", doc)
	}
	for body, want := range map[string]int{
		`{}`:                                    400, // no policy
		`{"policy":{"stages":["x"]}}`:           422, // undefined group
		`{"policy":{"outside_window":"later"}}`: 422,
		`{"policy":{},"if_version":-1}`:         400,
		`{"policy":{"bogus":1}}`:                400, // unknown field
		`{"policy":{"maintenance_windows":[{"start":"9","end":"10:00"}]}}`: 422,
		`[`: 400,
	} {
		if r := e.do("PUT", "/api/v1/push-policy", body); r.status != want {
			t.Errorf("PUT %s: %d; want %d (%s)", body, r.status, want, r.body)
		}
	}
	e.json("GET", "/api/v1/push-policy", "", 200, &doc)
	if doc.Version != 0 {
		t.Fatalf("a refused policy was stored: %+v", doc)
	}
	if r := e.do("PUT", "/api/v1/push-policy", `{"policy":{}}`, alice...); r.status != 403 {
		t.Fatalf("engineer setting the policy: %d", r.status)
	}
	e.json("PUT", "/api/v1/push-policy", `{"policy":{"require_certification":{"kinds":["raw-config"]}}}`, 200, &doc)
	if doc.Version != 1 || doc.Actor != "admin" || doc.Policy.RequireCertification == nil {
		t.Fatalf("set: %+v", doc)
	}
	if r := e.do("PUT", "/api/v1/push-policy", `{"policy":{},"if_version":7}`); r.status != 409 {
		t.Fatalf("stale if_version: %d %s", r.status, r.body)
	}

	var c pipeline.Change
	e.json("POST", "/api/v1/changes", mtuChangeJSON, 201, &c, alice...)
	e.json("POST", "/api/v1/changes/"+c.ID+"/approve", "", 200, &c, carla...)
	r := e.do("POST", "/api/v1/changes/"+c.ID+"/commit", "", alice...)
	if p := problem(t, r); r.status != 409 || p.Type != "https://twinflow.dev/problems/uncertified" || !strings.Contains(p.Detail, "raw-config") {
		t.Fatalf("uncertified commit: %d %s", r.status, r.body)
	}
	if len(fc.commits) != 0 {
		t.Fatal("a refused commit reached the committer")
	}
	var plan pipeline.PushPlan
	e.json("GET", "/api/v1/changes/"+c.ID+"/push-plan", "", 200, &plan)
	if plan.Allowed || !plan.CertificationRequired || plan.Certification != "" || plan.PolicyVersion != 1 {
		t.Fatalf("plan: %+v", plan)
	}
	if r := e.do("GET", "/api/v1/changes/nope/push-plan", ""); r.status != 404 {
		t.Fatalf("plan of an unknown change: %d", r.status)
	}
	if r := e.do("POST", "/api/v1/changes/"+c.ID+"/certification", `{"report":"forged"}`, alice...); r.status != 400 {
		t.Fatalf("a client-sent report: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/changes/"+c.ID+"/certification", "", carla...); r.status != 403 {
		t.Fatalf("an approver certifying: %d", r.status)
	}
	var cert nbi.CertificationResult
	e.json("POST", "/api/v1/changes/"+c.ID+"/certification", "", 201, &cert, alice...)
	if !cert.Passed || cert.Certification.Verdict != "pass" || len(cert.ContentHash) != 64 || !strings.Contains(cert.Markdown, c.ID) {
		t.Fatalf("certification: %+v", cert)
	}
	e.json("GET", "/api/v1/changes/"+c.ID+"/push-plan", "", 200, &plan)
	if !plan.Allowed || plan.Certification != cert.Certification.ID {
		t.Fatalf("plan after certification: %+v", plan)
	}
	e.json("POST", "/api/v1/changes/"+c.ID+"/commit", "", 200, &c, alice...)
	if c.State != change.StateCommitted {
		t.Fatalf("certified commit: %s", c.State)
	}
	// a committed change is not certified again
	if r := e.do("POST", "/api/v1/changes/"+c.ID+"/certification", "", alice...); r.status != 409 {
		t.Fatalf("certifying a committed change: %d", r.status)
	}
}
