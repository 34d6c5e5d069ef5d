package emulation

import (
	"fmt"
	"math"
	"sort"

	"github.com/twinflow/twinflow/labs/probe"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
)

// QueueModelInput builds the queue model's input (models/queue) for the lab as it is
// emulated: capacities × scale, the lab's queue model on every link direction (fq, or a
// FIFO of QueueLimit packets), link latencies only when the lab applies them (netem),
// every flow on its plan path with congestion control cc.
func QueueModelInput(n *network.Network, p *Plan, cc string) (*queue.Input, error) {
	var q *network.QueueConfig
	if p.Options.Queue == QueueFIFO {
		q = &network.QueueConfig{Discipline: network.QueueFIFO, Buffer: network.Buffer{Packets: p.Options.QueueLimit}}
	}
	in := &queue.Input{}
	used := map[string]bool{}
	for _, f := range p.Flows {
		for _, d := range f.Path {
			used[d] = true
		}
	}
	for _, l := range n.Links {
		for _, rev := range []bool{false, true} {
			id := network.DirectedLinkID(l.ID, rev)
			if !used[id] {
				continue
			}
			lat := 0.0
			if p.Netem || p.DelayLine {
				lat = l.LatencyMs // the lab applies it (netem or a delay line)
			}
			in.Links = append(in.Links, queue.Link{ID: id, CapacityGbps: l.CapacityGbps * p.Options.Scale, LatencyMs: lat, Queue: q})
		}
	}
	demand := map[string]*float64{}
	for _, f := range n.Flows {
		if f.DemandGbps != nil {
			v := *f.DemandGbps * p.Options.Scale
			demand[f.ID] = &v
		}
	}
	for _, f := range p.Flows {
		in.Flows = append(in.Flows, queue.Flow{ID: f.ID, Path: f.Path, CC: network.CongestionControl(cc), DemandGbps: demand[f.ID]})
	}
	return in, nil
}

// QueueRow compares one flow's measured rate, RTT and loss with the queue model.
type QueueRow struct {
	Flow string `json:"flow"`
	// Predicted goodput (model rate × goodput factor) and measured goodput, b/s.
	PredictedBps float64 `json:"predicted_bps"`
	MeasuredBps  float64 `json:"measured_bps"`
	ErrorPct     float64 `json:"error_pct"`
	// RTT under load: the model's round trip and the kernel's smoothed RTT, its mean
	// over the measurement window when the probe sampled it (MeasuredRTTEndMs is the
	// value at the end, what MeasuredRTTMs was before the probe sampled).
	PredictedRTTMs   float64 `json:"predicted_rtt_ms"`
	MeasuredRTTMs    float64 `json:"measured_rtt_ms"`
	MeasuredRTTEndMs float64 `json:"measured_rtt_end_ms,omitempty"`
	RTTErrorPct      float64 `json:"rtt_error_pct"`
	// Loss: the model's path loss and retransmitted / sent data segments in the window.
	PredictedLoss float64 `json:"predicted_loss"`
	MeasuredLoss  float64 `json:"measured_loss"`
}

// QueueComparison is a run compared with the queue model.
type QueueComparison struct {
	// Model is the queue model's name for the run (maxmin, fifo-fixed-point) and
	// ParamsVersion its parameter set.
	Model         string     `json:"model"`
	ParamsVersion string     `json:"params_version"`
	Converged     bool       `json:"converged"`
	Rows          []QueueRow `json:"rows"`
	// Median and maximum |error| of rate and RTT over the rows.
	MedianAbsErrorPct    float64  `json:"median_abs_error_pct"`
	MaxAbsErrorPct       float64  `json:"max_abs_error_pct"`
	MedianAbsRTTErrorPct float64  `json:"median_abs_rtt_error_pct"`
	MaxAbsRTTErrorPct    float64  `json:"max_abs_rtt_error_pct"`
	Missing              []string `json:"missing,omitempty"`
}

