package repository

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"
)

// Sentinel errors. Every error returned by a Store wraps exactly one of them (or a
// context error, or a backend I/O error), so callers classify with errors.Is.
var (
	// ErrNotFound: the addressed record (change, snapshot, user, token...) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: an optimistic check failed (the change is no longer in the expected
	// state, a record with that ID or revision already exists).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is malformed (empty ID, NaN sample, unknown state...). The
	// error text names the offending field.
	ErrInvalid = errors.New("invalid input")
	// ErrIllegalTransition: the requested state transition is not allowed by the change
	// state machine. It also matches ErrInvalid.
	ErrIllegalTransition = &illegalTransitionError{}
	// ErrUnsupportedDSN: Open was given a DSN whose scheme names no backend.
	ErrUnsupportedDSN = errors.New("unsupported DSN")
	// ErrSchemaTooNew: the database was migrated by a newer twinflow than this binary.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store closed")
)

type illegalTransitionError struct{}

func (*illegalTransitionError) Error() string { return "illegal state transition" }
func (*illegalTransitionError) Unwrap() error { return ErrInvalid }

// Store is the data repository of one twinflow instance. Implementations are safe for
// concurrent use. Obtain one with Open; Close it when done.
type Store interface {
	Changes() Changes
	Ledger() Ledger
	Telemetry() Telemetry
	Snapshots() Snapshots
	Intents() Intents
	Datasets() Datasets
	Certifications() Certifications
	// Policies holds named policies an administrator sets (the push policy).
	Policies() Policies
	Users() Users
	Tokens() Tokens
	// Monitoring stores KPIs, alarms and predicted-vs-observed records (docs/monitoring.md).
	Monitoring() Monitoring
	// ZTP holds zero-touch provisioning roles and devices (ztp.go).
	ZTP() ZTP
	// Backend names the backend: "postgres" or "sqlite".
	Backend() string
	// SchemaVersion is the migration version the database is at.
	SchemaVersion() int
	Close() error
}

// Options configures Open. The zero value is usable.
type Options struct {
	// Logger receives diagnostic logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock used for record times; nil means time.Now.
	Now func() time.Time
	// MaxConns bounds the PostgreSQL pool (0: pgx default).
	MaxConns int32
}

// ---- changes ----

// ChangeState is a state of the change pipeline (see ARCHITECTURE.md).
type ChangeState string

// Change states.
const (
	StateDraft      ChangeState = "draft"
	StateValidating ChangeState = "validating"
	StateValidated  ChangeState = "validated"
	StateRejected   ChangeState = "rejected"
	StateApproved   ChangeState = "approved"
	StateCommitting ChangeState = "committing"
	StateCommitted  ChangeState = "committed"
	StateRolledBack ChangeState = "rolled_back"
	StateFailed     ChangeState = "failed"
)

// transitions lists, for each state, the states it may move to. States without
// successors are terminal.
var transitions = map[ChangeState][]ChangeState{
	StateDraft:      {StateValidating, StateRejected},
	StateValidating: {StateValidated, StateRejected, StateFailed},
	StateValidated:  {StateApproved, StateRejected, StateValidating},
	StateApproved:   {StateCommitting, StateRejected},
	StateCommitting: {StateCommitted, StateRolledBack, StateFailed},
	StateCommitted:  nil,
	StateRejected:   nil,
	StateRolledBack: nil,
	StateFailed:     nil,
}

// Valid reports whether s is a known state.
func (s ChangeState) Valid() bool { _, ok := transitions[s]; return ok }

// Terminal reports whether no transition leaves s.
func (s ChangeState) Terminal() bool { return s.Valid() && len(transitions[s]) == 0 }

