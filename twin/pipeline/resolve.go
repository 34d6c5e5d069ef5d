package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/twinflow/twinflow/models/change"
)

// Resolver is implemented by a Committer that settles one commit on demand, from its
// journal record and what its devices hold (physical/commit.Engine.Resolve).
type Resolver interface {
	Resolve(ctx context.Context, changeID string) (*change.CommitRecord, map[string]change.DeviceImage, error)
}

// Resolution is the answer of ResolveChange: the change and, per device of its commit,
// which image the device holds now.
type Resolution struct {
	Change  *Change                       `json:"change"`
	Devices map[string]change.DeviceImage `json:"devices"`
}

// ResolveChange is the operator's one command for a commit that did not end on its own
// (`twinflow change resolve`, REQ-REL-02): a change left committing (its final
// transition could not be stored, or its commit was interrupted without a restart), or
// a failed change with devices still pending restoration (a device lost during a
// rollback or its confirm window). The committer rolls the commit forward (it was
// confirmed on every device) or back (every device that may have changed is restored
// from its pre-image), then every device is read: the answer says which device is at
// which image. A committing change moves to the state the record says; a failed one
// stays failed with its record updated (a device still unreachable stays pending, and
// resolve can be run again once it is back). On a committed or rolled-back change it
// only reads the devices. A change in its confirm window is not stuck: ErrBusy.
// A change left validating — its validation ended but the outcome could not be stored
// (the repository was unavailable), so nothing will move it before a restart — is
// failed, as recovery at a restart does; one this process is still validating is not
// stuck: ErrBusy.
func (s *Service) ResolveChange(ctx context.Context, id, actor string) (*Resolution, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State == change.StateValidating {
		return s.resolveValidation(ctx, c, actor)
	}
	r, ok := s.cfg.Committer.(Resolver)
	if !ok {
		return &Resolution{Change: c}, ErrNoCommitter
	}
	switch c.State {
	case change.StateCommitting, change.StateFailed, change.StateCommitted, change.StateRolledBack:
	default:
		return &Resolution{Change: c}, fmt.Errorf("%w: %s is %s; it has no commit to resolve", ErrState, id, c.State)
	}
	unlock := s.lockDevices(c.ChangeSet.Devices())
	defer unlock()
	if c, err = s.load(ctx, id); err != nil {
		return nil, err
	}
	rec, imgs, err := r.Resolve(ctx, id)
	switch {
	case err == nil:
	case errors.Is(err, ErrUnknownCommit) && c.State == change.StateCommitting:
		// committing without a journal record: the process died (or the journal was
		// refused) before the pre-images were journaled, so no device was touched
		rec = &change.CommitRecord{ChangeID: c.ID, Phase: change.PhaseRolledBack,
			Reason: "resolved: no device was changed (no pre-images were journaled)"}
	case errors.Is(err, ErrUnknownCommit):
		return &Resolution{Change: c}, fmt.Errorf("%w: %s has no commit record", ErrState, id)
	default:
		// a confirm window open, or another call working on the change
		return &Resolution{Change: c}, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	res := &Resolution{Change: c, Devices: imgs}
	if c.State != change.StateCommitting {
		c.Commit = rec
		return res, nil
	}
	return res, s.afterCommit(ctx, c, rec, nil, actor)
}

// pendingRestore refuses a commit onto a device that an earlier commit could not
// restore yet (its record is pending: the device was unreachable during the
// rollback). Recovery after a restart, or resolve, restores that device from the
// earlier commit's pre-image once it is back; a commit in between would be undone by
// that restore — the device would hold a mix of two changes (torture seed 455: a
// rolled-back commit's pending restore, retried at a restart, clobbered three later
// commits). So the device is busy until the earlier commit is resolved.
func (s *Service) pendingRestore(ctx context.Context, devs []string, self string) error {
	if s.cfg.Journal == nil {
		return nil
	}
	recs, err := s.cfg.Journal.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("pipeline: pending restores: %w", err)
	}
	for _, rec := range recs {
		if !rec.Pending || rec.ChangeID == self {
			continue
		}
		for _, d := range devs {
			if dr := rec.Devices[d]; dr != nil && dr.Status == change.DeviceRestoreFailed {
				return fmt.Errorf("%w: %s touches %s, which %s could not restore yet (%s); once the device is reachable run `twinflow change resolve %s`, then commit again",
					ErrBusy, self, d, rec.ChangeID, rec.Phase, rec.ChangeID)
			}
		}
	}
	return nil
}

// settleJournal runs after a change's final transition (terr is its error): if the
// commit journal's latest record of the change is not final — its save failed (the
// repository was down) and the outcome was stored later from the record kept in
// memory — the final record is journaled now. Otherwise recovery at the next restart
// would find an unfinished commit and roll it back again, restoring pre-images over
// every change committed to those devices since (torture seed 286).
func (s *Service) settleJournal(ctx context.Context, rec *change.CommitRecord, terr error) error {
	if terr != nil || s.cfg.Journal == nil || rec == nil || !rec.Phase.Final() {
		return terr
	}
	if cur, err := s.cfg.Journal.Load(ctx, rec.ChangeID); err == nil && cur.Phase.Final() {
		return nil
	}
	if err := s.cfg.Journal.Save(ctx, rec); err != nil {
		// the change is final; the next start's syncJournal journals it
		s.log.Warn("journal the final commit record", "change", rec.ChangeID, "err", err)
	}
	return nil
}

// syncJournal brings the commit journal in line with the stored changes before the
// committer recovers: an unfinished journal record of a change that is stored in a
// final state with a final commit record gets that record journaled (see
// settleJournal). The stored outcome wins: it is what the devices were verified at.
func (s *Service) syncJournal(ctx context.Context) error {
	if s.cfg.Journal == nil {
		return nil
	}
	recs, err := s.cfg.Journal.Unfinished(ctx)
	if err != nil {
		return fmt.Errorf("pipeline: recover: %w", err)
	}
	for _, rec := range recs {
		if rec.Phase.Final() {
			continue // final with devices pending: recovery retries them
		}
		rc, err := s.cfg.Store.Changes().Get(ctx, rec.ChangeID)
		if err != nil {
			continue
		}
		c, err := fromRepo(rc)
		if err != nil || !c.State.Terminal() || c.Commit == nil || !c.Commit.Phase.Final() {
			continue
		}
		if err := s.cfg.Journal.Save(ctx, c.Commit); err != nil {
			return fmt.Errorf("pipeline: recover: journal the stored outcome of %s: %w", c.ID, err)
		}
		s.log.Info("recover: journal behind the stored outcome, synced", "change", c.ID, "phase", c.Commit.Phase)
	}
	return nil
}

// resolveValidation fails a change stored as validating that no validation of this
// process is running (no device was touched: validation runs in a fork). A controller
// is the only writer of its repository, so no other process can be validating it.
func (s *Service) resolveValidation(ctx context.Context, c *Change, actor string) (*Resolution, error) {
	s.validatingMu.Lock()
	running := s.validatingNow[c.ID]
	s.validatingMu.Unlock()
	if running {
		return &Resolution{Change: c}, fmt.Errorf("%w: %s is being validated; its report comes when the validation ends", ErrBusy, c.ID)
	}
	err := s.transition(ctx, c, change.StateFailed, actor, "resolved: its validation ended without a stored outcome (the repository was unavailable); propose the change again")
	return &Resolution{Change: c}, err
}
