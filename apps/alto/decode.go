package alto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// Request decoding. Bodies are bounded (Options.MaxBodyBytes), must be one JSON
// object, and are read field by field so that an error names the field: a malformed
// document is E_SYNTAX, an absent required field E_MISSING_FIELD, a field of the wrong
// JSON type E_INVALID_FIELD_TYPE and a well-typed but unacceptable value
// E_INVALID_FIELD_VALUE. Unknown fields are ignored (RFC 7285 §8.3.7: extensions add
// fields). Lists are bounded by maxListLen and strings by maxStringLen.

const (
	maxListLen   = 100_000
	maxStringLen = 1024
)

// readBody checks the request's Content-Type against accepts (415 otherwise) and
// reads at most limit bytes (413 beyond).
func readBody(w http.ResponseWriter, r *http.Request, accepts string, limit int64) ([]byte, *Error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != accepts {
		return nil, httpErr(http.StatusUnsupportedMediaType, "Content-Type must be %s", accepts)
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, httpErr(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", limit)
		}
		return nil, httpErr(http.StatusBadRequest, "reading the request body: %v", err)
	}
	return b, nil
}

// object is a decoded JSON object whose fields are read with typed getters.
type object struct {
	path string // "/"-separated position of the object in the request ("" at the top)
	m    map[string]json.RawMessage
}

// parseObject decodes b as exactly one JSON object.
func parseObject(b []byte) (object, *Error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return object{}, syntaxErr("%s", jsonErrText(err, b))
	}
	if _, err := dec.Token(); err != io.EOF {
		return object{}, syntaxErr("data after the JSON document at offset %d", dec.InputOffset())
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return object{}, syntaxErr("the request body must be a JSON object")
	}
	return object{m: m}, nil
}

func jsonErrText(err error, b []byte) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at offset %d", se, se.Offset)
	}
	if errors.Is(err, io.EOF) {
		if len(bytes.TrimSpace(b)) == 0 {
			return "empty request body"
		}
		return "unexpected end of the JSON document"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of the JSON document"
	}
	return err.Error()
}

func (o object) at(name string) string {
	if o.path == "" {
		return name
	}
	return o.path + "/" + name
}

func (o object) has(name string) bool {
	_, ok := o.m[name]
	return ok
}

// rawValue returns a field's value as a Go value for error reports (bounded).
func rawValue(raw json.RawMessage) any {
	if len(raw) > 256 {
		return string(raw[:256]) + "..."
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	return v
}

func (o object) str(name string, required bool) (string, bool, *Error) {
	raw, ok := o.m[name]
	if !ok {
		if required {
			return "", false, missingField(o.at(name))
		}
		return "", false, nil
	}
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false, invalidType(o.at(name), rawValue(raw))
	}
	if len(s) > maxStringLen {
		return "", false, invalidValue(o.at(name), s[:64]+"...")
	}
	return s, true, nil
}

func (o object) boolean(name string) (bool, bool, *Error) {
	raw, ok := o.m[name]
	if !ok {
		return false, false, nil
	}
	var v bool
	if json.Unmarshal(raw, &v) != nil || (string(raw) != "true" && string(raw) != "false") {
		return false, false, invalidType(o.at(name), rawValue(raw))
	}
	return v, true, nil
}

func (o object) obj(name string, required bool) (object, bool, *Error) {
	raw, ok := o.m[name]
	if !ok {
		if required {
			return object{}, false, missingField(o.at(name))
		}
		return object{}, false, nil
	}
	var m map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return object{}, false, invalidType(o.at(name), rawValue(raw))
	}
	return object{path: o.at(name), m: m}, true, nil
}

func (o object) list(name string, required bool) ([]json.RawMessage, bool, *Error) {
	raw, ok := o.m[name]
	if !ok {
		if required {
			return nil, false, missingField(o.at(name))
		}
		return nil, false, nil
	}
	var l []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &l) != nil {
		return nil, false, invalidType(o.at(name), rawValue(raw))
	}
	if len(l) > maxListLen {
		return nil, false, invalidValue(o.at(name), fmt.Sprintf("%d entries (at most %d)", len(l), maxListLen))
	}
	return l, true, nil
}

func (o object) strList(name string, required bool) ([]string, bool, *Error) {
	l, ok, e := o.list(name, required)
	if e != nil || !ok {
		return nil, ok, e
	}
	out := make([]string, len(l))
	for i, raw := range l {
		at := o.at(name) + "/" + strconv.Itoa(i)
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &out[i]) != nil {
			return nil, false, invalidType(at, rawValue(raw))
		}
		if len(out[i]) > maxStringLen {
			return nil, false, invalidValue(at, out[i][:64]+"...")
		}
	}
	return out, true, nil
}

// objList reads a list of objects.
func (o object) objList(name string, required bool) ([]object, bool, *Error) {
	l, ok, e := o.list(name, required)
	if e != nil || !ok {
		return nil, ok, e
	}
	out := make([]object, len(l))
	for i, raw := range l {
		at := o.at(name) + "/" + strconv.Itoa(i)
		var m map[string]json.RawMessage
		if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
			return nil, false, invalidType(at, rawValue(raw))
		}
		out[i] = object{path: at, m: m}
	}
	return out, true, nil
}

// strListList reads a list of lists of strings (RFC 8189 or-constraints).
func (o object) strListList(name string) ([][]string, bool, *Error) {
	l, ok, e := o.list(name, false)
	if e != nil || !ok {
		return nil, ok, e
	}
	out := make([][]string, len(l))
	for i, raw := range l {
		inner := object{path: o.at(name), m: map[string]json.RawMessage{strconv.Itoa(i): raw}}
		s, _, e := inner.strList(strconv.Itoa(i), true)
		if e != nil {
			return nil, false, e
		}
		out[i] = s
	}
	return out, true, nil
}
