package change

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/yamldoc"
)

// ContentHash is the hex SHA-256 of the change's canonical JSON with its identity (ID,
// author, label, comment, request ID) left out and an empty level counted as L1: two
// changes that do the same thing have the same content hash, whoever proposes them
// under whatever ID. A certification is bound to it (apps/certify), and the push
// policy looks certifications up by it.
func ContentHash(cs *ChangeSet) (string, error) {
	c := *cs
	c.ID, c.Author, c.Label, c.Comment, c.RequestID = "", "", "", "", ""
	if c.Level == "" {
		c.Level = L1
	}
	b, err := json.Marshal(&c) // map keys are sorted: canonical
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:]), nil
}

// Bounds of a push policy document.
const (
	maxPolicyDocument = 1 << 20
	maxPolicyGroups   = 256
	maxGroupPatterns  = 1024
	maxPolicyWindows  = 64
	maxPolicyStages   = 32
	maxPolicyName     = 64
	maxPatternLen     = 256
)

// Outside-window behaviours of a push policy.
const (
	// OutsideRefuse refuses a commit outside every maintenance window.
	OutsideRefuse = "refuse"
	// OutsideWait refuses it too, but tells the caller when the next window opens;
	// `twinflow change commit --wait` waits for it and commits then.
	OutsideWait = "wait"
)

// PushPolicy is the admin-set policy every commit to production passes (issue #18
// item 4): which changes need a certification of the same content, the maintenance
// windows commits are allowed in, and the device groups a change is rolled out by, one
// stage after the other. The zero policy gates nothing.
type PushPolicy struct {
	// DeviceGroups names sets of devices; each entry is a device ID or a glob pattern
	// (path.Match syntax: "edge-*", "r[0-9]").
	DeviceGroups map[string][]string `json:"device_groups,omitempty" yaml:"device_groups,omitempty"`
	// RequireCertification says which changes need a passing certification of the
	// same content (ContentHash) before they may commit.
	RequireCertification *CertificationRule `json:"require_certification,omitempty" yaml:"require_certification,omitempty"`
	// MaintenanceWindows are the times commits are allowed in (UTC); none: always.
	MaintenanceWindows []Window `json:"maintenance_windows,omitempty" yaml:"maintenance_windows,omitempty"`
	// OutsideWindow is OutsideRefuse (default) or OutsideWait.
	OutsideWindow string `json:"outside_window,omitempty" yaml:"outside_window,omitempty"`
	// Stages are device group names in rollout order: a change's devices in the first
	// group are committed and verified before those of the second, and so on; devices
	// in no stage group form the last stage. Empty: one stage.
	Stages []string `json:"stages,omitempty" yaml:"stages,omitempty"`
}

// CertificationRule selects the changes that need a certification: any of the kinds,
// or touching a device of any of the groups; All selects every change.
type CertificationRule struct {
	All          bool     `json:"all,omitempty" yaml:"all,omitempty"`
	Kinds        []Kind   `json:"kinds,omitempty" yaml:"kinds,omitempty"`
	DeviceGroups []string `json:"device_groups,omitempty" yaml:"device_groups,omitempty"`
}

// Window is a weekly maintenance window in UTC: it opens at Start ("HH:MM") on each of
// Days (mon..sun; none: every day) and lasts until End; an End not after Start closes
// the next day (22:00-02:00).
type Window struct {
	Days  []string `json:"days,omitempty" yaml:"days,omitempty"`
	Start string   `json:"start" yaml:"start"`
	End   string   `json:"end" yaml:"end"`
}

var weekdays = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday,
	"wed": time.Wednesday, "thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// DecodePushPolicy parses a push policy from YAML or JSON strictly (unknown fields are
// errors) and validates it. Errors wrap ErrInvalid and name the offending element.
func DecodePushPolicy(data []byte) (*PushPolicy, error) {
	if len(data) > maxPolicyDocument {
		return nil, fmt.Errorf("%w: push policy larger than %d bytes", ErrInvalid, maxPolicyDocument)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty push policy", ErrInvalid)
	}
	var p PushPolicy
	if trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("%w: push policy: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
		}
		if dec.More() {
			return nil, fmt.Errorf("%w: push policy: trailing data after the JSON document", ErrInvalid)
		}
	} else if err := yamldoc.Decode(data, &p); err != nil {
		return nil, fmt.Errorf("%w: push policy: %w", ErrInvalid, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func policyName(field, s string) error {
	if s == "" || len(s) > maxPolicyName {
		return fmt.Errorf("%w: %s: must be 1 to %d characters, got %d", ErrInvalid, field, maxPolicyName, len(s))
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("%w: %s: %q may hold only letters, digits, '-', '_' and '.'", ErrInvalid, field, s)
		}
	}
	return nil
}

// parseClock parses "HH:MM" (00:00 to 24:00) into minutes of the day.
func parseClock(field, s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("%w: %s: must be a time of day HH:MM (UTC), got %q", ErrInvalid, field, s)
	}
	return hh*60 + mm, nil
}

