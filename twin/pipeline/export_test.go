package pipeline

import (
	"context"

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
