package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Requirement trace: issue 16 — `analyze queue` shows delay and loss per flow and names
// the model.
func TestAnalyzeQueue(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "labs", "vector-a", "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	if err := json.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	for _, l := range n["links"].([]any) {
		l.(map[string]any)["queue"] = map[string]any{"discipline": "fifo", "buffer_packets": 50}
	}
	for _, f := range n["flows"].([]any) {
		f.(map[string]any)["cc"] = "reno"
	}
	b, _ := json.Marshal(n)
	file := writeFile(t, "va-fifo.json", string(b))
	out, code, err := runTopology(t, "", "analyze", "queue", "-f", file, "-o", "json")
	if err != nil {
		t.Fatalf("exit %d: %v", code, err)
	}
	var r struct {
		Model     string `json:"model"`
		Converged bool   `json:"converged"`
		Flows     []struct {
			ID      string  `json:"id"`
			Model   string  `json:"model"`
			Rate    float64 `json:"rate_gbps"`
			DelayMs float64 `json:"delay_ms"`
			Loss    float64 `json:"loss"`
		} `json:"flows"`
		Links []struct {
			ID    string  `json:"id"`
			Model string  `json:"model"`
			Loss  float64 `json:"loss"`
		} `json:"links"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Model != "fifo-fixed-point" || !r.Converged || len(r.Flows) != 6 || len(r.Links) != 8 {
		t.Fatalf("model %q converged %v, %d flows, %d links", r.Model, r.Converged, len(r.Flows), len(r.Links))
	}
	rate := map[string]float64{}
	for _, f := range r.Flows {
		rate[f.ID] = f.Rate
		if f.Model != "fifo-fixed-point" || !(f.DelayMs > 0) || !(f.Loss > 0) {
			t.Errorf("flow %+v: want the FIFO model, a queueing delay and a loss", f)
		}
	}
	if !(rate["f6"] < rate["f1"]/2) {
		t.Errorf("f6 %v not beaten down against f1 %v on drop-tail FIFOs", rate["f6"], rate["f1"])
	}
	// Table: the model is named in the header and per row.
	out, _, err = runTopology(t, "", "analyze", "queue", "-f", file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"model: fifo-fixed-point", "FLOW  MODEL", "QUEUEING ms", "LOSS"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Without queues: max-min (fq).
	out, _, err = runTopology(t, "", "analyze", "queue", "-f", filepath.Join("..", "..", "labs", "vector-a", "network.json"))
	if err != nil || !strings.Contains(out, "model: maxmin") {
		t.Errorf("vector A without queues: %v\n%s", err, out)
	}
	// Malformed parameters and queue configurations are usage errors naming the field.
	bad := writeFile(t, "p.json", `{"version":"x","queue_fill":2}`)
	if _, code, err := runTopology(t, "", "analyze", "queue", "-f", file, "--params", bad); code != 2 || err == nil || !strings.Contains(err.Error(), "params.queue_fill must be in [0, 1], got 2") {
		t.Errorf("bad params: exit %d %v", code, err)
	}
	unknown := writeFile(t, "u.json", `{"version":"x","fill":2}`)
	if _, code, err := runTopology(t, "", "analyze", "queue", "-f", file, "--params", unknown); code != 2 || err == nil || !strings.Contains(err.Error(), `unknown field "fill"`) {
		t.Errorf("unknown param: exit %d %v", code, err)
	}
	badq := writeFile(t, "q.json", strings.Replace(string(b), `"fifo"`, `"red"`, 1))
	if _, code, err := runTopology(t, "", "analyze", "queue", "-f", badq); code != 2 || err == nil || !strings.Contains(err.Error(), `unknown queue discipline "red"`) {
		t.Errorf("bad discipline: exit %d %v", code, err)
	}
}
