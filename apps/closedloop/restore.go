package closedloop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/models/service"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// RestorerConfig configures a Restorer. Twins and Pipeline are required.
type RestorerConfig struct {
	Twins    *twin.Manager
	Pipeline Pipeline
	// Approver approves restoration changes; nil: they wait (validated) for a person.
	Approver Approver
	// UtilisationBound (percent, 0 = off): Run re-optimises when an observed link's
	// utilisation rises above it (at most once per HoldDown).
	UtilisationBound float64
	// HoldDown spaces automatic re-optimisations (default 30s).
	HoldDown time.Duration
	// Services and Registry, when Services is set, recompile the compiled services and
	// slices (models/service records) whose flows a restoration or re-optimisation
	// moves: the change then carries their device operations (pipeline.Service is a
	// ServiceEnvSource). Registry defaults to service.DefaultRegistry().
	Services ServiceEnvSource
	Registry *service.Registry
	// Ledger, when set, receives one "restoration.completed" record per restoration
	// or re-optimisation (its outcome, change, detection and restoration times).
	Ledger repository.Ledger
	Logger *slog.Logger
	Now    func() time.Time
}

// Step is one step of a restoration, with when it ended.
type Step struct {
	Name   string    `json:"name"`
	At     time.Time `json:"at"`
	Detail string    `json:"detail,omitempty"`
}

// Restoration is the record of one restoration or re-optimisation. Detection (from the
// failure's telemetry sample to the controller noticing it) and restoration (from
// detection to the commit) are timed separately.
type Restoration struct {
	Seq     uint64 `json:"seq"`
	ID      string `json:"id"`
	Trigger string `json:"trigger"`
	// FailedLinks are the links treated as down (the new failure and every link
	// telemetry already reports down).
	FailedLinks []string  `json:"failed_links,omitempty"`
	FailureAt   time.Time `json:"failure_at,omitzero"`
	DetectedAt  time.Time `json:"detected_at"`
	// DetectionMs is DetectedAt − FailureAt (0 when the failure time is unknown).
	DetectionMs float64 `json:"detection_ms"`
	// ComputeMs is the fork and reroute computation.
	ComputeMs float64 `json:"compute_ms"`
	// TimeToRestoreMs is from detection to the commit's end (0 unless committed).
	TimeToRestoreMs float64 `json:"time_to_restore_ms"`
	// Affected are the flows crossing the failed links (or moved by a re-optimisation).
	Affected []string `json:"affected,omitempty"`
	// Paths are the new paths of the moved flows that belong to no recompiled service
	// or slice (those are in Recompiled, under their new generation's flow IDs).
	Paths map[string][]string `json:"paths,omitempty"`
	// Unrestored are affected flows with no remaining path (they stay where they
	// are; a person decides).
	Unrestored []string `json:"unrestored,omitempty"`
	// PredictedGbps are the moved flows' max-min rates after the move (the fork's
	// bottleneck state); SLOMisses those below their SLO there.
	PredictedGbps map[string]float64 `json:"predicted_gbps,omitempty"`
	SLOMisses     []string           `json:"slo_misses,omitempty"`
	// Recompiled are the services and slices whose flows moved, recompiled onto paths
	// avoiding the failed links: the change carries their device operations.
	Recompiled []Recompiled `json:"recompiled,omitempty"`
	// ServiceErrors name the services and slices that could not be recompiled (their
	// flows move in the twin only).
	ServiceErrors []string `json:"service_errors,omitempty"`
	Outcome       Outcome  `json:"outcome"`
	Reason        string   `json:"reason,omitempty"`
	Change        string   `json:"change,omitempty"`
	Approver      string   `json:"approver,omitempty"`
	Steps         []Step   `json:"steps"`
}

// Restorer restores service after failures and re-optimises paths, through the
// pipeline. Restorations are serialized.
type Restorer struct {
	cfg     RestorerConfig
	log     *slog.Logger
	mu      sync.Mutex // serializes restorations; guards down, lastOpt
	down    map[string]bool
	lastOpt time.Time
	hist    history[Restoration]
	ids     uint64
}

