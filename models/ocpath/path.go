// Package ocpath parses, formats and matches gNMI/OpenConfig paths in their string form,
// e.g. "/interfaces/interface[name=eth0]/config/mtu". It is pure: the gNMI target
// (labs/node) and the gNMI driver (physical/gnmi) both convert to and from the gNMI
// protobuf Path with it.
//
// String form: elements are separated by '/'; an element may carry keys in brackets,
// "name[k1=v1][k2=v2]". Inside a key value, '\' escapes the next character, so "\]" and
// "\\" stand for ']' and '\'; '/' and '=' need no escape inside a value. Element names
// and key names may not contain '/', '[', ']', '=' or '\'. A leading '/' is optional.
// A path is valid UTF-8 without control characters (NUL included) anywhere.
// The wildcard "*" matches any element name or key value.
package ocpath

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("ocpath: invalid path")

// MaxLen bounds the length of a string path accepted by Parse.
const MaxLen = 4096

// Elem is one element of a path: a name and, for list entries, its keys.
type Elem struct {
	Name string
	Key  map[string]string
}

// Path is a sequence of elements from the root.
type Path []Elem

// SyntaxError locates a parse error.
type SyntaxError struct {
	Input string
	Pos   int
	Msg   string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("ocpath: invalid path %q at offset %d: %s", e.Input, e.Pos, e.Msg)
}

// Unwrap makes every SyntaxError match ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Parse parses the string form of a path. "" and "/" are the root (an empty Path).
func Parse(s string) (Path, error) {
	if len(s) > MaxLen {
		return nil, &SyntaxError{Input: s[:32] + "...", Pos: MaxLen, Msg: fmt.Sprintf("longer than %d bytes", MaxLen)}
	}
	if !utf8.ValidString(s) {
		return nil, &SyntaxError{Input: s, Pos: invalidUTF8At(s), Msg: "not valid UTF-8"}
	}
	for j, c := range s {
		if unicode.IsControl(c) {
			return nil, &SyntaxError{Input: s, Pos: j, Msg: fmt.Sprintf("control character %U", c)}
		}
	}
	p := Path{}
	i := 0
	if strings.HasPrefix(s, "/") {
		i = 1
	}
	if i == len(s) {
		return p, nil
	}
	for {
		start := i
		for i < len(s) && s[i] != '/' && s[i] != '[' {
			if s[i] == ']' || s[i] == '=' || s[i] == '\\' {
				return nil, &SyntaxError{Input: s, Pos: i, Msg: fmt.Sprintf("unexpected %q in element name", s[i])}
			}
			i++
		}
		if i == start {
			return nil, &SyntaxError{Input: s, Pos: i, Msg: "empty element name"}
		}
		e := Elem{Name: s[start:i]}
		for i < len(s) && s[i] == '[' {
			i++
			ks := i
			for i < len(s) && s[i] != '=' {
				if s[i] == '[' || s[i] == ']' || s[i] == '/' || s[i] == '\\' {
					return nil, &SyntaxError{Input: s, Pos: i, Msg: fmt.Sprintf("unexpected %q in key name", s[i])}
				}
				i++
			}
			if i == len(s) {
				return nil, &SyntaxError{Input: s, Pos: i, Msg: "key without '='"}
			}
			if i == ks {
				return nil, &SyntaxError{Input: s, Pos: i, Msg: "empty key name"}
			}
			k := s[ks:i]
			i++ // '='
			var v strings.Builder
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' {
					if i+1 == len(s) {
						return nil, &SyntaxError{Input: s, Pos: i, Msg: "dangling escape"}
					}
					v.WriteByte(s[i+1])
					i += 2
					continue
				}
				if c == ']' {
					closed = true
					i++
					break
				}
				v.WriteByte(c)
				i++
			}
			if !closed {
				return nil, &SyntaxError{Input: s, Pos: i, Msg: "unterminated key, missing ']'"}
			}
			if e.Key == nil {
				e.Key = map[string]string{}
			}
			if _, dup := e.Key[k]; dup {
				return nil, &SyntaxError{Input: s, Pos: ks, Msg: fmt.Sprintf("duplicate key %q", k)}
			}
			e.Key[k] = v.String()
		}
		p = append(p, e)
		if i == len(s) {
			return p, nil
		}
		if s[i] != '/' {
			return nil, &SyntaxError{Input: s, Pos: i, Msg: fmt.Sprintf("unexpected %q after element %q", s[i], e.Name)}
		}
		i++
		if i == len(s) {
			return nil, &SyntaxError{Input: s, Pos: i, Msg: "trailing '/'"}
		}
	}
}

