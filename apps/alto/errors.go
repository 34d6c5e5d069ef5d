package alto

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// ALTO error codes (RFC 7285 §8.5.2).
const (
	ESyntax            = "E_SYNTAX"
	EMissingField      = "E_MISSING_FIELD"
	EInvalidFieldType  = "E_INVALID_FIELD_TYPE"
	EInvalidFieldValue = "E_INVALID_FIELD_VALUE"
)

// Error is an ALTO error: a 400 carries one of the codes above in an
// application/alto-error+json body; other statuses (404, 405, 406, 413, 415, 500,
// 503) are HTTP errors with a short text reason, as RFC 7285 §8.5.1 leaves them to HTTP.
type Error struct {
	Status int
	Code   string
	// Field names the offending field, "/"-separated from the top of the request
	// ("cost-type/cost-mode", "pids/srcs/3").
	Field string
	// Value is the offending value, when there is one.
	Value any
	// SyntaxError explains an E_SYNTAX.
	SyntaxError string
	// Reason is the text of a non-400 error.
	Reason string
	// Detail, if set, explains a coded error in words ("priv:tf-detail" of the meta,
	// a private member clients ignore unless they know it).
	Detail string
}

func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("alto: %d: %s", e.Status, e.Reason)
	}
	s := "alto: " + e.Code
	if e.Field != "" {
		s += " field " + e.Field
	}
	if e.SyntaxError != "" {
		s += ": " + e.SyntaxError
	}
	if e.Value != nil {
		s += fmt.Sprintf(" (value %v)", e.Value)
	}
	return s
}

func syntaxErr(format string, a ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: ESyntax, SyntaxError: fmt.Sprintf(format, a...)}
}

func missingField(field string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: EMissingField, Field: field}
}

func invalidType(field string, value any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: EInvalidFieldType, Field: field, Value: value}
}

func invalidValue(field string, value any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: EInvalidFieldValue, Field: field, Value: value}
}

func httpErr(status int, format string, a ...any) *Error {
	return &Error{Status: status, Reason: fmt.Sprintf(format, a...)}
}

// errorMeta is the "meta" of an ALTO error body.
type errorMeta struct {
	Code        string `json:"code"`
	Field       string `json:"field,omitempty"`
	Value       any    `json:"value,omitempty"`
	SyntaxError string `json:"syntax-error,omitempty"`
	Detail      string `json:"priv:tf-detail,omitempty"`
}

// writeError writes e: an ALTO error body for a coded error, plain text otherwise.
// This writer is the ALTO server's own; the REST API's problem+json is never used here.
func writeError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	h.Del("Content-Length")
	if e.Code == "" {
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(e.Status)
		_, _ = fmt.Fprintln(w, e.Reason)
		return
	}
	body, err := json.Marshal(struct {
		Meta errorMeta `json:"meta"`
	}{errorMeta{Code: e.Code, Field: e.Field, Value: e.Value, SyntaxError: e.SyntaxError, Detail: e.Detail}})
	if err != nil { // a Value that does not marshal: drop it
		body, _ = json.Marshal(struct {
			Meta errorMeta `json:"meta"`
		}{errorMeta{Code: e.Code, Field: e.Field, SyntaxError: e.SyntaxError, Detail: e.Detail}})
	}
	h.Set("Content-Type", MediaError)
	w.WriteHeader(e.Status)
	_, _ = w.Write(append(body, '\n'))
}

// WriteError writes e as the ALTO server does (for other ALTO resources of TwinFlow,
// such as the broker's).
func WriteError(w http.ResponseWriter, e *Error) { writeError(w, e) }
