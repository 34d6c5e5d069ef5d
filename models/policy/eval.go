package policy

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Event is one recent twin or telemetry event a condition can match: Kind names what
// happened ("link-down", "link-up", "device-unreachable", "utilisation-high", ...),
// Subject the object (link, device, flow ID).
type Event struct {
	Kind    string    `json:"kind"`
	Subject string    `json:"subject,omitempty"`
	At      time.Time `json:"at"`
}

// Alarm is an active alarm as conditions see it.
type Alarm struct {
	Name    string `json:"name"`
	Kind    string `json:"kind,omitempty"`
	Subject string `json:"subject,omitempty"`
}

// Facts is what conditions are evaluated over. Any source can implement it: the
// engine's own Snapshot (fed from telemetry and twin events), or the monitoring
// service's KPIs and alarms.
type Facts interface {
	// KPI returns the latest value of the KPI with that name.
	KPI(name string) (float64, bool)
	// Alarms returns the active alarms.
	Alarms() []Alarm
	// Events returns the recent events (any order).
	Events() []Event
}

// Snapshot is a plain Facts value.
type Snapshot struct {
	KPIs        map[string]float64 `json:"kpis,omitempty"`
	AlarmList   []Alarm            `json:"alarms,omitempty"`
	EventList   []Event            `json:"events,omitempty"`
	KPIsUpdated time.Time          `json:"-"`
}

// KPI implements Facts.
func (s *Snapshot) KPI(name string) (float64, bool) { v, ok := s.KPIs[name]; return v, ok }

// Alarms implements Facts.
func (s *Snapshot) Alarms() []Alarm { return s.AlarmList }

// Events implements Facts.
func (s *Snapshot) Events() []Event { return s.EventList }

// Evaluate reports whether the rule's conditions hold over f at now, and why (one line
// per condition that held). A rule with no conditions never fires.
func Evaluate(r *Rule, f Facts, now time.Time) (bool, []string) {
	if len(r.Conditions) == 0 || f == nil {
		return false, nil
	}
	any := r.Match == "any"
	var why []string
	for _, c := range r.Conditions {
		ok, reason := evalCondition(c, f, now)
		if ok {
			why = append(why, reason)
			if any {
				return true, why
			}
		} else if !any {
			return false, nil
		}
	}
	return !any, why
}

func evalCondition(c Condition, f Facts, now time.Time) (bool, string) {
	switch c.Type {
	case CondKPI:
		v, ok := f.KPI(c.Name)
		if !ok {
			return false, ""
		}
		var hit bool
		switch c.Op {
		case ">":
			hit = v > c.Value
		case ">=":
			hit = v >= c.Value
		case "<":
			hit = v < c.Value
		case "<=":
			hit = v <= c.Value
		case "==":
			hit = v == c.Value
		case "!=":
			hit = v != c.Value
		}
		return hit, fmt.Sprintf("kpi %s = %g %s %g", c.Name, v, c.Op, c.Value)
	case CondAlarm:
		for _, a := range f.Alarms() {
			if (c.Name == "" || a.Name == c.Name) && (c.Kind == "" || a.Kind == c.Kind) {
				return true, "alarm " + a.Name + " is active"
			}
		}
	case CondEvent:
		within := time.Duration(c.WithinSeconds) * time.Second
		if within <= 0 {
			within = time.Minute
		}
		for _, e := range f.Events() {
			if e.Kind != c.Kind || (c.Subject != "" && e.Subject != c.Subject) {
				continue
			}
			if age := now.Sub(e.At); age >= 0 && age <= within {
				return true, fmt.Sprintf("event %s %s at %s", e.Kind, e.Subject, e.At.UTC().Format(time.RFC3339Nano))
			}
		}
	}
	return false, ""
}

// Verdict is the Guard's answer for one firing of a rule.
type Verdict struct {
	Allowed bool
	// Reason says why an action is held back (empty when allowed).
	Reason string
}

// Guard is the engine's loop protection: per rule, at most one action per hold-down
// period (so a flapping condition produces at most one action per hold-down) and at
// most RateLimit.Max actions per RateLimit.PerSeconds. It is pure state: the caller
// passes the time. Not safe for concurrent use.
type Guard struct {
	last    map[string]time.Time
	history map[string][]time.Time
}

