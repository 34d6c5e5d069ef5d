package whatif

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sort"
	"strings"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
)

// Schema names the report's JSON form.
const Schema = "twinflow.whatif/v1"

// ErrInvalid marks a base network or scenario the runner refuses.
var ErrInvalid = errors.New("whatif: invalid")

// Report is the result of a scenario.
type Report struct {
	Schema   string       `json:"schema"`
	Scenario string       `json:"scenario,omitempty"`
	Base     BaseInfo     `json:"base"`
	Cases    []CaseResult `json:"cases"`
	// Criticality ranks links by the throughput their single failure loses (N-1).
	Criticality []LinkImpact `json:"criticality,omitempty"`
	// Plan ranks link upgrades by the total-throughput gradient (capacity plan).
	Plan            []Upgrade `json:"plan,omitempty"`
	N2              *N2Info   `json:"n2,omitempty"`
	Recommendations []string  `json:"recommendations"`
}

// BaseInfo describes the base network.
type BaseInfo struct {
	Source    string  `json:"source,omitempty"`
	Links     int     `json:"links"`
	Flows     int     `json:"flows"`
	TotalGbps float64 `json:"total_gbps"`
	// Violations counts flows below their SLO before any perturbation.
	Violations int `json:"violations"`
}

// CaseResult is one case's outcome, relative to the base.
type CaseResult struct {
	Name      string  `json:"name"`
	Kind      string  `json:"kind"` // case, n1, n2, upgrade
	TotalGbps float64 `json:"total_gbps"`
	DeltaGbps float64 `json:"delta_gbps"`
	// FlowsChanged counts flows whose rate changed; FlowsLost those whose rate fell
	// (dropped flows included); Rerouted and Dropped flows after failures.
	FlowsChanged int `json:"flows_changed"`
	FlowsLost    int `json:"flows_lost"`
	Rerouted     int `json:"rerouted"`
	Dropped      int `json:"dropped"`
	// Flows lists the flows with the largest losses (at most the scenario's top).
	Flows []FlowDelta `json:"flows,omitempty"`
	SLOs  []SLODelta  `json:"slos,omitempty"`
	// Violations counts flows below their SLO's min_rate_gbps in this case.
	Violations int    `json:"violations"`
	Error      string `json:"error,omitempty"`
}

// FlowDelta is one flow's rate change.
type FlowDelta struct {
	Flow    string  `json:"flow"`
	OldGbps float64 `json:"old_gbps"`
	NewGbps float64 `json:"new_gbps"`
	Added   bool    `json:"added,omitempty"`
	Removed bool    `json:"removed,omitempty"`
}

// SLODelta is an SLO's aggregate rate and violating flows in a case.
type SLODelta struct {
	SLO        string   `json:"slo"`
	OldGbps    float64  `json:"old_gbps"`
	NewGbps    float64  `json:"new_gbps"`
	Violated   []string `json:"violated,omitempty"` // flows below min_rate_gbps (at most top)
	Violations int      `json:"violations"`
}

// LinkImpact is a link's N-1 criticality.
type LinkImpact struct {
	Link       string  `json:"link"`
	LossGbps   float64 `json:"loss_gbps"`
	Violations int     `json:"violations"`
	Dropped    int     `json:"dropped"`
}

// Upgrade is a capacity-plan candidate.
type Upgrade struct {
	Link string `json:"link"`
	// Gradient is Σ over the link's directions of ∂(total throughput)/∂capacity from
	// above (Gb/s of throughput per Gb/s of capacity).
	Gradient float64 `json:"gradient"`
	// StepGbps and GainGbps: the capacity added to each direction and the total
	// throughput it bought, measured by applying it.
	StepGbps float64 `json:"step_gbps"`
	GainGbps float64 `json:"gain_gbps"`
}

// N2Info says how the pairs sweep was drawn.
type N2Info struct {
	Pairs   int   `json:"pairs"`
	Cases   int   `json:"cases"`
	Sampled bool  `json:"sampled"`
	Seed    int64 `json:"seed"`
}

// Options tune a run.
type Options struct {
	// Source describes the base for the report ("file:net.yaml", "snapshot:NAME").
	Source string
	// Progress, if set, is called after each case with the cases done and the total.
	Progress func(done, total int)
}

