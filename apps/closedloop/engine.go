package closedloop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/models/routing"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// Service identities: the authors of the changes the closed loops propose.
const (
	EngineUser  = "policy-engine"
	RestoreUser = "restoration"
)

// Event tables on the live twin's event stream (the SSE stream of /api/v1/events).
const (
	TablePolicyActions twin.Table = "policy_actions"
	TableRestorations  twin.Table = "restorations"
)

// Pipeline is what the closed loops need of the change pipeline (*pipeline.Service).
type Pipeline interface {
	Propose(ctx context.Context, cs *change.ChangeSet, actor string) (*pipeline.Change, error)
	Approve(ctx context.Context, id, actor string) (*pipeline.Change, error)
	Commit(ctx context.Context, id, actor string, confirm time.Duration) (*pipeline.Change, error)
	List(ctx context.Context, o pipeline.ListOptions) ([]*pipeline.Change, error)
}

// Approver decides who approves a validated change a closed loop proposed. It returns
// the approver's name, or "" when a person must approve (the change then waits,
// validated, in the pipeline). The approval rules of the services issue plug in here.
type Approver interface {
	ApproverFor(ctx context.Context, c *pipeline.Change) string
}

// NamedRule approves every validated change of a closed loop as "rule:<Name>". It is
// what `serve --policy-approval-rule NAME` configures; off by default.
type NamedRule struct{ Name string }

// ApproverFor implements Approver.
func (n NamedRule) ApproverFor(context.Context, *pipeline.Change) string {
	if n.Name == "" {
		return ""
	}
	return "rule:" + n.Name
}

// ApprovalRules approves a closed loop's validated change by the pipeline's approval
// rules (`serve --approval-rules`, models/change.ApprovalRule): only a rule that names
// the closed loop's identity among its authors ("policy-engine", "restoration")
// applies, so a rule written for orchestrators never approves automated changes by
// accident. The approver is recorded as "rule:<name>".
type ApprovalRules struct{ Rules func() []change.ApprovalRule }

// ApproverFor implements Approver.
func (a ApprovalRules) ApproverFor(_ context.Context, c *pipeline.Change) string {
	if a.Rules == nil || c == nil || c.ChangeSet == nil {
		return ""
	}
	var named []change.ApprovalRule
	for _, r := range a.Rules() {
		if slices.Contains(r.Authors, c.Author) {
			named = append(named, r)
		}
	}
	ap, ok := change.MatchRule(named, change.ApprovalRequest{Kind: c.ChangeSet.Kind, Author: c.Author, Report: c.Report})
	if !ok {
		return ""
	}
	return ap.Approver
}

// Outcome is what one firing of a rule (or one restoration) led to.
type Outcome string

// Outcomes.
const (
	OutcomeCommitted Outcome = "committed"         // validated, approved by the rule, committed
	OutcomeAwaiting  Outcome = "awaiting-approval" // validated; a person approves it
	OutcomeRejected  Outcome = "rejected"          // validation failed: not applied, Reason says why
	OutcomeHeld      Outcome = "held"              // hold-down or rate limit
	OutcomeBusy      Outcome = "busy"              // another change is in flight on a device it touches
	OutcomeFailed    Outcome = "failed"            // could not be compiled, proposed or committed
	OutcomeAlarm     Outcome = "alarm-raised"      // raise-alarm actions only
	OutcomeWithdrawn Outcome = "withdrawn"         // the rule's timeout passed: now inactive
	OutcomeNothing   Outcome = "nothing-to-do"     // restoration/optimisation: no flow to move
)

// ActionRecord is one action of the engine, published on the event stream (table
// policy_actions) and kept in memory (the last MaxRecords).
type ActionRecord struct {
	Seq     uint64    `json:"seq"`
	Rule    string    `json:"rule"`
	At      time.Time `json:"at"`
	Outcome Outcome   `json:"outcome"`
	// Why lists the conditions that held.
	Why []string `json:"why,omitempty"`
	// Reason explains held, busy, rejected and failed outcomes.
	Reason   string   `json:"reason,omitempty"`
	Change   string   `json:"change,omitempty"`
	Approver string   `json:"approver,omitempty"`
	Alarms   []string `json:"alarms,omitempty"`
	// Devices are the devices the action concerns (REQ-POL-07): the rule's scope, the
	// devices of the flows it moves (ends and path), of the links and interfaces it sets.
	Devices []string `json:"devices,omitempty"`
}

