package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/bottleneck"
)

const vectorAJSON = `{"links":[{"id":"l1","capacity":25},{"id":"l2","capacity":50},{"id":"l3","capacity":100},{"id":"l4","capacity":75}],
 "flows":[{"id":"f1","path":["l1"],"demand":null},{"id":"f2","path":["l2"]},{"id":"f3","path":["l1","l2"]},
 {"id":"f4","path":["l2","l3"]},{"id":"f5","path":["l3","l4"]},{"id":"f6","path":["l1","l2","l3"]}]}`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAnalyzeBottleneckJSON(t *testing.T) {
	f := writeFile(t, "a.json", vectorAJSON)
	out, code, err := runTopology(t, "", "analyze", "bottleneck", "-f", f, "-o", "json")
	if err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	if strings.Count(out, "\n") != 1 {
		t.Errorf("JSON to a non-terminal should be one compact line:\n%s", out)
	}
	var got bottleneck.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got.Schema != "twinflow.bottleneck/v2" || got.Levels != 3 || len(got.Links) != 4 || len(got.Flows) != 6 {
		t.Fatalf("schema %q levels %d links %d flows %d", got.Schema, got.Levels, len(got.Links), len(got.Flows))
	}
	name := func(idx []int) string {
		var ns []string
		for _, i := range idx {
			ns = append(ns, got.Links[i].ID)
		}
		return strings.Join(ns, ",")
	}
	want := map[string]float64{"f1": 25.0 / 3, "f2": 50.0 / 3, "f5": 75}
	bottleneckEdges, traverseEdges := 0, 0
	for _, f := range got.Flows {
		if w, ok := want[f.ID]; ok && math.Abs(f.Rate-w) > 1e-9 {
			t.Errorf("%s rate %v; want %v", f.ID, f.Rate, w)
		}
		if f.ID == "f5" && (f.Level != 3 || name(f.Bottlenecks) != "l3,l4" || name(f.Path) != "l3,l4") {
			t.Errorf("f5: level %d bottlenecks %v path %v", f.Level, f.Bottlenecks, f.Path)
		}
		if f.ID == "f6" && name(f.Path) != "l1,l2,l3" {
			t.Errorf("f6 path %v", f.Path)
		}
		bottleneckEdges += len(f.Bottlenecks)
		traverseEdges += len(f.Path)
	}
	for _, l := range got.Links {
		if l.ID == "l2" && (l.Level != 2 || l.FairShare == nil || math.Abs(*l.FairShare-50.0/3) > 1e-9 || l.Load != 50 || l.Capacity != 50) {
			t.Errorf("l2: %+v", l)
		}
	}
	if bottleneckEdges != 7 || traverseEdges != 11 {
		t.Errorf("edges: %d bottleneck, %d traverses; want 7, 11", bottleneckEdges, traverseEdges)
	}
}

func TestAnalyzeGradientJSON(t *testing.T) {
	f := writeFile(t, "a.yaml", `
links:
  - {id: l1, capacity: 25}
  - {id: l2, capacity: 50}
  - {id: l3, capacity: 100}
  - {id: l4, capacity: 75}
flows:
  - {id: f1, path: [l1], demand: null}
  - {id: f2, path: [l2]}
  - {id: f3, path: [l1, l2]}
  - {id: f4, path: [l2, l3]}
  - {id: f5, path: [l3, l4]}
  - {id: f6, path: [l1, l2, l3]}
`)
	out, code, err := runTopology(t, "", "analyze", "gradient", "-f", f, "--flow", "f6", "-o", "json")
	if err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	var g struct {
		Right, Left struct {
			Total float64            `json:"total"`
			Flows map[string]float64 `json:"flows"`
		}
	}
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatal(err)
	}
	if math.Abs(g.Left.Total-0.5) > 1e-12 || g.Left.Flows["f6"] != -1 || g.Right.Flows["f6"] != 1 {
		t.Errorf("f6 gradient: %+v", g)
	}
	out, _, err = runTopology(t, "", "analyze", "gradient", "-f", f, "--link", "l2", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatal(err)
	}
	if math.Abs(g.Right.Total-0.5) > 1e-12 || math.Abs(g.Left.Total-1) > 1e-12 {
		t.Errorf("l2 gradient: right %v left %v; want 0.5, 1", g.Right.Total, g.Left.Total)
	}
}

func TestAnalyzeTableDotSVG(t *testing.T) {
	f := writeFile(t, "a.json", vectorAJSON)
	out, _, err := runTopology(t, "", "analyze", "bottleneck", "-f", f)
	if err != nil || !strings.Contains(out, "f5    75         3      l3,l4") {
		t.Errorf("table: %v\n%s", err, out)
	}
	out, _, err = runTopology(t, "", "analyze", "bottleneck", "-f", f, "--dot")
	if err != nil || !strings.HasPrefix(out, "digraph") || !strings.Contains(out, `"l1" -> "f1"`) {
		t.Errorf("dot: %v\n%s", err, out)
	}
	out, _, err = runTopology(t, "", "analyze", "bottleneck", "-f", f, "--svg", "--graph", "pgg")
	if err != nil || !strings.HasPrefix(out, "<svg") || !strings.HasSuffix(strings.TrimSpace(out), "</svg>") || strings.Count(out, "<ellipse") != 6 {
		t.Errorf("svg: %v\n%s", err, out)
	}
	out, _, err = runTopology(t, vectorAJSON, "analyze", "gradient", "-f", "-", "--link", "l1")
	if err != nil || !strings.Contains(out, "TOTAL  0.33333333   0.33333333") {
		t.Errorf("gradient table from stdin: %v\n%s", err, out)
	}
}

