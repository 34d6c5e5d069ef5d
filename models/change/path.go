package change

import (
	"fmt"
	"sort"
	"strings"
)

// PathElem is one element of an OpenConfig/gNMI path: a name and, for list entries,
// key values.
type PathElem struct {
	Name string            `json:"name"`
	Keys map[string]string `json:"keys,omitempty"`
}

// Path is a parsed OpenConfig path; the empty Path is the configuration root.
type Path []PathElem

// maxPath caps the length of a path string.
const maxPath = 4096

// ParsePath parses a gNMI path string such as
// "/network-instances/network-instance[name=blue]/protocols/protocol[identifier=STATIC][name=static]".
// Key values may contain '/' and escaped "\]" or "\\". Module prefixes ("openconfig-interfaces:")
// on element names are dropped. The path must be absolute; "/" is the root.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return nil, fmt.Errorf("empty path")
	}
	if len(s) > maxPath {
		return nil, fmt.Errorf("path longer than %d bytes", maxPath)
	}
	if s[0] != '/' {
		return nil, fmt.Errorf("path %q is not absolute (must start with /)", s)
	}
	if s == "/" {
		return Path{}, nil
	}
	var p Path
	i := 1
	for i <= len(s) {
		// element name
		start := i
		for i < len(s) && s[i] != '/' && s[i] != '[' {
			if s[i] == ']' || s[i] == '=' || s[i] == '\\' {
				return nil, fmt.Errorf("path %q: unexpected %q at offset %d", s, s[i], i)
			}
			i++
		}
		name := s[start:i]
		if name == "" {
			return nil, fmt.Errorf("path %q: empty element at offset %d", s, start)
		}
		if c := strings.LastIndexByte(name, ':'); c >= 0 {
			if c == 0 || c == len(name)-1 {
				return nil, fmt.Errorf("path %q: malformed module prefix in %q", s, name)
			}
			name = name[c+1:]
		}
		if strings.ContainsAny(name, " \t\n\"'") {
			return nil, fmt.Errorf("path %q: element %q contains whitespace or quotes", s, name)
		}
		el := PathElem{Name: name}
		for i < len(s) && s[i] == '[' {
			i++
			ks := i
			for i < len(s) && s[i] != '=' && s[i] != ']' && s[i] != '[' && s[i] != '/' {
				i++
			}
			if i >= len(s) || s[i] != '=' {
				return nil, fmt.Errorf("path %q: key in element %q lacks '='", s, name)
			}
			key := s[ks:i]
			if key == "" {
				return nil, fmt.Errorf("path %q: empty key name in element %q", s, name)
			}
			i++
			var val strings.Builder
			closed := false
			for i < len(s) {
				ch := s[i]
				if ch == '\\' {
					if i+1 >= len(s) {
						return nil, fmt.Errorf("path %q: dangling escape", s)
					}
					val.WriteByte(s[i+1])
					i += 2
					continue
				}
				if ch == ']' {
					closed = true
					i++
					break
				}
				val.WriteByte(ch)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("path %q: unterminated key %q in element %q", s, key, name)
			}
			if el.Keys == nil {
				el.Keys = map[string]string{}
			}
			if _, dup := el.Keys[key]; dup {
				return nil, fmt.Errorf("path %q: key %q repeated in element %q", s, key, name)
			}
			el.Keys[key] = val.String()
		}
		p = append(p, el)
		if i == len(s) {
			break
		}
		if s[i] != '/' {
			return nil, fmt.Errorf("path %q: unexpected %q at offset %d", s, s[i], i)
		}
		i++
		if i == len(s) {
			return nil, fmt.Errorf("path %q: trailing '/'", s)
		}
	}
	return p, nil
}

// String formats the path canonically (keys sorted, ']' and '\' escaped).
func (p Path) String() string {
	if len(p) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, e := range p {
		b.WriteByte('/')
		b.WriteString(e.Name)
		keys := make([]string, 0, len(e.Keys))
		for k := range e.Keys {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			b.WriteByte('[')
			b.WriteString(k)
			b.WriteByte('=')
			v := e.Keys[k]
			for j := 0; j < len(v); j++ {
				if v[j] == ']' || v[j] == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(v[j])
			}
			b.WriteByte(']')
		}
	}
	return b.String()
}

// HasPrefix reports whether q is p or below it (keys must match exactly).
func (p Path) HasPrefix(q Path) bool {
	if len(q) > len(p) {
		return false
	}
	for i := range q {
		if p[i].Name != q[i].Name || len(p[i].Keys) != len(q[i].Keys) {
			return false
		}
		for k, v := range q[i].Keys {
			if p[i].Keys[k] != v {
				return false
			}
		}
	}
	return true
}
