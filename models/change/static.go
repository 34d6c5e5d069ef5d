package change

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twinflow/twinflow/models/network"
	"github.com/twinflow/twinflow/models/schema"
)

// StaticInput is what the L0 checks look at: the live twin's network and intended
// device configurations before the change.
type StaticInput struct {
	// Network holds devices, links and existing flows (may be nil for config-only checks).
	Network *network.Network
	// Configs maps a device ID to its intended configuration tree before the change.
	// Devices absent from the map have an empty configuration.
	Configs map[string]Tree
	// Roots maps a device ID to the top-level configuration containers it supports
	// (its capabilities, e.g. "interfaces", "network-instances", "system"). A device
	// absent from the map uses DefaultRoots.
	Roots map[string][]string
	// Schema is the node agent's schema (schema.Root()) the operations are checked
	// against; nil builds one per call (callers validating often build it once).
	Schema *schema.Node
	// Index, if set, is NewIndex of Network's devices and links (callers validating
	// often against one network build it once); nil indexes Network per call.
	Index *Index
}

// Index maps the devices and links of a network by ID, for Static.
type Index struct {
	devices map[string]*network.Device
	links   map[string]*network.Link
}

// NewIndex indexes n's devices and links (pointers into n: n must not change while the
// index is used).
func NewIndex(n *network.Network) *Index {
	x := &Index{devices: make(map[string]*network.Device, len(n.Devices)), links: make(map[string]*network.Link, len(n.Links))}
	for i := range n.Devices {
		x.devices[n.Devices[i].ID] = &n.Devices[i]
	}
	for i := range n.Links {
		x.links[n.Links[i].ID] = &n.Links[i]
	}
	return x
}

// DefaultRoots are the top-level containers of the OpenConfig subset twinflow-node and
// the gNMI driver support.
var defaultRoots = []string{"interfaces", "network-instances", "system"}

// DefaultRoots returns the top-level containers assumed when a device states none.
func DefaultRoots() []string { return slices.Clone(defaultRoots) }

// StaticResult is the outcome of the L0 checks.
type StaticResult struct {
	Checks []Check
	// After holds the post-change configuration tree of every touched device.
	After map[string]Tree
}

