package change

import (
	"errors"
	"testing"
)

func TestTransitions(t *testing.T) {
	allowed := map[[2]State]bool{
		{StateDraft, StateValidating}:      true,
		{StateDraft, StateRejected}:        true,
		{StateValidating, StateValidated}:  true,
		{StateValidating, StateRejected}:   true,
		{StateValidating, StateFailed}:     true,
		{StateValidated, StateValidating}:  true,
		{StateValidated, StateApproved}:    true,
		{StateValidated, StateRejected}:    true,
		{StateApproved, StateCommitting}:   true,
		{StateApproved, StateRejected}:     true,
		{StateCommitting, StateCommitted}:  true,
		{StateCommitting, StateRolledBack}: true,
		{StateCommitting, StateFailed}:     true,
	}
	for _, from := range AllStates() {
		for _, to := range AllStates() {
			want := allowed[[2]State{from, to}]
			if got := CanTransition(from, to); got != want {
				t.Errorf("%s -> %s: got %v; want %v", from, to, got, want)
			}
			err := CheckTransition(from, to)
			if want != (err == nil) || (err != nil && !errors.Is(err, ErrTransition)) {
				t.Errorf("CheckTransition(%s, %s) = %v", from, to, err)
			}
		}
	}
	// No path from draft reaches approved without validated.
	if CanTransition(StateDraft, StateApproved) || CanTransition(StateRejected, StateApproved) || CanTransition(StateValidated, StateCommitting) {
		t.Error("validation or approval can be skipped")
	}
	if !StateRolledBack.Terminal() || !StateFailed.Terminal() || !StateCommitted.Terminal() {
		t.Error("terminal states wrong")
	}
	if _, err := ParseState("bogus"); err == nil {
		t.Error("ParseState accepted bogus")
	}
	if s, err := ParseState("rolled_back"); err != nil || s != StateRolledBack {
		t.Errorf("ParseState(rolled_back) = %v, %v", s, err)
	}
}
