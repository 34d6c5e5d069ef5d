package network

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/twinflow/twinflow/models/yamldoc"
)

// ErrFormat is wrapped by every error about a malformed document (syntax, unknown
// field, wrong type, size limit) from the decoders of this package. Documents that
// parse but describe an invalid network fail with a *ValidationError (ErrInvalid).
var ErrFormat = errors.New("malformed document")

// MaxDocumentBytes bounds the size of any document the decoders read.
const MaxDocumentBytes = 64 << 20

// Format names a document format.
type Format string

// Formats understood by Encode and Decode.
const (
	FormatJSON         Format = "json"
	FormatYAML         Format = "yaml"
	FormatContainerlab Format = "clab"
	FormatGML          Format = "gml"
)

// Formats lists every format, in the order shown to users.
var Formats = []Format{FormatJSON, FormatYAML, FormatContainerlab, FormatGML}

// ParseFormat maps a user-supplied name (case-insensitive; "containerlab" and "yml"
// are accepted aliases) to a Format.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "json":
		return FormatJSON, nil
	case "yaml", "yml":
		return FormatYAML, nil
	case "clab", "containerlab":
		return FormatContainerlab, nil
	case "gml":
		return FormatGML, nil
	}
	return "", fmt.Errorf("network: unknown format %q (want json, yaml, clab or gml)", s)
}

// readLimited reads all of r, failing when it holds more than MaxDocumentBytes.
func readLimited(what string, r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read: %w", what, err)
	}
	if len(b) > MaxDocumentBytes {
		return nil, fmt.Errorf("%s: %w: document larger than %d bytes", what, ErrFormat, MaxDocumentBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s: %w: empty document", what, ErrFormat)
	}
	return b, nil
}

