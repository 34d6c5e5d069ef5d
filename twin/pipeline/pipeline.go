package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/schema"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
)

// Sentinel errors. The NBI maps them to HTTP statuses.
var (
	// ErrNotFound: no change with that ID.
	ErrNotFound = errors.New("pipeline: change not found")
	// ErrState: the change is not in a state that allows the operation.
	ErrState = errors.New("pipeline: operation not allowed in the change's state")
	// ErrInvalid: malformed input (the ChangeSet or an argument).
	ErrInvalid = errors.New("pipeline: invalid input")
	// ErrForbidden: the actor may not perform the operation (e.g. approving their own
	// change when distinct approvers are required).
	ErrForbidden = errors.New("pipeline: forbidden")
	// ErrStale: the change was validated against an older live twin and no longer
	// passes validation against the current one.
	ErrStale = errors.New("pipeline: change no longer validates against the live twin")
	// ErrNoCommitter: no physical network is attached.
	ErrNoCommitter = errors.New("pipeline: no committer configured")
	// ErrBusy: another change whose validation this one depends on (see interacts) is
	// being committed or awaits confirmation; commit again once it has ended (the
	// change is then re-validated against the live twin that includes it).
	ErrBusy = errors.New("pipeline: an interacting change is in flight")
)

// Committer sends device operations to the physical network (physical/commit.Engine
// satisfies it). Commit returns a record in phase confirmed or awaiting_confirm when
// the devices are at the intent; otherwise the record says rolled_back or failed (and
// an error is returned).
type Committer interface {
	Commit(ctx context.Context, changeID string, ops map[string][]change.Op, confirm time.Duration) (*change.CommitRecord, error)
	Confirm(ctx context.Context, changeID string) (*change.CommitRecord, error)
	Rollback(ctx context.Context, changeID, reason string) (*change.CommitRecord, error)
	Recover(ctx context.Context) ([]*change.CommitRecord, error)
}

// Emulator runs the L2 checks of a change in the emulation sandbox: mirror the fork,
// push the very same device configs over gNMI, run probes, compare with the model's
// predictions. twin/emulation provides it.
type Emulator interface {
	ValidateL2(ctx context.Context, fork *twin.Twin, cs *change.ChangeSet, predicted *change.Report) ([]change.Check, error)
}

// Config configures a Service. Twins and Store are required.
type Config struct {
	Twins *twin.Manager
	Store repository.Store
	// Committer reaches the devices; nil makes Commit fail with ErrNoCommitter.
	Committer Committer
	// Journal is the committer's journal, read by Recover for changes left committing.
	Journal *Journal
	// Reader reads devices' running configuration. When set, a committed change's
	// intended configuration of every touched top-level container is the device's
	// read-back (so the intent includes the device's defaults and drift detection
	// compares like with like); without it, the intent is the previous intent plus
	// the change's operations.
	Reader DeviceReader
	// Emulator runs L2; nil makes an L2 validation fail with "L2 not available".
	Emulator Emulator
	// DistinctApprover requires the approver to differ from the author.
	DistinctApprover bool
	// ApprovalRules approve validated changes without a person (approval.go).
	ApprovalRules []change.ApprovalRule
	// Logger receives progress; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Change is a change as the API shows it.
type Change struct {
	ID           string                  `json:"id"`
	State        change.State            `json:"state"`
	Label        string                  `json:"label,omitempty"`
	Author       string                  `json:"author,omitempty"`
	ChangeSet    *change.ChangeSet       `json:"changeset"`
	BaseRevision uint64                  `json:"base_revision"`
	Approver     string                  `json:"approver,omitempty"`
	Report       *change.Report          `json:"report,omitempty"`
	Commit       *change.CommitRecord    `json:"commit,omitempty"`
	Version      int64                   `json:"version"`
	Created      time.Time               `json:"created"`
	Updated      time.Time               `json:"updated"`
	Transitions  []repository.Transition `json:"transitions,omitempty"`
}

// payload is what the repository stores as a change's payload.
type payload struct {
	ChangeSet    *change.ChangeSet `json:"changeset"`
	BaseRevision uint64            `json:"base_revision"`
}

// reportDoc is what the repository stores as a change's report.
type reportDoc struct {
	Validation *change.Report       `json:"validation,omitempty"`
	Approver   string               `json:"approver,omitempty"`
	Commit     *change.CommitRecord `json:"commit,omitempty"`
}

// Service runs the pipeline. Safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	l1  *modelCache

	// commitMu serializes the staleness checks (re-validations) of commits; device
	// locks serialize commits touching the same device, and the resolution of a
	// commit outside its Commit call (Confirm, Rollback, Resolve, Recover) with them.
	// starting (guarded by commitMu) holds the interacting changes between their
	// staleness check and the end of their Commit call.
	commitMu   sync.Mutex
	starting   map[string]bool
	devMu      sync.Mutex // guards devBusy, windowDevs, released and releases
	devBusy    map[string]bool
	windowDevs map[string]string // device -> change awaiting confirmation
	// schema is the node agent's schema L0 checks device operations against (built
	// once; never mutated).
	schema *schema.Node
	// unresolved holds the final commit record of changes whose final transition
	// could not be stored (they are still committing); Rollback and Confirm apply it.
	unresolved map[string]*change.CommitRecord
	// inLive (guarded by devMu) holds the confirmed changes the live twin already
	// took whose committed transition could not be stored yet: settling them later
	// (resolve, confirm, rollback) must not apply them to the twin again (torture
	// seed 3435: the second application read a device wiped since, and the twin's
	// intent became its factory configuration).
	inLive  map[string]bool
	devCond *sync.Cond
	// releases counts device lock releases; released[d] is the count at the last
	// release of d (see deviceQuiet).
	releases uint64
	released map[string]uint64
	lockWait func() // test hook: called (devMu held) before lockDevices waits
	rules    atomic.Pointer[[]change.ApprovalRule]
	resv     resvCache // services.go
	envc     envCache  // services.go
	// validatingNow holds the changes this process is validating (finishValidation);
	// a change stored as validating that is not here lost its final transition, and
	// ResolveChange fails it.
	validatingMu  sync.Mutex
	validatingNow map[string]bool
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Twins == nil || cfg.Store == nil {
		return nil, fmt.Errorf("%w: pipeline needs Twins and Store", ErrInvalid)
	}
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, l1: &modelCache{}, devBusy: map[string]bool{}, windowDevs: map[string]string{},
		released: map[string]uint64{}, schema: schema.Root()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "pipeline")
	if s.now == nil {
		s.now = time.Now
	}
	s.devCond = sync.NewCond(&s.devMu)
	if err := s.SetApprovalRules(cfg.ApprovalRules); err != nil {
		return nil, err
	}
	return s, nil
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "chg-" + hex.EncodeToString(b[:])
}

