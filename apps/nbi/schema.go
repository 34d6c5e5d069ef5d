package nbi

import (
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// schemaSet builds OpenAPI schemas for Go types by reflection: named struct types
// become components referenced with $ref.
type schemaSet struct {
	defs  map[string]any
	names map[reflect.Type]string
	types map[string]reflect.Type
}

func newSchemaSet() *schemaSet {
	return &schemaSet{defs: map[string]any{}, names: map[reflect.Type]string{}, types: map[string]reflect.Type{}}
}

// nameOf names t's component, qualifying it with its package when another type already
// has the name (network.Device becomes "NetworkDevice" next to twin.Device).
func (s *schemaSet) nameOf(t reflect.Type) string {
	if n, ok := s.names[t]; ok {
		return n
	}
	n := schemaName(t)
	if other, taken := s.types[n]; taken && other != t {
		pkg := t.PkgPath()
		if i := strings.LastIndexByte(pkg, '/'); i >= 0 {
			pkg = pkg[i+1:]
		}
		if pkg != "" {
			n = strings.ToUpper(pkg[:1]) + pkg[1:] + n
		}
	}
	s.names[t], s.types[n] = n, t
	return n
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	timeType       = reflect.TypeFor[time.Time]()
)

// schemaName names a type's component: "Device" for twin.Device, "DeviceList" for
// List[twin.Device].
func schemaName(t reflect.Type) string {
	name := t.Name()
	if i := strings.IndexByte(name, '['); i >= 0 {
		inner := strings.TrimSuffix(name[i+1:], "]")
		if j := strings.LastIndexAny(inner, "./"); j >= 0 {
			inner = inner[j+1:]
		}
		return inner + name[:i]
	}
	return name
}

// ref returns a schema for t, registering named structs as components.
func (s *schemaSet) ref(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == rawMessageType:
		return map[string]any{"description": "any JSON value"}
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.Name() == "" {
			return s.object(t)
		}
		name := s.nameOf(t)
		if _, ok := s.defs[name]; !ok {
			s.defs[name] = map[string]any{} // placeholder against recursion
			s.defs[name] = s.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": s.ref(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": s.ref(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

func (s *schemaSet) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	s.fields(t, props)
	return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
}

func (s *schemaSet) fields(t reflect.Type, props map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				s.fields(ft, props)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = s.ref(f.Type)
	}
}