// NewRestorer returns a Restorer.
func NewRestorer(cfg RestorerConfig) (*Restorer, error) {
	if cfg.Twins == nil || cfg.Pipeline == nil {
		return nil, errors.New("closedloop: restoration needs Twins and Pipeline")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HoldDown <= 0 {
		cfg.HoldDown = 30 * time.Second
	}
	if cfg.Registry == nil {
		cfg.Registry = service.DefaultRegistry()
	}
	r := &Restorer{cfg: cfg, down: map[string]bool{}, log: cfg.Logger}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("component", "restoration")
	return r, nil
}

// Records returns the recent restorations, newest last.
func (r *Restorer) Records() []Restoration {
	return r.hist.filter(func(Restoration) bool { return true })
}

// Run restores after every link or device failure the live twin's telemetry reports,
// and re-optimises when a link's utilisation crosses the bound, until ctx ends.
func (r *Restorer) Run(ctx context.Context) {
	sub := r.cfg.Twins.Events().Subscribe(twin.LiveID, r.cfg.Twins.Events().Seq())
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if ev.Op == twin.OpLagged {
				r.Resync(ctx) // events were dropped: a failure may be among them
				continue
			}
			r.Handle(ctx, ev)
		}
	}
}

// Resync handles every link telemetry reports down, and every unreachable device, as
// if its event had just arrived (the ones already known down are skipped by Handle).
func (r *Restorer) Resync(ctx context.Context) {
	var evs []twin.Event
	_ = r.cfg.Twins.Live().View(func(rd *twin.Reader) error {
		ols, _, _ := rd.ObservedLinks(twin.ListOptions{})
		for i := range ols {
			evs = append(evs, twin.Event{Table: twin.TableObservedLinks, Op: twin.OpUpdate, ID: ols[i].ID, Object: &ols[i]})
		}
		ods, _, _ := rd.ObservedDevices(twin.ListOptions{})
		for i := range ods {
			evs = append(evs, twin.Event{Table: twin.TableObservedDevices, Op: twin.OpUpdate, ID: ods[i].ID, Object: &ods[i]})
		}
		return nil
	})
	for _, ev := range evs {
		r.Handle(ctx, ev)
	}
}

// Handle reacts to one twin event: an observed link going down or a device becoming
// unreachable starts a restoration; a link's utilisation above the bound a
// re-optimisation. Run calls it for every event of the live twin.
func (r *Restorer) Handle(ctx context.Context, ev twin.Event) {
	detected := r.cfg.Now()
	switch o := ev.Object.(type) {
	case *twin.ObservedLink:
		isDown := o.OperStatus == network.StatusDisabled || o.OperStatus == network.StatusUnreachable
		r.mu.Lock()
		was := r.down[o.ID]
		r.down[o.ID] = isDown
		r.mu.Unlock()
		if isDown && !was {
			r.Restore(ctx, "link-down "+o.ID, []string{o.ID}, o.At, detected)
			return
		}
		if b := r.cfg.UtilisationBound; b > 0 && !isDown && max(o.Utilisation[0], o.Utilisation[1])*100 > b {
			r.mu.Lock()
			due := detected.Sub(r.lastOpt) >= r.cfg.HoldDown
			if due {
				r.lastOpt = detected
			}
			r.mu.Unlock()
			if due {
				r.Optimize(ctx, fmt.Sprintf("utilisation of %s above %.1f%%", o.ID, b), []string{o.ID})
			}
		}
	case *twin.ObservedDevice:
		if o.Reachable {
			return
		}
		var links []string
		_ = r.cfg.Twins.Live().View(func(rd *twin.Reader) error {
			ls, _, _ := rd.Links(twin.ListOptions{})
			for _, l := range ls {
				if linkAt(l.Link, o.ID) {
					links = append(links, l.ID)
				}
			}
			return nil
		})
		r.mu.Lock()
		var fresh []string
		for _, l := range links {
			if !r.down[l] {
				fresh = append(fresh, l)
			}
			r.down[l] = true
		}
		r.mu.Unlock()
		if len(fresh) > 0 {
			r.Restore(ctx, "device-unreachable "+o.ID, fresh, o.At, detected)
		}
	}
}

