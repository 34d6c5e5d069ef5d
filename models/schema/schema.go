// Package schema is the small OpenConfig subset TwinFlow supports: a tree of known
// containers, lists and typed leaves used to validate gNMI paths, decode and encode
// JSON_IETF subtrees, and hold typed leaf values. It also implements the configuration
// datastore (Tree) whose Set is atomic: copy, apply every operation, validate, swap.
//
// twinflow-node (labs/node) serves it, and the change pipeline's L0 check
// (models/change.Static) applies every device operation to a Tree of it, so a change
// that validates is one the node agent accepts. It lives in models (pure, importing
// only models/ocpath) so that both can share it.
//
// Supported (config leaves are writable, state leaves are read-only):
//
//	/system/config/hostname, /system/state/{hostname,software-version,boot-time}
//	/interfaces/interface[name]/config/{name,type,enabled,mtu,description}
//	/interfaces/interface[name]/state/{name,type,enabled,mtu,description,admin-status,oper-status}
//	/interfaces/interface[name]/state/counters/{in,out}-{octets,pkts,errors,discards}
//	/interfaces/interface[name]/subinterfaces/subinterface[index]/config/{index,enabled,description}
//	  .../subinterface[index]/ipv4/addresses/address[ip]/config/{ip,prefix-length}
//	/network-instances/network-instance[name]/config/{name,type,description,route-distinguisher}
//	  .../interfaces/interface[id]/config/{id,interface,subinterface}
//	  .../protocols/protocol[identifier][name]/config/{identifier,name}
//	  .../protocols/protocol[identifier][name]/static-routes/static[prefix]/config/prefix
//	  .../static[prefix]/next-hops/next-hop[index]/config/{index,next-hop,metric}
package schema

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/twinflow/twinflow/models/ocpath"
)

// Errors wrapped by schema and datastore operations; the gNMI server maps them to codes.
var (
	// ErrUnknown: a path element or JSON member is not in the schema (NotFound).
	ErrUnknown = errors.New("schema: unknown element")
	// ErrInvalid: a path or value is malformed or has the wrong type (InvalidArgument).
	ErrInvalid = errors.New("schema: invalid value")
	// ErrReadOnly: the path is operational state and cannot be set (InvalidArgument).
	ErrReadOnly = errors.New("schema: read-only path")
)

// Kind is the kind of a schema node.
type Kind int

// Schema node kinds.
const (
	Container Kind = iota
	List
	Leaf
)

// Type is the type of a leaf.
type Type int

// Leaf types.
const (
	String Type = iota
	Bool
	Uint8
	Uint16
	Uint32
	Uint64
	Enum       // one of Node.Enum, encoded as a bare string
	Identity   // one of Node.Enum, encoded "module:NAME" in JSON_IETF
	IPv4       // dotted quad
	IPv4Prefix // a.b.c.d/len, canonical (host bits zero)
)

// Node is one schema node.
type Node struct {
	Name   string
	Module string // YANG module; qualifies JSON_IETF member names at module boundaries
	Kind   Kind
	Keys   []string // List only: key leaf names, in order
	Type   Type     // Leaf only
	Enum   []string // Enum and Identity leaves: allowed values
	// IdentModule is the module that defines an Identity leaf's identities.
	IdentModule string
	Config      bool // writable (under a config container)
	Min, Max    uint64
	Parent      *Node
	Children    map[string]*Node
	Order       []string // child names in declaration order
}

// Child returns the named child, accepting an optional "module:" prefix.
func (n *Node) Child(name string) *Node {
	if i := strings.IndexByte(name, ':'); i >= 0 {
		c := n.Children[name[i+1:]]
		if c == nil || c.Module != name[:i] {
			return nil
		}
		return c
	}
	return n.Children[name]
}

// Path returns the schema path of n, for messages.
func (n *Node) Path() string {
	if n.Parent == nil {
		return "/"
	}
	if n.Parent.Parent == nil {
		return "/" + n.Name
	}
	return n.Parent.Path() + "/" + n.Name
}

func (n *Node) add(c *Node) *Node {
	if n.Children == nil {
		n.Children = map[string]*Node{}
	}
	c.Parent = n
	if c.Module == "" {
		c.Module = n.Module
	}
	n.Children[c.Name] = c
	n.Order = append(n.Order, c.Name)
	return c
}

