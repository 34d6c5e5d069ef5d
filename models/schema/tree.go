package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/twinflow/twinflow/models/ocpath"
)

// Entry is one leaf in a data tree: its concrete path, schema node and value.
type Entry struct {
	Path  ocpath.Path
	Node  *Node
	Value Value
}

// Tree is a configuration data tree: config leaves indexed by canonical path. A Tree is
// not safe for concurrent mutation; the server mutates a Clone and swaps it in.
type Tree struct {
	root   *Node
	leaves map[string]Entry
	check  bool // NewChecker: nothing is stored
	// keysOK holds the list key values a checker has parsed without error (ParseValue
	// depends on the key leaf and the text alone): every leaf below an entry checks
	// the entry's keys again.
	keysOK map[keyValue]struct{}
}

type keyValue struct {
	n *Node
	v string
}

// NewTree returns an empty tree over the schema root.
func NewTree(root *Node) *Tree { return &Tree{root: root, leaves: map[string]Entry{}} }

// NewChecker returns a tree that only checks: Update, Replace, Delete, SetLeaf and
// UpdateScalar refuse exactly what they refuse on a NewTree (no check depends on the
// leaves already stored), but nothing is stored, so it stays empty. For L0 validation
// of a change's operations, which keeps no tree.
func NewChecker(root *Node) *Tree { return &Tree{root: root, leaves: map[string]Entry{}, check: true} }

// Schema returns the tree's schema root.
func (t *Tree) Schema() *Node { return t.root }

// Clone returns a copy of t that can be changed independently (entries are immutable).
func (t *Tree) Clone() *Tree {
	c := &Tree{root: t.root, leaves: make(map[string]Entry, len(t.leaves)), check: t.check}
	for k, v := range t.leaves {
		c.leaves[k] = v
	}
	return c
}

// Len returns the number of leaves.
func (t *Tree) Len() int { return len(t.leaves) }

// Leaves returns every leaf in canonical path order.
func (t *Tree) Leaves() []Entry {
	keys := make([]string, 0, len(t.leaves))
	for k := range t.leaves {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Entry, len(keys))
	for i, k := range keys {
		out[i] = t.leaves[k]
	}
	return out
}

