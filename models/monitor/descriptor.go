// Package monitor is the pure logic of TwinFlow's monitoring (REQ-MON-01..08, seed 000
// §3.5, after TeraFlowSDN's monitoring component): KPI descriptors and their bounds,
// threshold evaluation with hysteresis, the grouping of related alarms under one root
// (a failed link and the flows and services on it), the reconciliation of the alarms
// that should be active with those that are, and the comparison of what the twin
// predicted with what telemetry measures (model divergence).
//
// Nothing here does I/O or reads a clock: times are passed in. The running service is
// twin/monitor.
package monitor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrInvalid is wrapped by every validation error; the text names the field.
var ErrInvalid = errors.New("invalid")

func invalidf(field, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, a...))
}

// Kind is what a KPI is about.
type Kind string

// KPI kinds (TeraFlowSDN's KpiDescriptor names a device, endpoint, service, slice or
// connection; TwinFlow adds links and flows, which its twin models directly).
const (
	KindDevice   Kind = "device"
	KindEndpoint Kind = "endpoint"
	KindLink     Kind = "link"
	KindFlow     Kind = "flow"
	KindService  Kind = "service"
	KindSlice    Kind = "slice"
)

// Metrics lists, per kind, the metrics a KPI may sample. "predicted_*" metrics come
// from the twin's models (the bottleneck structure of the intended flows); the others
// from telemetry (the twin's observed state). A link's metrics without "_rev" are of
// its A→B direction (endpoints[0] to endpoints[1]), "_rev" of B→A. A flow's
// observed_rate_gbps is an estimate: the observed load of each link on its path shared
// in proportion to the predicted rates, the smallest over the path.
var Metrics = map[Kind][]string{
	KindDevice:   {"reachable"},
	KindEndpoint: {"oper_up", "in_rate_gbps", "out_rate_gbps", "in_errors", "out_errors", "in_discards", "out_discards"},
	KindLink: {"oper_up", "rate_gbps", "rate_gbps_rev", "utilisation", "utilisation_rev",
		"predicted_load_gbps", "predicted_load_gbps_rev"},
	KindFlow:    {"predicted_rate_gbps", "observed_rate_gbps"},
	KindService: {"predicted_min_rate_gbps", "observed_min_rate_gbps", "flows"},
	KindSlice:   {"predicted_min_rate_gbps", "observed_min_rate_gbps", "flows"},
}

// Bounds of descriptors.
const (
	MaxIDLen          = 128
	MaxTextLen        = 512
	MinSampleInterval = 100 * time.Millisecond
	MaxSampleInterval = time.Hour
	// MaxThreshold bounds a threshold's magnitude.
	MaxThreshold = 1e12
	// MaxDescriptorBytes bounds an encoded descriptor.
	MaxDescriptorBytes = 16 << 10
)

// Severity of an alarm.
type Severity string

// Severities (ITU-T X.733 perceived severities, without indeterminate).
const (
	SeverityCritical Severity = "critical"
	SeverityMajor    Severity = "major"
	SeverityMinor    Severity = "minor"
	SeverityWarning  Severity = "warning"
)

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool {
	switch s {
	case SeverityCritical, SeverityMajor, SeverityMinor, SeverityWarning:
		return true
	}
	return false
}

// Direction of a threshold.
type Direction string

// Directions: an "above" alarm raises when the value rises above Raise and clears when
// it falls below Clear (Clear ≤ Raise); "below" the other way round.
const (
	Above Direction = "above"
	Below Direction = "below"
)

// Threshold raises an alarm when a KPI crosses Raise and clears it only when it comes
// back past Clear: the band between the two (hysteresis) keeps a value hovering around
// one level from raising and clearing over and over.
type Threshold struct {
	Direction Direction `json:"direction"`
	Raise     float64   `json:"raise"`
	Clear     float64   `json:"clear"`
	// Severity of the alarm (default major).
	Severity Severity `json:"severity,omitempty"`
}

// Next returns whether the alarm is active after the value v, given whether it was
// active before. Strict comparisons: a value equal to Raise does not raise, one equal to
// Clear does not clear.
func (t Threshold) Next(active bool, v float64) bool {
	if math.IsNaN(v) {
		return active
	}
	if t.Direction == Below {
		if active {
			return !(v > t.Clear)
		}
		return v < t.Raise
	}
	if active {
		return !(v < t.Clear)
	}
	return v > t.Raise
}

