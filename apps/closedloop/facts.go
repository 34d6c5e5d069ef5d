package closedloop

import (
	"sync"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/twin"
)

// Recorder is a policy.Facts fed from the live twin's telemetry events (Observe) and by
// anyone else (SetKPI, RaiseAlarm, ClearAlarm, AddEvent: the monitoring service's KPIs
// and alarms plug in here). Safe for concurrent use.
//
// From telemetry it derives:
//   - KPIs "link.<link>.utilisation" (percent, the busier direction) and
//     "link.<link>.rate_gbps" (the busier direction), per observed link;
//   - events "link-down" / "link-up" (subject: link ID) when a link's observed oper
//     status changes, "device-unreachable" / "device-reachable" (subject: device), and
//     "interface-down" / "interface-up" (subject: "device/interface").
type Recorder struct {
	now    func() time.Time
	mu     sync.Mutex
	kpis   map[string]float64
	alarms map[string]policy.Alarm
	events []policy.Event
	links  map[string]network.OperStatus
	devs   map[string]bool
	ifs    map[string]network.OperStatus
}

// Bounds of a Recorder.
const (
	maxEvents   = 1024
	eventMaxAge = time.Hour
	maxKPIs     = 1 << 16
	maxAlarms   = 4096
)

// NewRecorder returns an empty Recorder (now: the clock, nil = time.Now).
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now, kpis: map[string]float64{}, alarms: map[string]policy.Alarm{},
		links: map[string]network.OperStatus{}, devs: map[string]bool{}, ifs: map[string]network.OperStatus{}}
}

// KPI implements policy.Facts.
func (r *Recorder) KPI(name string) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.kpis[name]
	return v, ok
}

// Alarms implements policy.Facts.
func (r *Recorder) Alarms() []policy.Alarm {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]policy.Alarm, 0, len(r.alarms))
	for _, a := range r.alarms {
		out = append(out, a)
	}
	return out
}

// Events implements policy.Facts.
func (r *Recorder) Events() []policy.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]policy.Event(nil), r.events...)
}

// SetKPI records a KPI's latest value.
func (r *Recorder) SetKPI(name string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.kpis[name]; ok || len(r.kpis) < maxKPIs {
		r.kpis[name] = v
	}
}

// RaiseAlarm records an active alarm (by name).
func (r *Recorder) RaiseAlarm(a policy.Alarm) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.alarms[a.Name]; ok || len(r.alarms) < maxAlarms {
		r.alarms[a.Name] = a
	}
}

// ClearAlarm clears an alarm.
func (r *Recorder) ClearAlarm(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.alarms, name)
}

// AddEvent records an event (events older than an hour and beyond the last 1024 are
// dropped).
func (r *Recorder) AddEvent(e policy.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addLocked(e)
}

func (r *Recorder) addLocked(e policy.Event) {
	if e.At.IsZero() {
		e.At = r.now()
	}
	cut := r.now().Add(-eventMaxAge)
	keep := r.events[:0]
	for _, old := range r.events {
		if old.At.After(cut) {
			keep = append(keep, old)
		}
	}
	r.events = append(keep, e)
	if len(r.events) > maxEvents {
		r.events = append([]policy.Event(nil), r.events[len(r.events)-maxEvents:]...)
	}
}

// Observe takes one twin event; it returns whether it changed the facts.
func (r *Recorder) Observe(ev twin.Event) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := ev.Time
	switch o := ev.Object.(type) {
	case *twin.ObservedLink:
		if ev.Op == twin.OpRemove {
			return false
		}
		if !o.At.IsZero() {
			at = o.At
		}
		changed := false
		if o.OperStatus != "" && r.links[o.ID] != o.OperStatus {
			prev := r.links[o.ID]
			r.links[o.ID] = o.OperStatus
			switch {
			case o.OperStatus == network.StatusDisabled || o.OperStatus == network.StatusUnreachable:
				r.addLocked(policy.Event{Kind: "link-down", Subject: o.ID, At: at})
				changed = true
			case o.OperStatus == network.StatusEnabled && prev != "":
				r.addLocked(policy.Event{Kind: "link-up", Subject: o.ID, At: at})
				changed = true
			}
		}
		u := max(o.Utilisation[0], o.Utilisation[1]) * 100
		rate := max(o.RateGbps[0], o.RateGbps[1])
		if len(r.kpis) < maxKPIs {
			k := "link." + o.ID + ".utilisation"
			if old, ok := r.kpis[k]; !ok || old != u {
				changed = true
			}
			r.kpis[k] = u
			r.kpis["link."+o.ID+".rate_gbps"] = rate
		}
		return changed
	case *twin.ObservedDevice:
		if ev.Op == twin.OpRemove {
			return false
		}
		prev, known := r.devs[o.ID]
		r.devs[o.ID] = o.Reachable
		if known && prev == o.Reachable || !known && o.Reachable {
			return false
		}
		kind := "device-unreachable"
		if o.Reachable {
			kind = "device-reachable"
		}
		r.addLocked(policy.Event{Kind: kind, Subject: o.ID, At: o.At})
		return true
	case *twin.ObservedInterface:
		if ev.Op == twin.OpRemove || o.OperStatus == "" || r.ifs[o.ID] == o.OperStatus {
			return false
		}
		prev := r.ifs[o.ID]
		r.ifs[o.ID] = o.OperStatus
		if o.OperStatus == network.StatusDisabled {
			r.addLocked(policy.Event{Kind: "interface-down", Subject: o.ID, At: o.At})
			return true
		}
		if o.OperStatus == network.StatusEnabled && prev != "" {
			r.addLocked(policy.Event{Kind: "interface-up", Subject: o.ID, At: o.At})
			return true
		}
	}
	return false
}

// Merged reads several fact sources as one: a KPI is the first source's that has it;
// alarms and events are every source's.
type Merged []policy.Facts

// KPI implements policy.Facts.
func (m Merged) KPI(name string) (float64, bool) {
	for _, f := range m {
		if v, ok := f.KPI(name); ok {
			return v, true
		}
	}
	return 0, false
}

// Alarms implements policy.Facts.
func (m Merged) Alarms() []policy.Alarm {
	var out []policy.Alarm
	for _, f := range m {
		out = append(out, f.Alarms()...)
	}
	return out
}

// Events implements policy.Facts.
func (m Merged) Events() []policy.Event {
	var out []policy.Event
	for _, f := range m {
		out = append(out, f.Events()...)
	}
	return out
}
