package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
)

// ErrUnknownCommit is returned by Journal.Load for a change with no commit record.
var ErrUnknownCommit = errors.New("pipeline: no commit record")

// KindCommitJournal is the ledger kind of commit journal records.
const KindCommitJournal = "commit.journal"

// Journal is the commit engine's durable journal (physical/commit.Journal), kept in
// the repository's hash-chained ledger: every phase of every commit, with the devices'
// pre-images, is one ledger record (kind "commit.journal", subject the change ID), so
// the audit trail shows exactly what was set and what was restored. The latest record
// per change is cached; OpenJournal rebuilds the cache by scanning the ledger once.
type Journal struct {
	ledger  repository.Ledger
	changes repository.Changes

	mu     sync.Mutex // guards latest and armed
	latest map[string]journaled
	armed  map[string]*armedTransition
}

// journaled is the latest record of a change: its encoding (decoded by Load, which
// is rare) and what Unfinished filters on.
type journaled struct {
	raw     []byte
	final   bool
	pending bool
}

func (r journaled) decode() (*change.CommitRecord, error) {
	var cr change.CommitRecord
	if err := json.Unmarshal(r.raw, &cr); err != nil {
		return nil, fmt.Errorf("pipeline: journal: %w", err)
	}
	return &cr, nil
}

// armedTransition is a change transition stored in the same transaction as the next
// journal record of the change (see Journal.arm).
type armedTransition struct {
	req  repository.TransitionRequest
	done bool              // Save ran it (successfully or not)
	rc   repository.Change // the change as stored, when done without err
	err  error
}

// OpenJournal reads the ledger's commit records.
func OpenJournal(ctx context.Context, st repository.Store) (*Journal, error) {
	j := &Journal{ledger: st.Ledger(), changes: st.Changes(), latest: map[string]journaled{},
		armed: map[string]*armedTransition{}}
	const page = 1000
	for from := int64(0); ; {
		recs, err := j.ledger.List(ctx, from, page)
		if err != nil {
			return nil, fmt.Errorf("pipeline: journal: read ledger: %w", err)
		}
		for _, r := range recs {
			if r.Kind != KindCommitJournal {
				continue
			}
			var cr change.CommitRecord
			if err := json.Unmarshal(r.Payload, &cr); err != nil {
				return nil, fmt.Errorf("pipeline: journal: ledger record %d: %w", r.Seq, err)
			}
			j.latest[cr.ChangeID] = journaled{raw: r.Payload, final: cr.Phase.Final(), pending: cr.Pending}
		}
		if len(recs) < page {
			return j, nil
		}
		from = recs[len(recs)-1].Seq + 1
	}
}

// arm makes the next Save of the change's journal also apply req to the change, in
// the same repository transaction: the commit's first journal record (the pre-images,
// written before any device is touched) and the move to committing are durable
// together or not at all. The caller reads the outcome from the returned value after
// the committer returned, and disarms.
func (j *Journal) arm(changeID string, req repository.TransitionRequest) *armedTransition {
	a := &armedTransition{req: req}
	j.mu.Lock()
	j.armed[changeID] = a
	j.mu.Unlock()
	return a
}

// disarm forgets an armed transition Save did not use.
func (j *Journal) disarm(changeID string) {
	j.mu.Lock()
	delete(j.armed, changeID)
	j.mu.Unlock()
}

// Save appends the record to the ledger (durable when it returns).
func (j *Journal) Save(ctx context.Context, rec *change.CommitRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	entry := repository.LedgerEntry{Kind: KindCommitJournal, Subject: rec.ChangeID, Payload: b}
	j.mu.Lock()
	a := j.armed[rec.ChangeID]
	delete(j.armed, rec.ChangeID)
	j.mu.Unlock()
	if a != nil {
		req := a.req
		req.Ledger = append(append([]repository.LedgerEntry(nil), req.Ledger...), entry)
		a.rc, _, a.err = j.changes.Transition(ctx, rec.ChangeID, req)
		a.done = true
		if a.err != nil {
			return fmt.Errorf("pipeline: journal %s with transition %s -> %s: %w", rec.ChangeID, req.From, req.To, a.err)
		}
	} else if _, err := j.ledger.Append(ctx, entry); err != nil {
		return fmt.Errorf("pipeline: journal %s: %w", rec.ChangeID, err)
	}
	j.mu.Lock()
	j.latest[rec.ChangeID] = journaled{raw: b, final: rec.Phase.Final(), pending: rec.Pending}
	j.mu.Unlock()
	return nil
}

// Load returns the latest record of a change.
func (j *Journal) Load(ctx context.Context, changeID string) (*change.CommitRecord, error) {
	j.mu.Lock()
	r, ok := j.latest[changeID]
	j.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCommit, changeID)
	}
	return r.decode()
}

// Unfinished returns the records not in a final phase or with devices pending.
func (j *Journal) Unfinished(ctx context.Context) ([]*change.CommitRecord, error) {
	j.mu.Lock()
	var raws []journaled
	for _, r := range j.latest {
		if !r.final || r.pending {
			raws = append(raws, r)
		}
	}
	j.mu.Unlock()
	out := make([]*change.CommitRecord, 0, len(raws))
	for _, r := range raws {
		cr, err := r.decode()
		if err != nil {
			return nil, err
		}
		out = append(out, cr)
	}
	return out, nil
}
