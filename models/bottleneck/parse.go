package bottleneck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"github.com/twinflow/twinflow/models/network"
)

// Document is a parsed input file: either the engine's own format
// ({"links":[{"id","capacity"}],"flows":[{"id","path","demand","class"}]}) or a TwinFlow
// network document (devices, links with endpoints, flows with src/dst), told apart by
// the presence of "devices".
type Document struct {
	Bottleneck *Network
	Network    *network.Network
}

// MaxInputBytes bounds the size of a parsed document.
const MaxInputBytes = 256 << 20

// Parse decodes a JSON or YAML document (YAML is anything not starting with '{').
// Unknown fields are rejected; errors name the element ("links[2].capacity: …"). The
// result is not validated beyond types: call New (or FromNetwork) next.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxInputBytes {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrInvalid, MaxInputBytes)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrInvalid)
	}
	if trimmed[0] != '{' {
		var v any
		if err := yaml.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("%w: yaml: %v", ErrInvalid, err)
		}
		v = yamlToJSON(v)
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%w: yaml: %v", ErrInvalid, err)
		}
		trimmed = j
	}
	// One strict decode of the engine's own format. Anything it refuses (a network
	// document, an unknown field, a type error, a syntax error) goes to the
	// element-by-element pass below, which tells the formats apart and names the bad
	// element; that pass costs three decodes and runs only on the rejected path.
	if n, ok := parseFast(trimmed); ok {
		return &Document{Bottleneck: n}, nil
	}
	return parseSlow(trimmed)
}

// parseSlow decodes a JSON document element by element: it tells a network document
// from the engine's format and names the first bad element.
func parseSlow(trimmed []byte) (*Document, error) {
	var top map[string]json.RawMessage
	if err := strictJSON(trimmed, &top, ""); err != nil {
		return nil, err
	}
	if top == nil {
		return nil, fmt.Errorf("%w: document must be an object", ErrInvalid)
	}
	if _, ok := top["devices"]; ok {
		var n network.Network
		if err := strictJSON(trimmed, &n, ""); err != nil {
			return nil, err
		}
		return &Document{Network: &n}, nil
	}
	for k := range top {
		if k != "links" && k != "flows" {
			return nil, fmt.Errorf("%w: unknown field %q (want links, flows)", ErrInvalid, k)
		}
	}
	n := &Network{}
	var links, flows []json.RawMessage
	if err := strictJSON(orNull(top["links"]), &links, "links"); err != nil {
		return nil, err
	}
	if err := strictJSON(orNull(top["flows"]), &flows, "flows"); err != nil {
		return nil, err
	}
	for i, raw := range links {
		var l Link
		if err := strictJSON(raw, &l, fmt.Sprintf("links[%d]", i)); err != nil {
			return nil, err
		}
		n.Links = append(n.Links, l)
	}
	for i, raw := range flows {
		var f Flow
		if err := strictJSON(raw, &f, fmt.Sprintf("flows[%d]", i)); err != nil {
			return nil, err
		}
		n.Flows = append(n.Flows, f)
	}
	return &Document{Bottleneck: n}, nil
}

// parseFast decodes data as the engine's format in one strict pass (unknown fields and
// trailing data refused). It reports false on any problem, leaving the diagnosis to the
// slow pass.
func parseFast(data []byte) (*Network, bool) {
	if len(data) == 0 || data[0] != '{' {
		return nil, false
	}
	var n Network
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	// The top level is walked token by token so that its keys match exactly, as the
	// slow pass's map does ("Links" is refused there; encoding/json's struct decoding
	// would fold case). A repeated key's last value wins, as in the slow pass's map.
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		switch t {
		case "links":
			n.Links = nil
			if dec.Decode(&n.Links) != nil {
				return nil, false
			}
		case "flows":
			n.Flows = nil
			if dec.Decode(&n.Flows) != nil {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false
	}
	return &n, true
}

func orNull(b json.RawMessage) []byte {
	if b == nil {
		return []byte("null")
	}
	return b
}

// strictJSON decodes one value, rejecting unknown fields and trailing data, and names
// the element at in errors.
func strictJSON(data []byte, v any, at string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	prefix := ""
	if at != "" {
		prefix = at + ": "
	}
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := position(data, se.Offset)
			return fmt.Errorf("%w: %sjson syntax error at line %d column %d: %v", ErrInvalid, prefix, line, col, se)
		case errors.As(err, &te):
			field := te.Field
			if at != "" && field != "" {
				field = at + "." + field
			} else if at != "" {
				field = at
			}
			return fmt.Errorf("%w: %s: expected %v, got %s", ErrInvalid, field, te.Type, te.Value)
		default:
			return fmt.Errorf("%w: %s%v", ErrInvalid, prefix, err)
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: %strailing data after the document", ErrInvalid, prefix)
	}
	return nil
}

func position(data []byte, off int64) (line, col int) {
	line, col = 1, 1
	for i := int64(0); i < off && i < int64(len(data)); i++ {
		if data[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// yamlToJSON converts yaml.v3's generic values (map[string]any, []any) so that
// encoding/json can marshal them; non-string keys become their string form.
func yamlToJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlToJSON(e)
		}
		return x
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = yamlToJSON(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = yamlToJSON(e)
		}
		return x
	}
	return v
}
