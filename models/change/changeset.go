package change

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/yamldoc"
)

// Sentinel errors of the change vocabulary.
var (
	// ErrInvalid is wrapped by every error about a malformed ChangeSet.
	ErrInvalid = errors.New("change: invalid changeset")
	// ErrTransition is wrapped when a state transition is not allowed.
	ErrTransition = errors.New("change: transition not allowed")
)

// Kind says where a ChangeSet comes from.
type Kind string

// ChangeSet kinds.
const (
	// KindIntent is compiled from typed intents (slice, service, policy, ZTP...).
	KindIntent Kind = "intent"
	// KindRawConfig carries raw device configuration operations only.
	KindRawConfig Kind = "raw-config"
	// KindService and KindSlice are compiled from one service or slice intent
	// (models/service); they carry exactly one intent naming it.
	KindService Kind = "service"
	KindSlice   Kind = "slice"
)

// Level is a validation level. Each level includes the ones below it.
type Level string

// Validation levels.
const (
	// L0 static checks: schema, references, conflicts, device capabilities.
	L0 Level = "L0"
	// L1 model checks: paths, latency and bandwidth SLOs, ripple, isolation.
	L1 Level = "L1"
	// L2 emulation: the fork mirrored into the sandbox and probed.
	L2 Level = "L2"
)

// Includes reports whether validating at l runs the checks of level m.
func (l Level) Includes(m Level) bool { return levelRank(l) >= levelRank(m) }

func levelRank(l Level) int {
	switch l {
	case L0:
		return 0
	case L1:
		return 1
	case L2:
		return 2
	}
	return -1
}

// OpKind is a gNMI Set operation kind.
type OpKind string

// Operation kinds (gNMI SetRequest update, replace and delete).
const (
	OpUpdate  OpKind = "update"
	OpReplace OpKind = "replace"
	OpDelete  OpKind = "delete"
)

// Op is one device configuration operation: an OpenConfig path and, for update and
// replace, its JSON value (RFC 7951 style, without module prefixes).
type Op struct {
	Op    OpKind          `json:"op" yaml:"op"`
	Path  string          `json:"path" yaml:"path"`
	Value json.RawMessage `json:"value,omitempty" yaml:"-"`
}

// Isolation is the isolation class of a flow's SLO (REQ-SLI-03/04/05).
type Isolation string

// Isolation classes.
const (
	// IsolationNone: best effort sharing.
	IsolationNone Isolation = ""
	// IsolationSoft: traffic separation (VRF), no performance guarantee.
	IsolationSoft Isolation = "soft"
	// IsolationHard: the flow's capacity is reserved and shared with no other flow.
	IsolationHard Isolation = "hard"
)

// SLO is a service level objective attached to a flow.
type SLO struct {
	// MinRateGbps is the minimum rate the flow must get (max-min fair share, or its
	// reservation when hard isolated). 0 means no bandwidth objective.
	MinRateGbps float64 `json:"min_rate_gbps,omitempty" yaml:"min_rate_gbps,omitempty"`
	// MaxLatencyMs is the maximum one-way path latency. 0 means no latency objective.
	MaxLatencyMs float64 `json:"max_latency_ms,omitempty" yaml:"max_latency_ms,omitempty"`
	// Isolation is "", "soft" or "hard".
	Isolation Isolation `json:"isolation,omitempty" yaml:"isolation,omitempty"`
}

// FlowSpec is a flow added by a change, with its SLO. An empty Path asks the twin to
// route the flow (shortest path by latency, or a constrained path meeting the SLO).
type FlowSpec struct {
	network.Flow `yaml:",inline"`
	SLO          *SLO `json:"slo,omitempty" yaml:"slo,omitempty"`
}

// CapacityChange sets a link's capacity (both directions) in the twin.
type CapacityChange struct {
	Link         string  `json:"link" yaml:"link"`
	CapacityGbps float64 `json:"capacity_gbps" yaml:"capacity_gbps"`
}

