package nbi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/service"
)

// The IETF network slice service model (draft-ietf-teas-ietf-network-slice-nbi-yang),
// the part TwinFlow realises: a slice-service with SDPs (each one attachment circuit:
// a device's access interface), connection groups of point-to-point connectivity
// constructs, and SLO/SLE policies (bandwidth and delay metric bounds, isolation) on the
// slice, a group or a construct. ParseSliceServices turns a request body into
// service.Slice values; every tolerance is listed in docs/services.md.

// NSModule is the module name prefixing the top-level container.
const NSModule = "ietf-network-slice-service"

// flexString is a YANG string a client may also send as a JSON number ("id": 1).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return &json.UnmarshalTypeError{Value: jsonValueKind(b), Type: reflect.TypeFor[string]()}
	}
	*f = flexString(n.String())
	return nil
}

// jsonValueKind names the JSON kind of a value (for type errors).
func jsonValueKind(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// flexNumber is a decimal YANG value a client may send as a string ("1000") or a number.
type flexNumber struct {
	V   float64
	Set bool
}

func (f *flexNumber) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return &json.UnmarshalTypeError{Value: jsonValueKind(b) + " " + clip(string(b), 40), Type: reflect.TypeFor[float64]()}
	}
	f.V, f.Set = v, true
	return nil
}

// flexStrings is a leaf-list a client may send as one string.
type flexStrings []string

func (f *flexStrings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexStrings{s}
		return nil
	}
	var ss []string
	if err := json.Unmarshal(b, &ss); err != nil {
		return &json.UnmarshalTypeError{Value: jsonValueKind(b), Type: reflect.TypeFor[[]string]()}
	}
	*f = ss
	return nil
}

// NSBody is a POST or PUT body: the module-qualified container, the container without
// its module name, or a bare slice-service list (module-qualified or not).
type NSBody struct {
	Qualified   *NSServices `json:"ietf-network-slice-service:network-slice-services,omitempty"`
	Unqualified *NSServices `json:"network-slice-services,omitempty"`
	Bare        []NSSlice   `json:"slice-service,omitempty"`
	BareQ       []NSSlice   `json:"ietf-network-slice-service:slice-service,omitempty"`
}

// NSServices is the network-slice-services container.
type NSServices struct {
	Templates *NSTemplates `json:"slo-sle-templates,omitempty"`
	Slices    []NSSlice    `json:"slice-service"`
}

// NSTemplates holds SLO/SLE templates slices refer to by ID.
type NSTemplates struct {
	Template []NSTemplate `json:"slo-sle-template"`
}

// NSTemplate is a named SLO/SLE policy.
type NSTemplate struct {
	ID          flexString  `json:"id"`
	Description string      `json:"description,omitempty"`
	SLO         *NSSLO      `json:"slo-policy,omitempty"`
	SLE         *NSSLE      `json:"sle-policy,omitempty"`
	Template    *flexString `json:"template-ref,omitempty"`
}

// NSSlice is a slice-service.
type NSSlice struct {
	ID          flexString `json:"id"`
	Description string     `json:"description,omitempty"`
	// Policy is slo-sle-policy: a template reference or a custom policy.
	Policy *NSPolicyChoice `json:"slo-sle-policy,omitempty"`
	// Template is slo-sle-template directly under the slice (older drafts; tolerated).
	Template *flexString `json:"slo-sle-template,omitempty"`
	// ServicePolicy directly under the slice (tolerated).
	ServicePolicy *NSServicePolicy `json:"service-slo-sle-policy,omitempty"`
	SDPs          *NSSDPs          `json:"sdps,omitempty"`
	Groups        *NSGroups        `json:"connection-groups,omitempty"`
	// Status is operational state: ignored in requests, filled in answers.
	Status *NSStatus `json:"status,omitempty"`
	// TwinFlow's own state of the slice in answers (planned, active, pending-approval...).
	TFStatus string `json:"twinflow:status,omitempty"`
	TFChange string `json:"twinflow:change,omitempty"`
}

