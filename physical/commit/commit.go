// Package commit is TwinFlow's commit engine, the only component that sends Set
// requests to devices. A commit:
//
//  1. captures the pre-image of every touched path on every device (Get);
//  2. records the pre-images durably in the journal before any device is touched;
//  3. sets the devices in parallel with bounded concurrency, one atomic Set per device;
//  4. verifies each device by reading the touched paths back;
//  5. optionally holds a confirmed-commit window: the change must be confirmed (with a
//     second read-back and an optional telemetry check) before the window closes.
//
// Any device error or timeout, a failed read-back, a failed confirmation or an expired
// window restores every touched device from its pre-image. Every phase is journaled, so
// after a controller crash Recover finishes (confirmed commits) or rolls back
// (everything else) the interrupted commits: nothing stays half-applied without the
// record saying so.
//
// The engine reaches devices through the small Devices/Device interfaces it defines;
// physical/gnmi provides the production implementation, tests use fakes.
package commit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/twinflow/twinflow/models/change"
)

// Sentinel errors.
var (
	// ErrRolledBack is wrapped when a commit failed and every touched device was
	// restored from its pre-image.
	ErrRolledBack = errors.New("commit: rolled back")
	// ErrFailed is wrapped when a commit failed and at least one device that was
	// changed could not be restored.
	ErrFailed = errors.New("commit: failed, devices not restored")
	// ErrUnknownCommit is returned for a change with no commit record.
	ErrUnknownCommit = errors.New("commit: unknown commit")
	// ErrNotPending is returned by Confirm for a commit that is not awaiting confirmation.
	ErrNotPending = errors.New("commit: not awaiting confirmation")
	// ErrBusy is returned when a change is already being committed.
	ErrBusy = errors.New("commit: change already being committed")
)

// Device is what the engine needs from one device.
type Device interface {
	// Get returns the JSON value (RFC 7951, module prefixes allowed) at each path. A
	// path with no data is absent from the result, not an error.
	Get(ctx context.Context, paths []string) (map[string]json.RawMessage, error)
	// Set applies the operations atomically: all or none.
	Set(ctx context.Context, ops []change.Op) error
}

// Devices resolves device IDs.
type Devices interface {
	Device(ctx context.Context, id string) (Device, error)
}

// Journal stores commit records durably. Save must not return before the record is
// durable; it is called before any device is touched and at every phase change.
type Journal interface {
	Save(ctx context.Context, rec *Record) error
	// Load returns the record of a change, or an error wrapping ErrUnknownCommit.
	Load(ctx context.Context, changeID string) (*Record, error)
	// Unfinished returns the records whose phase is not final (see Phase.Final) or
	// that still have devices to restore (Record.Pending).
	Unfinished(ctx context.Context) ([]*Record, error)
}

// Aliases of the commit record types, which live in models/change so the twin layer
// can use them without importing this package.
type (
	Record       = change.CommitRecord
	DeviceRecord = change.CommitDevice
	Phase        = change.CommitPhase
	DeviceStatus = change.DeviceStatus
	PathValue    = change.PathValue
)

// Phases and device statuses, re-exported.
const (
	PhasePrepared        = change.PhasePrepared
	PhaseApplying        = change.PhaseApplying
	PhaseAwaitingConfirm = change.PhaseAwaitingConfirm
	PhaseConfirmed       = change.PhaseConfirmed
	PhaseRollingBack     = change.PhaseRollingBack
	PhaseRolledBack      = change.PhaseRolledBack
	PhaseFailed          = change.PhaseFailed

	DevicePending       = change.DevicePending
	DeviceApplied       = change.DeviceApplied
	DeviceUnknown       = change.DeviceUnknown
	DeviceRejected      = change.DeviceRejected
	DeviceRestored      = change.DeviceRestored
	DeviceRestoreFailed = change.DeviceRestoreFailed
	DeviceUnchanged     = change.DeviceUnchanged
)

// Engine runs commits. The zero value is not usable: set Devices and Journal.
type Engine struct {
	Devices Devices
	Journal Journal
	// Concurrency bounds parallel device operations; 0 means 16.
	Concurrency int
	// DeviceTimeout bounds every single device operation; 0 means 10 s.
	DeviceTimeout time.Duration
	// Logger receives progress; nil discards.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Verify is an extra post-commit check (e.g. telemetry) run before a commit is
	// confirmed; an error rolls the commit back. Nil means read-back only.
	Verify func(ctx context.Context, changeID string) error
	// OnResolved is called (in its own goroutine) when a confirm window ends without
	// a Confirm or Rollback call: the window expired or Recover finished a commit.
	OnResolved func(rec *Record)
	// KeepReadBack makes the read-back verification read the top-level containers of
	// the touched paths (e.g. /interfaces for /interfaces/interface[name=eth1]/config)
	// and check the touched paths inside them, and keeps what the last successful
	// verification of a commit read (at Commit, or at Confirm for a confirm window) for
	// TakeReadBack. A caller that derives the intended configuration from the devices'
	// read-back then needs no second read of every device after the commit.
	KeepReadBack bool

	mu        sync.Mutex // guards windows, active and readBacks
	windows   map[string]*window
	active    map[string]chan struct{}                         // changes being worked on; closed on release
	readBacks map[string]map[string]map[string]json.RawMessage // change -> device -> top path -> JSON
}

