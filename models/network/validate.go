package network

import (
	"fmt"
	"math"
	"slices"
	"strconv"
)

// MaxIDLength is the maximum length of any ID (context, topology, device, endpoint,
// link, flow).
const MaxIDLength = 128

// Kind names the kind of element an ID refers to, for reference checks.
type Kind string

// Element kinds.
const (
	KindContext  Kind = "context"
	KindTopology Kind = "topology"
	KindDevice   Kind = "device"
	KindLink     Kind = "link"
	KindFlow     Kind = "flow"
)

// KnownDeviceTypes, KnownDrivers and KnownStatuses list the accepted enum values.
var (
	KnownDeviceTypes = []DeviceType{DeviceRouter, DeviceSwitch, DeviceHost, DeviceOptical}
	KnownDrivers     = []DriverKind{DriverGNMI, DriverEmulated}
	KnownStatuses    = []OperStatus{StatusUndefined, StatusEnabled, StatusDisabled, StatusUnreachable}
)

// CheckID returns "" if id is a valid ID, otherwise what is wrong with it. Valid IDs are
// 1 to MaxIDLength characters of ASCII letters, digits and "-_.:/".
func CheckID(id string) string {
	if id == "" {
		return "required"
	}
	if len(id) > MaxIDLength {
		return fmt.Sprintf("longer than %d characters", MaxIDLength)
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return fmt.Sprintf("invalid character %q at offset %d (allowed: letters, digits, -_.:/)", rune(id[i]), i)
		}
	}
	return ""
}

func idChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == ':' || c == '/'
}

// loc formats the locator of an element: "devices[r1]" when it has an ID, "devices[3]"
// (its index) when the ID is empty.
func loc(coll, id string, i int) string {
	if id == "" || CheckID(id) != "" {
		return coll + "[" + strconv.Itoa(i) + "]"
	}
	return coll + "[" + id + "]"
}

// ValidateContext checks a context on its own. Errors are *ValidationError whose
// fields start with "contexts[<id>]".
func ValidateContext(c Context) error {
	ve := &ValidationError{}
	validateContext(ve, loc("contexts", c.ID, 0), c)
	return ve.err()
}

func validateContext(ve *ValidationError, at string, c Context) {
	if msg := CheckID(c.ID); msg != "" {
		ve.add(at+".id", msg)
	}
	checkText(ve, at+".name", c.Name)
}

// ValidateDevice checks a device on its own: ID, type, drivers, status, endpoints
// (valid and unique IDs), config rules, coordinates and labels. Errors are
// *ValidationError whose fields start with "devices[<id>]".
func ValidateDevice(d Device) error {
	ve := &ValidationError{}
	validateDevice(ve, loc("devices", d.ID, 0), d)
	return ve.err()
}

func validateDevice(ve *ValidationError, at string, d Device) {
	if msg := CheckID(d.ID); msg != "" {
		ve.add(at+".id", msg)
	}
	switch {
	case d.Type == "":
		ve.add(at+".type", "required")
	case !knownType(d.Type):
		ve.add(at+".type", fmt.Sprintf("unknown device type %q (known: %v)", d.Type, KnownDeviceTypes))
	}
	for i, dr := range d.Drivers {
		if !knownDriver(dr) {
			ve.add(at+".drivers["+strconv.Itoa(i)+"]", fmt.Sprintf("unknown driver %q (known: %v)", dr, KnownDrivers))
		} else if slices.Contains(d.Drivers[:i], dr) {
			ve.add(at+".drivers["+strconv.Itoa(i)+"]", fmt.Sprintf("duplicate driver %q", dr))
		}
	}
	if d.OperStatus != "" && !knownStatus(d.OperStatus) {
		ve.add(at+".oper_status", fmt.Sprintf("unknown status %q (known: %v)", d.OperStatus, KnownStatuses))
	}
	// Devices have few endpoints: a quadratic scan beats a map until a few dozen.
	var seen map[string]int
	if len(d.Endpoints) > 32 {
		seen = make(map[string]int, len(d.Endpoints))
	}
	for i, ep := range d.Endpoints {
		if msg := CheckID(ep.ID); msg != "" {
			ve.add(loc(at+".endpoints", ep.ID, i)+".id", msg)
			continue
		}
		j := -1
		if seen != nil {
			if k, dup := seen[ep.ID]; dup {
				j = k
			} else {
				seen[ep.ID] = i
			}
		} else {
			j = slices.IndexFunc(d.Endpoints[:i], func(e EndPoint) bool { return e.ID == ep.ID })
		}
		if j >= 0 {
			ve.add(at+".endpoints["+strconv.Itoa(i)+"].id", fmt.Sprintf("duplicate endpoint ID %q (also endpoints[%d])", ep.ID, j))
		}
	}
	for i, r := range d.ConfigRules {
		f := at + ".config_rules[" + strconv.Itoa(i) + "]"
		if r.Action != ConfigSet && r.Action != ConfigDelete {
			ve.add(f+".action", fmt.Sprintf("must be %q or %q, got %q", ConfigSet, ConfigDelete, r.Action))
		}
		if r.ResourceKey == "" {
			ve.add(f+".resource_key", "required")
		}
	}
	if !finite(d.X) || math.Abs(d.X) > MaxCoordinate {
		ve.add(at+".x", fmt.Sprintf("must be finite and at most %v in magnitude", MaxCoordinate))
	}
	if !finite(d.Y) || math.Abs(d.Y) > MaxCoordinate {
		ve.add(at+".y", fmt.Sprintf("must be finite and at most %v in magnitude", MaxCoordinate))
	}
	checkText(ve, at+".name", d.Name)
	checkText(ve, at+".address", d.Address)
	checkText(ve, at+".domain", d.Domain)
	validateLabels(ve, at, d.Labels)
}