// MaxRecords is how many action and restoration records are kept in memory.
const MaxRecords = 512

// EngineConfig configures an Engine. Twins and Pipeline are required.
type EngineConfig struct {
	Twins    *twin.Manager
	Pipeline Pipeline
	// Approver approves the engine's validated changes; nil: they wait for a person.
	Approver Approver
	// Facts is the source of KPIs, alarms and events; nil: the engine's own Recorder,
	// fed from the live twin's telemetry events by Run.
	Facts policy.Facts
	// More are facts read beside the engine's own Recorder when Facts is nil (the
	// monitoring service's KPIs and alarms): a KPI is the Recorder's, else the first
	// source's that has it; alarms and events are all of them.
	More []policy.Facts
	// Alarms receives the rules' raise-alarm actions (the monitoring service: they
	// become active alarms of type policy); nil: they are only recorded in the action
	// record and on the event stream.
	Alarms AlarmSink
	// Interval is how often Run evaluates the rules besides on events (default 1s).
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// Engine evaluates the active rules and acts through the pipeline. Safe for concurrent
// use; evaluations are serialized.
type Engine struct {
	cfg      EngineConfig
	rules    *Rules
	log      *slog.Logger
	rec      *Recorder
	mu       sync.Mutex // serializes Tick; guards guard, lastHeld
	guard    *policy.Guard
	lastHeld map[string]bool
	hist     history[ActionRecord]
}

// NewEngine returns an Engine.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.Twins == nil || cfg.Pipeline == nil {
		return nil, errors.New("closedloop: the policy engine needs Twins and Pipeline")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	e := &Engine{cfg: cfg, rules: &Rules{Twins: cfg.Twins, Now: cfg.Now}, guard: policy.NewGuard(), lastHeld: map[string]bool{}}
	e.log = cfg.Logger
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("component", "policy-engine")
	if cfg.Facts == nil {
		e.rec = NewRecorder(cfg.Now)
		e.cfg.Facts = e.rec
		if len(cfg.More) > 0 {
			e.cfg.Facts = append(Merged{e.rec}, cfg.More...)
		}
	}
	return e, nil
}

// Rules returns the rule store.
func (e *Engine) Rules() *Rules { return e.rules }

// Recorder returns the engine's own facts recorder (nil when Facts was given).
func (e *Engine) Recorder() *Recorder { return e.rec }

// Actions returns the recent action records, newest last (rule "" = all).
func (e *Engine) Actions(rule string) []ActionRecord {
	return e.hist.filter(func(a ActionRecord) bool { return rule == "" || a.Rule == rule })
}

// Run evaluates the rules on every telemetry event of the live twin and every
// Interval, until ctx ends.
func (e *Engine) Run(ctx context.Context) {
	sub := e.cfg.Twins.Events().Subscribe(twin.LiveID, e.cfg.Twins.Events().Seq())
	defer sub.Close()
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if e.rec != nil && !e.rec.Observe(ev) {
				continue
			}
		case <-t.C:
		}
		e.Tick(ctx)
	}
}