func cont(name string, children ...*Node) *Node {
	n := &Node{Name: name, Kind: Container}
	for _, c := range children {
		n.add(c)
	}
	return n
}

func list(name string, keys []string, children ...*Node) *Node {
	n := cont(name, children...)
	n.Kind = List
	n.Keys = keys
	return n
}

func leaf(name string, t Type) *Node { return &Node{Name: name, Kind: Leaf, Type: t} }

func rangeLeaf(name string, t Type, min, max uint64) *Node {
	n := leaf(name, t)
	n.Min, n.Max = min, max
	return n
}

func enumLeaf(name string, vals ...string) *Node {
	n := leaf(name, Enum)
	n.Enum = vals
	return n
}

func identLeaf(name, module string, vals ...string) *Node {
	n := leaf(name, Identity)
	n.IdentModule = module
	n.Enum = vals
	return n
}

func mod(m string, n *Node) *Node { n.Module = m; return n }

// copyLeaves returns fresh copies of leaves (so config and state get distinct nodes).
func copyLeaves(ls ...*Node) []*Node {
	out := make([]*Node, len(ls))
	for i, l := range ls {
		c := *l
		out[i] = &c
	}
	return out
}

// markConfig sets Config on n and below.
func markConfig(n *Node, config bool) {
	n.Config = config
	for _, c := range n.Children {
		markConfig(c, config)
	}
}

// Interface oper and admin status values.
var operStatuses = []string{"UP", "DOWN", "TESTING", "UNKNOWN", "DORMANT", "NOT_PRESENT", "LOWER_LAYER_DOWN"}

// Root returns a freshly built schema tree (callers may keep and share it; it is never
// mutated after construction).
func Root() *Node {
	r := &Node{Name: "", Kind: Container}

	sysCfg := []*Node{leaf("hostname", String)}
	system := mod("openconfig-system", cont("system",
		cont("config", copyLeaves(sysCfg...)...),
		cont("state", append(copyLeaves(sysCfg...),
			leaf("software-version", String),
			leaf("boot-time", Uint64))...),
	))
	r.add(system)

	ifCfg := []*Node{
		leaf("name", String),
		identLeaf("type", "iana-if-type", "ethernetCsmacd", "softwareLoopback", "other"),
		leaf("enabled", Bool),
		rangeLeaf("mtu", Uint16, 68, 65535),
		leaf("description", String),
	}
	counters := cont("counters")
	for _, c := range []string{"in-octets", "out-octets", "in-pkts", "out-pkts", "in-errors", "out-errors", "in-discards", "out-discards"} {
		counters.add(leaf(c, Uint64))
	}
	addrCfg := []*Node{leaf("ip", IPv4), rangeLeaf("prefix-length", Uint8, 0, 32)}
	ipv4 := mod("openconfig-if-ip", cont("ipv4",
		cont("addresses", list("address", []string{"ip"},
			leaf("ip", IPv4),
			cont("config", copyLeaves(addrCfg...)...),
			cont("state", copyLeaves(addrCfg...)...),
		)),
	))
	subCfg := []*Node{leaf("index", Uint32), leaf("enabled", Bool), leaf("description", String)}
	sub := list("subinterface", []string{"index"},
		leaf("index", Uint32),
		cont("config", copyLeaves(subCfg...)...),
		cont("state", copyLeaves(subCfg...)...),
	)
	sub.add(ipv4)
	iface := list("interface", []string{"name"},
		leaf("name", String),
		cont("config", copyLeaves(ifCfg...)...),
		cont("state", append(copyLeaves(ifCfg...),
			enumLeaf("admin-status", "UP", "DOWN", "TESTING"),
			enumLeaf("oper-status", operStatuses...),
			counters)...),
		cont("subinterfaces", sub),
	)
	r.add(mod("openconfig-interfaces", cont("interfaces", iface)))

	niCfg := []*Node{
		leaf("name", String),
		identLeaf("type", "openconfig-network-instance-types", "DEFAULT_INSTANCE", "L3VRF", "L2VSI"),
		leaf("description", String),
		leaf("route-distinguisher", String),
	}
	niIfCfg := []*Node{leaf("id", String), leaf("interface", String), leaf("subinterface", Uint32)}
	nhCfg := []*Node{leaf("index", String), leaf("next-hop", IPv4), leaf("metric", Uint32)}
	protoCfg := []*Node{identLeaf("identifier", "openconfig-policy-types", "STATIC", "DIRECTLY_CONNECTED"), leaf("name", String)}
	static := list("static", []string{"prefix"},
		leaf("prefix", IPv4Prefix),
		cont("config", leaf("prefix", IPv4Prefix)),
		cont("state", leaf("prefix", IPv4Prefix)),
		cont("next-hops", list("next-hop", []string{"index"},
			leaf("index", String),
			cont("config", copyLeaves(nhCfg...)...),
			cont("state", copyLeaves(nhCfg...)...),
		)),
	)
	proto := list("protocol", []string{"identifier", "name"},
		identLeaf("identifier", "openconfig-policy-types", "STATIC", "DIRECTLY_CONNECTED"),
		leaf("name", String),
		cont("config", copyLeaves(protoCfg...)...),
		cont("state", copyLeaves(protoCfg...)...),
		cont("static-routes", static),
	)
	ni := list("network-instance", []string{"name"},
		leaf("name", String),
		cont("config", copyLeaves(niCfg...)...),
		cont("state", copyLeaves(niCfg...)...),
		cont("interfaces", list("interface", []string{"id"},
			leaf("id", String),
			cont("config", copyLeaves(niIfCfg...)...),
			cont("state", copyLeaves(niIfCfg...)...),
		)),
		cont("protocols", proto),
	)
	r.add(mod("openconfig-network-instance", cont("network-instances", ni)))
	addServiceNodes(r) // services.go

	fixModules(r)
	setConfig(r, false)
	r.Config = true
	return r
}