// Static runs the L0 checks of cs against in. It never modifies in.
func Static(cs *ChangeSet, in StaticInput) StaticResult {
	res := StaticResult{After: map[string]Tree{}}
	devices := map[string]*network.Device{}
	links := map[string]*network.Link{}
	flows := map[string]*network.Flow{}
	if in.Network != nil {
		x := in.Index
		if x == nil {
			x = NewIndex(in.Network)
		}
		devices, links = x.devices, x.links // read only below
		for i := range in.Network.Flows {
			flows[in.Network.Flows[i].ID] = &in.Network.Flows[i]
		}
	}

	// references.devices + capabilities + schema (ops apply cleanly)
	var refErrs, capErrs, schemaErrs []string
	oc := in.Schema // the node agent's schema
	if oc == nil && len(cs.DeviceOps) > 0 {
		oc = schema.Root()
	}
	for _, dev := range cs.Devices() {
		d, known := devices[dev]
		if in.Network != nil && !known {
			refErrs = append(refErrs, fmt.Sprintf("device_ops[%s]: unknown device", dev))
			continue
		}
		if known && d.Address == "" {
			capErrs = append(capErrs, fmt.Sprintf("device_ops[%s]: device has no management address", dev))
		}
		if known && len(d.Drivers) > 0 && !slices.Contains(d.Drivers, network.DriverGNMI) && !slices.Contains(d.Drivers, network.DriverEmulated) {
			capErrs = append(capErrs, fmt.Sprintf("device_ops[%s]: no gNMI/OpenConfig driver (drivers %v)", dev, d.Drivers))
		}
		roots := in.Roots[dev]
		if roots == nil {
			roots = defaultRoots
		}
		t := Tree{}
		if before, ok := in.Configs[dev]; ok {
			t = Clone(before).(map[string]any)
		}
		st := schema.NewChecker(oc) // checks only: the tree itself is not kept
		for i, op := range cs.DeviceOps[dev] {
			p, err := ParsePath(op.Path)
			if err != nil {
				schemaErrs = append(schemaErrs, fmt.Sprintf("device_ops[%s][%d].path: %v", dev, i, err))
				continue
			}
			// One decoding serves the schema check and the tree (see decodeOnce).
			dv, decoded := decodeOnce(op)
			if len(p) > 0 && !slices.Contains(roots, p[0].Name) {
				capErrs = append(capErrs, fmt.Sprintf("device_ops[%s][%d].path: %q is not supported by the device (supports %s)", dev, i, p[0].Name, strings.Join(roots, ", ")))
			} else if err := applySchema(st, op, p, dv, decoded); err != nil {
				schemaErrs = append(schemaErrs, fmt.Sprintf("device_ops[%s][%d]: %v", dev, i, err))
				continue
			}
			if err := applyDecoded(t, op, p, dv, decoded); err != nil {
				schemaErrs = append(schemaErrs, fmt.Sprintf("device_ops[%s][%d]: %v", dev, i, err))
			}
		}
		schemaErrs = append(schemaErrs, schemaLeaves(dev, t)...)
		res.After[dev] = t
	}

	// twin delta references
	for i, f := range cs.Twin.AddFlows {
		field := fmt.Sprintf("twin.add_flows[%d]", i)
		if in.Network == nil {
			break
		}
		if _, ok := devices[f.Src]; !ok {
			refErrs = append(refErrs, fmt.Sprintf("%s.src: unknown device %q", field, f.Src))
		}
		if _, ok := devices[f.Dst]; !ok {
			refErrs = append(refErrs, fmt.Sprintf("%s.dst: unknown device %q", field, f.Dst))
		}
		if len(f.Path) > 0 {
			if msg := checkFlowPath(f.Flow, links); msg != "" {
				refErrs = append(refErrs, fmt.Sprintf("%s.path: %s", field, msg))
			}
		}
	}
	for i, id := range cs.Twin.RemoveFlows {
		if in.Network != nil && flows[id] == nil {
			refErrs = append(refErrs, fmt.Sprintf("twin.remove_flows[%d]: unknown flow %q", i, id))
		}
	}
	for i, cc := range cs.Twin.Capacities {
		if in.Network != nil && links[cc.Link] == nil {
			refErrs = append(refErrs, fmt.Sprintf("twin.capacities[%d].link: unknown link %q", i, cc.Link))
		}
	}
	// interface references inside device configs
	var ifErrs []string
	for _, dev := range cs.Devices() {
		t, ok := res.After[dev]
		if !ok {
			continue
		}
		ifErrs = append(ifErrs, interfaceRefs(dev, t, devices[dev])...)
	}
	refErrs = append(refErrs, ifErrs...)

	res.Checks = append(res.Checks,
		listCheck("l0.schema", "every operation applies to the device's configuration tree with valid leaf values", schemaErrs),
		listCheck("l0.references", "every device, link, flow and interface the change names exists", refErrs),
		listCheck("l0.capabilities", "every touched device is managed over gNMI and supports the touched models", capErrs),
	)

	// conflicts: names
	var nameErrs []string
	for i, f := range cs.Twin.AddFlows {
		if flows[f.ID] != nil && !slices.Contains(cs.Twin.RemoveFlows, f.ID) {
			nameErrs = append(nameErrs, fmt.Sprintf("twin.add_flows[%d].id: flow %q already exists", i, f.ID))
		}
	}
	res.Checks = append(res.Checks, listCheck("l0.conflicts.names", "no added element reuses an existing name", nameErrs))

	// conflicts on addressing and route distinguishers, over the whole post-change network
	merged := make(map[string]Tree, len(in.Configs)+len(res.After))
	for d, t := range in.Configs {
		merged[d] = t
	}
	for d, t := range res.After {
		merged[d] = t
	}
	ipBefore, pfxBefore, rdBefore := addressConflicts(in.Configs)
	ipAfter, pfxAfter, rdAfter := addressConflicts(merged)
	res.Checks = append(res.Checks,
		listCheck("l0.conflicts.ip", "no IPv4 address is configured twice", newOnly(ipAfter, ipBefore)),
		listCheck("l0.conflicts.prefix", "no two interfaces of a device share overlapping prefixes in one network instance", newOnly(pfxAfter, pfxBefore)),
		listCheck("l0.conflicts.rd", "route distinguishers are unique per device and per network instance name", newOnly(rdAfter, rdBefore)),
	)
	return res
}