// KeyedLeaves returns every leaf in canonical path order with its canonical path
// string (keys[i] is leaves[i].Path.String()).
func (t *Tree) KeyedLeaves() (keys []string, leaves []Entry) {
	keys = make([]string, 0, len(t.leaves))
	for k := range t.leaves {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	leaves = make([]Entry, len(keys))
	for i, k := range keys {
		leaves[i] = t.leaves[k]
	}
	return keys, leaves
}

// Lookup returns the value of the leaf at the canonical path s.
func (t *Tree) Lookup(s string) (Value, bool) {
	e, ok := t.leaves[s]
	return e.Value, ok
}

// Match returns the leaves at or below the query path q (which may hold wildcards),
// in canonical order.
func (t *Tree) Match(q ocpath.Path) []Entry {
	var out []Entry
	for _, e := range t.Leaves() {
		if q.Matches(e.Path) {
			out = append(out, e)
		}
	}
	return out
}

// SetLeaf sets one config leaf by concrete path, creating list entries on the way.
func (t *Tree) SetLeaf(p ocpath.Path, v Value) error {
	n, err := Resolve(t.root, p, false)
	if err != nil {
		return err
	}
	if n.Kind != Leaf {
		return fmt.Errorf("%w: %s is not a leaf", ErrInvalid, p)
	}
	if !n.Config {
		return fmt.Errorf("%w: %s", ErrReadOnly, p)
	}
	return t.setLeaf(p, n, v)
}

func (t *Tree) setLeaf(p ocpath.Path, n *Node, v Value) error {
	ps, err := t.ensureKeys(p)
	if err != nil {
		return err
	}
	// A list key leaf (interface/name or interface/config/name) must equal the key.
	if kv, ok := keyFor(p, n); ok && kv != v.String() {
		return fmt.Errorf("%w: %s: value %q differs from list key %q", ErrInvalid, p, v.String(), kv)
	}
	if n.Parent != nil && n.Parent.Kind == List {
		return nil // key leaf at entry level: represented by the key itself
	}
	if !t.check {
		t.leaves[ps] = Entry{Path: p.Clone(), Node: n, Value: v}
	}
	return nil
}

// keyFor returns the list key value a leaf must equal, if the leaf is a key leaf
// (either directly under the list entry or under the entry's config container).
func keyFor(p ocpath.Path, n *Node) (string, bool) {
	if len(p) < 2 {
		return "", false
	}
	par := n.Parent
	idx := len(p) - 2
	if par != nil && par.Kind == Container && par.Name == "config" {
		par = par.Parent
		idx--
	}
	if par == nil || par.Kind != List || idx < 0 || !isKey(par, n.Name) {
		return "", false
	}
	v, ok := p[idx].Key[n.Name]
	return v, ok
}

// ensureKeys creates the config/<key> leaves of every list entry along p, and refuses a
// path that passes through a list without naming the entry. It returns p's canonical
// string (p.String()), built on the way: each entry's prefix is a prefix of it ("" for
// a checker, which only checks the keys).
func (t *Tree) ensureKeys(p ocpath.Path) (string, error) {
	if len(p) == 0 {
		return p.String(), nil
	}
	n := t.root
	var b strings.Builder
	for i, e := range p {
		if !t.check {
			b.WriteByte('/')
			e.WriteCanonical(&b)
		}
		n = n.Children[e.Name]
		if n == nil {
			return "", fmt.Errorf("%w: %s", ErrUnknown, p)
		}
		if n.Kind == List && len(e.Key) == 0 && i < len(p)-1 {
			// a leaf below a list entry needs the entry's keys: stored without them it
			// could never be encoded or read back (found by FuzzSetValue)
			return "", fmt.Errorf("%w: %s: list %q needs keys %v", ErrInvalid, p, e.Name, n.Keys)
		}
		if n.Kind != List || len(e.Key) == 0 {
			continue
		}
		cfg := n.Children["config"]
		if cfg == nil {
			continue
		}
		for _, k := range n.Keys {
			kl := cfg.Children[k]
			if kl == nil {
				continue
			}
			// The canonical string of p[:i+1]/config/k, built without the path (b holds
			// p[:i+1]'s; a Builder never changes what it has written).
			if t.check {
				kv := keyValue{kl, e.Key[k]}
				if _, ok := t.keysOK[kv]; ok {
					continue
				}
				if _, err := ParseValue(kl, kv.v); err != nil {
					return "", fmt.Errorf("%w: %s: key %s: %v", ErrInvalid, p, k, err)
				}
				if t.keysOK == nil {
					t.keysOK = map[keyValue]struct{}{}
				}
				t.keysOK[kv] = struct{}{}
				continue
			}
			s := b.String() + "/config/" + k
			if _, ok := t.leaves[s]; ok {
				continue
			}
			kp := append(p[:i+1:i+1].Clone(), ocpath.Elem{Name: "config"}, ocpath.Elem{Name: k})
			v, err := ParseValue(kl, e.Key[k])
			if err != nil {
				return "", fmt.Errorf("%w: %s: key %s: %v", ErrInvalid, p, k, err)
			}
			t.leaves[s] = Entry{Path: kp, Node: kl, Value: v}
		}
	}
	return b.String(), nil
}

// Delete removes every config leaf at or below the concrete path p. Deleting what does
// not exist is not an error (gNMI semantics). Deleting a list key leaf is refused.
func (t *Tree) Delete(p ocpath.Path) error {
	n, err := Resolve(t.root, p, false)
	if err != nil {
		return err
	}
	if n.Kind == Leaf {
		if !n.Config {
			return fmt.Errorf("%w: %s", ErrReadOnly, p)
		}
		if _, ok := keyFor(p, n); ok {
			return fmt.Errorf("%w: %s is a list key; delete the list entry instead", ErrInvalid, p)
		}
	}
	if n.Kind == Container && !n.Config {
		return fmt.Errorf("%w: %s", ErrReadOnly, p)
	}
	for k, e := range t.leaves {
		if p.Matches(e.Path) {
			delete(t.leaves, k)
		}
	}
	return nil
}

// Update merges the JSON (JSON or JSON_IETF) value js into the tree at concrete path p.
func (t *Tree) Update(p ocpath.Path, js []byte) error {
	n, err := Resolve(t.root, p, false)
	if err != nil {
		return err
	}
	v, err := decodeJSON(js)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, p, err)
	}
	return t.updateNode(p, n, v)
}

