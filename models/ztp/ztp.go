// Package ztp is the vocabulary of zero-touch provisioning (seed 000 §8.5,
// REQ-AUTO-01/05; issue 17 item 4): a device's registration (what a new device says
// about itself), a role (which devices it takes, and the day-0 configuration template
// that provisions them), and the rendering of a role's template for one device into
// gNMI configuration operations. Everything here is pure: parsing is strict and
// bounded, rendering is deterministic.
//
// A template is a Go text/template whose output is a YAML list of operations, the
// device_ops entries of a ChangeSet (op, path, value). It sees the device as
// .Name, .Address (management host:port), .Host, .Ports, .Index (the device's 1-based
// ordinal within its role) and .Role, and has these functions:
//
//	ip4 "10.0.0.0/24" N   the Nth address of the prefix (N ≥ 0; .Index for one per device)
//	add A B               A + B (integers)
//	json V                V as a JSON value (a quoted string for text)
package ztp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/twinflow/twinflow/models/change"
	"github.com/twinflow/twinflow/models/yamldoc"
)

// Bounds of registrations and roles.
const (
	MaxRegistrationBytes = 16 << 10
	MaxRoleBytes         = 128 << 10
	MaxTemplateBytes     = 64 << 10
	MaxRenderedBytes     = 256 << 10
	MaxPorts             = 256
	MaxDescription       = 256
	MaxNameLen           = 63
	MaxOps               = 2000
)

// Errors of the package.
var (
	// ErrInvalid is wrapped by a malformed registration or role.
	ErrInvalid = errors.New("ztp: invalid")
	// ErrTemplate is wrapped when a role's template does not render into valid
	// operations for a device.
	ErrTemplate = errors.New("ztp: template")
)

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	portRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:-]{0,31}$`)
	labelRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,62}$`)
	prefixRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)
)

// CheckName reports whether s is a valid device or role name.
func CheckName(what, s string) error {
	if !nameRE.MatchString(s) {
		return fmt.Errorf("%w: %s %q: 1..%d letters, digits, '.', '_' or '-', starting with a letter or digit", ErrInvalid, what, trunc(s), MaxNameLen)
	}
	return nil
}

// Registration is what a device says about itself when it registers (or what an
// operator says when adding it to the inventory).
type Registration struct {
	// Name is the device's hostname; it becomes its ID in the twin.
	Name string `json:"name"`
	// Address is the management (gNMI) address host:port.
	Address string `json:"address"`
	// Ports are the device's interface names.
	Ports []string `json:"ports"`
	// Role, when set (operators only, at inventory add), names the role instead of
	// matching one by name.
	Role string `json:"role,omitempty"`
}

// ParseRegistration decodes a registration strictly (JSON, unknown fields refused) and
// checks its bounds.
func ParseRegistration(data []byte) (Registration, error) {
	if len(data) > MaxRegistrationBytes {
		return Registration{}, fmt.Errorf("%w: registration is %d bytes, more than %d", ErrInvalid, len(data), MaxRegistrationBytes)
	}
	var r Registration
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Registration{}, fmt.Errorf("%w: registration: %v", ErrInvalid, err)
	}
	if dec.More() {
		return Registration{}, fmt.Errorf("%w: registration: trailing data", ErrInvalid)
	}
	return r, r.Check()
}

// Check validates a registration's fields.
func (r Registration) Check() error {
	if err := CheckName("name", r.Name); err != nil {
		return err
	}
	if err := CheckAddress(r.Address); err != nil {
		return err
	}
	if len(r.Ports) == 0 || len(r.Ports) > MaxPorts {
		return fmt.Errorf("%w: ports: 1..%d interface names, got %d", ErrInvalid, MaxPorts, len(r.Ports))
	}
	seen := map[string]bool{}
	for i, p := range r.Ports {
		if !portRE.MatchString(p) {
			return fmt.Errorf("%w: ports[%d] %q: 1..32 letters, digits or . _ / : -", ErrInvalid, i, trunc(p))
		}
		if seen[p] {
			return fmt.Errorf("%w: ports[%d] %q given twice", ErrInvalid, i, p)
		}
		seen[p] = true
	}
	if r.Role != "" {
		if err := CheckName("role", r.Role); err != nil {
			return err
		}
	}
	return nil
}

// CheckAddress validates a management address: host:port with an IP address or a DNS
// name, and a port 1..65535.
func CheckAddress(a string) error {
	host, port, err := net.SplitHostPort(a)
	if err != nil || len(a) > 260 {
		return fmt.Errorf("%w: address %q: want host:port", ErrInvalid, trunc(a))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%w: address %q: port must be 1..65535", ErrInvalid, trunc(a))
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if host == "" || len(host) > 253 {
		return fmt.Errorf("%w: address %q: empty or overlong host", ErrInvalid, trunc(a))
	}
	for _, label := range strings.Split(host, ".") {
		if !labelRE.MatchString(label) {
			return fmt.Errorf("%w: address %q: host is neither an IP address nor a DNS name", ErrInvalid, trunc(a))
		}
	}
	return nil
}

// Match says which devices a role takes.
type Match struct {
	// NamePrefix: devices whose name starts with it (the longest matching prefix over
	// all roles wins).
	NamePrefix string `json:"name_prefix,omitempty" yaml:"name_prefix"`
}

// Role is a provisioning role.
type Role struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description"`
	Match       Match  `json:"match" yaml:"match"`
	// Template renders the day-0 configuration (see the package doc).
	Template string `json:"template" yaml:"template"`

	tmpl *template.Template
}

