package nbi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/twinflow/twinflow/twin"
)

// ProblemContentType is the media type of error responses (RFC 9457).
const ProblemContentType = "application/problem+json"

// problemBase prefixes the type URIs of TwinFlow problems.
const problemBase = "https://twinflow.dev/problems/"

// Problem is an RFC 9457 problem details object, extended with the offending field and
// the request ID.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// Error is an error a handler returns to choose the response. Detail and Field go to
// the client; Err is logged only, never sent.
type Error struct {
	Status int
	// Type is the last segment of the problem type URI, e.g. "not-found".
	Type   string
	Title  string
	Detail string
	Field  string
	Err    error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("nbi: %d %s", e.Status, e.Title)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with a formatted detail.
func Errorf(status int, typ, title, field, format string, a ...any) *Error {
	return &Error{Status: status, Type: typ, Title: title, Field: field, Detail: fmt.Sprintf(format, a...)}
}

// BadRequest is a 400 about one field.
func BadRequest(field, format string, a ...any) *Error {
	return Errorf(http.StatusBadRequest, "bad-request", "Bad request", field, format, a...)
}

// toError classifies any error into an *Error. Twin errors keep their field; self is
// the table and ID of the object the request addresses, so that a field inside another
// object is prefixed with that object's locator ("links[l1].endpoints[0].device").
func toError(err error, selfTable twin.Table, selfID string) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	e = classify(err, selfTable, selfID)
	if e.Err == nil {
		e.Err = err // for errors.Is and the log; never sent
	}
	return e
}

func classify(err error, selfTable twin.Table, selfID string) *Error {
	var oe *twin.ObjectError
	field := ""
	detail := ""
	if errors.As(err, &oe) {
		field = oe.Field
		if oe.Table != selfTable || oe.ID != selfID {
			loc := string(oe.Table) + "[" + oe.ID + "]"
			if field != "" {
				field = loc + "." + field
			}
		}
		detail = strings.TrimPrefix(oe.Error(), "twin: ")
	}
	var re *twin.RevisionError
	switch {
	case errors.As(err, &re):
		return &Error{Status: http.StatusPreconditionFailed, Type: "revision-mismatch", Title: "Revision mismatch",
			Field: "If-Match", Detail: strings.TrimPrefix(re.Error(), "twin: ")}
	case errors.Is(err, twin.ErrLiveTwin):
		return &Error{Status: http.StatusConflict, Type: "live-twin", Title: "The live twin cannot be deleted",
			Detail: "the live twin cannot be deleted; delete forks only"}
	case errors.Is(err, twin.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Type: "not-found", Title: "Not found", Detail: detail}
	case errors.Is(err, twin.ErrExists):
		return &Error{Status: http.StatusConflict, Type: "already-exists", Title: "Already exists", Field: "id", Detail: detail}
	case errors.Is(err, twin.ErrConflict):
		return &Error{Status: http.StatusConflict, Type: "reference-conflict", Title: "Reference conflict", Field: field, Detail: detail}
	case errors.Is(err, twin.ErrInvalid):
		return &Error{Status: http.StatusUnprocessableEntity, Type: "invalid", Title: "Invalid object", Field: field, Detail: detail}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusServiceUnavailable, Type: "canceled", Title: "Request canceled", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Type: "internal", Title: "Internal server error",
		Detail: "an internal error occurred; quote the request ID when reporting it", Err: err}
}

// writeProblem writes e as problem+json and logs it (internal errors at Error level,
// with the internal cause, which is never sent).
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, e *Error) {
	rid := RequestID(r.Context())
	p := Problem{Type: problemBase + e.Type, Title: e.Title, Status: e.Status, Detail: e.Detail,
		Instance: safeInstance(r), Field: e.Field, RequestID: rid}
	if e.Status >= 500 {
		s.log.Error("request failed", "request_id", rid, "method", r.Method, "path", p.Instance,
			"status", e.Status, "err", e.Err)
	} else {
		s.log.Debug("request rejected", "request_id", rid, "status", e.Status, "detail", e.Detail, "field", e.Field)
	}
	w.Header().Set("Content-Type", ProblemContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// wrap adapts a HandlerFunc: a returned error becomes a problem response.
func (s *Server) wrap(h HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if e := checkPathParams(r); e != nil {
			s.writeProblem(w, r, e)
			return
		}
		if err := h(w, r); err != nil {
			s.writeProblem(w, r, toError(err, "", ""))
		}
	}
}

// writeJSON writes v as JSON with a status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("nbi: encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}
