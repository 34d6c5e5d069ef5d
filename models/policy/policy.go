// Package policy is the vocabulary of the policy engine (REQ-POL-01..07, seed 000 §3.8
// and §8.2): rules with conditions on KPI values, alarms and twin/telemetry events,
// actions the engine turns into ChangeSets (reroute, change capacity or priority, shape
// a flow, disable an interface, raise an alarm), limits the L1 validation enforces on
// every change (l1.policy), a scope (one device or the whole network), a priority, a
// state (planned, active, inactive) and a timeout after which an active rule is
// withdrawn. Conditions are evaluated over a small Facts interface so any source of
// KPIs, alarms and events can feed them. Loop protection (hold-down, rate limit, no
// flapping) is the pure Guard. The package is pure: no I/O, no clocks (times are
// passed in), no globals.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/yamldoc"
)

// ErrInvalid is wrapped by every error about a malformed rule.
var ErrInvalid = errors.New("policy: invalid rule")

// State is a rule's lifecycle state (REQ-POL-03).
type State string

// Rule states.
const (
	// StatePlanned: stored, not evaluated, not enforced.
	StatePlanned State = "planned"
	// StateActive: actively enforced: conditions are evaluated, limits checked by L1.
	StateActive State = "active"
	// StateInactive: withdrawn (by a person or by its timeout).
	StateInactive State = "inactive"
)

// Condition types.
const (
	CondKPI   = "kpi"   // a KPI's latest value compared with Value
	CondAlarm = "alarm" // an alarm (by name or kind) is active
	CondEvent = "event" // an event of a kind (and subject) happened within WithinSeconds
)

// Action types (REQ-POL-02).
const (
	ActReroute          = "reroute"           // move Flow off AvoidLinks
	ActCapacity         = "capacity"          // set Link's capacity to CapacityGbps
	ActPriority         = "priority"          // set Flow's QoS class to Class
	ActShape            = "shape"             // cap Flow's demand at RateGbps
	ActDisableInterface = "disable-interface" // Device's Interface administratively down
	ActRaiseAlarm       = "raise-alarm"       // raise Alarm with Severity
)

// Limit types: what l1.policy enforces on every change while the rule is active.
const (
	// LimitMaxLinkUtilisation: no link (or Link only) may be loaded above Percent of
	// its capacity by the predicted rates.
	LimitMaxLinkUtilisation = "max-link-utilisation"
)

// Bounds of a rule.
const (
	MaxDocument   = 64 << 10
	MaxConditions = 32
	MaxActions    = 16
	MaxLimits     = 16
	MaxAvoid      = 64
	MaxPriority   = 1000
	// MaxSeconds bounds every duration (hold-down, timeout, windows): 30 days.
	MaxSeconds   = 30 * 24 * 3600
	maxNameBytes = 128
	maxTextBytes = 1024
)

// Condition is one condition of a rule. Type selects the fields that apply.
type Condition struct {
	Type string `json:"type" yaml:"type"`
	// Name: the KPI's name (kpi), the alarm's name (alarm, or Kind).
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Op compares the KPI with Value: one of > >= < <= == !=.
	Op    string  `json:"op,omitempty" yaml:"op,omitempty"`
	Value float64 `json:"value,omitempty" yaml:"value,omitempty"`
	// Kind: the alarm's kind (alarm) or the event's kind (event).
	Kind string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// Subject narrows an event condition to one object (link, device, flow ID).
	Subject string `json:"subject,omitempty" yaml:"subject,omitempty"`
	// WithinSeconds is an event condition's window (default 60).
	WithinSeconds int `json:"within_seconds,omitempty" yaml:"within_seconds,omitempty"`
}

