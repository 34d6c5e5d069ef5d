// Package yamldoc decodes one YAML document into a Go struct strictly, with errors a
// user can act on: each names the document's field ("twin.capacities[0].capacity_gbps")
// and the line it is on, never a Go type ("change.yamlChangeSet", "float64"). Unknown
// fields, values of the wrong kind, a second document and the YAML library's panics on
// pathological input are all errors. It is pure: no I/O, no globals.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is a decoding error at a line (0 when unknown) and field ("" for the document).
type Error struct {
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// maxNodes bounds the nodes visited (aliases are followed, so a small document could
// otherwise expand exponentially).
const maxNodes = 1 << 20

// Decode decodes data, which must hold exactly one YAML document, into v (a pointer to
// a struct). Struct fields are matched by their yaml tags (",inline" structs are
// flattened; fields tagged "-" are not accepted); types with their own UnmarshalYAML
// are checked by it. Errors are *Error.
func Decode(data []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Msg: fmt.Sprintf("malformed YAML: %v", p)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &Error{Msg: "empty document"}
		}
		return syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			return syntaxError(err)
		}
		return &Error{Line: line, Msg: "more than one document"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	c := &checker{budget: maxNodes}
	if err := c.walk(root, reflect.TypeOf(v), ""); err != nil {
		return err
	}
	if err := root.Decode(v); err != nil {
		return genericError(err)
	}
	return nil
}

var lineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// parserErrors are the messages of yaml.v3's parser (as opposed to its scanner). The
// library reports their line 0-based (one less than the line the construct starts on,
// and none for the first line) while it reports scanner errors 1-based: syntaxError
// corrects them so that the line cited is the right one.
var parserErrors = []string{
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found duplicate %TAG directive",
	"found undefined tag handle",
}

func isParserError(msg string) bool {
	for _, p := range parserErrors {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// syntaxError turns a yaml.v3 parse error into an *Error with its line.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		if isParserError(m[2]) {
			n++
		}
		return &Error{Line: n, Msg: m[2]}
	}
	if isParserError(msg) {
		return &Error{Line: 1, Msg: msg}
	}
	return &Error{Msg: msg}
}

var goTypeRE = regexp.MustCompile(` (in type|into) [*\[\]a-zA-Z0-9_.]+`)

// genericError is the fallback for a decoding error the walk did not foresee: the
// library's message without Go type names.
func genericError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg := goTypeRE.ReplaceAllString(te.Errors[0], "")
		if m := lineRE.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return &Error{Line: n, Msg: m[2]}
		}
		return &Error{Msg: msg}
	}
	return syntaxError(errors.New(goTypeRE.ReplaceAllString(err.Error(), "")))
}

type checker struct {
	budget int
	depth  int
	active map[*yaml.Node]bool // aliased nodes being walked (a cycle is an error)
}

// maxDepth bounds nesting (deeper documents are refused, not walked).
const maxDepth = 256

var unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// describe names what a node holds, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return strconv.Quote(v)
	}
	return "something else"
}

func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) error {
	c.budget--
	if c.budget < 0 {
		return &Error{Line: n.Line, Msg: "document too complex (too many nodes after expanding aliases)"}
	}
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > maxDepth {
		return &Error{Line: n.Line, Field: path, Msg: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return &Error{Line: n.Line, Field: path, Msg: "unknown alias"}
		}
		if c.active[n.Alias] {
			return &Error{Line: n.Line, Field: path, Msg: "alias refers to a value that contains it"}
		}
		if c.active == nil {
			c.active = map[*yaml.Node]bool{}
		}
		c.active[n.Alias] = true
		defer delete(c.active, n.Alias)
		return c.walk(n.Alias, t, path)
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			return nil
		}
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil // checked by its own UnmarshalYAML when decoded
	}
	want := func(what string) error {
		return &Error{Line: n.Line, Field: path, Msg: "must be " + what + ", got " + describe(n)}
	}
	switch t.Kind() {
	case reflect.Interface:
		return nil
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return want("a mapping")
		}
		fields := map[string]reflect.Type{}
		structFields(t, fields)
		return c.mapping(n, path, func(k *yaml.Node) (reflect.Type, error) {
			ft, ok := fields[k.Value]
			if !ok {
				names := make([]string, 0, len(fields))
				for f := range fields {
					names = append(names, f)
				}
				sort.Strings(names)
				return nil, &Error{Line: k.Line, Field: join(path, k.Value), Msg: "unknown field (known: " + strings.Join(names, ", ") + ")"}
			}
			return ft, nil
		}, func(k *yaml.Node) string { return join(path, k.Value) })
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return want("a mapping")
		}
		return c.mapping(n, path, func(*yaml.Node) (reflect.Type, error) { return t.Elem(), nil },
			func(k *yaml.Node) string { return path + "[" + k.Value + "]" })
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return want("a list")
		}
		for i, e := range n.Content {
			if err := c.walk(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return want(kindName(t))
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		return want(kindName(t))
	}
	return nil
}

// mapping walks a mapping's values (merge keys "<<" are walked as the same type).
func (c *checker) mapping(n *yaml.Node, path string, typeOf func(k *yaml.Node) (reflect.Type, error), name func(k *yaml.Node) string) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			continue // merged mappings are checked where they are defined
		}
		if k.Kind != yaml.ScalarNode {
			return &Error{Line: k.Line, Field: path, Msg: "keys must be strings, got " + describe(k)}
		}
		ft, err := typeOf(k)
		if err != nil {
			return err
		}
		if err := c.walk(v, ft, name(k)); err != nil {
			return err
		}
	}
	return nil
}

// structFields collects the yaml field names of struct t (flattening ",inline").
func structFields(t reflect.Type, out map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structFields(ft, out)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
}

// kindName says what a scalar of Go type t is, in YAML terms.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	}
	return "a scalar"
}