// Validate checks the threshold's bounds and that Clear is on the clearing side of Raise.
func (t *Threshold) Validate(field string) error {
	if t.Direction != Above && t.Direction != Below {
		return invalidf(field+".direction", "must be above or below, got %q", t.Direction)
	}
	for name, v := range map[string]float64{"raise": t.Raise, "clear": t.Clear} {
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > MaxThreshold {
			return invalidf(field+"."+name, "must be a finite number of magnitude at most %g, got %v", MaxThreshold, v)
		}
	}
	if t.Direction == Above && t.Clear > t.Raise {
		return invalidf(field+".clear", "an above threshold clears at or below its raise level: clear %v > raise %v", t.Clear, t.Raise)
	}
	if t.Direction == Below && t.Clear < t.Raise {
		return invalidf(field+".clear", "a below threshold clears at or above its raise level: clear %v < raise %v", t.Clear, t.Raise)
	}
	if t.Severity == "" {
		t.Severity = SeverityMajor
	}
	if !t.Severity.Valid() {
		return invalidf(field+".severity", "must be critical, major, minor or warning, got %q", t.Severity)
	}
	return nil
}

// Descriptor describes one KPI: what it is about (Kind, Subject and, for an endpoint,
// Endpoint), which metric, how often it is sampled, and an optional threshold.
type Descriptor struct {
	ID          string `json:"id"`
	Description string `json:"description,omitempty"`
	Kind        Kind   `json:"kind"`
	// Subject is the device, link, flow, service or slice ID (for an endpoint, its device).
	Subject  string `json:"subject"`
	Endpoint string `json:"endpoint,omitempty"`
	Metric   string `json:"metric"`
	// SampleIntervalS is the sampling interval in seconds, in [0.1, 3600] (TeraFlow's
	// sampling_interval_s).
	SampleIntervalS float64    `json:"sample_interval_s"`
	Threshold       *Threshold `json:"threshold,omitempty"`
	Created         time.Time  `json:"created,omitzero"`
}

// Interval is the sampling interval as a duration.
func (d *Descriptor) Interval() time.Duration {
	return time.Duration(d.SampleIntervalS * float64(time.Second))
}

// CheckID validates an identifier (KPI, alarm, subject): 1..MaxIDLen bytes of letters,
// digits and - _ . : / ~ @.
func CheckID(field, v string) error {
	if v == "" {
		return invalidf(field, "must not be empty")
	}
	if len(v) > MaxIDLen {
		return invalidf(field, "longer than %d bytes", MaxIDLen)
	}
	for _, r := range v {
		if !(r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-_.:/~@", r))) {
			return invalidf(field, "may hold letters, digits and - _ . : / ~ @ only, got %q", v)
		}
	}
	return nil
}

// CheckText validates free text: valid UTF-8, no control characters, at most MaxTextLen bytes.
func CheckText(field, v string) error {
	if len(v) > MaxTextLen {
		return invalidf(field, "longer than %d bytes", MaxTextLen)
	}
	if !utf8.ValidString(v) {
		return invalidf(field, "not valid UTF-8")
	}
	if strings.IndexFunc(v, unicode.IsControl) >= 0 {
		return invalidf(field, "contains a control character")
	}
	return nil
}

// Validate checks every field's bounds; it fills in the threshold's default severity.
func (d *Descriptor) Validate() error {
	if err := CheckID("id", d.ID); err != nil {
		return err
	}
	if err := CheckText("description", d.Description); err != nil {
		return err
	}
	ms, ok := Metrics[d.Kind]
	if !ok {
		return invalidf("kind", "must be device, endpoint, link, flow, service or slice, got %q", d.Kind)
	}
	if err := CheckID("subject", d.Subject); err != nil {
		return err
	}
	if d.Kind == KindEndpoint {
		if err := CheckID("endpoint", d.Endpoint); err != nil {
			return err
		}
	} else if d.Endpoint != "" {
		return invalidf("endpoint", "only an endpoint KPI names an endpoint")
	}
	if !slices.Contains(ms, d.Metric) {
		return invalidf("metric", "a %s KPI samples one of %s, got %q", d.Kind, strings.Join(ms, ", "), d.Metric)
	}
	if v := d.SampleIntervalS; math.IsNaN(v) || v < MinSampleInterval.Seconds() || v > MaxSampleInterval.Seconds() {
		return invalidf("sample_interval_s", "must be in [%g, %g] seconds, got %v", MinSampleInterval.Seconds(), MaxSampleInterval.Seconds(), v)
	}
	if d.Threshold != nil {
		if err := d.Threshold.Validate("threshold"); err != nil {
			return err
		}
	}
	return nil
}

// ParseDescriptor decodes one JSON descriptor strictly (unknown fields, trailing data
// and oversized documents are errors) and validates it.
func ParseDescriptor(data []byte) (Descriptor, error) {
	var d Descriptor
	if len(data) > MaxDescriptorBytes {
		return d, invalidf("descriptor", "larger than %d bytes", MaxDescriptorBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Descriptor{}, invalidf("descriptor", "%v", err)
	}
	if dec.More() {
		return Descriptor{}, invalidf("descriptor", "trailing data after the document")
	}
	d.Created = time.Time{}
	if err := d.Validate(); err != nil {
		return Descriptor{}, err
	}
	return d, nil
}