// TakeReadBack returns, and forgets, what the last successful verification of a
// change's commit read from each device: the JSON of every top-level container the
// change touched, keyed by its path ("/interfaces"). Nil unless KeepReadBack is set
// and the commit is confirmed or awaiting confirmation in this process. Take it once
// the commit is confirmed: it is dropped when the commit rolls back, and at most
// maxReadBacks changes are kept.
func (e *Engine) TakeReadBack(changeID string) map[string]map[string]json.RawMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	rb := e.readBacks[changeID]
	delete(e.readBacks, changeID)
	return rb
}

// maxReadBacks bounds the read-backs kept for TakeReadBack.
const maxReadBacks = 1024

// keepReadBack records a device's verified read-back.
func (e *Engine) keepReadBack(changeID, dev string, got map[string]json.RawMessage) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.readBacks == nil {
		e.readBacks = map[string]map[string]map[string]json.RawMessage{}
	}
	m := e.readBacks[changeID]
	if m == nil {
		if len(e.readBacks) >= maxReadBacks {
			return // not taken by anyone: keep memory bounded
		}
		m = map[string]map[string]json.RawMessage{}
		e.readBacks[changeID] = m
	}
	m[dev] = got
}

func (e *Engine) dropReadBack(changeID string) {
	e.mu.Lock()
	delete(e.readBacks, changeID)
	e.mu.Unlock()
}

// verifyDevice reads a device back and checks it holds the intent (verifyIntent),
// keeping the read-back when KeepReadBack is set.
func (e *Engine) verifyDevice(ctx context.Context, changeID, id string, d Device, dr *DeviceRecord) error {
	if !e.KeepReadBack {
		return verifyIntent(ctx, d, dr)
	}
	want, err := expected(dr, true)
	if err != nil {
		return err
	}
	got, err := verifyTops(ctx, d, touchedPaths(dr.Ops), want)
	if err != nil {
		return err
	}
	e.keepReadBack(changeID, id, got)
	return nil
}

// Test hooks: testHookWindowOpened runs in Commit right after it opened a confirm
// window (while it still holds the change); testHookBusy runs when a window's expiry
// finds its change held by someone else.
var testHookWindowOpened, testHookBusy func(id string)

type window struct {
	timer *time.Timer
	rec   *Record
	done  bool
}

func (e *Engine) log() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) limit() int {
	if e.Concurrency <= 0 {
		return 16
	}
	return e.Concurrency
}

func (e *Engine) devTimeout() time.Duration {
	if e.DeviceTimeout <= 0 {
		return 10 * time.Second
	}
	return e.DeviceTimeout
}

func (e *Engine) save(ctx context.Context, rec *Record) error {
	rec.Updated = e.now()
	if err := e.Journal.Save(context.WithoutCancel(ctx), rec); err != nil {
		return fmt.Errorf("commit: journal %s: %w", rec.ChangeID, err)
	}
	return nil
}

func (e *Engine) acquire(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active[id] != nil {
		return fmt.Errorf("%w: %s", ErrBusy, id)
	}
	e.hold(id)
	return nil
}

// acquireCommit is acquire for a new commit: a change whose confirm window is open (or
// expiring) is busy too, as its devices are not at a state a new commit may start from.
func (e *Engine) acquireCommit(id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active[id] != nil || e.windows[id] != nil {
		return fmt.Errorf("%w: %s", ErrBusy, id)
	}
	e.hold(id)
	return nil
}

// hold marks a change as being worked on; e.mu must be held.
func (e *Engine) hold(id string) {
	if e.active == nil {
		e.active = map[string]chan struct{}{}
	}
	e.active[id] = make(chan struct{})
}

