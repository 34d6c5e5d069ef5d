package change

import (
	"fmt"
	"slices"
)

// State is the lifecycle state of a change.
type State string

// Change states. The lifecycle is
//
//	draft → validating → validated | rejected
//	validated → approved → committing → committed | rolled_back | failed
//
// A validated change whose base (the live twin revision it was validated against) is
// stale goes back through validating; an approved change is re-validated in place at
// commit time and moves to rejected if it no longer passes. During a confirmed commit
// the change stays in committing until it is confirmed (committed) or the window
// expires or it is rolled back (rolled_back). failed means validation could not run,
// or a rollback could not restore every device that had taken the change: the commit
// record lists which device is where. The table is the one repository enforces.
const (
	StateDraft      State = "draft"
	StateValidating State = "validating"
	StateValidated  State = "validated"
	StateRejected   State = "rejected"
	StateApproved   State = "approved"
	StateCommitting State = "committing"
	StateCommitted  State = "committed"
	StateRolledBack State = "rolled_back"
	StateFailed     State = "failed"
)

// States lists every state in lifecycle order.
var states = []State{StateDraft, StateValidating, StateValidated, StateRejected,
	StateApproved, StateCommitting, StateCommitted, StateRolledBack, StateFailed}

// AllStates returns every state in lifecycle order.
func AllStates() []State { return slices.Clone(states) }

// transitions is the state machine: from -> allowed targets.
var transitions = map[State][]State{
	StateDraft:      {StateValidating, StateRejected},
	StateValidating: {StateValidated, StateRejected, StateFailed},
	StateValidated:  {StateApproved, StateRejected, StateValidating},
	StateApproved:   {StateCommitting, StateRejected},
	StateCommitting: {StateCommitted, StateRolledBack, StateFailed},
	StateCommitted:  {},
	StateRejected:   {},
	StateRolledBack: {},
	StateFailed:     {},
}

// ParseState checks that s names a state.
func ParseState(s string) (State, error) {
	st := State(s)
	if _, ok := transitions[st]; !ok {
		return "", fmt.Errorf("%w: unknown state %q", ErrInvalid, s)
	}
	return st, nil
}

// CanTransition reports whether a change may move from one state to another.
func CanTransition(from, to State) bool {
	return slices.Contains(transitions[from], to)
}

// CheckTransition returns an error wrapping ErrTransition unless CanTransition.
func CheckTransition(from, to State) error {
	if !CanTransition(from, to) {
		return fmt.Errorf("%w: %s -> %s", ErrTransition, from, to)
	}
	return nil
}

// Terminal reports whether no transition leaves s.
func (s State) Terminal() bool { return len(transitions[s]) == 0 }
