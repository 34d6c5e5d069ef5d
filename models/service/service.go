// Package service is TwinFlow's service and slice model (REQ-SERV-01/02,
// REQ-SLI-01..06, REQ-TE-03): L3VPNs (a network instance per PE with the sites'
// interfaces, a route distinguisher and static routes between sites over VXLAN
// tunnels), point-to-point L2VPNs (VXLAN + bridge: these kernels have no VLAN
// devices), SR policies (an SRv6 encapsulating route at a head end), their
// constraints (capacity, end-to-end latency, availability as k disjoint paths with
// all-active or 1+1 protection, hard or soft isolation, excluded devices and links, a
// schedule), statuses, and slices that decompose into services with vertical templates
// (URLLC latency-first, eMBB bandwidth-first).
//
// A Registry holds one Compiler per service type (built explicitly, no init()
// registration). Compiling composes the per-device configuration once (a Composer of
// owned objects) and emits it for creation or for deletion, so deletion is derived from
// the same composer as creation; the result is a change.ChangeSet of kind "service" or
// "slice": device_ops with OpenConfig paths, flows with SLOs on the TE-chosen paths, and
// the verbatim intent. The change pipeline validates it like any other change.
//
// The package is pure: no I/O, clocks or globals; "now" is passed in.
package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/routing"
)

// ErrInvalid is wrapped by every error about a malformed service or slice.
var ErrInvalid = errors.New("service: invalid")

// ErrUnsatisfiable is wrapped when a well-formed request cannot be compiled on the
// network (no path meets its constraints, an endpoint's device lacks an underlay
// address...).
var ErrUnsatisfiable = errors.New("service: cannot be realised")

// Type is a service type; each has one Compiler.
type Type string

// Service types.
const (
	L3VPN    Type = "l3vpn"
	L2VPN    Type = "l2vpn" // point-to-point: exactly two endpoints
	SRPolicy Type = "sr-policy"
)

// Status is the lifecycle status of a service or slice record.
type Status string

// Statuses (TeraFlow's service statuses).
const (
	StatusPlanned        Status = "planned"         // proposed; validated in a fork, not committed
	StatusActive         Status = "active"          // committed to the devices
	StatusUpdating       Status = "updating"        // an update is proposed
	StatusPendingRemoval Status = "pending-removal" // a removal is proposed
	StatusSLAViolated    Status = "sla-violated"    // telemetry says an SLO is missed (pipeline.CheckSLAs)
)

// Protection says how availability > 1 uses its disjoint paths.
type Protection string

// Protection kinds.
const (
	// AllActive spreads the capacity over the k paths (capacity/k on each).
	AllActive Protection = "all-active"
	// OnePlusOne sends the full capacity on every path (1+1).
	OnePlusOne Protection = "1+1"
)

// Schedule is when a service or slice should hold its resources (REQ-SLI-01).
type Schedule struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end,omitzero"`
}

// Constraints are the objectives and restrictions of a service (TeraFlowSDN's
// constraint kinds).
type Constraints struct {
	// CapacityGbps is the bandwidth each direction between two endpoints needs.
	CapacityGbps float64 `json:"capacity_gbps,omitempty"`
	// MaxLatencyMs bounds every path's one-way latency.
	MaxLatencyMs float64 `json:"max_latency_ms,omitempty"`
	// Availability is the number of disjoint paths (1 or 0: one path).
	Availability int                  `json:"availability,omitempty"`
	Protection   Protection           `json:"protection,omitempty"`
	Disjointness routing.Disjointness `json:"disjointness,omitempty"`
	// Isolation: hard = capacity reserved exclusively; soft = separation only.
	Isolation      change.Isolation `json:"isolation,omitempty"`
	ExcludeDevices []string         `json:"exclude_devices,omitempty"`
	ExcludeLinks   []string         `json:"exclude_links,omitempty"`
	// Metric orders paths: latency (default) or hops.
	Metric   routing.Metric `json:"metric,omitempty"`
	MaxHops  int            `json:"max_hops,omitempty"`
	Priority int            `json:"priority,omitempty"`
	Schedule *Schedule      `json:"schedule,omitempty"`
}