// invalidUTF8At returns the offset of the first invalid UTF-8 sequence in s.
func invalidUTF8At(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(s)
}

// MustParse is Parse for constant paths; it panics on error.
func MustParse(s string) Path {
	p, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

// String formats p canonically: keys sorted by name, values escaped, a leading '/'.
func (p Path) String() string {
	if len(p) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, e := range p {
		b.WriteByte('/')
		e.write(&b)
	}
	return b.String()
}

// String formats one element canonically.
func (e Elem) String() string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

// WriteCanonical appends the element's canonical form (as String) to b.
func (e Elem) WriteCanonical(b *strings.Builder) { e.write(b) }

func (e Elem) write(b *strings.Builder) {
	b.WriteString(e.Name)
	if len(e.Key) == 1 { // most lists have one key: no sorted key slice
		for k, v := range e.Key {
			writeKey(b, k, v)
		}
		return
	}
	for _, k := range e.KeyNames() {
		writeKey(b, k, e.Key[k])
	}
}

func writeKey(b *strings.Builder, k, v string) {
	b.WriteByte('[')
	b.WriteString(k)
	b.WriteByte('=')
	for j := 0; j < len(v); j++ {
		if v[j] == ']' || v[j] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(v[j])
	}
	b.WriteByte(']')
}

// KeyNames returns the element's key names in sorted order.
func (e Elem) KeyNames() []string {
	if len(e.Key) == 0 {
		return nil
	}
	ks := make([]string, 0, len(e.Key))
	for k := range e.Key {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Clone returns a deep copy of p.
func (p Path) Clone() Path {
	out := make(Path, len(p))
	for i, e := range p {
		out[i] = Elem{Name: e.Name}
		if e.Key != nil {
			out[i].Key = make(map[string]string, len(e.Key))
			for k, v := range e.Key {
				out[i].Key[k] = v
			}
		}
	}
	return out
}

// Join returns a new path: p followed by q.
func (p Path) Join(q Path) Path {
	out := make(Path, 0, len(p)+len(q))
	out = append(out, p...)
	return append(out, q...)
}

// HasWildcard reports whether any element name or key value is "*".
func (p Path) HasWildcard() bool {
	for _, e := range p {
		if e.Name == "*" || e.Name == "..." {
			return true
		}
		for _, v := range e.Key {
			if v == "*" {
				return true
			}
		}
	}
	return false
}

// Matches reports whether the concrete path c lies at or below the query path q:
// q's elements are a prefix of c's, element names equal or q's is "*", and each key of
// q's element equals c's or is "*". Keys absent from q match anything.
func (q Path) Matches(c Path) bool {
	if len(q) > len(c) {
		return false
	}
	for i, e := range q {
		if e.Name != "*" && e.Name != c[i].Name {
			return false
		}
		for k, v := range e.Key {
			if v == "*" {
				continue
			}
			if cv, ok := c[i].Key[k]; !ok || cv != v {
				return false
			}
		}
	}
	return true
}

// Equal reports whether p and q are the same path.
func (p Path) Equal(q Path) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i].Name != q[i].Name || len(p[i].Key) != len(q[i].Key) {
			return false
		}
		for k, v := range p[i].Key {
			if qv, ok := q[i].Key[k]; !ok || qv != v {
				return false
			}
		}
	}
	return true
}