// Tick withdraws expired rules and evaluates every active rule once, highest priority
// first; it returns the records of what it did.
func (e *Engine) Tick(ctx context.Context) []ActionRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	rules, err := e.rules.List()
	if err != nil {
		e.log.Error("list policy rules", "err", err)
		return nil
	}
	var out []ActionRecord
	for _, sr := range rules {
		r := sr.Rule
		if r.State != policy.StateActive {
			continue
		}
		if r.Expired(now) {
			rec := ActionRecord{Rule: r.ID, At: now, Outcome: OutcomeWithdrawn,
				Reason: fmt.Sprintf("timeout of %ds after activation at %s", r.TimeoutSeconds, r.ActivatedAt.UTC().Format(time.RFC3339))}
			if _, err := e.rules.SetState(ctx, r.ID, policy.StateInactive); err != nil {
				rec.Outcome, rec.Reason = OutcomeFailed, "withdraw after timeout: "+err.Error()
			}
			out = append(out, e.record(rec))
			continue
		}
		if len(r.Actions) == 0 {
			continue // limits only: enforced by l1.policy
		}
		fired, why := policy.Evaluate(&r, e.cfg.Facts, now)
		if !fired {
			continue
		}
		if v := e.guard.Check(&r, now); !v.Allowed {
			if !e.lastHeld[r.ID] { // one record per held streak, not one per tick
				out = append(out, e.record(ActionRecord{Rule: r.ID, At: now, Outcome: OutcomeHeld, Why: why, Reason: v.Reason}))
			}
			e.lastHeld[r.ID] = true
			continue
		}
		e.lastHeld[r.ID] = false
		e.guard.Record(&r, now)
		out = append(out, e.record(e.act(ctx, &r, why, now)))
	}
	return out
}

func (e *Engine) record(a ActionRecord) ActionRecord {
	a.Reason = network.SanitizeText(a.Reason, 4096)
	a = e.hist.add(a, func(a *ActionRecord, seq uint64) { a.Seq = seq })
	e.cfg.Twins.Events().Publish([]twin.Event{{Twin: twin.LiveID, Table: TablePolicyActions, Op: twin.OpCreate,
		ID: fmt.Sprintf("%s/%d", a.Rule, a.Seq), Object: a, Time: a.At}})
	e.log.Info("policy action", "rule", a.Rule, "outcome", a.Outcome, "change", a.Change, "reason", a.Reason)
	return a
}

// AlarmSink raises the alarms of raise-alarm actions: key "policy:<rule>:<alarm>".
type AlarmSink interface {
	RaisePolicyAlarm(ctx context.Context, key, severity, text string) error
}

// act compiles the rule's actions into one ChangeSet and takes it through the pipeline.
func (e *Engine) act(ctx context.Context, r *policy.Rule, why []string, now time.Time) ActionRecord {
	rec := ActionRecord{Rule: r.ID, At: now, Why: why}
	cs, alarms, devs, err := compile(e.cfg.Twins.Live(), r)
	rec.Alarms, rec.Devices = alarms, devs
	if err != nil {
		rec.Outcome, rec.Reason = OutcomeFailed, err.Error()
		return rec
	}
	if e.cfg.Alarms != nil {
		for _, a := range r.Actions {
			if a.Type != policy.ActRaiseAlarm {
				continue
			}
			text := network.SanitizeText("policy rule "+r.ID+": "+strings.Join(why, "; "), 512)
			if err := e.cfg.Alarms.RaisePolicyAlarm(ctx, "policy:"+r.ID+":"+a.Alarm, a.Severity, text); err != nil {
				rec.Outcome, rec.Reason = OutcomeFailed, "raise alarm "+a.Alarm+": "+err.Error()
				return rec
			}
		}
	}
	if cs == nil {
		rec.Outcome = OutcomeAlarm
		return rec
	}
	cs.Label = "policy " + r.ID
	cs.Comment = network.SanitizeText("policy rule "+r.ID+" fired: "+strings.Join(why, "; "), 1024)
	res := runThrough(ctx, e.cfg.Pipeline, e.cfg.Approver, cs, EngineUser, e.cfg.Now, nil)
	rec.Outcome, rec.Change, rec.Approver, rec.Reason = res.Outcome, res.Change, res.Approver, res.Reason
	return rec
}

// result is what runThrough did with a ChangeSet.
type result struct {
	Outcome  Outcome
	Change   string
	Approver string
	Reason   string
	// Committed is when the commit ended (zero unless committed).
	Committed time.Time
}

