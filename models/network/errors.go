package network

import (
	"errors"
	"strings"
)

// ErrInvalid is wrapped by every validation error, so callers can test with errors.Is.
var ErrInvalid = errors.New("invalid network")

// FieldError says what is wrong with one element of a network document. Field is a
// JSON-path-like locator of the offending element, e.g. "links[3].endpoints[0].device"
// or "devices[r1].type" — APIs report it as the offending field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Unwrap makes every FieldError match ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// ValidationError collects every FieldError found in one validation pass.
type ValidationError struct {
	Errors []*FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, fe := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

// Unwrap returns the individual field errors (errors.As finds the first *FieldError).
func (e *ValidationError) Unwrap() []error {
	out := make([]error, len(e.Errors))
	for i, fe := range e.Errors {
		out[i] = fe
	}
	return out
}

// add records a field error.
func (e *ValidationError) add(field, msg string) {
	e.Errors = append(e.Errors, &FieldError{Field: field, Msg: msg})
}

// err returns nil when nothing was recorded, e otherwise.
func (e *ValidationError) err() error {
	if len(e.Errors) == 0 {
		return nil
	}
	return e
}
