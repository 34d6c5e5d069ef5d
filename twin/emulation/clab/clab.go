// Package clab reads and writes containerlab topology files
// (https://containerlab.dev/manual/topo-def-file/) with containerlab's own Go types
// (github.com/srl-labs/containerlab/types and links, v0.60.0): the files TwinFlow
// writes for the containerlab backend (twin/emulation) and `twinflow topology
// export --to clab`, and the ones it imports. It sits beside the containerlab backend,
// not in models/, because containerlab's module pulls netlink, scrapligo and logrus:
// models/network stays pure and light, and knows the format only by name
// (network.FormatContainerlab). DecodeFormat and EncodeFormat read and write any
// network.Format, containerlab here and the rest through models/network.
package clab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/srl-labs/containerlab/links"
	"github.com/srl-labs/containerlab/types"
	yamlv2 "gopkg.in/yaml.v2"
	"gopkg.in/yaml.v3"

	"github.com/twinflow/twinflow/models/network"
)

// Containerlab topology files (https://containerlab.dev/manual/topo-def-file/) map to
// networks as follows. Export writes one node per device and one brief link per link:
//
//	name: <lab>
//	topology:
//	  nodes:
//	    r1:
//	      kind: linux
//	      image: twinflow-node:latest
//	      labels: {twinflow.type: packet-router, twinflow.drivers: gnmi-openconfig, ...}
//	  links:
//	    - endpoints: ["r1:eth1", "r2:eth1"]
//	      vars: {twinflow: {id: r1--r2, capacity_gbps: 10, latency_ms: 1}}
//
// Device fields without a containerlab equivalent travel in node labels with the
// "twinflow." prefix (type, drivers — comma-separated, "none" for no driver —, domain,
// name, address, status, x, y, and id when the device ID is not a valid node name);
// other device labels are copied as they are.
// Link fields and the types of its two endpoints travel in the link's vars under
// "twinflow". Not carried: endpoints no
// link uses, endpoint sample types, config rules, flows, topologies other
// than the first, and labels with empty values (containerlab forbids them).
//
// Import reads nodes (kind from the node, its group or topology.defaults), brief links
// ("node:iface" strings) and extended veth links ({node, interface} objects), through
// containerlab's own types (github.com/srl-labs/containerlab/types and links, decoded
// with the YAML library containerlab uses): a link is what containerlab makes of it.
// Links of other types (host, mgmt-net, macvlan, vxlan, dummy) and brief links to the
// special nodes host, mgmt-net and macvlan attach a node to the outside world, not to
// another node, and are skipped. Without TwinFlow labels a node's device type follows its kind
// (bridge and ovs-bridge: packet-switch; linux, host, ext-container: host; any other
// kind: packet-router) and links get DefaultLinkCapacityGbps and zero latency.

// DefaultLinkCapacityGbps is the capacity given to imported links that state none.
const DefaultLinkCapacityGbps = 10.0

// Export defaults.
const (
	DefaultKind  = "linux"
	DefaultImage = "twinflow-node:latest"
)

// Node label keys used in containerlab files.
const (
	labelPrefix  = "twinflow."
	labelID      = "twinflow.id"
	labelType    = "twinflow.type"
	labelDrivers = "twinflow.drivers"
	labelDomain  = "twinflow.domain"
	labelName    = "twinflow.name"
	labelAddress = "twinflow.address"
	labelStatus  = "twinflow.status"
	labelX       = "twinflow.x"
	labelY       = "twinflow.y"
)

// Options tunes Encode. The zero value is usable.
type Options struct {
	// Name is the lab name. Empty means the first topology's ID, or "twinflow".
	Name string
	// Kind is the node kind. Empty means DefaultKind.
	Kind string
	// Image is the node image. Empty means DefaultImage.
	Image string
	// MgmtNetwork, if not empty, is written as mgmt.network.
	MgmtNetwork string
	// MgmtIPv4Subnet, if not empty, is written as mgmt.ipv4-subnet.
	MgmtIPv4Subnet string
	// Node, if set, completes each node's definition (e.g. its command) before it is
	// written; name is the node's name in the file.
	Node func(d network.Device, name string, nd *types.NodeDefinition)
}

// file is a topology file: containerlab's clab.Config (its clab package does not build
// as a library here) with containerlab's own management network, settings and topology
// types.
type file struct {
	Name     string          `yaml:"name,omitempty"`
	Prefix   *string         `yaml:"prefix,omitempty"`
	Mgmt     *types.MgmtNet  `yaml:"mgmt,omitempty"`
	Settings *types.Settings `yaml:"settings,omitempty"`
	Topology *topology       `yaml:"topology,omitempty"`
}