// runThrough proposes cs as actor, then has it approved and committed when an Approver
// names an approver. It refuses (busy) when another change touching one of cs's
// devices is approved or committing. step (may be nil) hears each step as it ends.
func runThrough(ctx context.Context, p Pipeline, ap Approver, cs *change.ChangeSet, actor string, now func() time.Time, step func(name, detail string)) result {
	var res result
	if step == nil {
		step = func(string, string) {}
	}
	if other, dev := busyWith(ctx, p, cs); other != "" {
		res.Outcome = OutcomeBusy
		res.Reason = fmt.Sprintf("the pipeline is busy: change %s is in flight on device %s; not proposed (retried when the condition holds again after the hold-down)", other, dev)
		step("busy", res.Reason)
		return res
	}
	c, err := p.Propose(ctx, cs, actor)
	if err != nil {
		res.Outcome, res.Reason = OutcomeFailed, "propose: "+err.Error()
		step("failed", res.Reason)
		return res
	}
	res.Change = c.ID
	step("proposed", "change "+c.ID+" proposed by "+actor)
	if c.State != change.StateValidated {
		res.Outcome, res.Reason = OutcomeRejected, "not applied: "+failedChecks(c)
		step("rejected", res.Reason)
		return res
	}
	step("validated", fmt.Sprintf("change %s validated (%d checks)", c.ID, len(c.Report.Checks)))
	name := ""
	if ap != nil {
		name = ap.ApproverFor(ctx, c)
	}
	if name == "" {
		res.Outcome, res.Reason = OutcomeAwaiting, "validated; no approval rule is configured for automated changes, so a person approves it"
		step("awaiting-approval", res.Reason)
		return res
	}
	res.Approver = name
	if _, err := p.Approve(ctx, c.ID, name); err != nil {
		res.Outcome, res.Reason = OutcomeFailed, "approve: "+err.Error()
		step("failed", res.Reason)
		return res
	}
	step("approved", "approved by "+name)
	c, err = p.Commit(ctx, c.ID, actor, 0)
	switch {
	case errors.Is(err, pipeline.ErrBusy):
		res.Outcome, res.Reason = OutcomeBusy, "approved but not committed: "+err.Error()
	case errors.Is(err, pipeline.ErrStale):
		res.Outcome, res.Reason = OutcomeRejected, "not applied: the live twin moved and the change no longer validates: "+failedChecks(c)
	case err != nil:
		res.Outcome, res.Reason = OutcomeFailed, "commit: "+err.Error()
	case c.State != change.StateCommitted:
		res.Outcome, res.Reason = OutcomeFailed, fmt.Sprintf("commit ended %s", c.State)
	default:
		res.Outcome, res.Committed = OutcomeCommitted, now()
		step("committed", "change "+c.ID+" committed")
		return res
	}
	step(string(res.Outcome), res.Reason)
	return res
}

// failedChecks says why a change did not validate: each failed check and its message.
func failedChecks(c *pipeline.Change) string {
	if c == nil || c.Report == nil {
		return "no report"
	}
	var parts []string
	for _, f := range c.Report.Failed() {
		parts = append(parts, f.Name+": "+f.Message)
	}
	if len(parts) == 0 {
		return string(c.State)
	}
	return strings.Join(parts, "; ")
}

// busyWith returns a change (and a device) in flight — approved or committing — that
// touches a device cs touches.
func busyWith(ctx context.Context, p Pipeline, cs *change.ChangeSet) (string, string) {
	devs := cs.Devices()
	if len(devs) == 0 {
		return "", ""
	}
	for _, st := range []change.State{change.StateCommitting, change.StateApproved} {
		cs2, err := p.List(ctx, pipeline.ListOptions{State: st, Limit: 1000})
		if err != nil {
			continue
		}
		for _, c := range cs2 {
			if c.ChangeSet == nil {
				continue
			}
			for _, d := range c.ChangeSet.Devices() {
				if slices.Contains(devs, d) {
					return c.ID, d
				}
			}
		}
	}
	return "", ""
}