// applySchema applies op to st as twinflow-node applies a SetRequest operation (see
// labs/node: delete, replace and update of JSON values on a schema.Tree), so that an
// operation the node agent would refuse fails L0: an unknown element or member, a
// value of the wrong type or out of range, a read-only (state) path, missing or
// malformed list keys.
// applySchema checks op (path p) against the schema tree st; with decoded, dv is op's
// value as schema.DecodeJSON decodes it.
func applySchema(st *schema.Tree, op Op, p Path, dv any, decoded bool) error {
	var err error
	switch {
	case op.Op == OpDelete:
		err = st.Delete(p.Clone())
	case op.Op == OpReplace && decoded:
		err = st.ReplaceValue(p.Clone(), dv)
	case op.Op == OpReplace:
		err = st.Replace(p.Clone(), op.Value)
	case op.Op == OpUpdate && decoded:
		err = st.UpdateValue(p.Clone(), dv)
	case op.Op == OpUpdate:
		err = st.Update(p.Clone(), op.Value)
	}
	if err != nil {
		return fmt.Errorf("the device schema refuses %s %s: %s", op.Op, p, strings.TrimPrefix(err.Error(), "schema: "))
	}
	return nil
}

// decodeOnce decodes the value of an update or replace as the schema check does
// (schema.DecodeJSON: numbers json.Number; here decodeValidJSON) when the value is
// valid JSON, the one case in which that decoding and ApplyOp's (encoding/json into
// any) accept the same input and build the same value but for the numbers' type. ok
// is false otherwise: the schema check and ApplyOp then decode the value themselves,
// as before.
func decodeOnce(op Op) (v any, ok bool) {
	if (op.Op != OpUpdate && op.Op != OpReplace) || !json.Valid(op.Value) || mayOverflow(op.Value) {
		return nil, false
	}
	return decodeValidJSON(op.Value)
}

// applyDecoded applies op (path p) to t as ApplyOp does. With decoded, dv is op's
// value from decodeOnce, read by the schema check and now turned into the tree's
// value in place: numbers become float64 as encoding/json makes them
// (strconv.ParseFloat); a number out of float64's range makes ApplyOp decode the
// value again for its error, leaving t unchanged.
func applyDecoded(t Tree, op Op, p Path, dv any, decoded bool) error {
	if !decoded {
		return ApplyOp(t, op)
	}
	val, ok := numbersToFloat(dv)
	if !ok {
		return ApplyOp(t, op)
	}
	return applyValue(t, op, p, stripPrefixes(val))
}

// mayOverflow says whether valid JSON text js holds a number that might not fit a
// float64: one with an exponent or more than 300 digits. encoding/json refuses the
// whole value for such a number even where a later duplicate member replaces it, which
// the shared value no longer shows (TestDecodeOnceAsTwice).
func mayOverflow(js []byte) bool {
	inString, escaped, digits := false, false, 0
	for _, c := range js {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString, digits = true, 0
		case c >= '0' && c <= '9':
			digits++
			if digits > 300 {
				return true
			}
		case (c == 'e' || c == 'E') && digits > 0:
			return true
		case c == '.':
		default:
			digits = 0
		}
	}
	return false
}

// numbersToFloat replaces, in place, every json.Number of a decoded JSON value by its
// float64; false if one is out of range.
func numbersToFloat(v any) (any, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil
	case map[string]any:
		for k, e := range x {
			if _, leaf := e.(string); leaf {
				continue
			}
			f, ok := numbersToFloat(e)
			if !ok {
				return nil, false
			}
			x[k] = f
		}
	case []any:
		for i, e := range x {
			f, ok := numbersToFloat(e)
			if !ok {
				return nil, false
			}
			x[i] = f
		}
	}
	return v, true
}

// newOnly returns the conflicts present after but not before, so a change is not
// blamed for pre-existing problems.
func newOnly(after, before []string) []string {
	var out []string
	for _, a := range after {
		if !slices.Contains(before, a) {
			out = append(out, a)
		}
	}
	return out
}

func listCheck(name, what string, errs []string) Check {
	c := Check{Name: name, Level: L0, Status: Pass, Message: what}
	if len(errs) > 0 {
		sort.Strings(errs)
		c.Status = Fail
		c.Message = strings.Join(errs, "; ")
		c.Evidence = errs
	}
	return c
}

func checkFlowPath(f network.Flow, links map[string]*network.Link) string {
	at := f.Src
	for _, dl := range f.Path {
		id, rev := strings.CutSuffix(dl, network.ReverseSuffix)
		l := links[id]
		if l == nil || len(l.Endpoints) != 2 {
			return fmt.Sprintf("unknown link %q", dl)
		}
		from, to := l.Endpoints[0].Device, l.Endpoints[1].Device
		if rev {
			from, to = to, from
		}
		if from != at {
			return fmt.Sprintf("link %q starts at %q, not at %q: the path is not contiguous", dl, from, at)
		}
		at = to
	}
	if at != f.Dst {
		return fmt.Sprintf("path ends at %q, not at dst %q", at, f.Dst)
	}
	return ""
}

