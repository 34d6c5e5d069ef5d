package nbi_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/closedloop"
	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// REQ-POL-01..04: rules through the API: an engineer writes, an operator activates;
// malformed rules are refused naming the field and nothing is stored.
func TestPolicyAPI(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	if r := e.do("GET", "/api/v1/policies", ""); r.status != 503 {
		t.Fatalf("no engine: %d", r.status)
	}
	st, err := repository.Open(context.Background(), "file:"+filepath.Join(t.TempDir(), "p.db"), repository.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	svc, err := pipeline.New(pipeline.Config{Twins: e.m, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := closedloop.NewEngine(closedloop.EngineConfig{Twins: e.m, Pipeline: svc})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := closedloop.NewRestorer(closedloop.RestorerConfig{Twins: e.m, Pipeline: svc})
	if err != nil {
		t.Fatal(err)
	}
	o := e.o
	o.Policies, o.Restorer = eng, rs
	e.serve(o)

	e.as = "engineer"
	r := e.do("POST", "/api/v1/policies", `{"id":"cap","limits":[{"type":"max-link-utilisation","percent":170}]}`)
	if p := problem(t, r); r.status != 422 || !strings.Contains(p.Detail, "limits[0].percent") {
		t.Fatalf("invalid: %d %+v", r.status, p)
	}
	r = e.do("POST", "/api/v1/policies", `{"id":"cap","state":"active","limits":[{"type":"max-link-utilisation","percent":70}]}`)
	if r.status != 422 {
		t.Fatalf("created active: %d %s", r.status, r.body)
	}
	var list nbi.PolicyList
	e.json("GET", "/api/v1/policies", "", 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("refused rules stored: %+v", list.Items)
	}
	var sr closedloop.StoredRule
	e.json("POST", "/api/v1/policies", "id: cap\nlimits: [{type: max-link-utilisation, percent: 70}]\n", 201, &sr)
	if sr.State != policy.StatePlanned {
		t.Fatalf("created %+v", sr)
	}
	if r := e.do("POST", "/api/v1/policies/cap/state", `{"state":"active"}`); r.status != 403 {
		t.Fatalf("engineer activated: %d", r.status)
	}
	e.as = "operator"
	e.json("POST", "/api/v1/policies/cap/state", `{"state":"active"}`, 200, &sr)
	if sr.State != policy.StateActive || sr.ActivatedAt == nil {
		t.Fatalf("activated %+v", sr)
	}
	e.as = "engineer"
	if r := e.do("DELETE", "/api/v1/policies/cap", ""); r.status != 409 {
		t.Fatalf("deleted an active rule: %d", r.status)
	}
	e.json("PUT", "/api/v1/policies/cap", `{"id":"cap","limits":[{"type":"max-link-utilisation","percent":60}]}`, 200, &sr)
	if sr.State != policy.StateActive || sr.Limits[0].Percent != 60 {
		t.Fatalf("put %+v", sr)
	}
	e.as = "operator"
	var rest closedloop.Restoration
	e.json("POST", "/api/v1/restorations", `{"failed_links":["bogus\u0000"]}`, 400, nil)
	e.json("POST", "/api/v1/restorations", `{"failed_links":["no-such-link"]}`, 422, nil)
	e.json("POST", "/api/v1/restorations", "", 201, &rest)
	if rest.Outcome != closedloop.OutcomeNothing || len(rest.Steps) == 0 {
		t.Fatalf("restore %+v", rest)
	}
	var rl nbi.RestorationList
	e.json("GET", "/api/v1/restorations", "", 200, &rl)
	if len(rl.Items) != 1 {
		t.Fatalf("restorations %+v", rl)
	}
}