// fixModules propagates modules downward (children added before their parent got one).
func fixModules(n *Node) {
	for _, c := range n.Children {
		if c.Module == "" || (c.Module == n.Module) {
			c.Module = n.Module
		}
		fixModules(c)
	}
}

// setConfig marks everything under a "config" container, and list key leaves of config
// lists, as writable.
func setConfig(n *Node, under bool) {
	for _, c := range n.Children {
		switch {
		case c.Name == "config" && c.Kind == Container:
			markConfig(c, true)
		case c.Name == "state" && c.Kind == Container:
			markConfig(c, false)
		default:
			c.Config = true
			setConfig(c, under)
		}
	}
}

// Resolve walks p from the root and returns the schema node it names. Every list element
// must carry exactly its keys (or none, or wildcards when allowWild). Key values are
// checked against the key leaves' types. Module-prefixed element names
// ("openconfig-interfaces:interfaces") are accepted and rewritten in p to the bare name.
func Resolve(root *Node, p ocpath.Path, allowWild bool) (*Node, error) {
	n := root
	for i, e := range p {
		if n.Kind == Leaf {
			return nil, fmt.Errorf("%w: %s: %q is below leaf %s", ErrUnknown, p, e.Name, n.Path())
		}
		if e.Name == "*" || e.Name == "..." {
			return nil, fmt.Errorf("%w: %s: wildcard element names are not supported", ErrInvalid, p)
		}
		c := n.Child(e.Name)
		if c == nil {
			return nil, fmt.Errorf("%w: %s: no element %q under %s", ErrUnknown, p, e.Name, n.Path())
		}
		p[i].Name = c.Name // canonical: drop a module prefix
		if c.Kind != List && len(e.Key) > 0 {
			return nil, fmt.Errorf("%w: %s: element %q is not a list and takes no keys", ErrInvalid, p, e.Name)
		}
		if c.Kind == List && len(e.Key) > 0 {
			for k, v := range e.Key {
				kl := c.Children[k]
				if kl == nil || !isKey(c, k) {
					return nil, fmt.Errorf("%w: %s: list %q has no key %q", ErrInvalid, p, e.Name, k)
				}
				if v == "*" && allowWild {
					continue
				}
				if _, err := ParseValue(kl, v); err != nil {
					return nil, fmt.Errorf("%w: %s: key %s of %q: %v", ErrInvalid, p, k, e.Name, err)
				}
			}
			if !allowWild && len(e.Key) != len(c.Keys) {
				return nil, fmt.Errorf("%w: %s: list %q needs keys %v", ErrInvalid, p, e.Name, c.Keys)
			}
		}
		n = c
	}
	return n, nil
}