// topology is containerlab's types.Topology plus node groups (in containerlab's
// published schema; not yet in the v0.60.0 Go type).
type topology struct {
	types.Topology `yaml:",inline"`
	Groups         map[string]*types.NodeDefinition `yaml:"groups,omitempty"`
}

// twinflowVars are the link fields without a containerlab equivalent, in the link's
// vars under "twinflow".
type twinflowVars struct {
	ID           string             `yaml:"id,omitempty"`
	Name         string             `yaml:"name,omitempty"`
	CapacityGbps *float64           `yaml:"capacity_gbps,omitempty"`
	UsedGbps     float64            `yaml:"used_capacity_gbps,omitempty"`
	LatencyMs    float64            `yaml:"latency_ms,omitempty"`
	OperStatus   network.OperStatus `yaml:"oper_status,omitempty"`
	Labels       map[string]string  `yaml:"labels,omitempty"`
	// EndpointTypes are the EndPoint.Type of the two endpoints.
	EndpointTypes []string `yaml:"endpoint_types,omitempty"`
}

// nodeOrder is the order and line of topology.nodes in the document (containerlab's
// Topology keeps nodes in a map).
type nodeOrder struct {
	name string
	line int
}

// orderOfNodes reads the names of topology.nodes in document order.
func orderOfNodes(b []byte) ([]nodeOrder, error) {
	var doc struct {
		Topology struct {
			Nodes yaml.Node `yaml:"nodes"`
		} `yaml:"topology"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s", network.ErrFormat, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	v := doc.Topology.Nodes
	if v.Kind == 0 || v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
		return nil, nil
	}
	if v.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: line %d: topology.nodes must be a mapping", network.ErrFormat, v.Line)
	}
	var out []nodeOrder
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k := v.Content[i]
		if seen[k.Value] {
			return nil, fmt.Errorf("topology.nodes.%s (line %d): %w: duplicate node", k.Value, k.Line, network.ErrFormat)
		}
		seen[k.Value] = true
		out = append(out, nodeOrder{name: k.Value, line: k.Line})
	}
	return out, nil
}

// unmarshal decodes b with the YAML library containerlab's types are written for.
func unmarshal(b []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", network.ErrFormat, p)
		}
	}()
	if err := yamlv2.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s", network.ErrFormat, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// Decode reads a containerlab topology file (YAML) into a network with one context
// network.DefaultContext and one topology named after the lab, and validates it.
// Documents over network.MaxDocumentBytes are rejected.
func Decode(r io.Reader) (*network.Network, error) {
	b, err := io.ReadAll(io.LimitReader(r, network.MaxDocumentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("containerlab: read: %w", err)
	}
	if len(b) > network.MaxDocumentBytes {
		return nil, fmt.Errorf("containerlab: %w: document larger than %d bytes", network.ErrFormat, network.MaxDocumentBytes)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("containerlab: %w: empty document", network.ErrFormat)
	}
	order, err := orderOfNodes(b)
	if err != nil {
		return nil, fmt.Errorf("containerlab: %w", err)
	}
	var f file
	if err := unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("containerlab: %w", err)
	}
	if f.Topology == nil {
		return nil, fmt.Errorf("containerlab: %w: missing topology", network.ErrFormat)
	}
	labName := f.Name
	if labName == "" {
		return nil, fmt.Errorf("containerlab: %w: missing name", network.ErrFormat)
	}
	if !validLabName(labName) {
		return nil, fmt.Errorf("containerlab: %w: name %q: want a letter or digit, then letters, digits, '-', '.', '_' (at most %d characters)", network.ErrFormat, labName, network.MaxIDLength)
	}
	n := &network.Network{
		Contexts:   []network.Context{{ID: network.DefaultContext, Name: network.DefaultContext}},
		Topologies: []network.Topology{{ID: labName, Context: network.DefaultContext, Name: labName}},
	}
	byName := make(map[string]int, len(order))
	for _, o := range order {
		at := fmt.Sprintf("containerlab: topology.nodes.%s (line %d)", o.name, o.line)
		d, err := device(o.name, f.Topology.Nodes[o.name], f.Topology)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		byName[o.name] = len(n.Devices)
		n.Devices = append(n.Devices, d)
	}
	linkIDs := map[string]bool{}
	for i, ld := range f.Topology.Links {
		at := fmt.Sprintf("containerlab: topology.links[%d]", i)
		if ld == nil || ld.Link == nil {
			return nil, fmt.Errorf("%s: %w: empty link", at, network.ErrFormat)
		}
		veth, ok := ld.Link.(*links.LinkVEthRaw)
		if !ok {
			continue // host, mgmt-net, macvlan, vxlan, dummy: not node-to-node
		}
		if len(veth.Endpoints) != 2 {
			return nil, fmt.Errorf("%s.endpoints: %w: want 2 endpoints, got %d", at, network.ErrFormat, len(veth.Endpoints))
		}
		refs := make([]network.EndPointRef, 2)
		for j, ep := range veth.Endpoints {
			if ep == nil || ep.Node == "" || ep.Iface == "" {
				return nil, fmt.Errorf("%s.endpoints[%d]: %w: endpoint needs node and interface", at, j, network.ErrFormat)
			}
			di, ok := byName[ep.Node]
			if !ok {
				return nil, fmt.Errorf("%s.endpoints[%d]: %w: unknown node %q", at, j, network.ErrFormat, ep.Node)
			}
			if msg := network.CheckID(ep.Iface); msg != "" {
				return nil, fmt.Errorf("%s.endpoints[%d]: %w: interface %q: %s", at, j, network.ErrFormat, ep.Iface, msg)
			}
			d := &n.Devices[di]
			if !slices.ContainsFunc(d.Endpoints, func(e network.EndPoint) bool { return e.ID == ep.Iface }) {
				d.Endpoints = append(d.Endpoints, network.EndPoint{ID: ep.Iface})
			}
			refs[j] = network.EndPointRef{Device: d.ID, EndPoint: ep.Iface}
		}
		link := network.Link{Endpoints: refs, CapacityGbps: DefaultLinkCapacityGbps}
		v, err := varsOf(veth.Vars)
		if err != nil {
			return nil, fmt.Errorf("%s.vars.twinflow: %w", at, err)
		}
		if v != nil {
			for j, typ := range v.EndpointTypes {
				if j < 2 && typ != "" {
					setEndpointType(n, refs[j], typ)
				}
			}
			link.ID, link.Name = v.ID, v.Name
			if v.CapacityGbps != nil {
				link.CapacityGbps = *v.CapacityGbps
			}
			link.UsedGbps, link.LatencyMs, link.OperStatus = v.UsedGbps, v.LatencyMs, v.OperStatus
			link.Labels = nonEmptyLabels(v.Labels)
		}
		if link.ID == "" {
			link.ID = uniqueLinkID(linkIDs, refs[0].Device, refs[1].Device)
		}
		linkIDs[link.ID] = true
		n.Links = append(n.Links, link)
	}
	fillTopology(n)
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("containerlab: %w", err)
	}
	return n, nil
}

// varsOf reads the "twinflow" entry of a link's vars (nil if there is none).
func varsOf(vars map[string]any) (*twinflowVars, error) {
	raw, ok := vars["twinflow"]
	if !ok || raw == nil {
		return nil, nil
	}
	b, err := yamlv2.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", network.ErrFormat, err)
	}
	var v twinflowVars
	if err := unmarshal(b, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// setEndpointType sets the Type of an existing endpoint.
func setEndpointType(n *network.Network, ref network.EndPointRef, typ string) {
	for i := range n.Devices {
		if n.Devices[i].ID != ref.Device {
			continue
		}
		for j := range n.Devices[i].Endpoints {
			if n.Devices[i].Endpoints[j].ID == ref.EndPoint {
				n.Devices[i].Endpoints[j].Type = typ
			}
		}
	}
}

// uniqueLinkID returns "<a>--<b>", or "<a>--<b>-<k>" if taken, falling back to
// "link-<k>" when that is not a valid ID.
func uniqueLinkID(taken map[string]bool, a, b string) string {
	base := a + "--" + b
	if network.CheckID(base+"-99999") != "" {
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
func fillTopology(n *network.Network) {
	t := &n.Topologies[0]
	t.DeviceIDs, t.LinkIDs = nil, nil
	for _, d := range n.Devices {
		t.DeviceIDs = append(t.DeviceIDs, d.ID)
	}
	for _, l := range n.Links {
		t.LinkIDs = append(t.LinkIDs, l.ID)
	}
}

func nonEmptyLabels(m map[string]string) map[string]string {
	var out map[string]string
	for k, v := range m {
		if v == "" {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[k] = v
	}
	return out
}

// device maps node name (nd may be nil: a node with no settings) to a device.
func device(name string, nd *types.NodeDefinition, t *topology) (network.Device, error) {
	if nd == nil {
		nd = &types.NodeDefinition{}
	}
	kind := nd.Kind
	if kind == "" && nd.Group != "" && t.Groups[nd.Group] != nil {
		kind = t.Groups[nd.Group].Kind
	}
	if kind == "" && t.Defaults != nil {
		kind = t.Defaults.Kind
	}
	lbl := nd.Labels
	d := network.Device{ID: name}
	if v := lbl[labelID]; v != "" {
		d.ID = v
	}
	if msg := network.CheckID(d.ID); msg != "" {
		return network.Device{}, fmt.Errorf("%w: device ID %q: %s", network.ErrFormat, d.ID, msg)
	}
	switch {
	case lbl[labelType] != "":
		d.Type = network.DeviceType(lbl[labelType])
	case kind == "bridge" || kind == "ovs-bridge":
		d.Type = network.DeviceSwitch
	case kind == "linux" || kind == "host" || kind == "ext-container":
		d.Type = network.DeviceHost
	default:
		d.Type = network.DeviceRouter
	}
	if v := lbl[labelDrivers]; v == "none" {
		d.Drivers = nil
	} else if v != "" {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				d.Drivers = append(d.Drivers, network.DriverKind(s))
			}
		}
	} else if d.Type == network.DeviceHost {
		d.Drivers = []network.DriverKind{network.DriverEmulated}
	} else {
		d.Drivers = []network.DriverKind{network.DriverGNMI}
	}
	d.Domain, d.Name, d.Address = lbl[labelDomain], lbl[labelName], lbl[labelAddress]
	d.OperStatus = network.OperStatus(lbl[labelStatus])
	for _, c := range []struct {
		key string
		dst *float64
	}{{labelX, &d.X}, {labelY, &d.Y}} {
		if v, ok := lbl[c.key]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return network.Device{}, fmt.Errorf("%w: label %s: %q is not a finite number", network.ErrFormat, c.key, v)
			}
			*c.dst = f
		}
	}
	for k, v := range lbl {
		if strings.HasPrefix(k, labelPrefix) || v == "" {
			continue
		}
		if d.Labels == nil {
			d.Labels = map[string]string{}
		}
		d.Labels[k] = v
	}
	return d, nil
}

// validLabName reports whether s is a containerlab lab name
// (^[a-zA-Z0-9][a-zA-Z0-9-._]*$) that is also a valid topology ID.
func validLabName(s string) bool {
	if s == "" || len(s) > network.MaxIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '.' && c != '_') {
			return false
		}
	}
	return true
}

// nodeName maps a device ID to a containerlab node name
// (^[a-zA-Z0-9][a-zA-Z0-9-._|]*$): characters ':' and '/' become '_', a leading
// '-', '_' or '.' gets an "n" in front.
func nodeName(id string) string {
	b := []byte(id)
	for i, c := range b {
		if c == ':' || c == '/' {
			b[i] = '_'
		}
	}
	s := string(b)
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z' || s[0] >= '0' && s[0] <= '9') {
		s = "n" + s
	}
	return s
}

// Encode writes n as a containerlab topology file (see the mapping above), one node
// per device in device order and one brief link per link. It fails if a device label
// uses the reserved "twinflow." prefix or a link does not have two endpoints.
func Encode(w io.Writer, n *network.Network, opts Options) error {
	if n == nil {
		return errors.New("containerlab: encode: nil network")
	}
	name := opts.Name
	if name == "" && len(n.Topologies) > 0 {
		name = nodeName(n.Topologies[0].ID)
	}
	if name == "" {
		name = "twinflow"
	}
	if !validLabName(name) {
		return fmt.Errorf("containerlab: lab name %q: want a letter or digit, then letters, digits, '-', '.', '_'", name)
	}
	kind, image := opts.Kind, opts.Image
	if kind == "" {
		kind = DefaultKind
	}
	if image == "" {
		image = DefaultImage
	}
	doc := yamlv2.MapSlice{{Key: "name", Value: name}}
	if opts.MgmtNetwork != "" || opts.MgmtIPv4Subnet != "" {
		doc = append(doc, yamlv2.MapItem{Key: "mgmt", Value: &types.MgmtNet{Network: opts.MgmtNetwork, IPv4Subnet: opts.MgmtIPv4Subnet}})
	}
	// nodes in device order (types.Topology keeps them in a map)
	var nodes yamlv2.MapSlice
	nodeOf := make(map[string]string, len(n.Devices))
	used := make(map[string]bool, len(n.Devices))
	for i, d := range n.Devices {
		nn := nodeName(d.ID)
		for k := 2; used[nn]; k++ {
			nn = nodeName(d.ID) + "-" + strconv.Itoa(k)
		}
		used[nn] = true
		nodeOf[d.ID] = nn
		lbl := map[string]string{labelType: string(d.Type)}
		if nn != d.ID {
			lbl[labelID] = d.ID
		}
		lbl[labelDrivers] = "none"
		if len(d.Drivers) > 0 {
			ds := make([]string, len(d.Drivers))
			for j, dr := range d.Drivers {
				ds[j] = string(dr)
			}
			lbl[labelDrivers] = strings.Join(ds, ",")
		}
		for k, v := range map[string]string{labelDomain: d.Domain, labelName: d.Name, labelAddress: d.Address, labelStatus: string(d.OperStatus)} {
			if v != "" {
				lbl[k] = v
			}
		}
		if d.X != 0 {
			lbl[labelX] = strconv.FormatFloat(d.X, 'g', -1, 64)
		}
		if d.Y != 0 {
			lbl[labelY] = strconv.FormatFloat(d.Y, 'g', -1, 64)
		}
		for k, v := range d.Labels {
			if strings.HasPrefix(k, labelPrefix) {
				return fmt.Errorf("containerlab: devices[%d].labels[%s]: reserved prefix %q", i, k, labelPrefix)
			}
			if v != "" {
				lbl[k] = v
			}
		}
		nd := &types.NodeDefinition{Kind: kind, Image: image, Labels: lbl}
		if opts.Node != nil {
			opts.Node(d, nn, nd)
		}
		nodes = append(nodes, yamlv2.MapItem{Key: nn, Value: nd})
	}
	epType := map[network.EndPointRef]string{}
	for _, d := range n.Devices {
		for _, ep := range d.Endpoints {
			if ep.Type != "" {
				epType[network.EndPointRef{Device: d.ID, EndPoint: ep.ID}] = ep.Type
			}
		}
	}
	var lds []*links.LinkDefinition
	for i, l := range n.Links {
		if len(l.Endpoints) != 2 {
			return fmt.Errorf("containerlab: links[%d]: want 2 endpoints, got %d", i, len(l.Endpoints))
		}
		brief := &links.LinkBriefRaw{}
		var epTypes []string
		for _, ep := range l.Endpoints {
			epTypes = append(epTypes, epType[ep])
			node, ok := nodeOf[ep.Device]
			if !ok {
				return fmt.Errorf("containerlab: links[%d]: unknown device %q", i, ep.Device)
			}
			brief.Endpoints = append(brief.Endpoints, node+":"+ep.EndPoint)
		}
		c := l.CapacityGbps
		v := &twinflowVars{ID: l.ID, Name: l.Name, CapacityGbps: &c, UsedGbps: l.UsedGbps,
			LatencyMs: l.LatencyMs, OperStatus: l.OperStatus, Labels: nonEmptyLabels(l.Labels)}
		if epTypes[0] != "" || epTypes[1] != "" {
			v.EndpointTypes = epTypes
		}
		brief.Vars = map[string]any{"twinflow": v}
		lds = append(lds, &links.LinkDefinition{Type: string(links.LinkTypeBrief), Link: brief})
	}
	topo := yamlv2.MapSlice{{Key: "nodes", Value: nodes}}
	if len(lds) > 0 {
		topo = append(topo, yamlv2.MapItem{Key: "links", Value: lds})
	}
	doc = append(doc, yamlv2.MapItem{Key: "topology", Value: topo})
	// containerlab's types marshal with its YAML library (yaml.v2); the document is
	// then written with yaml.v3 for its layout: two-space indents, indented lists and
	// no wrapping of long lines (node commands), as the other YAML TwinFlow writes.
	b, err := yamlv2.Marshal(doc)
	if err != nil {
		return fmt.Errorf("containerlab: encode: %w", err)
	}
	var tree yaml.Node
	if err := yaml.Unmarshal(b, &tree); err != nil {
		return fmt.Errorf("containerlab: encode: %w", err)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&tree); err != nil {
		return fmt.Errorf("containerlab: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("containerlab: encode: %w", err)
	}
	return nil
}

// DecodeFormat reads a network document in any network.Format: containerlab with
// Decode, the others with network.Decode.
func DecodeFormat(r io.Reader, f network.Format) (*network.Network, error) {
	if f == network.FormatContainerlab {
		return Decode(r)
	}
	return network.Decode(r, f)
}

// EncodeFormat writes n in any network.Format: containerlab with Encode (opts), the
// others with network.Encode.
func EncodeFormat(w io.Writer, n *network.Network, f network.Format, opts Options) error {
	if f == network.FormatContainerlab {
		return Encode(w, n, opts)
	}
	return network.Encode(w, n, f)
}
