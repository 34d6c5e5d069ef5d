package nbi_test

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/apps/nbi"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
	"github.com/twinflow/twinflow/twin"
)

// TestAnalysisQueue: the queueing model over a twin (issue 16: "the API shows delay and
// loss per flow and names the model used").
func TestAnalysisQueue(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	body := `{"demands":[{"id":"a","src":"h-0-0","dst":"h-1-0"},{"id":"b","src":"h-0-0","dst":"h-1-0","gbps":5}]}`

	// every link fq (the default): max-min rates, as the bottleneck analysis gives
	var r queue.Result
	e.json("POST", "/api/v1/twins/live/analysis/queue", body, 200, &r)
	rates := map[string]queue.FlowResult{}
	for _, f := range r.Flows {
		rates[f.ID] = f
	}
	if r.Model != queue.ModelMaxMin || rates["a"].Model != queue.ModelMaxMin {
		t.Errorf("model %q / %q; want %q", r.Model, rates["a"].Model, queue.ModelMaxMin)
	}
	if math.Abs(rates["a"].RateGbps-20) > 1e-9 || math.Abs(rates["b"].RateGbps-5) > 1e-9 {
		t.Errorf("fq rates a=%v b=%v; want 20 and 5 (max-min with b shaped to 5)", rates["a"].RateGbps, rates["b"].RateGbps)
	}

	// every link direction a 50-packet FIFO, both flows cubic: the fixed point names
	// itself, the two flows share the host link (a no longer gets 20: b is shaped), and
	// the full FIFO shows queueing delay and loss
	fifo := &network.QueueConfig{Discipline: network.QueueFIFO, Buffer: network.Buffer{Packets: 50}}
	if _, err := e.m.Live().Update(context.Background(), func(tx *twin.Txn) error {
		n := tx.Reader().Network()
		for _, l := range n.Links {
			l.Queue, l.ReverseQueue = fifo, fifo
			if _, err := tx.PutLink(l, twin.Upsert, 0); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var q queue.Result
	e.json("POST", "/api/v1/twins/live/analysis/queue", `{"exclude_twin_flows":true,"demands":[{"id":"a","src":"h-0-0","dst":"h-1-0"},{"id":"c","src":"h-0-0","dst":"h-1-0","cc":"cubic"}]}`, 200, &q)
	if q.Model != queue.ModelFIFO || !q.Converged || len(q.Flows) != 2 {
		t.Fatalf("fifo: model %q converged %v flows %d; want %q, converged, 2 flows", q.Model, q.Converged, len(q.Flows), queue.ModelFIFO)
	}
	sum := 0.0
	for _, f := range q.Flows {
		sum += f.RateGbps
		if f.Model != queue.ModelFIFO || f.QueueDelayMs <= 0 || f.Loss <= 0 || f.DelayMs < f.QueueDelayMs {
			t.Errorf("fifo flow %s: %+v; want the fifo model with queueing delay and loss", f.ID, f)
		}
	}
	if sum > 25*(1+1e-3) || sum < 25*0.9 {
		t.Errorf("fifo: the two flows carry %v Gb/s over a 25 Gb/s host link", sum)
	}
	// parameters override field by field; a calibrated set is echoed in the result
	var c queue.Result
	e.json("POST", "/api/v1/twins/live/analysis/queue", `{"exclude_twin_flows":true,"params":{"version":"lab-7","queue_fill":0.5},"demands":[{"id":"a","src":"h-0-0","dst":"h-1-0"},{"id":"c","src":"h-0-0","dst":"h-1-0"}]}`, 200, &c)
	if c.ParamsVersion != "lab-7" || c.Flows[0].QueueDelayMs >= q.Flows[0].QueueDelayMs {
		t.Errorf("params: version %q, queueing %v ms (default fill: %v ms); want lab-7 and a shorter queue", c.ParamsVersion, c.Flows[0].QueueDelayMs, q.Flows[0].QueueDelayMs)
	}
}

func TestAnalysisQueueErrors(t *testing.T) {
	e := newEnv(t, nbi.Options{})
	before := e.state()
	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"routing":"magic"}`, 400, "routing"},
		{`{"params":{"queue_fill":2}}`, 422, "params.queue_fill"},
		{`{"params":{"max_iterations":5000}}`, 422, "params.max_iterations"},
		{`{"params":{"tolerance":"x"}}`, 400, ""},
		{`{"params":{"version":""}}`, 422, "params.version"},
		{`{"demands":[{"src":"h-0-0","dst":"zz"}]}`, 422, "demands[0]"},
		{`{"demands":[{"src":"h-0-0","dst":"h-1-0","gbps":-1}]}`, 422, "demands[0].gbps"},
		{`{"demands":[{"src":"h-0-0","dst":"h-1-0","cc":"vegas"}]}`, 422, "demands[0].cc"},
		{`{"demands":[{"src":"h-0-0","dst":"h-1-0","rate":1}]}`, 400, ""},
	} {
		r := e.do("POST", "/api/v1/twins/live/analysis/queue", tc.body)
		if r.status != tc.status {
			t.Errorf("%s: status %d; want %d; %s", tc.body, r.status, tc.status, r.body)
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
		if !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("%s: content type %q", tc.body, r.header.Get("Content-Type"))
		}
	}
	if r := e.do("POST", "/api/v1/twins/nope/analysis/queue", `{}`); r.status != 404 {
		t.Errorf("unknown twin: %d", r.status)
	}
	if after := e.state(); after != before {
		t.Errorf("analysis changed twin state")
	}
}
