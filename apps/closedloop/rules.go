// Package closedloop is the automation that reacts to the network, always through the
// twin and the change pipeline: the policy engine (rules stored in the live twin's
// policies table, conditions evaluated over a policy.Facts source, actions proposed as
// ChangeSets by the engine's own service identity, with hold-down, rate limits and a
// clear answer when the pipeline is busy) and restoration (on a link or device failure
// reported by telemetry, affected flows are rerouted in a fork with the bottleneck
// engine's incremental failure-with-reroute, validated, approved and committed, with
// detection time and time to restore recorded separately) plus re-optimisation on
// demand. Who approves the engine's changes is an Approver; without one they wait for
// a person.
package closedloop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twinflow/twinflow/models/policy"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// Errors the NBI maps to statuses.
var (
	ErrNotFound = errors.New("closedloop: not found")
	ErrConflict = errors.New("closedloop: conflict")
	ErrState    = errors.New("closedloop: state transition not allowed")
)

// Rules stores policy rules in the live twin's policies table (journaled to the
// repository with every other intended-state transaction, so rules survive restarts).
type Rules struct {
	Twins *twin.Manager
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

func (s *Rules) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// StoredRule is a rule with its twin revision (for optimistic updates).
type StoredRule struct {
	policy.Rule
	Revision uint64 `json:"revision"`
}

func toRecord(r *policy.Rule) (twin.Record, error) {
	spec, err := json.Marshal(r)
	if err != nil {
		return twin.Record{}, err
	}
	return twin.Record{ID: r.ID, Kind: pipeline.PolicyKind, Spec: spec, Status: string(r.State)}, nil
}

func fromRecord(rec twin.Record) (StoredRule, bool) {
	if rec.Kind != pipeline.PolicyKind {
		return StoredRule{}, false
	}
	var r policy.Rule
	if json.Unmarshal(rec.Spec, &r) != nil {
		return StoredRule{}, false
	}
	return StoredRule{Rule: r, Revision: rec.Revision}, true
}

// List returns every rule, by priority (highest first) then ID.
func (s *Rules) List() ([]StoredRule, error) {
	var out []StoredRule
	err := s.Twins.Live().View(func(r *twin.Reader) error {
		recs, _, err := r.Records(twin.TablePolicies, twin.ListOptions{})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if sr, ok := fromRecord(rec); ok {
				out = append(out, sr)
			}
		}
		return nil
	})
	rules := make([]policy.Rule, len(out))
	rev := map[string]uint64{}
	for i, sr := range out {
		rules[i], rev[sr.ID] = sr.Rule, sr.Revision
	}
	policy.Sort(rules)
	for i := range rules {
		out[i] = StoredRule{Rule: rules[i], Revision: rev[rules[i].ID]}
	}
	return out, err
}

// Get returns one rule.
func (s *Rules) Get(id string) (StoredRule, error) {
	var sr StoredRule
	err := s.Twins.Live().View(func(r *twin.Reader) error {
		rec, err := r.Record(twin.TablePolicies, id)
		if err != nil {
			return err
		}
		var ok bool
		if sr, ok = fromRecord(rec); !ok {
			return twin.ErrNotFound
		}
		return nil
	})
	if errors.Is(err, twin.ErrNotFound) || errors.Is(err, twin.ErrInvalid) {
		return sr, fmt.Errorf("%w: no policy rule %q", ErrNotFound, id)
	}
	return sr, err
}

// Create stores a new rule. Its state must be planned: activation is a separate,
// more privileged step (SetState).
func (s *Rules) Create(ctx context.Context, r *policy.Rule) (StoredRule, error) {
	if err := r.Validate(); err != nil {
		return StoredRule{}, err
	}
	if r.State != policy.StatePlanned {
		return StoredRule{}, fmt.Errorf("%w: a new rule is planned; activate it with a state change", policy.ErrInvalid)
	}
	r.ActivatedAt = nil
	return s.put(ctx, r, twin.CreateOnly, twin.Any)
}

// Update replaces a rule's definition (not its state: the stored state is kept).
// expect is the revision the caller read (twin.Any: no check).
func (s *Rules) Update(ctx context.Context, r *policy.Rule, expect uint64) (StoredRule, error) {
	cur, err := s.Get(r.ID)
	if err != nil {
		return cur, err
	}
	r.State, r.ActivatedAt = cur.State, cur.ActivatedAt
	if err := r.Validate(); err != nil {
		return StoredRule{}, err
	}
	return s.put(ctx, r, twin.UpdateOnly, expect)
}

// SetState moves a rule to another state (planned → active, active → inactive, ...);
// becoming active starts its timeout.
func (s *Rules) SetState(ctx context.Context, id string, to policy.State) (StoredRule, error) {
	cur, err := s.Get(id)
	if err != nil {
		return cur, err
	}
	if cur.State == to {
		return cur, nil
	}
	if !policy.CanTransition(cur.State, to) {
		return cur, fmt.Errorf("%w: rule %s is %s; it cannot become %s", ErrState, id, cur.State, to)
	}
	r := cur.Rule
	r.State = to
	if to == policy.StateActive {
		at := s.now().UTC()
		r.ActivatedAt = &at
	}
	return s.put(ctx, &r, twin.UpdateOnly, cur.Revision)
}

// Delete removes a rule.
func (s *Rules) Delete(ctx context.Context, id string) error {
	if _, err := s.Get(id); err != nil {
		return err
	}
	_, err := s.Twins.Live().Update(ctx, func(tx *twin.Txn) error { return tx.DeleteRecord(twin.TablePolicies, id, twin.Any) })
	return mapTwinErr(err, id)
}

func (s *Rules) put(ctx context.Context, r *policy.Rule, mode twin.Mode, expect uint64) (StoredRule, error) {
	rec, err := toRecord(r)
	if err != nil {
		return StoredRule{}, err
	}
	rev, err := s.Twins.Live().Update(ctx, func(tx *twin.Txn) error {
		_, err := tx.PutRecord(twin.TablePolicies, rec, mode, expect)
		return err
	})
	if err != nil {
		return StoredRule{}, mapTwinErr(err, r.ID)
	}
	return StoredRule{Rule: *r, Revision: rev}, nil
}

func mapTwinErr(err error, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, twin.ErrNotFound):
		return fmt.Errorf("%w: no policy rule %q", ErrNotFound, id)
	case errors.Is(err, twin.ErrExists), errors.Is(err, twin.ErrPrecondition), errors.Is(err, twin.ErrConflict):
		return fmt.Errorf("%w: policy rule %q: %w", ErrConflict, id, err)
	}
	return err
}
