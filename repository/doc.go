// Package repository is TwinFlow's data repository (IRTF DTN reference architecture,
// seed 004 §6 and §7.1): the durable history of changes and their state transitions and
// reports, a hash-chained ledger, telemetry time series, twin snapshots and the intent
// journal, dataset and certification metadata, users and API token hashes.
//
// # Backends
//
// Open chooses the backend from the DSN scheme:
//
//	postgres://... or postgresql://...   PostgreSQL through a pgx/v5 pool (statements
//	                                     prepared and cached per connection; COPY for
//	                                     telemetry)
//	file:PATH                            embedded single-file sqlite (pure Go, no cgo),
//	                                     the default: file:twinflow.db
//
// Any other scheme fails with ErrUnsupportedDSN. Both backends run the same SQL and pass
// the same contract test suite. Versioned migrations are embedded in the binary
// (migrations/<backend>/NNNN_name.sql), recorded in schema_migrations and applied on
// Open; a database migrated by a newer binary is refused with ErrSchemaTooNew.
//
// # What consumers call
//
//	st, err := repository.Open(ctx, dsn, repository.Options{Logger: log})
//	defer st.Close()
//
//	st.Changes().Create / Get / List / Transition / Transitions
//	    Transition(ctx, id, TransitionRequest{From, To, Actor, Reason, Report}) moves a
//	    change only if it is still in From (ErrConflict otherwise), only along the state
//	    machine (ErrIllegalTransition), and writes the transition row and its ledger
//	    record in one transaction.
//	st.Ledger().Append / List / Verify      (REQ-DLT-03, REQ-DLT-04)
//	st.Telemetry().Append / Range / Prune / Compact / Series
//	st.Snapshots().Save / Latest / Get / List / Delete
//	st.Intents().Append / Since / Truncate
//	LoadTwinState(ctx, st, twinID)  -> latest snapshot + journal after it (restart)
//	Checkpoint(ctx, st, snapshot)   -> save a snapshot, truncate the journal it covers
//	st.Datasets(), st.Certifications(), st.Users(), st.Tokens()
//
// # Errors
//
// Every error wraps one sentinel: ErrNotFound, ErrConflict, ErrInvalid (input naming the
// offending field; ErrIllegalTransition also matches it), ErrUnsupportedDSN,
// ErrSchemaTooNew, ErrClosed — or is a backend/context error.
//
// # Ledger
//
// Each record carries the SHA-256 of its predecessor (see LedgerHash for the canonical
// encoding); a one-row head table holding the last seq and hash is locked and updated in
// the appending transaction, so appends are linear under concurrency and truncation of
// the newest records is detected. Verify reports the first edited, deleted, inserted or
// reordered record. See docs/repository.md.
package repository
