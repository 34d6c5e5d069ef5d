package monitor

import (
	"fmt"
	"slices"
	"sort"
	"time"
)

// AlarmType says what raised an alarm.
type AlarmType string

// Alarm types.
const (
	// TypeThreshold: a KPI crossed its threshold.
	TypeThreshold AlarmType = "threshold"
	// TypeDeviceUnreachable: telemetry reports a device unreachable (a root).
	TypeDeviceUnreachable AlarmType = "device-unreachable"
	// TypeLinkDown: telemetry reports a link down (a root, or a child of its unreachable device).
	TypeLinkDown AlarmType = "link-down"
	// TypeFlowAffected: a flow's path crosses a failed link (a child of that link's alarm).
	TypeFlowAffected AlarmType = "flow-affected"
	// TypeServiceAffected: a service or slice owns an affected flow (a child of the link's alarm).
	TypeServiceAffected AlarmType = "service-affected"
	// TypeModelDivergence: after a change, telemetry differs from the twin's prediction.
	TypeModelDivergence AlarmType = "model-divergence"
	// TypePolicy: raised by another service (a policy's "raise an alarm" action)
	// through the monitor's Raise; cleared by its Clear.
	TypePolicy AlarmType = "policy"
)

// AlarmState is raised or cleared.
type AlarmState string

// Alarm states.
const (
	Raised  AlarmState = "raised"
	Cleared AlarmState = "cleared"
)

// Condition is an alarm that should be active now: the output of Correlate and of
// threshold evaluation, the input of Reconcile. Key identifies the condition across
// evaluations (e.g. "link-down:L1"); Parent is the Key of its root, if any.
type Condition struct {
	Key      string    `json:"key"`
	Type     AlarmType `json:"type"`
	Severity Severity  `json:"severity"`
	// SubjectKind and Subject name what the alarm is about.
	SubjectKind Kind   `json:"subject_kind"`
	Subject     string `json:"subject"`
	Parent      string `json:"parent,omitempty"`
	Text        string `json:"text"`
	// KPI is the descriptor of a threshold alarm; Value the value that raised it.
	KPI   string   `json:"kpi,omitempty"`
	Value *float64 `json:"value,omitempty"`
	// Links and Flows name what a divergence alarm is about.
	Links []string `json:"links,omitempty"`
	Flows []string `json:"flows,omitempty"`
	// Change is the change a divergence alarm follows.
	Change string `json:"change,omitempty"`
}

// Alarm is a condition with its life: raised, maybe acknowledged, cleared. ID is unique
// per raise (the same Key raised again after clearing is a new alarm).
type Alarm struct {
	ID string `json:"id"`
	Condition
	// ParentID is the ID of the root alarm (the active alarm whose Key is Parent).
	ParentID     string     `json:"parent_id,omitempty"`
	State        AlarmState `json:"state"`
	Acknowledged bool       `json:"acknowledged,omitempty"`
	AckedBy      string     `json:"acked_by,omitempty"`
	Raised       time.Time  `json:"raised"`
	Cleared      time.Time  `json:"cleared,omitzero"`
	Updated      time.Time  `json:"updated"`
}

// Relations is what Correlate needs to know of the twin: which flows cross which link
// (in either direction), who owns a flow, and a link's devices.
type Relations struct {
	LinkFlows   map[string][]string  // link ID -> flow IDs
	FlowOwner   map[string]string    // flow ID -> service or slice ID
	OwnerKind   map[string]Kind      // owner ID -> KindService or KindSlice (default service)
	LinkDevices map[string][2]string // link ID -> its two devices
}