// Endpoint is where a service attaches: a device's access interface.
type Endpoint struct {
	Device    string `json:"device"`
	Interface string `json:"interface"`
	// Address is the PE side of the site's subnet ("10.1.0.1/24"), L3VPN only; the
	// site prefix other sites route to is its masked form.
	Address string `json:"address,omitempty"`
	// Ref is the requester's name for the endpoint (an IETF slice's SDP ID, an RFC 8466
	// site-network-access ID), kept so the northbound can answer in its terms.
	Ref string `json:"ref,omitempty"`
}

// L3Options are the L3VPN settings.
type L3Options struct {
	// VRF names the network instance (default: the service ID).
	VRF string `json:"vrf,omitempty"`
	// RD is the route distinguisher ("ASN:n" or "IPv4:n").
	RD string `json:"rd"`
	// Routing between sites: "static" (the compiler installs routes to the other
	// sites' prefixes). "connected" is refused: no routing protocol runs on these
	// devices to carry connected prefixes between sites.
	Routing string `json:"routing,omitempty"`
	// VNIBase is the first VNI of the site-to-site tunnels (pair p uses VNIBase+p).
	VNIBase uint32 `json:"vni_base"`
	// Transit is the pool of /31 tunnel addresses (default 100.64.0.0/24).
	Transit string `json:"transit,omitempty"`
}

// L2Options are the point-to-point L2VPN settings.
type L2Options struct {
	VNI uint32 `json:"vni"`
}

// SROptions are an SR policy's settings: traffic of the head end (the first endpoint)
// to Prefix is encapsulated into SRv6 along a TE path to the second endpoint's device.
type SROptions struct {
	Prefix string         `json:"prefix"`
	Hops   []routing.Hop  `json:"hops,omitempty"`
	Metric routing.Metric `json:"metric,omitempty"`
	// Compress drops segments the shortest path follows anyway.
	Compress bool `json:"compress,omitempty"`
}

// Service is one connectivity service.
type Service struct {
	ID          string      `json:"id"`
	Type        Type        `json:"type"`
	Name        string      `json:"name,omitempty"`
	Endpoints   []Endpoint  `json:"endpoints"`
	Constraints Constraints `json:"constraints,omitzero"`
	L3          *L3Options  `json:"l3,omitempty"`
	L2          *L2Options  `json:"l2,omitempty"`
	SR          *SROptions  `json:"sr,omitempty"`
	// Generation numbers the service's versions (1 on creation, +1 per update): flow
	// IDs carry it so an update removes the old flows and adds new ones in one change.
	Generation int `json:"generation,omitempty"`
}

// Limits.
const (
	MaxEndpoints = 16
	maxIDLen     = 64
	maxNameLen   = 256
)