// list returns the entries of the keyed list at m[name].
func list(m map[string]any, name string) []map[string]any {
	l, _ := m[name].([]any)
	out := make([]map[string]any, 0, len(l))
	for _, e := range l {
		if em, ok := e.(map[string]any); ok {
			out = append(out, em)
		}
	}
	return out
}

func obj(m map[string]any, names ...string) map[string]any {
	cur := m
	for _, n := range names {
		next, _ := cur[n].(map[string]any)
		if next == nil {
			return nil
		}
		cur = next
	}
	return cur
}

func leafString(m map[string]any, name string) string {
	if m == nil {
		return ""
	}
	s, _ := scalarString(m[name])
	return s
}

// schemaLeaves checks the leaf values TwinFlow's OpenConfig subset constrains.
func schemaLeaves(dev string, t Tree) []string {
	var errs []string
	for _, itf := range list(obj(t, "interfaces"), "interface") {
		name := leafString(itf, "name")
		cfg := obj(itf, "config")
		if cfg != nil {
			if v, ok := cfg["mtu"]; ok {
				s, _ := scalarString(v)
				var n float64
				if _, err := fmt.Sscanf(s, "%g", &n); err != nil || n < 68 || n > 65535 || n != float64(int(n)) {
					errs = append(errs, fmt.Sprintf("%s: interface %q: mtu %v out of range 68..65535", dev, name, v))
				}
			}
			if v, ok := cfg["enabled"]; ok {
				if _, isBool := v.(bool); !isBool {
					errs = append(errs, fmt.Sprintf("%s: interface %q: enabled must be a boolean, got %v", dev, name, v))
				}
			}
		}
		for _, sub := range list(obj(itf, "subinterfaces"), "subinterface") {
			for _, a := range list(obj(sub, "ipv4", "addresses"), "address") {
				ip := leafString(a, "ip")
				if c := obj(a, "config"); c != nil && leafString(c, "ip") != "" && leafString(c, "ip") != ip {
					errs = append(errs, fmt.Sprintf("%s: interface %q: address entry %q has config/ip %q", dev, name, ip, leafString(c, "ip")))
				}
				if _, err := netip.ParseAddr(ip); err != nil || !strings.Contains(ip, ".") {
					errs = append(errs, fmt.Sprintf("%s: interface %q: invalid IPv4 address %q", dev, name, ip))
				}
				pl := leafString(obj(a, "config"), "prefix-length")
				var n int
				if _, err := fmt.Sscanf(pl, "%d", &n); err != nil || n < 0 || n > 32 {
					errs = append(errs, fmt.Sprintf("%s: interface %q: address %s: invalid prefix-length %q", dev, name, ip, pl))
				}
			}
		}
	}
	for _, ni := range list(obj(t, "network-instances"), "network-instance") {
		name := leafString(ni, "name")
		for _, proto := range list(obj(ni, "protocols"), "protocol") {
			for _, sr := range list(obj(proto, "static-routes"), "static") {
				pfx := leafString(sr, "prefix")
				if _, err := netip.ParsePrefix(pfx); err != nil {
					errs = append(errs, fmt.Sprintf("%s: network-instance %q: invalid static route prefix %q", dev, name, pfx))
				}
				for _, nh := range list(obj(sr, "next-hops"), "next-hop") {
					hop := leafString(obj(nh, "config"), "next-hop")
					if hop == "" {
						continue
					}
					if _, err := netip.ParseAddr(hop); err != nil && hop != "DROP" && hop != "LOCAL_LINK" {
						errs = append(errs, fmt.Sprintf("%s: network-instance %q: static %s: invalid next-hop %q", dev, name, pfx, hop))
					}
				}
			}
		}
	}
	return errs
}

// interfaceRefs checks that interfaces named by network instances exist on the device
// (configured under /interfaces or an endpoint of the device).
func interfaceRefs(dev string, t Tree, d *network.Device) []string {
	have := map[string]bool{}
	for _, itf := range list(obj(t, "interfaces"), "interface") {
		have[leafString(itf, "name")] = true
	}
	if d != nil {
		for _, ep := range d.Endpoints {
			have[ep.ID] = true
		}
	}
	var errs []string
	for _, ni := range list(obj(t, "network-instances"), "network-instance") {
		for _, itf := range list(obj(ni, "interfaces"), "interface") {
			ref := leafString(obj(itf, "config"), "interface")
			if ref == "" {
				ref = leafString(itf, "id")
			}
			if !have[ref] {
				errs = append(errs, fmt.Sprintf("%s: network-instance %q references unknown interface %q", dev, leafString(ni, "name"), ref))
			}
		}
	}
	return errs
}

