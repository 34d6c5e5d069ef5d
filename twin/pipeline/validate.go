package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/twin"
)

// SLO records: the SLO of a flow is stored in the twin's services table as a Record
// with ID "slo:<flow>" and Kind "flow_slo", Spec the change.SLO JSON.
const (
	sloPrefix = "slo:"
	sloKind   = "flow_slo"
)

// rateEps is the tolerance below which a rate change is not a ripple (Gb/s).
const rateEps = 1e-9

// modelCache keeps what validation derives from a live revision: parsed device
// configurations (per device revision) and the bottleneck state of the live twin.
type modelCache struct {
	mu      sync.Mutex // guards the following
	trees   map[string]cachedTree
	cfgRev  uint64
	cfgs    map[string]change.Tree
	cfgOK   bool
	netRev  uint64
	net     *network.Network // devices and links only
	netIdx  *change.Index    // of net
	netOK   bool
	rev     uint64
	model   *liveModel
	modelOK bool
}

type cachedTree struct {
	rev  uint64
	tree change.Tree
}

// liveModel is the bottleneck view of one twin revision.
type liveModel struct {
	// mu serializes incremental perturbations of state (they are undone before
	// unlocking).
	mu         sync.Mutex
	devices    []network.Device
	graphOnce  sync.Once
	graph      *routing.Graph // built once from devices and links
	ecmpOnce   sync.Once
	ecmpMu     sync.Mutex // guards ecmp (its cache)
	ecmp       *routing.ECMP
	queuesOnce sync.Once
	queues     bool                    // hasQueues, computed once
	links      map[string]network.Link // by link ID
	dirCap     map[string]float64      // directed link -> capacity minus hard reservations
	reserved   map[string]float64      // directed link -> sum of hard reservations
	flows      map[string]network.Flow
	slos       map[string]change.SLO
	input      *bottleneck.Network // elastic and soft flows only
	state      *bottleneck.State
	total      float64
	// listBuf is the per-flow listing of incremental perturbations, reused from one
	// to the next (AppendRateChanges); guarded by mu.
	listBuf []bottleneck.RateChange
}

// trees returns every device's parsed intended configuration (read-only).
func (mc *modelCache) configs(r *twin.Reader) (map[string]change.Tree, error) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.cfgOK && mc.cfgRev == r.Revision() {
		return mc.cfgs, nil
	}
	if mc.trees == nil {
		mc.trees = map[string]cachedTree{}
	}
	devs, _, err := r.Devices(twin.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make(map[string]change.Tree, len(devs))
	for _, d := range devs {
		dc, err := r.DeviceConfig(d.ID)
		if err != nil {
			continue
		}
		if ct, ok := mc.trees[d.ID]; ok && ct.rev == dc.Revision {
			out[d.ID] = ct.tree
			continue
		}
		t, err := change.ParseTree(dc.Config)
		if err != nil {
			return nil, fmt.Errorf("device %s: intended config: %w", d.ID, err)
		}
		mc.trees[d.ID] = cachedTree{rev: dc.Revision, tree: t}
		out[d.ID] = t
	}
	mc.cfgs, mc.cfgRev, mc.cfgOK = out, r.Revision(), true
	return out, nil
}

// staticNet returns the devices and links of the twin at r's revision, cached.
func (mc *modelCache) staticNet(r *twin.Reader) *network.Network {
	n, _ := mc.staticIndexed(r)
	return n
}

// staticIndexed is staticNet and its change.Index (for the L0 checks), cached.
func (mc *modelCache) staticIndexed(r *twin.Reader) (*network.Network, *change.Index) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if mc.netOK && mc.netRev == r.Revision() {
		return mc.net, mc.netIdx
	}
	n := &network.Network{}
	ds, _, _ := r.Devices(twin.ListOptions{})
	for _, d := range ds {
		n.Devices = append(n.Devices, d.Device)
	}
	ls, _, _ := r.Links(twin.ListOptions{})
	for _, l := range ls {
		n.Links = append(n.Links, l.Link)
	}
	mc.net, mc.netIdx, mc.netRev, mc.netOK = n, change.NewIndex(n), r.Revision(), true
	return n, mc.netIdx
}

