// Package interdomain builds end-to-end network slices across administrative domains
// (issue 19 item 3; seed 000 §6.3.2.8 and §8.9, REQ-INT-01..02): each domain is a
// TwinFlow controller. A coordinating controller reads the peers' abstracted topology
// (GET /alto/interdomain), splits the end-to-end slice into one sub-slice per domain
// (ingress and egress at the inter-domain links), and orders each sub-slice from its
// domain. Each domain validates its sub-slice in its own twin (proposed through its
// change pipeline, L1 must pass) before accepting it, and commits it with a confirm
// window. The coordinator confirms every sub-slice only once all domains accepted, and
// rolls back every accepted one otherwise: all or nothing. Its durable record says
// which domain is where at every step. See docs/interdomain.md.
package interdomain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twinflow/twinflow/apps/broker"
	"github.com/twinflow/twinflow/models/change"
)

// Bounds of the requests.
const (
	MaxRequestBytes  = 16 << 10
	MaxDomainsInPath = 16
	maxIDLen         = 64
	maxRateGbps      = 1e6
	maxLatencyMs     = 1e6
	minConfirm       = 2 * time.Second
	maxConfirm       = 10 * time.Minute
	defaultConfirm   = 60 * time.Second
)

// ErrInvalid marks a malformed or out-of-bounds request; nothing was done.
var ErrInvalid = errors.New("invalid inter-domain request")

// SLO is a slice's or sub-slice's service-level objective.
type SLO struct {
	// MinRateGbps is the rate the slice's flow must get (0 < r ≤ 1e6 Gb/s).
	MinRateGbps float64 `json:"min_rate_gbps"`
	// MaxLatencyMs bounds the one-way latency (0: none).
	MaxLatencyMs float64 `json:"max_latency_ms,omitempty"`
	// Isolation is "", "soft" or "hard" (hard: the rate is reserved).
	Isolation string `json:"isolation,omitempty"`
}

func (s SLO) check(at string) error {
	switch {
	case math.IsNaN(s.MinRateGbps) || s.MinRateGbps <= 0 || s.MinRateGbps > maxRateGbps:
		return fmt.Errorf("%w: %smin_rate_gbps: a number in (0, %g], got %v", ErrInvalid, at, float64(maxRateGbps), s.MinRateGbps)
	case math.IsNaN(s.MaxLatencyMs) || s.MaxLatencyMs < 0 || s.MaxLatencyMs > maxLatencyMs:
		return fmt.Errorf("%w: %smax_latency_ms: a number in [0, %g], got %v", ErrInvalid, at, float64(maxLatencyMs), s.MaxLatencyMs)
	case s.Isolation != "" && s.Isolation != "soft" && s.Isolation != "hard":
		return fmt.Errorf("%w: %sisolation: \"\", soft or hard, got %q", ErrInvalid, at, s.Isolation)
	}
	return nil
}

func (s SLO) change() *change.SLO {
	return &change.SLO{MinRateGbps: s.MinRateGbps, MaxLatencyMs: s.MaxLatencyMs, Isolation: change.Isolation(s.Isolation)}
}

// SubSliceRequest is what a coordinator asks of one domain (POST
// /api/v1/interdomain/subslices): a flow from Src to Dst (devices of that domain's
// twin: its ingress and egress) meeting SLO, committed with a confirm window.
type SubSliceRequest struct {
	// Slice is the end-to-end slice's ID.
	Slice string `json:"slice"`
	// Coordinator is the coordinating domain's name.
	Coordinator string `json:"coordinator"`
	Src         string `json:"src"`
	Dst         string `json:"dst"`
	SLO         SLO    `json:"slo"`
	// ConfirmTimeout is the commit's confirm window (2s–10m, default 60s): without a
	// confirm within it, the domain rolls the sub-slice back by itself.
	ConfirmTimeout string `json:"confirm_timeout,omitempty"`
}

