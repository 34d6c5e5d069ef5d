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
	ledger repository.Ledger

	mu     sync.Mutex // guards latest
	latest map[string]*change.CommitRecord
}

// OpenJournal reads the ledger's commit records.
func OpenJournal(ctx context.Context, st repository.Store) (*Journal, error) {
	j := &Journal{ledger: st.Ledger(), latest: map[string]*change.CommitRecord{}}
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
			j.latest[cr.ChangeID] = &cr
		}
		if len(recs) < page {
			return j, nil
		}
		from = recs[len(recs)-1].Seq + 1
	}
}

// Save appends the record to the ledger (durable when it returns).
func (j *Journal) Save(ctx context.Context, rec *change.CommitRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if _, err := j.ledger.Append(ctx, repository.LedgerEntry{Kind: KindCommitJournal, Subject: rec.ChangeID, Payload: b}); err != nil {
		return fmt.Errorf("pipeline: journal %s: %w", rec.ChangeID, err)
	}
	j.mu.Lock()
	j.latest[rec.ChangeID] = rec.Clone()
	j.mu.Unlock()
	return nil
}

// Load returns the latest record of a change.
func (j *Journal) Load(ctx context.Context, changeID string) (*change.CommitRecord, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.latest[changeID]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownCommit, changeID)
	}
	return r.Clone(), nil
}

// Unfinished returns the records not in a final phase or with devices pending.
func (j *Journal) Unfinished(ctx context.Context) ([]*change.CommitRecord, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*change.CommitRecord
	for _, r := range j.latest {
		if !r.Phase.Final() || r.Pending {
			out = append(out, r.Clone())
		}
	}
	return out, nil
}