// model returns the bottleneck model of the twin at r's revision, cached.
func (mc *modelCache) get(r *twin.Reader) (*liveModel, error) {
	mc.mu.Lock()
	if mc.modelOK && mc.rev == r.Revision() {
		m := mc.model
		mc.mu.Unlock()
		return m, nil
	}
	mc.mu.Unlock()
	m, err := buildModel(r, nil)
	if err != nil {
		return nil, err
	}
	mc.mu.Lock()
	mc.model, mc.rev, mc.modelOK = m, r.Revision(), true
	mc.mu.Unlock()
	return m, nil
}

func linkUp(l network.Link) bool {
	return l.CapacityGbps > 0 && l.OperStatus != network.StatusDisabled && l.OperStatus != network.StatusUnreachable
}

// buildModel builds the bottleneck view of a twin (plus extra SLOs not yet stored).
func buildModel(r *twin.Reader, extraSLO map[string]change.SLO) (*liveModel, error) {
	m := &liveModel{links: map[string]network.Link{}, dirCap: map[string]float64{}, reserved: map[string]float64{},
		flows: map[string]network.Flow{}, slos: map[string]change.SLO{}}
	devs, _, err := r.Devices(twin.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, d := range devs {
		m.devices = append(m.devices, network.Device{ID: d.ID})
	}
	links, _, err := r.Links(twin.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		m.links[l.ID] = l.Link
		if linkUp(l.Link) {
			m.dirCap[l.ID] = l.CapacityGbps
			m.dirCap[l.ID+network.ReverseSuffix] = l.CapacityGbps
		}
	}
	recs, _, err := r.Records(twin.TableServices, twin.ListOptions{After: sloPrefix})
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		if !strings.HasPrefix(rec.ID, sloPrefix) {
			break
		}
		var slo change.SLO
		if err := json.Unmarshal(rec.Spec, &slo); err == nil {
			m.slos[strings.TrimPrefix(rec.ID, sloPrefix)] = slo
		}
	}
	for id, slo := range extraSLO {
		m.slos[id] = slo
	}
	flows, _, err := r.Flows(twin.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, f := range flows {
		m.flows[f.ID] = f.Flow
	}
	m.rebuild()
	return m, nil
}

// rebuild recomputes reservations and the bottleneck state from links, flows and SLOs.
func (m *liveModel) rebuild() {
	m.reserved = map[string]float64{}
	for id, f := range m.flows {
		if slo, ok := m.slos[id]; ok && slo.Isolation == change.IsolationHard {
			for _, dl := range f.Path {
				m.reserved[dl] += slo.MinRateGbps
			}
		}
	}
	in := &bottleneck.Network{}
	ids := make([]string, 0, len(m.dirCap))
	for id := range m.dirCap {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	usable := map[string]bool{}
	for _, id := range ids {
		c := m.dirCap[id] - m.reserved[id]
		if c > 0 {
			in.Links = append(in.Links, bottleneck.Link{ID: id, Capacity: c})
			usable[id] = true
		}
	}
	fids := make([]string, 0, len(m.flows))
	for id := range m.flows {
		fids = append(fids, id)
	}
	sort.Strings(fids)
	for _, id := range fids {
		f := m.flows[id]
		if slo, ok := m.slos[id]; ok && slo.Isolation == change.IsolationHard {
			continue // fixed at its reservation
		}
		ok := len(f.Path) > 0
		for _, dl := range f.Path {
			if !usable[dl] {
				ok = false
			}
		}
		if !ok {
			continue // unroutable: rate 0
		}
		in.Flows = append(in.Flows, bottleneck.Flow{ID: id, Path: f.Path, Demand: f.DemandGbps, Class: f.Class})
	}
	m.input = in
	st, err := bottleneck.New(in)
	if err != nil {
		m.state = nil
		return
	}
	m.state = st
	m.total = 0
	for _, id := range fids { // in ID order: the same sum on every run (a map's order is not)
		m.total += m.rate(id)
	}
}

// rate is a flow's predicted rate: its reservation if hard isolated, its max-min rate
// otherwise, 0 if it has no usable path.
func (m *liveModel) rate(id string) float64 {
	if slo, ok := m.slos[id]; ok && slo.Isolation == change.IsolationHard {
		if f, ok := m.flows[id]; ok && pathUsable(m, f.Path) {
			return slo.MinRateGbps
		}
		return 0
	}
	if m.state == nil {
		return 0
	}
	r, err := m.state.Rate(id)
	if err != nil {
		return 0
	}
	return r
}

func pathUsable(m *liveModel, p []string) bool {
	if len(p) == 0 {
		return false
	}
	for _, dl := range p {
		if _, ok := m.dirCap[dl]; !ok {
			return false
		}
	}
	return true
}

func (m *liveModel) latency(p []string) float64 {
	var sum float64
	for _, dl := range p {
		id, _ := strings.CutSuffix(dl, network.ReverseSuffix)
		sum += m.links[id].LatencyMs
	}
	return sum
}

// clone copies the maps so the copy can be changed (the bottleneck state is rebuilt).
func (m *liveModel) clone() *liveModel {
	c := &liveModel{devices: m.devices, graph: m.graphOf(), links: make(map[string]network.Link, len(m.links)), dirCap: make(map[string]float64, len(m.dirCap)),
		flows: make(map[string]network.Flow, len(m.flows)), slos: make(map[string]change.SLO, len(m.slos))}
	for k, v := range m.links {
		c.links[k] = v
	}
	for k, v := range m.dirCap {
		c.dirCap[k] = v
	}
	for k, v := range m.flows {
		c.flows[k] = v
	}
	for k, v := range m.slos {
		c.slos[k] = v
	}
	c.graphOnce.Do(func() {})
	return c
}

// invalidate drops the cached model.
func (mc *modelCache) invalidate() {
	mc.mu.Lock()
	mc.modelOK = false
	mc.model = nil
	mc.mu.Unlock()
}

// hardReservation is the capacity a flow reserves on its path: its minimum rate when its
// SLO asks for hard isolation, 0 otherwise.
func hardReservation(f change.FlowSpec) float64 {
	if f.SLO != nil && f.SLO.Isolation == change.IsolationHard {
		return f.SLO.MinRateGbps
	}
	return 0
}

// removeFlows drops the flows ids and their SLOs.
func (m *liveModel) removeFlows(ids []string) {
	for _, id := range ids {
		delete(m.flows, id)
		delete(m.slos, id)
	}
}

// addFlows adds flows in order: a flow without a path is routed (a hard-isolated one
// where its reserved rate fits), its SLO recorded, and reservations are rebuilt after
// each so the next flow sees them. routed receives every added flow's path.
func (m *liveModel) addFlows(adds []change.FlowSpec, routed map[string][]string) {
	for _, f := range adds {
		fl := f.Flow
		if len(fl.Path) == 0 {
			fl.Path = m.route(fl.Src, fl.Dst, fl.ID, hardReservation(f))
		}
		routed[fl.ID] = fl.Path
		m.flows[fl.ID] = fl
		if f.SLO != nil {
			m.slos[fl.ID] = *f.SLO
		}
		m.rebuildReservations()
	}
}

// route finds a path in the full (non-incremental) model.
func (m *liveModel) route(src, dst, flowID string, need float64) []string {
	return m.routeWith(src, dst, flowID, need,
		func(dl string) (float64, bool) { c, ok := m.dirCap[dl]; return c, ok },
		func(dl string) float64 { return m.reserved[dl] })
}

// runValidation forks the live twin, applies cs to the fork and validates it at
// cs.Level. It returns the report and the live revision the fork was taken at.
func (s *Service) runValidation(ctx context.Context, id string, cs *change.ChangeSet) (*change.Report, uint64, error) {
	start := time.Now()
	fork, err := s.cfg.Twins.Fork(ctx, twin.LiveID)
	if err != nil {
		return nil, 0, fmt.Errorf("pipeline: fork live twin: %w", err)
	}
	defer func() { _ = s.cfg.Twins.Delete(context.WithoutCancel(ctx), fork.ID()) }()
	base := fork.Info().ParentRevision
	rep := &change.Report{ChangeID: id, Level: cs.Level, BaseRevision: base}

	var l0 change.StaticResult
	var model *liveModel
	var configs map[string]change.Tree
	var rules []policy.Rule
	var down map[string]string
	err = fork.View(func(r *twin.Reader) error {
		var err error
		rules = activeLimitRules(r) // policy.go
		configs, err = s.l1.configs(r)
		if err != nil {
			return err
		}
		base, idx := s.l1.staticIndexed(r)
		// staticNetwork shares base's devices and links: idx indexes them
		in := change.StaticInput{Network: staticNetwork(r, base, cs), Configs: configs, Schema: s.schema, Index: idx}
		l0 = change.Static(cs, in)
		if cs.Level.Includes(change.L1) {
			model, err = s.l1.get(r)
			down = observedDown(r) // downlinks.go
		}
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("pipeline: read fork: %w", err)
	}
	for _, c := range l0.Checks {
		rep.Add(c)
	}
	// L1, incrementally on the cached live state when possible.
	var after *liveModel
	routed := map[string][]string{}
	incremental := false
	if model != nil && len(rules) == 0 {
		// the policy limits judge every link's load after the change: full model
		routed, incremental = s.incrementalL1(rep, cs, model)
		if !incremental {
			routed = map[string][]string{}
		}
	}
	if model != nil && !incremental {
		after = model.clone()
		after.removeFlows(cs.Twin.RemoveFlows)
		for _, cc := range cs.Twin.Capacities {
			l, ok := after.links[cc.Link]
			if !ok {
				continue
			}
			l.CapacityGbps = cc.CapacityGbps
			after.links[cc.Link] = l
			delete(after.dirCap, cc.Link)
			delete(after.dirCap, cc.Link+network.ReverseSuffix)
			if linkUp(l) {
				after.dirCap[cc.Link] = cc.CapacityGbps
				after.dirCap[cc.Link+network.ReverseSuffix] = cc.CapacityGbps
			}
		}
		after.rebuildReservations()
		after.addFlows(cs.Twin.AddFlows, routed)
	}
	// Apply the change to the fork: the twin's own integrity checks run on it.
	_, ferr := fork.Update(ctx, func(tx *twin.Txn) error {
		if err := applyDelta(tx, cs, configs, l0.After, routed); err != nil {
			return err
		}
		_, err := serviceRecords(tx, cs, false) // services.go
		return err
	})
	if ferr != nil {
		rep.Add(change.Check{Name: "l0.twin", Level: change.L0, Status: change.Fail, Message: "the change does not apply to the twin: " + ferr.Error()})
	} else {
		rep.Add(change.Check{Name: "l0.twin", Level: change.L0, Status: change.Pass, Message: "the change applies to a fork of the live twin"})
	}

	if model != nil && !incremental {
		after.rebuild()
		l1Checks(rep, cs, model, after, routed)
		rep.Add(policyCheck(rules, model, after))
	}
	if model != nil {
		rep.Add(downLinksCheck(cs, routed, model.flows, down))
	}
	if cs.Level.Includes(change.L2) {
		switch {
		case !rep.Passed:
			rep.Add(change.Check{Name: "l2.emulation", Level: change.L2, Status: change.Skip, Message: "not run: lower levels failed"})
		case s.cfg.Emulator == nil:
			rep.Add(change.Check{Name: "l2.emulation", Level: change.L2, Status: change.Fail, Message: "L2 not available: no emulation sandbox is attached to this server"})
		default:
			checks, err := s.cfg.Emulator.ValidateL2(ctx, fork, cs, rep)
			if err != nil {
				rep.Add(change.Check{Name: "l2.emulation", Level: change.L2, Status: change.Fail, Message: "emulation failed: " + err.Error()})
			}
			for _, c := range checks {
				rep.Add(c)
			}
		}
	}
	sort.SliceStable(rep.Checks, func(i, j int) bool { return levelOrder(rep.Checks[i].Level) < levelOrder(rep.Checks[j].Level) })
	rep.DurationMicros = time.Since(start).Microseconds()
	return rep, base, nil
}

// rebuildReservations recomputes hard reservations (needed for routing).
func (m *liveModel) rebuildReservations() {
	m.reserved = map[string]float64{}
	for id, f := range m.flows {
		if slo, ok := m.slos[id]; ok && slo.Isolation == change.IsolationHard {
			for _, dl := range f.Path {
				m.reserved[dl] += slo.MinRateGbps
			}
		}
	}
}

// staticNetwork is the part of the twin the L0 checks read: devices and links, and
// only the flows the change names (so it stays O(devices + links)).
func staticNetwork(r *twin.Reader, base *network.Network, cs *change.ChangeSet) *network.Network {
	n := &network.Network{Devices: base.Devices, Links: base.Links}
	seen := map[string]bool{}
	want := append([]string(nil), cs.Twin.RemoveFlows...)
	for _, f := range cs.Twin.AddFlows {
		want = append(want, f.ID)
	}
	for _, id := range want {
		if seen[id] {
			continue
		}
		seen[id] = true
		if f, err := r.Flow(id); err == nil {
			n.Flows = append(n.Flows, f.Flow)
		}
	}
	return n
}

// applyDelta writes the change into a twin transaction: device configurations (the
// post-change trees), flows (with their routed paths), SLO records and capacities.
func applyDelta(tx *twin.Txn, cs *change.ChangeSet, configs map[string]change.Tree, after map[string]change.Tree, routed map[string][]string) error {
	for _, dev := range cs.Devices() {
		t, ok := after[dev]
		if !ok {
			before := configs[dev]
			if before == nil {
				before = change.Tree{}
			}
			t = change.Clone(before).(map[string]any)
			if err := change.ApplyOps(t, cs.DeviceOps[dev]); err != nil {
				return fmt.Errorf("device %s: %w", dev, err)
			}
		}
		b, err := change.MarshalTree(t) // json.Marshal's bytes, without reflection
		if err != nil {
			return err
		}
		if _, err := tx.PutDeviceConfig(twin.DeviceConfig{Device: dev, Config: b}, twin.Upsert, twin.Any); err != nil {
			return err
		}
	}
	for _, id := range cs.Twin.RemoveFlows {
		if err := tx.DeleteFlow(id, twin.Any); err != nil {
			return err
		}
		_ = tx.DeleteRecord(twin.TableServices, sloPrefix+id, twin.Any)
	}
	for _, cc := range cs.Twin.Capacities {
		l, err := tx.Link(cc.Link)
		if err != nil {
			return err
		}
		nl := l.Link
		nl.CapacityGbps = cc.CapacityGbps
		if _, err := tx.PutLink(nl, twin.UpdateOnly, twin.Any); err != nil {
			return err
		}
	}
	for _, f := range cs.Twin.AddFlows {
		fl := f.Flow
		if p, ok := routed[fl.ID]; ok {
			fl.Path = p
		}
		if len(fl.Path) == 0 {
			continue // unroutable: reported by l1.paths; not stored
		}
		if _, err := tx.PutFlow(fl, twin.Upsert, twin.Any); err != nil {
			return err
		}
		if f.SLO != nil {
			spec, _ := json.Marshal(f.SLO)
			if _, err := tx.PutRecord(twin.TableServices, twin.Record{ID: sloPrefix + fl.ID, Kind: sloKind, Spec: spec}, twin.Upsert, twin.Any); err != nil {
				return err
			}
		}
	}
	return nil
}

// l1Checks compares the model before and after the change.
func l1Checks(rep *change.Report, cs *change.ChangeSet, before, after *liveModel, routed map[string][]string) {
	if after.state == nil {
		rep.Add(change.Check{Name: "l1.model", Level: change.L1, Status: change.Fail, Message: "the bottleneck model could not be built for the changed network"})
		return
	}
	added := map[string]bool{}
	for _, f := range cs.Twin.AddFlows {
		added[f.ID] = true
	}
	// paths
	var noPath []string
	pathEv := map[string]any{}
	for _, f := range cs.Twin.AddFlows {
		p := routed[f.ID]
		if !pathUsable(after, p) {
			noPath = append(noPath, fmt.Sprintf("flow %s: no usable path from %s to %s", f.ID, f.Src, f.Dst))
			continue
		}
		pathEv[f.ID] = p
	}
	// existing flows that lose their path (capacity set to 0)
	for id, f := range before.flows {
		if pathUsable(before, f.Path) && !pathUsable(after, f.Path) && !added[id] {
			if _, still := after.flows[id]; still {
				noPath = append(noPath, fmt.Sprintf("flow %s: path %v no longer usable", id, f.Path))
			}
		}
	}
	sort.Strings(noPath)
	c := change.Check{Name: "l1.paths", Level: change.L1, Status: change.Pass, Message: "every added and existing flow has a usable path", Evidence: pathEv}
	if len(noPath) > 0 {
		c.Status, c.Message = change.Fail, strings.Join(noPath, "; ")
	}
	if len(cs.Twin.AddFlows) == 0 && len(cs.Twin.Capacities) == 0 {
		c.Status, c.Message = change.Skip, "the change adds no flows and changes no capacity"
	}
	rep.Add(c)

	// latency SLOs of added flows: propagation plus the queue model's queueing delay
	var lq *l1Queue
	if len(cs.Twin.AddFlows) > 0 {
		lq = newL1Queue(after, func(d string) float64 { return after.dirCap[d] + after.reserved[d] }, slices.Collect(maps.Values(after.flows)))
	}
	var latFail []string
	nLat := 0
	for _, f := range cs.Twin.AddFlows {
		p := routed[f.ID]
		if !pathUsable(after, p) {
			continue
		}
		bn, _ := after.state.Bottlenecks(f.ID)
		lat, qd := lq.latency(rep, f.ID, f.EffectiveCC(), after.latency(p), after.rate(f.ID), len(bn) > 0 && !slices.Contains(bn, "demand"))
		k := change.KPI{Name: "latency", Subject: f.ID, Unit: "ms", After: change.F64(lat)}
		if f.SLO != nil && f.SLO.MaxLatencyMs > 0 {
			nLat++
			k.Objective = change.F64(f.SLO.MaxLatencyMs)
			if lat > f.SLO.MaxLatencyMs {
				msg := fmt.Sprintf("flow %s: path latency %.3f ms > SLO %.3f ms", f.ID, lat, f.SLO.MaxLatencyMs)
				latFail = append(latFail, msg+lq.failDetail(f.ID, qd))
			}
		}
		rep.KPIs = append(rep.KPIs, k)
	}
	latCheck := sloCheck("l1.latency", nLat, latFail, "every latency SLO is met by the path latency")
	if lq != nil {
		lq.decorate(&latCheck)
	}
	rep.Add(latCheck)

	// bandwidth SLOs of added flows
	var bwFail []string
	nBw := 0
	bnEv := map[string]any{}
	for _, f := range cs.Twin.AddFlows {
		if !pathUsable(after, routed[f.ID]) {
			continue
		}
		r, rateModel := lq.rate(f.ID, after.rate(f.ID))
		k := change.KPI{Name: "rate", Subject: f.ID, Unit: "Gb/s", After: change.F64(r)}
		if bn, err := after.state.Bottlenecks(f.ID); err == nil {
			ev := map[string]any{"bottleneck_links": bn}
			grads := map[string]float64{}
			for _, l := range bn {
				if g, err := after.state.LinkGradient(l); err == nil {
					grads[l] = g.Right.Flows[f.ID]
				}
			}
			ev["rate_gradient_per_gbps"] = grads
			bnEv[f.ID] = ev
		} else if f.SLO != nil && f.SLO.Isolation == change.IsolationHard {
			bnEv[f.ID] = map[string]any{"reserved_gbps": f.SLO.MinRateGbps}
		}
		if f.SLO != nil && f.SLO.MinRateGbps > 0 {
			nBw++
			k.Objective = change.F64(f.SLO.MinRateGbps)
			if r+rateEps < f.SLO.MinRateGbps {
				bwFail = append(bwFail, fmt.Sprintf("flow %s: predicted %s rate %.4f Gb/s < SLO %.4f Gb/s", f.ID, rateModel, r, f.SLO.MinRateGbps))
			}
		}
		rep.KPIs = append(rep.KPIs, k)
	}
	bw := sloCheck("l1.bandwidth", nBw, bwFail, "every bandwidth SLO is met by the predicted rate (max-min; the queue model's where a flow crosses a FIFO or classed queue)")
	bw.Evidence = bnEv
	rep.Add(bw)

	// ripple on every existing flow
	var impacts []change.FlowImpact
	var violations []string
	for id, f := range before.flows {
		if _, still := after.flows[id]; !still {
			continue
		}
		rb, ra := before.rate(id), after.rate(id)
		if math.Abs(ra-rb) <= rateEps*math.Max(1, rb) {
			continue
		}
		fi := change.FlowImpact{Flow: id, Owner: f.Owner, BeforeGbps: rb, AfterGbps: ra, DeltaGbps: ra - rb}
		if slo, ok := after.slos[id]; ok && slo.MinRateGbps > 0 {
			fi.MinRateGbps = slo.MinRateGbps
			if ra+rateEps < slo.MinRateGbps && rb+rateEps >= slo.MinRateGbps {
				fi.Violates = true
				violations = append(violations, fmt.Sprintf("flow %s (%s): %.4f -> %.4f Gb/s, below its SLO %.4f Gb/s", id, f.Owner, rb, ra, slo.MinRateGbps))
			}
		}
		if bn, err := after.state.Bottlenecks(id); err == nil {
			fi.BottleneckAfter = bn
		}
		impacts = append(impacts, fi)
	}
	sort.Slice(impacts, func(i, j int) bool {
		if impacts[i].DeltaGbps != impacts[j].DeltaGbps {
			return impacts[i].DeltaGbps < impacts[j].DeltaGbps
		}
		return impacts[i].Flow < impacts[j].Flow
	})
	sort.Strings(violations)
	rep.Ripple = impacts
	losers := 0
	for _, im := range impacts {
		if im.DeltaGbps < 0 {
			losers++
		}
	}
	rc := change.Check{Name: "l1.ripple", Level: change.L1, Status: change.Pass,
		Message:  fmt.Sprintf("%d existing flows change rate (%d lose), none drops below its SLO", len(impacts), losers),
		Evidence: map[string]any{"flows_changed": len(impacts), "flows_losing_rate": losers}}
	if len(violations) > 0 {
		rc.Status, rc.Message = change.Fail, strings.Join(violations, "; ")
	}
	rep.Add(rc)
	rep.KPIs = append(rep.KPIs, change.KPI{Name: "total_throughput", Subject: "network", Unit: "Gb/s",
		Before: change.F64(before.total), After: change.F64(after.total)})

	// isolation: hard reservations fit their links
	var over []string
	nHard := 0
	for _, slo := range after.slos {
		if slo.Isolation == change.IsolationHard {
			nHard++
		}
	}
	for dl, res := range after.reserved {
		if capa, ok := after.dirCap[dl]; ok && res > capa+rateEps {
			over = append(over, fmt.Sprintf("link %s: hard reservations %.4f Gb/s exceed capacity %.4f Gb/s", dl, res, capa))
		}
	}
	sort.Strings(over)
	ic := sloCheck("l1.isolation", nHard, over, "hard-isolated flows have their reserved capacity, shared with no other flow")
	rep.Add(ic)
}

func sloCheck(name string, n int, fails []string, okMsg string) change.Check {
	c := change.Check{Name: name, Level: change.L1, Status: change.Pass, Message: okMsg}
	switch {
	case len(fails) > 0:
		c.Status, c.Message = change.Fail, strings.Join(fails, "; ")
	case n == 0:
		c.Status, c.Message = change.Skip, "no flow with this kind of objective"
	}
	return c
}

func levelOrder(l change.Level) int {
	switch l {
	case change.L0:
		return 0
	case change.L1:
		return 1
	}
	return 2
}
