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
		for k := range p[i].Key {
			if strings.ContainsAny(k, " \t\r\n\"'") {
				return nil, fmt.Errorf("path %q: key name %q contains whitespace or quotes", s, k)
			}
		}
	}
	return p, nil
}
