package emulation

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twinflow/twinflow/models/network"
)

func latencyPlan(t *testing.T, latencyMs float64) *Plan {
	t.Helper()
	n, err := network.Generate("ring:n=3", 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n.Links {
		n.Links[i].LatencyMs = latencyMs
	}
	p, err := NewPlan(n, Options{Lab: "lat", Prefix: "tfe-"}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Plan.Latency says how a deployed lab applied its links' latencies.
func TestPlanLatency(t *testing.T) {
	for _, c := range []struct {
		ms               float64
		netem, delayLine bool
		want             string
	}{
		{0, false, false, LatencyNone},
		{0, true, false, LatencyNone},
		{5, false, false, LatencyNotApplied},
		{5, true, false, LatencyNetem},
		{5, false, true, LatencyDelayLine},
	} {
		p := latencyPlan(t, c.ms)
		p.Netem, p.DelayLine = c.netem, c.delayLine
		if got := p.Latency(); got != c.want {
			t.Errorf("latency %g ms, netem %v, delay line %v: %q, want %q", c.ms, c.netem, c.delayLine, got, c.want)
		}
	}
}

// A fidelity run records netem and delay_line even when false, so that a version-2
// report distinguishes "not applied" from "not recorded".
func TestFidelityRunRecordsDelayLine(t *testing.T) {
	b, err := json.Marshal(FidelityRun{Queue: QueueFIFO, CC: "cubic"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"delay_line":false`) || !strings.Contains(string(b), `"netem":false`) {
		t.Errorf("run JSON %s lacks netem/delay_line", b)
	}
	var r FidelityRun
	if err := json.Unmarshal([]byte(`{"queue":"fifo","cc":"cubic","delay_line":true}`), &r); err != nil || !r.DelayLine || r.Netem {
		t.Errorf("decode: %+v, %v", r, err)
	}
}

// Re-scoring a recorded run uses the recorded latency emulation from version 2 on and
// infers it (delay lines where links have latencies) for older reports.
func TestRecordedLatency(t *testing.T) {
	for _, c := range []struct {
		version          int
		run              FidelityRun
		ms               float64
		netem, delayLine bool
	}{
		{0, FidelityRun{}, 5, false, true},                // old report, latencies: inferred delay line
		{0, FidelityRun{}, 0, false, false},               // old report, no latency
		{2, FidelityRun{}, 5, false, false},               // recorded: not applied
		{2, FidelityRun{DelayLine: true}, 5, false, true}, // recorded: delay line
		{2, FidelityRun{Netem: true}, 5, true, false},     // recorded: netem
	} {
		p := latencyPlan(t, c.ms)
		recordedLatency(p, c.version, c.run)
		if p.Netem != c.netem || p.DelayLine != c.delayLine {
			t.Errorf("version %d, run netem %v delay_line %v, %g ms: plan netem %v delay_line %v, want %v %v",
				c.version, c.run.Netem, c.run.DelayLine, c.ms, p.Netem, p.DelayLine, c.netem, c.delayLine)
		}
	}
}