// Correlate turns failures into grouped conditions. Each unreachable device is a root;
// each failed link is a root unless one of its devices is unreachable, in which case
// it is that device's child; each flow crossing a failed link, and each service or
// slice owning such a flow, is a child of the first (by ID) failed link it depends on
// — so one failed link gives one root alarm with the flows and services on it under it.
func Correlate(unreachable, failedLinks []string, rel Relations) []Condition {
	unreachable = sortedSet(unreachable)
	failedLinks = sortedSet(failedLinks)
	down := map[string]bool{}
	var out []Condition
	for _, d := range unreachable {
		down[d] = true
		out = append(out, Condition{Key: "device-unreachable:" + d, Type: TypeDeviceUnreachable, Severity: SeverityCritical,
			SubjectKind: KindDevice, Subject: d, Text: fmt.Sprintf("device %s is unreachable", d)})
	}
	flowRoot, ownerRoot := map[string]string{}, map[string]string{}
	for _, l := range failedLinks {
		c := Condition{Key: "link-down:" + l, Type: TypeLinkDown, Severity: SeverityMajor, SubjectKind: KindLink, Subject: l,
			Text: fmt.Sprintf("link %s is down", l)}
		if ds, ok := rel.LinkDevices[l]; ok {
			for _, d := range ds {
				if down[d] {
					c.Parent = "device-unreachable:" + d
					break
				}
			}
		}
		out = append(out, c)
		for _, f := range rel.LinkFlows[l] {
			if _, seen := flowRoot[f]; !seen {
				flowRoot[f] = c.Key
			}
		}
	}
	flows := make([]string, 0, len(flowRoot))
	for f := range flowRoot {
		flows = append(flows, f)
	}
	sort.Strings(flows)
	for _, f := range flows {
		out = append(out, Condition{Key: "flow-affected:" + f, Type: TypeFlowAffected, Severity: SeverityMajor,
			SubjectKind: KindFlow, Subject: f, Parent: flowRoot[f],
			Text: fmt.Sprintf("flow %s crosses failed %s", f, flowRoot[f][len("link-down:"):])})
		if o := rel.FlowOwner[f]; o != "" {
			if _, seen := ownerRoot[o]; !seen {
				ownerRoot[o] = flowRoot[f]
			}
		}
	}
	owners := make([]string, 0, len(ownerRoot))
	for o := range ownerRoot {
		owners = append(owners, o)
	}
	sort.Strings(owners)
	for _, o := range owners {
		k := rel.OwnerKind[o]
		if k == "" {
			k = KindService
		}
		out = append(out, Condition{Key: "service-affected:" + o, Type: TypeServiceAffected, Severity: SeverityMajor,
			SubjectKind: k, Subject: o, Parent: ownerRoot[o],
			Text: fmt.Sprintf("%s %s has flows on failed %s", k, o, ownerRoot[o][len("link-down:"):])})
	}
	return out
}

// Adopt makes each condition without a parent the child of the root alarm about the
// same subject (a threshold alarm on a failed link's KPI joins that link's group).
// roots maps "kind/subject" to a root condition's Key.
func Adopt(conds []Condition, roots map[string]string) {
	for i := range conds {
		c := &conds[i]
		if c.Parent != "" || c.Type != TypeThreshold {
			continue
		}
		if k, ok := roots[string(c.SubjectKind)+"/"+c.Subject]; ok && k != c.Key {
			c.Parent = k
		}
	}
}

// RootsOf indexes the conditions Adopt may attach to: every condition of a
// failure (unreachable device, link down, affected flow or service) by its subject.
func RootsOf(conds []Condition) map[string]string {
	m := map[string]string{}
	for _, c := range conds {
		switch c.Type {
		case TypeDeviceUnreachable, TypeLinkDown, TypeFlowAffected, TypeServiceAffected:
			m[string(c.SubjectKind)+"/"+c.Subject] = c.Key
		}
	}
	return m
}

// Transition is what Reconcile decided for one alarm.
type Transition struct {
	Alarm Alarm
	// New is true for a raise, false for a clear or an update (parent or text changed).
	New bool
}

// Reconcile compares the active alarms (by Key) with the conditions that hold now
// (those of the kinds owned by the caller: scope says which Types are reconciled; an
// active alarm of another type is left alone). It returns the alarms to raise (IDs
// from newID), to clear (with Cleared = now) and to update (a changed parent, text,
// severity or value), and resolves ParentID from the active and new alarms. Nothing
// is modified in place.
func Reconcile(active map[string]Alarm, conds []Condition, scope []AlarmType, now time.Time, newID func() string) []Transition {
	want := map[string]Condition{}
	for _, c := range conds {
		want[c.Key] = c
	}
	var out []Transition
	ids := map[string]string{}
	for k, a := range active {
		ids[k] = a.ID
	}
	var raised []Alarm
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := active[k]; ok {
			continue
		}
		a := Alarm{ID: newID(), Condition: want[k], State: Raised, Raised: now, Updated: now}
		ids[k] = a.ID
		raised = append(raised, a)
	}
	for i := range raised {
		if raised[i].Parent != "" {
			raised[i].ParentID = ids[raised[i].Parent]
		}
		out = append(out, Transition{Alarm: raised[i], New: true})
	}
	akeys := make([]string, 0, len(active))
	for k := range active {
		akeys = append(akeys, k)
	}
	sort.Strings(akeys)
	for _, k := range akeys {
		a := active[k]
		if !slices.Contains(scope, a.Type) {
			continue
		}
		c, ok := want[k]
		if !ok {
			a.State, a.Cleared, a.Updated = Cleared, now, now
			out = append(out, Transition{Alarm: a})
			continue
		}
		pid := ""
		if c.Parent != "" {
			pid = ids[c.Parent]
		}
		if c.Parent != a.Parent || pid != a.ParentID || c.Text != a.Text || c.Severity != a.Severity {
			val := a.Value
			a.Condition, a.ParentID, a.Updated = c, pid, now
			if c.Value == nil {
				a.Value = val
			}
			out = append(out, Transition{Alarm: a})
		}
	}
	return out
}

func sortedSet(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}
