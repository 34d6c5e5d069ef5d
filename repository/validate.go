package repository

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// maxIDLen bounds every identifier (IDs, names, kinds, subjects, metrics).
const maxIDLen = 256

// invalidf returns an ErrInvalid error naming the offending field.
func invalidf(field, format string, a ...any) error {
	return fmt.Errorf("repository: %s: %s: %w", field, fmt.Sprintf(format, a...), ErrInvalid)
}

// checkID validates a required identifier.
func checkID(field, v string) error {
	if v == "" {
		return invalidf(field, "must not be empty")
	}
	return checkText(field, v)
}

// checkText validates an optional short string: valid UTF-8, no control characters,
// at most maxIDLen bytes.
func checkText(field, v string) error {
	if len(v) > maxIDLen {
		return invalidf(field, "longer than %d bytes", maxIDLen)
	}
	if !utf8.ValidString(v) {
		return invalidf(field, "not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return invalidf(field, "contains control character %U", r)
		}
	}
	return nil
}

// checkLongText validates free text (reasons): valid UTF-8 without NUL, at most 64 KiB.
func checkLongText(field, v string) error {
	if len(v) > 64<<10 {
		return invalidf(field, "longer than 64 KiB")
	}
	if !utf8.ValidString(v) {
		return invalidf(field, "not valid UTF-8")
	}
	if bytes.IndexByte([]byte(v), 0) >= 0 {
		return invalidf(field, "contains a NUL byte")
	}
	return nil
}

// normJSON validates an optional JSON document and returns it compacted (nil if empty).
func normJSON(field string, doc json.RawMessage) (json.RawMessage, error) {
	if len(doc) == 0 {
		return nil, nil
	}
	if !json.Valid(doc) {
		return nil, invalidf(field, "not valid JSON")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil {
		return nil, invalidf(field, "not valid JSON: %v", err)
	}
	if bytes.Equal(b.Bytes(), []byte("null")) {
		return nil, nil
	}
	return b.Bytes(), nil
}

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

func checkKind(kind string) error {
	if kind == "" {
		return invalidf("kind", "must not be empty")
	}
	if len(kind) > 64 || !kindRE.MatchString(kind) {
		return invalidf("kind", "%q must be lower-case dotted words (e.g. device.software)", kind)
	}
	return nil
}

func nullable(doc json.RawMessage) any {
	if doc == nil {
		return nil
	}
	return string(doc)
}

func rawOrNil(s *string) json.RawMessage {
	if s == nil || *s == "" {
		return nil
	}
	return json.RawMessage(*s)
}
