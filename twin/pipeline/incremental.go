package pipeline

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// The incremental L1 path: the live twin's bottleneck state (cached per revision) is
// perturbed in place by the change — flows removed and added, capacities changed
// (hard reservations are capacity taken off their links) — with the engine's
// incremental recomputation limited to the region of influence; the rate changes it
// reports are the ripple; then every perturbation is undone. Nothing is O(flows).

// overlay is the live model as the change leaves it, without copying the model.
type overlay struct {
	base     *liveModel
	removed  map[string]bool
	added    map[string]change.FlowSpec
	dirCapOv map[string]float64 // directed link -> new capacity
	resDelta map[string]float64 // directed link -> change of hard reservations
}

func newOverlay(m *liveModel, cs *change.ChangeSet) *overlay {
	o := &overlay{base: m, removed: map[string]bool{}, added: map[string]change.FlowSpec{},
		dirCapOv: map[string]float64{}, resDelta: map[string]float64{}}
	for _, id := range cs.Twin.RemoveFlows {
		f, ok := m.flows[id]
		if !ok {
			continue
		}
		o.removed[id] = true
		if slo, ok := m.slos[id]; ok && slo.Isolation == change.IsolationHard {
			for _, dl := range f.Path {
				o.resDelta[dl] -= slo.MinRateGbps
			}
		}
	}
	for _, cc := range cs.Twin.Capacities {
		l, ok := m.links[cc.Link]
		if !ok || !linkUp(l) {
			continue
		}
		o.dirCapOv[cc.Link] = cc.CapacityGbps
		o.dirCapOv[cc.Link+network.ReverseSuffix] = cc.CapacityGbps
	}
	return o
}

func (o *overlay) capOf(dl string) (float64, bool) {
	if c, ok := o.dirCapOv[dl]; ok {
		return c, true
	}
	c, ok := o.base.dirCap[dl]
	return c, ok
}

func (o *overlay) reservedOf(dl string) float64 { return o.base.reserved[dl] + o.resDelta[dl] }

func (o *overlay) sloOf(id string) (change.SLO, bool) {
	if f, ok := o.added[id]; ok {
		if f.SLO != nil {
			return *f.SLO, true
		}
		return change.SLO{}, false
	}
	if o.removed[id] {
		return change.SLO{}, false
	}
	s, ok := o.base.slos[id]
	return s, ok
}

func (o *overlay) usable(p []string) bool {
	if len(p) == 0 {
		return false
	}
	for _, dl := range p {
		if _, ok := o.capOf(dl); !ok {
			return false
		}
	}
	return true
}

// graphOf builds the model's routing graph once (links never change in an overlay).
func (m *liveModel) graphOf() *routing.Graph {
	m.graphOnce.Do(func() {
		n := &network.Network{Devices: m.devices}
		ids := make([]string, 0, len(m.links))
		for id := range m.links {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			n.Links = append(n.Links, m.links[id])
		}
		if g, err := routing.NewGraph(n); err == nil {
			m.graph = g
		}
	})
	return m.graph
}

// routeWith finds the lowest-latency path with free capacity need. The metric is
// latency, so no other path meets a latency bound this one misses: the latency check
// judges it. Flows without a reservation (need 0) use the model's cached ECMP router
// (distances per destination computed once per live revision).
func (m *liveModel) routeWith(src, dst, flowID string, need float64, capOf func(string) (float64, bool), res func(string) float64) []string {
	g := m.graphOf()
	if g == nil {
		return nil
	}
	if need <= 0 {
		m.ecmpOnce.Do(func() {
			m.ecmp = g.NewECMP(routing.Options{Metric: routing.Latency, Exclude: func(dl string) bool {
				_, ok := m.dirCap[dl]
				return !ok
			}})
		})
		m.ecmpMu.Lock()
		p, err := m.ecmp.Route(flowID, src, dst)
		m.ecmpMu.Unlock()
		if err != nil {
			return nil
		}
		return p.Links
	}
	o := routing.Options{Metric: routing.Latency, Exclude: func(dl string) bool {
		c, ok := capOf(dl)
		return !ok || c-res(dl) < need
	}}
	p, err := g.Shortest(src, dst, o)
	if err != nil {
		return nil
	}
	return p.Links
}