// TwinDelta is what a ChangeSet does to the twin's model state.
type TwinDelta struct {
	AddFlows    []FlowSpec       `json:"add_flows,omitempty" yaml:"add_flows,omitempty"`
	RemoveFlows []string         `json:"remove_flows,omitempty" yaml:"remove_flows,omitempty"`
	Capacities  []CapacityChange `json:"capacities,omitempty" yaml:"capacities,omitempty"`
}

// Empty reports whether the delta changes nothing.
func (d TwinDelta) Empty() bool {
	return len(d.AddFlows) == 0 && len(d.RemoveFlows) == 0 && len(d.Capacities) == 0
}

// Intent is a typed intent a ChangeSet was compiled from; Spec is kept verbatim.
type Intent struct {
	Type string          `json:"type" yaml:"type"`
	Name string          `json:"name,omitempty" yaml:"name,omitempty"`
	Spec json.RawMessage `json:"spec,omitempty" yaml:"-"`
}

// ChangeSet is the unit of the change pipeline.
type ChangeSet struct {
	ID        string `json:"id,omitempty" yaml:"id,omitempty"`
	Label     string `json:"label,omitempty" yaml:"label,omitempty"`
	Comment   string `json:"comment,omitempty" yaml:"comment,omitempty"`
	Author    string `json:"author,omitempty" yaml:"author,omitempty"`
	RequestID string `json:"request_id,omitempty" yaml:"request_id,omitempty"`
	Kind      Kind   `json:"kind" yaml:"kind"`
	// Level is the validation level asked for; L1 when empty.
	Level   Level    `json:"level,omitempty" yaml:"level,omitempty"`
	Intents []Intent `json:"intents,omitempty" yaml:"intents,omitempty"`
	// DeviceOps maps a device ID to its operations, applied in order in one SetRequest.
	DeviceOps map[string][]Op `json:"device_ops,omitempty" yaml:"device_ops,omitempty"`
	Twin      TwinDelta       `json:"twin,omitzero" yaml:"twin,omitempty"`
	// AllowDestructive must be true for an operation that replaces the whole
	// configuration ("/") or replaces or deletes a whole top-level tree
	// ("/interfaces", "/network-instances", "/system"); without it such a change is
	// refused. Deleting the whole configuration is always refused.
	AllowDestructive bool `json:"allow_destructive,omitempty" yaml:"allow_destructive,omitempty"`
}

// Devices returns the IDs of the devices the change touches, sorted.
func (c *ChangeSet) Devices() []string {
	out := make([]string, 0, len(c.DeviceOps))
	for d := range c.DeviceOps {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// maxDocument caps the size of a decoded ChangeSet document.
const maxDocument = 8 << 20

// Decode parses a ChangeSet from YAML or JSON (JSON is valid YAML, but JSON input is
// decoded by encoding/json for exact number handling). Unknown fields are errors, and
// the result is checked with Validate. Errors wrap ErrInvalid and name the offending
// element.
func Decode(data []byte) (*ChangeSet, error) {
	if len(data) > maxDocument {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrInvalid, maxDocument)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrInvalid)
	}
	var c *ChangeSet
	var err error
	if trimmed[0] == '{' {
		c, err = decodeJSON(trimmed)
	} else {
		c, err = decodeYAML(data)
	}
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// DecodeUnchecked parses a ChangeSet document like Decode without validating it (a
// service or slice change carrying only its intent is compiled first); the caller
// must Validate the result before use.
func DecodeUnchecked(data []byte) (*ChangeSet, error) {
	if len(data) > maxDocument {
		return nil, fmt.Errorf("%w: document larger than %d bytes", ErrInvalid, maxDocument)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, fmt.Errorf("%w: empty document", ErrInvalid)
	}
	if trimmed[0] == '{' {
		return decodeJSON(trimmed)
	}
	return decodeYAML(data)
}

func decodeJSON(data []byte) (*ChangeSet, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c ChangeSet
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// name the document's field, not the Go struct and type
			what := "of another type"
			switch k := te.Type.Kind(); {
			case k == reflect.String:
				what = "a string"
			case k == reflect.Bool:
				what = "true or false"
			case k >= reflect.Int && k <= reflect.Float64:
				what = "a number"
			case k == reflect.Slice:
				what = "a list"
			case k == reflect.Map, k == reflect.Struct:
				what = "an object"
			}
			field := te.Field
			if field == "" {
				field = "the document"
			}
			return nil, fmt.Errorf("%w: %s: must be %s, got JSON %s (byte offset %d)", ErrInvalid, field, what, te.Value, te.Offset)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON document", ErrInvalid)
	}
	return &c, nil
}