// Runner holds one engine State on the base network and applies cases to it.
type Runner struct {
	sc    *Scenario
	net   *network.Network
	st    *bottleneck.State
	graph *routing.Graph
	rtr   *bottleneck.Router

	links    []string            // undirected link IDs with both directions in the engine, sorted
	dirs     map[string][]string // link ID or directed ID → directed IDs
	devLinks map[string][]string // device → directed IDs
	ends     map[string][2]string
	base     map[string]bottleneck.Flow
	baseCap  map[string]float64
	baseRate map[string]float64
	order    []string // base flow IDs in input order
	total    float64

	sloOf    map[string][]int // flow → SLO indices
	sloFlows [][]string

	// changes and pool are reused from case to case (cleared, not reallocated)
	changes map[string]*acc
	pool    []acc
	// first holds the rate changes of a case's first update until a second one comes
	// (then they go into changes): a single-update case (a sweep's failure) is
	// summarised from the engine's listing without a map.
	first    []bottleneck.RateChange
	recorded bool
	// firstBuf (first's storage) and listBuf (later updates' listings, accumulated
	// into changes at once) are reused from update to update and case to case
	// (Delta.AppendRateChanges), so a case allocates no listing once they have grown.
	firstBuf, listBuf []bottleneck.RateChange
}

// NewRunner routes the base network's flows (those without a path) and builds the
// engine State once. The network must validate.
func NewRunner(sc *Scenario, n *network.Network) (*Runner, error) {
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("%w: base network: %v", ErrInvalid, err)
	}
	r := &Runner{sc: sc, net: n, dirs: map[string][]string{}, devLinks: map[string][]string{}, ends: map[string][2]string{}}
	var err error
	if r.graph, err = routing.NewGraph(n); err != nil {
		return nil, fmt.Errorf("%w: base network: %v", ErrInvalid, err)
	}
	if sc.Routing == "ecmp" {
		if r.rtr, err = bottleneck.NewRouter(n, bottleneck.RouteECMP); err != nil {
			return nil, err
		}
	}
	for _, l := range n.Links {
		if l.OperStatus == network.StatusDisabled {
			continue
		}
		fwd, rev, ok := network.LinkDirections(l)
		if !ok {
			continue
		}
		r.links = append(r.links, l.ID)
		r.dirs[l.ID] = []string{fwd.ID, rev.ID}
		if rev.ID != l.ID {
			r.dirs[rev.ID] = []string{rev.ID}
		}
		for _, d := range l.Endpoints {
			r.devLinks[d.Device] = append(r.devLinks[d.Device], fwd.ID, rev.ID)
		}
	}
	sort.Strings(r.links)
	for _, f := range n.Flows {
		r.ends[f.ID] = [2]string{f.Src, f.Dst}
	}
	in, err := bottleneck.FromNetwork(n, r.routeFunc())
	if err != nil {
		return nil, fmt.Errorf("%w: base network: %v", ErrInvalid, err)
	}
	if r.st, err = bottleneck.New(in); err != nil {
		return nil, fmt.Errorf("%w: base network: %v", ErrInvalid, err)
	}
	r.base = make(map[string]bottleneck.Flow, len(in.Flows))
	r.baseRate = make(map[string]float64, len(in.Flows))
	for _, f := range in.Flows {
		r.base[f.ID] = f
		r.order = append(r.order, f.ID)
		rate, _ := r.st.Rate(f.ID)
		r.baseRate[f.ID] = rate
		r.total += rate
	}
	r.baseCap = make(map[string]float64, len(in.Links))
	for _, l := range in.Links {
		r.baseCap[l.ID] = l.Capacity
	}
	r.sloOf = map[string][]int{}
	owners := map[string][]string{}
	for _, f := range n.Flows {
		if f.Owner != "" {
			owners[f.Owner] = append(owners[f.Owner], f.ID)
		}
	}
	for i, o := range sc.SLOs {
		fl := o.Flows
		if o.Owner != "" {
			fl = owners[o.Owner]
		}
		for _, id := range fl {
			if _, ok := r.base[id]; !ok {
				return nil, fmt.Errorf("%w: slos[%d] %q: unknown flow %q", ErrInvalid, i, o.Name, id)
			}
			r.sloOf[id] = append(r.sloOf[id], i)
		}
		r.sloFlows = append(r.sloFlows, fl)
	}
	return r, nil
}