// NewGuard returns an empty Guard.
func NewGuard() *Guard {
	return &Guard{last: map[string]time.Time{}, history: map[string][]time.Time{}}
}

// Check says whether rule r may act at now (without recording anything).
func (g *Guard) Check(r *Rule, now time.Time) Verdict {
	if t, ok := g.last[r.ID]; ok {
		if until := t.Add(r.HoldDown()); now.Before(until) {
			return Verdict{Reason: fmt.Sprintf("held down: rule %s acted at %s; next action from %s", r.ID,
				t.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))}
		}
	}
	if rl := r.RateLimit; rl != nil {
		win := time.Duration(rl.PerSeconds) * time.Second
		n := 0
		for _, t := range g.history[r.ID] {
			if now.Sub(t) < win {
				n++
			}
		}
		if n >= rl.Max {
			return Verdict{Reason: fmt.Sprintf("rate limited: rule %s acted %d times in the last %ds (limit %d)", r.ID, n, rl.PerSeconds, rl.Max)}
		}
	}
	return Verdict{Allowed: true}
}

// Record notes that rule r acted (or tried to: a refused proposal counts, so a
// condition that keeps failing validation does not retry faster than the hold-down).
func (g *Guard) Record(r *Rule, now time.Time) {
	g.last[r.ID] = now
	h := g.history[r.ID]
	keep := h[:0]
	win := time.Duration(MaxSeconds) * time.Second
	if r.RateLimit != nil {
		win = time.Duration(r.RateLimit.PerSeconds) * time.Second
	}
	for _, t := range h {
		if now.Sub(t) < win {
			keep = append(keep, t)
		}
	}
	g.history[r.ID] = append(keep, now)
}

// Forget drops a rule's history (it was deleted or redefined).
func (g *Guard) Forget(id string) {
	delete(g.last, id)
	delete(g.history, id)
}

// LinkLoad is one directed link's predicted load after a change.
type LinkLoad struct {
	// Link is the undirected link ID, Directed the direction's ID.
	Link     string
	Directed string
	// Ends are the link's two devices (for device scope).
	Ends         [2]string
	LoadGbps     float64
	CapacityGbps float64
}

// Violation is a limit a change would break.
type Violation struct {
	Rule    string `json:"rule"`
	Limit   string `json:"limit"`
	Subject string `json:"subject"`
	Message string `json:"message"`
}

// CheckLimits checks the predicted link loads against the limits of the active rules.
// changed, when non-nil, restricts the check to directed links whose load the change
// alters (a link already above its limit before the change is not the change's fault).
func CheckLimits(rules []Rule, loads []LinkLoad, changed func(directed string) bool) []Violation {
	var out []Violation
	for i := range rules {
		r := &rules[i]
		if r.State != StateActive {
			continue
		}
		for _, l := range r.Limits {
			if l.Type != LimitMaxLinkUtilisation {
				continue
			}
			for _, ld := range loads {
				if l.Link != "" && ld.Link != l.Link {
					continue
				}
				if d := r.Scope.Device; d != "" && ld.Ends[0] != d && ld.Ends[1] != d {
					continue
				}
				if changed != nil && !changed(ld.Directed) {
					continue
				}
				if ld.CapacityGbps <= 0 {
					continue
				}
				pct := 100 * ld.LoadGbps / ld.CapacityGbps
				if pct > l.Percent+1e-9 {
					out = append(out, Violation{Rule: r.ID, Limit: l.Type, Subject: ld.Directed,
						Message: fmt.Sprintf("rule %s: link %s would be %.1f%% utilised (%.4f of %.4f Gb/s), above its limit %.1f%%",
							r.ID, ld.Directed, pct, ld.LoadGbps, ld.CapacityGbps, l.Percent)})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Rule != out[j].Rule {
			return out[i].Rule < out[j].Rule
		}
		return out[i].Subject < out[j].Subject
	})
	return out
}

// Summary joins violations' messages (at most max of them, then a count).
func Summary(vs []Violation, max int) string {
	var parts []string
	for i, v := range vs {
		if i == max {
			parts = append(parts, fmt.Sprintf("and %d more", len(vs)-max))
			break
		}
		parts = append(parts, v.Message)
	}
	return strings.Join(parts, "; ")
}