// yamlOp and yamlIntent decode values as generic YAML, converted to JSON.
type yamlOp struct {
	Op    OpKind `yaml:"op"`
	Path  string `yaml:"path"`
	Value any    `yaml:"value"`
}

type yamlIntent struct {
	Type string `yaml:"type"`
	Name string `yaml:"name"`
	Spec any    `yaml:"spec"`
}

type yamlChangeSet struct {
	ID        string              `yaml:"id"`
	Label     string              `yaml:"label"`
	Comment   string              `yaml:"comment"`
	Author    string              `yaml:"author"`
	RequestID string              `yaml:"request_id"`
	Kind      Kind                `yaml:"kind"`
	Level     Level               `yaml:"level"`
	Intents   []yamlIntent        `yaml:"intents"`
	DeviceOps map[string][]yamlOp `yaml:"device_ops"`
	Twin      TwinDelta           `yaml:"twin"`
	// AllowDestructive: see ChangeSet.
	AllowDestructive bool `yaml:"allow_destructive"`
}

func decodeYAML(data []byte) (*ChangeSet, error) {
	var y yamlChangeSet
	if err := yamldoc.Decode(data, &y); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c := &ChangeSet{
		ID: y.ID, Label: y.Label, Comment: y.Comment, Author: y.Author,
		RequestID: y.RequestID, Kind: y.Kind, Level: y.Level, Twin: y.Twin, AllowDestructive: y.AllowDestructive,
	}
	for i, in := range y.Intents {
		spec, err := yamlToJSON(in.Spec)
		if err != nil {
			return nil, fmt.Errorf("%w: intents[%d].spec: %v", ErrInvalid, i, err)
		}
		c.Intents = append(c.Intents, Intent{Type: in.Type, Name: in.Name, Spec: spec})
	}
	if y.DeviceOps != nil {
		c.DeviceOps = make(map[string][]Op, len(y.DeviceOps))
	}
	for dev, ops := range y.DeviceOps {
		out := make([]Op, 0, len(ops))
		for i, op := range ops {
			v, err := yamlToJSON(op.Value)
			if err != nil {
				return nil, fmt.Errorf("%w: device_ops[%s][%d].value: %v", ErrInvalid, dev, i, err)
			}
			out = append(out, Op{Op: op.Op, Path: op.Path, Value: v})
		}
		c.DeviceOps[dev] = out
	}
	return c, nil
}

// yamlToJSON converts a generic YAML value to JSON; nil stays nil.
func yamlToJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	norm, err := normalizeYAML(v)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(norm)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func normalizeYAML(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := normalizeYAML(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ks, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("non-string map key %v", k)
			}
			n, err := normalizeYAML(e)
			if err != nil {
				return nil, err
			}
			out[ks] = n
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeYAML(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("number %v is not representable in JSON", x)
		}
		return x, nil
	default:
		return x, nil
	}
}