// Validate checks the policy: names, patterns, windows, and that every group it uses
// is defined. Errors wrap ErrInvalid.
func (p *PushPolicy) Validate() error {
	if len(p.DeviceGroups) > maxPolicyGroups {
		return fmt.Errorf("%w: device_groups: at most %d groups, got %d", ErrInvalid, maxPolicyGroups, len(p.DeviceGroups))
	}
	for _, g := range sortedKeys(p.DeviceGroups) {
		if err := policyName("device_groups", g); err != nil {
			return err
		}
		pats := p.DeviceGroups[g]
		if len(pats) == 0 || len(pats) > maxGroupPatterns {
			return fmt.Errorf("%w: device_groups[%s]: must list 1 to %d devices or patterns", ErrInvalid, g, maxGroupPatterns)
		}
		for i, pat := range pats {
			if msg := network.CheckText(pat, maxPatternLen); pat == "" || msg != "" {
				return fmt.Errorf("%w: device_groups[%s][%d]: must be 1 to %d printable characters", ErrInvalid, g, i, maxPatternLen)
			}
			if _, err := path.Match(pat, ""); err != nil {
				return fmt.Errorf("%w: device_groups[%s][%d]: bad pattern %q: %v", ErrInvalid, g, i, pat, err)
			}
		}
	}
	group := func(field, g string) error {
		if _, ok := p.DeviceGroups[g]; !ok {
			return fmt.Errorf("%w: %s: no device group %q is defined", ErrInvalid, field, g)
		}
		return nil
	}
	if r := p.RequireCertification; r != nil {
		if !r.All && len(r.Kinds) == 0 && len(r.DeviceGroups) == 0 {
			return fmt.Errorf("%w: require_certification: set all, kinds or device_groups", ErrInvalid)
		}
		if len(r.Kinds) > 16 || len(r.DeviceGroups) > maxPolicyGroups {
			return fmt.Errorf("%w: require_certification: too many kinds or groups", ErrInvalid)
		}
		for i, k := range r.Kinds {
			switch k {
			case KindIntent, KindRawConfig, KindService, KindSlice:
			default:
				return fmt.Errorf("%w: require_certification.kinds[%d]: unknown kind %q (intent, raw-config, service, slice)", ErrInvalid, i, k)
			}
		}
		for i, g := range r.DeviceGroups {
			if err := group(fmt.Sprintf("require_certification.device_groups[%d]", i), g); err != nil {
				return err
			}
		}
	}
	if len(p.MaintenanceWindows) > maxPolicyWindows {
		return fmt.Errorf("%w: maintenance_windows: at most %d, got %d", ErrInvalid, maxPolicyWindows, len(p.MaintenanceWindows))
	}
	for i, w := range p.MaintenanceWindows {
		f := fmt.Sprintf("maintenance_windows[%d]", i)
		s, err := parseClock(f+".start", w.Start)
		if err != nil {
			return err
		}
		e, err := parseClock(f+".end", w.End)
		if err != nil {
			return err
		}
		if s == 24*60 || s == e && s != 0 {
			return fmt.Errorf("%w: %s: start %s and end %s make an empty or ambiguous window (00:00-00:00 is the whole day)", ErrInvalid, f, w.Start, w.End)
		}
		if len(w.Days) > 7 {
			return fmt.Errorf("%w: %s.days: at most 7", ErrInvalid, f)
		}
		for j, d := range w.Days {
			if _, ok := weekdays[d]; !ok {
				return fmt.Errorf("%w: %s.days[%d]: must be one of mon tue wed thu fri sat sun, got %q", ErrInvalid, f, j, d)
			}
		}
	}
	switch p.OutsideWindow {
	case "", OutsideRefuse, OutsideWait:
	default:
		return fmt.Errorf("%w: outside_window: must be %q or %q, got %q", ErrInvalid, OutsideRefuse, OutsideWait, p.OutsideWindow)
	}
	if len(p.Stages) > maxPolicyStages {
		return fmt.Errorf("%w: stages: at most %d, got %d", ErrInvalid, maxPolicyStages, len(p.Stages))
	}
	seen := map[string]bool{}
	for i, g := range p.Stages {
		if err := group(fmt.Sprintf("stages[%d]", i), g); err != nil {
			return err
		}
		if seen[g] {
			return fmt.Errorf("%w: stages[%d]: group %q is already a stage", ErrInvalid, i, g)
		}
		seen[g] = true
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// InGroup reports whether device dev belongs to group g.
func (p *PushPolicy) InGroup(g, dev string) bool {
	for _, pat := range p.DeviceGroups[g] {
		if ok, _ := path.Match(pat, dev); ok {
			return true
		}
	}
	return false
}

// NeedsCertification says whether cs may commit only with a certification of its
// content, and why (the rule that selects it).
func (p *PushPolicy) NeedsCertification(cs *ChangeSet) (bool, string) {
	r := p.RequireCertification
	if r == nil {
		return false, ""
	}
	if r.All {
		return true, "the push policy requires a certification of every change"
	}
	for _, k := range r.Kinds {
		if cs.Kind == k {
			return true, fmt.Sprintf("the push policy requires a certification of %s changes", k)
		}
	}
	devs := cs.Devices()
	for _, g := range r.DeviceGroups {
		for _, d := range devs {
			if p.InGroup(g, d) {
				return true, fmt.Sprintf("the push policy requires a certification of changes touching device group %s (device %s)", g, d)
			}
		}
	}
	return false, ""
}

// InWindow reports whether t falls in a maintenance window (always true without
// windows); if not, next is when the next window opens.
func (p *PushPolicy) InWindow(t time.Time) (in bool, next time.Time) {
	if len(p.MaintenanceWindows) == 0 {
		return true, time.Time{}
	}
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	// a window opening yesterday may still be open; look a week ahead for the next
	for off := -1; off <= 7; off++ {
		d := day.AddDate(0, 0, off)
		for _, w := range p.MaintenanceWindows {
			if !w.onDay(d.Weekday()) {
				continue
			}
			s, _ := parseClock("", w.Start)
			e, _ := parseClock("", w.End)
			if e <= s {
				e += 24 * 60
			}
			open, closeAt := d.Add(time.Duration(s)*time.Minute), d.Add(time.Duration(e)*time.Minute)
			if !t.Before(open) && t.Before(closeAt) {
				return true, time.Time{}
			}
			if open.After(t) && (next.IsZero() || open.Before(next)) {
				next = open
			}
		}
	}
	return false, next
}

func (w Window) onDay(d time.Weekday) bool {
	if len(w.Days) == 0 {
		return true
	}
	for _, n := range w.Days {
		if weekdays[n] == d {
			return true
		}
	}
	return false
}

// Stage is one step of a staged rollout: the devices of a group, committed and
// verified together.
type Stage struct {
	Group   string   `json:"group"`
	Devices []string `json:"devices"`
}

// StagesFor splits devs into the policy's rollout stages, in order: each device goes
// to the first stage group it belongs to; devices in no stage group form a last stage
// named "rest". Empty stages are left out. Without stages there is one stage "all".
func (p *PushPolicy) StagesFor(devs []string) []Stage {
	devs = append([]string(nil), devs...)
	sort.Strings(devs)
	if len(p.Stages) == 0 {
		if len(devs) == 0 {
			return nil
		}
		return []Stage{{Group: "all", Devices: devs}}
	}
	placed := map[string]bool{}
	var out []Stage
	for _, g := range p.Stages {
		st := Stage{Group: g}
		for _, d := range devs {
			if !placed[d] && p.InGroup(g, d) {
				placed[d] = true
				st.Devices = append(st.Devices, d)
			}
		}
		if len(st.Devices) > 0 {
			out = append(out, st)
		}
	}
	rest := Stage{Group: "rest"}
	for _, d := range devs {
		if !placed[d] {
			rest.Devices = append(rest.Devices, d)
		}
	}
	if len(rest.Devices) > 0 {
		out = append(out, rest)
	}
	return out
}

// ErrNoPolicy is not an error of a policy: it marks "no policy set" where one is read.
var ErrNoPolicy = errors.New("change: no push policy set")
