// Package monitor is TwinFlow's running monitoring service (REQ-MON-01..08, issue 17,
// docs/monitoring.md): it samples KPIs from the live twin — telemetry in its observed
// state and the twin's own predictions (max-min rates of the intended flows from the
// bottleneck structure) — stores the samples, evaluates thresholds with hysteresis,
// raises and clears alarms grouped under their root (a failed link with the flows and
// services on it), and after each committed change compares what the twin predicted with
// what telemetry measures ("predicted vs observed", model-divergence alarms).
//
// Alarms and KPI values are published on the twin manager's event hub (tables "alarms",
// "kpis" and "comparisons"), so they reach the one SSE stream. Other services (the
// policy engine) read Facts and Subscribe to alarm events. The pure logic is
// models/monitor.
package monitor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twinflow/twinflow/models/bottleneck"
	"github.com/twinflow/twinflow/models/change"
	mon "github.com/twinflow/twinflow/models/monitor"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// Event tables of the monitor on the twin's event hub.
const (
	TableAlarms      twin.Table = "alarms"
	TableKPIs        twin.Table = "kpis"
	TableComparisons twin.Table = "comparisons"
)

// Errors.
var (
	ErrNotFound = errors.New("monitor: not found")
	ErrConflict = errors.New("monitor: already exists")
	ErrInvalid  = mon.ErrInvalid
	// ErrTooMany: the KPI limit (Config.MaxKPIs) is reached.
	ErrTooMany = errors.New("monitor: too many KPIs")
)

// Config configures a Service. Twins and Store are required.
type Config struct {
	Twins *twin.Manager
	Store repository.Monitoring
	// Tick is the evaluation period (default 1 s; KPIs are sampled at their own
	// interval, rounded up to ticks).
	Tick time.Duration
	// Settle is how long after a commit the network is left to settle before the
	// prediction is compared with telemetry (default 10 s).
	Settle time.Duration
	// Bound is the divergence bound (default models/monitor.DefaultBound).
	Bound mon.Bound
	// Retention is how long KPI samples are kept (default 24 h).
	Retention time.Duration
	// AlarmRetention is how long cleared alarms are kept (default 7 days).
	AlarmRetention time.Duration
	// MaxKPIs bounds the number of descriptors (default 10,000).
	MaxKPIs int
	Logger  *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// KPIValue is one sampled value of a KPI.
type KPIValue struct {
	KPI   string    `json:"kpi"`
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
}

// AlarmOp says what happened to an alarm.
type AlarmOp string

// Alarm operations.
const (
	AlarmRaise  AlarmOp = "raise"
	AlarmClear  AlarmOp = "clear"
	AlarmUpdate AlarmOp = "update"
	AlarmAck    AlarmOp = "ack"
)

// AlarmEvent is what Subscribe delivers.
type AlarmEvent struct {
	Op    AlarmOp   `json:"op"`
	Alarm mon.Alarm `json:"alarm"`
}

// Facts is a consistent snapshot for rule engines: the latest value of every KPI and
// the active (raised) alarms.
type Facts struct {
	At     time.Time           `json:"at"`
	KPIs   map[string]KPIValue `json:"kpis"`
	Alarms []mon.Alarm         `json:"alarms"`
}

type kpiState struct {
	d      mon.Descriptor
	next   time.Time
	active bool // threshold crossed (hysteresis state)
	latest *KPIValue
}

// Service is the monitor. Safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex // guards the following
	kpis    map[string]*kpiState
	active  map[string]mon.Alarm // raised alarms by Key
	subs    map[*Subscription]struct{}
	predRev uint64
	pred    *mon.Prediction
	pending map[string]time.Time // change ID -> when to compare
	lastCmp time.Time
}