// acquireWait is acquire that waits for the change's current holder to release it.
func (e *Engine) acquireWait(id string) {
	for {
		e.mu.Lock()
		ch := e.active[id]
		if ch == nil {
			e.hold(id)
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
		if testHookBusy != nil {
			testHookBusy(id)
		}
		<-ch
	}
}

func (e *Engine) release(id string) {
	e.mu.Lock()
	if ch := e.active[id]; ch != nil {
		close(ch)
		delete(e.active, id)
	}
	e.mu.Unlock()
}

// touchedPaths returns the distinct paths of ops in first-use order.
func touchedPaths(ops []change.Op) []string {
	seen := map[string]bool{}
	var out []string
	for _, op := range ops {
		p, err := change.ParsePath(op.Path)
		if err != nil {
			continue
		}
		s := p.String()
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// entryAncestors returns the list-entry prefixes of the ops' paths (paths ending in a
// keyed element) that are not themselves touched paths, in first-use order. Their
// pre-image matters only when absent: the change creates the entry, and a rollback
// must delete the whole entry, not just the leaves it set.
func entryAncestors(ops []change.Op) []string {
	touched := map[string]bool{}
	for _, p := range touchedPaths(ops) {
		touched[p] = true
	}
	seen := map[string]bool{}
	var out []string
	for _, op := range ops {
		p, err := change.ParsePath(op.Path)
		if err != nil {
			continue
		}
		for i := 1; i < len(p); i++ {
			if len(p[i-1].Key) == 0 {
				continue
			}
			s := p[:i].String()
			if !touched[s] && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// capture reads the pre-image of every path ops touch, plus the absent list entries
// they would create.
func capture(ctx context.Context, d Device, ops []change.Op) ([]PathValue, error) {
	paths := touchedPaths(ops)
	anc := entryAncestors(ops)
	got, err := d.Get(ctx, append(append([]string(nil), paths...), anc...))
	if err != nil {
		return nil, err
	}
	var pre []PathValue
	for _, p := range anc {
		if _, ok := got[p]; !ok {
			pre = append(pre, PathValue{Path: p})
		}
	}
	for _, p := range paths {
		pre = append(pre, PathValue{Path: p, Value: got[p]})
	}
	return pre, nil
}

// Commit applies ops (device ID -> operations) for changeID. With confirm > 0 a
// confirmed-commit window of that length opens: Confirm must be called before it
// closes. It returns the record and nil when the devices are at the intent
// (confirmed, or awaiting confirmation); otherwise an error wrapping ErrRolledBack (every device at
// its pre-image) or ErrFailed (see the record for which device is where).
func (e *Engine) Commit(ctx context.Context, changeID string, ops map[string][]change.Op, confirm time.Duration) (*Record, error) {
	return e.CommitStaged(ctx, changeID, ops, confirm, nil)
}

// CommitStaged is Commit in stages (a staged rollout, issue #18): the pre-images of
// every device are captured and journaled first, then each stage's devices are set
// and read back in parallel and the Verify hook runs before the next stage starts.
// Any failure rolls back every device changed so far, in every stage; devices of
// later stages are never sent a Set. stages must list every device of ops exactly
// once; nil or one stage is Commit.
func (e *Engine) CommitStaged(ctx context.Context, changeID string, ops map[string][]change.Op, confirm time.Duration, stages [][]string) (*Record, error) {
	if len(stages) > 0 {
		seen := map[string]bool{}
		for i, st := range stages {
			if len(st) == 0 {
				return nil, fmt.Errorf("commit: %s: stage %d is empty", changeID, i+1)
			}
			for _, d := range st {
				if _, ok := ops[d]; !ok || seen[d] {
					return nil, fmt.Errorf("commit: %s: stage %d: device %s is not in the change or is in two stages", changeID, i+1, d)
				}
				seen[d] = true
			}
		}
		if len(seen) != len(ops) {
			return nil, fmt.Errorf("commit: %s: the stages list %d of the change's %d devices", changeID, len(seen), len(ops))
		}
	}
	if err := e.acquireCommit(changeID); err != nil {
		return nil, err
	}
	defer e.release(changeID)
	log := e.log().With("change", changeID)
	rec := &Record{ChangeID: changeID, Devices: map[string]*DeviceRecord{}, Started: e.now()}
	if len(stages) > 1 {
		rec.Stages = stages
	}
	for dev, dops := range ops {
		for i, op := range dops {
			if _, err := change.ParsePath(op.Path); err != nil {
				return nil, fmt.Errorf("commit: %s: device %s op %d: %w", changeID, dev, i, err)
			}
		}
		rec.Devices[dev] = &DeviceRecord{Ops: dops, Status: DevicePending}
	}
	if len(rec.Devices) == 0 {
		if confirm <= 0 {
			rec.Phase = PhaseConfirmed
			return rec, e.save(ctx, rec)
		}
		// A change without device operations (a twin-only change, e.g. an inter-domain
		// sub-slice's reservation) honours its confirm window too: it is confirmed or
		// rolled back like any other, and the live twin moves only on confirmation.
		rec.Phase = PhaseAwaitingConfirm
		rec.ConfirmDeadline = e.now().Add(confirm)
		if err := e.save(ctx, rec); err != nil {
			return nil, err
		}
		e.openWindow(rec, confirm)
		log.Info("twin-only commit awaiting confirmation", "deadline", rec.ConfirmDeadline)
		return rec.Clone(), nil
	}
	ids := rec.DeviceIDs()

	e.dropReadBack(changeID)
	// 1. pre-images
	handles := make(map[string]Device, len(ids))
	var hmu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.limit())
	for _, id := range ids {
		dr := rec.Devices[id]
		g.Go(func() error {
			dctx, cancel := context.WithTimeout(gctx, e.devTimeout())
			defer cancel()
			d, err := e.Devices.Device(dctx, id)
			if err != nil {
				return fmt.Errorf("device %s: %w", id, err)
			}
			pre, err := capture(dctx, d, dr.Ops)
			if err != nil {
				return fmt.Errorf("device %s: capture pre-image: %w", id, err)
			}
			dr.PreImage = pre
			hmu.Lock()
			handles[id] = d
			hmu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		// Nothing was touched: the commit ends rolled back without any Set.
		rec.Phase = PhaseRolledBack
		rec.Reason = "pre-image capture failed, no device was changed: " + err.Error()
		for _, dr := range rec.Devices {
			dr.Status = DeviceUnchanged
		}
		log.Warn("commit aborted before any set", "err", err)
		return rec, errors.Join(fmt.Errorf("%w: %s: %s", ErrRolledBack, changeID, rec.Reason), e.save(ctx, rec))
	}
	// 2. journal the pre-images, then apply and verify in parallel
	rec.Phase = PhaseApplying
	if err := e.save(ctx, rec); err != nil {
		rec.Phase = PhaseRolledBack
		rec.Reason = "journal failed, no device was changed: " + err.Error()
		for _, dr := range rec.Devices {
			dr.Status = DeviceUnchanged
		}
		return rec, fmt.Errorf("%w: %s: %s", ErrRolledBack, changeID, rec.Reason)
	}
	order := stages
	if len(order) == 0 {
		order = [][]string{ids}
	}
	for si, stage := range order {
		if unanswered, err := e.applyStage(ctx, changeID, rec, handles, stage); err != nil {
			log.Warn("commit failed, rolling back", "err", err, "stage", si+1)
			what := "apply failed: "
			if len(order) > 1 {
				what = fmt.Sprintf("apply failed in stage %d of %d: ", si+1, len(order))
			}
			return e.rollbackUnanswered(ctx, rec, what+err.Error(), unanswered)
		}
		if len(order) > 1 {
			rec.StagesDone = si + 1
			if si+1 < len(order) {
				// verification between stages: the stage's devices were read back
				// above; the Verify hook (telemetry) runs before the next stage
				if e.Verify != nil {
					if err := e.Verify(ctx, changeID); err != nil {
						return e.rollback(ctx, rec, fmt.Sprintf("verification after stage %d of %d failed: %s", si+1, len(order), err))
					}
				}
				if err := e.save(ctx, rec); err != nil {
					return e.rollback(ctx, rec, "journal failed: "+err.Error())
				}
				log.Info("stage applied and verified", "stage", si+1, "of", len(order), "devices", len(stage))
			}
		}
	}

	if confirm <= 0 {
		if e.Verify != nil {
			if err := e.Verify(ctx, changeID); err != nil {
				return e.rollback(ctx, rec, "post-commit verification failed: "+err.Error())
			}
		}
		rec.Phase = PhaseConfirmed
		log.Info("commit confirmed", "devices", len(ids))
		return rec, e.save(ctx, rec)
	}
	rec.Phase = PhaseAwaitingConfirm
	rec.ConfirmDeadline = e.now().Add(confirm)
	if err := e.save(ctx, rec); err != nil {
		return e.rollback(ctx, rec, "journal failed: "+err.Error())
	}
	e.openWindow(rec, confirm)
	if testHookWindowOpened != nil {
		testHookWindowOpened(changeID)
	}
	log.Info("commit applied, awaiting confirmation", "deadline", rec.ConfirmDeadline)
	return rec.Clone(), nil
}

// applyStage sets the devices devs of rec in parallel and reads each back; the first
// error is returned (the caller rolls back), with the devices whose Set was sent and
// got no answer (a transport error or the device timeout, not a refusal).
//
// A Set once sent runs to its answer (or the device timeout): neither another device's
// failure nor the caller's context cancels it. A cancelled Set is not an unsent one — the
// request may be on the wire and be executed after the rollback has read the device at
// its pre-image and left it alone, leaving the device at the intent under a record that
// says rolled back (torture seed 186). Waiting for the answer makes a device that
// applied the Set acknowledged, so the rollback restores it. After a failure (or the
// caller's cancellation) no further Set is started: those devices stay pending, i.e.
// unchanged.
func (e *Engine) applyStage(ctx context.Context, changeID string, rec *Record, handles map[string]Device, devs []string) (map[string]bool, error) {
	var mu sync.Mutex // guards device records and unanswered during the parallel phase
	unanswered := map[string]bool{}
	var stop atomic.Bool
	var g errgroup.Group
	g.SetLimit(e.limit())
	sctx := context.WithoutCancel(ctx)
	for _, id := range devs {
		dr := rec.Devices[id]
		d := handles[id]
		g.Go(func() error {
			if stop.Load() {
				return nil // never sent: stays pending (unchanged)
			}
			if err := ctx.Err(); err != nil {
				stop.Store(true)
				return fmt.Errorf("device %s: not set: %w", id, err)
			}
			dctx, cancel := context.WithTimeout(sctx, e.devTimeout())
			defer cancel()
			if err := d.Set(dctx, dr.Ops); err != nil {
				stop.Store(true)
				mu.Lock()
				dr.Status = DeviceUnknown
				if isRejection(err) {
					dr.Status = DeviceRejected
				} else {
					unanswered[id] = true
				}
				dr.Error = err.Error()
				mu.Unlock()
				return fmt.Errorf("device %s: set: %w", id, err)
			}
			mu.Lock()
			dr.Status = DeviceUnknown // applied per the device, not verified yet
			dr.Acked = true
			mu.Unlock()
			if err := e.verifyDevice(dctx, changeID, id, d, dr); err != nil {
				stop.Store(true)
				mu.Lock()
				dr.Error = err.Error()
				mu.Unlock()
				return fmt.Errorf("device %s: read-back: %w", id, err)
			}
			mu.Lock()
			dr.Status = DeviceApplied
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	return unanswered, err
}

// rejection is implemented by device errors that say the device refused the request
// and left its configuration unchanged.
type rejection interface{ Rejected() bool }

func isRejection(err error) bool {
	var r rejection
	return errors.As(err, &r) && r.Rejected()
}

// expected builds the value each touched path must have after ops, from the pre-image.
func expected(dr *DeviceRecord, after bool) (map[string]any, error) {
	t := change.Tree{}
	// place pre-image values, shortest paths first so deeper ones refine them
	pre := append([]PathValue(nil), dr.PreImage...)
	sort.SliceStable(pre, func(i, j int) bool { return len(pre[i].Path) < len(pre[j].Path) })
	for _, pv := range pre {
		if len(pv.Value) == 0 {
			continue
		}
		if err := change.ApplyOp(t, change.Op{Op: change.OpReplace, Path: pv.Path, Value: pv.Value}); err != nil {
			return nil, fmt.Errorf("pre-image %s: %w", pv.Path, err)
		}
	}
	if after {
		if err := change.ApplyOps(t, dr.Ops); err != nil {
			return nil, err
		}
	}
	out := map[string]any{}
	if after {
		// created entries must exist after the change: their ops are checked below
		touched := touchedPaths(dr.Ops)
		for _, pv := range dr.PreImage {
			p, err := change.ParsePath(pv.Path)
			if err == nil && !slices.Contains(touched, pv.Path) {
				continue
			}
			if v, ok := change.Lookup(t, p); ok {
				out[pv.Path] = v
			} else {
				out[pv.Path] = nil
			}
		}
		return out, nil
	}
	for _, pv := range dr.PreImage {
		p, _ := change.ParsePath(pv.Path)
		if v, ok := change.Lookup(t, p); ok {
			out[pv.Path] = v
		} else {
			out[pv.Path] = nil
		}
	}
	return out, nil
}

// verify reads the touched paths back and compares them with want (nil = absent).
func verify(ctx context.Context, d Device, paths []string, want map[string]any) error {
	got, err := d.Get(ctx, paths)
	if err != nil {
		return err
	}
	for _, p := range paths {
		w := want[p]
		raw, ok := got[p]
		if w == nil {
			if ok && len(raw) > 0 && string(raw) != "null" && !emptyJSON(raw) {
				return fmt.Errorf("%s: want no data, device has %s", p, raw)
			}
			continue
		}
		if !ok {
			return fmt.Errorf("%s: device has no data", p)
		}
		gv, err := change.ParseTree(wrap(raw))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if !change.Contains(gv["v"], w) {
			wb, _ := json.Marshal(w)
			return fmt.Errorf("%s: device has %s, want %s", p, raw, wb)
		}
	}
	return nil
}

func emptyJSON(raw json.RawMessage) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	return emptyValue(v)
}

// wrap turns any JSON value into an object {"v": value} so ParseTree strips prefixes.
func wrap(raw json.RawMessage) []byte {
	b := make([]byte, 0, len(raw)+6)
	b = append(b, `{"v":`...)
	b = append(b, raw...)
	return append(b, '}')
}

// topPaths returns the distinct top-level containers of paths ("/interfaces"), in
// first-use order; ok is false if some path cannot be read through its top-level
// container (a keyed first element).
func topPaths(paths []string) (tops []string, ok bool) {
	seen := map[string]bool{}
	for _, s := range paths {
		p, err := change.ParsePath(s)
		if err != nil || len(p) == 0 || len(p[0].Key) > 0 {
			return nil, false
		}
		t := "/" + p[0].Name
		if !seen[t] {
			seen[t] = true
			tops = append(tops, t)
		}
	}
	return tops, true
}

// verifyTops is verify reading the top-level containers of paths (one Get) and
// looking each path up inside them; it returns what it read, by top-level path.
func verifyTops(ctx context.Context, d Device, paths []string, want map[string]any) (map[string]json.RawMessage, error) {
	tops, ok := topPaths(paths)
	if !ok {
		return nil, verify(ctx, d, paths, want)
	}
	got, err := d.Get(ctx, tops)
	if err != nil {
		return nil, err
	}
	tree := change.Tree{}
	for _, t := range tops {
		raw, ok := got[t]
		if !ok {
			continue
		}
		v, err := change.ParseTree(wrap(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
		tree[t[1:]] = v["v"]
	}
	for _, s := range paths {
		p, _ := change.ParsePath(s)
		w := want[s]
		v, found := change.Lookup(tree, p)
		if w == nil {
			if found && v != nil && !emptyValue(v) {
				b, _ := json.Marshal(v)
				return nil, fmt.Errorf("%s: want no data, device has %s", s, b)
			}
			continue
		}
		if !found {
			return nil, fmt.Errorf("%s: device has no data", s)
		}
		if !change.Contains(v, w) {
			gb, _ := json.Marshal(v)
			wb, _ := json.Marshal(w)
			return nil, fmt.Errorf("%s: device has %s, want %s", s, gb, wb)
		}
	}
	return got, nil
}

func emptyValue(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func verifyIntent(ctx context.Context, d Device, dr *DeviceRecord) error {
	want, err := expected(dr, true)
	if err != nil {
		return err
	}
	return verify(ctx, d, touchedPaths(dr.Ops), want)
}

// restoreOps returns the operations that put a device's touched paths back at the
// pre-image: replace where data existed, delete where none did. Deeper paths are
// restored after shallower ones.
func restoreOps(dr *DeviceRecord) []change.Op {
	pre := append([]PathValue(nil), dr.PreImage...)
	sort.SliceStable(pre, func(i, j int) bool { return len(pre[i].Path) < len(pre[j].Path) })
	var ops []change.Op
	for _, pv := range pre {
		if len(pv.Value) == 0 || string(pv.Value) == "null" {
			ops = append(ops, change.Op{Op: change.OpDelete, Path: pv.Path})
		} else {
			ops = append(ops, change.Op{Op: change.OpReplace, Path: pv.Path, Value: pv.Value})
		}
	}
	return ops
}

// restoreDevice restores one device and verifies it by read-back. A device already at
// its pre-image is sent nothing, unless unanswered: its Set was sent and got no answer,
// so the request may still be executed after this read (torture seed 186: a Set that
// reached a device in one burst with the read ran after it). Such a device is read
// first all the same — the read's answer comes back after everything sent before it
// has reached the device — and then sent its restore and read back.
func (e *Engine) restoreDevice(ctx context.Context, id string, dr *DeviceRecord, unanswered bool) error {
	dctx, cancel := context.WithTimeout(ctx, e.devTimeout())
	defer cancel()
	d, err := e.Devices.Device(dctx, id)
	if err != nil {
		return err
	}
	want, err := expected(dr, false)
	if err != nil {
		return err
	}
	paths := make([]string, len(dr.PreImage))
	for i, pv := range dr.PreImage {
		paths[i] = pv.Path
	}
	// Already at the pre-image (never changed, or restored before a crash): no Set.
	if verify(dctx, d, paths, want) == nil && !unanswered {
		return nil
	}
	if err := d.Set(dctx, restoreOps(dr)); err != nil {
		return fmt.Errorf("restore set: %w", err)
	}
	if err := verify(dctx, d, paths, want); err != nil {
		return fmt.Errorf("restore read-back: %w", err)
	}
	return nil
}

// rollback restores every device of rec that may have changed and ends the commit as
// rolled_back (or failed if a changed device could not be restored).
func (e *Engine) rollback(ctx context.Context, rec *Record, reason string) (*Record, error) {
	return e.rollbackUnanswered(ctx, rec, reason, nil)
}

// rollbackUnanswered is rollback after an apply whose Sets to the devices unanswered
// got no answer: those are sent their restore even if they read at their pre-image.
func (e *Engine) rollbackUnanswered(ctx context.Context, rec *Record, reason string, unanswered map[string]bool) (*Record, error) {
	ctx = context.WithoutCancel(ctx)
	e.dropReadBack(rec.ChangeID)
	log := e.log().With("change", rec.ChangeID)
	rec.Phase = PhaseRollingBack
	if rec.Reason == "" {
		rec.Reason = reason
	}
	if err := e.save(ctx, rec); err != nil {
		log.Error("journal rolling_back", "err", err)
	}
	e.restoreAll(ctx, rec, unanswered)
	if err := e.save(ctx, rec); err != nil {
		log.Error("journal rollback result", "err", err)
	}
	if rec.Phase == PhaseFailed {
		return rec.Clone(), fmt.Errorf("%w: %s: %s", ErrFailed, rec.ChangeID, rec.Reason)
	}
	return rec.Clone(), fmt.Errorf("%w: %s: %s", ErrRolledBack, rec.ChangeID, rec.Reason)
}

// restoreAll restores the devices in parallel and sets rec.Phase and rec.Pending.
// Devices that were never sent a Set, or that refused it, are unchanged and skipped;
// unanswered ones are sent their restore whatever they read (see restoreDevice).
func (e *Engine) restoreAll(ctx context.Context, rec *Record, unanswered map[string]bool) {
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(e.limit())
	for _, id := range rec.DeviceIDs() {
		dr := rec.Devices[id]
		switch dr.Status {
		case DevicePending, DeviceRejected:
			dr.Status = DeviceUnchanged
			continue
		case DeviceUnchanged, DeviceRestored:
			continue
		}
		g.Go(func() error {
			err := e.restoreDevice(ctx, id, dr, unanswered[id])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				dr.Status = DeviceRestoreFailed
				if dr.Error != "" {
					dr.Error += "; "
				}
				dr.Error += "restore: " + err.Error()
				return nil
			}
			dr.Status = DeviceRestored
			return nil
		})
	}
	_ = g.Wait()
	rec.Pending = false
	rec.Phase = PhaseRolledBack
	for _, dr := range rec.Devices {
		if dr.Status != DeviceRestoreFailed {
			continue
		}
		// Recover keeps retrying the device. A device that acknowledged its Set and
		// could not be restored leaves the network half-applied: the commit failed.
		rec.Pending = true
		if dr.Acked {
			rec.Phase = PhaseFailed
		}
	}
}

func (e *Engine) openWindow(rec *Record, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.windows == nil {
		e.windows = map[string]*window{}
	}
	w := &window{rec: rec}
	w.timer = time.AfterFunc(d, func() { e.expire(rec.ChangeID, w) })
	e.windows[rec.ChangeID] = w
}

// takeWindow removes and returns the open window of a change, stopping its timer.
func (e *Engine) takeWindow(id string) *window {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.windows[id]
	if w == nil || w.done {
		return nil
	}
	w.done = true
	w.timer.Stop()
	delete(e.windows, id)
	return w
}

func (e *Engine) expire(id string, w *window) {
	e.mu.Lock()
	if w.done || e.windows[id] != w {
		e.mu.Unlock()
		return
	}
	w.done = true // Confirm and Rollback find no window from now on
	e.mu.Unlock()
	// The rollback is this goroutine's to do: wait for whoever holds the change (Commit
	// still returning, a Confirm or Rollback about to find no window) instead of
	// dropping the expiry, which would leave the devices changed and the journal
	// awaiting a confirmation nobody can give. The window stays listed until then, so
	// a new Commit of the change is refused meanwhile.
	e.acquireWait(id)
	e.mu.Lock()
	if e.windows[id] == w {
		delete(e.windows, id)
	}
	e.mu.Unlock()
	rec, _ := e.rollback(context.Background(), w.rec, "confirm window expired")
	e.release(id)
	if e.OnResolved != nil {
		go e.OnResolved(rec)
	}
}

// Pending returns the IDs of changes awaiting confirmation, sorted.
func (e *Engine) Pending() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.windows))
	for id, w := range e.windows {
		if !w.done {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Confirm ends the confirm window of a change: it reads every device back, runs the
// engine's Verify hook and, if both pass, marks the commit confirmed. If verification
// fails, every device is restored and the error wraps ErrRolledBack or ErrFailed.
// While the change is held by another call (Commit still returning, another Confirm
// or Rollback) it returns ErrBusy and the window stays open.
func (e *Engine) Confirm(ctx context.Context, changeID string) (*Record, error) {
	// Hold the change before taking its window: a busy change keeps its window (and
	// with it the expiry).
	if err := e.acquire(changeID); err != nil {
		return nil, err
	}
	defer e.release(changeID)
	w := e.takeWindow(changeID)
	if w == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotPending, changeID)
	}
	rec := w.rec
	var g errgroup.Group
	g.SetLimit(e.limit())
	for _, id := range rec.DeviceIDs() {
		dr := rec.Devices[id]
		g.Go(func() error {
			dctx, cancel := context.WithTimeout(ctx, e.devTimeout())
			defer cancel()
			d, err := e.Devices.Device(dctx, id)
			if err != nil {
				return fmt.Errorf("device %s: %w", id, err)
			}
			if err := e.verifyDevice(dctx, changeID, id, d, dr); err != nil {
				return fmt.Errorf("device %s: %w", id, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return e.rollback(ctx, rec, "confirmation read-back failed: "+err.Error())
	}
	if e.Verify != nil {
		if err := e.Verify(ctx, changeID); err != nil {
			return e.rollback(ctx, rec, "confirmation verification failed: "+err.Error())
		}
	}
	rec.Phase = PhaseConfirmed
	if err := e.save(ctx, rec); err != nil {
		return e.rollback(ctx, rec, "journal failed: "+err.Error())
	}
	return rec.Clone(), nil
}

// Rollback restores the devices of a change from their pre-images: during its confirm
// window, or after it was confirmed (the journal keeps the pre-images). The returned
// error wraps ErrRolledBack on success (the devices are at the pre-image) — callers
// test errors.Is(err, ErrFailed) for the failure case — or another error if there
// is nothing to roll back.
func (e *Engine) Rollback(ctx context.Context, changeID, reason string) (*Record, error) {
	// As Confirm: hold the change first so that a busy one keeps its window.
	if err := e.acquire(changeID); err != nil {
		return nil, err
	}
	defer e.release(changeID)
	rec := (*Record)(nil)
	if w := e.takeWindow(changeID); w != nil {
		rec = w.rec
	} else {
		r, err := e.Journal.Load(ctx, changeID)
		if err != nil {
			return nil, err
		}
		if r.Phase != PhaseConfirmed {
			return r, fmt.Errorf("%w: %s is %s", ErrNotPending, changeID, r.Phase)
		}
		rec = r
		for _, dr := range rec.Devices {
			dr.Status = DeviceApplied
			dr.Acked = true
		}
	}
	rec.Reason = ""
	return e.rollback(ctx, rec, reason)
}

// Recover finishes or rolls back the commits a previous process left unfinished:
// confirmed commits are finished (returned as they are), commits still awaiting
// confirmation keep their window if its deadline has not passed, and every other
// unfinished commit is rolled back. Records with devices still pending restoration are
// retried. It returns the records it resolved (final phase), for the caller to update
// change states; windows it reopened resolve later through OnResolved.
func (e *Engine) Recover(ctx context.Context) ([]*Record, error) {
	recs, err := e.Journal.Unfinished(ctx)
	if err != nil {
		return nil, fmt.Errorf("commit: recover: %w", err)
	}
	var out []*Record
	for _, rec := range recs {
		log := e.log().With("change", rec.ChangeID, "phase", rec.Phase)
		switch {
		case rec.Phase == PhaseAwaitingConfirm && e.now().Before(rec.ConfirmDeadline):
			log.Info("recover: reopening confirm window")
			e.openWindow(rec, rec.ConfirmDeadline.Sub(e.now()))
			continue
		case rec.Phase.Final() && !rec.Pending:
			out = append(out, rec)
			continue
		}
		if err := e.acquire(rec.ChangeID); err != nil {
			continue
		}
		reason := "controller restarted during " + string(rec.Phase)
		if rec.Pending {
			reason = rec.Reason
		}
		if rec.Phase == PhaseAwaitingConfirm {
			reason = "confirm window expired while the controller was down"
		}
		for _, dr := range rec.Devices {
			switch dr.Status {
			case DevicePending, DeviceApplied, DeviceRestoreFailed:
				// The journal is written at phase boundaries, so a device listed as
				// pending may have been set before the crash: check and restore it.
				dr.Status = DeviceUnknown
			}
		}
		wasFailed := rec.Phase == PhaseFailed
		rec.Reason = ""
		r, _ := e.rollback(ctx, rec, reason)
		if wasFailed && r.Phase == PhaseRolledBack {
			r.Reason = "recovered: " + r.Reason
		}
		e.release(rec.ChangeID)
		log.Info("recover: rolled back", "result", r.Phase, "pending", r.Pending)
		out = append(out, r)
	}
	return out, nil
}

// Close stops the confirm timers without resolving the windows (their records stay
// awaiting_confirm in the journal; Recover resumes them).
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, w := range e.windows {
		w.timer.Stop()
		w.done = true
		delete(e.windows, id)
	}
}
