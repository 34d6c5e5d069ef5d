package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
)

// The gated production push (issue #18 item 4): an admin-set push policy every Commit
// passes before anything is sent — a certification of the same content where the
// policy requires one, a maintenance window, and the rollout stages.

var (
	// ErrUncertified: the push policy requires a passing certification of the
	// change's content and none is recorded.
	ErrUncertified = errors.New("pipeline: the push policy requires a certification of this change's content")
	// ErrOutsideWindow: the push policy allows commits only in maintenance windows and
	// none is open (see WindowError for when the next opens).
	ErrOutsideWindow = errors.New("pipeline: outside every maintenance window")
)

// PushPolicyName is the repository Policies name of the push policy.
const PushPolicyName = "push"

// Ledger record kinds of the push gate.
const (
	// LedgerPushPolicy records every policy an admin sets.
	LedgerPushPolicy = "push.policy"
	// LedgerPushRefused records every commit the policy refused, with the reason.
	LedgerPushRefused = "push.refused"
	// LedgerCertification is a certification's record (apps/certify writes it).
	LedgerCertification = "change.certification"
)

// WindowError is a commit refused outside every maintenance window. It wraps
// ErrOutsideWindow.
type WindowError struct {
	// Next is when the next window opens (zero: none within a week).
	Next time.Time
	// Wait is true when the policy says commits wait for the window (the caller may
	// retry at Next) rather than being refused.
	Wait bool
}

func (e *WindowError) Error() string {
	s := ErrOutsideWindow.Error()
	if !e.Next.IsZero() {
		s += "; the next opens at " + e.Next.UTC().Format(time.RFC3339)
	}
	if e.Wait {
		s += " (the policy says commits wait for it: commit again then, or use twinflow change commit --wait)"
	}
	return s
}

func (e *WindowError) Unwrap() error { return ErrOutsideWindow }

// StagedCommitter is a Committer that rolls a commit out in stages (physical/commit
// Engine.CommitStaged).
type StagedCommitter interface {
	CommitStaged(ctx context.Context, changeID string, ops map[string][]change.Op, confirm time.Duration, stages [][]string) (*change.CommitRecord, error)
}

// PushPolicy returns the push policy in force and its stored record; with none set,
// the zero policy (which gates nothing) and a record of version 0.
func (s *Service) PushPolicy(ctx context.Context) (*change.PushPolicy, repository.Policy, error) {
	rec, err := s.cfg.Store.Policies().Get(ctx, PushPolicyName)
	if errors.Is(err, repository.ErrNotFound) {
		return &change.PushPolicy{}, repository.Policy{Name: PushPolicyName}, nil
	}
	if err != nil {
		return nil, rec, fmt.Errorf("pipeline: read push policy: %w", err)
	}
	p, err := change.DecodePushPolicy(rec.Doc)
	if err != nil {
		// stored policies were validated: a document that no longer decodes gates
		// every commit rather than none
		return nil, rec, fmt.Errorf("pipeline: the stored push policy (version %d) does not decode: %w", rec.Version, err)
	}
	return p, rec, nil
}