// Restore moves every flow crossing a failed link (failed, plus every link telemetry
// reports down) onto a new path: computed in a fork of the live twin with the
// bottleneck engine's incremental failure-with-reroute (least-latency paths avoiding
// the failed links), checked against the flows' SLOs, then proposed, approved (by the
// Approver) and committed through the pipeline. failureAt is the failure's telemetry
// time (zero: unknown), detectedAt when the controller noticed it.
func (r *Restorer) Restore(ctx context.Context, trigger string, failed []string, failureAt, detectedAt time.Time) Restoration {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids++
	rs := Restoration{ID: fmt.Sprintf("rst-%d-%d", detectedAt.UnixMilli(), r.ids), Trigger: trigger, FailureAt: failureAt, DetectedAt: detectedAt}
	if !failureAt.IsZero() && detectedAt.After(failureAt) {
		rs.DetectionMs = ms(detectedAt.Sub(failureAt))
	}
	r.step(&rs, "detected", trigger)
	cs, err := r.plan(ctx, &rs, failed, nil)
	if err != nil {
		return r.finish(rs, OutcomeFailed, err.Error())
	}
	if cs == nil && len(rs.Unrestored) > 0 {
		return r.finish(rs, OutcomeFailed, "no affected flow has a path left: "+strings.Join(rs.Unrestored, ", ")+" (a person decides)")
	}
	if cs == nil {
		return r.finish(rs, OutcomeNothing, "no flow crosses the failed links: nothing to restore")
	}
	spec, _ := json.Marshal(map[string]any{"trigger": trigger, "failed_links": rs.FailedLinks, "failure_at": failureAt,
		"detected_at": detectedAt, "detection_ms": rs.DetectionMs, "restoration": rs.ID})
	cs.Intents = append([]change.Intent{{Type: "restoration", Name: rs.ID, Spec: spec}}, cs.Intents...)
	cs.Label = network.SanitizeText("restoration: "+trigger, 200)
	cs.Comment = network.SanitizeText(fmt.Sprintf("restoration %s of %s; detected %s, %.3f ms after the failure's telemetry sample",
		rs.ID, strings.Join(rs.FailedLinks, ", "), detectedAt.UTC().Format(time.RFC3339Nano), rs.DetectionMs), 1024)
	return r.through(ctx, rs, cs)
}

// Optimize re-optimises on demand: every flow is moved to the least-latency path that
// avoids the links telemetry reports down and, for flows crossing them, the links in
// avoid (hot links); moves are proposed as one change through the pipeline, whose L1
// validation refuses any that would break an SLO.
func (r *Restorer) Optimize(ctx context.Context, trigger string, avoid []string) Restoration {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids++
	now := r.cfg.Now()
	rs := Restoration{ID: fmt.Sprintf("opt-%d-%d", now.UnixMilli(), r.ids), Trigger: trigger, DetectedAt: now}
	r.step(&rs, "requested", trigger)
	cs, err := r.plan(ctx, &rs, nil, avoid)
	if err != nil {
		return r.finish(rs, OutcomeFailed, err.Error())
	}
	if cs == nil {
		return r.finish(rs, OutcomeNothing, "every flow is already on its best path")
	}
	spec, _ := json.Marshal(map[string]any{"trigger": trigger, "avoid": avoid, "optimisation": rs.ID})
	cs.Intents = append([]change.Intent{{Type: "optimisation", Name: rs.ID, Spec: spec}}, cs.Intents...)
	cs.Label = network.SanitizeText("optimisation: "+trigger, 200)
	return r.through(ctx, rs, cs)
}

func (r *Restorer) through(ctx context.Context, rs Restoration, cs *change.ChangeSet) Restoration {
	res := runThrough(ctx, r.cfg.Pipeline, r.cfg.Approver, cs, RestoreUser, r.cfg.Now, func(name, detail string) { r.step(&rs, name, detail) })
	rs.Change, rs.Approver = res.Change, res.Approver
	if res.Outcome == OutcomeCommitted {
		rs.TimeToRestoreMs = ms(res.Committed.Sub(rs.DetectedAt))
	}
	return r.finish(rs, res.Outcome, res.Reason)
}

