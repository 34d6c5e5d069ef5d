package change

import (
	"fmt"
	"strings"

	"github.com/twinflow/twinflow/models/ocpath"
)

// Path is a parsed OpenConfig path (see models/ocpath); the empty Path is the root.
type Path = ocpath.Path

// PathElem is one element of a Path.
type PathElem = ocpath.Elem

// ParsePath parses the path of a device operation with ocpath's syntax, adding the
// pipeline's rules: the path is absolute, concrete (no wildcards), element names carry
// no whitespace or quotes, and module prefixes ("openconfig-interfaces:") on element
// names are dropped.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return nil, fmt.Errorf("empty path")
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("path %q is not absolute (must start with /)", s)
	}
	p, err := ocpath.Parse(s)
	if err != nil {
		return nil, err
	}
	if p.HasWildcard() {
		return nil, fmt.Errorf("path %q: wildcards are not allowed in a change", s)
	}
	for i := range p {
		name := p[i].Name
		if c := strings.LastIndexByte(name, ':'); c >= 0 {
			if c == 0 || c == len(name)-1 {
				return nil, fmt.Errorf("path %q: malformed module prefix in %q", s, name)
			}
			p[i].Name = name[c+1:]
		}
		if strings.ContainsAny(p[i].Name, " \t\r\n\"'") {
			return nil, fmt.Errorf("path %q: element %q contains whitespace or quotes", s, p[i].Name)
		}
		if !yangIdentifier(p[i].Name) {
			return nil, fmt.Errorf("path %q: element %q is not a YANG identifier (a letter or '_', then letters, digits, '_', '-', '.'; no \".\" or \"..\")", s, p[i].Name)
		}
		for k := range p[i].Key {
			if strings.ContainsAny(k, " \t\r\n\"'") {
				return nil, fmt.Errorf("path %q: key name %q contains whitespace or quotes", s, k)
			}
			if !yangIdentifier(k) {
				return nil, fmt.Errorf("path %q: key name %q is not a YANG identifier", s, k)
			}
		}
	}
	return p, nil
}

// yangIdentifier reports whether s is a YANG identifier (RFC 7950 section 6.2):
// a letter or '_', then letters, digits, '_', '-' and '.'. Relative elements ("." and
// "..") are not identifiers.
func yangIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