// DecodeJSON reads a Network in its native JSON form (the json tags of the types in
// this package) and validates it. Unknown fields, trailing data and documents over
// MaxDocumentBytes are rejected with ErrFormat; syntax errors report line and column.
func DecodeJSON(r io.Reader) (*Network, error) {
	b, err := readLimited("json", r)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); t[0] != '{' {
		line, col := lineCol(b, int64(len(b)-len(t)))
		return nil, fmt.Errorf("json: %w: line %d, column %d: the document must be an object", ErrFormat, line, col)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var n Network
	if err := dec.Decode(&n); err != nil {
		return nil, jsonError(b, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		off := dec.InputOffset()
		line, col := lineCol(b, off)
		return nil, fmt.Errorf("json: %w: line %d, column %d: trailing data after the document", ErrFormat, line, col)
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return &n, nil
}

// jsonError turns an encoding/json error into one with a line and column.
func jsonError(b []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := lineCol(b, se.Offset-1)
		return fmt.Errorf("json: %w: line %d, column %d: %v", ErrFormat, line, col, se)
	case errors.As(err, &te):
		line, col := lineCol(b, te.Offset-1)
		field := te.Field
		if field == "" {
			field = "(document)"
		}
		return fmt.Errorf("json: %w: line %d, column %d: field %s: cannot use %s as %s", ErrFormat, line, col, field, te.Value, te.Type)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("json: %w: unexpected end of document", ErrFormat)
	}
	// Unknown fields: `json: unknown field "x"`.
	return fmt.Errorf("json: %w: %s", ErrFormat, strings.TrimPrefix(err.Error(), "json: "))
}

// lineCol converts a byte offset into a 1-based line and column.
func lineCol(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	if off < 0 {
		off = 0
	}
	pre := b[:off]
	line = bytes.Count(pre, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(pre, '\n')
	return line, col
}

// DecodeYAML reads a Network in YAML with the same field names as the JSON form and
// validates it. Unknown fields, a second document and documents over
// MaxDocumentBytes are rejected with ErrFormat; errors report lines.
func DecodeYAML(r io.Reader) (*Network, error) {
	b, err := readLimited("yaml", r)
	if err != nil {
		return nil, err
	}
	if yamlNullDocument(b) {
		return nil, fmt.Errorf("yaml: %w: the document is null; it must be a mapping", ErrFormat)
	}
	var n Network
	if err := yamldoc.Decode(b, &n); err != nil {
		return nil, fmt.Errorf("yaml: %w: %v", ErrFormat, err)
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return &n, nil
}

// yamlNullDocument reports whether a YAML text is a single null scalar ("~", "null"),
// which would otherwise decode into an empty network.
func yamlNullDocument(b []byte) bool {
	var rest []string
	for _, line := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "#") || l == "---" {
			continue
		}
		rest = append(rest, l)
		if len(rest) > 1 {
			return false
		}
	}
	if len(rest) != 1 {
		return false
	}
	switch strings.TrimSpace(strings.TrimPrefix(rest[0], "--- ")) {
	case "~", "null", "Null", "NULL":
		return true
	}
	return false
}

// yamlDecode decodes one document, turning panics of the YAML library (seen on some
// pathological inputs) into errors.
func yamlDecode(dec *yaml.Decoder, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("yaml: %w: %v", ErrFormat, p)
		}
	}()
	if err := dec.Decode(v); err != nil {
		if err == io.EOF {
			return fmt.Errorf("yaml: %w: empty document", ErrFormat)
		}
		return fmt.Errorf("yaml: %w: %s", ErrFormat, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// errContainerlab is what Decode and Encode say about FormatContainerlab.
var errContainerlab = fmt.Errorf("network: %w: containerlab files are read and written by twin/emulation/clab", ErrFormat)

// DefaultLinkCapacityGbps is the capacity given to imported links that state none.
const DefaultLinkCapacityGbps = 10.0

// uniqueLinkID returns "<a>--<b>", or "<a>--<b>-<k>" if taken, falling back to
// "link-<k>" when that is not a valid ID.
func uniqueLinkID(taken map[string]bool, a, b string) string {
	base := a + "--" + b
	if CheckID(base+"-99999") != "" {
		base = "link"
		for k := len(taken) + 1; ; k++ {
			id := base + "-" + strconv.Itoa(k)
			if !taken[id] {
				return id
			}
		}
	}
	id := base
	for k := 2; taken[id]; k++ {
		id = base + "-" + strconv.Itoa(k)
	}
	return id
}

// fillTopology lists every device and link in the first topology.
func fillTopology(n *Network) {
	t := &n.Topologies[0]
	t.DeviceIDs, t.LinkIDs = nil, nil
	for _, d := range n.Devices {
		t.DeviceIDs = append(t.DeviceIDs, d.ID)
	}
	for _, l := range n.Links {
		t.LinkIDs = append(t.LinkIDs, l.ID)
	}
}

// Decode reads a network document in the given format (see DecodeJSON, DecodeYAML,
// DecodeGML). Containerlab files are read by twin/emulation/clab (it uses
// containerlab's own Go module, which this pure package does not import): Decode of
// FormatContainerlab fails with ErrFormat saying so.
func Decode(r io.Reader, f Format) (*Network, error) {
	switch f {
	case FormatJSON:
		return DecodeJSON(r)
	case FormatYAML:
		return DecodeYAML(r)
	case FormatContainerlab:
		return nil, errContainerlab
	case FormatGML:
		return DecodeGML(r)
	}
	return nil, fmt.Errorf("network: unknown format %q", f)
}

// DetectFormat guesses the format of a document from its content: JSON starts with
// "{", GML has a "graph [" list, containerlab YAML has a top-level "topology:" key,
// anything else is native YAML. name, if not empty, is a file name whose extension
// (.json, .gml, .clab.yml/.clab.yaml) decides first.
func DetectFormat(name string, content []byte) Format {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".json"):
		return FormatJSON
	case strings.HasSuffix(lower, ".gml"):
		return FormatGML
	case strings.HasSuffix(lower, ".clab.yml"), strings.HasSuffix(lower, ".clab.yaml"):
		return FormatContainerlab
	}
	t := bytes.TrimSpace(content)
	if bytes.HasPrefix(t, []byte("{")) {
		return FormatJSON
	}
	for _, line := range strings.Split(string(t), "\n") {
		l := strings.TrimSpace(line)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "graph") && strings.Contains(string(t), "[") && !strings.Contains(l, ":") {
			return FormatGML
		}
		if strings.HasPrefix(line, "topology:") {
			return FormatContainerlab
		}
	}
	return FormatYAML
}

// Encode writes n in the given format. JSON is indented; YAML uses the JSON field
// names; GML as EncodeGML; containerlab is written by twin/emulation/clab (Encode of
// FormatContainerlab fails). Encode does not validate n: call Validate first if unsure.
func Encode(w io.Writer, n *Network, f Format) error {
	if n == nil {
		return errors.New("network: encode: nil network")
	}
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(n); err != nil {
			return fmt.Errorf("json: encode: %w", err)
		}
		return nil
	case FormatYAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(n); err != nil {
			return fmt.Errorf("yaml: encode: %w", err)
		}
		if err := enc.Close(); err != nil {
			return fmt.Errorf("yaml: encode: %w", err)
		}
		return nil
	case FormatContainerlab:
		return errContainerlab
	case FormatGML:
		return EncodeGML(w, n)
	}
	return fmt.Errorf("network: unknown format %q", f)
}
