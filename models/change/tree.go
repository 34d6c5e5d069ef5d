package change

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Tree is a device's configuration as a generic JSON tree (OpenConfig RFC 7951 JSON
// without module prefixes): objects are map[string]any, keyed lists are []any of
// objects carrying their key leaves, leaves are string, float64, bool or nil.
type Tree = map[string]any

// listKeyCandidates are the leaf names that identify an entry of an OpenConfig list in
// the subset TwinFlow manages, used to merge lists inside update values.
var listKeyCandidates = []string{"name", "index", "id", "identifier", "prefix", "ip", "address"}

// ParseTree decodes a JSON object into a Tree.
func ParseTree(b []byte) (Tree, error) {
	if len(b) == 0 {
		return Tree{}, nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("change: config tree: %w", err)
	}
	if v == nil {
		return Tree{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("change: config tree: not a JSON object")
	}
	return stripPrefixes(m).(map[string]any), nil
}

// stripPrefixes drops "module:" prefixes from object member names. It works in place
// (v is a value just decoded, which nothing else holds): only an object with a
// prefixed member name is rebuilt, as a new map built the same way as before.
func stripPrefixes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		prefixed := false
		for k, e := range x {
			if c := strings.LastIndexByte(k, ':'); c > 0 && c < len(k)-1 {
				prefixed = true
			}
			x[k] = stripPrefixes(e) // replacing an existing member's value
		}
		if !prefixed {
			return x
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			if c := strings.LastIndexByte(k, ':'); c > 0 && c < len(k)-1 {
				k = k[c+1:]
			}
			out[k] = e
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = stripPrefixes(e)
		}
		return x
	}
	return v
}

// Clone deep-copies a JSON value.
func Clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Clone(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Clone(e)
		}
		return out
	}
	return v
}

// scalarString renders a leaf for key comparison.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	}
	return "", false
}

func matchesKeys(entry any, keys map[string]string) bool {
	m, ok := entry.(map[string]any)
	if !ok {
		return false
	}
	for k, want := range keys {
		got, ok := scalarString(m[k])
		if !ok || (got != want && !qualifiedIdentity(got, want)) {
			return false
		}
	}
	return true
}