// SetPushPolicy validates p and stores it as the push policy (ifVersion > 0: only if
// the stored one is at that version), and appends it to the ledger. A malformed
// policy is refused with ErrInvalid and nothing is stored.
func (s *Service) SetPushPolicy(ctx context.Context, p *change.PushPolicy, actor string, ifVersion int64) (repository.Policy, error) {
	if p == nil {
		return repository.Policy{}, fmt.Errorf("%w: no push policy", ErrInvalid)
	}
	if err := p.Validate(); err != nil {
		return repository.Policy{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return repository.Policy{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	rec, err := s.cfg.Store.Policies().Put(ctx, repository.Policy{Name: PushPolicyName, Doc: doc, Actor: actor}, ifVersion)
	if err != nil {
		if errors.Is(err, repository.ErrConflict) {
			return rec, fmt.Errorf("%w: %w", ErrState, err)
		}
		if errors.Is(err, repository.ErrInvalid) {
			return rec, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return rec, err
	}
	entry, _ := json.Marshal(map[string]any{"version": rec.Version, "actor": actor, "policy": json.RawMessage(doc)})
	if _, err := s.cfg.Store.Ledger().Append(ctx, repository.LedgerEntry{Kind: LedgerPushPolicy, Subject: PushPolicyName, Payload: entry}); err != nil {
		return rec, fmt.Errorf("pipeline: push policy version %d stored, ledger record failed: %w", rec.Version, err)
	}
	s.log.Info("push policy set", "version", rec.Version, "actor", actor)
	return rec, nil
}

// Store is the repository the pipeline records in (certifications are recorded
// beside the changes they certify).
func (s *Service) Store() repository.Store { return s.cfg.Store }

// maxCertScan bounds the certifications a gate check reads.
const maxCertScan = 100000

// Certification returns the latest passing certification of the content hash, or
// nil. A certification's ID starts with "cert-" and the hash's first 16 hex digits
// (apps/certify.Record); its document's content_hash must equal the whole hash.
func (s *Service) Certification(ctx context.Context, contentHash string) (*repository.Certification, error) {
	if len(contentHash) != 64 {
		return nil, fmt.Errorf("%w: content hash must be 64 hex digits", ErrInvalid)
	}
	list, err := s.cfg.Store.Certifications().List(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("pipeline: read certifications: %w", err)
	}
	if len(list) > maxCertScan {
		list = list[len(list)-maxCertScan:]
	}
	prefix := "cert-" + contentHash[:16] + "-"
	var best *repository.Certification
	for i := range list {
		c := &list[i]
		if !strings.HasPrefix(c.ID, prefix) || c.Verdict != "pass" {
			continue
		}
		var doc struct {
			ContentHash string `json:"content_hash"`
			Verdict     string `json:"verdict"`
		}
		if json.Unmarshal(c.Report, &doc) != nil || doc.ContentHash != contentHash || doc.Verdict != "pass" {
			continue
		}
		if best == nil || c.Created.After(best.Created) {
			best = c
		}
	}
	return best, nil
}

// PushPlan is what the push policy says about committing a change now.
type PushPlan struct {
	// PolicyVersion is the version of the policy in force (0: none set).
	PolicyVersion int64  `json:"policy_version"`
	ContentHash   string `json:"content_hash"`
	// CertificationRequired says whether the change needs a certification, and why.
	CertificationRequired bool   `json:"certification_required"`
	CertificationReason   string `json:"certification_reason,omitempty"`
	// Certification is the passing certification found ("" if none).
	Certification string `json:"certification,omitempty"`
	// InWindow says whether a maintenance window is open; NextWindow when the next
	// opens if not.
	InWindow   bool      `json:"in_window"`
	NextWindow time.Time `json:"next_window,omitzero"`
	// OutsideWindow is the policy's behaviour outside windows (refuse or wait).
	OutsideWindow string `json:"outside_window,omitempty"`
	// Stages are the rollout stages of the change's devices, in order.
	Stages []change.Stage `json:"stages,omitempty"`
	// Allowed is true when a commit now would pass the gate; Reason says why not.
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
	err     error
}

// Plan evaluates the push policy for a change now, without committing.
func (s *Service) Plan(ctx context.Context, id string) (*PushPlan, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.plan(ctx, c)
}

func (s *Service) plan(ctx context.Context, c *Change) (*PushPlan, error) {
	p, rec, err := s.PushPolicy(ctx)
	if err != nil {
		return nil, err
	}
	h, err := change.ContentHash(c.ChangeSet)
	if err != nil {
		return nil, fmt.Errorf("pipeline: content hash of %s: %w", c.ID, err)
	}
	pl := &PushPlan{PolicyVersion: rec.Version, ContentHash: h, OutsideWindow: p.OutsideWindow, Allowed: true}
	if pl.OutsideWindow == "" && len(p.MaintenanceWindows) > 0 {
		pl.OutsideWindow = change.OutsideRefuse
	}
	pl.Stages = p.StagesFor(c.ChangeSet.Devices())
	pl.InWindow, pl.NextWindow = p.InWindow(s.now())
	pl.CertificationRequired, pl.CertificationReason = p.NeedsCertification(c.ChangeSet)
	if pl.CertificationRequired {
		cert, err := s.Certification(ctx, h)
		if err != nil {
			return nil, err
		}
		if cert != nil {
			pl.Certification = cert.ID
		}
	}
	switch {
	case pl.CertificationRequired && pl.Certification == "":
		pl.Allowed = false
		pl.Reason = fmt.Sprintf("%s, and no passing certification of its content %s is recorded (run twinflow certify -f CHANGE --server URL on the same ChangeSet)", pl.CertificationReason, h[:12])
		pl.err = fmt.Errorf("%w: %s: %s", ErrUncertified, c.ID, pl.Reason)
	case !pl.InWindow:
		we := &WindowError{Next: pl.NextWindow, Wait: pl.OutsideWindow == change.OutsideWait}
		pl.Allowed = false
		pl.Reason = we.Error()
		pl.err = fmt.Errorf("%s: %w", c.ID, we)
	case len(pl.Stages) > 1:
		if _, ok := s.cfg.Committer.(StagedCommitter); !ok && s.cfg.Committer != nil {
			pl.Allowed = false
			pl.Reason = "the push policy stages this change, and the committer cannot commit in stages"
			pl.err = fmt.Errorf("%w: %s", ErrInvalid, pl.Reason)
		}
	}
	return pl, nil
}

// gate checks the push policy before a commit: it returns the plan to commit by, or
// the refusal (ErrUncertified, a *WindowError) which is also recorded in the ledger.
// Nothing is sent and the change stays approved.
func (s *Service) gate(ctx context.Context, c *Change, actor string) (*PushPlan, error) {
	pl, err := s.plan(ctx, c)
	if err != nil {
		return nil, err
	}
	if pl.err != nil {
		doc, _ := json.Marshal(map[string]any{"change": c.ID, "actor": actor, "content_hash": pl.ContentHash,
			"policy_version": pl.PolicyVersion, "reason": pl.Reason})
		if _, lerr := s.cfg.Store.Ledger().Append(ctx, repository.LedgerEntry{Kind: LedgerPushRefused, Subject: c.ID, Payload: doc}); lerr != nil {
			s.log.Warn("ledger record of a refused push failed", "change", c.ID, "err", lerr)
		}
		s.log.Info("commit refused by the push policy", "change", c.ID, "reason", pl.Reason)
		return pl, pl.err
	}
	return pl, nil
}

// stageLists returns the plan's stages as device lists (nil for one stage).
func (pl *PushPlan) stageLists() [][]string {
	if pl == nil || len(pl.Stages) < 2 {
		return nil
	}
	out := make([][]string, len(pl.Stages))
	for i, st := range pl.Stages {
		out[i] = st.Devices
	}
	return out
}

// describe is the plan's part of the "commit started" transition reason.
func (pl *PushPlan) describe() string {
	if pl == nil || pl.PolicyVersion == 0 {
		return ""
	}
	s := fmt.Sprintf("; push policy v%d", pl.PolicyVersion)
	if pl.Certification != "" {
		s += ", certified by " + pl.Certification
	}
	if len(pl.Stages) > 1 {
		var parts []string
		for _, st := range pl.Stages {
			parts = append(parts, st.Group+"["+strings.Join(st.Devices, ",")+"]")
		}
		s += ", stages " + strings.Join(parts, " -> ")
	}
	return s
}

// commitDevices sends the change to the committer, in the plan's stages.
func (s *Service) commitDevices(ctx context.Context, c *Change, confirm time.Duration, pl *PushPlan) (*change.CommitRecord, error) {
	if st := pl.stageLists(); st != nil {
		if sc, ok := s.cfg.Committer.(StagedCommitter); ok {
			return sc.CommitStaged(ctx, c.ID, c.ChangeSet.DeviceOps, confirm, st)
		}
	}
	return s.cfg.Committer.Commit(ctx, c.ID, c.ChangeSet.DeviceOps, confirm)
}