// Action is one action of a rule. Type selects the fields that apply.
type Action struct {
	Type         string   `json:"type" yaml:"type"`
	Flow         string   `json:"flow,omitempty" yaml:"flow,omitempty"`
	AvoidLinks   []string `json:"avoid_links,omitempty" yaml:"avoid_links,omitempty"`
	Link         string   `json:"link,omitempty" yaml:"link,omitempty"`
	CapacityGbps float64  `json:"capacity_gbps,omitempty" yaml:"capacity_gbps,omitempty"`
	Class        string   `json:"class,omitempty" yaml:"class,omitempty"`
	RateGbps     float64  `json:"rate_gbps,omitempty" yaml:"rate_gbps,omitempty"`
	Device       string   `json:"device,omitempty" yaml:"device,omitempty"`
	Interface    string   `json:"interface,omitempty" yaml:"interface,omitempty"`
	Alarm        string   `json:"alarm,omitempty" yaml:"alarm,omitempty"`
	Severity     string   `json:"severity,omitempty" yaml:"severity,omitempty"`
}

// Limit is a constraint every change must keep while the rule is active.
type Limit struct {
	Type string `json:"type" yaml:"type"`
	// Link narrows the limit to one link (both directions); empty: every link in scope.
	Link    string  `json:"link,omitempty" yaml:"link,omitempty"`
	Percent float64 `json:"percent,omitempty" yaml:"percent,omitempty"`
}

// Scope is where a rule applies: Device set = that device (its links and flows through
// it); empty = network-wide (REQ-POL-04).
type Scope struct {
	Device string `json:"device,omitempty" yaml:"device,omitempty"`
}

// RateLimit bounds the actions of a rule: at most Max per PerSeconds.
type RateLimit struct {
	Max        int `json:"max" yaml:"max"`
	PerSeconds int `json:"per_seconds" yaml:"per_seconds"`
}

