package service

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/routing"
)

// Template is a vertical slice template (REQ-SLI-02): defaults for the constraints of
// the slice's services that the request leaves unset.
type Template string

// Templates.
const (
	// URLLC is latency-first: latency metric, two node-disjoint paths with 1+1
	// protection, hard isolation, priority 0.
	URLLC Template = "urllc"
	// EMBB is bandwidth-first: hop metric (fewest links to load) with links pruned to
	// those with the capacity available, one path, soft isolation, priority 4.
	EMBB Template = "embb"
)

// Slice is a transport network slice (REQ-SLI-01): a set of services realised
// together, with slice-wide constraints and a template.
type Slice struct {
	ID       string   `json:"id"`
	Name     string   `json:"name,omitempty"`
	Template Template `json:"template,omitempty"`
	// Constraints apply to every service; a service's own non-zero constraints win.
	Constraints Constraints `json:"constraints,omitzero"`
	Services    []Service   `json:"services"`
	Generation  int         `json:"generation,omitempty"`
}

// MaxSliceServices bounds a slice.
const MaxSliceServices = 64

// Validate checks the slice and its services (after the template and slice constraints
// are applied to them) and applies defaults.
func (sl *Slice) Validate() error {
	var errs []string
	if m := checkID("id", sl.ID); m != "" {
		errs = append(errs, m)
	}
	if len(sl.Name) > maxNameLen {
		errs = append(errs, fmt.Sprintf("name: longer than %d characters", maxNameLen))
	}
	switch sl.Template {
	case "", URLLC, EMBB:
	default:
		errs = append(errs, fmt.Sprintf("template: %q (one of urllc, embb)", sl.Template))
	}
	if len(sl.Services) == 0 || len(sl.Services) > MaxSliceServices {
		errs = append(errs, fmt.Sprintf("services: %d (1 to %d)", len(sl.Services), MaxSliceServices))
	}
	if sl.Generation < 0 {
		errs = append(errs, "generation: must be >= 0")
	}
	if sl.Generation == 0 {
		sl.Generation = 1
	}
	seen := map[string]bool{}
	for i := range sl.Services {
		s := &sl.Services[i]
		if seen[s.ID] {
			errs = append(errs, fmt.Sprintf("services[%d].id: %q given twice", i, s.ID))
		}
		seen[s.ID] = true
		sl.apply(s)
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Sprintf("services[%d]: %v", i, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: slice %q: %s", ErrInvalid, sl.ID, strings.Join(errs, "; "))
	}
	return nil
}

// apply fills s's unset constraints from the slice's constraints, then the template,
// and gives it the slice's generation.
func (sl *Slice) apply(s *Service) {
	c, d := &s.Constraints, sl.Constraints
	fill(c, d)
	switch sl.Template {
	case URLLC:
		fill(c, Constraints{Metric: routing.Latency, Availability: 2, Protection: OnePlusOne, Disjointness: routing.NodeDisjoint, Isolation: change.IsolationHard})
	case EMBB:
		fill(c, Constraints{Metric: routing.Hops, Availability: 1, Isolation: change.IsolationSoft, Priority: 4})
	}
	s.Generation = sl.Generation
}

// fill sets c's zero fields from d.
func fill(c *Constraints, d Constraints) {
	if c.CapacityGbps == 0 {
		c.CapacityGbps = d.CapacityGbps
	}
	if c.MaxLatencyMs == 0 {
		c.MaxLatencyMs = d.MaxLatencyMs
	}
	if c.Availability == 0 {
		c.Availability = d.Availability
	}
	if c.Protection == "" {
		c.Protection = d.Protection
	}
	if c.Disjointness == "" {
		c.Disjointness = d.Disjointness
	}
	if c.Isolation == "" {
		c.Isolation = d.Isolation
	}
	if c.Metric == "" {
		c.Metric = d.Metric
	}
	if c.MaxHops == 0 {
		c.MaxHops = d.MaxHops
	}
	if c.Priority == 0 {
		c.Priority = d.Priority
	}
	if c.Schedule == nil {
		c.Schedule = d.Schedule
	}
	if len(c.ExcludeDevices) == 0 {
		c.ExcludeDevices = d.ExcludeDevices
	}
	if len(c.ExcludeLinks) == 0 {
		c.ExcludeLinks = d.ExcludeLinks
	}
}

// DecodeSlice parses and validates a slice document (JSON, unknown fields rejected).
func DecodeSlice(data []byte) (*Slice, error) {
	var sl Slice
	if err := decodeStrict(data, &sl); err != nil {
		return nil, err
	}
	if err := sl.Validate(); err != nil {
		return nil, err
	}
	return &sl, nil
}

// memberID is the ID of a slice's member service (flows and device objects carry it).
func memberID(sl *Slice, s *Service) string { return sl.ID + "." + s.ID }

// member returns the service as compiled inside the slice: its ID prefixed with the
// slice's.
func member(sl *Slice, s Service) *Service {
	m := s
	m.ID = memberID(sl, &s)
	if m.L3 != nil {
		l3 := *m.L3
		if l3.VRF == s.ID || l3.VRF == "" {
			l3.VRF = m.ID
		}
		m.L3 = &l3
	}
	return &m
}

// CreateSlice compiles sl into one ChangeSet of kind slice: its services compiled in
// order (hard reservations of earlier ones seen by later ones through
// env.Reservations), device operations and flows merged.
func (r *Registry) CreateSlice(env *Env, sl *Slice) (*change.ChangeSet, error) {
	if err := sl.Validate(); err != nil {
		return nil, err
	}
	cs := newChangeSet(change.KindSlice, fmt.Sprintf("create slice %s", sl.ID))
	cs.DeviceOps = map[string][]change.Op{}
	for _, s := range sl.Services {
		m := member(sl, s)
		comp, err := r.compose(env, m, true)
		if err != nil {
			return nil, fmt.Errorf("slice %q: %w", sl.ID, err)
		}
		cs.DeviceOps = merge(cs.DeviceOps, comp.Composer.Emit(false))
		for _, f := range comp.Flows {
			f.Owner = sl.ID
			cs.Twin.AddFlows = append(cs.Twin.AddFlows, f)
		}
	}
	return cs, addIntent(cs, IntentSlice, sl.ID, sl)
}

// DeleteSlice compiles the removal of sl (each service's composition emitted for
// deletion, in reverse order; all flows removed).
func (r *Registry) DeleteSlice(env *Env, sl *Slice) (*change.ChangeSet, error) {
	if err := sl.Validate(); err != nil {
		return nil, err
	}
	cs := newChangeSet(change.KindSlice, fmt.Sprintf("delete slice %s", sl.ID))
	cs.DeviceOps = map[string][]change.Op{}
	for i := len(sl.Services) - 1; i >= 0; i-- {
		m := member(sl, sl.Services[i])
		comp, err := r.compose(env, m, false)
		if err != nil {
			return nil, fmt.Errorf("slice %q: %w", sl.ID, err)
		}
		cs.DeviceOps = merge(cs.DeviceOps, comp.Composer.Emit(true))
		for _, f := range comp.Flows {
			cs.Twin.RemoveFlows = append(cs.Twin.RemoveFlows, f.ID)
		}
	}
	return cs, addIntent(cs, IntentSliceDelete, sl.ID, sl)
}

// UpdateSlice compiles the change from old to nw (same ID, next generation): every
// service of old is deleted and every service of nw created in the same SetRequest per
// device (deletions first), old flows removed and new ones added. The old slice's hard
// reservations are released in env before nw is routed, so the new version may reuse
// the capacity the old one holds.
func (r *Registry) UpdateSlice(env *Env, old, nw *Slice) (*change.ChangeSet, error) {
	if old.ID != nw.ID {
		return nil, fmt.Errorf("%w: an update keeps the slice's id (%s -> %s)", ErrInvalid, old.ID, nw.ID)
	}
	if err := old.Validate(); err != nil {
		return nil, err
	}
	if nw.Generation <= old.Generation {
		nw.Generation = old.Generation + 1
	}
	del, err := r.DeleteSlice(env, old)
	if err != nil {
		return nil, err
	}
	if env.Reservations != nil {
		for _, id := range del.Twin.RemoveFlows {
			env.Reservations.Release(id)
		}
	}
	add, err := r.CreateSlice(env, nw)
	if err != nil {
		return nil, err
	}
	cs := newChangeSet(change.KindSlice, fmt.Sprintf("update slice %s", nw.ID))
	cs.DeviceOps = merge(del.DeviceOps, add.DeviceOps)
	cs.Twin.RemoveFlows = del.Twin.RemoveFlows
	cs.Twin.AddFlows = add.Twin.AddFlows
	return cs, addIntent(cs, IntentSlice, nw.ID, nw)
}

// SpecOf decodes the verbatim intent of a service or slice ChangeSet.
func SpecOf(in change.Intent) (any, error) {
	switch in.Type {
	case IntentService, IntentServiceDelete:
		var s Service
		if err := json.Unmarshal(in.Spec, &s); err != nil {
			return nil, fmt.Errorf("%w: intent %s: %v", ErrInvalid, in.Name, err)
		}
		return &s, nil
	case IntentSlice, IntentSliceDelete:
		var sl Slice
		if err := json.Unmarshal(in.Spec, &sl); err != nil {
			return nil, fmt.Errorf("%w: intent %s: %v", ErrInvalid, in.Name, err)
		}
		return &sl, nil
	}
	return nil, fmt.Errorf("%w: intent type %q is not a service or slice", ErrInvalid, in.Type)
}

// Realised returns the services a ChangeSet's intents create or update, as compiled
// (a slice's members with their IDs `<slice>.<service>`), in intent order; removals
// realise nothing. An intent that is not a service or slice is skipped; one that does
// not decode is an error (ErrInvalid).
func Realised(intents []change.Intent) ([]Service, error) {
	var out []Service
	for _, in := range intents {
		if in.Type != IntentService && in.Type != IntentSlice {
			continue
		}
		spec, err := SpecOf(in)
		if err != nil {
			return nil, err
		}
		switch v := spec.(type) {
		case *Service:
			out = append(out, *v)
		case *Slice:
			for _, s := range v.Services {
				out = append(out, *member(v, s))
			}
		}
	}
	return out, nil
}