func validateLabels(ve *ValidationError, at string, labels map[string]string) {
	for k, v := range labels {
		if k == "" {
			ve.add(at+".labels", "empty label key")
		} else if msg := CheckText(k, MaxIDLength); msg != "" {
			ve.add(at+".labels", "label key: "+msg)
		} else {
			checkText(ve, at+".labels["+k+"]", v)
		}
	}
}

// checkText reports free text that CheckText refuses.
func checkText(ve *ValidationError, field, s string) {
	if msg := CheckText(s, MaxTextLength); msg != "" {
		ve.add(field, msg)
	}
}

// ValidateLink checks a link on its own and, if lookup is not nil, that both endpoints
// reference existing devices and endpoints (lookup returns the device with an ID).
// That an endpoint is not used by another link is not checked here: it needs the whole
// set of links (Network.Validate checks it; a store must check it on insert). Errors
// are *ValidationError whose fields start with "links[<id>]".
func ValidateLink(l Link, lookup func(deviceID string) (Device, bool)) error {
	ve := &ValidationError{}
	validateLink(ve, loc("links", l.ID, 0), l, func(ref EndPointRef) (dev, ep bool) {
		d, ok := lookup(ref.Device)
		if !ok {
			return false, false
		}
		for _, e := range d.Endpoints {
			if e.ID == ref.EndPoint {
				return true, true
			}
		}
		return true, false
	}, lookup != nil)
	return ve.err()
}

func validateLink(ve *ValidationError, at string, l Link, resolve func(EndPointRef) (dev, ep bool), checkRefs bool) {
	if msg := CheckID(l.ID); msg != "" {
		ve.add(at+".id", msg)
	}
	if len(l.Endpoints) != 2 {
		ve.add(at+".endpoints", fmt.Sprintf("must have exactly 2 endpoints, got %d", len(l.Endpoints)))
	}
	for i, ep := range l.Endpoints {
		f := func() string { return at + ".endpoints[" + strconv.Itoa(i) + "]" }
		if msg := CheckID(ep.Device); msg != "" {
			ve.add(f()+".device", msg)
			continue
		}
		if msg := CheckID(ep.EndPoint); msg != "" {
			ve.add(f()+".endpoint", msg)
			continue
		}
		if !checkRefs {
			continue
		}
		dev, ok := resolve(ep)
		switch {
		case !dev:
			ve.add(f()+".device", fmt.Sprintf("unknown device %q", ep.Device))
		case !ok:
			ve.add(f()+".endpoint", fmt.Sprintf("device %q has no endpoint %q", ep.Device, ep.EndPoint))
		}
	}
	if len(l.Endpoints) == 2 && l.Endpoints[0] == l.Endpoints[1] && l.Endpoints[0].Device != "" {
		ve.add(at+".endpoints[1]", "same endpoint as endpoints[0]")
	}
	if msg := CheckRate(l.CapacityGbps); msg != "" {
		ve.add(at+".capacity_gbps", msg)
	}
	switch {
	case !(l.UsedGbps >= 0) || math.IsInf(l.UsedGbps, 0):
		ve.add(at+".used_capacity_gbps", fmt.Sprintf("must be a finite number >= 0, got %v", l.UsedGbps))
	case l.CapacityGbps > 0 && l.UsedGbps > l.CapacityGbps:
		ve.add(at+".used_capacity_gbps", fmt.Sprintf("%v exceeds capacity_gbps %v", l.UsedGbps, l.CapacityGbps))
	}
	if msg := CheckLatency(l.LatencyMs); msg != "" {
		ve.add(at+".latency_ms", msg)
	}
	checkText(ve, at+".name", l.Name)
	if l.OperStatus != "" && !knownStatus(l.OperStatus) {
		ve.add(at+".oper_status", fmt.Sprintf("unknown status %q (known: %v)", l.OperStatus, KnownStatuses))
	}
	validateLabels(ve, at, l.Labels)
	validateLinkQueues(ve, at, l)
}