// plan computes the moves in a fork. failed: links to fail (restoration); avoid: hot
// links flows should leave (optimisation; nil with failed set). The moved flows that
// belong to a compiled service or slice (a live record owns them) are not moved as
// flows: the service is recompiled onto TE paths avoiding the failed (or avoided)
// links, and its update (device operations, flows of the new generation, intent) is
// carried by the same change.
func (r *Restorer) plan(ctx context.Context, rs *Restoration, failed, avoid []string) (*change.ChangeSet, error) {
	start := time.Now()
	fork, err := r.cfg.Twins.Fork(ctx, twin.LiveID)
	if err != nil {
		return nil, fmt.Errorf("fork the live twin: %w", err)
	}
	defer func() { _ = r.cfg.Twins.Delete(context.WithoutCancel(ctx), fork.ID()) }()
	r.step(rs, "fork", "restoration fork "+fork.ID()+" of live revision "+fmt.Sprint(fork.Info().ParentRevision))
	var (
		n     *network.Network
		moves map[string][]string
		st    *bottleneck.State
		slos  = map[string]*change.SLO{}
		owned []ownedService
	)
	err = fork.View(func(rd *twin.Reader) error {
		var down map[string]bool
		n, down = networkOf(rd)
		for _, l := range failed {
			down[l] = true
		}
		rs.FailedLinks = sortedKeys(down)
		for _, f := range n.Flows {
			if s := pipeline.FlowSLO(rd, f.ID); s != nil {
				slos[f.ID] = s
			}
		}
		var err error
		if failed != nil {
			moves, st, err = failureReroute(n, down, rs)
		} else {
			moves, st, err = reoptimise(n, down, avoid, rs)
		}
		if err != nil {
			return err
		}
		if r.cfg.Services != nil {
			owned = ownersOf(rd, n, append(sortedKeys(keysOf(moves)), rs.Unrestored...))
		}
		return nil
	})
	if err != nil {
		rs.ComputeMs = ms(time.Since(start))
		return nil, err
	}
	// recompile the services and slices whose flows move
	var svcCS []*change.ChangeSet
	var svcErrs []string
	inService := map[string]bool{}
	if len(owned) > 0 {
		env, err := r.cfg.Services.ServiceEnv(ctx, r.cfg.Now())
		if err != nil {
			rs.ComputeMs = ms(time.Since(start))
			return nil, fmt.Errorf("service environment for recompiling %d services: %w", len(owned), err)
		}
		links := slices.Clone(rs.FailedLinks)
		if failed == nil {
			links = append(links, avoid...)
		}
		var done []Recompiled
		var kept []string
		svcCS, done, kept, svcErrs = recompile(r.cfg.Registry, env, owned, links)
		rs.Recompiled, rs.ServiceErrors = done, svcErrs
		recompiled := map[string]bool{}
		for _, d := range done {
			recompiled[d.Kind+"/"+d.ID] = true
		}
		for _, k := range kept { // already on the paths its constraints choose: left alone
			recompiled[k] = true
		}
		for _, o := range owned {
			if recompiled[string(o.table)+"/"+o.rec.ID] {
				for _, id := range o.flows {
					inService[id] = true
				}
			}
		}
		rs.Unrestored = slices.DeleteFunc(rs.Unrestored, func(id string) bool { return inService[id] })
	}
	var cs *change.ChangeSet
	byID := map[string]network.Flow{}
	for _, f := range n.Flows {
		byID[f.ID] = f
	}
	rs.Paths, rs.PredictedGbps = map[string][]string{}, map[string]float64{}
	for _, id := range sortedKeys(keysOf(moves)) {
		if inService[id] {
			continue // moved by its service's recompilation
		}
		if cs == nil {
			cs = &change.ChangeSet{Kind: change.KindIntent, Level: change.L1}
		}
		f := byID[id]
		f.Path = moves[id]
		rs.Paths[id] = moves[id]
		cs.Twin.RemoveFlows = append(cs.Twin.RemoveFlows, id)
		cs.Twin.AddFlows = append(cs.Twin.AddFlows, change.FlowSpec{Flow: f, SLO: slos[id]})
		if st != nil {
			if rate, err := st.Rate(id); err == nil {
				rs.PredictedGbps[id] = rate
				if s := slos[id]; s != nil && s.MinRateGbps > 0 && rate+1e-9 < s.MinRateGbps {
					rs.SLOMisses = append(rs.SLOMisses, fmt.Sprintf("flow %s: %.4f Gb/s < SLO %.4f Gb/s", id, rate, s.MinRateGbps))
				}
			}
		}
	}
	for _, sc := range svcCS {
		if cs == nil {
			cs = &change.ChangeSet{Kind: change.KindIntent, Level: change.L1}
		}
		mergeService(cs, sc)
	}
	if len(rs.Paths) == 0 {
		rs.Paths, rs.PredictedGbps = nil, nil
	}
	rs.ComputeMs = ms(time.Since(start))
	detail := fmt.Sprintf("%d flows affected, %d moved, %d without a path; computed in %.3f ms", len(rs.Affected), len(rs.Paths), len(rs.Unrestored), rs.ComputeMs)
	for _, d := range rs.Recompiled {
		detail += fmt.Sprintf("; %s %s recompiled (generation %d, %d device operations on %s)", strings.TrimSuffix(d.Kind, "s"), d.ID, d.Generation, d.DeviceOps, strings.Join(d.Devices, ", "))
	}
	if len(svcErrs) > 0 {
		detail += "; " + strings.Join(svcErrs, "; ")
	}
	if len(rs.SLOMisses) > 0 {
		detail += "; below SLO in the fork: " + strings.Join(rs.SLOMisses, "; ")
	}
	r.step(rs, "computed", detail)
	return cs, nil
}