// addedInfo is what the perturbed state says about one added flow.
type addedInfo struct {
	rate   float64
	bn     []string
	grads  map[string]float64
	usable bool
}

// incrementalL1 runs the L1 checks on the cached live state. It returns the routed
// paths of the added flows and false if the change needs a full recomputation (it
// brings a link into the model that the cached state does not have).
func (s *Service) incrementalL1(rep *change.Report, cs *change.ChangeSet, m *liveModel) (map[string][]string, bool) {
	ov := newOverlay(m, cs)
	routed := map[string][]string{}
	for _, f := range cs.Twin.AddFlows {
		fl := f.Flow
		need := hardReservation(f)
		if len(fl.Path) == 0 {
			fl.Path = m.routeWith(fl.Src, fl.Dst, fl.ID, need, ov.capOf, ov.reservedOf)
		}
		routed[fl.ID] = fl.Path
		f.Flow = fl
		ov.added[fl.ID] = f
		if need > 0 {
			for _, dl := range fl.Path {
				ov.resDelta[dl] += need
			}
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state
	if st == nil {
		return routed, false
	}
	type rc struct{ old, new float64 }
	changes := map[string]*rc{}
	// each delta's per-flow listing is read before the next perturbation (it is
	// produced on demand from the state)
	merge := func(d *bottleneck.Delta) {
		if d == nil {
			return
		}
		// into the model's reused buffer (guarded by m.mu): the values are copied
		// into changes below, so no listing is allocated per perturbation
		chs, err := d.AppendRateChanges(m.listBuf[:0])
		m.listBuf = chs
		if err != nil {
			s.log.Error("per-flow listing of an incremental perturbation", "err", err)
			return
		}
		for _, c := range chs {
			if x, ok := changes[c.Flow]; ok {
				x.new = c.New
			} else {
				changes[c.Flow] = &rc{c.Old, c.New}
			}
		}
	}
	var undo []func() error
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			if err := undo[i](); err != nil {
				// the cached state can no longer be trusted: drop it
				s.l1.invalidate()
				s.log.Error("undo of an incremental perturbation failed", "err", err)
				return
			}
		}
	}()
	inState := func(dl string) bool { _, err := st.Capacity(dl); return err == nil }
	// 1. removed elastic flows
	for id := range ov.removed {
		if _, err := st.Rate(id); err != nil {
			continue // hard or unroutable: not in the state
		}
		f := m.flows[id]
		d, err := st.RemoveFlow(id)
		if err != nil {
			return routed, false
		}
		merge(d)
		orig := bottleneck.Flow{ID: id, Path: f.Path, Demand: f.DemandGbps, Class: f.Class}
		undo = append(undo, func() error { _, err := st.AddFlow(orig); return err })
	}
	// 2. effective capacities (capacity minus hard reservations) of touched links
	touched := map[string]bool{}
	for dl := range ov.dirCapOv {
		touched[dl] = true
	}
	for dl := range ov.resDelta {
		touched[dl] = true
	}
	dls := make([]string, 0, len(touched))
	for dl := range touched {
		dls = append(dls, dl)
	}
	sort.Strings(dls)
	for _, dl := range dls {
		c, ok := ov.capOf(dl)
		if !ok {
			continue
		}
		eff := c - ov.reservedOf(dl)
		old, err := st.Capacity(dl)
		if err != nil {
			if eff > 0 {
				return routed, false // a link the cached state lacks becomes usable
			}
			continue
		}
		if eff <= 0 {
			eff = 1e-9 // nothing left for elastic flows; l1.isolation reports it
		}
		if eff == old {
			continue
		}
		d, err := st.SetCapacity(dl, eff)
		if err != nil {
			return routed, false
		}
		merge(d)
		undo = append(undo, func() error { _, err := st.SetCapacity(dl, old); return err })
	}
	// 3. added flows
	info := map[string]*addedInfo{}
	for _, f := range cs.Twin.AddFlows {
		p := routed[f.ID]
		ai := &addedInfo{usable: ov.usable(p)}
		info[f.ID] = ai
		if !ai.usable {
			continue
		}
		if f.SLO != nil && f.SLO.Isolation == change.IsolationHard {
			ai.rate = f.SLO.MinRateGbps
			continue
		}
		ok := true
		for _, dl := range p {
			if !inState(dl) {
				ok = false
			}
		}
		if !ok {
			ai.usable = false
			continue
		}
		d, err := st.AddFlow(bottleneck.Flow{ID: f.ID, Path: p, Demand: f.DemandGbps, Class: f.Class})
		if err != nil {
			return routed, false
		}
		merge(d)
		id := f.ID
		undo = append(undo, func() error { _, err := st.RemoveFlow(id); return err })
	}
	// evidence while perturbed
	for id, ai := range info {
		if !ai.usable {
			continue
		}
		if r, err := st.Rate(id); err == nil {
			ai.rate = r
			ai.bn, _ = st.Bottlenecks(id)
			ai.grads = map[string]float64{}
			for _, l := range ai.bn {
				if g, err := st.LinkGradient(l); err == nil {
					ai.grads[l] = g.Right.Flows[id]
				}
			}
		}
	}
	// the existing flows that changed, with their bottlenecks after the change
	impacts := make([]change.FlowImpact, 0, len(changes))
	totalDelta := 0.0
	for id, c := range changes {
		if _, isAdded := ov.added[id]; isAdded || ov.removed[id] {
			continue
		}
		totalDelta += c.new - c.old
		if math.Abs(c.new-c.old) <= rateEps*math.Max(1, c.old) {
			continue
		}
		fi := change.FlowImpact{Flow: id, Owner: m.flows[id].Owner, BeforeGbps: c.old, AfterGbps: c.new, DeltaGbps: c.new - c.old}
		if bn, err := st.Bottlenecks(id); err == nil {
			fi.BottleneckAfter = bn
		}
		impacts = append(impacts, fi)
	}
	after := m.total + totalDelta
	for id, ai := range info {
		if ai.usable {
			after += ai.rate
		}
		_ = id
	}
	for id := range ov.removed {
		after -= m.rate(id)
	}
	l1Report(rep, cs, ov, routed, info, impacts, m.total, after)
	return routed, true
}

