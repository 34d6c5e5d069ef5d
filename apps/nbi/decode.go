package nbi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// DecodeJSON decodes the request body into v strictly: JSON media type (or none),
// at most max bytes, no unknown fields, values of the right types, one JSON value and
// nothing after it. Errors are *Error (400, 413 or 415) naming the offending field when
// there is one.
func DecodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return Errorf(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
				"Content-Type", "the body must be application/json, got %q", ct)
		}
	}
	var body io.Reader = r.Body
	if w != nil {
		body = http.MaxBytesReader(w, r.Body, max)
	} else {
		body = io.LimitReader(r.Body, max+1)
	}
	return decodeStrict(body, max, v)
}

func decodeStrict(body io.Reader, max int64, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, max)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(max)
		}
		off := dec.InputOffset()
		return BadRequest("", "unexpected data after the JSON value at byte offset %d", off)
	}
	return nil
}

func tooLarge(max int64) *Error {
	return Errorf(http.StatusRequestEntityTooLarge, "too-large", "Request body too large", "",
		"the body exceeds %d bytes", max)
}

// decodeError turns an encoding/json error into a 400 naming the field.
func decodeError(err error, max int64) *Error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(max)
	case errors.Is(err, io.EOF):
		return BadRequest("", "the request body is empty; a JSON value is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("", "the JSON value is truncated")
	case errors.As(err, &syn):
		return BadRequest("", "malformed JSON at byte offset %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := jsonField(typ.Field)
		if field == "" {
			return BadRequest("", "the body must be a JSON %s, got %s", jsonKind(typ.Type.String()), typ.Value)
		}
		return BadRequest(field, "field %q must be %s, got JSON %s", field, jsonKind(typ.Type.String()), typ.Value)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return BadRequest(name, "unknown field %q", name)
	}
	return BadRequest("", "malformed JSON: %s", strings.TrimPrefix(msg, "json: "))
}

// jsonKind names the JSON type expected for a Go type.
func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		if strings.HasSuffix(goType, "OperStatus") || strings.HasSuffix(goType, "DeviceType") ||
			strings.HasSuffix(goType, "DriverKind") || strings.HasSuffix(goType, "ConfigAction") {
			return "a string"
		}
		return "an object"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	}
	return "of type " + goType
}

// decodeOptionalEmpty accepts an empty body or an empty JSON object.
func decodeOptionalEmpty(w http.ResponseWriter, r *http.Request, max int64) error {
	if r.ContentLength == 0 {
		return nil
	}
	var v struct{}
	err := DecodeJSON(w, r, max, &v)
	var e *Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest && strings.Contains(e.Detail, "empty") {
		return nil
	}
	return err
}

// PathParam returns a URL path parameter, percent-decoded (IDs may contain "/",
// sent as %2F).
func PathParam(r *http.Request, name string) (string, error) {
	raw := chi.URLParam(r, name)
	v, err := url.PathUnescape(raw)
	if err != nil {
		return "", BadRequest(name, "path parameter %q is not valid percent-encoding", name)
	}
	return v, nil
}

// Page is the pagination of a list request.
type Page struct {
	Limit int
	After string
}

// Pagination limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ParsePage reads ?limit= and ?page_token=.
func ParsePage(r *http.Request) (Page, error) {
	q := r.URL.Query()
	p := Page{Limit: DefaultLimit}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxLimit {
			return p, BadRequest("limit", "limit must be an integer from 1 to %d, got %q", MaxLimit, s)
		}
		p.Limit = n
	}
	if s := q.Get("page_token"); s != "" {
		after, err := decodePageToken(s)
		if err != nil {
			return p, BadRequest("page_token", "page_token is not a token this server issued")
		}
		p.After = after
	}
	return p, nil
}

const pageTokenPrefix = "tf1:"

// PageToken encodes the ID a next page starts after ("" → "").
func PageToken(after string) string {
	if after == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(pageTokenPrefix + after))
}

func decodePageToken(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", err
	}
	after, ok := strings.CutPrefix(string(b), pageTokenPrefix)
	if !ok || after == "" || badID(after) != "" {
		return "", fmt.Errorf("nbi: bad page token")
	}
	return after, nil
}

// ParseIfMatch reads an If-Match header holding one entity tag ("<revision>", W/ and
// unquoted forms accepted, "*" meaning any). It returns 0 when absent or "*".
func ParseIfMatch(r *http.Request) (uint64, error) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, nil
	}
	v := strings.TrimPrefix(h, "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, BadRequest("If-Match", "If-Match must be one entity tag holding a revision, e.g. \"3\"; got %q", h)
	}
	return n, nil
}

// ETag formats a revision as an entity tag.
func ETag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// embeddedNames are Go type names encoding/json puts in field paths for embedded
// structs (twin.Device embeds network.Device): they are not JSON keys.
var embeddedNames = map[string]bool{"Device": true, "Link": true, "Context": true, "Topology": true,
	"Flow": true, "InterfaceState": true}

// jsonField turns an UnmarshalTypeError field path into the JSON field path.
func jsonField(f string) string {
	parts := strings.Split(f, ".")
	out := parts[:0]
	for _, p := range parts {
		if !embeddedNames[p] {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// ifMatchAny reports whether If-Match is "*": the object must exist.
func ifMatchAny(r *http.Request) bool { return strings.TrimSpace(r.Header.Get("If-Match")) == "*" }

func mustExist(one, id string) *Error {
	return &Error{Status: http.StatusPreconditionFailed, Type: "revision-mismatch", Title: "Revision mismatch",
		Field: "If-Match", Detail: fmt.Sprintf("If-Match: * requires an existing %s; %q does not exist", one, id)}
}