// ParseRole decodes a role document (YAML or JSON) strictly, checks its bounds and
// parses its template (a template that does not parse is refused here; one that
// renders bad configuration is refused by the twin's validation).
func ParseRole(data []byte) (*Role, error) {
	if len(data) > MaxRoleBytes {
		return nil, fmt.Errorf("%w: role document is %d bytes, more than %d", ErrInvalid, len(data), MaxRoleBytes)
	}
	var r Role
	if err := yamldoc.Decode(data, &r); err != nil {
		return nil, fmt.Errorf("%w: role: %v", ErrInvalid, err)
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	return &r, nil
}

func (r *Role) check() error {
	if err := CheckName("role name", r.Name); err != nil {
		return err
	}
	if len(r.Description) > MaxDescription {
		return fmt.Errorf("%w: description longer than %d bytes", ErrInvalid, MaxDescription)
	}
	if p := r.Match.NamePrefix; p != "" && !prefixRE.MatchString(p) {
		return fmt.Errorf("%w: match.name_prefix %q: 1..63 letters, digits, '.', '_' or '-'", ErrInvalid, trunc(p))
	}
	if strings.TrimSpace(r.Template) == "" {
		return fmt.Errorf("%w: template is required", ErrInvalid)
	}
	if len(r.Template) > MaxTemplateBytes {
		return fmt.Errorf("%w: template is %d bytes, more than %d", ErrInvalid, len(r.Template), MaxTemplateBytes)
	}
	t, err := template.New(r.Name).Option("missingkey=error").Funcs(funcs).Parse(r.Template)
	if err != nil {
		return fmt.Errorf("%w: template: %v", ErrInvalid, err)
	}
	r.tmpl = t
	return nil
}

// JSON returns the role as the JSON document the repository stores.
func (r *Role) JSON() json.RawMessage {
	b, _ := json.Marshal(r)
	return b
}

// Device is what a template sees of a device.
type Device struct {
	Name    string
	Address string
	Host    string
	Ports   []string
	Index   int
	Role    string
}

// NewDevice is the template's view of a registration, the device's ordinal in its role.
func NewDevice(reg Registration, role string, index int) Device {
	host, _, _ := net.SplitHostPort(reg.Address)
	return Device{Name: reg.Name, Address: reg.Address, Host: host, Ports: append([]string(nil), reg.Ports...), Index: index, Role: role}
}

var funcs = template.FuncMap{
	"ip4": func(cidr string, n int) (string, error) {
		p, err := netip.ParsePrefix(cidr)
		if err != nil || !p.Addr().Is4() {
			return "", fmt.Errorf("ip4: %q is not an IPv4 prefix", cidr)
		}
		p = p.Masked()
		size := uint64(1) << (32 - p.Bits())
		if n < 0 || uint64(n) >= size {
			return "", fmt.Errorf("ip4: address %d is outside %s (%d addresses)", n, p, size)
		}
		b := p.Addr().As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += uint32(n)
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String(), nil
	},
	"add": func(a, b int) int { return a + b },
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// limitedBuffer fails writes beyond its limit (a template that loops into a huge
// output stops there).
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.Len()+len(p) > l.limit {
		return 0, fmt.Errorf("output exceeds %d bytes", l.limit)
	}
	return l.Buffer.Write(p)
}

// Render renders the role's template for dev into configuration operations. The
// operations are checked for shape (op kinds, paths, values, bounds) as a ChangeSet's
// are; whether they fit the device and the network is the twin's validation.
func (r *Role) Render(dev Device) ([]change.Op, error) {
	if r.tmpl == nil {
		if err := r.check(); err != nil {
			return nil, err
		}
	}
	out := &limitedBuffer{limit: MaxRenderedBytes}
	if err := r.tmpl.Execute(out, dev); err != nil {
		return nil, fmt.Errorf("%w: role %s: %v", ErrTemplate, r.Name, err)
	}
	// Wrap the rendered list as the device's operations of a ChangeSet: its decoder
	// checks every operation the way a proposed change's are.
	var doc strings.Builder
	doc.WriteString("kind: intent\ndevice_ops:\n  \"" + dev.Name + "\":\n")
	for _, line := range strings.Split(out.String(), "\n") {
		doc.WriteString("    " + line + "\n")
	}
	cs, err := change.Decode([]byte(doc.String()))
	if err != nil {
		return nil, fmt.Errorf("%w: role %s renders invalid operations for %s: %v", ErrTemplate, r.Name, dev.Name, err)
	}
	ops := cs.DeviceOps[dev.Name]
	if len(ops) == 0 {
		return nil, fmt.Errorf("%w: role %s renders no operations for %s", ErrTemplate, r.Name, dev.Name)
	}
	if len(ops) > MaxOps {
		return nil, fmt.Errorf("%w: role %s renders %d operations, more than %d", ErrTemplate, r.Name, len(ops), MaxOps)
	}
	return ops, nil
}

// Pick returns the role that takes a device named name: the role with the longest
// match.name_prefix that prefixes it (nil when none does).
func Pick(roles []*Role, name string) *Role {
	var best *Role
	for _, r := range roles {
		p := r.Match.NamePrefix
		if p == "" || !strings.HasPrefix(name, p) {
			continue
		}
		if best == nil || len(p) > len(best.Match.NamePrefix) || len(p) == len(best.Match.NamePrefix) && r.Name < best.Name {
			best = r
		}
	}
	return best
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
