package emulation

import (
	"math"
	"testing"

	"github.com/twinflow/twinflow/labs/probe"
	"github.com/twinflow/twinflow/models/queue"
)

// The comparison with the queue model: fq labs are predicted by max-min, fifo labs by
// the FIFO fixed point with the lab's buffer; rows carry rate, RTT and loss errors.
func TestCompareQueueModel(t *testing.T) {
	n := vectorA(t)
	for _, tc := range []struct {
		q     QueueModel
		model string
	}{{QueueFQ, queue.ModelMaxMin}, {QueueFIFO, queue.ModelFIFO}} {
		p, err := NewPlan(n, Options{Lab: "va", Prefix: "tfe-", Queue: tc.q, QueueLimit: 50}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		in, err := QueueModelInput(n, p, "cubic")
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Links) != 4 || in.Links[0].CapacityGbps != 0.025 {
			t.Fatalf("links %+v", in.Links)
		}
		if tc.q == QueueFIFO && (in.Links[0].Queue == nil || in.Links[0].Queue.Packets != 50) {
			t.Errorf("fifo lab: queue %+v, want a 50-packet FIFO", in.Links[0].Queue)
		}
		res := []ProbeResult{
			{ID: "f1", Kind: ProbeTCP, OK: true, TCP: &probe.TCPClientResult{GoodputBps: 8e6, RTTMs: 40, WindowRetransmits: 10, WindowDataSegments: 1000}},
			{ID: "f2", Kind: ProbeTCP, OK: false},
		}
		c, err := CompareQueueModel(n, p, "cubic", queue.DefaultParams(), res)
		if err != nil {
			t.Fatal(err)
		}
		if c.Model != tc.model || !c.Converged || len(c.Rows) != 1 || len(c.Missing) != 5 {
			t.Fatalf("%s: model %q converged %v rows %d missing %v", tc.q, c.Model, c.Converged, len(c.Rows), c.Missing)
		}
		r := c.Rows[0]
		if want := (r.MeasuredBps - r.PredictedBps) / r.PredictedBps * 100; math.Abs(r.ErrorPct-want) > 1e-9 || r.MeasuredLoss != 0.01 || r.PredictedRTTMs <= 0 {
			t.Errorf("%s: row %+v", tc.q, r)
		}
		if tc.q == QueueFQ && math.Abs(r.PredictedBps-25e6/3*GoodputFactor) > 1 {
			t.Errorf("fq: f1 predicted %v, want the max-min share", r.PredictedBps)
		}
		if c.MedianAbsErrorPct != math.Abs(r.ErrorPct) || c.MedianAbsRTTErrorPct != math.Abs(r.RTTErrorPct) {
			t.Errorf("summary %+v", c)
		}
		if r.MeasuredRTTMs != 40 || r.MeasuredRTTEndMs != 0 {
			t.Errorf("%s: without samples the measured RTT is the end value: %v, end %v", tc.q, r.MeasuredRTTMs, r.MeasuredRTTEndMs)
		}
		// With RTT samples the comparison uses their mean and keeps the end value.
		res[0].TCP.MeanRTTMs, res[0].TCP.RTTSamples = 30, 150
		c, err = CompareQueueModel(n, p, "cubic", queue.DefaultParams(), res)
		if err != nil {
			t.Fatal(err)
		}
		if r := c.Rows[0]; r.MeasuredRTTMs != 30 || r.MeasuredRTTEndMs != 40 || math.Abs(r.RTTErrorPct-(30-r.PredictedRTTMs)/r.PredictedRTTMs*100) > 1e-9 {
			t.Errorf("%s: with samples: row %+v, want measured 30 (mean), end 40", tc.q, r)
		}
	}
}