// routeFunc places a flow without a path: ECMP through the router, shortest through
// one Dijkstra tree per source device (cached for the whole base).
func (r *Runner) routeFunc() bottleneck.RouteFunc {
	if r.rtr != nil {
		return r.rtr.Route
	}
	trees := map[string]map[string]routing.Path{}
	o := routing.Options{Metric: routing.Latency}
	return func(f network.Flow) ([]string, error) {
		return r.shortest(trees, o, f.Src, f.Dst)
	}
}

func (r *Runner) shortest(trees map[string]map[string]routing.Path, o routing.Options, src, dst string) ([]string, error) {
	t, ok := trees[src]
	if !ok {
		var err error
		if t, err = r.graph.ShortestFrom(src, o); err != nil {
			return nil, err
		}
		trees[src] = t
	}
	p, ok := t[dst]
	if !ok || len(p.Links) == 0 {
		return nil, fmt.Errorf("%w: no path", routing.ErrNoPath)
	}
	return p.Links, nil
}

// reroute returns the Reroute of one FailLinks call: flows are routed again between
// their endpoints avoiding every failed link, from one shortest-path tree per source
// device (routing.TreeSearch: the link weights and exclusions are evaluated once per
// call, each tree costs one Dijkstra).
func (r *Runner) reroute() bottleneck.Reroute {
	if r.rtr != nil {
		return r.rtr.Reroute()
	}
	var ts *routing.TreeSearch
	trees := map[int]*routing.Tree{}
	return func(id string, f *bottleneck.Failure) ([]string, bool) {
		e, ok := r.ends[id]
		if !ok {
			return nil, false
		}
		src, ok1 := r.graph.DeviceIndex(e[0])
		dst, ok2 := r.graph.DeviceIndex(e[1])
		if !ok1 || !ok2 {
			return nil, false
		}
		if ts == nil { // the failed links marked by index once, not looked up per link
			mask := make([]bool, r.graph.NumLinks())
			for _, id := range f.FailedLinks() {
				if e, ok := r.graph.LinkIndex(id); ok {
					mask[e] = true
				}
			}
			ts = r.graph.NewTreeSearch(routing.Options{Metric: routing.Latency, ExcludeIndex: mask})
		}
		t, ok := trees[src]
		if !ok {
			var err error
			if t, err = ts.Tree([]int{src}); err != nil {
				return nil, false
			}
			trees[src] = t
		}
		p := t.PathTo(dst)
		if len(p) == 0 {
			return nil, false
		}
		out := make([]string, len(p))
		for i, l := range p {
			out[i] = r.graph.LinkID(int(l))
		}
		return out, true
	}
}

// BaseTotal is the base network's total throughput.
func (r *Runner) BaseTotal() float64 { return r.total }

// Links lists the links of the base (undirected IDs), sorted.
func (r *Runner) Links() []string { return slices.Clone(r.links) }

// State exposes the engine State (tests compare it with full recomputations).
func (r *Runner) State() *bottleneck.State { return r.st }