func isKey(l *Node, k string) bool {
	for _, kk := range l.Keys {
		if kk == k {
			return true
		}
	}
	return false
}

// ValueKind says which field of a Value is meaningful.
type ValueKind uint8

// Value kinds.
const (
	VNone ValueKind = iota
	VString
	VBool
	VUint
)

// Value is a typed leaf value. It is comparable with ==.
type Value struct {
	Kind ValueKind
	S    string
	U    uint64
	B    bool
}

// Str, Uint and BoolV build values.
func Str(s string) Value    { return Value{Kind: VString, S: s} }
func Uint(u uint64) Value   { return Value{Kind: VUint, U: u} }
func BoolV(b bool) Value    { return Value{Kind: VBool, B: b} }
func (v Value) IsSet() bool { return v.Kind != VNone }

// String renders the value as text (as in a path key).
func (v Value) String() string {
	switch v.Kind {
	case VString:
		return v.S
	case VUint:
		return strconv.FormatUint(v.U, 10)
	case VBool:
		return strconv.FormatBool(v.B)
	}
	return ""
}

// ParseValue parses the text form of a leaf value (as found in a path key).
func ParseValue(n *Node, s string) (Value, error) {
	switch n.Type {
	case Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return Value{}, fmt.Errorf("%q is not a boolean", s)
		}
		return BoolV(b), nil
	case Uint8, Uint16, Uint32, Uint64:
		u, err := strconv.ParseUint(s, 10, bits(n.Type))
		if err != nil {
			return Value{}, fmt.Errorf("%q is not a uint%d", s, bits(n.Type))
		}
		return checkRange(n, u)
	}
	return parseString(n, s)
}

func bits(t Type) int {
	switch t {
	case Uint8:
		return 8
	case Uint16:
		return 16
	case Uint32:
		return 32
	}
	return 64
}

func checkRange(n *Node, u uint64) (Value, error) {
	if n.Max != 0 && (u < n.Min || u > n.Max) {
		return Value{}, fmt.Errorf("%d is out of range [%d, %d]", u, n.Min, n.Max)
	}
	return Uint(u), nil
}

// yangString checks the characters YANG allows in a string (RFC 7950 section 9.4:
// tab, carriage return, line feed and the legal characters of Unicode): valid UTF-8,
// no other control character (a NUL byte would not survive a device, a JSON
// round trip or PostgreSQL's text type).
func yangString(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%q is not valid UTF-8", s)
	}
	for i, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0xfffe || r == 0xffff {
			return fmt.Errorf("%q has the control character %U at byte %d (YANG strings allow tab, CR and LF only)", s, r, i)
		}
	}
	return nil
}

func parseString(n *Node, s string) (Value, error) {
	switch n.Type {
	case String:
		if err := yangString(s); err != nil {
			return Value{}, err
		}
		return Str(s), nil
	case Enum, Identity:
		name := s
		if i := strings.IndexByte(s, ':'); i >= 0 && n.Type == Identity {
			if s[:i] != n.IdentModule {
				return Value{}, fmt.Errorf("identity %q is not from module %s", s, n.IdentModule)
			}
			name = s[i+1:]
		}
		for _, e := range n.Enum {
			if e == name {
				return Str(name), nil
			}
		}
		return Value{}, fmt.Errorf("%q is not one of %v", s, n.Enum)
	case IPv4:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return Value{}, fmt.Errorf("%q is not an IPv4 address", s)
		}
		return Str(a.String()), nil
	case IPv6: // services.go
		return parseIPv6(s)
	case IPv4Prefix:
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return Value{}, fmt.Errorf("%q is not an IPv4 prefix", s)
		}
		if p.Masked() != p {
			return Value{}, fmt.Errorf("%q has host bits set (want %s)", s, p.Masked())
		}
		return Str(p.String()), nil
	}
	return Value{}, fmt.Errorf("%q: unsupported type", s)
}
