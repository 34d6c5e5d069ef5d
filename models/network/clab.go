package network

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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
// ("node:iface" strings) and extended veth links ({node, interface} objects). Links of
// other types (host, mgmt-net, macvlan, vxlan, dummy) and brief links to the special
// nodes host, mgmt-net and macvlan attach a node to the outside world, not to another
// node, and are skipped. Without TwinFlow labels a node's device type follows its kind
// (bridge and ovs-bridge: packet-switch; linux, host, ext-container: host; any other
// kind: packet-router) and links get DefaultLinkCapacityGbps and zero latency.

// DefaultLinkCapacityGbps is the capacity given to imported links that state none.
const DefaultLinkCapacityGbps = 10.0

// Containerlab export defaults.
const (
	DefaultContainerlabKind  = "linux"
	DefaultContainerlabImage = "twinflow-node:latest"
)

// Node label keys used in containerlab files.
const (
	clabPrefix       = "twinflow."
	clabLabelID      = "twinflow.id"
	clabLabelType    = "twinflow.type"
	clabLabelDrivers = "twinflow.drivers"
	clabLabelDomain  = "twinflow.domain"
	clabLabelName    = "twinflow.name"
	clabLabelAddress = "twinflow.address"
	clabLabelStatus  = "twinflow.status"
	clabLabelX       = "twinflow.x"
	clabLabelY       = "twinflow.y"
)

// ContainerlabOptions tunes EncodeContainerlab. The zero value is usable.
type ContainerlabOptions struct {
	// Name is the lab name. Empty means the first topology's ID, or "twinflow".
	Name string
	// Kind is the node kind. Empty means DefaultContainerlabKind.
	Kind string
	// Image is the node image. Empty means DefaultContainerlabImage.
	Image string
	// MgmtNetwork, if not empty, is written as mgmt.network.
	MgmtNetwork string
}

type clabFile struct {
	Name     string        `yaml:"name"`
	Prefix   *string       `yaml:"prefix,omitempty"`
	Mgmt     *clabMgmt     `yaml:"mgmt,omitempty"`
	Topology *clabTopology `yaml:"topology"`
}

type clabMgmt struct {
	Network string `yaml:"network,omitempty"`
}

type clabTopology struct {
	Defaults *clabNode           `yaml:"defaults,omitempty"`
	Groups   map[string]clabNode `yaml:"groups,omitempty"`
	Nodes    clabNodes           `yaml:"nodes"`
	Links    []clabLink          `yaml:"links,omitempty"`
}