func (s *Service) load(ctx context.Context, id string) (*Change, error) {
	rc, err := s.cfg.Store.Changes().Get(ctx, id)
	if err != nil {
		if errors.Is(err, repository.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if errors.Is(err, repository.ErrInvalid) {
			// an ID no change can have (empty, too long, control characters): not found,
			// without repeating it
			return nil, fmt.Errorf("%w: no change has that ID", ErrNotFound)
		}
		return nil, fmt.Errorf("pipeline: load %s: %w", id, err)
	}
	c, err := fromRepo(rc)
	if err != nil {
		return nil, err
	}
	if c.State == change.StateCommitting && s.cfg.Journal != nil {
		if rec, err := s.cfg.Journal.Load(ctx, id); err == nil {
			c.Commit = rec // in progress: the journal is ahead of the stored report
		}
	}
	if c.Commit != nil && c.Commit.Pending && s.cfg.Journal != nil {
		// devices left pending are retried (recovery, resolve) after the change failed:
		// the journal says where they are now
		if rec, err := s.cfg.Journal.Load(ctx, id); err == nil && rec.Updated.After(c.Commit.Updated) {
			c.Commit = rec
		}
	}
	return c, nil
}

func fromRepo(rc repository.Change) (*Change, error) {
	c := &Change{ID: rc.ID, State: change.State(rc.State), Label: rc.Title, Author: rc.Author,
		Version: rc.Version, Created: rc.Created, Updated: rc.Updated}
	var p payload
	if err := json.Unmarshal(rc.Payload, &p); err != nil {
		return nil, fmt.Errorf("pipeline: change %s: payload: %w", rc.ID, err)
	}
	c.ChangeSet, c.BaseRevision = p.ChangeSet, p.BaseRevision
	if len(rc.Report) > 0 {
		var r reportDoc
		if err := json.Unmarshal(rc.Report, &r); err != nil {
			return nil, fmt.Errorf("pipeline: change %s: report: %w", rc.ID, err)
		}
		c.Report, c.Commit, c.Approver = r.Validation, r.Commit, r.Approver
	}
	return c, nil
}

// reportJSON encodes what is stored beside the change. A report that does not encode
// (a non-finite number in a KPI or evidence) is an error, never an empty report: the
// change would be stored "validated" with nothing to show for it (issue #13).
func (c *Change) reportJSON() (json.RawMessage, error) {
	b, err := json.Marshal(reportDoc{Validation: c.Report, Approver: c.Approver, Commit: c.Commit})
	if err != nil {
		return nil, fmt.Errorf("pipeline: change %s: the report cannot be stored: %w", c.ID, err)
	}
	return b, nil
}

// checkedReport makes c's report storable before it moves to state to: a report that
// does not encode is replaced by one failed check saying so, and the change is
// rejected instead. It returns the state and reason to move to.
func (s *Service) checkedReport(c *Change, to change.State, reason string) (change.State, string) {
	if _, err := c.reportJSON(); err == nil {
		return to, reason
	}
	rep := &change.Report{ChangeID: c.ID}
	if c.ChangeSet != nil {
		rep.Level = c.ChangeSet.Level
	}
	if c.Report != nil {
		rep.Level, rep.BaseRevision, rep.DurationMicros = c.Report.Level, c.Report.BaseRevision, c.Report.DurationMicros
	}
	rep.Add(change.Check{Name: "report", Level: change.L0, Status: change.Fail,
		Message: "validation produced a value that cannot be reported (a non-finite number); the change is refused"})
	c.Report = rep
	s.log.Error("validation report does not encode; change rejected", "change", c.ID)
	return change.StateRejected, "failed checks: report"
}

// maxReasonBytes bounds a stored transition reason.
const maxReasonBytes = 4000

// sanitizeRecord returns rec with the text that came from devices (the reason, each
// device's error) made safe to store: valid UTF-8 without control characters, bounded
// (seed 004 §11). A NUL in a device's error made the transition refuse, and the change
// stayed committing (issue #13).
func sanitizeRecord(rec *change.CommitRecord) *change.CommitRecord {
	if rec == nil {
		return nil
	}
	out := *rec
	out.Reason = network.SanitizeText(rec.Reason, maxReasonBytes)
	if rec.Devices != nil {
		out.Devices = make(map[string]*change.CommitDevice, len(rec.Devices))
		for id, d := range rec.Devices {
			if d == nil {
				out.Devices[id] = nil
				continue
			}
			cd := *d
			cd.Error = network.SanitizeText(d.Error, maxReasonBytes)
			out.Devices[id] = &cd
		}
	}
	return &out
}

// step is one state transition of a change.
type step struct {
	to     change.State
	reason string
}

// transition moves c durably and publishes the batched change event.
func (s *Service) transition(ctx context.Context, c *Change, to change.State, actor, reason string) error {
	return s.transitionSteps(ctx, c, actor, step{to, reason})
}

// stepRequests checks steps from c's state and builds the repository requests (the
// report is attached to every step; the repository stores it once per transition).
func (c *Change) stepRequests(actor string, steps []step) ([]repository.TransitionRequest, error) {
	reqs := make([]repository.TransitionRequest, len(steps))
	from := c.State
	report, err := c.reportJSON()
	if err != nil {
		return nil, err
	}
	for i, st := range steps {
		if err := change.CheckTransition(from, st.to); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrState, err)
		}
		reqs[i] = repository.TransitionRequest{From: repository.ChangeState(from), To: repository.ChangeState(st.to),
			Actor: actor, Reason: network.SanitizeText(st.reason, maxReasonBytes)}
		if i == len(steps)-1 {
			reqs[i].Report = report
		}
		from = st.to
	}
	return reqs, nil
}