// Run runs every case and sweep of the scenario and assembles the report.
func (r *Runner) Run(ctx context.Context, o Options) (*Report, error) {
	rep := &Report{Schema: Schema, Scenario: r.sc.Name, Base: BaseInfo{Source: o.Source, Links: len(r.links), Flows: len(r.order), TotalGbps: r.total}}
	for id, sl := range r.sloOf {
		for _, i := range sl {
			if r.baseRate[id] < r.sc.SLOs[i].MinRateGbps {
				rep.Base.Violations++
			}
		}
	}
	type job struct {
		name, kind string
		p          Perturbation
	}
	var jobs []job
	for _, c := range r.sc.Cases {
		jobs = append(jobs, job{c.Name, "case", c.Perturbations})
	}
	if r.sc.Sweeps.N1 {
		for _, l := range r.links {
			jobs = append(jobs, job{"fail " + l, "n1", Perturbation{FailLinks: []string{l}}})
		}
	}
	if n2 := r.sc.Sweeps.N2; n2 != nil {
		pairs, sampled := Pairs(len(r.links), n2.MaxCases, n2.Seed)
		rep.N2 = &N2Info{Pairs: len(r.links) * (len(r.links) - 1) / 2, Cases: len(pairs), Sampled: sampled, Seed: n2.Seed}
		for _, p := range pairs {
			a, b := r.links[p[0]], r.links[p[1]]
			jobs = append(jobs, job{"fail " + a + "+" + b, "n2", Perturbation{FailLinks: []string{a, b}}})
		}
	}
	if p := r.sc.Sweeps.CapacityPlan; p != nil {
		// first, while the base's levels are fresh: gradients need them
		plan, err := r.plan(p)
		if err != nil {
			return nil, err
		}
		rep.Plan = plan
	}
	for i, j := range jobs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cr, err := r.RunCase(j.name, j.p)
		if err != nil {
			return nil, err
		}
		cr.Kind = j.kind
		rep.Cases = append(rep.Cases, *cr)
		if o.Progress != nil {
			o.Progress(i+1, len(jobs))
		}
	}
	for _, c := range rep.Cases {
		if c.Kind == "n1" && c.Error == "" {
			rep.Criticality = append(rep.Criticality, LinkImpact{Link: strings.TrimPrefix(c.Name, "fail "), LossGbps: 0 - c.DeltaGbps, Violations: c.Violations, Dropped: c.Dropped})
		}
	}
	sort.SliceStable(rep.Criticality, func(i, j int) bool {
		a, b := rep.Criticality[i], rep.Criticality[j]
		if a.Violations != b.Violations {
			return a.Violations > b.Violations
		}
		return a.LossGbps > b.LossGbps
	})
	rep.Recommendations = recommend(rep)
	return rep, nil
}

// Pairs returns the pairs (i<j) of n items in lexicographic order, or, when there are
// more than max, a deterministic sample of max distinct pairs drawn with seed, sorted.
func Pairs(n, max int, seed int64) ([][2]int, bool) {
	total := n * (n - 1) / 2
	var out [][2]int
	if total <= max {
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				out = append(out, [2]int{i, j})
			}
		}
		return out, false
	}
	rng := rand.New(rand.NewSource(seed))
	seen := make(map[[2]int]bool, max)
	for len(out) < max {
		i, j := rng.Intn(n), rng.Intn(n)
		if i == j {
			continue
		}
		if i > j {
			i, j = j, i
		}
		p := [2]int{i, j}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b [2]int) int {
		if a[0] != b[0] {
			return a[0] - b[0]
		}
		return a[1] - b[1]
	})
	return out, true
}

// undo records what a case changed, to put the base back.
type undo struct {
	failed  []string        // directed links failed
	moved   map[string]bool // base flows rerouted
	removed map[string]bool // base flows removed or dropped
	added   map[string]bool // flows not in the base, added
	caps    map[string]bool // directed links whose capacity changed
	demands map[string]bool // base flows whose demand changed
}

type acc struct {
	old, new       float64
	added, removed bool
}

// RunCase applies one perturbation set to the base, reads the deltas, and reverts.
// An error applying a perturbation (an unknown link, say) is the case's Error; the
// state is reverted either way. The returned error is an engine failure to revert.
func (r *Runner) RunCase(name string, p Perturbation) (*CaseResult, error) {
	if len(p.AddDevices)+len(p.AddLinks) > 0 {
		return r.runTopologyCase(name, p)
	}
	u := &undo{moved: map[string]bool{}, removed: map[string]bool{}, added: map[string]bool{}, caps: map[string]bool{}, demands: map[string]bool{}}
	if r.changes == nil {
		r.changes = map[string]*acc{}
	}
	clear(r.changes)
	r.pool = r.pool[:0]
	r.first, r.recorded = nil, false
	changes := r.changes
	cr := &CaseResult{Name: name, TotalGbps: r.total}
	err := r.apply(p, u, changes, cr)
	if err != nil {
		cr.Error = err.Error()
	}
	r.summarise(cr, changes, err != nil)
	if err := r.revert(u); err != nil {
		return nil, fmt.Errorf("whatif: case %q: revert: %w", name, err)
	}
	return cr, nil
}