// Validate checks the ChangeSet's structure: kind, level, operations (kind, path syntax,
// values present exactly when needed and valid JSON), flows and capacities. It applies
// defaults (Level L1). Errors wrap ErrInvalid and name the offending element.
func (c *ChangeSet) Validate() error {
	var errs []string
	add := func(field, format string, a ...any) {
		errs = append(errs, field+": "+fmt.Sprintf(format, a...))
	}
	switch c.Kind {
	case KindIntent, KindRawConfig:
	case KindService, KindSlice:
		if len(c.Intents) != 1 || c.Intents[0].Name == "" {
			add("intents", "a %s change carries exactly one named intent (the %s it was compiled from)", c.Kind, c.Kind)
		}
	case "":
		add("kind", "missing (one of intent, raw-config, service, slice)")
	default:
		add("kind", "unknown kind %q (one of intent, raw-config, service, slice)", c.Kind)
	}
	if c.Level == "" {
		c.Level = L1
	}
	if levelRank(c.Level) < 0 {
		add("level", "unknown level %q (one of L0, L1, L2)", c.Level)
	}
	for _, t := range []struct {
		field, v string
		max      int
	}{{"label", c.Label, 256}, {"author", c.Author, 256}, {"request_id", c.RequestID, 256},
		{"id", c.ID, 256}, {"comment", c.Comment, 4 * network.MaxTextLength}} {
		if msg := network.CheckText(t.v, t.max); msg != "" {
			add(t.field, "%s", msg)
		}
	}
	if c.Kind == KindRawConfig && len(c.Intents) > 0 {
		add("intents", "a raw-config change carries no intents")
	}
	if c.Kind == KindRawConfig && !c.Twin.Empty() {
		add("twin", "a raw-config change carries no twin deltas")
	}
	if len(c.DeviceOps) == 0 && c.Twin.Empty() {
		add("device_ops", "the change does nothing: no device operations and no twin deltas")
	}
	for i, in := range c.Intents {
		if in.Type == "" {
			add(fmt.Sprintf("intents[%d].type", i), "missing")
		}
		if msg := network.CheckText(in.Type, 256); msg != "" {
			add(fmt.Sprintf("intents[%d].type", i), "%s", msg)
		}
		if msg := network.CheckText(in.Name, 256); msg != "" {
			add(fmt.Sprintf("intents[%d].name", i), "%s", msg)
		}
		if len(in.Spec) > 0 && !json.Valid(in.Spec) {
			add(fmt.Sprintf("intents[%d].spec", i), "not valid JSON")
		} else if msg := checkJSONText(in.Spec); msg != "" {
			add(fmt.Sprintf("intents[%d].spec", i), "%s", msg)
		}
	}
	for _, dev := range c.Devices() {
		if dev == "" || network.CheckID(dev) != "" {
			add("device_ops", "invalid device ID %q: %s", dev, network.CheckID(dev))
			continue
		}
		ops := c.DeviceOps[dev]
		if len(ops) == 0 {
			add(fmt.Sprintf("device_ops[%s]", dev), "no operations")
		}
		for i, op := range ops {
			f := fmt.Sprintf("device_ops[%s][%d]", dev, i)
			switch op.Op {
			case OpUpdate, OpReplace:
				if len(op.Value) == 0 || string(op.Value) == "null" {
					add(f+".value", "missing for %s", op.Op)
				} else if !json.Valid(op.Value) {
					add(f+".value", "not valid JSON")
				} else if msg := checkJSONText(op.Value); msg != "" {
					add(f+".value", "%s", msg)
				}
			case OpDelete:
				if len(op.Value) > 0 && string(op.Value) != "null" {
					add(f+".value", "delete takes no value")
				}
			case "":
				add(f+".op", "missing (one of update, replace, delete)")
			default:
				add(f+".op", "unknown operation %q (one of update, replace, delete)", op.Op)
			}
			p, err := ParsePath(op.Path)
			if err != nil {
				add(f+".path", "%v", err)
			} else if len(p) == 0 && op.Op == OpDelete {
				add(f+".path", "deleting the whole configuration is not allowed")
			} else if len(p) == 0 && op.Op == OpReplace && !c.AllowDestructive {
				add(f+".path", "replacing the whole configuration needs allow_destructive: true")
			} else if len(p) == 1 && len(p[0].Key) == 0 && op.Op != OpUpdate && !c.AllowDestructive {
				verb := "replacing"
				if op.Op == OpDelete {
					verb = "deleting"
				}
				add(f+".path", "%s the whole top-level tree %q needs allow_destructive: true", verb, p[0].Name)
			}
		}
	}
	seen := map[string]bool{}
	for i, fl := range c.Twin.AddFlows {
		f := fmt.Sprintf("twin.add_flows[%d]", i)
		if fl.ID == "" {
			add(f+".id", "missing")
		} else if msg := network.CheckID(fl.ID); msg != "" {
			add(f+".id", "%s", msg)
		} else if seen[fl.ID] {
			add(f+".id", "duplicate flow ID %q", fl.ID)
		}
		seen[fl.ID] = true
		if fl.Src == "" {
			add(f+".src", "missing")
		}
		if fl.Dst == "" {
			add(f+".dst", "missing")
		}
		if fl.Src != "" && fl.Src == fl.Dst {
			add(f+".dst", "equals src %q", fl.Src)
		}
		if fl.DemandGbps != nil {
			if msg := network.CheckRate(*fl.DemandGbps); msg != "" {
				add(f+".demand_gbps", "%s", msg)
			}
		}
		if s := fl.SLO; s != nil {
			if !(s.MinRateGbps >= 0) || math.IsInf(s.MinRateGbps, 0) {
				add(f+".slo.min_rate_gbps", "must be a finite number >= 0, got %v", s.MinRateGbps)
			} else if msg := network.CheckRate(s.MinRateGbps); s.MinRateGbps != 0 && msg != "" {
				add(f+".slo.min_rate_gbps", "%s (or 0: no objective)", msg)
			}
			if msg := network.CheckLatency(s.MaxLatencyMs); msg != "" {
				add(f+".slo.max_latency_ms", "%s", msg)
			}
			switch s.Isolation {
			case IsolationNone, IsolationSoft:
			case IsolationHard:
				if s.MinRateGbps <= 0 {
					add(f+".slo.min_rate_gbps", "hard isolation needs a reserved rate > 0")
				}
			default:
				add(f+".slo.isolation", "unknown isolation %q (one of soft, hard)", s.Isolation)
			}
		}
	}
	removed := map[string]bool{}
	for i, id := range c.Twin.RemoveFlows {
		if id == "" {
			add(fmt.Sprintf("twin.remove_flows[%d]", i), "empty flow ID")
		} else if msg := network.CheckID(id); msg != "" {
			add(fmt.Sprintf("twin.remove_flows[%d]", i), "%s", msg)
		}
		// a flow both removed and added is replaced (removed first: a new path, demand,
		// class or SLO); one removed twice is a mistake
		if removed[id] {
			add(fmt.Sprintf("twin.remove_flows[%d]", i), "flow %q is removed twice", id)
		}
		removed[id] = true
	}
	for i, cc := range c.Twin.Capacities {
		f := fmt.Sprintf("twin.capacities[%d]", i)
		if cc.Link == "" {
			add(f+".link", "missing")
		} else if msg := network.CheckID(cc.Link); msg != "" {
			add(f+".link", "%s", msg)
		}
		if msg := network.CheckRate(cc.CapacityGbps); msg != "" {
			add(f+".capacity_gbps", "%s", msg)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}

// MarshalYAML writes values as YAML structures rather than JSON strings.
func (c *ChangeSet) MarshalYAML() (any, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	return generic, nil
}

// checkJSONText returns "" if every string and member name in the JSON document doc is
// acceptable text (valid UTF-8, no control characters, NUL included), otherwise what is
// wrong and where. No OpenConfig leaf takes such text, and it forges log lines and
// terminal output where it is shown.
func checkJSONText(doc json.RawMessage) string {
	if len(doc) == 0 || plainJSON(doc) {
		return ""
	}
	return checkJSONTokens(doc)
}

// plainJSON reports whether doc is at most 1 MiB of printable ASCII without escapes
// (JSON whitespace aside): then every string and name it holds is acceptable text (a raw
// tab or line break inside a string is not JSON, which checkJSONTokens accepts as
// well), with no need to decode it. Compiled services' operations are such documents.
func plainJSON(doc []byte) bool {
	if len(doc) > 1<<20 {
		return false
	}
	for _, c := range doc {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c > 0x7e || c == '\\' {
			return false
		}
	}
	return true
}

// checkJSONTokens is checkJSONText decoding every string of doc.
func checkJSONTokens(doc json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var at string
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		if s, ok := tok.(string); ok {
			if msg := network.CheckText(s, 1<<20); msg != "" {
				if at != "" {
					return at + ": " + msg
				}
				return msg
			}
			at = s
		}
	}
}