// CanTransition reports whether the state machine allows from -> to.
func CanTransition(from, to ChangeState) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Change is one change (a ChangeSet going through the pipeline). Payload and Report are
// JSON documents owned by the caller (the twin/apps encode them).
type Change struct {
	ID      string          `json:"id"`
	TwinID  string          `json:"twin_id"`
	Title   string          `json:"title,omitempty"`
	Author  string          `json:"author,omitempty"`
	State   ChangeState     `json:"state"`
	Payload json.RawMessage `json:"payload,omitempty"`
	// Report is the latest report attached by a transition (validation or commit report).
	Report json.RawMessage `json:"report,omitempty"`
	// Version counts transitions; it increases by one on each.
	Version int64     `json:"version"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Transition is one recorded state transition of a change.
type Transition struct {
	ChangeID string          `json:"change_id"`
	Version  int64           `json:"version"` // the change's Version after this transition
	From     ChangeState     `json:"from"`
	To       ChangeState     `json:"to"`
	Actor    string          `json:"actor,omitempty"`
	Reason   string          `json:"reason,omitempty"`
	Report   json.RawMessage `json:"report,omitempty"`
	At       time.Time       `json:"at"`
	// LedgerSeq is the sequence number of the ledger record written with this transition.
	LedgerSeq int64 `json:"ledger_seq"`
}

// TransitionRequest asks to move a change from From to To. From is the state the caller
// believes the change is in: if another writer moved it first the request fails with
// ErrConflict (optimistic concurrency).
type TransitionRequest struct {
	From   ChangeState
	To     ChangeState
	Actor  string
	Reason string
	// Report, if set, replaces the change's report (a JSON document).
	Report json.RawMessage
	// Ledger lists further ledger records appended in the same transaction, after the
	// transition's own record: they are durable together with the transition or not
	// at all (e.g. a commit journal record that must not exist without the move to
	// committing, and vice versa).
	Ledger []LedgerEntry
}

// ChangeFilter selects changes for List. Zero fields match everything.
type ChangeFilter struct {
	TwinID string
	State  ChangeState
	// UpdatedAfter, if non-zero, keeps changes updated strictly after it.
	UpdatedAfter time.Time
	// AfterID is a pagination cursor: only IDs sorting after it are returned.
	AfterID string
	// Limit bounds the result (0: no bound).
	Limit int
}

// Changes stores changes and their transitions. Create and Transition write a ledger
// record in the same transaction as the change: both are visible or neither is.
type Changes interface {
	// Create stores a new change in state draft (c.State must be empty or draft).
	// Created/Updated are set by the store. ErrConflict if the ID exists.
	Create(ctx context.Context, c Change) (Change, error)
	Get(ctx context.Context, id string) (Change, error)
	// List returns changes ordered by ID.
	List(ctx context.Context, f ChangeFilter) ([]Change, error)
	// Transition applies req atomically with its ledger record ("change.transition").
	Transition(ctx context.Context, id string, req TransitionRequest) (Change, Transition, error)
	// TransitionSteps applies several transitions in order (each step's From is the
	// previous step's To) in one transaction: all are recorded, each with its ledger
	// record and transition row, or none is. The change is never durably in the
	// intermediate states.
	TransitionSteps(ctx context.Context, id string, steps ...TransitionRequest) (Change, []Transition, error)
	// CreateWith is Create followed by TransitionSteps (the first step from draft), in
	// one transaction.
	CreateWith(ctx context.Context, c Change, steps ...TransitionRequest) (Change, []Transition, error)
	// Transitions returns the change's transitions in order.
	Transitions(ctx context.Context, id string) ([]Transition, error)
}

// ---- ledger ----

// Ledger record kinds written by the repository itself. Other kinds may be appended
// by callers (lower-case dotted names).
const (
	KindChangeCreated    = "change.created"
	KindChangeTransition = "change.transition"
	KindDeviceSoftware   = "device.software"
	KindCommitResult     = "commit.result"
)

// LedgerEntry is what a caller appends.
type LedgerEntry struct {
	Kind    string          `json:"kind"`
	Subject string          `json:"subject"`
	Payload json.RawMessage `json:"payload"`
}

// LedgerRecord is a stored, hash-chained ledger record.
type LedgerRecord struct {
	Seq      int64           `json:"seq"`
	Time     time.Time       `json:"time"`
	Kind     string          `json:"kind"`
	Subject  string          `json:"subject"`
	Payload  json.RawMessage `json:"payload"`
	PrevHash []byte          `json:"prev_hash"`
	Hash     []byte          `json:"hash"`
}

// VerifyResult is the outcome of Ledger.Verify. FirstBad is the sequence number of the
// first record that fails verification (nil when OK).
type VerifyResult struct {
	OK       bool   `json:"ok"`
	Records  int    `json:"records"`
	FirstBad *int64 `json:"first_bad,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Ledger is the append-only, hash-chained record of change transitions, device software
// versions and commit results (REQ-DLT-03, REQ-DLT-04).
type Ledger interface {
	// Append writes one record in its own transaction.
	Append(ctx context.Context, e LedgerEntry) (LedgerRecord, error)
	// List returns up to limit records with Seq >= from, in order (limit 0: all).
	List(ctx context.Context, from int64, limit int) ([]LedgerRecord, error)
	// Verify re-computes the chain and reports the first edited, deleted, inserted or
	// reordered record.
	Verify(ctx context.Context) (VerifyResult, error)
}

// ---- telemetry ----

// Sample is one telemetry value of a series (device, interface, metric) at a time.
// Interface may be empty for device-level metrics.
type Sample struct {
	Device    string
	Interface string
	Metric    string
	Time      time.Time
	Value     float64
}

// Point is a point of a Range result. For raw queries (Step 0) Avg=Min=Max=the value and
// Count=1; for downsampled queries Time is the bucket start.
type Point struct {
	Time  time.Time `json:"time"`
	Avg   float64   `json:"avg"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
	Count int64     `json:"count"`
}

// RangeQuery selects samples of one series with From <= Time < To. Step > 0
// downsamples into buckets [From+k*Step, From+(k+1)*Step); empty buckets are omitted.
type RangeQuery struct {
	Device, Interface, Metric string
	From, To                  time.Time
	Step                      time.Duration
}

// Series identifies a time series.
type Series struct {
	Device    string `json:"device"`
	Interface string `json:"interface"`
	Metric    string `json:"metric"`
}

// Telemetry stores time series samples. Timestamps are kept with nanosecond precision.
type Telemetry interface {
	// Append stores samples atomically (all or none). Bad samples (NaN/Inf, empty device
	// or metric, zero time) reject the whole batch with ErrInvalid naming the index.
	Append(ctx context.Context, samples []Sample) error
	Range(ctx context.Context, q RangeQuery) ([]Point, error)
	// Prune deletes samples older than olderThan and returns how many were deleted.
	Prune(ctx context.Context, olderThan time.Time) (int64, error)
	// Series lists the known series.
	Series(ctx context.Context) ([]Series, error)
	// Compact merges each series' small chunks (left by small appends) into full ones
	// and returns how many rows it removed. Run it periodically; it is safe beside
	// concurrent appends and queries.
	Compact(ctx context.Context) (int64, error)
}

// ---- snapshots and the intent journal ----

// Snapshot is an opaque encoding of a twin (the twin package chooses the format) at a
// revision of that twin.
type Snapshot struct {
	TwinID   string    `json:"twin_id"`
	Revision int64     `json:"revision"`
	Taken    time.Time `json:"taken"`
	Data     []byte    `json:"data,omitempty"`
}

// Snapshots stores twin snapshots.
type Snapshots interface {
	// Save stores s (Taken set by the store if zero). ErrConflict if (TwinID, Revision)
	// exists.
	Save(ctx context.Context, s Snapshot) (Snapshot, error)
	// Latest returns the snapshot with the highest revision of the twin.
	Latest(ctx context.Context, twinID string) (Snapshot, error)
	Get(ctx context.Context, twinID string, revision int64) (Snapshot, error)
	// List returns the twin's snapshots without Data, by revision ascending. An empty
	// twinID lists all twins.
	List(ctx context.Context, twinID string) ([]Snapshot, error)
	// Delete removes one snapshot.
	Delete(ctx context.Context, twinID string, revision int64) error
}

// IntentRecord is one applied delta of a twin's intended state, journaled so the twin
// can be rebuilt as latest snapshot + the records after its revision.
type IntentRecord struct {
	TwinID   string    `json:"twin_id"`
	Revision int64     `json:"revision"`
	At       time.Time `json:"at"`
	// ChangeID is the change that produced the delta, if any.
	ChangeID string `json:"change_id,omitempty"`
	Payload  []byte `json:"payload"`
}

// Intents is the journal of a twin's intended-state deltas.
type Intents interface {
	// Append stores r; r.Revision must be greater than every journaled revision of the
	// twin (ErrConflict otherwise).
	Append(ctx context.Context, r IntentRecord) (IntentRecord, error)
	// Since returns the twin's records with Revision > after, in order.
	Since(ctx context.Context, twinID string, after int64) ([]IntentRecord, error)
	// Truncate deletes the twin's records with Revision <= upTo (after a snapshot).
	Truncate(ctx context.Context, twinID string, upTo int64) (int64, error)
	// Discard deletes the twin's records with Revision >= from: a record stored by a
	// write that was reported failed (the store's acknowledgement was lost) and that
	// the twin never applied.
	Discard(ctx context.Context, twinID string, from int64) (int64, error)
}

// ---- datasets, certifications ----

// Dataset is the metadata of a generated training dataset.
type Dataset struct {
	ID      string          `json:"id"`
	Name    string          `json:"name"`
	Status  string          `json:"status"`
	Params  json.RawMessage `json:"params,omitempty"`
	Meta    json.RawMessage `json:"meta,omitempty"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
}

// Datasets stores dataset metadata.
type Datasets interface {
	// Put creates or replaces a dataset record.
	Put(ctx context.Context, d Dataset) (Dataset, error)
	Get(ctx context.Context, id string) (Dataset, error)
	List(ctx context.Context) ([]Dataset, error)
	Delete(ctx context.Context, id string) error
}

// Certification is the metadata of one certification run of a change.
type Certification struct {
	ID       string          `json:"id"`
	ChangeID string          `json:"change_id,omitempty"`
	Verdict  string          `json:"verdict"` // e.g. "pass", "fail"
	Report   json.RawMessage `json:"report,omitempty"`
	Created  time.Time       `json:"created"`
}

// Certifications stores certification records.
type Certifications interface {
	Create(ctx context.Context, c Certification) (Certification, error)
	Get(ctx context.Context, id string) (Certification, error)
	// List returns certifications, optionally only those of one change.
	List(ctx context.Context, changeID string) ([]Certification, error)
}

// ---- users and tokens ----

// User is an account. PasswordHash is opaque (the security layer chooses the KDF).
type User struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Role         string    `json:"role"`
	PasswordHash []byte    `json:"-"`
	Created      time.Time `json:"created"`
}