// l1Report turns the incremental results into checks, KPIs and the ripple.
func l1Report(rep *change.Report, cs *change.ChangeSet, ov *overlay, routed map[string][]string, info map[string]*addedInfo,
	impacts []change.FlowImpact, totalBefore, totalAfter float64) {
	var noPath []string
	pathEv := map[string]any{}
	for _, f := range cs.Twin.AddFlows {
		if !info[f.ID].usable {
			noPath = append(noPath, fmt.Sprintf("flow %s: no usable path from %s to %s", f.ID, f.Src, f.Dst))
			continue
		}
		pathEv[f.ID] = routed[f.ID]
	}
	sort.Strings(noPath)
	c := change.Check{Name: "l1.paths", Level: change.L1, Status: change.Pass, Message: "every added flow has a usable path", Evidence: pathEv}
	if len(noPath) > 0 {
		c.Status, c.Message = change.Fail, strings.Join(noPath, "; ")
	}
	if len(cs.Twin.AddFlows) == 0 {
		c.Status, c.Message = change.Skip, "the change adds no flows"
	}
	rep.Add(c)

	var latFail, bwFail []string
	nLat, nBw := 0, 0
	bnEv := map[string]any{}
	lq := ov.l1Queue(routed)
	for _, f := range cs.Twin.AddFlows {
		ai := info[f.ID]
		if !ai.usable {
			continue
		}
		lat, qd := lq.latency(rep, f.ID, f.EffectiveCC(), ov.base.latency(routed[f.ID]), ai.rate, len(ai.bn) > 0 && !slices.Contains(ai.bn, "demand"))
		k := change.KPI{Name: "latency", Subject: f.ID, Unit: "ms", After: change.F64(lat)}
		if f.SLO != nil && f.SLO.MaxLatencyMs > 0 {
			nLat++
			k.Objective = change.F64(f.SLO.MaxLatencyMs)
			if lat > f.SLO.MaxLatencyMs {
				latFail = append(latFail, fmt.Sprintf("flow %s: path latency %.3f ms > SLO %.3f ms", f.ID, lat, f.SLO.MaxLatencyMs)+lq.failDetail(f.ID, qd))
			}
		}
		rep.KPIs = append(rep.KPIs, k)
		rate, rateModel := lq.rate(f.ID, ai.rate)
		rk := change.KPI{Name: "rate", Subject: f.ID, Unit: "Gb/s", After: change.F64(rate)}
		if ai.bn != nil {
			bnEv[f.ID] = map[string]any{"bottleneck_links": ai.bn, "rate_gradient_per_gbps": ai.grads}
		} else if f.SLO != nil && f.SLO.Isolation == change.IsolationHard {
			bnEv[f.ID] = map[string]any{"reserved_gbps": f.SLO.MinRateGbps}
		}
		if f.SLO != nil && f.SLO.MinRateGbps > 0 {
			nBw++
			rk.Objective = change.F64(f.SLO.MinRateGbps)
			if rate+rateEps < f.SLO.MinRateGbps {
				bwFail = append(bwFail, fmt.Sprintf("flow %s: predicted %s rate %.4f Gb/s < SLO %.4f Gb/s", f.ID, rateModel, rate, f.SLO.MinRateGbps))
			}
		}
		rep.KPIs = append(rep.KPIs, rk)
	}
	latCheck := sloCheck("l1.latency", nLat, latFail, "every latency SLO is met by the path latency")
	lq.decorate(&latCheck)
	rep.Add(latCheck)
	bw := sloCheck("l1.bandwidth", nBw, bwFail, "every bandwidth SLO is met by the predicted rate (max-min; the queue model's where a flow crosses a FIFO or classed queue)")
	bw.Evidence = bnEv
	rep.Add(bw)

	var violations []string
	losers := 0
	for i := range impacts {
		fi := &impacts[i]
		if fi.DeltaGbps < 0 {
			losers++
		}
		if slo, ok := ov.sloOf(fi.Flow); ok && slo.MinRateGbps > 0 {
			fi.MinRateGbps = slo.MinRateGbps
			if fi.AfterGbps+rateEps < slo.MinRateGbps && fi.BeforeGbps+rateEps >= slo.MinRateGbps {
				fi.Violates = true
				violations = append(violations, fmt.Sprintf("flow %s (%s): %.4f -> %.4f Gb/s, below its SLO %.4f Gb/s", fi.Flow, fi.Owner, fi.BeforeGbps, fi.AfterGbps, slo.MinRateGbps))
			}
		}
	}
	sort.Slice(impacts, func(i, j int) bool {
		if impacts[i].DeltaGbps != impacts[j].DeltaGbps {
			return impacts[i].DeltaGbps < impacts[j].DeltaGbps
		}
		return impacts[i].Flow < impacts[j].Flow
	})
	sort.Strings(violations)
	rep.Ripple = impacts
	rc := change.Check{Name: "l1.ripple", Level: change.L1, Status: change.Pass,
		Message:  fmt.Sprintf("%d existing flows change rate (%d lose), none drops below its SLO", len(impacts), losers),
		Evidence: map[string]any{"flows_changed": len(impacts), "flows_losing_rate": losers}}
	if len(violations) > 0 {
		rc.Status, rc.Message = change.Fail, strings.Join(violations, "; ")
	}
	rep.Add(rc)
	rep.KPIs = append(rep.KPIs, change.KPI{Name: "total_throughput", Subject: "network", Unit: "Gb/s",
		Before: change.F64(totalBefore), After: change.F64(totalAfter)})

	// isolation on the links whose reservations or capacity the change touches
	var over []string
	nHard := 0
	for _, f := range cs.Twin.AddFlows {
		if f.SLO != nil && f.SLO.Isolation == change.IsolationHard {
			nHard++
		}
	}
	seen := map[string]bool{}
	for dl := range ov.resDelta {
		seen[dl] = true
	}
	for dl := range ov.dirCapOv {
		seen[dl] = true
	}
	for dl := range seen {
		capa, ok := ov.capOf(dl)
		if res := ov.reservedOf(dl); ok && res > capa+rateEps {
			over = append(over, fmt.Sprintf("link %s: hard reservations %.4f Gb/s exceed capacity %.4f Gb/s", dl, res, capa))
			nHard++
		}
	}
	sort.Strings(over)
	rep.Add(sloCheck("l1.isolation", nHard, over, "hard-isolated flows have their reserved capacity, shared with no other flow"))
	rep.Add(policyCheck(nil, nil, nil)) // incremental only without active limits (policy.go)
}
