package pipeline

import (
	"context"
	"time"

	"github.com/twinflow/twinflow/models/change"
)

// ValidateOnly runs the validation of cs without storing anything (benchmarks).
func ValidateOnly(ctx context.Context, s *Service, cs *change.ChangeSet) (*change.Report, error) {
	if err := cs.Validate(); err != nil {
		return nil, err
	}
	rep, _, err := s.runValidation(ctx, "bench", cs)
	return rep, err
}

// Interacts exposes interacts to the external tests.
var Interacts = interacts

// SetLiveRetryFor sets how long a committed change's live-twin update is retried; the
// returned func restores it.
func SetLiveRetryFor(d time.Duration) func() {
	old := liveRetryFor
	liveRetryFor = d
	return func() { liveRetryFor = old }
}