func TestAnalyzeNetworkDocument(t *testing.T) {
	out, _, err := runTopology(t, "", "topology", "generate", "fat-tree", "--k", "4")
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	if err := json.Unmarshal([]byte(out), &n); err != nil {
		t.Fatal(err)
	}
	n["flows"] = []map[string]any{
		{"id": "a", "src": "h-0-0-0", "dst": "h-3-1-1"},
		{"id": "b", "src": "h-0-0-1", "dst": "h-3-1-1"},
		{"id": "c", "src": "h-1-0-0", "dst": "h-2-0-0", "demand_gbps": 1.5},
	}
	b, _ := json.Marshal(n)
	f := writeFile(t, "ft.json", string(b))
	out, code, err := runTopology(t, "", "analyze", "bottleneck", "-f", f, "--routing", "ecmp", "-o", "json")
	if err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	var g bottleneck.Report
	if err := json.Unmarshal([]byte(out), &g); err != nil {
		t.Fatal(err)
	}
	for _, fl := range g.Flows {
		switch fl.ID {
		case "a", "b":
			if len(fl.Path) != 6 {
				t.Errorf("%s: path %v", fl.ID, fl.Path)
			}
		case "c":
			if fl.Rate != 1.5 || len(fl.Bottlenecks) != 1 || g.Links[fl.Bottlenecks[0]].ID != "demand:c" || g.Links[fl.Bottlenecks[0]].Kind != "demand" {
				t.Errorf("c: rate %v bottlenecks %v; want 1.5 and its demand vertex", fl.Rate, fl.Bottlenecks)
			}
		}
	}
}

// TestAnalyzeMalformed checks every malformed-input case: a usage error (exit 2) whose
// message names the offending element.
func TestAnalyzeMalformed(t *testing.T) {
	tests := []struct {
		name, input string
		args        []string
		want        []string
	}{
		{"unknown-link", `{"links":[{"id":"l1","capacity":1}],"flows":[{"id":"f1","path":["l1","l9"]}]}`, nil, []string{`flows[0] "f1".path[1]`, `unknown link "l9"`}},
		{"zero-capacity", `{"links":[{"id":"l1","capacity":0}],"flows":[]}`, nil, []string{`links[0] "l1"`, "capacity must be > 0"}},
		{"negative-capacity", `{"links":[{"id":"l1","capacity":5},{"id":"l2","capacity":-3}],"flows":[]}`, nil, []string{`links[1] "l2"`, "capacity must be > 0, got -3"}},
		{"duplicate-link", `{"links":[{"id":"l1","capacity":5},{"id":"l1","capacity":3}],"flows":[]}`, nil, []string{`links[1] "l1"`, "duplicate link ID (also links[0])"}},
		{"duplicate-flow", `{"links":[{"id":"l1","capacity":5}],"flows":[{"id":"f","path":["l1"]},{"id":"f","path":["l1"]}]}`, nil, []string{`flows[1] "f"`, "duplicate flow ID (also flows[0])"}},
		{"cycle", `{"links":[{"id":"l1","capacity":5},{"id":"l2","capacity":5}],"flows":[{"id":"f1","path":["l1","l2","l1"]}]}`, nil, []string{`flows[0] "f1".path[2]`, `link "l1" repeated in path`}},
		{"empty-path", `{"links":[{"id":"l1","capacity":5}],"flows":[{"id":"f1","path":[]}]}`, nil, []string{`flows[0] "f1".path`, "empty path"}},
		{"missing-path", `{"links":[{"id":"l1","capacity":5}],"flows":[{"id":"f1"}]}`, nil, []string{`flows[0] "f1".path`, "empty path"}},
		{"bad-demand", `{"links":[{"id":"l1","capacity":5}],"flows":[{"id":"f1","path":["l1"],"demand":-1}]}`, nil, []string{`flows[0] "f1".demand`}},
		{"type-error", `{"links":[{"id":"l1","capacity":"25"}],"flows":[]}`, nil, []string{"links[0].capacity", "expected float64"}},
		{"unknown-field", `{"links":[{"id":"l1","capacity":5,"speed":3}],"flows":[]}`, nil, []string{"links[0]", `unknown field "speed"`}},
		{"syntax", "{\"links\":[\n{\"id\":\"l1\",}]}", nil, []string{"line 2"}},
		{"unknown-gradient-link", vectorAJSON, []string{"gradient", "--link", "l9"}, []string{`link "l9"`}},
		{"both-flags", vectorAJSON, []string{"gradient", "--link", "l1", "--flow", "f1"}, []string{"exactly one of --link or --flow"}},
		{"bad-graph", vectorAJSON, []string{"bottleneck", "--graph", "xyz"}, []string{"--graph must be"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, "in.json", tc.input)
			args := tc.args
			if args == nil {
				args = []string{"bottleneck"}
			}
			_, code, err := runTopology(t, "", append(append([]string{"analyze"}, args...), "-f", f)...)
			if err == nil || code != 2 {
				t.Fatalf("exit %d, err %v; want exit 2", code, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, code, err := runTopology(t, "", "analyze", "bottleneck"); code != 2 || !strings.Contains(err.Error(), "-f/--file is required") {
		t.Errorf("no file: exit %d %v", code, err)
	}
}