// failureReroute fails the down links in the bottleneck state of n (the engine's
// incremental FailLinks with least-latency rerouting) and returns the new paths of
// the flows it moved.
func failureReroute(n *network.Network, down map[string]bool, rs *Restoration) (map[string][]string, *bottleneck.State, error) {
	// the state is built with every link up so the failure is an incremental step
	up := *n
	up.Links = make([]network.Link, len(n.Links))
	for i, l := range n.Links {
		l.OperStatus = network.StatusEnabled
		up.Links[i] = l
	}
	in, err := bottleneck.FromNetwork(&up, nil)
	if err != nil {
		return nil, nil, err
	}
	st, err := bottleneck.New(in)
	if err != nil {
		return nil, nil, err
	}
	router, err := bottleneck.NewRouter(&up, bottleneck.RouteShortest)
	if err != nil {
		return nil, nil, err
	}
	var dls []string
	for _, l := range up.Links {
		if !down[l.ID] {
			continue
		}
		if fwd, rev, ok := network.LinkDirections(l); ok {
			dls = append(dls, fwd.ID, rev.ID)
		}
	}
	d, err := st.FailLinks(dls, router.Reroute())
	if err != nil {
		return nil, nil, err
	}
	moves := map[string][]string{}
	for _, id := range d.Rerouted {
		if p, err := st.Path(id); err == nil {
			moves[id] = p
		}
	}
	rs.Affected = append(slices.Clone(d.Rerouted), d.Dropped...)
	slices.Sort(rs.Affected)
	rs.Unrestored = slices.Sorted(slices.Values(d.Dropped))
	// dropped flows were removed from st; the state is used for rates of moved flows
	return moves, st, nil
}

