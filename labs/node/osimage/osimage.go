// Package osimage is the format of a twinflow-node software image ("sim image"), the
// package a gNOI OS Install transfers (REQ-AUTO-06). An image is one header line and a
// payload:
//
//	TWINFLOW-SIM-IMAGE/1 version=<version> sha256=<hex of payload>[ inject=<fault>]\n
//	<payload bytes>
//
// The version is what the node reports at /system/state/software-version once the
// image is activated; the checksum covers the payload, so a truncated or altered
// transfer fails its integrity check. The optional inject field makes a sim image
// misbehave on purpose, for tests of the upgrade health checks: "activate-fail" (the
// node refuses to activate it) or "boot-old" (the node "reboots" but comes back on the
// version it ran before, as a device whose new image did not boot).
package osimage

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Magic starts every image.
const Magic = "TWINFLOW-SIM-IMAGE/1"

// Bounds of an image.
const (
	// MaxHeader bounds the header line (newline included).
	MaxHeader = 512
	// MaxVersion bounds a version string.
	MaxVersion = 64
)

// Faults an image may inject.
const (
	InjectNone         = ""
	InjectActivateFail = "activate-fail"
	InjectBootOld      = "boot-old"
)

// Errors of the format.
var (
	// ErrParse is wrapped by a malformed image or version.
	ErrParse = errors.New("osimage: malformed image")
	// ErrIntegrity is wrapped when the payload does not match the header's checksum.
	ErrIntegrity = errors.New("osimage: checksum mismatch")
)

// Header is an image's parsed header.
type Header struct {
	Version string
	SHA256  string // lower-case hex
	Inject  string
}

// CheckVersion reports whether v is a valid version: 1..MaxVersion characters of
// letters, digits and ". _ + -", starting with a letter or digit (it names a file on
// the node, so no separators or dots-only names).
func CheckVersion(v string) error {
	if v == "" || len(v) > MaxVersion {
		return fmt.Errorf("%w: version must be 1..%d characters, got %d", ErrParse, MaxVersion, len(v))
	}
	for i, r := range v {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			i > 0 && (r == '.' || r == '_' || r == '+' || r == '-')
		if !ok {
			return fmt.Errorf("%w: version %q: character %q at %d not allowed (letters, digits, . _ + -; first a letter or digit)", ErrParse, v, r, i)
		}
	}
	return nil
}

// Build returns an image of version with payload, injecting fault (InjectNone for a
// good image).
func Build(version string, payload []byte, inject string) ([]byte, error) {
	if err := CheckVersion(version); err != nil {
		return nil, err
	}
	if err := checkInject(inject); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s version=%s sha256=%s", Magic, version, hex.EncodeToString(sum[:]))
	if inject != "" {
		fmt.Fprintf(&b, " inject=%s", inject)
	}
	b.WriteByte('\n')
	b.Write(payload)
	return b.Bytes(), nil
}

func checkInject(s string) error {
	switch s {
	case InjectNone, InjectActivateFail, InjectBootOld:
		return nil
	}
	return fmt.Errorf("%w: inject %q: want %q or %q", ErrParse, s, InjectActivateFail, InjectBootOld)
}

// ParseHeader parses a header line (without its newline).
func ParseHeader(line string) (Header, error) {
	fields := strings.Split(line, " ")
	if len(fields) < 3 || fields[0] != Magic {
		return Header{}, fmt.Errorf("%w: header must start with %q and carry version= and sha256=", ErrParse, Magic)
	}
	var h Header
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Header{}, fmt.Errorf("%w: header field %q is not key=value", ErrParse, trunc(f))
		}
		if seen[k] {
			return Header{}, fmt.Errorf("%w: header field %q twice", ErrParse, trunc(k))
		}
		seen[k] = true
		switch k {
		case "version":
			if err := CheckVersion(v); err != nil {
				return Header{}, err
			}
			h.Version = v
		case "sha256":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size || strings.ToLower(v) != v {
				return Header{}, fmt.Errorf("%w: sha256 must be 64 lower-case hex digits", ErrParse)
			}
			h.SHA256 = v
		case "inject":
			if err := checkInject(v); err != nil {
				return Header{}, err
			}
			h.Inject = v
		default:
			return Header{}, fmt.Errorf("%w: unknown header field %q", ErrParse, trunc(k))
		}
	}
	if h.Version == "" || h.SHA256 == "" {
		return Header{}, fmt.Errorf("%w: header needs version= and sha256=", ErrParse)
	}
	return h, nil
}

// Read parses an image from r, hashing the payload as it streams (the payload is not
// kept), and returns the header and the payload's size. A checksum mismatch wraps
// ErrIntegrity; anything else malformed wraps ErrParse.
func Read(r io.Reader) (Header, int64, error) {
	br := bufio.NewReaderSize(r, MaxHeader)
	line, err := br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return Header{}, 0, fmt.Errorf("%w: header line longer than %d bytes", ErrParse, MaxHeader)
		}
		if errors.Is(err, io.EOF) {
			return Header{}, 0, fmt.Errorf("%w: no header line", ErrParse)
		}
		return Header{}, 0, err
	}
	h, err := ParseHeader(string(line[:len(line)-1]))
	if err != nil {
		return Header{}, 0, err
	}
	hash := sha256.New()
	n, err := io.Copy(hash, br)
	if err != nil {
		return Header{}, 0, err
	}
	if got := hex.EncodeToString(hash.Sum(nil)); got != h.SHA256 {
		return Header{}, 0, fmt.Errorf("%w: payload sha256 %s, header says %s", ErrIntegrity, got[:12], h.SHA256[:12])
	}
	return h, n, nil
}

// Parse parses a whole image in memory.
func Parse(data []byte) (Header, error) {
	h, _, err := Read(bytes.NewReader(data))
	return h, err
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}