func (r *Runner) record(d *bottleneck.Delta, changes map[string]*acc, cr *CaseResult) error {
	if !r.recorded {
		// the first update's listing stays in firstBuf until a second update comes
		// or the case is summarised
		cs, err := d.AppendRateChanges(r.firstBuf[:0])
		if err != nil {
			return err
		}
		r.firstBuf = cs
		cr.TotalGbps = d.Total
		r.first, r.recorded = cs, true
		return nil
	}
	cs, err := d.AppendRateChanges(r.listBuf[:0])
	if err != nil {
		return err
	}
	r.listBuf = cs
	cr.TotalGbps = d.Total
	r.flushFirst(changes)
	r.accumulate(cs, changes)
	return nil
}

// flushFirst moves the first update's changes into changes.
func (r *Runner) flushFirst(changes map[string]*acc) {
	if r.first != nil {
		r.accumulate(r.first, changes)
		r.first = nil
	}
}

func (r *Runner) accumulate(cs []bottleneck.RateChange, changes map[string]*acc) {
	for _, c := range cs {
		a, ok := changes[c.Flow]
		if !ok {
			if len(r.pool) == cap(r.pool) {
				r.pool = make([]acc, 0, max(2*cap(r.pool), 1024)) // earlier entries stay valid in the old array
			}
			r.pool = append(r.pool, acc{old: c.Old, added: c.Added})
			a = &r.pool[len(r.pool)-1]
			changes[c.Flow] = a
		}
		a.new = c.New
		a.removed = c.Removed
		if c.Added {
			a.removed = false
		}
	}
}

func (r *Runner) directed(id string) ([]string, error) {
	d, ok := r.dirs[id]
	if !ok {
		return nil, fmt.Errorf("unknown link %q", id)
	}
	return d, nil
}

func (r *Runner) apply(p Perturbation, u *undo, changes map[string]*acc, cr *CaseResult) error {
	var fail []string
	for _, id := range p.FailLinks {
		d, err := r.directed(id)
		if err != nil {
			return fmt.Errorf("fail_links: %v", err)
		}
		fail = append(fail, d...)
	}
	for _, dev := range p.FailDevices {
		d, ok := r.devLinks[dev]
		if !ok {
			return fmt.Errorf("fail_devices: unknown device %q (or a device without links)", dev)
		}
		fail = append(fail, d...)
	}
	if len(fail) > 0 {
		fail = uniq(fail)
		d, err := r.st.FailLinks(fail, r.reroute())
		if err != nil {
			return err
		}
		u.failed = append(u.failed, fail...)
		for _, f := range d.Rerouted {
			if _, ok := r.base[f]; ok && !u.added[f] {
				u.moved[f] = true
			}
		}
		for _, f := range d.Dropped {
			if _, ok := r.base[f]; ok && !u.added[f] {
				u.removed[f] = true
			}
		}
		cr.Rerouted += len(d.Rerouted)
		cr.Dropped += len(d.Dropped)
		if err := r.record(d, changes, cr); err != nil {
			return err
		}
	}
	for i, c := range p.Capacities {
		d, err := r.directed(c.Link)
		if err != nil {
			return fmt.Errorf("capacities[%d]: %v", i, err)
		}
		for _, l := range d {
			dl, err := r.st.SetCapacity(l, c.CapacityGbps)
			if err != nil {
				return fmt.Errorf("capacities[%d]: %v", i, err)
			}
			u.caps[l] = true
			if err := r.record(dl, changes, cr); err != nil {
				return err
			}
		}
	}
	for i, id := range p.RemoveFlows {
		d, err := r.st.RemoveFlow(id)
		if err != nil {
			return fmt.Errorf("remove_flows[%d]: %v", i, err)
		}
		if _, ok := r.base[id]; ok && !u.added[id] {
			u.removed[id] = true
		}
		delete(u.added, id)
		if err := r.record(d, changes, cr); err != nil {
			return err
		}
	}
	for i, f := range p.AddFlows {
		if _, ok := r.base[f.ID]; ok {
			if !u.removed[f.ID] {
				return fmt.Errorf("add_flows[%d]: flow %q already exists", i, f.ID)
			}
			return fmt.Errorf("add_flows[%d]: flow %q: re-adding a removed base flow is not supported", i, f.ID)
		}
		path := f.Path
		if len(path) == 0 {
			var err error
			if path, err = r.routeAdded(f, u.failed); err != nil {
				return fmt.Errorf("add_flows[%d] %q: no route from %q to %q: %v", i, f.ID, f.Src, f.Dst, err)
			}
		}
		d, err := r.st.AddFlow(bottleneck.Flow{ID: f.ID, Path: path, Demand: f.DemandGbps, Class: f.Class})
		if err != nil {
			return fmt.Errorf("add_flows[%d]: %v", i, err)
		}
		u.added[f.ID] = true
		if err := r.record(d, changes, cr); err != nil {
			return err
		}
	}
	scale := func(at, id string, k float64) error {
		bf, ok := r.base[id]
		if !ok || u.removed[id] {
			return fmt.Errorf("%s: unknown flow %q", at, id)
		}
		if bf.Demand == nil {
			return fmt.Errorf("%s: flow %q has no demand to scale (elastic)", at, id)
		}
		v := *bf.Demand * k
		if msg := network.CheckRate(v); msg != "" {
			return fmt.Errorf("%s: flow %q: scaled demand %s", at, id, msg)
		}
		d, err := r.st.SetDemand(id, &v)
		if err != nil {
			return fmt.Errorf("%s: %v", at, err)
		}
		u.demands[id] = true
		return r.record(d, changes, cr)
	}
	for i, s := range p.ScaleFlows {
		if err := scale(fmt.Sprintf("scale_flows[%d]", i), s.Flow, s.Factor); err != nil {
			return err
		}
	}
	if p.ScaleTraffic != 0 {
		for _, id := range r.order {
			if r.base[id].Demand == nil || u.removed[id] || u.demands[id] {
				continue
			}
			if err := scale("scale_traffic", id, p.ScaleTraffic); err != nil {
				return err
			}
		}
	}
	return nil
}

