package twin

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of them.
var (
	// ErrNotFound: no twin or object with that ID.
	ErrNotFound = errors.New("twin: not found")
	// ErrExists: a create of an ID that already exists.
	ErrExists = errors.New("twin: already exists")
	// ErrConflict: a reference is missing (a link to an unknown device) or an object is
	// still referenced (deleting a device a link uses).
	ErrConflict = errors.New("twin: conflict")
	// ErrPrecondition: the expected revision does not match the object's revision.
	ErrPrecondition = errors.New("twin: revision mismatch")
	// ErrInvalid: the object does not validate against the network model.
	ErrInvalid = errors.New("twin: invalid object")
	// ErrLiveTwin: the live twin cannot be deleted.
	ErrLiveTwin = errors.New("twin: the live twin cannot be deleted")
	// ErrClosed: the manager was closed.
	ErrClosed = errors.New("twin: closed")
)

// ObjectError says what is wrong with one object of one table. Field locates the
// offending element inside the object (e.g. "endpoints[0].device"), empty when the
// whole object is meant.
type ObjectError struct {
	Table Table
	ID    string
	Field string
	Msg   string
	// Kind is the sentinel the error matches (ErrNotFound, ErrExists, ErrConflict,
	// ErrInvalid).
	Kind error
	// Cause is an underlying error (e.g. a *network.ValidationError), if any.
	Cause error
}

func (e *ObjectError) Error() string {
	s := fmt.Sprintf("twin: %s[%s]", e.Table, e.ID)
	if e.Field != "" {
		s += "." + e.Field
	}
	return s + ": " + e.Msg
}

// Unwrap returns the sentinel and the cause.
func (e *ObjectError) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}

// RevisionError is returned when an expected revision does not match.
type RevisionError struct {
	Table Table
	ID    string
	// Want is the revision the caller expected, Have the object's current revision
	// (0 when the object does not exist).
	Want, Have uint64
}

func (e *RevisionError) Error() string {
	return fmt.Sprintf("twin: %s[%s]: revision is %d, expected %d", e.Table, e.ID, e.Have, e.Want)
}

// Unwrap returns ErrPrecondition.
func (e *RevisionError) Unwrap() error { return ErrPrecondition }

func notFound(t Table, id string) error {
	return &ObjectError{Table: t, ID: id, Msg: "not found", Kind: ErrNotFound}
}

func conflict(t Table, id, field, format string, a ...any) error {
	return &ObjectError{Table: t, ID: id, Field: field, Msg: fmt.Sprintf(format, a...), Kind: ErrConflict}
}
