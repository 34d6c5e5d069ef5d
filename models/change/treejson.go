package change

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
)

// MarshalTree returns json.Marshal(t), byte for byte, without reflection: objects
// with their members in sorted order, strings and numbers encoded as encoding/json
// encodes them. The common cases are written directly (strings of printable ASCII
// that encoding/json leaves unescaped, float64 in the range it writes without an
// exponent, booleans, null, objects and arrays); any other value is encoded by
// encoding/json itself, and an error (a NaN, say) is encoding/json's error for the
// whole tree. TestMarshalTreeAsEncodingJSON compares the two.
func MarshalTree(t Tree) ([]byte, error) {
	b, ok := appendTreeJSON(make([]byte, 0, 512), t)
	if !ok {
		return json.Marshal(t)
	}
	return b, nil
}

func appendTreeJSON(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendJSONString(b, x)
	case bool:
		return strconv.AppendBool(b, x), true
	case float64:
		// encoding/json writes 'f' format for 0 and for 1e-6 <= |x| < 1e21
		if a := math.Abs(x); a != 0 && (a < 1e-6 || a >= 1e21) || math.IsNaN(x) {
			return fallbackJSON(b, v)
		}
		return strconv.AppendFloat(b, x, 'f', -1, 64), true
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, strings.Compare)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendJSONString(b, k); !ok {
				return b, false
			}
			b = append(b, ':')
			if b, ok = appendTreeJSON(b, x[k]); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendTreeJSON(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return fallbackJSON(b, v)
}

// appendJSONString writes s quoted when encoding/json would write it unchanged:
// printable ASCII other than '"', '\\' and the HTML characters '<', '>', '&' it
// escapes; other strings are left to encoding/json.
func appendJSONString(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return fallbackJSON(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// fallbackJSON appends encoding/json's encoding of v (the same bytes it writes for v
// inside a larger value); false if it cannot encode v.
func fallbackJSON(b []byte, v any) ([]byte, bool) {
	j, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(b, j...), true
}