// reoptimise moves flows to their least-latency path avoiding down links (and hot
// links, for the flows crossing them).
func reoptimise(n *network.Network, down map[string]bool, hot []string, rs *Restoration) (map[string][]string, *bottleneck.State, error) {
	g, err := routing.NewGraph(n)
	if err != nil {
		return nil, nil, err
	}
	hotSet := map[string]bool{}
	for _, l := range hot {
		hotSet[l] = true
	}
	moves := map[string][]string{}
	for _, f := range n.Flows {
		ex := map[string]bool{}
		for l := range down {
			ex[l] = true
		}
		if crosses(f.Path, hotSet) {
			for l := range hotSet {
				ex[l] = true
			}
		}
		p, err := g.Shortest(f.Src, f.Dst, routing.Options{Metric: routing.Latency, ExcludeLinks: ex})
		if err != nil || len(p.Links) == 0 || slices.Equal(p.Links, f.Path) {
			if err != nil && crosses(f.Path, down) {
				rs.Unrestored = append(rs.Unrestored, f.ID)
			}
			continue
		}
		rs.Affected = append(rs.Affected, f.ID)
		moves[f.ID] = p.Links
	}
	moved := *n
	moved.Flows = make([]network.Flow, 0, len(n.Flows))
	for _, f := range n.Flows {
		if p, ok := moves[f.ID]; ok {
			f.Path = p
		}
		if !crosses(f.Path, down) {
			moved.Flows = append(moved.Flows, f)
		}
	}
	moved.Links = nil
	for _, l := range n.Links {
		if !down[l.ID] {
			moved.Links = append(moved.Links, l)
		}
	}
	in, err := bottleneck.FromNetwork(&moved, nil)
	if err != nil {
		return moves, nil, nil
	}
	st, err := bottleneck.New(in)
	if err != nil {
		return moves, nil, nil
	}
	return moves, st, nil
}

func crosses(path []string, links map[string]bool) bool {
	for _, dl := range path {
		id, _ := strings.CutSuffix(dl, network.ReverseSuffix)
		if links[id] {
			return true
		}
	}
	return false
}

func keysOf(m map[string][]string) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (r *Restorer) step(rs *Restoration, name, detail string) {
	s := Step{Name: name, At: r.cfg.Now(), Detail: network.SanitizeText(detail, 2048)}
	rs.Steps = append(rs.Steps, s)
	r.cfg.Twins.Events().Publish([]twin.Event{{Twin: twin.LiveID, Table: TableRestorations, Op: twin.OpUpdate,
		ID: rs.ID, Object: map[string]any{"restoration": rs.ID, "trigger": rs.Trigger, "step": s}, Time: s.At}})
}

func (r *Restorer) finish(rs Restoration, o Outcome, reason string) Restoration {
	rs.Outcome, rs.Reason = o, network.SanitizeText(reason, 4096)
	rs = r.hist.add(rs, func(x *Restoration, seq uint64) { x.Seq = seq })
	r.cfg.Twins.Events().Publish([]twin.Event{{Twin: twin.LiveID, Table: TableRestorations, Op: twin.OpCreate,
		ID: rs.ID, Object: rs, Time: r.cfg.Now()}})
	if r.cfg.Ledger != nil {
		payload, _ := json.Marshal(map[string]any{"trigger": rs.Trigger, "outcome": rs.Outcome, "change": rs.Change,
			"approver": rs.Approver, "failed_links": rs.FailedLinks, "moved": len(rs.Paths), "unrestored": rs.Unrestored,
			"recompiled": rs.Recompiled, "service_errors": rs.ServiceErrors,
			"failure_at": rs.FailureAt, "detected_at": rs.DetectedAt, "detection_ms": rs.DetectionMs,
			"time_to_restore_ms": rs.TimeToRestoreMs, "reason": rs.Reason})
		if _, err := r.cfg.Ledger.Append(context.Background(), repository.LedgerEntry{Kind: "restoration.completed", Subject: rs.ID, Payload: payload}); err != nil {
			r.log.Error("ledger record of a restoration", "id", rs.ID, "err", err)
		}
	}
	r.log.Info("restoration", "id", rs.ID, "trigger", rs.Trigger, "outcome", rs.Outcome, "change", rs.Change,
		"detection_ms", rs.DetectionMs, "time_to_restore_ms", rs.TimeToRestoreMs, "reason", rs.Reason)
	return rs
}