// Window returns the confirm window of r (checked by ParseSubSliceRequest).
func (r *SubSliceRequest) Window() time.Duration {
	d, err := parseWindow(r.ConfirmTimeout)
	if err != nil {
		return defaultConfirm
	}
	return d
}

// FlowID is the twin flow of slice's sub-slice.
func FlowID(slice string) string { return "interdomain/" + slice }

// IntentType marks the changes that are sub-slices (the only changes a peer may
// confirm or roll back).
const IntentType = "interdomain.subslice"

// Ending is the body of confirm and rollback of a sub-slice.
type Ending struct {
	Reason string `json:"reason,omitempty"`
}

// Endpoint is a device of a domain.
type Endpoint struct {
	Domain string `json:"domain"`
	Device string `json:"device"`
}

// SliceRequest is an end-to-end slice ordered from the coordinator (POST
// /api/v1/interdomain/slices).
type SliceRequest struct {
	// Name identifies the slice (letters, digits, '-', '_', '.'; 1–64).
	Name string   `json:"name"`
	Src  Endpoint `json:"src"`
	Dst  Endpoint `json:"dst"`
	// Domains is the domain path, from Src's domain to Dst's (2–16, no repeats).
	Domains []string `json:"domains"`
	SLO     SLO      `json:"slo"`
	// LatencyBudgetMs optionally fixes a domain's share of SLO.MaxLatencyMs (the
	// inter-domain link it sends over included); the rest is split evenly among the
	// other domains.
	LatencyBudgetMs map[string]float64 `json:"latency_budget_ms,omitempty"`
	ConfirmTimeout  string             `json:"confirm_timeout,omitempty"`
}