// New loads the descriptors and the raised alarms from the store.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Twins == nil || cfg.Store == nil {
		return nil, fmt.Errorf("monitor: Twins and Store are required")
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 10 * time.Second
	}
	if cfg.Bound == (mon.Bound{}) {
		cfg.Bound = mon.DefaultBound
	}
	if err := cfg.Bound.Validate(); err != nil {
		return nil, err
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.AlarmRetention <= 0 {
		cfg.AlarmRetention = 7 * 24 * time.Hour
	}
	if cfg.MaxKPIs <= 0 {
		cfg.MaxKPIs = 10_000
	}
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, kpis: map[string]*kpiState{}, active: map[string]mon.Alarm{},
		subs: map[*Subscription]struct{}{}, pending: map[string]time.Time{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "monitor")
	if s.now == nil {
		s.now = time.Now
	}
	recs, err := cfg.Store.ListKPIs(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		var d mon.Descriptor
		if err := json.Unmarshal(r.Doc, &d); err != nil {
			return nil, fmt.Errorf("monitor: stored kpi %q: %w", r.ID, err)
		}
		s.kpis[d.ID] = &kpiState{d: d}
	}
	after := ""
	for {
		as, err := cfg.Store.ListAlarms(ctx, repository.AlarmFilter{State: string(mon.Raised), AfterID: after, Limit: repository.MaxAlarmList})
		if err != nil {
			return nil, err
		}
		for _, r := range as {
			var a mon.Alarm
			if err := json.Unmarshal(r.Doc, &a); err != nil {
				return nil, fmt.Errorf("monitor: stored alarm %q: %w", r.ID, err)
			}
			s.active[a.Key] = a
			if a.Type == mon.TypeThreshold {
				if k := s.kpis[a.KPI]; k != nil {
					k.active = true
				}
			}
		}
		if len(as) < repository.MaxAlarmList {
			break
		}
		after = as[len(as)-1].ID
	}
	return s, nil
}

// Settle returns the configured settle time.
func (s *Service) Settle() time.Duration { return s.cfg.Settle }

// Bound returns the configured divergence bound.
func (s *Service) Bound() mon.Bound { return s.cfg.Bound }

// alarmID returns a new alarm ID that sorts by raise time (milliseconds, then random):
// alarm lists, ordered by ID, are chronological.
func (s *Service) alarmID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("a-%011x-%s", s.now().UnixMilli(), hex.EncodeToString(b[:]))
}

// ---- KPI descriptors ----

// CreateKPI validates d, stores it and starts sampling it. An ID already used is
// ErrConflict; an invalid descriptor ErrInvalid (nothing stored).
func (s *Service) CreateKPI(ctx context.Context, d mon.Descriptor) (mon.Descriptor, error) {
	d.Created = time.Time{}
	if err := d.Validate(); err != nil {
		return mon.Descriptor{}, err
	}
	s.mu.Lock()
	n, dup := len(s.kpis), s.kpis[d.ID] != nil
	s.mu.Unlock()
	if dup {
		return mon.Descriptor{}, fmt.Errorf("%w: kpi %q", ErrConflict, d.ID)
	}
	if n >= s.cfg.MaxKPIs {
		return mon.Descriptor{}, fmt.Errorf("%w: at most %d", ErrTooMany, s.cfg.MaxKPIs)
	}
	d.Created = s.now().UTC().Truncate(time.Microsecond)
	doc, err := json.Marshal(d)
	if err != nil {
		return mon.Descriptor{}, err
	}
	if _, err := s.cfg.Store.CreateKPI(ctx, repository.KPIRecord{ID: d.ID, Doc: doc, Created: d.Created}); err != nil {
		if errors.Is(err, repository.ErrConflict) {
			return mon.Descriptor{}, fmt.Errorf("%w: kpi %q", ErrConflict, d.ID)
		}
		return mon.Descriptor{}, err
	}
	s.mu.Lock()
	s.kpis[d.ID] = &kpiState{d: d}
	s.mu.Unlock()
	return d, nil
}

