package repository_test

import (
	"testing"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/repository"
)

// TestStateMachineMatchesModel: the repository enforces exactly the change state
// machine of models/change.
func TestStateMachineMatchesModel(t *testing.T) {
	all := change.AllStates()
	if len(all) != 9 {
		t.Fatalf("models/change has %d states; this test expects the 9 of ARCHITECTURE.md", len(all))
	}
	for _, from := range all {
		if !repository.ChangeState(from).Valid() {
			t.Errorf("repository does not know state %q", from)
		}
		if got, want := repository.ChangeState(from).Terminal(), from.Terminal(); got != want {
			t.Errorf("%s terminal: repository %v, model %v", from, got, want)
		}
		for _, to := range all {
			if got, want := repository.CanTransition(repository.ChangeState(from), repository.ChangeState(to)), change.CanTransition(from, to); got != want {
				t.Errorf("%s -> %s: repository %v, model %v", from, to, got, want)
			}
		}
	}
}