var (
	idRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	rdRe   = regexp.MustCompile(`^[0-9]{1,10}:[0-9]{1,10}$|^[0-9]{1,3}(\.[0-9]{1,3}){3}:[0-9]{1,5}$`)
	nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`)
)

// CheckID says what is wrong with a service or slice ID, or "" (see checkID).
func CheckID(id string) string { return checkID("id", id) }

// checkID: service and slice IDs are letters, digits, '_', '.', '-' (no ':' — the twin's
// "slo:<flow>" records never collide with them — and no '/', which flow IDs use).
func checkID(field, id string) string {
	switch {
	case id == "":
		return field + ": missing"
	case len(id) > maxIDLen:
		return fmt.Sprintf("%s: longer than %d characters", field, maxIDLen)
	case !idRe.MatchString(id):
		return fmt.Sprintf("%s: %q: letters, digits, '_', '.' and '-' only, starting with a letter or digit", field, id)
	}
	return ""
}

// Validate checks a service's structure and applies defaults (generation 1, protection
// all-active, link disjointness, latency metric, static routing, transit pool). Errors
// wrap ErrInvalid and name every offending field.
func (s *Service) Validate() error {
	var errs []string
	add := func(m string) {
		if m != "" {
			errs = append(errs, m)
		}
	}
	add(checkID("id", s.ID))
	if len(s.Name) > maxNameLen {
		add(fmt.Sprintf("name: longer than %d characters", maxNameLen))
	}
	if s.Generation < 0 {
		add("generation: must be >= 0")
	}
	if s.Generation == 0 {
		s.Generation = 1
	}
	if len(s.Endpoints) > MaxEndpoints {
		add(fmt.Sprintf("endpoints: %d (at most %d)", len(s.Endpoints), MaxEndpoints))
	}
	seen := map[string]bool{}
	for i, ep := range s.Endpoints {
		f := fmt.Sprintf("endpoints[%d]", i)
		if ep.Device == "" || !nameRe.MatchString(ep.Device) || len(ep.Device) > 128 {
			add(fmt.Sprintf("%s.device: %q is not a device ID", f, ep.Device))
		}
		if s.Type != SRPolicy && (ep.Interface == "" || strings.ContainsAny(ep.Interface, "[]/ ") || len(ep.Interface) > 64) {
			add(fmt.Sprintf("%s.interface: %q is not an interface name", f, ep.Interface))
		}
		if len(ep.Ref) > maxNameLen || strings.ContainsFunc(ep.Ref, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			add(fmt.Sprintf("%s.ref: at most %d printable characters", f, maxNameLen))
		}
		k := ep.Device + "|" + ep.Interface
		if seen[k] {
			add(fmt.Sprintf("%s: %s %s is given twice", f, ep.Device, ep.Interface))
		}
		seen[k] = true
	}
	c := &s.Constraints
	add(c.validate("constraints"))
	switch s.Type {
	case L3VPN:
		if len(s.Endpoints) < 2 {
			add("endpoints: an L3VPN joins at least 2 sites")
		}
		if s.L3 == nil {
			add("l3: missing for an L3VPN")
			break
		}
		if s.L2 != nil || s.SR != nil {
			add("l2/sr: an L3VPN takes only l3 options")
		}
		if s.L3.VRF == "" {
			s.L3.VRF = s.ID
		}
		add(checkID("l3.vrf", s.L3.VRF))
		if !rdRe.MatchString(s.L3.RD) {
			add(fmt.Sprintf("l3.rd: %q is not a route distinguisher (ASN:n or IPv4:n)", s.L3.RD))
		}
		switch s.L3.Routing {
		case "", "static":
			s.L3.Routing = "static"
		case "connected":
			add("l3.routing: connected routing between sites needs a routing protocol the devices do not run; use static")
		default:
			add(fmt.Sprintf("l3.routing: %q (one of static)", s.L3.Routing))
		}
		pairs := uint32(len(s.Endpoints) * (len(s.Endpoints) - 1) / 2)
		if s.L3.VNIBase == 0 || s.L3.VNIBase+pairs > 1<<24 {
			add(fmt.Sprintf("l3.vni_base: %d: must be >= 1 and leave %d VNIs below 2^24", s.L3.VNIBase, pairs))
		}
		if s.L3.Transit == "" {
			s.L3.Transit = "100.64.0.0/24"
		}
		if p, err := netip.ParsePrefix(s.L3.Transit); err != nil || !p.Addr().Is4() || p.Masked() != p {
			add(fmt.Sprintf("l3.transit: %q is not a canonical IPv4 prefix", s.L3.Transit))
		} else if need := 2 * int(pairs); p.Bits() > 32 || (32-p.Bits() < 31 && 1<<(32-p.Bits()) < need) {
			add(fmt.Sprintf("l3.transit: %s holds fewer than the %d addresses %d site pairs need", s.L3.Transit, need, pairs))
		}
		for i, ep := range s.Endpoints {
			if p, err := netip.ParsePrefix(ep.Address); err != nil || !p.Addr().Is4() || p.Bits() > 30 {
				add(fmt.Sprintf("endpoints[%d].address: %q is not an IPv4 interface address with a prefix of at most /30", i, ep.Address))
			}
		}
	case L2VPN:
		if len(s.Endpoints) != 2 {
			add("endpoints: an L2VPN is point-to-point here: exactly 2 endpoints (multipoint needs split horizon, planned)")
		}
		if s.L2 == nil || s.L2.VNI == 0 || s.L2.VNI >= 1<<24 {
			add("l2.vni: missing or out of [1, 2^24-1]")
		}
		if s.L3 != nil || s.SR != nil {
			add("l3/sr: an L2VPN takes only l2 options")
		}
		for i, ep := range s.Endpoints {
			if ep.Address != "" {
				add(fmt.Sprintf("endpoints[%d].address: an L2VPN endpoint carries no address", i))
			}
		}
	case SRPolicy:
		if len(s.Endpoints) != 2 {
			add("endpoints: an SR policy has a head end and an end point: exactly 2")
		}
		if s.SR == nil {
			add("sr: missing for an SR policy")
			break
		}
		if p, err := netip.ParsePrefix(s.SR.Prefix); err != nil || !p.Addr().Is4() || p.Masked() != p {
			add(fmt.Sprintf("sr.prefix: %q is not a canonical IPv4 prefix", s.SR.Prefix))
		}
		if len(s.SR.Hops) > 32 {
			add("sr.hops: at most 32")
		}
		if c.Availability > 1 {
			add("constraints.availability: an SR policy is one path")
		}
	case "":
		add("type: missing (one of l3vpn, l2vpn, sr-policy)")
	default:
		add(fmt.Sprintf("type: unknown service type %q (one of l3vpn, l2vpn, sr-policy)", s.Type))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: service %q: %s", ErrInvalid, s.ID, strings.Join(errs, "; "))
	}
	return nil
}

func (c *Constraints) validate(f string) string {
	var errs []string
	finite := func(name string, v float64) {
		if !(v >= 0) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Sprintf("%s.%s: must be a finite number >= 0, got %v", f, name, v))
		}
	}
	finite("capacity_gbps", c.CapacityGbps)
	finite("max_latency_ms", c.MaxLatencyMs)
	if c.Availability < 0 || c.Availability > 4 {
		errs = append(errs, fmt.Sprintf("%s.availability: %d out of [1, 4]", f, c.Availability))
	}
	if c.Availability == 0 {
		c.Availability = 1
	}
	switch c.Protection {
	case "":
		c.Protection = AllActive
	case AllActive, OnePlusOne:
	default:
		errs = append(errs, fmt.Sprintf("%s.protection: %q (one of all-active, 1+1)", f, c.Protection))
	}
	switch c.Disjointness {
	case "":
		c.Disjointness = routing.LinkDisjoint
	case routing.LinkDisjoint, routing.NodeDisjoint:
	default:
		errs = append(errs, fmt.Sprintf("%s.disjointness: %q (one of link, node)", f, c.Disjointness))
	}
	switch c.Isolation {
	case change.IsolationNone, change.IsolationSoft:
	case change.IsolationHard:
		if !(c.CapacityGbps > 0) {
			errs = append(errs, f+".isolation: hard isolation reserves capacity: capacity_gbps must be > 0")
		}
	default:
		errs = append(errs, fmt.Sprintf("%s.isolation: %q (one of soft, hard)", f, c.Isolation))
	}
	switch c.Metric {
	case "":
		c.Metric = routing.Latency
	case routing.Latency, routing.Hops:
	default:
		errs = append(errs, fmt.Sprintf("%s.metric: %q (one of latency, hops)", f, c.Metric))
	}
	if c.MaxHops < 0 || c.MaxHops > 255 {
		errs = append(errs, fmt.Sprintf("%s.max_hops: %d out of [0, 255]", f, c.MaxHops))
	}
	if c.Priority < 0 || c.Priority >= routing.NumPriorities {
		errs = append(errs, fmt.Sprintf("%s.priority: %d out of [0, %d]", f, c.Priority, routing.NumPriorities-1))
	}
	if len(c.ExcludeDevices)+len(c.ExcludeLinks) > 1024 {
		errs = append(errs, f+": at most 1024 exclusions")
	}
	if s := c.Schedule; s != nil {
		if s.Start.IsZero() {
			errs = append(errs, f+".schedule.start: missing")
		}
		if !s.End.IsZero() && !s.End.After(s.Start) {
			errs = append(errs, fmt.Sprintf("%s.schedule.end: %s is not after start %s", f, s.End.Format(time.RFC3339), s.Start.Format(time.RFC3339)))
		}
	}
	return strings.Join(errs, "; ")
}

// maxDocument caps a decoded service or slice document.
const maxDocument = 1 << 20

// decodeStrict decodes JSON into v, refusing unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	if len(data) > maxDocument {
		return fmt.Errorf("%w: document larger than %d bytes", ErrInvalid, maxDocument)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the JSON document", ErrInvalid)
	}
	return nil
}

// DecodeService parses and validates a service document (JSON, unknown fields
// rejected).
func DecodeService(data []byte) (*Service, error) {
	var s Service
	if err := decodeStrict(data, &s); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Scheduled reports whether the schedule (if any) has ended at now: a service whose
// schedule ended is refused at compile time. Activation at Start is recorded, not yet
// acted on by a scheduler (planned).
func (c *Constraints) ended(now time.Time) bool {
	return c.Schedule != nil && !c.Schedule.End.IsZero() && !now.IsZero() && !now.Before(c.Schedule.End)
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