// NSPolicyChoice is the slo-sle-policy choice.
type NSPolicyChoice struct {
	Template      *flexString      `json:"slo-sle-template,omitempty"`
	Standard      *NSStandard      `json:"standard,omitempty"`
	Custom        *NSCustom        `json:"custom,omitempty"`
	ServicePolicy *NSServicePolicy `json:"service-slo-sle-policy,omitempty"`
}

// NSStandard is the standard case (a template reference).
type NSStandard struct {
	Template flexString `json:"slo-sle-template"`
}

// NSCustom is the custom case.
type NSCustom struct {
	ServicePolicy *NSServicePolicy `json:"service-slo-sle-policy,omitempty"`
}

// NSServicePolicy is service-slo-sle-policy.
type NSServicePolicy struct {
	Description string `json:"description,omitempty"`
	SLO         *NSSLO `json:"slo-policy,omitempty"`
	SLE         *NSSLE `json:"sle-policy,omitempty"`
}

// NSSLO is slo-policy.
type NSSLO struct {
	Bounds []NSBound `json:"metric-bound,omitempty"`
}

// NSBound is one metric-bound.
type NSBound struct {
	Type       string      `json:"metric-type"`
	Unit       string      `json:"metric-unit,omitempty"`
	Bound      *flexNumber `json:"bound,omitempty"`
	Percentile *flexNumber `json:"percentile-value,omitempty"`
}

// MarshalJSON writes bound values as strings (YANG uint64/decimal64 in JSON).
func (f flexNumber) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatFloat(f.V, 'f', -1, 64))
}

// NSSLE is sle-policy.
type NSSLE struct {
	Isolation flexStrings `json:"isolation,omitempty"`
}

// NSSDPs is the sdps container.
type NSSDPs struct {
	SDP []NSSDP `json:"sdp"`
}

// NSSDP is a service demarcation point.
type NSSDP struct {
	ID     flexString `json:"id"`
	NodeID string     `json:"node-id,omitempty"`
	ACs    *NSACs     `json:"attachment-circuits,omitempty"`
}

// NSACs is the attachment-circuits container.
type NSACs struct {
	AC []NSAC `json:"attachment-circuit"`
}

// NSAC is an attachment circuit: a device's access interface.
type NSAC struct {
	ID          flexString `json:"id"`
	Description string     `json:"description,omitempty"`
	NodeID      string     `json:"ac-node-id,omitempty"`
	TPID        string     `json:"ac-tp-id,omitempty"`
}

// NSGroups is the connection-groups container.
type NSGroups struct {
	Group []NSGroup `json:"connection-group"`
}

// NSGroup is a connection group.
type NSGroup struct {
	ID         flexString       `json:"id"`
	Type       string           `json:"connectivity-type,omitempty"`
	Policy     *NSServicePolicy `json:"service-slo-sle-policy,omitempty"`
	Constructs []NSConstruct    `json:"connectivity-construct,omitempty"`
}

// NSConstruct is a connectivity construct: point-to-point (sender, receiver) or an
// any-to-any list of exactly two SDPs.
type NSConstruct struct {
	ID       flexString       `json:"id"`
	Sender   flexString       `json:"p2p-sender-sdp,omitempty"`
	Receiver flexString       `json:"p2p-receiver-sdp,omitempty"`
	A2A      []NSA2A          `json:"a2a-sdp,omitempty"`
	Policy   *NSServicePolicy `json:"service-slo-sle-policy,omitempty"`
}

// NSA2A is one SDP of an any-to-any construct.
type NSA2A struct {
	SDP flexString `json:"sdp-id"`
}

// NSStatus is the operational status of a slice in answers.
type NSStatus struct {
	Admin NSStatusValue `json:"admin-status"`
	Oper  NSStatusValue `json:"oper-status"`
}

