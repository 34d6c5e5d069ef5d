// Package pipeline runs TwinFlow's twin-first change pipeline:
//
//	Propose   store the ChangeSet (draft), fork the live twin, apply the change to the
//	          fork, validate it level by level (L0 static, L1 models, L2 emulation)
//	          and store the report: validated or rejected.
//	Approve   a separate step by an actor (a different one than the author when
//	          Config.DistinctApprover is set).
//	Commit    re-validate if the live twin moved on since validation (refuse if it no
//	          longer passes), then hand the device operations to the Committer
//	          (physical/commit: pre-images, parallel Set, read-back, confirm window,
//	          rollback), then advance the live twin's intended state.
//	Confirm / Rollback   end a confirmed-commit window.
//	Recover   after a restart, finish or roll back interrupted commits and resolve
//	          the changes left in committing.
//
// Every state transition is durable (repository: transition + hash-chained ledger
// record in one transaction) and is published on the twin's event hub as one batched
// event per change (table "changes"); committing a change also publishes one event per
// twin object it touched.
//
// The pipeline reaches the physical network only through the Committer interface and
// the emulation sandbox only through Emulator; both are defined here and satisfied by
// physical/commit.Engine and twin/emulation in the server's wiring.
package pipeline