// qualifiedIdentity says whether got is the identity want qualified with its module,
// as a device reports an identityref key (JSON_IETF: "openconfig-policy-types:STATIC"
// for the path key STATIC). want has no ':' and the module is a YANG identifier, so an
// IPv6 address (at least two colons) never matches.
func qualifiedIdentity(got, want string) bool {
	mod, id, ok := strings.Cut(got, ":")
	if !ok || id != want || want == "" || strings.Contains(want, ":") || mod == "" {
		return false
	}
	for i, r := range mod {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r == '_':
		case i > 0 && (r >= '0' && r <= '9' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// Lookup returns the value at p in t.
func Lookup(t Tree, p Path) (any, bool) {
	var cur any = t
	for _, el := range p {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		next, ok := m[el.Name]
		if !ok {
			return nil, false
		}
		if len(el.Key) > 0 {
			list, ok := next.([]any)
			if !ok {
				return nil, false
			}
			found := false
			for _, e := range list {
				if matchesKeys(e, el.Key) {
					next, found = e, true
					break
				}
			}
			if !found {
				return nil, false
			}
		}
		cur = next
	}
	return cur, true
}

// ApplyOp applies one operation to t in place. Update merges objects recursively
// (list entries matched by their key leaves), replace substitutes the subtree (keeping
// a list entry's key leaves), delete removes the node (deleting an absent node is a
// no-op, as in gNMI).
func ApplyOp(t Tree, op Op) error {
	switch op.Op {
	case OpUpdate, OpReplace, OpDelete:
	default:
		return fmt.Errorf("change: unknown operation %q (one of update, replace, delete)", op.Op)
	}
	p, err := ParsePath(op.Path)
	if err != nil {
		return err
	}
	var val any
	if op.Op != OpDelete {
		if err := json.Unmarshal(op.Value, &val); err != nil {
			return fmt.Errorf("change: %s %s: value: %w", op.Op, op.Path, err)
		}
		val = stripPrefixes(val)
	}
	return applyValue(t, op, p, val)
}

// applyValue is ApplyOp once op's path is parsed (p) and its value decoded (val, nil
// for a delete; the value is moved into t).
func applyValue(t Tree, op Op, p Path, val any) error {
	if len(p) == 0 {
		switch op.Op {
		case OpDelete:
			clear(t)
			return nil
		case OpReplace, OpUpdate:
			m, ok := val.(map[string]any)
			if !ok {
				return fmt.Errorf("change: %s /: value must be an object", op.Op)
			}
			if op.Op == OpReplace {
				clear(t)
			}
			mergeInto(t, m)
			return nil
		}
	}
	return applyAt(t, p, op.Op, val, op.Path)
}

// ApplyOps applies ops in order to t in place.
func ApplyOps(t Tree, ops []Op) error {
	for i, op := range ops {
		if err := ApplyOp(t, op); err != nil {
			return fmt.Errorf("op %d: %w", i, err)
		}
	}
	return nil
}

func applyAt(parent map[string]any, p Path, kind OpKind, val any, raw string) error {
	el := p[0]
	last := len(p) == 1
	if len(el.Key) == 0 {
		if last {
			switch kind {
			case OpDelete:
				delete(parent, el.Name)
			case OpReplace:
				parent[el.Name] = val
			case OpUpdate:
				parent[el.Name] = merge(parent[el.Name], val)
			}
			return nil
		}
		child, ok := parent[el.Name]
		if !ok || child == nil {
			if kind == OpDelete {
				return nil
			}
			child = map[string]any{}
			parent[el.Name] = child
		}
		m, ok := child.(map[string]any)
		if !ok {
			return fmt.Errorf("change: %s %s: %q is not a container", kind, raw, el.Name)
		}
		return applyAt(m, p[1:], kind, val, raw)
	}
	// keyed list entry
	var list []any
	if existing, ok := parent[el.Name]; ok && existing != nil {
		l, ok := existing.([]any)
		if !ok {
			return fmt.Errorf("change: %s %s: %q is not a list", kind, raw, el.Name)
		}
		list = l
	}
	idx := -1
	for i, e := range list {
		if matchesKeys(e, el.Key) {
			idx = i
			break
		}
	}
	if idx < 0 {
		if kind == OpDelete {
			return nil
		}
		entry := map[string]any{}
		for k, v := range el.Key {
			entry[k] = v
		}
		list = append(list, entry)
		idx = len(list) - 1
		parent[el.Name] = list
	}
	entry, ok := list[idx].(map[string]any)
	if !ok {
		return fmt.Errorf("change: %s %s: entry of %q is not an object", kind, raw, el.Name)
	}
	if last {
		switch kind {
		case OpDelete:
			parent[el.Name] = append(list[:idx:idx], list[idx+1:]...)
			if len(parent[el.Name].([]any)) == 0 {
				delete(parent, el.Name)
			}
			return nil
		case OpReplace, OpUpdate:
			m, ok := val.(map[string]any)
			if !ok {
				return fmt.Errorf("change: %s %s: value of a list entry must be an object", kind, raw)
			}
			if kind == OpReplace {
				entry = map[string]any{}
				list[idx] = entry
			}
			mergeInto(entry, m)
			for k, v := range el.Key {
				if cur, ok := scalarString(entry[k]); !ok || cur != v {
					entry[k] = v
				}
			}
			return nil
		}
	}
	return applyAt(entry, p[1:], kind, val, raw)
}

// merge returns old updated with new (objects merged, keyed lists merged by entry).
// nv is an operation's value, decoded for this operation alone (ApplyOp): its parts
// are moved into the tree, not copied (a decoded value shares no part with another,
// and each part is placed once).
func merge(old, nv any) any {
	om, ok1 := old.(map[string]any)
	nm, ok2 := nv.(map[string]any)
	if ok1 && ok2 {
		mergeInto(om, nm)
		return om
	}
	ol, ok1 := old.([]any)
	nl, ok2 := nv.([]any)
	if ok1 && ok2 {
		out := ol
		for _, ne := range nl {
			placed := false
			for i, oe := range out {
				if sameEntry(oe, ne) {
					out[i] = merge(oe, ne)
					placed = true
					break
				}
			}
			if !placed {
				out = append(out, ne)
			}
		}
		return out
	}
	return nv
}

// mergeInto merges src (an operation's own decoded value, see merge) into dst.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		if cur, ok := dst[k]; ok {
			dst[k] = merge(cur, v)
		} else {
			dst[k] = v
		}
	}
}

