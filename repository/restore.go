package repository

import (
	"context"
	"errors"
	"fmt"
)

// TwinState is what a restart needs to rebuild a twin's intended state: the latest
// snapshot (nil if the twin was never snapshotted) and the journaled deltas after it.
type TwinState struct {
	Snapshot *Snapshot
	// Journal holds the intent records with Revision > Snapshot.Revision (all records
	// when Snapshot is nil), in revision order.
	Journal []IntentRecord
}

// LoadTwinState reads the latest snapshot of twinID and the intent journal after it.
// A twin with neither returns an empty TwinState and no error.
func LoadTwinState(ctx context.Context, st Store, twinID string) (TwinState, error) {
	var ts TwinState
	after := int64(0)
	sn, err := st.Snapshots().Latest(ctx, twinID)
	switch {
	case err == nil:
		ts.Snapshot = &sn
		after = sn.Revision
	case errors.Is(err, ErrNotFound):
	default:
		return TwinState{}, fmt.Errorf("repository: load twin %s: %w", twinID, err)
	}
	if ts.Journal, err = st.Intents().Since(ctx, twinID, after); err != nil {
		return TwinState{}, fmt.Errorf("repository: load twin %s: %w", twinID, err)
	}
	return ts, nil
}

// Checkpoint saves sn and then drops the journal records it covers (Revision <=
// sn.Revision). A crash between the two steps is harmless: LoadTwinState only replays
// records newer than the snapshot.
func Checkpoint(ctx context.Context, st Store, sn Snapshot) (Snapshot, error) {
	saved, err := st.Snapshots().Save(ctx, sn)
	if err != nil {
		return Snapshot{}, err
	}
	if _, err := st.Intents().Truncate(ctx, sn.TwinID, sn.Revision); err != nil {
		return saved, fmt.Errorf("repository: checkpoint %s@%d: %w", sn.TwinID, sn.Revision, err)
	}
	return saved, nil
}