// UpdateValue is Update with the JSON value already decoded as DecodeJSON decodes it
// (for a caller that also needs the decoded value: one decoding instead of two). v is
// only read.
func (t *Tree) UpdateValue(p ocpath.Path, v any) error {
	n, err := Resolve(t.root, p, false)
	if err != nil {
		return err
	}
	return t.updateNode(p, n, v)
}

func (t *Tree) updateNode(p ocpath.Path, n *Node, v any) error {
	entry := n.Kind == List && len(p) > 0 && len(p[len(p)-1].Key) > 0
	return t.decode(withRoom(p), n, entry, v)
}

// withRoom copies p into a slice with room to append the elements below it (decode).
func withRoom(p ocpath.Path) ocpath.Path {
	q := make(ocpath.Path, len(p), len(p)+8)
	copy(q, p)
	return q
}

// Replace removes everything at p, then merges js there.
func (t *Tree) Replace(p ocpath.Path, js []byte) error {
	n, err := Resolve(t.root, p, false)
	if err != nil {
		return err
	}
	if n.Kind == Leaf {
		return t.Update(p, js)
	}
	if err := t.Delete(p); err != nil {
		return err
	}
	return t.Update(p, js)
}

// ReplaceValue is Replace with the JSON value already decoded (see UpdateValue).
func (t *Tree) ReplaceValue(p ocpath.Path, v any) error {
	n, err := Resolve(t.root, p, false)
	if err != nil {
		return err
	}
	if n.Kind != Leaf {
		if err := t.Delete(p); err != nil {
			return err
		}
	}
	return t.updateNode(p, n, v)
}

// UpdateScalar sets a leaf from a gNMI scalar (string/uint/int/bool) value.
func (t *Tree) UpdateScalar(p ocpath.Path, v any) error {
	n, err := Resolve(t.root, p, false)
	if err != nil {
		return err
	}
	if n.Kind != Leaf {
		return fmt.Errorf("%w: %s: a scalar value can only set a leaf", ErrInvalid, p)
	}
	if !n.Config {
		return fmt.Errorf("%w: %s", ErrReadOnly, p)
	}
	var val Value
	switch x := v.(type) {
	case string:
		val, err = ParseValue(n, x)
	case uint64:
		val, err = leafFromJSON(n, json.Number(strconv.FormatUint(x, 10)))
	case int64:
		val, err = leafFromJSON(n, json.Number(strconv.FormatInt(x, 10)))
	case bool:
		val, err = leafFromJSON(n, x)
	default:
		err = fmt.Errorf("unsupported scalar %T", v)
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, p, err)
	}
	return t.setLeaf(p, n, val)
}

// DecodeJSON decodes one JSON value as Update does: objects map[string]any, arrays
// []any, numbers json.Number; data after the value is refused.
func DecodeJSON(js []byte) (any, error) { return decodeJSON(js) }