// KPIs returns the descriptors by ID.
func (s *Service) KPIs() []mon.Descriptor {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]mon.Descriptor, 0, len(s.kpis))
	for _, k := range s.kpis {
		out = append(out, k.d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// KPI returns one descriptor and its latest value (nil if not sampled yet).
func (s *Service) KPI(id string) (mon.Descriptor, *KPIValue, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.kpis[id]
	if k == nil {
		return mon.Descriptor{}, nil, fmt.Errorf("%w: kpi %q", ErrNotFound, id)
	}
	return k.d, k.latest, nil
}

// DeleteKPI removes a descriptor, its samples and clears its threshold alarm.
func (s *Service) DeleteKPI(ctx context.Context, id string) error {
	if err := mon.CheckID("id", id); err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteKPI(ctx, id); err != nil {
		if errors.Is(err, repository.ErrNotFound) {
			return fmt.Errorf("%w: kpi %q", ErrNotFound, id)
		}
		return err
	}
	s.mu.Lock()
	delete(s.kpis, id)
	var trs []mon.Transition
	if a, ok := s.active["threshold:"+id]; ok {
		now := s.now().UTC()
		a.State, a.Cleared, a.Updated = mon.Cleared, now, now
		trs = append(trs, mon.Transition{Alarm: a})
	}
	s.mu.Unlock()
	s.apply(ctx, trs)
	return nil
}

// Range returns the stored samples of a KPI with from ≤ t < to (at most limit).
func (s *Service) Range(ctx context.Context, id string, from, to time.Time, limit int) ([]KPIValue, error) {
	s.mu.Lock()
	_, ok := s.kpis[id]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: kpi %q", ErrNotFound, id)
	}
	ss, err := s.cfg.Store.KPIRange(ctx, id, from, to, limit)
	if err != nil {
		return nil, err
	}
	out := make([]KPIValue, len(ss))
	for i, x := range ss {
		out[i] = KPIValue{KPI: x.KPI, Time: x.Time, Value: x.Value}
	}
	return out, nil
}

// ---- alarms ----

// Alarms lists stored alarms (state "" for all), by ID.
func (s *Service) Alarms(ctx context.Context, state string, after string, limit int) ([]mon.Alarm, error) {
	rs, err := s.cfg.Store.ListAlarms(ctx, repository.AlarmFilter{State: state, AfterID: after, Limit: limit})
	if err != nil {
		return nil, err
	}
	out := make([]mon.Alarm, 0, len(rs))
	for _, r := range rs {
		var a mon.Alarm
		if err := json.Unmarshal(r.Doc, &a); err != nil {
			return nil, fmt.Errorf("monitor: stored alarm %q: %w", r.ID, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Alarm returns one alarm.
func (s *Service) Alarm(ctx context.Context, id string) (mon.Alarm, error) {
	if err := mon.CheckID("id", id); err != nil {
		return mon.Alarm{}, err
	}
	r, err := s.cfg.Store.GetAlarm(ctx, id)
	if err != nil {
		if errors.Is(err, repository.ErrNotFound) {
			return mon.Alarm{}, fmt.Errorf("%w: alarm %q", ErrNotFound, id)
		}
		return mon.Alarm{}, err
	}
	var a mon.Alarm
	if err := json.Unmarshal(r.Doc, &a); err != nil {
		return mon.Alarm{}, fmt.Errorf("monitor: stored alarm %q: %w", id, err)
	}
	return a, nil
}

// Acknowledge marks an alarm acknowledged by actor (raised or cleared; acknowledging
// twice is a no-op).
func (s *Service) Acknowledge(ctx context.Context, id, actor string) (mon.Alarm, error) {
	if err := mon.CheckText("actor", actor); err != nil {
		return mon.Alarm{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.Alarm(ctx, id)
	if err != nil {
		return mon.Alarm{}, err
	}
	if act, ok := s.active[a.Key]; ok && act.ID == a.ID {
		a = act
	}
	if a.Acknowledged {
		return a, nil
	}
	a.Acknowledged, a.AckedBy, a.Updated = true, actor, s.now().UTC()
	if err := s.store(ctx, a); err != nil {
		return mon.Alarm{}, err
	}
	if a.State == mon.Raised {
		s.active[a.Key] = a
	}
	s.notify(AlarmAck, a)
	return a, nil
}

// Raise raises (or updates) an alarm of the caller's own condition — e.g. a policy's
// "raise an alarm" action (Type mon.TypePolicy). The condition's Key identifies it:
// raising the same Key again updates the active alarm. The monitor never clears it by
// itself: call Clear.
func (s *Service) Raise(ctx context.Context, c mon.Condition) (mon.Alarm, error) {
	if err := mon.CheckID("key", c.Key); err != nil {
		return mon.Alarm{}, err
	}
	if err := mon.CheckText("text", c.Text); err != nil {
		return mon.Alarm{}, err
	}
	if c.Subject != "" {
		if err := mon.CheckID("subject", c.Subject); err != nil {
			return mon.Alarm{}, err
		}
	}
	if c.Type != mon.TypePolicy {
		return mon.Alarm{}, fmt.Errorf("%w: type: only %s alarms are raised from outside the monitor", ErrInvalid, mon.TypePolicy)
	}
	if c.Severity == "" {
		c.Severity = mon.SeverityMajor
	}
	if !c.Severity.Valid() {
		return mon.Alarm{}, fmt.Errorf("%w: severity %q", ErrInvalid, c.Severity)
	}
	s.mu.Lock()
	active := map[string]mon.Alarm{}
	if a, ok := s.active[c.Key]; ok {
		active[c.Key] = a
	}
	trs := mon.Reconcile(active, []mon.Condition{c}, []mon.AlarmType{mon.TypePolicy}, s.now().UTC(), s.alarmID)
	s.mu.Unlock()
	s.apply(ctx, trs)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.active[c.Key], nil
}

// Clear clears the active alarm with this Key, if any (ok false if none).
func (s *Service) Clear(ctx context.Context, key string) (ok bool) {
	s.mu.Lock()
	a, found := s.active[key]
	s.mu.Unlock()
	if !found {
		return false
	}
	now := s.now().UTC()
	a.State, a.Cleared, a.Updated = mon.Cleared, now, now
	s.apply(ctx, []mon.Transition{{Alarm: a}})
	return true
}

// Facts returns the latest KPI values and the active alarms (sorted by ID).
func (s *Service) Facts() Facts {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := Facts{At: s.now().UTC(), KPIs: map[string]KPIValue{}, Alarms: make([]mon.Alarm, 0, len(s.active))}
	for id, k := range s.kpis {
		if k.latest != nil {
			f.KPIs[id] = *k.latest
		}
	}
	for _, a := range s.active {
		f.Alarms = append(f.Alarms, a)
	}
	sort.Slice(f.Alarms, func(i, j int) bool { return f.Alarms[i].ID < f.Alarms[j].ID })
	return f
}

// Subscription delivers alarm events. Read C until Close; a subscriber that reads too
// slowly misses events (counted in Missed) rather than blocking the monitor.
type Subscription struct {
	C      <-chan AlarmEvent
	c      chan AlarmEvent
	s      *Service
	missed uint64
	closed bool
}

// Subscribe returns a subscription to alarm events with a queue of buf (≤ 0: 256).
func (s *Service) Subscribe(buf int) *Subscription {
	if buf <= 0 {
		buf = 256
	}
	c := make(chan AlarmEvent, buf)
	sub := &Subscription{C: c, c: c, s: s}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub
}

// Missed returns how many events the subscription dropped.
func (sub *Subscription) Missed() uint64 {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	return sub.missed
}

// Close ends the subscription and closes C.
func (sub *Subscription) Close() {
	sub.s.mu.Lock()
	defer sub.s.mu.Unlock()
	if sub.closed {
		return
	}
	sub.closed = true
	delete(sub.s.subs, sub)
	close(sub.c)
}

// notify hands ev to every subscriber and the event hub; s.mu is held.
func (s *Service) notify(op AlarmOp, a mon.Alarm) {
	for sub := range s.subs {
		select {
		case sub.c <- AlarmEvent{Op: op, Alarm: a}:
		default:
			sub.missed++
		}
	}
	hop := twin.OpUpdate
	if op == AlarmRaise {
		hop = twin.OpCreate
	}
	s.cfg.Twins.Events().Publish([]twin.Event{{Twin: twin.LiveID, Table: TableAlarms, Op: hop, ID: a.ID,
		Revision: s.cfg.Twins.Live().Revision(), Object: &AlarmEvent{Op: op, Alarm: a}, Time: a.Updated}})
}

func (s *Service) store(ctx context.Context, a mon.Alarm) error {
	doc, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return s.cfg.Store.PutAlarm(ctx, repository.AlarmRecord{ID: a.ID, Key: a.Key, State: string(a.State),
		Raised: a.Raised, Updated: a.Updated, Doc: doc})
}

// apply stores and announces transitions; one that cannot be stored is logged and left
// out of the active set (it is retried at the next evaluation, since the condition
// still differs).
func (s *Service) apply(ctx context.Context, trs []mon.Transition) {
	if len(trs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range trs {
		a := t.Alarm
		if err := s.store(ctx, a); err != nil {
			s.log.Error("store alarm", "alarm", a.ID, "key", a.Key, "err", err)
			continue
		}
		op := AlarmUpdate
		switch {
		case t.New:
			op = AlarmRaise
			s.active[a.Key] = a
		case a.State == mon.Cleared:
			op = AlarmClear
			delete(s.active, a.Key)
		default:
			s.active[a.Key] = a
		}
		s.log.Info("alarm "+string(op), "alarm", a.ID, "key", a.Key, "type", a.Type, "parent", a.ParentID)
		s.notify(op, a)
	}
}

// ---- evaluation ----

// snapshot is what one evaluation reads of the live twin.
type snapshot struct {
	rev      uint64
	net      *network.Network
	links    map[string]twin.ObservedLink
	devices  map[string]twin.ObservedDevice
	ifaces   map[[2]string]twin.ObservedInterface
	slices   map[string]bool
	intended map[string]bool    // intended link IDs
	observed map[string]float64 // directed link -> observed Gbps
}

func (s *Service) read() (*snapshot, error) {
	sn := &snapshot{links: map[string]twin.ObservedLink{}, devices: map[string]twin.ObservedDevice{},
		ifaces: map[[2]string]twin.ObservedInterface{}, slices: map[string]bool{}, intended: map[string]bool{},
		observed: map[string]float64{}}
	err := s.cfg.Twins.Live().View(func(r *twin.Reader) error {
		sn.rev = r.Revision()
		sn.net = r.Network()
		for _, l := range sn.net.Links {
			sn.intended[l.ID] = true
		}
		ls, _, err := r.ObservedLinks(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, l := range ls {
			sn.links[l.ID] = l
			switch {
			case l.At.IsZero():
			case l.OperStatus == network.StatusDisabled: // a down link carries nothing, whatever its last rates
				sn.observed[network.DirectedLinkID(l.ID, false)] = 0
				sn.observed[network.DirectedLinkID(l.ID, true)] = 0
			default:
				sn.observed[network.DirectedLinkID(l.ID, false)] = l.RateGbps[0]
				sn.observed[network.DirectedLinkID(l.ID, true)] = l.RateGbps[1]
			}
		}
		ds, _, err := r.ObservedDevices(twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, d := range ds {
			sn.devices[d.ID] = d
		}
		after := ""
		for {
			is, next, err := r.ObservedInterfacesPage(twin.ListOptions{After: after, Limit: 10_000})
			if err != nil {
				return err
			}
			for _, i := range is {
				sn.ifaces[[2]string{i.Device, i.Interface}] = i
			}
			if next == "" || len(is) == 0 {
				break
			}
			after = next
		}
		rs, _, err := r.Records(twin.TableSlices, twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, rec := range rs {
			sn.slices[rec.ID] = true
		}
		return nil
	})
	return sn, err
}

// predict returns the twin's prediction for the snapshot's intended state (cached per
// revision): each flow with a path gets its max-min rate from the bottleneck structure
// of the links that are not disabled; a flow whose path uses a missing link is left out.
func (s *Service) predict(sn *snapshot) mon.Prediction {
	s.mu.Lock()
	if s.pred != nil && s.predRev == sn.rev {
		p := *s.pred
		s.mu.Unlock()
		return p
	}
	s.mu.Unlock()
	p := Predict(sn.net)
	s.mu.Lock()
	s.pred, s.predRev = &p, sn.rev
	s.mu.Unlock()
	return p
}

// Predict computes the twin's prediction for a network: the max-min rate of every flow
// with a path (rate-capped flows at most their demand) over the links that are up.
func Predict(n *network.Network) mon.Prediction {
	p := mon.Prediction{FlowRates: map[string]float64{}, FlowPaths: map[string][]string{}}
	bn, err := bottleneck.FromNetwork(&network.Network{Links: n.Links}, nil)
	if err != nil {
		return p
	}
	have := map[string]bool{}
	for _, l := range bn.Links {
		have[l.ID] = true
	}
	for _, f := range n.Flows {
		if len(f.Path) == 0 {
			continue
		}
		ok := true
		for _, dl := range f.Path {
			ok = ok && have[dl]
		}
		if !ok {
			continue
		}
		bn.Flows = append(bn.Flows, bottleneck.Flow{ID: f.ID, Path: f.Path, Demand: f.DemandGbps, Class: f.Class})
		p.FlowPaths[f.ID] = f.Path
	}
	st, err := bottleneck.New(bn)
	if err != nil {
		return mon.Prediction{FlowRates: map[string]float64{}, FlowPaths: map[string][]string{}}
	}
	for id := range p.FlowPaths {
		if r, err := st.Rate(id); err == nil {
			p.FlowRates[id] = r
		}
	}
	return p
}

// value is a descriptor's current value in the snapshot (ok false: not known yet).
func value(d *mon.Descriptor, sn *snapshot, p *mon.Prediction, loads map[string]float64) (float64, bool) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	switch d.Kind {
	case mon.KindDevice:
		od, ok := sn.devices[d.Subject]
		return b(od.Reachable), ok
	case mon.KindEndpoint:
		i, ok := sn.ifaces[[2]string{d.Subject, d.Endpoint}]
		if !ok {
			return 0, false
		}
		switch d.Metric {
		case "oper_up":
			return b(i.OperStatus == network.StatusEnabled), i.OperStatus != ""
		case "in_rate_gbps":
			return i.InRateGbps, true
		case "out_rate_gbps":
			return i.OutRateGbps, true
		case "in_errors":
			return float64(i.InErrors), true
		case "out_errors":
			return float64(i.OutErrors), true
		case "in_discards":
			return float64(i.InDiscards), true
		case "out_discards":
			return float64(i.OutDiscards), true
		}
	case mon.KindLink:
		switch d.Metric {
		case "predicted_load_gbps":
			return loads[d.Subject], sn.intended[d.Subject]
		case "predicted_load_gbps_rev":
			return loads[network.DirectedLinkID(d.Subject, true)], sn.intended[d.Subject]
		}
		l, ok := sn.links[d.Subject]
		if !ok {
			return 0, false
		}
		switch d.Metric {
		case "oper_up":
			return b(l.OperStatus == network.StatusEnabled), l.OperStatus != ""
		case "rate_gbps":
			return l.RateGbps[0], true
		case "rate_gbps_rev":
			return l.RateGbps[1], true
		case "utilisation":
			return l.Utilisation[0], true
		case "utilisation_rev":
			return l.Utilisation[1], true
		}
	case mon.KindFlow:
		r, ok := p.FlowRates[d.Subject]
		if !ok {
			return 0, false
		}
		if d.Metric == "predicted_rate_gbps" {
			return r, true
		}
		return mon.EstimateFlow(r, p.FlowPaths[d.Subject], loads, sn.observed)
	case mon.KindService, mon.KindSlice:
		var flows []string
		for _, f := range sn.net.Flows {
			if f.Owner == d.Subject {
				flows = append(flows, f.ID)
			}
		}
		if d.Metric == "flows" {
			return float64(len(flows)), true
		}
		minv, any := math.Inf(1), false
		for _, f := range flows {
			r, ok := p.FlowRates[f]
			if !ok {
				continue
			}
			if d.Metric == "observed_min_rate_gbps" {
				if r, ok = mon.EstimateFlow(r, p.FlowPaths[f], loads, sn.observed); !ok {
					continue
				}
			}
			minv, any = math.Min(minv, r), true
		}
		return minv, any
	}
	return 0, false
}

// Value returns the current value of any KPI a descriptor could describe (its ID and
// interval are not used), without storing anything: what a rule engine asks for a
// condition on a KPI nobody created. ok is false when the value is not known yet.
func (s *Service) Value(d mon.Descriptor) (v float64, ok bool, err error) {
	if d.ID == "" {
		d.ID = "adhoc"
	}
	if d.SampleIntervalS == 0 {
		d.SampleIntervalS = 1
	}
	if err := d.Validate(); err != nil {
		return 0, false, err
	}
	sn, err := s.read()
	if err != nil {
		return 0, false, err
	}
	p := s.predict(sn)
	v, ok = value(&d, sn, &p, p.LinkLoads())
	return v, ok, nil
}

// relations derives what Correlate needs from the intended network.
func relations(sn *snapshot) mon.Relations {
	rel := mon.Relations{LinkFlows: map[string][]string{}, FlowOwner: map[string]string{}, OwnerKind: map[string]mon.Kind{},
		LinkDevices: map[string][2]string{}}
	for _, l := range sn.net.Links {
		if len(l.Endpoints) == 2 {
			rel.LinkDevices[l.ID] = [2]string{l.Endpoints[0].Device, l.Endpoints[1].Device}
		}
	}
	for _, f := range sn.net.Flows {
		seen := map[string]bool{}
		for _, dl := range f.Path {
			id, _ := strings.CutSuffix(dl, network.ReverseSuffix)
			if !seen[id] {
				seen[id] = true
				rel.LinkFlows[id] = append(rel.LinkFlows[id], f.ID)
			}
		}
		if f.Owner != "" {
			rel.FlowOwner[f.ID] = f.Owner
			if sn.slices[f.Owner] {
				rel.OwnerKind[f.Owner] = mon.KindSlice
			}
		}
	}
	return rel
}

// failureScope are the alarm types Step reconciles.
var failureScope = []mon.AlarmType{mon.TypeDeviceUnreachable, mon.TypeLinkDown, mon.TypeFlowAffected,
	mon.TypeServiceAffected, mon.TypeThreshold}

// Step runs one evaluation at the service's clock: samples due KPIs, stores their
// samples, evaluates thresholds, raises and clears failure and threshold alarms, and
// compares the changes whose settle time has passed.
func (s *Service) Step(ctx context.Context) error {
	now := s.now().UTC()
	sn, err := s.read()
	if err != nil {
		return err
	}
	p := s.predict(sn)
	loads := p.LinkLoads()
	var samples []repository.KPISample
	var evs []twin.Event
	s.mu.Lock()
	var conds []mon.Condition
	for id, k := range s.kpis {
		if now.Before(k.next) {
			if k.active && k.latest != nil {
				conds = append(conds, thresholdCond(k))
			}
			continue
		}
		k.next = now.Add(k.d.Interval())
		v, ok := value(&k.d, sn, &p, loads)
		if !ok || math.IsNaN(v) || math.IsInf(v, 0) {
			if k.active && k.latest != nil {
				conds = append(conds, thresholdCond(k))
			}
			continue
		}
		kv := KPIValue{KPI: id, Time: now, Value: v}
		k.latest = &kv
		samples = append(samples, repository.KPISample{KPI: id, Time: now, Value: v})
		evs = append(evs, twin.Event{Twin: twin.LiveID, Table: TableKPIs, Op: twin.OpUpdate, ID: id, Revision: sn.rev, Object: &kv, Time: now})
		if k.d.Threshold != nil {
			k.active = k.d.Threshold.Next(k.active, v)
			if k.active {
				conds = append(conds, thresholdCond(k))
			}
		}
	}
	var unreachable, failed []string
	for id, d := range sn.devices {
		if !d.Reachable {
			unreachable = append(unreachable, id)
		}
	}
	for id, l := range sn.links {
		if l.OperStatus == network.StatusDisabled {
			failed = append(failed, id)
		}
	}
	fc := mon.Correlate(unreachable, failed, relations(sn))
	mon.Adopt(conds, mon.RootsOf(fc))
	conds = append(fc, conds...)
	active := make(map[string]mon.Alarm, len(s.active))
	for k, a := range s.active {
		active[k] = a
	}
	var due []string
	for c, at := range s.pending {
		if !now.Before(at) {
			due = append(due, c)
			delete(s.pending, c)
		}
	}
	s.mu.Unlock()
	sort.Slice(evs, func(i, j int) bool { return evs[i].ID < evs[j].ID })
	if len(evs) > 0 {
		s.cfg.Twins.Events().Publish(evs)
	}
	if len(samples) > 0 {
		if err := s.cfg.Store.AppendKPISamples(ctx, samples); err != nil {
			s.log.Error("store kpi samples", "samples", len(samples), "err", err)
		}
	}
	s.apply(ctx, mon.Reconcile(active, conds, failureScope, now, s.alarmID))
	sort.Strings(due)
	for _, c := range due {
		if _, err := s.compare(ctx, c, sn, p, now); err != nil {
			s.log.Error("compare change with telemetry", "change", c, "err", err)
		}
	}
	return nil
}

func thresholdCond(k *kpiState) mon.Condition {
	v := k.latest.Value
	th := k.d.Threshold
	return mon.Condition{Key: "threshold:" + k.d.ID, Type: mon.TypeThreshold, Severity: th.Severity,
		SubjectKind: k.d.Kind, Subject: k.d.Subject, KPI: k.d.ID, Value: &v,
		Text: fmt.Sprintf("kpi %s (%s %s %s) crossed %s %g", k.d.ID, k.d.Kind, k.d.Subject, k.d.Metric, th.Direction, th.Raise)}
}

// ---- model versus network ----

// Comparison returns the predicted-vs-observed record of a change (ErrNotFound if the
// change has none, e.g. it is not committed or has not settled yet).
func (s *Service) Comparison(ctx context.Context, changeID string) (*mon.Comparison, error) {
	doc, err := s.cfg.Store.GetComparison(ctx, changeID)
	if err != nil {
		if errors.Is(err, repository.ErrNotFound) {
			return nil, fmt.Errorf("%w: no comparison for change %q", ErrNotFound, changeID)
		}
		return nil, err
	}
	var c mon.Comparison
	if err := json.Unmarshal(doc, &c); err != nil {
		return nil, fmt.Errorf("monitor: stored comparison of %q: %w", changeID, err)
	}
	return &c, nil
}

// Watch schedules the comparison of a change Settle after now (what Run does for each
// change the pipeline commits).
func (s *Service) Watch(changeID string) {
	s.mu.Lock()
	s.pending[changeID] = s.now().Add(s.cfg.Settle)
	s.mu.Unlock()
}

// Compare compares the twin's prediction with telemetry now, for a change, records it
// and raises (or, when within the bound, clears every earlier) model-divergence alarm.
func (s *Service) Compare(ctx context.Context, changeID string) (*mon.Comparison, error) {
	if err := mon.CheckID("change", changeID); err != nil {
		return nil, err
	}
	sn, err := s.read()
	if err != nil {
		return nil, err
	}
	return s.compare(ctx, changeID, sn, s.predict(sn), s.now().UTC())
}

func (s *Service) compare(ctx context.Context, changeID string, sn *snapshot, p mon.Prediction, now time.Time) (*mon.Comparison, error) {
	c := mon.Compare(p, sn.observed, s.cfg.Bound)
	c.Change, c.At, c.SettleS = changeID, now, s.cfg.Settle.Seconds()
	c.Note = "rates only: telemetry measures no latency, so predicted latency is not compared"
	doc, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.PutComparison(ctx, changeID, doc); err != nil {
		return nil, err
	}
	s.cfg.Twins.Events().Publish([]twin.Event{{Twin: twin.LiveID, Table: TableComparisons, Op: twin.OpCreate, ID: changeID,
		Revision: sn.rev, Object: &c, Time: now}})
	s.mu.Lock()
	active := map[string]mon.Alarm{}
	for k, a := range s.active {
		if a.Type == mon.TypeModelDivergence {
			active[k] = a
		}
	}
	s.mu.Unlock()
	var conds []mon.Condition
	if c.Diverged {
		// Earlier divergences stay until a comparison within the bound.
		for _, a := range active {
			conds = append(conds, a.Condition)
		}
		conds = append(conds, mon.Condition{Key: "model-divergence:" + changeID, Type: mon.TypeModelDivergence,
			Severity: mon.SeverityMajor, SubjectKind: mon.KindLink, Subject: firstOr(c.DivergedLinks, changeID),
			Links: c.DivergedLinks, Flows: c.DivergedFlows, Change: changeID,
			Text: fmt.Sprintf("after change %s telemetry differs from the twin's prediction by more than %g%% (floor %g Gb/s): links %s; flows %s",
				changeID, 100*s.cfg.Bound.Relative, s.cfg.Bound.AbsoluteGbps, listOr(c.DivergedLinks), listOr(c.DivergedFlows))})
	}
	s.apply(ctx, mon.Reconcile(active, conds, []mon.AlarmType{mon.TypeModelDivergence}, now, s.alarmID))
	return &c, nil
}

func firstOr(xs []string, def string) string {
	if len(xs) > 0 {
		return xs[0]
	}
	return def
}

func listOr(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

// Run evaluates every Tick and watches the pipeline's events for committed changes
// until ctx ends; it prunes KPI samples older than Retention and cleared alarms older
// than AlarmRetention hourly.
func (s *Service) Run(ctx context.Context) {
	// The hub is read on its own goroutine, so a slow evaluation never makes the
	// subscription lag and miss a commit.
	sub := s.cfg.Twins.Events().Subscribe(twin.LiveID, 0)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for ev := range sub.C {
			switch {
			case ev.Op == twin.OpLagged:
				s.log.Warn("monitor missed twin events; a commit among them is not compared", "after", ev.Seq)
			case ev.Table == twin.TableChanges:
				if pe, ok := ev.Object.(*pipeline.Event); ok && pe.To == change.StateCommitted {
					s.Watch(pe.Change)
				}
			}
		}
	}()
	defer func() { sub.Close(); <-watched }()
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Step(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("monitor evaluation", "err", err)
			}
		case <-prune.C:
			if _, err := s.cfg.Store.PruneKPISamples(ctx, s.now().Add(-s.cfg.Retention)); err != nil && ctx.Err() == nil {
				s.log.Error("prune kpi samples", "err", err)
			}
			if _, err := s.cfg.Store.PruneAlarms(ctx, s.now().Add(-s.cfg.AlarmRetention)); err != nil && ctx.Err() == nil {
				s.log.Error("prune alarms", "err", err)
			}
		}
	}
}
