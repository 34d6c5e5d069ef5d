package pipeline

import (
	"fmt"
	"sort"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/queue"
)

// l1Queue is the queueing part of the L1 latency check (issue 16): when any link
// direction of the twin has a non-fq queue, the queue model (models/queue) runs over
// the changed network and each added flow's latency is propagation plus its queueing
// delay; on an all-fq twin the model is max-min, and a flow held at its share by an
// fq link keeps its own per-flow queue there (queue.FQHeldDelayCC), computed from the
// max-min rate without running the whole model (the L1 path stays incremental).
type l1Queue struct {
	model   string
	version string
	conv    bool
	flows   map[string]queue.FlowResult
}

// hasQueues says whether any link direction has a non-fq queue. It is computed once
// per model (a pass over every link: 20,000 on the slice benchmark's twin, twice per
// validation before): a model's links change only in capacity (the full L1 path's
// copy), which does not change their queues.
func (m *liveModel) hasQueues() bool {
	m.queuesOnce.Do(func() {
		for _, l := range m.links {
			for _, rev := range []bool{false, true} {
				if l.QueueOf(rev).EffectiveDiscipline() != network.QueueFQ {
					m.queues = true
					return
				}
			}
		}
	})
	return m.queues
}

// newL1Queue runs the queue model over m's links (capacity from capOf) and flows when
// the twin has non-fq queues; it returns a max-min l1Queue otherwise.
func newL1Queue(m *liveModel, capOf func(d string) float64, flows []network.Flow) *l1Queue {
	p := queue.DefaultParams()
	q := &l1Queue{model: queue.ModelMaxMin, version: p.Version, conv: true, flows: map[string]queue.FlowResult{}}
	if !m.hasQueues() {
		return q
	}
	in := &queue.Input{}
	ids := make([]string, 0, len(m.links))
	for id := range m.links {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	usable := map[string]bool{}
	for _, id := range ids {
		l := m.links[id]
		for _, rev := range []bool{false, true} {
			d := network.DirectedLinkID(id, rev)
			if c := capOf(d); c > 0 {
				usable[d] = true
				in.Links = append(in.Links, queue.Link{ID: d, CapacityGbps: c, LatencyMs: l.LatencyMs, Queue: l.QueueOf(rev)})
			}
		}
	}
	sort.Slice(flows, func(i, j int) bool { return flows[i].ID < flows[j].ID })
	for _, f := range flows {
		ok := len(f.Path) > 0
		for _, d := range f.Path {
			ok = ok && usable[d]
		}
		if !ok {
			continue
		}
		qf := queue.Flow{ID: f.ID, Path: f.Path, CC: f.CongestionControl, Class: f.Class, DemandGbps: f.DemandGbps}
		if slo, ok := m.slos[f.ID]; ok && slo.Isolation == change.IsolationHard && slo.MinRateGbps > 0 {
			v := slo.MinRateGbps
			qf.DemandGbps = &v
		}
		in.Flows = append(in.Flows, qf)
	}
	r, err := queue.Compute(in, p)
	if err != nil {
		q.model = "unavailable: " + err.Error()
		return q
	}
	q.model, q.conv = r.Model, r.Converged
	for _, f := range r.Flows {
		q.flows[f.ID] = f
	}
	return q
}

// latency returns an added flow's latency (propagation prop plus queueing) and adds
// its queueing KPIs to the report. cc is its congestion control; rateGbps and held (bottlenecked at an fq link of
// its path) are the max-min model's, used on an all-fq twin.
func (q *l1Queue) latency(rep *change.Report, id string, cc network.CongestionControl, prop, rateGbps float64, held bool) (float64, float64) {
	f, ok := q.flows[id]
	if !ok {
		if q.model != queue.ModelMaxMin {
			return prop, 0
		}
		f = queue.FlowResult{ID: id, Model: queue.ModelMaxMin}
		if held {
			d, std := queue.FQHeldDelayCC(queue.DefaultParams(), cc, network.DefaultBufferPackets, rateGbps*1e9)
			f.QueueDelayMs, f.JitterMs = d*1e3, std*1e3
		}
	}
	rep.KPIs = append(rep.KPIs,
		change.KPI{Name: "queue_delay", Subject: id, Unit: "ms", After: change.F64(f.QueueDelayMs)},
		change.KPI{Name: "jitter", Subject: id, Unit: "ms", After: change.F64(f.JitterMs)},
		change.KPI{Name: "loss", Subject: id, Unit: "fraction", After: change.F64(f.Loss)})
	return prop + f.QueueDelayMs, f.QueueDelayMs
}

// rate returns the rate an added flow's bandwidth SLO is checked against and the model
// that predicts it: the queue model's rate when the flow crosses a FIFO or classed
// queue (fifo-fixed-point or mixed), the max-min rate maxmin otherwise (issue 16:
// "FIFO rates in l1.bandwidth").
func (q *l1Queue) rate(id string, maxmin float64) (float64, string) {
	if q != nil {
		if f, ok := q.flows[id]; ok && f.Model != queue.ModelMaxMin {
			return min(f.RateGbps, maxmin), f.Model
		}
	}
	return maxmin, "max-min"
}

// failDetail is appended to a latency failure: how much of it is queueing, by which
// model (the flow's: maxmin, fifo-fixed-point or mixed).
func (q *l1Queue) failDetail(id string, queueMs float64) string {
	if queueMs < 0.0005 {
		return ""
	}
	m := q.model
	if f, ok := q.flows[id]; ok {
		m = f.Model
	}
	return fmt.Sprintf(" (%.3f ms of it queueing, %s)", queueMs, m)
}

// decorate names the model in the latency check.
func (q *l1Queue) decorate(c *change.Check) {
	if c.Status == change.Pass {
		c.Message += " plus queueing delay (queue model " + q.model + ")"
	}
	c.Evidence = map[string]any{"queue_model": q.model, "params_version": q.version, "converged": q.conv}
}

// l1Queue is newL1Queue over the overlay: the base model's flows less the removed ones
// plus the added ones on their routed paths, capacities as changed.
func (o *overlay) l1Queue(routed map[string][]string) *l1Queue {
	if !o.base.hasQueues() {
		return newL1Queue(o.base, nil, nil)
	}
	flows := make([]network.Flow, 0, len(o.base.flows)+len(o.added))
	for id, f := range o.base.flows {
		if !o.removed[id] {
			if _, re := o.added[id]; !re {
				flows = append(flows, f)
			}
		}
	}
	for id, f := range o.added {
		fl := f.Flow
		fl.Path = routed[id]
		flows = append(flows, fl)
	}
	return newL1Queue(o.base, func(d string) float64 {
		c, ok := o.capOf(d)
		if !ok {
			return 0
		}
		return c + o.reservedOf(d)
	}, flows)
}