// transitionSteps moves c through steps in one repository transaction (the change is
// never durably in the intermediate states) and publishes one event per step.
func (s *Service) transitionSteps(ctx context.Context, c *Change, actor string, steps ...step) error {
	reqs, err := c.stepRequests(actor, steps)
	if err != nil {
		return err
	}
	rc, _, err := s.cfg.Store.Changes().TransitionSteps(context.WithoutCancel(ctx), c.ID, reqs...)
	if err != nil {
		if errors.Is(err, repository.ErrConflict) {
			return fmt.Errorf("%w: %s changed concurrently: %w", ErrState, c.ID, err)
		}
		return fmt.Errorf("pipeline: transition %s %s -> %s: %w", c.ID, c.State, steps[len(steps)-1].to, err)
	}
	s.moved(c, rc, actor, steps)
	return nil
}

// moved updates c after steps were stored (rc is the change as stored) and publishes
// one event per step.
func (s *Service) moved(c *Change, rc repository.Change, actor string, steps []step) {
	version := rc.Version - int64(len(steps))
	for _, st := range steps {
		from := c.State
		version++
		c.State, c.Version, c.Updated = st.to, version, rc.Updated
		s.publish(c, from, actor, st.reason)
		s.log.Info("change transition", "change", c.ID, "from", from, "to", st.to, "actor", actor, "reason", st.reason)
	}
}

// Event is the object of the batched per-change event on the hub (table "changes").
type Event struct {
	Change  string       `json:"change"`
	From    change.State `json:"from"`
	To      change.State `json:"to"`
	Actor   string       `json:"actor,omitempty"`
	Reason  string       `json:"reason,omitempty"`
	Label   string       `json:"label,omitempty"`
	Devices []string     `json:"devices,omitempty"`
	Passed  *bool        `json:"passed,omitempty"`
	Version int64        `json:"version"`
}

func (s *Service) publish(c *Change, from change.State, actor, reason string) {
	ev := &Event{Change: c.ID, From: from, To: c.State, Actor: actor, Reason: reason, Label: c.Label, Version: c.Version}
	if c.ChangeSet != nil {
		ev.Devices = c.ChangeSet.Devices()
	}
	if c.Report != nil {
		p := c.Report.Passed
		ev.Passed = &p
	}
	s.cfg.Twins.Events().Publish([]twin.Event{{Twin: twin.LiveID, Table: twin.TableChanges, Op: twin.OpUpdate,
		ID: c.ID, Revision: s.cfg.Twins.Live().Revision(), Object: ev, Time: s.now()}})
}