// Rule is one policy rule.
type Rule struct {
	ID          string `json:"id" yaml:"id"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// Service associates the rule with a service (REQ-POL-02): its actions may only
	// touch flows whose owner is this service. Empty: any flow.
	Service string `json:"service,omitempty" yaml:"service,omitempty"`
	Scope   Scope  `json:"scope,omitzero" yaml:"scope,omitempty"`
	// Priority orders rules (higher first, 0..1000); among equals, by ID.
	Priority int   `json:"priority,omitempty" yaml:"priority,omitempty"`
	State    State `json:"state,omitempty" yaml:"state,omitempty"`
	// Match is "all" (default) or "any" of Conditions.
	Match      string      `json:"match,omitempty" yaml:"match,omitempty"`
	Conditions []Condition `json:"conditions,omitempty" yaml:"conditions,omitempty"`
	Actions    []Action    `json:"actions,omitempty" yaml:"actions,omitempty"`
	Limits     []Limit     `json:"limits,omitempty" yaml:"limits,omitempty"`
	// HoldDownSeconds: after an action, no further action of this rule for this long
	// (default 60): a flapping condition produces at most one action per hold-down.
	HoldDownSeconds int        `json:"hold_down_seconds,omitempty" yaml:"hold_down_seconds,omitempty"`
	RateLimit       *RateLimit `json:"rate_limit,omitempty" yaml:"rate_limit,omitempty"`
	// TimeoutSeconds: an active rule is withdrawn (inactive) this long after it was
	// activated; 0 = no timeout.
	TimeoutSeconds int `json:"timeout_seconds,omitempty" yaml:"timeout_seconds,omitempty"`
	// ActivatedAt is when the rule last became active (set by the engine, not by
	// the author; ignored on input).
	ActivatedAt *time.Time `json:"activated_at,omitempty" yaml:"-"`
}

// DefaultHoldDown is the hold-down of a rule that does not set one.
const DefaultHoldDown = 60 * time.Second

// HoldDown returns the rule's hold-down period.
func (r *Rule) HoldDown() time.Duration {
	if r.HoldDownSeconds <= 0 {
		return DefaultHoldDown
	}
	return time.Duration(r.HoldDownSeconds) * time.Second
}

// Expired reports whether an active rule's timeout has passed at now.
func (r *Rule) Expired(now time.Time) bool {
	if r.State != StateActive || r.TimeoutSeconds <= 0 || r.ActivatedAt == nil {
		return false
	}
	return !now.Before(r.ActivatedAt.Add(time.Duration(r.TimeoutSeconds) * time.Second))
}

// Decode parses a rule from JSON or YAML (unknown fields are errors), defaults its
// state to planned and validates it. Errors wrap ErrInvalid and name the field.
func Decode(data []byte) (*Rule, error) {
	if len(data) > MaxDocument {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrInvalid, MaxDocument)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrInvalid)
	}
	r := &Rule{}
	if trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(r); err != nil {
			return nil, fmt.Errorf("%w: %s", ErrInvalid, network.SanitizeText(err.Error(), maxTextBytes))
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: trailing data after the rule", ErrInvalid)
		}
	} else if err := yamldoc.Decode(data, r); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, network.SanitizeText(err.Error(), maxTextBytes))
	}
	r.ActivatedAt = nil
	if r.State == "" {
		r.State = StatePlanned
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// Validate checks a rule; the error wraps ErrInvalid and lists every problem by field.
func (r *Rule) Validate() error {
	var errs []string
	add := func(field, format string, a ...any) {
		if len(errs) < 20 {
			errs = append(errs, field+": "+fmt.Sprintf(format, a...))
		}
	}
	id := func(field, v string, required bool) {
		if v == "" {
			if required {
				add(field, "missing")
			}
			return
		}
		if msg := network.CheckID(v); msg != "" {
			add(field, "%s", msg)
		}
	}
	name := func(field, v string, required bool) {
		if v == "" {
			if required {
				add(field, "missing")
			}
			return
		}
		if msg := network.CheckText(v, maxNameBytes); msg != "" {
			add(field, "%s", msg)
		}
	}
	seconds := func(field string, v int) {
		if v < 0 || v > MaxSeconds {
			add(field, "must be between 0 and %d", MaxSeconds)
		}
	}
	finite := func(field string, v float64) bool {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			add(field, "must be a finite number")
			return false
		}
		return true
	}
	id("id", r.ID, true)
	if msg := network.CheckText(r.Description, maxTextBytes); msg != "" && r.Description != "" {
		add("description", "%s", msg)
	}
	id("scope.device", r.Scope.Device, false)
	name("service", r.Service, false)
	if r.Priority < 0 || r.Priority > MaxPriority {
		add("priority", "must be between 0 and %d", MaxPriority)
	}
	switch r.State {
	case StatePlanned, StateActive, StateInactive:
	default:
		add("state", "unknown state %q (one of planned, active, inactive)", network.SanitizeText(string(r.State), 32))
	}
	switch r.Match {
	case "", "all", "any":
	default:
		add("match", "must be all or any")
	}
	seconds("hold_down_seconds", r.HoldDownSeconds)
	seconds("timeout_seconds", r.TimeoutSeconds)
	if rl := r.RateLimit; rl != nil {
		if rl.Max < 1 || rl.Max > 1000 {
			add("rate_limit.max", "must be between 1 and 1000")
		}
		if rl.PerSeconds < 1 || rl.PerSeconds > MaxSeconds {
			add("rate_limit.per_seconds", "must be between 1 and %d", MaxSeconds)
		}
	}
	if len(r.Conditions) > MaxConditions {
		add("conditions", "at most %d", MaxConditions)
	}
	if len(r.Actions) > MaxActions {
		add("actions", "at most %d", MaxActions)
	}
	if len(r.Limits) > MaxLimits {
		add("limits", "at most %d", MaxLimits)
	}
	if len(r.Actions) == 0 && len(r.Limits) == 0 {
		add("actions", "a rule needs actions (with conditions) or limits")
	}
	if len(r.Actions) > 0 && len(r.Conditions) == 0 {
		add("conditions", "a rule with actions needs at least one condition")
	}
	for i, c := range r.Conditions {
		if i >= MaxConditions {
			break
		}
		f := fmt.Sprintf("conditions[%d]", i)
		switch c.Type {
		case CondKPI:
			name(f+".name", c.Name, true)
			switch c.Op {
			case ">", ">=", "<", "<=", "==", "!=":
			default:
				add(f+".op", "must be one of > >= < <= == !=")
			}
			finite(f+".value", c.Value)
		case CondAlarm:
			if c.Name == "" && c.Kind == "" {
				add(f, "an alarm condition needs a name or a kind")
			}
			name(f+".name", c.Name, false)
			name(f+".kind", c.Kind, false)
		case CondEvent:
			name(f+".kind", c.Kind, true)
			id(f+".subject", c.Subject, false)
			seconds(f+".within_seconds", c.WithinSeconds)
		default:
			add(f+".type", "unknown condition type %q (one of kpi, alarm, event)", network.SanitizeText(c.Type, 32))
		}
	}
	for i, a := range r.Actions {
		if i >= MaxActions {
			break
		}
		f := fmt.Sprintf("actions[%d]", i)
		switch a.Type {
		case ActReroute:
			id(f+".flow", a.Flow, true)
			if len(a.AvoidLinks) == 0 || len(a.AvoidLinks) > MaxAvoid {
				add(f+".avoid_links", "between 1 and %d links", MaxAvoid)
			}
			for j, l := range a.AvoidLinks {
				if j < MaxAvoid {
					id(fmt.Sprintf("%s.avoid_links[%d]", f, j), l, true)
				}
			}
		case ActCapacity:
			id(f+".link", a.Link, true)
			if finite(f+".capacity_gbps", a.CapacityGbps) {
				if msg := network.CheckRate(a.CapacityGbps); msg != "" {
					add(f+".capacity_gbps", "%s", msg)
				}
			}
		case ActPriority:
			id(f+".flow", a.Flow, true)
			name(f+".class", a.Class, true)
		case ActShape:
			id(f+".flow", a.Flow, true)
			if finite(f+".rate_gbps", a.RateGbps) && (a.RateGbps <= 0 || network.CheckRate(a.RateGbps) != "") {
				add(f+".rate_gbps", "must be a positive rate")
			}
		case ActDisableInterface:
			id(f+".device", a.Device, true)
			id(f+".interface", a.Interface, true)
		case ActRaiseAlarm:
			name(f+".alarm", a.Alarm, true)
			switch a.Severity {
			case "", "minor", "major", "critical", "warning":
			default:
				add(f+".severity", "one of warning, minor, major, critical")
			}
		default:
			add(f+".type", "unknown action type %q (one of reroute, capacity, priority, shape, disable-interface, raise-alarm)", network.SanitizeText(a.Type, 32))
		}
	}
	for i, l := range r.Limits {
		if i >= MaxLimits {
			break
		}
		f := fmt.Sprintf("limits[%d]", i)
		switch l.Type {
		case LimitMaxLinkUtilisation:
			id(f+".link", l.Link, false)
			if finite(f+".percent", l.Percent) && (l.Percent <= 0 || l.Percent > 100) {
				add(f+".percent", "must be in (0, 100]")
			}
		default:
			add(f+".type", "unknown limit type %q (one of max-link-utilisation)", network.SanitizeText(l.Type, 32))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// Sort orders rules by priority (highest first), then ID.
func Sort(rules []Rule) {
	sort.SliceStable(rules, func(i, j int) bool {
		if rules[i].Priority != rules[j].Priority {
			return rules[i].Priority > rules[j].Priority
		}
		return rules[i].ID < rules[j].ID
	})
}

// CanTransition reports whether a rule may move from one state to another: planned →
// active | inactive, active → inactive, inactive → active | planned.
func CanTransition(from, to State) bool {
	switch from {
	case StatePlanned:
		return to == StateActive || to == StateInactive
	case StateActive:
		return to == StateInactive
	case StateInactive:
		return to == StateActive || to == StatePlanned
	}
	return false
}