// CompareQueueModel runs the queue model for the lab and the run's congestion control
// and compares it with the TCP probe results.
func CompareQueueModel(n *network.Network, p *Plan, cc string, params queue.Params, measured []ProbeResult) (QueueComparison, error) {
	in, err := QueueModelInput(n, p, cc)
	if err != nil {
		return QueueComparison{}, err
	}
	r, err := queue.Compute(in, params)
	if err != nil {
		return QueueComparison{}, fmt.Errorf("%w: queue model: %v", ErrInvalid, err)
	}
	c := QueueComparison{Model: r.Model, ParamsVersion: r.ParamsVersion, Converged: r.Converged}
	got := map[string]*ProbeResult{}
	for i := range measured {
		if m := &measured[i]; m.Kind == ProbeTCP && m.OK && m.TCP != nil {
			got[m.ID] = m
		}
	}
	var abs, rabs []float64
	for _, f := range r.Flows {
		m, ok := got[f.ID]
		if !ok {
			c.Missing = append(c.Missing, f.ID)
			continue
		}
		row := QueueRow{Flow: f.ID, PredictedBps: f.RateGbps * 1e9 * GoodputFactor, MeasuredBps: m.TCP.GoodputBps,
			PredictedRTTMs: f.RTTMs, MeasuredRTTMs: m.TCP.RTTMs, PredictedLoss: f.Loss}
		if m.TCP.RTTSamples > 0 {
			row.MeasuredRTTMs, row.MeasuredRTTEndMs = m.TCP.MeanRTTMs, m.TCP.RTTMs
		}
		if s := m.TCP.WindowDataSegments; s > 0 {
			row.MeasuredLoss = float64(m.TCP.WindowRetransmits) / float64(s)
		}
		if row.PredictedBps > 0 {
			row.ErrorPct = (row.MeasuredBps - row.PredictedBps) / row.PredictedBps * 100
		}
		if row.PredictedRTTMs > 0 {
			row.RTTErrorPct = (row.MeasuredRTTMs - row.PredictedRTTMs) / row.PredictedRTTMs * 100
		}
		c.Rows = append(c.Rows, row)
		abs = append(abs, math.Abs(row.ErrorPct))
		rabs = append(rabs, math.Abs(row.RTTErrorPct))
	}
	c.MedianAbsErrorPct, c.MaxAbsErrorPct = medianMax(abs)
	c.MedianAbsRTTErrorPct, c.MaxAbsRTTErrorPct = medianMax(rabs)
	return c, nil
}

func medianMax(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2], v[n-1]
	}
	return (v[n/2-1] + v[n/2]) / 2, v[n-1]
}

// RescoreQueueModel compares recorded measurements (a run's QueueComparison, as `lab
// fidelity -o json` wrote it) with the queue model as it is now: the run's network and
// plan, congestion control cc and params; the measured goodput, RTT and loss of every
// recorded row are kept, the predictions and errors recomputed. Rows whose flow the
// model does not have are dropped; flows without a row are Missing.
func RescoreQueueModel(n *network.Network, p *Plan, cc string, params queue.Params, recorded QueueComparison) (QueueComparison, error) {
	ms := make([]ProbeResult, 0, len(recorded.Rows))
	for _, row := range recorded.Rows {
		t := &probe.TCPClientResult{GoodputBps: row.MeasuredBps, RTTMs: row.MeasuredRTTMs}
		if row.MeasuredRTTEndMs > 0 {
			t.MeanRTTMs, t.RTTMs, t.RTTSamples = row.MeasuredRTTMs, row.MeasuredRTTEndMs, 1
		}
		ms = append(ms, ProbeResult{ID: row.Flow, Kind: ProbeTCP, OK: true, TCP: t})
	}
	c, err := CompareQueueModel(n, p, cc, params, ms)
	if err != nil {
		return c, err
	}
	loss := make(map[string]float64, len(recorded.Rows))
	for _, row := range recorded.Rows {
		loss[row.Flow] = row.MeasuredLoss
	}
	for i := range c.Rows {
		c.Rows[i].MeasuredLoss = loss[c.Rows[i].Flow]
	}
	return c, nil
}
