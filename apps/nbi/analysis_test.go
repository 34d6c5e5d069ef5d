package nbi_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/twin"
)

// graphResp is the v2 report (bottleneck.Report): links once, flows referring to
// them by index.
type graphResp = bottleneck.Report

// names maps link indices of a report to their IDs.
func names(g *graphResp, idx []int) []string {
	var out []string
	for _, i := range idx {
		out = append(out, g.Links[i].ID)
	}
	return out
}

func TestAnalysisBottleneckDemands(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	body := `{"demands":[{"id":"a","src":"h-0-0","dst":"h-1-0"},{"id":"b","src":"h-0-0","dst":"h-1-0","gbps":5},{"src":"h-1-0","dst":"h-0-0"}]}`
	var g graphResp
	e.json("POST", "/api/v1/twins/live/analysis/bottleneck", body, 200, &g)
	rates := map[string]float64{}
	bn := map[string]string{}
	for _, f := range g.Flows {
		rates[f.ID] = f.Rate
		bn[f.ID] = strings.Join(names(&g, f.Bottlenecks), ",")
		if len(f.Path) != 4 {
			t.Errorf("%s: path %v; want 4 directed links host-leaf-spine-leaf-host", f.ID, f.Path)
		}
	}
	// host links are 25 Gb/s: b is shaped to 5, a gets the remaining 20, tm-2 the reverse 25
	if rates["a"] != 20 || rates["b"] != 5 || rates["tm-2"] != 25 {
		t.Errorf("rates %v; want a=20 b=5 tm-2=25", rates)
	}
	if g.Schema != bottleneck.ReportSchema || bn["b"] != "demand:b" || bn["a"] == "" || strings.Contains(bn["a"], "demand") {
		t.Errorf("bottlenecks %v", bn)
	}
	// PGG merges a and b? No: b's demand cap is its own vertex; only identical structures merge.
	var p graphResp
	e.json("POST", "/api/v1/twins/live/analysis/bottleneck", `{"graph":"pgg","demands":[{"id":"x","src":"h-0-0","dst":"h-1-0"},{"id":"y","src":"h-0-0","dst":"h-1-0"}]}`, 200, &p)
	if len(p.Flows) != 1 || len(p.Flows[0].Members) != 2 || math.Abs(p.Flows[0].Rate-12.5) > 1e-9 {
		t.Errorf("pgg: %+v", p.Flows)
	}
}

func TestAnalysisTwinFlowsAndFork(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	// a fork gets two flows with explicit paths; the live twin stays without flows
	fork, err := e.m.Fork(context.Background(), twin.LiveID)
	if err != nil {
		t.Fatal(err)
	}
	var n *network.Network
	_ = fork.View(func(rd *twin.Reader) error { n = rd.Network(); return nil })
	g, err := routing.NewGraph(n)
	if err != nil {
		t.Fatal(err)
	}
	p, err := g.Shortest("h-0-0", "h-1-0", routing.Options{Metric: routing.Latency})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fork.Update(context.Background(), func(tx *twin.Txn) error {
		for _, id := range []string{"f1", "f2"} {
			if _, err := tx.PutFlow(network.Flow{ID: id, Src: "h-0-0", Dst: "h-1-0", Path: p.Links}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var gr graphResp
	e.json("POST", "/api/v1/twins/"+fork.ID()+"/analysis/bottleneck", `{}`, 200, &gr)
	if len(gr.Flows) != 2 || gr.Flows[0].Rate != 12.5 || gr.Flows[1].Rate != 12.5 {
		t.Errorf("fork flows: %+v", gr.Flows)
	}
	e.json("POST", "/api/v1/twins/live/analysis/bottleneck", `{}`, 200, &gr)
	if len(gr.Flows) != 0 {
		t.Errorf("live twin has %d flows; want 0", len(gr.Flows))
	}
	// the first host uplink: both flows are tied between it and the destination's host
	// downlink (both 25 Gb/s), so adding capacity helps nobody (right 0) while removing
	// it costs one unit (left 1, half per flow)
	var grad struct {
		Right, Left struct {
			Total float64            `json:"total"`
			Flows map[string]float64 `json:"flows"`
		}
	}
	body, _ := json.Marshal(map[string]string{"link": p.Links[0]})
	e.json("POST", "/api/v1/twins/"+fork.ID()+"/analysis/gradient", string(body), 200, &grad)
	if grad.Right.Total != 0 || grad.Left.Flows["f1"] != 0.5 || grad.Left.Total != 1 {
		t.Errorf("link gradient %+v", grad)
	}
	e.json("POST", "/api/v1/twins/"+fork.ID()+"/analysis/gradient", `{"flow":"f1"}`, 200, &grad)
	// shaping f1 down gives f2 all of it: total unchanged
	if grad.Left.Flows["f2"] != 1 || grad.Left.Total != 0 {
		t.Errorf("flow gradient %+v", grad)
	}
}

func TestAnalysisErrors(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	before := e.state()
	tests := []struct {
		path, body string
		status     int
		field      string
	}{
		{"/api/v1/twins/nope/analysis/bottleneck", `{}`, 404, "twin"},
		{"/api/v1/twins/live/analysis/bottleneck", `{"graph":"xyz"}`, 400, "graph"},
		{"/api/v1/twins/live/analysis/bottleneck", `{"routing":"magic"}`, 400, "routing"},
		{"/api/v1/twins/live/analysis/bottleneck", `{"demands":[{"src":"h-0-0","dst":"zz"}]}`, 422, "demands[0]"},
		{"/api/v1/twins/live/analysis/bottleneck", `{"demands":[{"src":"h-0-0","dst":"h-0-0"}]}`, 422, "demands[0]"},
		{"/api/v1/twins/live/analysis/bottleneck", `{"demands":[{"src":"h-0-0","dst":"h-1-0","gbps":-1}]}`, 422, "demands[0].gbps"},
		{"/api/v1/twins/live/analysis/bottleneck", `{"demands":[{"id":"a","src":"h-0-0","dst":"h-1-0"},{"id":"a","src":"h-1-0","dst":"h-0-0"}]}`, 422, "demands[1].id"},
		{"/api/v1/twins/live/analysis/bottleneck", `{"demands":[{"src":"h-0-0","dst":"h-1-0","speed":3}]}`, 400, ""},
		{"/api/v1/twins/live/analysis/gradient", `{}`, 400, "link"},
		{"/api/v1/twins/live/analysis/gradient", `{"link":"nope"}`, 422, "link"},
		{"/api/v1/twins/live/analysis/gradient", `{"flow":"nope","demands":[{"src":"h-0-0","dst":"h-1-0"}]}`, 422, "flow"},
	}
	for _, tc := range tests {
		r := e.do("POST", tc.path, tc.body)
		if r.status != tc.status {
			t.Errorf("%s %s: status %d; want %d; %s", tc.path, tc.body, r.status, tc.status, r.body)
			continue
		}
		var pr struct {
			Field  string `json:"field"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(r.body, &pr)
		if tc.field != "" && pr.Field != tc.field {
			t.Errorf("%s: field %q; want %q (%s)", tc.body, pr.Field, tc.field, pr.Detail)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: content type %q", tc.body, ct)
		}
	}
	if after := e.state(); after != before {
		t.Errorf("analysis changed twin state")
	}
}