// sameEntry reports whether two list entries have equal key leaves (the candidate
// key leaves present in b all equal a's, and at least one is present).
func sameEntry(a, b any) bool {
	am, ok1 := a.(map[string]any)
	bm, ok2 := b.(map[string]any)
	if !ok1 || !ok2 {
		return false
	}
	n := 0
	for _, k := range listKeyCandidates {
		bv, ok := bm[k]
		if !ok {
			continue
		}
		bs, ok := scalarString(bv)
		if !ok {
			return false
		}
		as, ok := scalarString(am[k])
		if !ok || as != bs {
			return false
		}
		n++
	}
	return n > 0
}

// Contains reports whether got holds everything in want: objects member by member,
// list entries each matched by some entry of got, leaves equal (numbers and their
// decimal string forms compare equal, as RFC 7951 encodes 64-bit integers as strings).
func Contains(got, want any) bool {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok || !Contains(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok {
			return false
		}
		for _, we := range w {
			found := false
			for _, ge := range g {
				if Contains(ge, we) {
					found = true
					break
				}
			}
			if !found {
				return false
			}
		}
		return true
	case nil:
		return got == nil
	}
	ws, ok1 := scalarString(want)
	gs, ok2 := scalarString(got)
	if !ok1 || !ok2 {
		return false
	}
	if ws == gs {
		return true
	}
	wf, err1 := strconv.ParseFloat(ws, 64)
	gf, err2 := strconv.ParseFloat(gs, 64)
	return err1 == nil && err2 == nil && wf == gf
}

// Equal reports whether two JSON values are equal in the sense of Contains both ways.
func Equal(a, b any) bool { return Contains(a, b) && Contains(b, a) }

// DiffLine is one line of a human-readable configuration diff.
type DiffLine struct {
	// Sign is "-" (removed), "+" (added) or "~" (changed).
	Sign   string `json:"sign"`
	Path   string `json:"path"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
}

func (d DiffLine) String() string {
	switch d.Sign {
	case "-":
		return "- " + d.Path + " = " + d.Before
	case "+":
		return "+ " + d.Path + " = " + d.After
	}
	return "~ " + d.Path + ": " + d.Before + " -> " + d.After
}

// DiffTrees lists the leaves that differ between before and after, sorted by path.
func DiffTrees(before, after Tree) []DiffLine {
	bl, al := map[string]string{}, map[string]string{}
	flatten(Path{}, before, bl)
	flatten(Path{}, after, al)
	var out []DiffLine
	for p, bv := range bl {
		av, ok := al[p]
		switch {
		case !ok:
			out = append(out, DiffLine{Sign: "-", Path: p, Before: bv})
		case av != bv:
			out = append(out, DiffLine{Sign: "~", Path: p, Before: bv, After: av})
		}
	}
	for p, av := range al {
		if _, ok := bl[p]; !ok {
			out = append(out, DiffLine{Sign: "+", Path: p, After: av})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// flatten records every leaf of v under prefix as canonical path -> JSON text. List
// entries are addressed by their candidate key leaves, or by position when they have
// none.
func flatten(prefix Path, v any, out map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if l, ok := e.([]any); ok && isEntryList(l) {
				for i, entry := range l {
					keys := entryKeys(entry.(map[string]any))
					if len(keys) == 0 {
						keys = map[string]string{"#": strconv.Itoa(i)}
					}
					flatten(append(prefix[:len(prefix):len(prefix)], PathElem{Name: k, Key: keys}), entry, out)
				}
				continue
			}
			flatten(append(prefix[:len(prefix):len(prefix)], PathElem{Name: k}), e, out)
		}
	default:
		b, _ := json.Marshal(x)
		out[prefix.String()] = string(b)
	}
}

func isEntryList(l []any) bool {
	if len(l) == 0 {
		return false
	}
	for _, e := range l {
		if _, ok := e.(map[string]any); !ok {
			return false
		}
	}
	return true
}

func entryKeys(m map[string]any) map[string]string {
	keys := map[string]string{}
	for _, k := range listKeyCandidates {
		if v, ok := m[k]; ok {
			if s, ok := scalarString(v); ok {
				keys[k] = s
			}
		}
	}
	return keys
}