func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func parseWindow(s string) (time.Duration, error) {
	if s == "" {
		return defaultConfirm, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < minConfirm || d > maxConfirm {
		return 0, fmt.Errorf("%w: confirm_timeout: a duration from %v to %v, got %q", ErrInvalid, minConfirm, maxConfirm, s)
	}
	return d, nil
}

// decodeStrict decodes one JSON object of at most MaxRequestBytes, refusing unknown
// fields and trailing data.
func decodeStrict(b []byte, v any) error {
	if len(b) > MaxRequestBytes {
		return fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the object", ErrInvalid)
	}
	return nil
}

// ParseSubSliceRequest decodes and checks a sub-slice request: every field bounded,
// IDs valid, Src ≠ Dst. Errors wrap ErrInvalid and name the field.
func ParseSubSliceRequest(b []byte) (*SubSliceRequest, error) {
	var r SubSliceRequest
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	return &r, r.check()
}

func (r *SubSliceRequest) check() error {
	switch {
	case !validID(r.Slice):
		return fmt.Errorf("%w: slice: 1 to %d of letters, digits, '-', '_' and '.', got %q", ErrInvalid, maxIDLen, r.Slice)
	case !broker.ValidDomainName(r.Coordinator):
		return fmt.Errorf("%w: coordinator: 1 to 32 of letters, digits, '-' and '_', got %q", ErrInvalid, r.Coordinator)
	case !validID(r.Src):
		return fmt.Errorf("%w: src: a device ID (1 to %d of letters, digits, '-', '_' and '.'), got %q", ErrInvalid, maxIDLen, r.Src)
	case !validID(r.Dst):
		return fmt.Errorf("%w: dst: a device ID (1 to %d of letters, digits, '-', '_' and '.'), got %q", ErrInvalid, maxIDLen, r.Dst)
	case r.Src == r.Dst:
		return fmt.Errorf("%w: dst: equal to src (%q)", ErrInvalid, r.Src)
	}
	if err := r.SLO.check("slo."); err != nil {
		return err
	}
	_, err := parseWindow(r.ConfirmTimeout)
	return err
}

// ParseSliceRequest decodes and checks an end-to-end slice request. Errors wrap
// ErrInvalid and name the field.
func ParseSliceRequest(b []byte) (*SliceRequest, error) {
	var r SliceRequest
	if err := decodeStrict(b, &r); err != nil {
		return nil, err
	}
	return &r, r.check()
}

func (r *SliceRequest) check() error {
	if !validID(r.Name) {
		return fmt.Errorf("%w: name: 1 to %d of letters, digits, '-', '_' and '.', got %q", ErrInvalid, maxIDLen, r.Name)
	}
	if n := len(r.Domains); n < 2 || n > MaxDomainsInPath {
		return fmt.Errorf("%w: domains: a path of 2 to %d domains, got %d", ErrInvalid, MaxDomainsInPath, n)
	}
	seen := map[string]bool{}
	for i, d := range r.Domains {
		if !broker.ValidDomainName(d) {
			return fmt.Errorf("%w: domains[%d]: 1 to 32 of letters, digits, '-' and '_', got %q", ErrInvalid, i, d)
		}
		if seen[d] {
			return fmt.Errorf("%w: domains[%d]: %q appears twice", ErrInvalid, i, d)
		}
		seen[d] = true
	}
	for f, e := range map[string]Endpoint{"src": r.Src, "dst": r.Dst} {
		if !validID(e.Device) {
			return fmt.Errorf("%w: %s.device: a device ID (1 to %d of letters, digits, '-', '_' and '.'), got %q", ErrInvalid, f, maxIDLen, e.Device)
		}
	}
	if r.Src.Domain != r.Domains[0] {
		return fmt.Errorf("%w: src.domain: must be the first domain of the path (%q), got %q", ErrInvalid, r.Domains[0], r.Src.Domain)
	}
	if last := r.Domains[len(r.Domains)-1]; r.Dst.Domain != last {
		return fmt.Errorf("%w: dst.domain: must be the last domain of the path (%q), got %q", ErrInvalid, last, r.Dst.Domain)
	}
	if err := r.SLO.check("slo."); err != nil {
		return err
	}
	if len(r.LatencyBudgetMs) > 0 && r.SLO.MaxLatencyMs == 0 {
		return fmt.Errorf("%w: latency_budget_ms: needs slo.max_latency_ms", ErrInvalid)
	}
	var sum float64
	for d, v := range r.LatencyBudgetMs {
		if !seen[d] {
			return fmt.Errorf("%w: latency_budget_ms.%s: not a domain of the path", ErrInvalid, d)
		}
		if math.IsNaN(v) || v <= 0 || v > maxLatencyMs {
			return fmt.Errorf("%w: latency_budget_ms.%s: a number in (0, %g], got %v", ErrInvalid, d, float64(maxLatencyMs), v)
		}
		sum += v
	}
	if sum > r.SLO.MaxLatencyMs {
		return fmt.Errorf("%w: latency_budget_ms: the budgets add up to %g ms, more than slo.max_latency_ms %g", ErrInvalid, sum, r.SLO.MaxLatencyMs)
	}
	if len(r.LatencyBudgetMs) < len(r.Domains) && len(r.LatencyBudgetMs) > 0 && sum >= r.SLO.MaxLatencyMs {
		return fmt.Errorf("%w: latency_budget_ms: the budgets (%g ms) leave nothing of slo.max_latency_ms %g for the other domains", ErrInvalid, sum, r.SLO.MaxLatencyMs)
	}
	_, err := parseWindow(r.ConfirmTimeout)
	return err
}

// budgets returns each domain's latency bound (0: none).
func (r *SliceRequest) budgets() map[string]float64 {
	out := map[string]float64{}
	if r.SLO.MaxLatencyMs == 0 {
		return out
	}
	rest, n := r.SLO.MaxLatencyMs, 0
	for _, d := range r.Domains {
		if v, ok := r.LatencyBudgetMs[d]; ok {
			out[d] = v
			rest -= v
		} else {
			n++
		}
	}
	for _, d := range r.Domains {
		if _, ok := out[d]; !ok {
			out[d] = rest / float64(n)
		}
	}
	return out
}