func decodeJSON(js []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

// decode merges the decoded JSON value v at p (schema node n; entry: p ends in a list
// entry). A child's path is p with one element appended in place when p has room:
// siblings reuse the slot after p, and nothing keeps a path it is given (a stored leaf
// keeps a copy, an error its text), so p[:len(p)] never changes under a caller.
func (t *Tree) decode(p ocpath.Path, n *Node, entry bool, v any) error {
	switch n.Kind {
	case Leaf:
		if !n.Config {
			return fmt.Errorf("%w: %s", ErrReadOnly, p)
		}
		val, err := leafFromJSON(n, v)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, p, err)
		}
		return t.setLeaf(p, n, val)
	case Container:
		if !n.Config {
			return fmt.Errorf("%w: %s", ErrReadOnly, p)
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%w: %s: want a JSON object, got %s", ErrInvalid, p, jsonKind(v))
		}
		for _, name := range sortedKeys(obj) {
			c := n.Child(name)
			if c == nil {
				return fmt.Errorf("%w: %s: no element %q", ErrUnknown, p, name)
			}
			if err := t.decode(append(p, ocpath.Elem{Name: c.Name}), c, false, obj[name]); err != nil {
				return err
			}
		}
		return nil
	}
	// List.
	if entry {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%w: %s: want a JSON object for a list entry, got %s", ErrInvalid, p, jsonKind(v))
		}
		if _, err := t.ensureKeys(p); err != nil {
			return err
		}
		for _, name := range sortedKeys(obj) {
			c := n.Child(name)
			if c == nil {
				return fmt.Errorf("%w: %s: no element %q", ErrUnknown, p, name)
			}
			if err := t.decode(append(p, ocpath.Elem{Name: c.Name}), c, false, obj[name]); err != nil {
				return err
			}
		}
		return nil
	}
	arr, ok := v.([]any)
	if !ok {
		return fmt.Errorf("%w: %s: want a JSON array for list %q, got %s", ErrInvalid, p, n.Name, jsonKind(v))
	}
	for i, item := range arr {
		obj, ok := item.(map[string]any)
		if !ok {
			return fmt.Errorf("%w: %s[%d]: want a JSON object, got %s", ErrInvalid, p, i, jsonKind(item))
		}
		keys := map[string]string{}
		for _, k := range n.Keys {
			raw, ok := obj[k]
			if !ok {
				raw, ok = obj[n.Module+":"+k]
			}
			if !ok {
				return fmt.Errorf("%w: %s[%d]: list entry lacks key %q", ErrInvalid, p, i, k)
			}
			kv, err := leafFromJSON(n.Children[k], raw)
			if err != nil {
				return fmt.Errorf("%w: %s[%d]: key %q: %v", ErrInvalid, p, i, k, err)
			}
			keys[k] = kv.String()
		}
		ep := withRoom(p)
		ep[len(ep)-1] = ocpath.Elem{Name: n.Name, Key: keys}
		if err := t.decode(ep, n, true, obj); err != nil {
			return err
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// leafFromJSON converts a decoded JSON scalar to a typed value. Integers are accepted as
// numbers or as decimal strings (RFC 7951 encodes 64-bit integers as strings).
func leafFromJSON(n *Node, v any) (Value, error) {
	switch n.Type {
	case Bool:
		b, ok := v.(bool)
		if !ok {
			return Value{}, fmt.Errorf("want a boolean, got %s", jsonKind(v))
		}
		return BoolV(b), nil
	case Uint8, Uint16, Uint32, Uint64:
		var s string
		switch x := v.(type) {
		case json.Number:
			s = string(x)
		case string:
			s = x
		default:
			return Value{}, fmt.Errorf("want an unsigned integer, got %s", jsonKind(v))
		}
		u, err := strconv.ParseUint(s, 10, bits(n.Type))
		if err != nil {
			return Value{}, fmt.Errorf("%s is not a uint%d", s, bits(n.Type))
		}
		return checkRange(n, u)
	}
	s, ok := v.(string)
	if !ok {
		return Value{}, fmt.Errorf("want a string, got %s", jsonKind(v))
	}
	return parseString(n, s)
}

// AppendJSON appends the JSON encoding of a leaf value. With ietf, 64-bit integers are
// strings and identities are module-qualified (RFC 7951).
func AppendJSON(b []byte, n *Node, v Value, ietf bool) []byte {
	switch v.Kind {
	case VBool:
		return strconv.AppendBool(b, v.B)
	case VUint:
		if ietf && n.Type == Uint64 {
			b = append(b, '"')
			b = strconv.AppendUint(b, v.U, 10)
			return append(b, '"')
		}
		return strconv.AppendUint(b, v.U, 10)
	case VString:
		s := v.S
		if ietf && n.Type == Identity {
			s = n.IdentModule + ":" + s
		}
		return appendJSONString(b, s)
	}
	return append(b, "null"...)
}

// appendJSONString appends s as a JSON string, escaping '"', '\\' and control
// characters (s is valid UTF-8: it came from a JSON decoder or a validated value).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// jnode is a transient tree used to encode a subtree to JSON.
type jnode struct {
	schema   *Node
	keys     map[string]string // list entries
	value    *Value            // leaves
	children []*jnode
	index    map[string]*jnode
}

func (j *jnode) child(name string, s *Node) *jnode {
	if c, ok := j.index[name]; ok {
		return c
	}
	c := &jnode{schema: s}
	if j.index == nil {
		j.index = map[string]*jnode{}
	}
	j.index[name] = c
	j.children = append(j.children, c)
	return c
}

// EncodeJSON encodes the leaves below the concrete path base as one JSON value (an
// object, or a scalar when base is a leaf). Every entry's path must start with base.
func EncodeJSON(root *Node, base ocpath.Path, entries []Entry, ietf bool) ([]byte, error) {
	bn, err := Resolve(root, base, false)
	if err != nil {
		return nil, err
	}
	if bn.Kind == Leaf {
		for _, e := range entries {
			if len(e.Path) == len(base) {
				return AppendJSON(nil, bn, e.Value, ietf), nil
			}
		}
		return nil, fmt.Errorf("%w: %s: no value", ErrUnknown, base)
	}
	top := &jnode{schema: bn}
	if bn.Kind == List && len(base) > 0 {
		top.keys = base[len(base)-1].Key
	}
	for i := range entries {
		e := &entries[i]
		cur := top
		sn := bn
		for _, el := range e.Path[len(base):] {
			sn = sn.Children[el.Name]
			if sn == nil {
				return nil, fmt.Errorf("%w: %s", ErrUnknown, e.Path)
			}
			if sn.Kind == List {
				l := cur.child(el.Name, sn)
				cur = l.child(el.String(), sn)
				cur.keys = el.Key
			} else {
				cur = cur.child(el.Name, sn)
			}
		}
		cur.value = &e.Value
	}
	parentModule := bn.Module
	if len(base) == 0 {
		parentModule = ""
	}
	var b []byte
	b = top.appendObject(b, parentModule, ietf)
	return b, nil
}

func memberName(b []byte, n *Node, parentModule string, ietf bool) []byte {
	b = append(b, '"')
	if ietf && n.Module != parentModule {
		b = append(b, n.Module...)
		b = append(b, ':')
	}
	b = append(b, n.Name...)
	return append(b, '"', ':')
}

func (j *jnode) appendObject(b []byte, module string, ietf bool) []byte {
	b = append(b, '{')
	first := true
	if j.schema.Kind == List && j.keys != nil {
		for _, k := range j.schema.Keys {
			kn := j.schema.Children[k]
			v, err := ParseValue(kn, j.keys[k])
			if err != nil {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = memberName(b, kn, j.schema.Module, ietf)
			b = AppendJSON(b, kn, v, ietf)
		}
	}
	for _, c := range j.children {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = memberName(b, c.schema, module, ietf)
		switch {
		case c.value != nil:
			b = AppendJSON(b, c.schema, *c.value, ietf)
		case c.schema.Kind == List:
			b = append(b, '[')
			for i, e := range c.children {
				if i > 0 {
					b = append(b, ',')
				}
				b = e.appendObject(b, c.schema.Module, ietf)
			}
			b = append(b, ']')
		default:
			b = c.appendObject(b, c.schema.Module, ietf)
		}
	}
	return append(b, '}')
}