// Users stores accounts.
type Users interface {
	Create(ctx context.Context, u User) (User, error)
	Get(ctx context.Context, id string) (User, error)
	GetByName(ctx context.Context, name string) (User, error)
	List(ctx context.Context) ([]User, error)
	// Update replaces Name, Role and PasswordHash.
	Update(ctx context.Context, u User) (User, error)
	// Delete removes the user and their tokens.
	Delete(ctx context.Context, id string) error
}

// Token is an API token record. Only the SHA-256 hash of the secret is stored (see
// HashToken); the secret itself is never persisted.
type Token struct {
	ID      string    `json:"id"`
	UserID  string    `json:"user_id"`
	Name    string    `json:"name,omitempty"`
	Hash    []byte    `json:"-"`
	Created time.Time `json:"created"`
	// Expires is zero for tokens that never expire.
	Expires time.Time `json:"expires,omitzero"`
	Revoked bool      `json:"revoked"`
}

// Tokens stores API token hashes.
type Tokens interface {
	// Create stores t; t.Hash must be 32 bytes (HashToken of the secret).
	Create(ctx context.Context, t Token) (Token, error)
	// Lookup finds the token with this hash (ErrNotFound if none). It does not check
	// expiry or revocation; the caller does.
	Lookup(ctx context.Context, hash []byte) (Token, error)
	List(ctx context.Context, userID string) ([]Token, error)
	Revoke(ctx context.Context, id string) error
}
