package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/twinflow/twinflow/repository"
	"github.com/twinflow/twinflow/twin"
)

// checkpointEvery is how many journaled live-twin transactions trigger a snapshot (the
// journal is truncated after it); a snapshot is also taken at shutdown.
const checkpointEvery = 1000

// openStore opens the repository the server keeps its durable state in: Config.DB, or
// a temporary sqlite file when it is empty (removed at shutdown).
func openStore(ctx context.Context, env *assembly) (repository.Store, error) {
	dsn := env.cfg.DB
	if dsn == "" {
		dir, err := os.MkdirTemp("", "twinflow-serve-")
		if err != nil {
			return nil, err
		}
		env.onShutdown(func(context.Context) error { return os.RemoveAll(dir) })
		dsn = "file:" + filepath.Join(dir, "twinflow.db")
		env.notes = append(env.notes, "Database: temporary, "+dsn+" (removed at shutdown; give --db file:twinflow.db or --db postgres://… to keep state)")
	} else {
		env.notes = append(env.notes, "Database: "+repository.RedactDSN(dsn))
	}
	env.dbShown = repository.RedactDSN(dsn)
	st, err := repository.Open(ctx, dsn, repository.Options{Logger: env.log.With("component", "repository")})
	if err != nil {
		if errors.Is(err, repository.ErrUnsupportedDSN) || errors.Is(err, repository.ErrInvalid) {
			return nil, fmt.Errorf("%w: DB: %v", ErrConfig, err)
		}
		return nil, err
	}
	env.onShutdown(func(context.Context) error { return st.Close() })
	return st, nil
}

// liveJournal persists every intended-state transaction of the live twin into the
// repository's intent journal before it becomes visible, and checkpoints periodically.
type liveJournal struct {
	st      repository.Store
	log     *slog.Logger
	pending chan struct{} // a checkpoint is due (capacity 1: coalesced)
	n       int           // entries since the last checkpoint; guarded by the twin's writer lock
}

func newLiveJournal(st repository.Store, log *slog.Logger) *liveJournal {
	return &liveJournal{st: st, log: log, pending: make(chan struct{}, 1)}
}

// write is a twin.JournalFunc. It runs under the live twin's writer lock.
func (j *liveJournal) write(ctx context.Context, twinID string, e twin.JournalEntry) error {
	payload, err := json.Marshal(e)
	if err != nil {
		return err
	}
	// The write must not be lost because the request that caused it was cancelled
	// after the decision to commit.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rec := repository.IntentRecord{TwinID: twinID, Revision: int64(e.Revision), At: time.Now(), Payload: payload}
	if _, err := j.st.Intents().Append(wctx, rec); err != nil {
		if err := j.settle(wctx, rec, err); err != nil {
			return err
		}
	}
	j.n++
	if j.n >= checkpointEvery {
		j.n = 0
		select {
		case j.pending <- struct{}{}:
		default:
		}
	}
	return nil
}

// settle decides a journal append that failed with appendErr by reading the journal
// back from rec's revision (the twin, at the revision before, is its only writer):
//   - rec is there: the store kept it and only its acknowledgement was lost; the write
//     stands (nil);
//   - nothing is there: it was not stored; the write fails (the twin does not apply it);
//   - other records are there: left by earlier writes that were reported failed, and
//     so never applied by the twin, although the store kept them (an acknowledgement
//     lost while the read-back failed too). They are discarded and rec appended: the
//     journal holds what the twin applied, and a restart does not replay a write its
//     client was told had failed.
//
// If the read-back fails too, the write fails.
func (j *liveJournal) settle(ctx context.Context, rec repository.IntentRecord, appendErr error) error {
	held, err := j.st.Intents().Since(ctx, rec.TwinID, rec.Revision-1)
	if err != nil {
		return errors.Join(appendErr, fmt.Errorf("checking whether the journal holds %s@%d: %w", rec.TwinID, rec.Revision, err))
	}
	switch {
	case len(held) == 0:
		return appendErr
	case len(held) == 1 && held[0].Revision == rec.Revision && bytes.Equal(held[0].Payload, rec.Payload):
		j.log.Warn("journal append reported failed but stored", "twin", rec.TwinID, "revision", rec.Revision, "err", appendErr)
		return nil
	}
	n, err := j.st.Intents().Discard(ctx, rec.TwinID, rec.Revision)
	if err != nil {
		return errors.Join(appendErr, err)
	}
	if _, err := j.st.Intents().Append(ctx, rec); err != nil {
		return err
	}
	j.log.Warn("discarded journal records of writes reported failed", "twin", rec.TwinID, "from", rec.Revision, "records", n)
	return nil
}

// checkpoint saves a snapshot of the live twin and truncates the journal before it.
func (j *liveJournal) checkpoint(ctx context.Context, live *twin.Twin) error {
	s, err := live.ExportState()
	if err != nil {
		return err
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := repository.Checkpoint(ctx, j.st, repository.Snapshot{TwinID: live.ID(), Revision: int64(s.Revision),
		Taken: time.Now(), Data: data}); err != nil {
		if !errors.Is(err, repository.ErrConflict) {
			return err
		}
		// A snapshot of this revision is stored already: nothing was written since the
		// last checkpoint (a restart without writes, or the periodic checkpoint just
		// took it). A revision names one intended state, so that snapshot is this one;
		// only the journal it covers may be left (a checkpoint interrupted between its
		// two steps).
		if _, err := j.st.Intents().Truncate(ctx, live.ID(), int64(s.Revision)); err != nil {
			return err
		}
	}
	j.log.Debug("live twin checkpointed", "revision", s.Revision)
	return nil
}

// run checkpoints whenever enough entries accumulated, until ctx ends.
func (j *liveJournal) run(ctx context.Context, live *twin.Twin) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-j.pending:
			if err := j.checkpoint(ctx, live); err != nil && ctx.Err() == nil {
				j.log.Error("checkpoint of the live twin failed", "err", err)
			}
		}
	}
}

// restoreLive rebuilds the live twin's intended state from the latest snapshot and the
// journal written after it. It returns the number of journal entries replayed.
func restoreLive(ctx context.Context, st repository.Store, live *twin.Twin) (snapshotRev uint64, replayed int, err error) {
	ts, err := repository.LoadTwinState(ctx, st, live.ID())
	if err != nil {
		return 0, 0, fmt.Errorf("load live twin state: %w", err)
	}
	if ts.Snapshot != nil {
		var s twin.State
		if err := json.Unmarshal(ts.Snapshot.Data, &s); err != nil {
			return 0, 0, fmt.Errorf("decode snapshot of revision %d: %w", ts.Snapshot.Revision, err)
		}
		if err := live.RestoreState(ctx, &s); err != nil {
			return 0, 0, err
		}
		snapshotRev = s.Revision
	}
	for _, rec := range ts.Journal {
		var e twin.JournalEntry
		if err := json.Unmarshal(rec.Payload, &e); err != nil {
			return snapshotRev, replayed, fmt.Errorf("decode journal entry of revision %d: %w", rec.Revision, err)
		}
		if err := live.ReplayJournal(ctx, e); err != nil {
			return snapshotRev, replayed, fmt.Errorf("replay journal entry of revision %d: %w", rec.Revision, err)
		}
		replayed++
	}
	return snapshotRev, replayed, nil
}
