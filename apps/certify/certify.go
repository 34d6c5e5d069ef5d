// Package certify certifies a change for CI (seed 004 §9.3, issue #18): it runs the
// change pipeline's validation without committing, turns the report into JUnit XML
// (the Jenkins/Ant format CI systems parse) and a Markdown report, and records the
// certification — the report's hash bound to the change's content hash — in the
// repository's Certifications store and the ledger.
//
// Validation runs either in-process on a network snapshot file (Snapshot: a private
// twin and a temporary repository, the very twin/pipeline code a server runs) or on a
// server through the change API (the CLI does that; the server keeps the change as
// validated or rejected and never commits it without an approval).
package certify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
	"github.com/twinflow/twinflow/twin/pipeline"
)

// LedgerKind is the ledger record kind of a certification.
const LedgerKind = "change.certification"

// Result is the outcome of certifying one change.
type Result struct {
	// ChangeID is the ID the validation ran under.
	ChangeID string `json:"change_id"`
	// ContentHash identifies what the change does (ContentHash).
	ContentHash string `json:"content_hash"`
	// Target says where validation ran: "snapshot:<file>" or "server:<url>".
	Target string        `json:"target"`
	Level  change.Level  `json:"level"`
	Passed bool          `json:"passed"`
	Report change.Report `json:"report"`
	// Started is when validation started (UTC); Duration how long it took.
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
}

// ContentHash is the hex SHA-256 of the change's canonical JSON with its identity
// (ID, author, label, comment, request ID) left out: two changes that do the same
// thing have the same content hash, whoever proposes them under whatever ID. It is
// change.ContentHash, which the push policy's certification gate uses too.
func ContentHash(cs *change.ChangeSet) (string, error) { return change.ContentHash(cs) }

// FromReport builds a Result from a validation report.
func FromReport(cs *change.ChangeSet, rep *change.Report, target string, started time.Time, d time.Duration) (*Result, error) {
	if rep == nil {
		return nil, errors.New("certify: validation returned no report")
	}
	h, err := ContentHash(cs)
	if err != nil {
		return nil, err
	}
	lvl := rep.Level
	if lvl == "" {
		lvl = cs.Level
	}
	r := &Result{ChangeID: rep.ChangeID, ContentHash: h, Target: target, Level: lvl, Report: *rep,
		Started: started.UTC(), Duration: d}
	r.Passed = rep.Passed && len(rep.Failed()) == 0
	return r, nil
}

// Snapshot validates cs in-process against the network n: a private live twin holding
// n, a temporary sqlite repository, and twin/pipeline's validation (Propose, which
// validates in a fork and never commits). L2 needs the emulation sandbox, which an
// in-process run does not start: the pipeline reports the L2 check as failed ("L2 not
// available"); certify at L2 through a server that has it.
func Snapshot(ctx context.Context, n *network.Network, cs *change.ChangeSet, target string) (*Result, error) {
	m, err := twin.NewManager(twin.Options{})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	if _, err := m.Live().Update(ctx, func(tx *twin.Txn) error {
		_, err := tx.Apply(n)
		return err
	}); err != nil {
		return nil, fmt.Errorf("certify: load snapshot: %w", err)
	}
	dir, err := os.MkdirTemp("", "twinflow-certify-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st, err := repository.Open(ctx, "file:"+filepath.Join(dir, "certify.db"), repository.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	svc, err := pipeline.New(pipeline.Config{Twins: m, Store: st})
	if err != nil {
		return nil, err
	}
	c := *cs
	start := time.Now()
	ch, err := svc.Propose(ctx, &c, "certify")
	if err != nil && (ch == nil || ch.Report == nil) {
		return nil, fmt.Errorf("certify: validate: %w", err)
	}
	return FromReport(cs, ch.Report, target, start, time.Since(start))
}

// Record stores a certification of r in st: the Certifications store gets the verdict
// and a document binding the report's hash to the change's content hash, and the
// ledger gets the same document (kind LedgerKind), so the binding is tamper-evident.
// reportHash is the hex SHA-256 of the Markdown report handed to the user.
func Record(ctx context.Context, st repository.Store, r *Result, reportHash string) (repository.Certification, error) {
	verdict := "fail"
	if r.Passed {
		verdict = "pass"
	}
	doc, err := json.Marshal(map[string]any{
		"content_hash": r.ContentHash, "report_sha256": reportHash, "level": r.Level,
		"target": r.Target, "verdict": verdict, "started": r.Started, "checks": len(r.Report.Checks),
	})
	if err != nil {
		return repository.Certification{}, err
	}
	id := "cert-" + r.ContentHash[:16] + "-" + reportHash[:16]
	c, err := st.Certifications().Create(ctx, repository.Certification{ID: id, ChangeID: r.ChangeID, Verdict: verdict, Report: doc})
	if err != nil {
		return repository.Certification{}, fmt.Errorf("certify: store certification: %w", err)
	}
	if _, err := st.Ledger().Append(ctx, repository.LedgerEntry{Kind: LedgerKind, Subject: id, Payload: doc}); err != nil {
		return c, fmt.Errorf("certify: ledger: %w", err)
	}
	return c, nil
}