// compile turns a rule's actions into one ChangeSet over the live twin (nil when the
// rule only raises alarms) and the alarms it raises. Scope is enforced: a device-scoped
// rule acts only on flows through, links at and interfaces of its device.
func compile(live *twin.Twin, r *policy.Rule) (*change.ChangeSet, []string, []string, error) {
	cs := &change.ChangeSet{Kind: change.KindIntent, Level: change.L1,
		Intents: []change.Intent{{Type: "policy", Name: r.ID}}}
	var alarms []string
	devs := map[string]bool{}
	if r.Scope.Device != "" {
		devs[r.Scope.Device] = true
	}
	linkDevs := func(rd *twin.Reader, dls []string) {
		for _, dl := range dls {
			id, _ := strings.CutSuffix(dl, network.ReverseSuffix)
			if l, err := rd.Link(id); err == nil {
				for _, ep := range l.Endpoints {
					devs[ep.Device] = true
				}
			}
		}
	}
	flows := map[string]*change.FlowSpec{}
	var order []string
	err := live.View(func(rd *twin.Reader) error {
		flow := func(id string) (*change.FlowSpec, error) {
			if f, ok := flows[id]; ok {
				return f, nil
			}
			f, err := rd.Flow(id)
			if err != nil {
				return nil, fmt.Errorf("flow %s: not in the live twin", id)
			}
			if d := r.Scope.Device; d != "" && f.Src != d && f.Dst != d && !pathThrough(rd, f.Path, d) {
				return nil, fmt.Errorf("flow %s is outside the rule's scope (device %s)", id, d)
			}
			if r.Service != "" && f.Owner != r.Service {
				return nil, fmt.Errorf("flow %s belongs to %q, not to the rule's service %q", id, f.Owner, r.Service)
			}
			devs[f.Src], devs[f.Dst] = true, true
			linkDevs(rd, f.Path)
			fs := &change.FlowSpec{Flow: f.Flow, SLO: pipeline.FlowSLO(rd, id)}
			fs.Path = slices.Clone(f.Path)
			flows[id] = fs
			order = append(order, id)
			return fs, nil
		}
		for i, a := range r.Actions {
			at := fmt.Sprintf("actions[%d] (%s)", i, a.Type)
			switch a.Type {
			case policy.ActReroute:
				fs, err := flow(a.Flow)
				if err != nil {
					return fmt.Errorf("%s: %w", at, err)
				}
				p, err := pathAvoiding(rd, fs.Src, fs.Dst, a.AvoidLinks)
				if err != nil {
					return fmt.Errorf("%s: flow %s: no path avoiding %s: %w", at, a.Flow, strings.Join(a.AvoidLinks, ", "), err)
				}
				fs.Path = p
				linkDevs(rd, p)
			case policy.ActShape:
				fs, err := flow(a.Flow)
				if err != nil {
					return fmt.Errorf("%s: %w", at, err)
				}
				v := a.RateGbps
				fs.DemandGbps = &v
			case policy.ActPriority:
				fs, err := flow(a.Flow)
				if err != nil {
					return fmt.Errorf("%s: %w", at, err)
				}
				fs.Class = a.Class
			case policy.ActCapacity:
				l, err := rd.Link(a.Link)
				if err != nil {
					return fmt.Errorf("%s: link %s: not in the live twin", at, a.Link)
				}
				if d := r.Scope.Device; d != "" && !linkAt(l.Link, d) {
					return fmt.Errorf("%s: link %s is outside the rule's scope (device %s)", at, a.Link, d)
				}
				cs.Twin.Capacities = append(cs.Twin.Capacities, change.CapacityChange{Link: a.Link, CapacityGbps: a.CapacityGbps})
				linkDevs(rd, []string{a.Link})
			case policy.ActDisableInterface:
				if d := r.Scope.Device; d != "" && a.Device != d {
					return fmt.Errorf("%s: device %s is outside the rule's scope (device %s)", at, a.Device, d)
				}
				if _, err := rd.Device(a.Device); err != nil {
					return fmt.Errorf("%s: device %s: not in the live twin", at, a.Device)
				}
				if cs.DeviceOps == nil {
					cs.DeviceOps = map[string][]change.Op{}
				}
				devs[a.Device] = true
				cs.DeviceOps[a.Device] = append(cs.DeviceOps[a.Device], change.Op{Op: change.OpUpdate,
					Path: "/interfaces/interface[name=" + a.Interface + "]/config", Value: []byte(`{"enabled":false}`)})
			case policy.ActRaiseAlarm:
				sev := a.Severity
				if sev == "" {
					sev = "major"
				}
				alarms = append(alarms, a.Alarm+" ("+sev+")")
			}
		}
		return nil
	})
	if err != nil {
		return nil, alarms, nil, err
	}
	for _, id := range order {
		cs.Twin.RemoveFlows = append(cs.Twin.RemoveFlows, id)
		cs.Twin.AddFlows = append(cs.Twin.AddFlows, *flows[id])
	}
	if cs.Twin.Empty() && len(cs.DeviceOps) == 0 {
		return nil, alarms, sortedKeys(devs), nil
	}
	return cs, alarms, sortedKeys(devs), nil
}

