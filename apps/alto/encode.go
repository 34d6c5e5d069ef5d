package alto

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// Hand-rolled JSON appenders for the large responses (cost maps of a million pairs):
// encoding/json over nested maps is several times slower and allocates per entry.

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf && c != '<' && c != '>' && c != '&' {
			b = append(b, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

const hexDigit = "0123456789abcdef"

// appendNumber appends v as a JSON number (null for NaN or ±Inf).
func appendNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.AppendInt(b, int64(v), 10)
	}
	// fast path for values with at most 6 decimals (routing costs are rounded to the
	// microsecond): integer formatting instead of the shortest-float search
	if math.Abs(v) < 1e9 {
		if n := math.Round(v * 1e6); n/1e6 == v {
			i := int64(n)
			if i < 0 {
				b = append(b, '-')
				i = -i
			}
			b = strconv.AppendInt(b, i/1e6, 10)
			frac := i % 1e6
			var d [7]byte
			d[0] = '.'
			for k := 6; k >= 1; k-- {
				d[k] = byte('0' + frac%10)
				frac /= 10
			}
			end := 7
			for end > 1 && d[end-1] == '0' {
				end--
			}
			return append(b, d[:end]...)
		}
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}