// ValidateTopology checks a topology on its own and, if exists is not nil, that its
// context, devices and links exist (exists is called with KindContext, KindDevice or
// KindLink). Errors are *ValidationError whose fields start with "topologies[<id>]".
func ValidateTopology(t Topology, exists func(kind Kind, id string) bool) error {
	ve := &ValidationError{}
	validateTopology(ve, loc("topologies", t.ID, 0), t, exists)
	return ve.err()
}

func validateTopology(ve *ValidationError, at string, t Topology, exists func(Kind, string) bool) {
	if msg := CheckID(t.ID); msg != "" {
		ve.add(at+".id", msg)
	}
	checkText(ve, at+".name", t.Name)
	if msg := CheckID(t.Context); msg != "" {
		ve.add(at+".context", msg)
	} else if exists != nil && !exists(KindContext, t.Context) {
		ve.add(at+".context", fmt.Sprintf("unknown context %q", t.Context))
	}
	refs := func(field string, ids []string, kind Kind) {
		seen := make(map[string]bool, len(ids))
		for i, id := range ids {
			f := at + "." + field + "[" + strconv.Itoa(i) + "]"
			switch {
			case CheckID(id) != "":
				ve.add(f, CheckID(id))
			case seen[id]:
				ve.add(f, fmt.Sprintf("duplicate %s %q", kind, id))
			case exists != nil && !exists(kind, id):
				ve.add(f, fmt.Sprintf("unknown %s %q", kind, id))
			}
			seen[id] = true
		}
	}
	refs("device_ids", t.DeviceIDs, KindDevice)
	refs("link_ids", t.LinkIDs, KindLink)
}

// ValidateFlow checks a flow on its own and its references: if hasDevice is not nil,
// that Src and Dst exist; if lookupLink is not nil, that every path element is a known
// directed link ID (lookupLink returns the devices the direction leaves and enters) and
// that the path runs contiguously from Src to Dst without repeating a directed link.
// Errors are *ValidationError whose fields start with "flows[<id>]".
func ValidateFlow(f Flow, hasDevice func(id string) bool, lookupLink func(directedID string) (from, to string, ok bool)) error {
	ve := &ValidationError{}
	validateFlow(ve, loc("flows", f.ID, 0), f, hasDevice, lookupLink)
	return ve.err()
}

func validateFlow(ve *ValidationError, at string, f Flow, hasDevice func(string) bool, lookupLink func(string) (string, string, bool)) {
	if msg := CheckID(f.ID); msg != "" {
		ve.add(at+".id", msg)
	}
	endOK := true
	for _, e := range []struct{ field, id string }{{"src", f.Src}, {"dst", f.Dst}} {
		if msg := CheckID(e.id); msg != "" {
			ve.add(at+"."+e.field, msg)
			endOK = false
		} else if hasDevice != nil && !hasDevice(e.id) {
			ve.add(at+"."+e.field, fmt.Sprintf("unknown device %q", e.id))
			endOK = false
		}
	}
	if endOK && f.Src == f.Dst {
		ve.add(at+".dst", fmt.Sprintf("must differ from src %q", f.Src))
	}
	if f.DemandGbps != nil {
		if msg := CheckRate(*f.DemandGbps); msg != "" {
			ve.add(at+".demand_gbps", msg)
		}
	}
	checkText(ve, at+".class", f.Class)
	checkText(ve, at+".owner", f.Owner)
	validateFlowCC(ve, at, f)
	seen := make(map[string]int, len(f.Path))
	prev := f.Src
	contiguous := true
	for i, id := range f.Path {
		fld := at + ".path[" + strconv.Itoa(i) + "]"
		if j, dup := seen[id]; dup {
			ve.add(fld, fmt.Sprintf("directed link %q repeated (also path[%d])", id, j))
			contiguous = false
			continue
		}
		seen[id] = i
		if lookupLink == nil {
			continue
		}
		from, to, ok := lookupLink(id)
		if !ok {
			ve.add(fld, fmt.Sprintf("unknown directed link %q", id))
			contiguous = false
			continue
		}
		if contiguous && from != prev {
			if i == 0 {
				ve.add(fld, fmt.Sprintf("directed link %q leaves %q, not src %q", id, from, f.Src))
			} else {
				ve.add(fld, fmt.Sprintf("directed link %q leaves %q, but path[%d] ends at %q", id, from, i-1, prev))
			}
			contiguous = false
		}
		prev = to
	}
	if contiguous && lookupLink != nil && len(f.Path) > 0 && endOK && prev != f.Dst {
		ve.add(at+".path", fmt.Sprintf("ends at %q, not dst %q", prev, f.Dst))
	}
}

