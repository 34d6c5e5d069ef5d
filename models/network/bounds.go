package network

import (
	"fmt"
	"math"
	"unicode"
	"unicode/utf8"
)

// Numeric bounds of network documents, flows, traffic demands and SLOs (seed 004 §11,
// docs/security.md "Input bounds and sanitisation"). The bottleneck models add, subtract
// and divide these values; within the bounds every sum over a network of any size a
// request can carry (a 64 MiB document holds fewer than 10^7 elements) stays below
// 10^13 Gb/s, far from overflow, and no quotient divides by less than MinRateGbps.
const (
	// MinRateGbps is the smallest positive capacity, demand or reserved rate: 1 kb/s.
	MinRateGbps = 1e-6
	// MaxRateGbps is the largest capacity, demand or reserved rate: 1 Pb/s.
	MaxRateGbps = 1e6
	// MaxLatencyMs is the largest link latency and latency objective: 1000 s.
	MaxLatencyMs = 1e6
	// MaxCoordinate bounds a device's x and y (km on the plane, or degrees).
	MaxCoordinate = 1e9
	// MaxTextLength bounds names, labels (keys and values) and other free text.
	MaxTextLength = 1024
)

// CheckRate returns "" if v is a rate the models accept (finite, from MinRateGbps to
// MaxRateGbps), otherwise what is wrong with it.
func CheckRate(v float64) string {
	switch {
	case !(v > 0) || math.IsInf(v, 0):
		return fmt.Sprintf("must be a finite number > 0, got %v", v)
	case v < MinRateGbps || v > MaxRateGbps:
		return fmt.Sprintf("must be from %v to %v Gb/s, got %v", MinRateGbps, MaxRateGbps, v)
	}
	return ""
}

// CheckLatency returns "" if v is a latency the models accept (finite, from 0 to
// MaxLatencyMs), otherwise what is wrong with it.
func CheckLatency(v float64) string {
	switch {
	case !(v >= 0) || math.IsInf(v, 0):
		return fmt.Sprintf("must be a finite number >= 0, got %v", v)
	case v > MaxLatencyMs:
		return fmt.Sprintf("must be at most %v ms, got %v", MaxLatencyMs, v)
	}
	return ""
}

// CheckText returns "" if s is acceptable free text (a name, label, owner, class): at
// most max bytes of valid UTF-8 without control characters (NUL included), otherwise
// what is wrong with it.
func CheckText(s string, max int) string {
	if len(s) > max {
		return fmt.Sprintf("longer than %d bytes", max)
	}
	if !utf8.ValidString(s) {
		return "not valid UTF-8"
	}
	for i, c := range s {
		if unicode.IsControl(c) {
			return fmt.Sprintf("control character %U at offset %d", c, i)
		}
	}
	return ""
}

// SanitizeText makes s safe to store and show: invalid UTF-8 and control characters
// (NUL included) become U+FFFD (line breaks and tabs a space), and the result is cut to at most max bytes on a rune
// boundary. Text from devices (error messages, reasons) goes through it before it is
// stored.
func SanitizeText(s string, max int) string {
	clean := true
	if len(s) > max || !utf8.ValidString(s) {
		clean = false
	} else {
		for _, c := range s {
			if unicode.IsControl(c) {
				clean = false
				break
			}
		}
	}
	if clean {
		return s
	}
	b := make([]rune, 0, len(s))
	n := 0
	for _, c := range s {
		switch {
		case c == '\n' || c == '\r' || c == '\t':
			c = ' '
		case c == utf8.RuneError || unicode.IsControl(c):
			c = utf8.RuneError
		}
		w := utf8.RuneLen(c)
		if n+w > max {
			break
		}
		b = append(b, c)
		n += w
	}
	return string(b)
}