// routeAdded routes a flow added by a case, avoiding the links the case failed.
func (r *Runner) routeAdded(f network.Flow, failed []string) ([]string, error) {
	fs := map[string]bool{}
	for _, l := range failed {
		fs[l] = true
	}
	r.ends[f.ID] = [2]string{f.Src, f.Dst}
	if r.rtr != nil {
		r.rtr.Remember(f.ID, f.Src, f.Dst)
	}
	p, err := r.graph.Shortest(f.Src, f.Dst, routing.Options{Metric: routing.Latency, Exclude: func(id string) bool { return fs[id] }})
	if err != nil {
		return nil, err
	}
	return p.Links, nil
}

// revert puts the base back: added flows out, links restored, capacities, paths,
// removed flows and demands back to the base's.
func (r *Runner) revert(u *undo) error {
	for _, id := range sortedKeys(u.added) {
		if _, err := r.st.Path(id); err != nil {
			continue // dropped by a failure
		}
		if _, err := r.st.RemoveFlow(id); err != nil {
			return err
		}
		delete(r.ends, id)
	}
	// links back, rerouted flows back on their paths, dropped or removed flows added
	// again: one update
	var moves, adds []bottleneck.Flow
	for _, id := range sortedKeys(u.moved) {
		if !u.removed[id] {
			moves = append(moves, bottleneck.Flow{ID: id, Path: r.base[id].Path})
		}
	}
	for _, id := range sortedKeys(u.removed) {
		adds = append(adds, r.base[id])
	}
	if len(u.failed)+len(moves)+len(adds) > 0 {
		if _, err := r.st.Restore(u.failed, moves, adds); err != nil {
			return err
		}
	}
	for _, l := range sortedKeys(u.caps) {
		if _, err := r.st.SetCapacity(l, r.baseCap[l]); err != nil {
			return err
		}
	}
	for _, id := range sortedKeys(u.demands) {
		if u.removed[id] {
			continue
		}
		if _, err := r.st.SetDemand(id, r.base[id].Demand); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) summarise(cr *CaseResult, changes map[string]*acc, failed bool) {
	cr.DeltaGbps = cr.TotalGbps - r.total
	// the top flows by loss, kept sorted while scanning (O(n log top), not a sort of
	// every changed flow)
	less := func(a, b FlowDelta) bool {
		da, db := a.NewGbps-a.OldGbps, b.NewGbps-b.OldGbps
		if da != db {
			return da < db
		}
		return a.Flow < b.Flow
	}
	fl := make([]FlowDelta, 0, r.sc.Top+1)
	if len(r.sc.SLOs) > 0 {
		r.flushFirst(changes) // SLO rates are looked up by flow
	}
	visit := func(id string, a *acc) {
		if a.added && a.removed {
			return
		}
		if !same(a.old, a.new) || a.added || a.removed {
			cr.FlowsChanged++
			if a.new < a.old {
				cr.FlowsLost++
			}
			fd := FlowDelta{Flow: id, OldGbps: a.old, NewGbps: a.new, Added: a.added, Removed: a.removed}
			if len(fl) == r.sc.Top && !less(fd, fl[len(fl)-1]) {
				return
			}
			i := sort.Search(len(fl), func(i int) bool { return less(fd, fl[i]) })
			fl = slices.Insert(fl, i, fd)
			if len(fl) > r.sc.Top {
				fl = fl[:r.sc.Top]
			}
		}
	}
	if r.first != nil {
		for _, c := range r.first {
			visit(c.Flow, &acc{old: c.Old, new: c.New, added: c.Added, removed: c.Removed})
		}
	} else {
		for id, a := range changes {
			visit(id, a)
		}
	}
	cr.Flows = fl
	rate := func(id string) float64 {
		if a, ok := changes[id]; ok {
			return a.new
		}
		return r.baseRate[id]
	}
	for i, o := range r.sc.SLOs {
		sd := SLODelta{SLO: o.Name}
		for _, id := range r.sloFlows[i] {
			sd.OldGbps += r.baseRate[id]
			nr := rate(id)
			sd.NewGbps += nr
			if nr < o.MinRateGbps && !same(nr, o.MinRateGbps) {
				sd.Violations++
				if len(sd.Violated) < r.sc.Top {
					sd.Violated = append(sd.Violated, id)
				}
			}
		}
		cr.Violations += sd.Violations
		cr.SLOs = append(cr.SLOs, sd)
	}
	_ = failed
}

// plan ranks links by the total-throughput gradient and measures the top ones.
func (r *Runner) plan(p *PlanSweep) ([]Upgrade, error) {
	var ups []Upgrade
	for _, l := range r.links {
		g := 0.0
		for _, d := range r.dirs[l] {
			gr, err := r.st.LinkGradient(d)
			if err != nil {
				return nil, err
			}
			if !gr.Right.Infeasible {
				g += gr.Right.Total
			}
		}
		ups = append(ups, Upgrade{Link: l, Gradient: g, StepGbps: p.StepGbps})
	}
	sort.SliceStable(ups, func(i, j int) bool { return ups[i].Gradient > ups[j].Gradient })
	if len(ups) > p.Top {
		ups = ups[:p.Top]
	}
	for i := range ups {
		var cs []CapacityChange
		for _, d := range r.dirs[ups[i].Link] {
			cs = append(cs, CapacityChange{Link: d, CapacityGbps: r.baseCap[d] + p.StepGbps})
		}
		cr, err := r.RunCase("upgrade "+ups[i].Link, Perturbation{Capacities: cs})
		if err != nil {
			return nil, err
		}
		if cr.Error != "" {
			return nil, fmt.Errorf("whatif: upgrade %s: %s", ups[i].Link, cr.Error)
		}
		ups[i].GainGbps = cr.DeltaGbps
	}
	return ups, nil
}

func recommend(rep *Report) []string {
	var out []string
	for i, c := range rep.Criticality {
		if i == 3 || (c.LossGbps <= 0 && c.Violations == 0) {
			break
		}
		s := fmt.Sprintf("protect or duplicate link %s: its failure loses %.4g Gb/s (%.2g%% of the total)", c.Link, c.LossGbps, 100*c.LossGbps/math.Max(rep.Base.TotalGbps, 1e-12))
		if c.Violations > 0 {
			s += fmt.Sprintf(" and leaves %d flows below their SLO", c.Violations)
		}
		if c.Dropped > 0 {
			s += fmt.Sprintf("; %d flows have no other path", c.Dropped)
		}
		out = append(out, s)
	}
	for i, u := range rep.Plan {
		if i == 3 || u.GainGbps <= 0 {
			break
		}
		out = append(out, fmt.Sprintf("upgrade link %s: +%.4g Gb/s per direction buys +%.4g Gb/s of total throughput (gradient %.4g)", u.Link, u.StepGbps, u.GainGbps, u.Gradient))
	}
	worst := -1
	for i, c := range rep.Cases {
		if c.Kind == "case" && c.Error == "" && c.Violations > 0 && (worst < 0 || c.Violations > rep.Cases[worst].Violations) {
			worst = i
		}
	}
	if worst >= 0 {
		out = append(out, fmt.Sprintf("case %q leaves %d flows below their SLO: add capacity on the links its flows lose rate on before making that change", rep.Cases[worst].Name, rep.Cases[worst].Violations))
	}
	if len(out) == 0 {
		out = append(out, "no perturbation of the scenario loses throughput or violates an SLO")
	}
	return out
}

func uniq(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := s[:0]
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// same says whether two rates are equal within the engine's default tolerance (1e-9
// relative).
func same(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), 1) }