// Validate checks the whole network: every element (as the Validate* functions do),
// IDs unique per kind, every reference resolved, and no endpoint used by two links.
// It returns nil or a *ValidationError listing every problem, each wrapping ErrInvalid.
func (n *Network) Validate() error {
	ve := &ValidationError{}
	if n == nil {
		ve.add("", "nil network")
		return ve
	}
	ix := n.index(false)
	unique := func(coll string, i int, id string, first map[string]int) {
		if id == "" || CheckID(id) != "" {
			return
		}
		if j := first[id]; j != i {
			ve.add(coll+"["+strconv.Itoa(i)+"].id", fmt.Sprintf("duplicate ID %q (also %s[%d])", id, coll, j))
		}
	}
	for i, c := range n.Contexts {
		validateContext(ve, loc("contexts", c.ID, i), c)
		unique("contexts", i, c.ID, ix.contexts)
	}
	exists := func(k Kind, id string) bool {
		var ok bool
		switch k {
		case KindContext:
			_, ok = ix.contexts[id]
		case KindDevice:
			_, ok = ix.devices[id]
		case KindLink:
			_, ok = ix.links[id]
		}
		return ok
	}
	for i, t := range n.Topologies {
		validateTopology(ve, loc("topologies", t.ID, i), t, exists)
		unique("topologies", i, t.ID, ix.topos)
	}
	for i, d := range n.Devices {
		validateDevice(ve, loc("devices", d.ID, i), d)
		unique("devices", i, d.ID, ix.devices)
	}
	resolve := func(ref EndPointRef) (bool, bool) {
		eps, ok := ix.endpoints[ref.Device]
		if !ok {
			return false, false
		}
		_, ok = eps[ref.EndPoint]
		return true, ok
	}
	// usedBy[device index][endpoint index] is 1 + the index of the link using it.
	usedBy := make([][]int, len(n.Devices))
	for i, l := range n.Links {
		at := loc("links", l.ID, i)
		validateLink(ve, at, l, resolve, true)
		unique("links", i, l.ID, ix.links)
		for j, ep := range l.Endpoints {
			if j == 1 && ep == l.Endpoints[0] {
				continue // reported as "same endpoint"
			}
			di, ok := ix.devices[ep.Device]
			if !ok {
				continue // reported as unknown device
			}
			ei, ok := ix.endpoints[ep.Device][ep.EndPoint]
			if !ok {
				continue // reported as unknown endpoint
			}
			if usedBy[di] == nil {
				usedBy[di] = make([]int, len(n.Devices[di].Endpoints))
			}
			if other := usedBy[di][ei]; other != 0 {
				ve.add(at+".endpoints["+strconv.Itoa(j)+"]", fmt.Sprintf("endpoint %s:%s already used by link %s", ep.Device, ep.EndPoint, loc("links", n.Links[other-1].ID, other-1)))
				continue
			}
			usedBy[di][ei] = i + 1
		}
	}
	hasDevice := func(id string) bool { _, ok := ix.devices[id]; return ok }
	lookupLink := func(id string) (string, string, bool) {
		d, ok := ix.Directed(id)
		return d.From.Device, d.To.Device, ok
	}
	for i, f := range n.Flows {
		validateFlow(ve, loc("flows", f.ID, i), f, hasDevice, lookupLink)
		unique("flows", i, f.ID, ix.flows)
	}
	return ve.err()
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

func knownType(t DeviceType) bool {
	for _, k := range KnownDeviceTypes {
		if t == k {
			return true
		}
	}
	return false
}

func knownDriver(d DriverKind) bool {
	for _, k := range KnownDrivers {
		if d == k {
			return true
		}
	}
	return false
}

func knownStatus(s OperStatus) bool {
	for _, k := range KnownStatuses {
		if s == k {
			return true
		}
	}
	return false
}