func linkAt(l network.Link, dev string) bool {
	for _, ep := range l.Endpoints {
		if ep.Device == dev {
			return true
		}
	}
	return false
}

func pathThrough(rd *twin.Reader, path []string, dev string) bool {
	for _, dl := range path {
		id, _ := strings.CutSuffix(dl, network.ReverseSuffix)
		if l, err := rd.Link(id); err == nil && linkAt(l.Link, dev) {
			return true
		}
	}
	return false
}

// pathAvoiding is the least-latency path from src to dst that uses none of avoid (link
// IDs, both directions) and no link telemetry reports down.
func pathAvoiding(rd *twin.Reader, src, dst string, avoid []string) ([]string, error) {
	n, down := networkOf(rd)
	ex := map[string]bool{}
	for _, l := range avoid {
		ex[l] = true
	}
	for l := range down {
		ex[l] = true
	}
	g, err := routing.NewGraph(n)
	if err != nil {
		return nil, err
	}
	p, err := g.Shortest(src, dst, routing.Options{Metric: routing.Latency, ExcludeLinks: ex})
	if err != nil {
		return nil, err
	}
	return p.Links, nil
}

// networkOf reads the twin's devices, links and flows, and the links telemetry reports
// down (observed oper status disabled, or an end device unreachable).
func networkOf(rd *twin.Reader) (*network.Network, map[string]bool) {
	n := &network.Network{}
	ds, _, _ := rd.Devices(twin.ListOptions{})
	for _, d := range ds {
		n.Devices = append(n.Devices, d.Device)
	}
	ls, _, _ := rd.Links(twin.ListOptions{})
	for _, l := range ls {
		n.Links = append(n.Links, l.Link)
	}
	fs, _, _ := rd.Flows(twin.ListOptions{})
	for _, f := range fs {
		n.Flows = append(n.Flows, f.Flow)
	}
	down := map[string]bool{}
	ols, _, _ := rd.ObservedLinks(twin.ListOptions{})
	for _, ol := range ols {
		if ol.OperStatus == network.StatusDisabled || ol.OperStatus == network.StatusUnreachable {
			down[ol.ID] = true
		}
	}
	ods, _, _ := rd.ObservedDevices(twin.ListOptions{})
	unreach := map[string]bool{}
	for _, od := range ods {
		if !od.Reachable {
			unreach[od.ID] = true
		}
	}
	if len(unreach) > 0 {
		for _, l := range n.Links {
			for _, ep := range l.Endpoints {
				if unreach[ep.Device] {
					down[l.ID] = true
				}
			}
		}
	}
	return n, down
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// history is a bounded, ordered record list.
type history[T any] struct {
	mu   sync.Mutex
	seq  uint64
	list []T
}

func (h *history[T]) add(v T, setSeq func(*T, uint64)) T {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	setSeq(&v, h.seq)
	h.list = append(h.list, v)
	if len(h.list) > MaxRecords {
		h.list = slices.Delete(h.list, 0, len(h.list)-MaxRecords)
	}
	return v
}

func (h *history[T]) filter(keep func(T) bool) []T {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []T
	for _, v := range h.list {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}
