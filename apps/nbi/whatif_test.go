package nbi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/apps/whatif"
)

func waitJob(t *testing.T, e *env, path string) nbi.Job {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var j nbi.Job
		e.json("GET", path, "", 200, &j)
		if j.State != nbi.JobQueued && j.State != nbi.JobRunning {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s", path, j.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWhatifAPI (issue #18 item 2): POST /api/v1/whatif starts a background job on
// the live twin; its status shows progress, its result is the report (JSON or SVG),
// DELETE forgets it; malformed requests are refused with the field and nothing runs.
func TestWhatifAPI(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	body := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	scenario := "name: api\ncases:\n  - name: new flow\n    perturbations:\n      add_flows: [{id: x1, src: leaf-0, dst: leaf-1, demand_gbps: 1}]\nsweeps: {n1: true}\n"
	for _, c := range []struct {
		body  string
		code  int
		field string
	}{
		{`{}`, 400, "scenario"},
		{`{"scenario":"sweeps: {n1: maybe}"}`, 422, "scenario"},
		{`{"scenario":"sweeps: {n1: true}","bogus":1}`, 400, ""},
		{body(nbi.WhatifRequest{Scenario: scenario, Twin: "live", Snapshot: "s1"}), 400, "snapshot"},
		{body(nbi.WhatifRequest{Scenario: scenario, Twin: "fork-99"}), 404, "twin"},
		{body(nbi.WhatifRequest{Scenario: scenario, Snapshot: "s1"}), 503, "snapshot"}, // no repository
		{body(nbi.WhatifRequest{Scenario: scenario, Snapshot: "../x"}), 400, "snapshot"},
		{body(nbi.WhatifRequest{Scenario: scenario, Twin: "a\x00b"}), 400, "twin"},
		{body(nbi.WhatifRequest{Scenario: strings.Repeat("#", 9<<20)}), 413, ""},
	} {
		r := e.do("POST", "/api/v1/whatif", c.body)
		if r.status != c.code || c.field != "" && problem(t, r).Field != c.field {
			t.Errorf("POST %s: %d %s; want %d field %q", c.body, r.status, r.body, c.code, c.field)
		}
	}
	var list nbi.JobList
	e.json("GET", "/api/v1/whatif", "", 200, &list)
	if len(list.Items) != 0 {
		t.Fatalf("refused requests started jobs: %+v", list.Items)
	}
	if r := e.do("POST", "/api/v1/whatif", body(nbi.WhatifRequest{Scenario: scenario}), "Authorization", bearer(e.sec.tokens["carla"])); r.status != 403 {
		t.Fatalf("an approver runs a what-if: %d", r.status)
	}

	var j nbi.Job
	r := e.json("POST", "/api/v1/whatif", body(nbi.WhatifRequest{Scenario: scenario}), 202, &j)
	if j.State != nbi.JobQueued || j.Kind != "whatif" || j.Owner != "admin" || !strings.HasPrefix(j.Source, "twin:live@") || r.header.Get("Location") != "/api/v1/whatif/"+j.ID {
		t.Fatalf("created %+v %v", j, r.header)
	}
	if r := e.do("GET", "/api/v1/whatif/"+j.ID+"/result?format=png", ""); r.status != 400 {
		t.Fatalf("bad format: %d", r.status)
	}
	done := waitJob(t, e, "/api/v1/whatif/"+j.ID)
	if done.State != nbi.JobSucceeded || done.Total == 0 || done.Done != done.Total || done.Progress != 1 {
		t.Fatalf("finished %+v", done)
	}
	var rep whatif.Report
	e.json("GET", "/api/v1/whatif/"+j.ID+"/result", "", 200, &rep)
	if rep.Scenario != "api" || len(rep.Cases) != done.Total || rep.Cases[0].Name != "new flow" || len(rep.Criticality) == 0 {
		t.Fatalf("report %+v", rep)
	}
	svg := e.do("GET", "/api/v1/whatif/"+j.ID+"/result?format=svg", "")
	if svg.status != 200 || svg.header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(svg.body), "<svg") {
		t.Fatalf("svg: %d %s", svg.status, svg.header)
	}
	e.json("GET", "/api/v1/whatif", "", 200, &list)
	if len(list.Items) != 1 || list.Items[0].ID != j.ID {
		t.Fatalf("list %+v", list.Items)
	}
	e.json("DELETE", "/api/v1/whatif/"+j.ID, "", 200, nil)
	if r := e.do("GET", "/api/v1/whatif/"+j.ID, ""); r.status != 404 {
		t.Fatalf("a deleted job: %d", r.status)
	}
	if r := e.do("GET", "/api/v1/whatif/"+j.ID+"/result", ""); r.status != 404 {
		t.Fatalf("a deleted job's result: %d", r.status)
	}
}