// editedNetwork returns a copy of n with the devices and links added; a link endpoint
// its device lacks is added to the device. The result is validated.
func editedNetwork(n *network.Network, devs []network.Device, links []network.Link) (*network.Network, error) {
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	var out network.Network
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	out.Devices = append(out.Devices, devs...)
	idx := map[string]int{}
	for i, d := range out.Devices {
		idx[d.ID] = i
	}
	for _, l := range links {
		for _, ep := range l.Endpoints {
			i, ok := idx[ep.Device]
			if !ok {
				continue // Validate names it
			}
			if !slices.ContainsFunc(out.Devices[i].Endpoints, func(e network.EndPoint) bool { return e.ID == ep.EndPoint }) {
				out.Devices[i].Endpoints = append(out.Devices[i].Endpoints, network.EndPoint{ID: ep.EndPoint})
			}
		}
	}
	out.Links = append(out.Links, links...)
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("the edited topology: %v", err)
	}
	return &out, nil
}

// runTopologyCase computes a case that adds devices or links: a new Runner on the
// edited network (its flows re-routed), the case's other perturbations applied to it,
// and the result compared with this Runner's base flow by flow.
func (r *Runner) runTopologyCase(name string, p Perturbation) (*CaseResult, error) {
	cr := &CaseResult{Name: name, TotalGbps: r.total}
	r.first, r.recorded = nil, false
	none := map[string]*acc{}
	n2, err := editedNetwork(r.net, p.AddDevices, p.AddLinks)
	if err != nil {
		cr.Error = "add_devices/add_links: " + err.Error()
		r.summarise(cr, none, true)
		return cr, nil
	}
	r2, err := NewRunner(r.sc, n2)
	if err != nil {
		cr.Error = "add_devices/add_links: " + err.Error()
		r.summarise(cr, none, true)
		return cr, nil
	}
	rest := p
	rest.AddDevices, rest.AddLinks = nil, nil
	cr2 := &CaseResult{Name: name, TotalGbps: r2.total}
	r2.changes = map[string]*acc{}
	var aerr error
	if len(rest.FailLinks)+len(rest.FailDevices)+len(rest.Capacities)+len(rest.RemoveFlows)+len(rest.AddFlows)+len(rest.ScaleFlows) > 0 || rest.ScaleTraffic != 0 {
		u := &undo{moved: map[string]bool{}, removed: map[string]bool{}, added: map[string]bool{}, caps: map[string]bool{}, demands: map[string]bool{}}
		aerr = r2.apply(rest, u, r2.changes, cr2)
		r2.flushFirst(r2.changes)
	}
	// flow by flow: the base's rate against the edited network's final rate
	combined := map[string]*acc{}
	for id := range r.base {
		a := &acc{old: r.baseRate[id]}
		if c, ok := r2.changes[id]; ok {
			a.new, a.removed = c.new, c.removed
		} else if v, ok := r2.baseRate[id]; ok {
			a.new = v
		} else {
			a.removed = true
		}
		if !a.removed {
			p1, _ := r.st.Path(id)
			p2, _ := r2.st.Path(id)
			if !slices.Equal(p1, p2) {
				cr.Rerouted++
			}
		}
		combined[id] = a
	}
	for id, c := range r2.changes {
		if _, ok := r.base[id]; !ok {
			combined[id] = &acc{new: c.new, added: true, removed: c.removed}
		}
	}
	cr.TotalGbps = cr2.TotalGbps
	cr.Rerouted += cr2.Rerouted
	cr.Dropped = cr2.Dropped
	if aerr != nil {
		cr.Error = aerr.Error()
	}
	r.summarise(cr, combined, aerr != nil)
	return cr, nil
}