type clabNode struct {
	Kind   string            `yaml:"kind,omitempty"`
	Image  string            `yaml:"image,omitempty"`
	Group  string            `yaml:"group,omitempty"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

type clabNamedNode struct {
	name string
	node clabNode
	line int
}

// clabNodes keeps nodes in document order (a YAML mapping).
type clabNodes []clabNamedNode

func (ns *clabNodes) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: topology.nodes must be a mapping", v.Line)
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		nn := clabNamedNode{name: k.Value, line: k.Line}
		if !(val.Kind == yaml.ScalarNode && val.Tag == "!!null") {
			if err := val.Decode(&nn.node); err != nil {
				return fmt.Errorf("topology.nodes.%s: %w", k.Value, err)
			}
		}
		*ns = append(*ns, nn)
	}
	return nil
}

func (ns clabNodes) MarshalYAML() (any, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for _, n := range ns {
		var v yaml.Node
		if err := v.Encode(n.node); err != nil {
			return nil, err
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: n.name}, &v)
	}
	return m, nil
}

type clabLink struct {
	Type      string         `yaml:"type,omitempty"`
	Endpoints []clabEndpoint `yaml:"endpoints,omitempty"`
	Vars      *clabLinkVars  `yaml:"vars,omitempty"`
}

type clabLinkVars struct {
	TwinFlow *clabTwinFlowVars `yaml:"twinflow,omitempty"`
}

type clabTwinFlowVars struct {
	ID           string            `yaml:"id,omitempty"`
	Name         string            `yaml:"name,omitempty"`
	CapacityGbps *float64          `yaml:"capacity_gbps,omitempty"`
	UsedGbps     float64           `yaml:"used_capacity_gbps,omitempty"`
	LatencyMs    float64           `yaml:"latency_ms,omitempty"`
	OperStatus   OperStatus        `yaml:"oper_status,omitempty"`
	Labels       map[string]string `yaml:"labels,omitempty"`
	// EndpointTypes are the EndPoint.Type of the two endpoints.
	EndpointTypes []string `yaml:"endpoint_types,omitempty"`
}

// clabEndpoint is "node:iface" (brief links) or {node, interface} (extended links).
type clabEndpoint struct {
	Node, Interface string
	brief           bool
}

func (e *clabEndpoint) UnmarshalYAML(v *yaml.Node) error {
	switch v.Kind {
	case yaml.ScalarNode:
		node, iface, ok := strings.Cut(v.Value, ":")
		if !ok || node == "" || iface == "" {
			return fmt.Errorf("line %d: endpoint %q is not \"node:interface\"", v.Line, v.Value)
		}
		*e = clabEndpoint{Node: node, Interface: iface, brief: true}
		return nil
	case yaml.MappingNode:
		var x struct {
			Node      string `yaml:"node"`
			Interface string `yaml:"interface"`
		}
		if err := v.Decode(&x); err != nil {
			return err
		}
		if x.Node == "" || x.Interface == "" {
			return fmt.Errorf("line %d: endpoint needs node and interface", v.Line)
		}
		*e = clabEndpoint{Node: x.Node, Interface: x.Interface}
		return nil
	}
	return fmt.Errorf("line %d: endpoint must be a string or a mapping", v.Line)
}

func (e clabEndpoint) MarshalYAML() (any, error) { return e.Node + ":" + e.Interface, nil }

// DecodeContainerlab reads a containerlab topology file (YAML) into a network with one
// context DefaultContext and one topology named after the lab, and validates it.
func DecodeContainerlab(r io.Reader) (*Network, error) {
	b, err := readLimited("containerlab", r)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var f clabFile
	if err := yamlDecode(dec, &f); err != nil {
		return nil, fmt.Errorf("containerlab: %w", err)
	}
	if f.Topology == nil {
		return nil, fmt.Errorf("containerlab: %w: missing topology", ErrFormat)
	}
	labName := f.Name
	if labName == "" {
		return nil, fmt.Errorf("containerlab: %w: missing name", ErrFormat)
	}
	if !validLabName(labName) {
		return nil, fmt.Errorf("containerlab: %w: name %q: want a letter or digit, then letters, digits, '-', '.', '_' (at most %d characters)", ErrFormat, labName, MaxIDLength)
	}
	n := &Network{
		Contexts:   []Context{{ID: DefaultContext, Name: DefaultContext}},
		Topologies: []Topology{{ID: labName, Context: DefaultContext, Name: labName}},
	}
	byName := make(map[string]int, len(f.Topology.Nodes))
	for _, nn := range f.Topology.Nodes {
		at := fmt.Sprintf("containerlab: topology.nodes.%s (line %d)", nn.name, nn.line)
		if _, dup := byName[nn.name]; dup {
			return nil, fmt.Errorf("%s: %w: duplicate node", at, ErrFormat)
		}
		d, err := clabDevice(nn, f.Topology)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		byName[nn.name] = len(n.Devices)
		n.Devices = append(n.Devices, d)
	}
	linkIDs := map[string]bool{}
	for i, l := range f.Topology.Links {
		at := fmt.Sprintf("containerlab: topology.links[%d]", i)
		if l.Type != "" && l.Type != "veth" {
			continue // host, mgmt-net, macvlan, vxlan, dummy: not node-to-node
		}
		if len(l.Endpoints) != 2 {
			return nil, fmt.Errorf("%s.endpoints: %w: want 2 endpoints, got %d", at, ErrFormat, len(l.Endpoints))
		}
		special := false
		for _, ep := range l.Endpoints {
			if _, ok := byName[ep.Node]; !ok && ep.brief && (ep.Node == "host" || ep.Node == "mgmt-net" || ep.Node == "macvlan") {
				special = true
			}
		}
		if special {
			continue
		}
		refs := make([]EndPointRef, 2)
		for j, ep := range l.Endpoints {
			di, ok := byName[ep.Node]
			if !ok {
				return nil, fmt.Errorf("%s.endpoints[%d]: %w: unknown node %q", at, j, ErrFormat, ep.Node)
			}
			if msg := CheckID(ep.Interface); msg != "" {
				return nil, fmt.Errorf("%s.endpoints[%d]: %w: interface %q: %s", at, j, ErrFormat, ep.Interface, msg)
			}
			d := &n.Devices[di]
			if !slices.ContainsFunc(d.Endpoints, func(e EndPoint) bool { return e.ID == ep.Interface }) {
				d.Endpoints = append(d.Endpoints, EndPoint{ID: ep.Interface})
			}
			refs[j] = EndPointRef{Device: d.ID, EndPoint: ep.Interface}
		}
		link := Link{Endpoints: refs, CapacityGbps: DefaultLinkCapacityGbps}
		if l.Vars != nil && l.Vars.TwinFlow != nil {
			v := l.Vars.TwinFlow
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

// setEndpointType sets the Type of an existing endpoint.
func setEndpointType(n *Network, ref EndPointRef, typ string) {
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

func clabDevice(nn clabNamedNode, t *clabTopology) (Device, error) {
	kind := nn.node.Kind
	if kind == "" && nn.node.Group != "" {
		kind = t.Groups[nn.node.Group].Kind
	}
	if kind == "" && t.Defaults != nil {
		kind = t.Defaults.Kind
	}
	lbl := nn.node.Labels
	d := Device{ID: nn.name}
	if v := lbl[clabLabelID]; v != "" {
		d.ID = v
	}
	if msg := CheckID(d.ID); msg != "" {
		return Device{}, fmt.Errorf("%w: device ID %q: %s", ErrFormat, d.ID, msg)
	}
	switch {
	case lbl[clabLabelType] != "":
		d.Type = DeviceType(lbl[clabLabelType])
	case kind == "bridge" || kind == "ovs-bridge":
		d.Type = DeviceSwitch
	case kind == "linux" || kind == "host" || kind == "ext-container":
		d.Type = DeviceHost
	default:
		d.Type = DeviceRouter
	}
	if v := lbl[clabLabelDrivers]; v == "none" {
		d.Drivers = nil
	} else if v != "" {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				d.Drivers = append(d.Drivers, DriverKind(s))
			}
		}
	} else if d.Type == DeviceHost {
		d.Drivers = []DriverKind{DriverEmulated}
	} else {
		d.Drivers = []DriverKind{DriverGNMI}
	}
	d.Domain, d.Name, d.Address = lbl[clabLabelDomain], lbl[clabLabelName], lbl[clabLabelAddress]
	d.OperStatus = OperStatus(lbl[clabLabelStatus])
	for _, c := range []struct {
		key string
		dst *float64
	}{{clabLabelX, &d.X}, {clabLabelY, &d.Y}} {
		if v, ok := lbl[c.key]; ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return Device{}, fmt.Errorf("%w: label %s: %q is not a finite number", ErrFormat, c.key, v)
			}
			*c.dst = f
		}
	}
	for k, v := range lbl {
		if strings.HasPrefix(k, clabPrefix) || v == "" {
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
	if s == "" || len(s) > MaxIDLength {
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

// clabNodeName maps a device ID to a containerlab node name
// (^[a-zA-Z0-9][a-zA-Z0-9-._|]*$): characters ':' and '/' become '_', a leading
// '-', '_' or '.' gets an "n" in front.
func clabNodeName(id string) string {
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

// EncodeContainerlab writes n as a containerlab topology file (see the mapping above).
// It fails if a device label uses the reserved "twinflow." prefix or a link does not
// have two endpoints.
func EncodeContainerlab(w io.Writer, n *Network, opts ContainerlabOptions) error {
	if n == nil {
		return errors.New("containerlab: encode: nil network")
	}
	name := opts.Name
	if name == "" && len(n.Topologies) > 0 {
		name = clabNodeName(n.Topologies[0].ID)
	}
	if name == "" {
		name = "twinflow"
	}
	if !validLabName(name) {
		return fmt.Errorf("containerlab: lab name %q: want a letter or digit, then letters, digits, '-', '.', '_'", name)
	}
	kind, image := opts.Kind, opts.Image
	if kind == "" {
		kind = DefaultContainerlabKind
	}
	if image == "" {
		image = DefaultContainerlabImage
	}
	f := clabFile{Name: name, Topology: &clabTopology{}}
	if opts.MgmtNetwork != "" {
		f.Mgmt = &clabMgmt{Network: opts.MgmtNetwork}
	}
	nodeOf := make(map[string]string, len(n.Devices))
	used := make(map[string]bool, len(n.Devices))
	for i, d := range n.Devices {
		nodeName := clabNodeName(d.ID)
		for k := 2; used[nodeName]; k++ {
			nodeName = clabNodeName(d.ID) + "-" + strconv.Itoa(k)
		}
		used[nodeName] = true
		nodeOf[d.ID] = nodeName
		lbl := map[string]string{clabLabelType: string(d.Type)}
		if nodeName != d.ID {
			lbl[clabLabelID] = d.ID
		}
		lbl[clabLabelDrivers] = "none"
		if len(d.Drivers) > 0 {
			ds := make([]string, len(d.Drivers))
			for j, dr := range d.Drivers {
				ds[j] = string(dr)
			}
			lbl[clabLabelDrivers] = strings.Join(ds, ",")
		}
		for k, v := range map[string]string{clabLabelDomain: d.Domain, clabLabelName: d.Name, clabLabelAddress: d.Address, clabLabelStatus: string(d.OperStatus)} {
			if v != "" {
				lbl[k] = v
			}
		}
		if d.X != 0 {
			lbl[clabLabelX] = strconv.FormatFloat(d.X, 'g', -1, 64)
		}
		if d.Y != 0 {
			lbl[clabLabelY] = strconv.FormatFloat(d.Y, 'g', -1, 64)
		}
		for k, v := range d.Labels {
			if strings.HasPrefix(k, clabPrefix) {
				return fmt.Errorf("containerlab: devices[%d].labels[%s]: reserved prefix %q", i, k, clabPrefix)
			}
			if v != "" {
				lbl[k] = v
			}
		}
		f.Topology.Nodes = append(f.Topology.Nodes, clabNamedNode{name: nodeName, node: clabNode{Kind: kind, Image: image, Labels: lbl}})
	}
	epType := map[EndPointRef]string{}
	for _, d := range n.Devices {
		for _, ep := range d.Endpoints {
			if ep.Type != "" {
				epType[EndPointRef{d.ID, ep.ID}] = ep.Type
			}
		}
	}
	for i, l := range n.Links {
		if len(l.Endpoints) != 2 {
			return fmt.Errorf("containerlab: links[%d]: want 2 endpoints, got %d", i, len(l.Endpoints))
		}
		cl := clabLink{}
		var epTypes []string
		for _, ep := range l.Endpoints {
			epTypes = append(epTypes, epType[ep])
			node, ok := nodeOf[ep.Device]
			if !ok {
				return fmt.Errorf("containerlab: links[%d]: unknown device %q", i, ep.Device)
			}
			cl.Endpoints = append(cl.Endpoints, clabEndpoint{Node: node, Interface: ep.EndPoint, brief: true})
		}
		c := l.CapacityGbps
		cl.Vars = &clabLinkVars{TwinFlow: &clabTwinFlowVars{
			ID: l.ID, Name: l.Name, CapacityGbps: &c, UsedGbps: l.UsedGbps,
			LatencyMs: l.LatencyMs, OperStatus: l.OperStatus, Labels: nonEmptyLabels(l.Labels),
		}}
		if epTypes[0] != "" || epTypes[1] != "" {
			cl.Vars.TwinFlow.EndpointTypes = epTypes
		}
		f.Topology.Links = append(f.Topology.Links, cl)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&f); err != nil {
		return fmt.Errorf("containerlab: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("containerlab: encode: %w", err)
	}
	return nil
}
