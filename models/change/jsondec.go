package change

import (
	"encoding/json"
	"unicode/utf8"
)

// decodeValidJSON decodes js, which json.Valid accepts, as encoding/json's Decoder with
// UseNumber decodes it (schema.DecodeJSON): objects map[string]any (a repeated member:
// the last), arrays []any (empty: non-nil), numbers json.Number of their text, strings
// unquoted. A string with an escape or with bytes that are not valid UTF-8 is unquoted
// by encoding/json itself; the others are their bytes. TestDecodeValidJSON compares it
// with schema.DecodeJSON.
func decodeValidJSON(js []byte) (any, bool) {
	d := validDecoder{b: js}
	v, ok := d.value()
	return v, ok
}

type validDecoder struct {
	b []byte
	i int
}

func (d *validDecoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *validDecoder) value() (any, bool) {
	d.space()
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		d.i++
		m := map[string]any{}
		d.space()
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			return m, true
		}
		for {
			d.space()
			k, ok := d.str()
			if !ok {
				return nil, false
			}
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return nil, false
			}
			d.i++
			v, ok := d.value()
			if !ok {
				return nil, false
			}
			m[k] = v
			d.space()
			if d.i >= len(d.b) {
				return nil, false
			}
			d.i++
			switch d.b[d.i-1] {
			case ',':
			case '}':
				return m, true
			default:
				return nil, false
			}
		}
	case c == '[':
		d.i++
		l := make([]any, 0)
		d.space()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return l, true
		}
		for {
			v, ok := d.value()
			if !ok {
				return nil, false
			}
			l = append(l, v)
			d.space()
			if d.i >= len(d.b) {
				return nil, false
			}
			d.i++
			switch d.b[d.i-1] {
			case ',':
			case ']':
				return l, true
			default:
				return nil, false
			}
		}
	case c == '"':
		return d.str()
	case c == 't':
		d.i += len("true")
		return true, d.i <= len(d.b)
	case c == 'f':
		d.i += len("false")
		return false, d.i <= len(d.b)
	case c == 'n':
		d.i += len("null")
		return nil, d.i <= len(d.b)
	case c == '-' || c >= '0' && c <= '9':
		s := d.i
	number:
		for ; d.i < len(d.b); d.i++ {
			switch c := d.b[d.i]; {
			case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			default:
				break number
			}
		}
		return json.Number(d.b[s:d.i]), true
	}
	return nil, false
}

// str reads a string at d.i.
func (d *validDecoder) str() (string, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return "", false
	}
	s := d.i
	plain := true
	for d.i++; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '\\':
			plain = false
			d.i++ // the escaped byte cannot end the string
		case c == '"':
			d.i++
			lit := d.b[s:d.i]
			if plain && utf8.Valid(lit) {
				return string(lit[1 : len(lit)-1]), true
			}
			var out string
			if json.Unmarshal(lit, &out) != nil {
				return "", false
			}
			return out, true
		}
	}
	return "", false
}
