package change

import (
	"encoding/json"
	"sort"
	"time"
)

// CommitPhase is the progress of a commit (see physical/commit).
type CommitPhase string

// Commit phases.
const (
	PhasePrepared        CommitPhase = "prepared"         // pre-images captured and journaled
	PhaseApplying        CommitPhase = "applying"         // Sets in flight
	PhaseAwaitingConfirm CommitPhase = "awaiting_confirm" // applied and verified, window open
	PhaseConfirmed       CommitPhase = "confirmed"        // final: devices at the intent
	PhaseRollingBack     CommitPhase = "rolling_back"     // restoring pre-images
	PhaseRolledBack      CommitPhase = "rolled_back"      // final: devices at the pre-image
	PhaseFailed          CommitPhase = "failed"           // final: some changed device not restored
)

// Final reports whether the phase ends a commit.
func (p CommitPhase) Final() bool {
	return p == PhaseConfirmed || p == PhaseRolledBack || p == PhaseFailed
}

// DeviceStatus is one device's progress.
type DeviceStatus string

// Device statuses.
const (
	DevicePending       DeviceStatus = "pending"        // not set yet
	DeviceApplied       DeviceStatus = "applied"        // set and read back as intended
	DeviceUnknown       DeviceStatus = "unknown"        // Set failed or timed out: may or may not have applied
	DeviceRejected      DeviceStatus = "rejected"       // Set refused by the device: unchanged
	DeviceRestored      DeviceStatus = "restored"       // back at the pre-image, verified
	DeviceRestoreFailed DeviceStatus = "restore_failed" // could not be restored (yet)
	DeviceUnchanged     DeviceStatus = "unchanged"      // never set, or refused the Set
)

// PathValue is the value at a path; a nil Value means the path held no data.
type PathValue struct {
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// CommitDevice is the commit state of one device.
type CommitDevice struct {
	Ops      []Op         `json:"ops"`
	PreImage []PathValue  `json:"pre_image"`
	Status   DeviceStatus `json:"status"`
	// Acked is true once the device acknowledged its Set (so it holds the change).
	Acked bool   `json:"acked,omitempty"`
	Error string `json:"error,omitempty"`
}

// CommitRecord is the durable state of one commit.
type CommitRecord struct {
	ChangeID string                   `json:"change_id"`
	Phase    CommitPhase              `json:"phase"`
	Devices  map[string]*CommitDevice `json:"devices"`
	// ConfirmDeadline is when an unconfirmed commit rolls back; zero without a window.
	ConfirmDeadline time.Time `json:"confirm_deadline,omitzero"`
	// Reason says why the commit rolled back or failed.
	Reason string `json:"reason,omitempty"`
	// Pending is true while some device could not be verified at its pre-image after a
	// rollback (e.g. it was unreachable); Recover keeps retrying it.
	Pending bool `json:"pending,omitempty"`
	// Stages are the device groups of a staged rollout in order (the push policy's
	// stages); StagesDone counts the stages applied and verified. Empty: one stage.
	Stages     [][]string `json:"stages,omitempty"`
	StagesDone int        `json:"stages_done,omitempty"`
	Started    time.Time  `json:"started"`
	Updated    time.Time  `json:"updated"`
}

// Clone deep-copies the record.
func (r *CommitRecord) Clone() *CommitRecord {
	b, _ := json.Marshal(r)
	var out CommitRecord
	_ = json.Unmarshal(b, &out)
	return &out
}

// DeviceIDs returns the record's devices, sorted.
func (r *CommitRecord) DeviceIDs() []string {
	out := make([]string, 0, len(r.Devices))
	for d := range r.Devices {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}