// NSStatusValue is one status leaf.
type NSStatusValue struct {
	Status string `json:"status"`
}

// FieldError is a payload error at a path (RFC 8040 error-path) with its error-tag.
type FieldError struct {
	Path string
	Tag  string // invalid-value, missing-element, data-missing, operation-not-supported
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

func fieldErr(tag, path, format string, a ...any) *FieldError {
	return &FieldError{Path: path, Tag: tag, Msg: fmt.Sprintf(format, a...)}
}

// Limits of the slice payload.
const (
	maxNSSlices     = 16
	maxNSSDPs       = 64
	maxNSGroups     = 64
	maxNSConstructs = 256
	maxNSBounds     = 16
)

// decodeYANGJSON decodes a RESTCONF body: JSON, one value, wrong types named by their
// path; members TwinFlow does not act on are ignored (documented).
func decodeYANGJSON(data []byte, v any) *FieldError {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return fieldErr("invalid-value", te.Field, "wrong type: got a JSON %s, want %s", te.Value, yangKind(te.Type.String()))
		case errors.As(err, &se):
			return fieldErr("malformed-message", "", "malformed JSON at byte %d: %v", se.Offset, err)
		}
		return fieldErr("malformed-message", "", "malformed JSON: %v", clip(err.Error(), 300))
	}
	if dec.More() {
		return fieldErr("malformed-message", "", "trailing data after the JSON value")
	}
	var rest json.RawMessage
	if err := dec.Decode(&rest); err == nil {
		return fieldErr("malformed-message", "", "trailing data after the JSON value")
	}
	return nil
}

// ParseSliceServices parses a slice request body into slices (their services
// compiled point-to-point L2VPNs). It never returns a slice the model rejects.
func ParseSliceServices(data []byte) ([]*service.Slice, error) {
	var body NSBody
	if fe := decodeYANGJSON(data, &body); fe != nil {
		return nil, fe
	}
	var slices []NSSlice
	var tmpl *NSTemplates
	root := "ietf-network-slice-service:network-slice-services"
	n := 0
	for _, c := range []*NSServices{body.Qualified, body.Unqualified} {
		if c != nil {
			n++
			slices, tmpl = c.Slices, c.Templates
		}
	}
	if body.Bare != nil || body.BareQ != nil {
		n++
		slices = append(body.Bare, body.BareQ...)
		root = ""
	}
	if n != 1 || (body.Bare != nil && body.BareQ != nil) {
		return nil, fieldErr("malformed-message", "", "want exactly one of {\"ietf-network-slice-service:network-slice-services\": {...}} or {\"slice-service\": [...]}")
	}
	base := joinPath(root, "slice-service")
	if len(slices) == 0 || len(slices) > maxNSSlices {
		return nil, fieldErr("missing-element", base, "%d slice-service entries (1 to %d)", len(slices), maxNSSlices)
	}
	templates := map[string]*NSServicePolicy{}
	if tmpl != nil {
		for i, t := range tmpl.Template {
			if t.ID == "" {
				return nil, fieldErr("missing-element", fmt.Sprintf("%s/slo-sle-templates/slo-sle-template[%d]/id", root, i), "missing")
			}
			templates[string(t.ID)] = &NSServicePolicy{SLO: t.SLO, SLE: t.SLE}
		}
	}
	var out []*service.Slice
	seen := map[string]bool{}
	for i := range slices {
		sl, err := sliceOf(&slices[i], fmt.Sprintf("%s[%d]", base, i), templates)
		if err != nil {
			return nil, err
		}
		if seen[sl.ID] {
			return nil, fieldErr("data-exists", fmt.Sprintf("%s[%d]/id", base, i), "slice %q is given twice", sl.ID)
		}
		seen[sl.ID] = true
		out = append(out, sl)
	}
	return out, nil
}

func yangKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"), strings.HasSuffix(goType, "flexStrings"):
		return "a list"
	case goType == "string", strings.HasSuffix(goType, "flexString"):
		return "a string"
	case strings.HasPrefix(goType, "float"), strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a number"
	case goType == "bool":
		return "true or false"
	}
	return "an object"
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "/" + b
}

// sloPolicy is what an SLO/SLE policy asks for.
type sloPolicy struct {
	gbps, latencyMs float64
	isolation       change.Isolation
	template        service.Template
}

// merge fills p's unset values from q.
func (p *sloPolicy) merge(q sloPolicy) {
	if p.gbps == 0 {
		p.gbps = q.gbps
	}
	if p.latencyMs == 0 {
		p.latencyMs = q.latencyMs
	}
	if p.isolation == "" {
		p.isolation = q.isolation
	}
	if p.template == "" {
		p.template = q.template
	}
}

func stripModule(s string) string {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// bandwidth units to Gb/s; a missing unit is Mbps.
var bwUnits = map[string]float64{"": 1e-3, "bps": 1e-9, "kbps": 1e-6, "mbps": 1e-3, "gbps": 1, "tbps": 1e3}

// delay units to ms; a missing unit is milliseconds.
var delayUnits = map[string]float64{"": 1, "ms": 1, "msec": 1, "milliseconds": 1, "millisecond": 1,
	"us": 1e-3, "usec": 1e-3, "microseconds": 1e-3, "microsecond": 1e-3, "s": 1e3, "seconds": 1e3}

// Metric types accepted but not evaluated by the twin (no loss or jitter model in L1).
var unevaluatedMetrics = map[string]bool{"one-way-packet-loss": true, "two-way-packet-loss": true,
	"one-way-delay-variation-maximum": true, "two-way-delay-variation-maximum": true,
	"one-way-delay-percentile": true, "two-way-delay-percentile": true,
	"one-way-delay-variation-percentile": true, "two-way-delay-variation-percentile": true}

func policyOf(sp *NSServicePolicy, path string) (sloPolicy, error) {
	var p sloPolicy
	if sp == nil {
		return p, nil
	}
	if sp.SLO != nil {
		if len(sp.SLO.Bounds) > maxNSBounds {
			return p, fieldErr("invalid-value", path+"/slo-policy/metric-bound", "%d bounds (at most %d)", len(sp.SLO.Bounds), maxNSBounds)
		}
		for i, b := range sp.SLO.Bounds {
			f := fmt.Sprintf("%s/slo-policy/metric-bound[%d]", path, i)
			typ := stripModule(b.Type)
			if typ == "" {
				return p, fieldErr("missing-element", f+"/metric-type", "missing")
			}
			unit := strings.ToLower(strings.TrimSpace(b.Unit))
			switch typ {
			case "one-way-bandwidth", "two-way-bandwidth", "shared-bandwidth":
				k, ok := bwUnits[unit]
				if !ok {
					return p, fieldErr("invalid-value", f+"/metric-unit", "%q is not a bandwidth unit (bps, kbps, Mbps, Gbps, Tbps)", b.Unit)
				}
				if b.Bound == nil {
					return p, fieldErr("missing-element", f+"/bound", "missing")
				}
				p.gbps = math.Max(p.gbps, b.Bound.V*k)
			case "one-way-delay-maximum", "two-way-delay-maximum":
				k, ok := delayUnits[unit]
				if !ok {
					return p, fieldErr("invalid-value", f+"/metric-unit", "%q is not a delay unit (milliseconds, microseconds)", b.Unit)
				}
				if b.Bound == nil || b.Bound.V <= 0 {
					return p, fieldErr("missing-element", f+"/bound", "missing or zero")
				}
				ms := b.Bound.V * k
				if typ == "two-way-delay-maximum" {
					ms /= 2 // both directions take the same path: each gets half the round trip
				}
				if p.latencyMs == 0 || ms < p.latencyMs {
					p.latencyMs = ms
				}
			default:
				if !unevaluatedMetrics[typ] {
					return p, fieldErr("invalid-value", f+"/metric-type", "%q is not a metric type of %s", b.Type, NSModule)
				}
			}
		}
	}
	if sp.SLE != nil {
		for i, v := range sp.SLE.Isolation {
			switch strings.ToLower(stripModule(v)) {
			case "traffic-isolation", "physical-isolation", "hard", "hard-isolation", "dedicated":
				p.isolation = change.IsolationHard
			case "logical-isolation", "service-isolation", "soft", "soft-isolation":
				if p.isolation == "" {
					p.isolation = change.IsolationSoft
				}
			case "none", "shared", "no-isolation":
			default:
				return p, fieldErr("invalid-value", fmt.Sprintf("%s/sle-policy/isolation[%d]", path, i), "%q is not an isolation type (traffic-isolation: hard; logical-isolation: soft)", v)
			}
		}
	}
	return p, nil
}

// templatePolicy resolves a template reference: the request's own templates first,
// then TwinFlow's verticals (urllc, embb; "-template" suffix and case ignored).
func templatePolicy(ref, path string, templates map[string]*NSServicePolicy) (sloPolicy, error) {
	if sp, ok := templates[ref]; ok {
		return policyOf(sp, path)
	}
	switch strings.TrimSuffix(strings.ToLower(stripModule(ref)), "-template") {
	case "urllc":
		return sloPolicy{template: service.URLLC}, nil
	case "embb":
		return sloPolicy{template: service.EMBB}, nil
	}
	return sloPolicy{}, fieldErr("data-missing", path, "slo-sle-template %q is neither in the request's slo-sle-templates nor one of urllc, embb", ref)
}

func slicePolicy(s *NSSlice, path string, templates map[string]*NSServicePolicy) (sloPolicy, error) {
	var p sloPolicy
	add := func(q sloPolicy, err error) error {
		if err == nil {
			p.merge(q)
		}
		return err
	}
	if s.Policy != nil {
		c := s.Policy
		pp := path + "/slo-sle-policy"
		if c.Custom != nil && c.Custom.ServicePolicy != nil {
			if err := add(policyOf(c.Custom.ServicePolicy, pp+"/custom/service-slo-sle-policy")); err != nil {
				return p, err
			}
		}
		if c.ServicePolicy != nil {
			if err := add(policyOf(c.ServicePolicy, pp+"/service-slo-sle-policy")); err != nil {
				return p, err
			}
		}
		if c.Standard != nil {
			if err := add(templatePolicy(string(c.Standard.Template), pp+"/standard/slo-sle-template", templates)); err != nil {
				return p, err
			}
		}
		if c.Template != nil {
			if err := add(templatePolicy(string(*c.Template), pp+"/slo-sle-template", templates)); err != nil {
				return p, err
			}
		}
	}
	if s.ServicePolicy != nil {
		if err := add(policyOf(s.ServicePolicy, path+"/service-slo-sle-policy")); err != nil {
			return p, err
		}
	}
	if s.Template != nil {
		if err := add(templatePolicy(string(*s.Template), path+"/slo-sle-template", templates)); err != nil {
			return p, err
		}
	}
	return p, nil
}

// constraintsOf turns an SLO/SLE policy into service constraints (zero where unset).
func (p sloPolicy) constraints() service.Constraints {
	return service.Constraints{CapacityGbps: p.gbps, MaxLatencyMs: p.latencyMs, Isolation: p.isolation}
}

// VNIOf is the VNI of a slice's (or VPN's) point-to-point service: a hash of its
// member ID into [2^20, 2^24) (the compiled VXLAN interface of a device must be unique
// there, which L0 checks).
func VNIOf(id string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return 1<<20 + h.Sum32()%(1<<24-1<<20)
}

type pairKey struct{ a, b string }

func sliceOf(s *NSSlice, path string, templates map[string]*NSServicePolicy) (*service.Slice, error) {
	if s.ID == "" {
		return nil, fieldErr("missing-element", path+"/id", "missing")
	}
	sl := &service.Slice{ID: string(s.ID), Name: s.Description}
	sp, err := slicePolicy(s, path, templates)
	if err != nil {
		return nil, err
	}
	sl.Constraints, sl.Template = sp.constraints(), sp.template

	// SDPs: one attachment circuit each
	if s.SDPs == nil || len(s.SDPs.SDP) < 2 {
		return nil, fieldErr("missing-element", path+"/sdps/sdp", "a slice needs at least two SDPs")
	}
	if len(s.SDPs.SDP) > maxNSSDPs {
		return nil, fieldErr("invalid-value", path+"/sdps/sdp", "%d SDPs (at most %d)", len(s.SDPs.SDP), maxNSSDPs)
	}
	eps := map[string]service.Endpoint{}
	var order []string
	for i, d := range s.SDPs.SDP {
		f := fmt.Sprintf("%s/sdps/sdp[%d]", path, i)
		if d.ID == "" {
			return nil, fieldErr("missing-element", f+"/id", "missing")
		}
		if _, dup := eps[string(d.ID)]; dup {
			return nil, fieldErr("data-exists", f+"/id", "SDP %q is given twice", d.ID)
		}
		if d.ACs == nil || len(d.ACs.AC) == 0 {
			return nil, fieldErr("missing-element", f+"/attachment-circuits/attachment-circuit", "an SDP needs an attachment circuit (ac-tp-id: the access interface)")
		}
		if len(d.ACs.AC) > 1 {
			return nil, fieldErr("operation-not-supported", f+"/attachment-circuits/attachment-circuit", "one attachment circuit per SDP (several are planned)")
		}
		ac := d.ACs.AC[0]
		af := f + "/attachment-circuits/attachment-circuit[0]"
		dev := ac.NodeID
		if dev == "" {
			dev = d.NodeID
		}
		if dev == "" {
			return nil, fieldErr("missing-element", f+"/node-id", "missing (and no ac-node-id)")
		}
		if d.NodeID != "" && ac.NodeID != "" && d.NodeID != ac.NodeID {
			return nil, fieldErr("invalid-value", af+"/ac-node-id", "%q differs from the SDP's node-id %q", ac.NodeID, d.NodeID)
		}
		if ac.TPID == "" {
			return nil, fieldErr("missing-element", af+"/ac-tp-id", "missing (the access interface)")
		}
		eps[string(d.ID)] = service.Endpoint{Device: dev, Interface: ac.TPID, Ref: string(d.ID)}
		order = append(order, string(d.ID))
	}

	// connection groups -> one point-to-point service per SDP pair
	type pairInfo struct {
		group string
		pol   sloPolicy
		first int
	}
	pairs := map[pairKey]*pairInfo{}
	var keys []pairKey
	addPair := func(a, b flexString, group string, pol sloPolicy, f string) error {
		if a == "" || b == "" {
			return fieldErr("missing-element", f, "a point-to-point construct names its sender and receiver SDPs")
		}
		for _, x := range []flexString{a, b} {
			if _, ok := eps[string(x)]; !ok {
				return fieldErr("data-missing", f, "SDP %q is not among the slice's sdps", x)
			}
		}
		if a == b {
			return fieldErr("invalid-value", f, "sender and receiver are the same SDP %q", a)
		}
		k := pairKey{string(a), string(b)}
		if k.b < k.a {
			k = pairKey{k.b, k.a}
		}
		if pi, ok := pairs[k]; ok {
			if pi.group != group {
				return fieldErr("invalid-value", f, "SDPs %s and %s are connected in two groups (%s, %s)", k.a, k.b, pi.group, group)
			}
			// the reverse direction: capacity is per direction (the larger), latency the tighter
			pi.pol.gbps = math.Max(pi.pol.gbps, pol.gbps)
			if pol.latencyMs > 0 && (pi.pol.latencyMs == 0 || pol.latencyMs < pi.pol.latencyMs) {
				pi.pol.latencyMs = pol.latencyMs
			}
			if pol.isolation == change.IsolationHard {
				pi.pol.isolation = pol.isolation
			}
			return nil
		}
		pairs[k] = &pairInfo{group: group, pol: pol, first: len(keys)}
		keys = append(keys, k)
		return nil
	}
	if s.Groups == nil || len(s.Groups.Group) == 0 {
		if len(order) != 2 {
			return nil, fieldErr("missing-element", path+"/connection-groups/connection-group", "with more than two SDPs the connection groups say which are connected")
		}
		// tolerated: two SDPs and no group are one point-to-point connection
		_ = addPair(flexString(order[0]), flexString(order[1]), "", sloPolicy{}, path)
	} else {
		if len(s.Groups.Group) > maxNSGroups {
			return nil, fieldErr("invalid-value", path+"/connection-groups/connection-group", "%d groups (at most %d)", len(s.Groups.Group), maxNSGroups)
		}
		nc := 0
		for gi, g := range s.Groups.Group {
			gf := fmt.Sprintf("%s/connection-groups/connection-group[%d]", path, gi)
			if g.ID == "" {
				return nil, fieldErr("missing-element", gf+"/id", "missing")
			}
			switch stripModule(g.Type) {
			case "", "point-to-point", "point-to-point-connectivity", "any-to-any", "any-to-any-connectivity":
			default:
				return nil, fieldErr("operation-not-supported", gf+"/connectivity-type", "%q: point-to-point and two-SDP any-to-any only (hub-and-spoke and multipoint are planned)", g.Type)
			}
			gp, err := policyOf(g.Policy, gf+"/service-slo-sle-policy")
			if err != nil {
				return nil, err
			}
			if len(g.Constructs) == 0 {
				return nil, fieldErr("missing-element", gf+"/connectivity-construct", "a connection group needs a connectivity construct")
			}
			for ci, c := range g.Constructs {
				nc++
				if nc > maxNSConstructs {
					return nil, fieldErr("invalid-value", gf+"/connectivity-construct", "more than %d constructs", maxNSConstructs)
				}
				cf := fmt.Sprintf("%s/connectivity-construct[%d]", gf, ci)
				cp, err := policyOf(c.Policy, cf+"/service-slo-sle-policy")
				if err != nil {
					return nil, err
				}
				cp.merge(gp)
				a, b := c.Sender, c.Receiver
				if len(c.A2A) > 0 {
					if a != "" || b != "" || len(c.A2A) != 2 {
						return nil, fieldErr("operation-not-supported", cf+"/a2a-sdp", "an any-to-any construct of exactly two SDPs only (multipoint is planned)")
					}
					a, b = c.A2A[0].SDP, c.A2A[1].SDP
				}
				if err := addPair(a, b, string(g.ID), cp, cf); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(keys) > service.MaxSliceServices {
		return nil, fieldErr("invalid-value", path+"/connection-groups", "%d connections (at most %d)", len(keys), service.MaxSliceServices)
	}
	for i, k := range keys {
		pi := pairs[k]
		id := fmt.Sprintf("c%d", i+1)
		sv := service.Service{ID: id, Type: service.L2VPN, Name: pi.group, Constraints: pi.pol.constraints(),
			Endpoints: []service.Endpoint{eps[k.a], eps[k.b]}, L2: &service.L2Options{VNI: VNIOf(sl.ID + "." + id)}}
		sl.Services = append(sl.Services, sv)
	}
	if err := sl.Validate(); err != nil {
		return nil, fieldErr("invalid-value", path, "%s", strings.TrimPrefix(err.Error(), service.ErrInvalid.Error()+": "))
	}
	return sl, nil
}

// nsSliceOf renders a stored slice in the model's terms (answers to GET).
func nsSliceOf(sl *service.Slice) NSSlice {
	out := NSSlice{ID: flexString(sl.ID), Description: sl.Name}
	if pol := servicePolicyOf(sl.Constraints); pol != nil {
		out.Policy = &NSPolicyChoice{Custom: &NSCustom{ServicePolicy: pol}}
	}
	if sl.Template != "" {
		if out.Policy == nil {
			out.Policy = &NSPolicyChoice{}
		}
		t := flexString(sl.Template)
		out.Policy.Template = &t
	}
	sdps := map[string]NSSDP{}
	var sdpOrder []string
	groups := map[string]*NSGroup{}
	var groupOrder []string
	for _, s := range sl.Services {
		var refs []string
		for i, ep := range s.Endpoints {
			ref := ep.Ref
			if ref == "" {
				ref = fmt.Sprintf("%s-%d", s.ID, i)
			}
			refs = append(refs, ref)
			if _, ok := sdps[ref]; !ok {
				sdps[ref] = NSSDP{ID: flexString(ref), NodeID: ep.Device, ACs: &NSACs{AC: []NSAC{{ID: flexString(ref), NodeID: ep.Device, TPID: ep.Interface}}}}
				sdpOrder = append(sdpOrder, ref)
			}
		}
		gid := s.Name
		if gid == "" {
			gid = s.ID
		}
		g := groups[gid]
		if g == nil {
			g = &NSGroup{ID: flexString(gid), Type: NSModule + ":point-to-point"}
			groups[gid] = g
			groupOrder = append(groupOrder, gid)
		}
		if len(refs) == 2 {
			pol := servicePolicyOf(s.Constraints)
			n := len(g.Constructs)
			g.Constructs = append(g.Constructs,
				NSConstruct{ID: flexString(strconv.Itoa(n + 1)), Sender: flexString(refs[0]), Receiver: flexString(refs[1]), Policy: pol},
				NSConstruct{ID: flexString(strconv.Itoa(n + 2)), Sender: flexString(refs[1]), Receiver: flexString(refs[0]), Policy: pol})
		}
	}
	out.SDPs = &NSSDPs{SDP: []NSSDP{}}
	for _, r := range sdpOrder {
		out.SDPs.SDP = append(out.SDPs.SDP, sdps[r])
	}
	out.Groups = &NSGroups{Group: []NSGroup{}}
	sort.Strings(groupOrder)
	for _, g := range groupOrder {
		out.Groups.Group = append(out.Groups.Group, *groups[g])
	}
	return out
}

func servicePolicyOf(c service.Constraints) *NSServicePolicy {
	var slo NSSLO
	if c.CapacityGbps > 0 {
		slo.Bounds = append(slo.Bounds, NSBound{Type: NSModule + ":one-way-bandwidth", Unit: "Mbps", Bound: &flexNumber{V: c.CapacityGbps * 1000, Set: true}})
	}
	if c.MaxLatencyMs > 0 {
		slo.Bounds = append(slo.Bounds, NSBound{Type: NSModule + ":one-way-delay-maximum", Unit: "milliseconds", Bound: &flexNumber{V: c.MaxLatencyMs, Set: true}})
	}
	pol := &NSServicePolicy{}
	if len(slo.Bounds) > 0 {
		pol.SLO = &slo
	}
	switch c.Isolation {
	case change.IsolationHard:
		pol.SLE = &NSSLE{Isolation: flexStrings{NSModule + ":traffic-isolation"}}
	case change.IsolationSoft:
		pol.SLE = &NSSLE{Isolation: flexStrings{NSModule + ":logical-isolation"}}
	}
	if pol.SLO == nil && pol.SLE == nil {
		return nil
	}
	return pol
}