// Propose stores cs as a new change and validates it in a fork of the live twin. The
// returned change is validated or rejected (see its report). A malformed cs is
// refused with ErrInvalid and nothing is stored. The change keeps cs (it fills in ID
// and Author): the caller must not modify it afterwards.
func (s *Service) Propose(ctx context.Context, cs *change.ChangeSet, actor string) (*Change, error) {
	if cs == nil {
		return nil, fmt.Errorf("%w: no changeset", ErrInvalid)
	}
	if err := cs.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if cs.ID == "" {
		cs.ID = newID()
	}
	if cs.Author == "" {
		cs.Author = actor
	}
	base := s.cfg.Twins.Live().Revision()
	pl, _ := json.Marshal(payload{ChangeSet: cs, BaseRevision: base})
	// Created and moved to validating in one transaction: a proposal is never durably
	// a draft, and recovery fails a validation a dead process left (see Recover).
	c := &Change{ID: cs.ID, State: change.StateDraft, Label: cs.Label, Author: cs.Author, ChangeSet: cs, BaseRevision: base}
	started := step{change.StateValidating, "validation started"}
	reqs, err := c.stepRequests(actor, []step{started})
	if err != nil {
		return nil, err
	}
	rc, _, err := s.cfg.Store.Changes().CreateWith(ctx, repository.Change{ID: cs.ID, TwinID: twin.LiveID,
		Title: cs.Label, Author: cs.Author, Payload: pl}, reqs...)
	if err != nil {
		if errors.Is(err, repository.ErrConflict) {
			return nil, fmt.Errorf("%w: change %s exists", ErrState, cs.ID)
		}
		if errors.Is(err, repository.ErrInvalid) {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		return nil, fmt.Errorf("pipeline: create %s: %w", cs.ID, err)
	}
	c.Created, c.Updated = rc.Created, rc.Updated
	s.publish(c, "", actor, "proposed")
	s.moved(c, rc, actor, []step{started})
	return c, s.finishValidation(ctx, c, actor)
}

// Validate (re-)validates a draft or validated change against the current live twin.
func (s *Service) Validate(ctx context.Context, id, actor string) (*Change, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != change.StateDraft && c.State != change.StateValidated {
		return c, fmt.Errorf("%w: %s is %s; only draft or validated changes are validated", ErrState, id, c.State)
	}
	return c, s.validate(ctx, c, actor)
}

func (s *Service) validate(ctx context.Context, c *Change, actor string) error {
	if err := s.transition(ctx, c, change.StateValidating, actor, "validation started"); err != nil {
		return err
	}
	return s.finishValidation(ctx, c, actor)
}

// finishValidation validates a change in state validating and moves it to validated,
// rejected or failed.
func (s *Service) finishValidation(ctx context.Context, c *Change, actor string) error {
	s.validatingMu.Lock()
	if s.validatingNow == nil {
		s.validatingNow = map[string]bool{}
	}
	s.validatingNow[c.ID] = true
	s.validatingMu.Unlock()
	defer func() {
		s.validatingMu.Lock()
		delete(s.validatingNow, c.ID)
		s.validatingMu.Unlock()
	}()
	rep, base, err := s.runValidation(ctx, c.ID, c.ChangeSet)
	if err != nil {
		c.Report = &change.Report{ChangeID: c.ID, Level: c.ChangeSet.Level}
		c.Report.Add(change.Check{Name: "validation", Level: change.L0, Status: change.Fail, Message: network.SanitizeText(err.Error(), maxReasonBytes)})
		return errors.Join(err, s.transition(ctx, c, change.StateFailed, actor, "validation could not run: "+err.Error()))
	}
	c.Report, c.BaseRevision = rep, base
	to, reason := change.StateValidated, "all checks passed"
	if !rep.Passed {
		to = change.StateRejected
		var names []string
		for _, f := range rep.Failed() {
			names = append(names, f.Name)
		}
		reason = "failed checks: " + strings.Join(names, ", ")
	}
	to, reason = s.checkedReport(c, to, reason)
	if err := s.transition(ctx, c, to, actor, reason); err != nil {
		return err
	}
	// keep the base revision with the payload for staleness checks after a restart
	return nil
}

// Approve approves a validated change. Approval is a human decision on the report;
// staleness (the live twin moved on since validation) is checked where it matters, at
// commit, which re-validates against the then-current live twin.
func (s *Service) Approve(ctx context.Context, id, actor string) (*Change, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != change.StateValidated {
		return c, fmt.Errorf("%w: %s is %s; only validated changes are approved", ErrState, id, c.State)
	}
	if s.cfg.DistinctApprover && actor != "" && actor == c.Author {
		return c, fmt.Errorf("%w: %s cannot approve their own change %s", ErrForbidden, actor, id)
	}
	c.Approver = actor
	return c, s.transition(ctx, c, change.StateApproved, actor, "approved")
}

// lockDevices blocks until no other commit holds any of the devices, then holds them.
// The returned function releases them; by then the live twin holds the outcome.
func (s *Service) lockDevices(devs []string) func() {
	s.devMu.Lock()
	for {
		busy := false
		for _, d := range devs {
			if s.devBusy[d] {
				busy = true
				break
			}
		}
		if !busy {
			break
		}
		if s.lockWait != nil {
			s.lockWait()
		}
		s.devCond.Wait()
	}
	for _, d := range devs {
		s.devBusy[d] = true
	}
	s.devMu.Unlock()
	return func() {
		s.devMu.Lock()
		s.releases++
		for _, d := range devs {
			delete(s.devBusy, d)
			s.released[d] = s.releases
		}
		s.devCond.Broadcast()
		s.devMu.Unlock()
	}
}

// inOtherWindow returns the first of devs (held by the caller) that is in the confirm
// window of a change other than self, and that change ("" if none).
func (s *Service) inOtherWindow(devs []string, self string) (dev, other string) {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	for _, d := range devs {
		if id := s.windowDevs[d]; id != "" && id != self {
			return d, id
		}
	}
	return "", ""
}

// resolveHeld runs afterCommit for a commit resolved outside its Commit call while
// holding the change's devices, as Commit does. So a confirm window is resolved only
// after the Commit call that opened it has registered it (the committer may end the
// window, and call Resolve, before that call returned), the live twin update is
// serialized with commits of the same devices, and drift detection skips the devices
// until the live twin holds the outcome. Unless c is what the caller just moved
// (fresh), it is reloaded under the locks: another resolution may have moved it
// meanwhile, and then nothing is done.
func (s *Service) resolveHeld(ctx context.Context, c *Change, fresh bool, rec *change.CommitRecord, cerr error, actor string) (*Change, error) {
	unlock := s.lockDevices(c.ChangeSet.Devices())
	defer unlock()
	if !fresh {
		cur, err := s.load(ctx, c.ID)
		if err != nil {
			return c, err
		}
		if c = cur; c.State != change.StateCommitting {
			return c, nil
		}
	}
	return c, s.afterCommit(ctx, c, rec, cerr, actor)
}

// Commit pushes an approved change to the devices. With confirm > 0 the change stays
// committing until Confirm (or rolls back when the window expires). A change validated
// against an older live twin is re-validated first and refused (rejected) if it no
// longer passes.
func (s *Service) Commit(ctx context.Context, id, actor string, confirm time.Duration) (*Change, error) {
	if confirm < 0 {
		return nil, fmt.Errorf("%w: negative confirm timeout", ErrInvalid)
	}
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != change.StateApproved {
		return c, fmt.Errorf("%w: %s is %s; only approved changes are committed", ErrState, id, c.State)
	}
	if s.cfg.Committer == nil {
		return c, ErrNoCommitter
	}
	unlock := s.lockDevices(c.ChangeSet.Devices())
	defer unlock()
	// another Commit of the same change may have run while this one waited (reload
	// only if the stored change moved)
	if rc, err := s.cfg.Store.Changes().Get(ctx, id); err != nil || rc.Version != c.Version {
		if c, err = s.load(ctx, id); err != nil {
			return nil, err
		}
	}
	if c.State != change.StateApproved {
		return c, fmt.Errorf("%w: %s is %s; only approved changes are committed", ErrState, id, c.State)
	}
	if dev, other := s.inOtherWindow(c.ChangeSet.Devices(), c.ID); other != "" {
		// Its rollback restores the device's pre-images, which would undo this change's
		// Sets on the paths both touch; and this change was not validated against it.
		return c, fmt.Errorf("%w: %s touches %s, which is in the confirm window of %s; commit it again once %s is confirmed or rolled back", ErrBusy, c.ID, dev, other, other)
	}
	if err := s.pendingRestore(ctx, c.ChangeSet.Devices(), c.ID); err != nil {
		return c, err
	}
	// the push policy (issue #18): certification, maintenance window, stages. A
	// refusal sends nothing and leaves the change approved.
	plan, err := s.gate(ctx, c, actor)
	if err != nil {
		return c, err
	}

	s.commitMu.Lock()
	if interacts(c.ChangeSet) {
		// an interacting change commits alone, so that it is validated against a
		// live twin holding every change committed before it: none reaches a device
		// without having been checked against the changes committed beside it
		other, err := s.interactingInFlight(ctx, c.ID)
		if err != nil {
			s.commitMu.Unlock()
			return c, err
		}
		if other != "" {
			s.commitMu.Unlock()
			return c, fmt.Errorf("%w: %s waits for %s (committing or awaiting confirmation); commit it again once that has ended", ErrBusy, c.ID, other)
		}
		if s.starting == nil {
			s.starting = map[string]bool{}
		}
		s.starting[c.ID] = true
		defer func() {
			s.commitMu.Lock()
			delete(s.starting, c.ID)
			s.commitMu.Unlock()
		}()
	}
	if live := s.cfg.Twins.Live().Revision(); c.BaseRevision != live {
		rep, base, err := s.runValidation(ctx, c.ID, c.ChangeSet)
		if err != nil {
			s.commitMu.Unlock()
			return c, err
		}
		c.Report, c.BaseRevision = rep, base
		if to, _ := s.checkedReport(c, change.StateValidated, ""); to != change.StateValidated || !rep.Passed {
			s.commitMu.Unlock()
			err := s.transition(ctx, c, change.StateRejected, actor, fmt.Sprintf("re-validation against live revision %d failed", base))
			return c, errors.Join(fmt.Errorf("%w: %s", ErrStale, id), err)
		}
	}
	s.commitMu.Unlock()
	started := step{change.StateCommitting, fmt.Sprintf("commit started (confirm window %s%s)", confirm, plan.describe())}
	if s.cfg.Journal == nil {
		if err := s.transitionSteps(ctx, c, actor, started); err != nil {
			return c, err
		}
		rec, cerr := s.commitDevices(ctx, c, confirm, plan)
		return c, s.afterCommit(ctx, c, rec, cerr, actor)
	}
	// The move to committing is stored with the commit's first journal record (the
	// pre-images, journaled before any Set): one transaction instead of two. Until
	// then the change is approved and no device was touched; a controller that dies
	// meanwhile leaves an approved change that can be committed again.
	reqs, err := c.stepRequests(actor, []step{started})
	if err != nil {
		return c, err
	}
	armed := s.cfg.Journal.arm(c.ID, reqs[0])
	rec, cerr := s.commitDevices(ctx, c, confirm, plan)
	s.cfg.Journal.disarm(c.ID)
	switch {
	case armed.done && armed.err == nil:
		s.moved(c, armed.rc, actor, []step{started})
	case armed.done:
		// the transition (and with it the journal record) was refused: the committer
		// touched no device
		if errors.Is(armed.err, repository.ErrConflict) {
			return c, errors.Join(fmt.Errorf("%w: %s changed concurrently: %w", ErrState, c.ID, armed.err), cerr)
		}
		return c, errors.Join(fmt.Errorf("pipeline: commit %s: %w", c.ID, armed.err), cerr)
	case rec == nil:
		// the committer could not start (nothing journaled, nothing sent): recorded as
		// a commit that failed to start, as before
		return c, errors.Join(cerr, s.transitionSteps(ctx, c, actor, started,
			step{change.StateFailed, "commit could not start: " + errString(cerr)}))
	default:
		// a committer that does not write through this journal: record the move now
		if err := s.transitionSteps(ctx, c, actor, started); err != nil {
			return c, errors.Join(err, cerr)
		}
	}
	return c, s.afterCommit(ctx, c, rec, cerr, actor)
}

// afterCommit moves a committing change according to its commit record.
func (s *Service) afterCommit(ctx context.Context, c *Change, rec *change.CommitRecord, cerr error, actor string) (err error) {
	rec = sanitizeRecord(rec)
	if rec != nil {
		c.Commit = rec
	}
	if rec != nil && rec.Phase.Final() {
		// a final transition that cannot be stored leaves the change committing: keep
		// the outcome so that Rollback or Confirm can still resolve it (no state may
		// become unreachable)
		defer func() {
			s.devMu.Lock()
			defer s.devMu.Unlock()
			if err != nil && c.State == change.StateCommitting {
				if s.unresolved == nil {
					s.unresolved = map[string]*change.CommitRecord{}
				}
				s.unresolved[c.ID] = rec
			} else {
				delete(s.unresolved, c.ID)
				delete(s.inLive, c.ID)
			}
		}()
	}
	s.devMu.Lock()
	for _, d := range c.ChangeSet.Devices() {
		if rec != nil && rec.Phase == change.PhaseAwaitingConfirm {
			s.windowDevs[d] = c.ID
		} else if s.windowDevs[d] == c.ID {
			delete(s.windowDevs, d)
		}
	}
	s.devMu.Unlock()
	if rec == nil {
		// the committer could not even start: nothing was sent (e.g. a bad path)
		return errors.Join(cerr, s.transition(ctx, c, change.StateFailed, actor, "commit could not start: "+errString(cerr)))
	}
	switch rec.Phase {
	case change.PhaseAwaitingConfirm:
		// stays committing: the journal holds the record (load shows it) until the
		// window resolves and the final transition stores it with the change
		return nil
	case change.PhaseConfirmed:
		// The commit journal must say confirmed before the live twin takes the change:
		// a twin holding a change whose journal record is still applying is rolled
		// back by resolve or recovery on the devices only, and the twin keeps it (torture
		// seed 18 after seed 12: the confirmed record's save failed on a full disk, the
		// twin update succeeded, the committed transition failed; resolve rolled the
		// devices back and the twin kept the change).
		if err := s.journalConfirmedRetrying(ctx, rec); err != nil {
			return fmt.Errorf("pipeline: devices committed but the commit journal could not record it yet (twinflow change resolve %s settles it): %w", c.ID, err)
		}
		if !s.tookLive(c.ID) {
			if err := s.applyToLiveRetrying(ctx, c); err != nil {
				// The devices hold the change: the live twin must follow it, and the
				// change must not be called failed (that left devices at the intent and
				// the twin at the old state: torture seed 12, the repository's disk full
				// while the twin's journal was appended). It stays committing with its
				// outcome kept (the deferred unresolved record): `change resolve`, a
				// confirm or the next start's recovery applies it to the twin once the
				// repository takes writes.
				return fmt.Errorf("pipeline: devices committed but the live twin could not be updated yet (twinflow change resolve %s settles it): %w", c.ID, err)
			}
			// Taken once: if the committed transition below cannot be stored, whoever
			// settles the change later stores it without applying it again (a second
			// application re-reads the devices, which may have changed since: seed 3435).
			s.devMu.Lock()
			if s.inLive == nil {
				s.inLive = map[string]bool{}
			}
			s.inLive[c.ID] = true
			s.devMu.Unlock()
		}
		return s.settleJournal(ctx, rec, s.transition(ctx, c, change.StateCommitted, actor, "committed and verified on every device"))
	case change.PhaseRolledBack:
		return errors.Join(cerr, s.settleJournal(ctx, rec, s.transition(ctx, c, change.StateRolledBack, actor, rec.Reason)))
	default:
		return errors.Join(cerr, s.settleJournal(ctx, rec, s.transition(ctx, c, change.StateFailed, actor, rec.Reason)))
	}
}

// tookLive reports whether the live twin already took the confirmed change id (its
// committed transition not stored yet).
func (s *Service) tookLive(id string) bool {
	s.devMu.Lock()
	defer s.devMu.Unlock()
	return s.inLive[id]
}

// liveRetryFor bounds how long a committed change's update of the live twin is retried
// (the repository refusing writes: disk full, a database restart) before the change is
// left committing for resolve or recovery.
var liveRetryFor = 30 * time.Second

// applyToLiveRetrying is applyToLive, retried with backoff for up to liveRetryFor (the
// twin's transaction is all or nothing, so a retry never applies twice).
func (s *Service) applyToLiveRetrying(ctx context.Context, c *Change) error {
	return retryFor(ctx, liveRetryFor, func() error { return s.applyToLive(ctx, c) })
}

// retryFor calls f until it succeeds, with backoff from 50 ms doubling to 2 s, for up
// to d; the last error is returned (joined with ctx's when ctx ends first).
func retryFor(ctx context.Context, d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	wait := 50 * time.Millisecond
	for {
		err := f()
		if err == nil || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// journalConfirmedRetrying makes sure the commit journal's latest record of a confirmed
// commit is final, saving rec if it is not (the committer's save of it failed), retried
// with backoff for up to liveRetryFor like the live twin's update.
func (s *Service) journalConfirmedRetrying(ctx context.Context, rec *change.CommitRecord) error {
	if s.cfg.Journal == nil {
		return nil
	}
	var wrong error // final, but not confirmed: not retried
	err := retryFor(ctx, liveRetryFor, func() error {
		if cur, err := s.cfg.Journal.Load(ctx, rec.ChangeID); err == nil && cur.Phase.Final() {
			if cur.Phase != change.PhaseConfirmed {
				wrong = fmt.Errorf("pipeline: %s: the commit journal says %s", rec.ChangeID, cur.Phase)
			}
			return nil
		}
		return s.cfg.Journal.Save(ctx, rec)
	})
	if wrong != nil {
		return wrong
	}
	return err
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// Confirm confirms a change in its confirm window.
func (s *Service) Confirm(ctx context.Context, id, actor string) (*Change, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != change.StateCommitting {
		return c, fmt.Errorf("%w: %s is %s; only committing changes are confirmed", ErrState, id, c.State)
	}
	if s.cfg.Committer == nil {
		return c, ErrNoCommitter
	}
	rec, cerr := s.cfg.Committer.Confirm(ctx, id)
	if rec == nil {
		if fr := s.finalRecord(c); fr != nil {
			return s.resolveHeld(ctx, c, false, fr, nil, actor)
		}
		return c, fmt.Errorf("%w: %w", ErrState, cerr)
	}
	// the committer gave the window to this call: the change is still committing
	return s.resolveHeld(ctx, c, true, rec, cerr, actor)
}

// Rollback rolls back a change in its confirm window: every device returns to its
// pre-image.
func (s *Service) Rollback(ctx context.Context, id, actor, reason string) (*Change, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if c.State != change.StateCommitting {
		return c, fmt.Errorf("%w: %s is %s; only a change in its confirm window is rolled back (a committed change is reverted by a new change)", ErrState, id, c.State)
	}
	if s.cfg.Committer == nil {
		return c, ErrNoCommitter
	}
	if reason == "" {
		reason = "rolled back by " + actor
	}
	rec, cerr := s.cfg.Committer.Rollback(ctx, id, reason)
	if rec == nil {
		if fr := s.finalRecord(c); fr != nil {
			return s.resolveHeld(ctx, c, false, fr, nil, actor)
		}
		return c, fmt.Errorf("%w: %w", ErrState, cerr)
	}
	c, err = s.resolveHeld(ctx, c, true, rec, nil, actor)
	if rec.Phase == change.PhaseFailed {
		return c, errors.Join(cerr, err)
	}
	return c, err
}

// finalRecord returns the final commit record of a change left committing because its
// final transition could not be stored (by this process, or journaled), or nil. The
// committer no longer holds a window for it, so the record is what the devices hold.
func (s *Service) finalRecord(c *Change) *change.CommitRecord {
	s.devMu.Lock()
	rec := s.unresolved[c.ID]
	s.devMu.Unlock()
	if rec != nil {
		return rec
	}
	if c.Commit != nil && c.Commit.Phase.Final() {
		return c.Commit
	}
	return nil
}

// Resolve handles a commit the committer resolved on its own (confirm window expired,
// or a window reopened by recovery). Wire it to physical/commit.Engine.OnResolved.
func (s *Service) Resolve(rec *change.CommitRecord) {
	ctx := context.Background()
	c, err := s.load(ctx, rec.ChangeID)
	if err != nil {
		s.log.Error("resolve commit", "change", rec.ChangeID, "err", err)
		return
	}
	if c.State != change.StateCommitting {
		return
	}
	if _, err := s.resolveHeld(ctx, c, false, rec, nil, "system"); err != nil {
		s.log.Warn("resolve commit", "change", rec.ChangeID, "err", err)
	}
}

// Recover finishes what a previous process left: the committer rolls back (or
// finishes) interrupted commits, then every change still committing is moved to the
// state its commit record says. Call it once at start, after the committer is ready.
func (s *Service) Recover(ctx context.Context) error {
	if err := s.syncJournal(ctx); err != nil {
		return err
	}
	var recs []*change.CommitRecord
	if s.cfg.Committer != nil {
		var err error
		recs, err = s.cfg.Committer.Recover(ctx)
		if err != nil {
			return fmt.Errorf("pipeline: recover: %w", err)
		}
	}
	byID := map[string]*change.CommitRecord{}
	for _, r := range recs {
		byID[r.ChangeID] = r
	}
	var errs []error
	// a validation the previous process did not finish: its fork is gone
	vlist, err := s.cfg.Store.Changes().List(ctx, repository.ChangeFilter{State: repository.StateValidating})
	if err != nil {
		return fmt.Errorf("pipeline: recover: list validating: %w", err)
	}
	for _, rc := range vlist {
		c, err := fromRepo(rc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, s.transition(ctx, c, change.StateFailed, "recovery", "controller restarted during validation; propose the change again"))
	}
	list, err := s.cfg.Store.Changes().List(ctx, repository.ChangeFilter{State: repository.StateCommitting})
	if err != nil {
		return fmt.Errorf("pipeline: recover: list committing: %w", err)
	}
	for _, rc := range list {
		c, err := fromRepo(rc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, s.recoverCommit(ctx, c, byID[c.ID]))
	}
	return errors.Join(errs...)
}

// recoverCommit moves a change a previous process left committing according to rec
// (the committer's resolution, nil: the journal's latest record). It holds the
// change's devices: a window the committer reopened may end, and Resolve run, at any
// time.
func (s *Service) recoverCommit(ctx context.Context, c *Change, rec *change.CommitRecord) error {
	unlock := s.lockDevices(c.ChangeSet.Devices())
	defer unlock()
	c, err := s.load(ctx, c.ID)
	if err != nil || c.State != change.StateCommitting {
		return err // resolved meanwhile (nil error)
	}
	if rec == nil && s.cfg.Journal != nil {
		rec, _ = s.cfg.Journal.Load(ctx, c.ID)
	}
	if rec == nil {
		// committing but no journal record: the process died before the
		// pre-images were journaled, so no device was touched.
		rec = &change.CommitRecord{ChangeID: c.ID, Phase: change.PhaseRolledBack,
			Reason: "controller restarted before any device was changed"}
	}
	// a reopened window (awaiting) is registered and resolves through Resolve
	return s.afterCommit(ctx, c, rec, nil, "recovery")
}

// Get returns a change with its transitions.
func (s *Service) Get(ctx context.Context, id string) (*Change, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	trs, err := s.cfg.Store.Changes().Transitions(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("pipeline: transitions of %s: %w", id, err)
	}
	c.Transitions = trs
	return c, nil
}

// ListOptions filter List.
type ListOptions struct {
	State   change.State
	AfterID string
	Limit   int
}

// List returns changes ordered by ID.
func (s *Service) List(ctx context.Context, o ListOptions) ([]*Change, error) {
	if o.State != "" {
		if _, err := change.ParseState(string(o.State)); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
	}
	list, err := s.cfg.Store.Changes().List(ctx, repository.ChangeFilter{State: repository.ChangeState(o.State), AfterID: o.AfterID, Limit: o.Limit})
	if err != nil {
		return nil, fmt.Errorf("pipeline: list: %w", err)
	}
	out := make([]*Change, 0, len(list))
	for _, rc := range list {
		c, err := fromRepo(rc)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// DeviceDiff is the dry-run view of one device: its operations (the SetRequest), a
// human diff of the intended configuration before and after, and (when the Service has
// a Reader) a diff of the device's running configuration before and after: old → new
// values as the device holds them, which is also what a reconcile reverts.
type DeviceDiff struct {
	Device string            `json:"device"`
	Ops    []change.Op       `json:"ops"`
	Lines  []change.DiffLine `json:"diff"`
	// DeviceLines diff the device's running configuration (the top-level containers
	// the operations touch) with the operations applied to it.
	DeviceLines []change.DiffLine `json:"device_diff,omitempty"`
	// DeviceError says why DeviceLines are missing (the device could not be read); empty
	// when they are there or the Service has no Reader.
	DeviceError string `json:"device_error,omitempty"`
}

// diffReadTimeout bounds the read of one device's running configuration by Diff.
const diffReadTimeout = 5 * time.Second

// deviceDiff reads dev's running configuration under the containers ops touch and
// diffs it with ops applied.
func (s *Service) deviceDiff(ctx context.Context, dev string, ops []change.Op) ([]change.DiffLine, error) {
	paths := topContainers(ops)
	ctx, cancel := context.WithTimeout(ctx, diffReadTimeout)
	defer cancel()
	got, err := s.cfg.Reader.ReadConfig(ctx, dev, paths)
	if err != nil {
		return nil, err
	}
	before := s.intendedFromReadBack(dev, nil, paths, got)
	after := change.Clone(before).(map[string]any)
	if err := change.ApplyOps(after, ops); err != nil {
		return nil, fmt.Errorf("the operations do not apply to the running configuration: %w", err)
	}
	return change.DiffTrees(before, after), nil
}

// Diff returns the per-device dry run of a change against the live twin's intended
// configurations.
func (s *Service) Diff(ctx context.Context, id string) ([]DeviceDiff, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	var configs map[string]change.Tree
	if err := s.cfg.Twins.Live().View(func(r *twin.Reader) error {
		var err error
		configs, err = s.l1.configs(r)
		return err
	}); err != nil {
		return nil, fmt.Errorf("pipeline: diff %s: %w", id, err)
	}
	var out []DeviceDiff
	for _, dev := range c.ChangeSet.Devices() {
		before := configs[dev]
		if before == nil {
			before = change.Tree{}
		}
		after := change.Clone(before).(map[string]any)
		if err := change.ApplyOps(after, c.ChangeSet.DeviceOps[dev]); err != nil {
			return nil, fmt.Errorf("%w: device %s: %w", ErrInvalid, dev, err)
		}
		out = append(out, DeviceDiff{Device: dev, Ops: c.ChangeSet.DeviceOps[dev], Lines: change.DiffTrees(before, after)})
	}
	if s.cfg.Reader != nil {
		var g errgroup.Group
		g.SetLimit(32)
		for i := range out {
			g.Go(func() error {
				d := &out[i]
				lines, err := s.deviceDiff(ctx, d.Device, d.Ops)
				if err != nil {
					d.DeviceError = err.Error()
				} else {
					d.DeviceLines = lines
				}
				return nil
			})
		}
		_ = g.Wait()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Device < out[j].Device })
	return out, nil
}