type ifAddr struct {
	dev, itf, ni string
	pfx          netip.Prefix
}

// addressConflicts extracts addresses and route distinguishers of every device and
// returns the duplicate-IP, overlapping-prefix and RD conflicts as sorted messages.
func addressConflicts(configs map[string]Tree) (ips, prefixes, rds []string) {
	var addrs []ifAddr
	type rdUse struct{ dev, ni string }
	rdUses := map[string][]rdUse{}
	devs := make([]string, 0, len(configs))
	for d := range configs {
		devs = append(devs, d)
	}
	sort.Strings(devs)
	for _, dev := range devs {
		t := configs[dev]
		niOf := map[string]string{} // "itf.sub" -> network instance
		for _, ni := range list(obj(t, "network-instances"), "network-instance") {
			name := leafString(ni, "name")
			for _, itf := range list(obj(ni, "interfaces"), "interface") {
				c := obj(itf, "config")
				ref := leafString(c, "interface")
				if ref == "" {
					ref = leafString(itf, "id")
				}
				sub := leafString(c, "subinterface")
				if sub == "" {
					sub = "0"
				}
				niOf[ref+"."+sub] = name
			}
			if rd := leafString(obj(ni, "config"), "route-distinguisher"); rd != "" {
				rdUses[rd] = append(rdUses[rd], rdUse{dev, name})
			}
		}
		for _, itf := range list(obj(t, "interfaces"), "interface") {
			name := leafString(itf, "name")
			for _, sub := range list(obj(itf, "subinterfaces"), "subinterface") {
				idx := leafString(sub, "index")
				for _, a := range list(obj(sub, "ipv4", "addresses"), "address") {
					ip := leafString(a, "ip")
					var pl int
					if _, err := fmt.Sscanf(leafString(obj(a, "config"), "prefix-length"), "%d", &pl); err != nil {
						continue
					}
					addr, err := netip.ParseAddr(ip)
					if err != nil || !addr.Is4() || pl < 0 || pl > 32 {
						continue
					}
					ni := niOf[name+"."+idx]
					if ni == "" {
						ni = "default"
					}
					addrs = append(addrs, ifAddr{dev: dev, itf: name + "." + idx, ni: ni, pfx: netip.PrefixFrom(addr, pl)})
				}
			}
		}
	}
	byIP := map[string][]ifAddr{}
	byDevNI := map[string][]ifAddr{}
	for _, a := range addrs {
		k := a.ni + "|" + a.pfx.Addr().String()
		byIP[k] = append(byIP[k], a)
		g := a.dev + "|" + a.ni
		byDevNI[g] = append(byDevNI[g], a)
	}
	for _, group := range byIP {
		for i := range group {
			for j := i + 1; j < len(group); j++ {
				a, b := group[i], group[j]
				ips = append(ips, fmt.Sprintf("%s is configured on %s %s and %s %s", a.pfx.Addr(), a.dev, a.itf, b.dev, b.itf))
			}
		}
	}
	for _, group := range byDevNI {
		for i := range group {
			for j := i + 1; j < len(group); j++ {
				a, b := group[i], group[j]
				if a.itf != b.itf && a.pfx.Addr() != b.pfx.Addr() && a.pfx.Masked().Overlaps(b.pfx.Masked()) {
					prefixes = append(prefixes, fmt.Sprintf("%s: %s (%s) overlaps %s (%s) in network-instance %q", a.dev, a.pfx, a.itf, b.pfx, b.itf, a.ni))
				}
			}
		}
	}
	rdKeys := make([]string, 0, len(rdUses))
	for rd := range rdUses {
		rdKeys = append(rdKeys, rd)
	}
	sort.Strings(rdKeys)
	for _, rd := range rdKeys {
		uses := rdUses[rd]
		for i := range uses {
			for j := i + 1; j < len(uses); j++ {
				if uses[i].dev == uses[j].dev || uses[i].ni != uses[j].ni {
					rds = append(rds, fmt.Sprintf("route-distinguisher %s used by %s/%s and %s/%s", rd, uses[i].dev, uses[i].ni, uses[j].dev, uses[j].ni))
				}
			}
		}
	}
	sort.Strings(ips)
	sort.Strings(prefixes)
	return ips, prefixes, rds
}
