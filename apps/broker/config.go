package broker

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Bounds of the broker configuration.
const (
	MaxConfigBytes = 64 << 10
	MaxDomains     = 64
	MaxTokenBytes  = 4 << 10
	maxURLLen      = 512
	minRefresh     = time.Second
	maxRefresh     = time.Hour
)

// ErrConfig marks an invalid broker configuration.
var ErrConfig = errors.New("invalid broker configuration")

// Config is the broker's configuration file (JSON):
//
//	{"domains": [{"name": "AS1", "url": "https://10.0.0.1:8443",
//	              "token-file": "as1.token", "cert-sha256": "9f86d0…"}],
//	 "refresh": "10s"}
//
// Each domain is a TwinFlow controller serving ALTO (`twinflow serve`). The broker
// reads its inter-domain abstraction with the bearer token in token-file (a user with
// the viewer role on that controller; a relative path is relative to the file) and,
// for https, checks that the controller's certificate has the SHA-256 fingerprint
// cert-sha256 (the fingerprint `twinflow serve` prints; without it the system roots
// verify the certificate).
type Config struct {
	Domains []DomainConfig `json:"domains"`
	// Refresh is how often the abstractions are read again (default 10s, 1s–1h).
	Refresh string `json:"refresh,omitempty"`
}

// DomainConfig is one domain of Config.
type DomainConfig struct {
	Name       string `json:"name"`
	URL        string `json:"url"`
	TokenFile  string `json:"token-file"`
	CertSHA256 string `json:"cert-sha256,omitempty"`

	token    string // read from TokenFile by LoadConfig
	certHash []byte
}

// Domain is a domain ready to be read: its name, base URL, token and pinned
// certificate hash (nil: verified by the system roots).
type Domain struct {
	Name       string
	URL        string
	Token      string
	CertSHA256 []byte
}

// LoadConfig reads and checks the configuration file at path and the token files it
// names.
func LoadConfig(path string) ([]Domain, time.Duration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	b, err := readBounded(f, MaxConfigBytes)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrConfig, path, err)
	}
	c, refresh, err := ParseConfig(b)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]Domain, len(c.Domains))
	for i, d := range c.Domains {
		tf := d.TokenFile
		if !filepath.IsAbs(tf) {
			tf = filepath.Join(filepath.Dir(path), tf)
		}
		tok, err := readToken(tf)
		if err != nil {
			return nil, 0, fmt.Errorf("%w: %s: domains/%d/token-file: %v", ErrConfig, path, i, err)
		}
		out[i] = Domain{Name: d.Name, URL: strings.TrimSuffix(d.URL, "/"), Token: tok, CertSHA256: d.certHash}
	}
	return out, refresh, nil
}

func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := readBounded(f, MaxTokenBytes)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", errors.New("the token file is empty")
	}
	for _, c := range tok {
		if c <= ' ' || c > '~' {
			return "", errors.New("the token holds a character outside U+0021–U+007E")
		}
	}
	return tok, nil
}

func readBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// ParseConfig decodes and checks a configuration document (without reading token
// files): every field bounded, names valid and unique, URLs absolute http(s) without
// credentials, fingerprints 64 hex digits and only for https. Errors name the field.
func ParseConfig(b []byte) (*Config, time.Duration, error) {
	if len(b) > MaxConfigBytes {
		return nil, 0, fmt.Errorf("%w: larger than %d bytes", ErrConfig, MaxConfigBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if dec.More() {
		return nil, 0, fmt.Errorf("%w: data after the configuration object", ErrConfig)
	}
	if len(c.Domains) == 0 || len(c.Domains) > MaxDomains {
		return nil, 0, fmt.Errorf("%w: domains: between 1 and %d domains, got %d", ErrConfig, MaxDomains, len(c.Domains))
	}
	refresh := 10 * time.Second
	if c.Refresh != "" {
		d, err := time.ParseDuration(c.Refresh)
		if err != nil || d < minRefresh || d > maxRefresh {
			return nil, 0, fmt.Errorf("%w: refresh: a duration from %v to %v, got %q", ErrConfig, minRefresh, maxRefresh, c.Refresh)
		}
		refresh = d
	}
	names, urls := map[string]bool{}, map[string]bool{}
	for i := range c.Domains {
		d := &c.Domains[i]
		at := fmt.Sprintf("domains/%d/", i)
		if !ValidDomainName(d.Name) {
			return nil, 0, fmt.Errorf("%w: %sname: 1 to 32 of letters, digits, '-' and '_', got %q", ErrConfig, at, d.Name)
		}
		if names[d.Name] {
			return nil, 0, fmt.Errorf("%w: %sname: %q appears twice", ErrConfig, at, d.Name)
		}
		names[d.Name] = true
		u, err := url.Parse(d.URL)
		switch {
		case len(d.URL) > maxURLLen:
			return nil, 0, fmt.Errorf("%w: %surl: longer than %d bytes", ErrConfig, at, maxURLLen)
		case err != nil:
			return nil, 0, fmt.Errorf("%w: %surl: %v", ErrConfig, at, err)
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			return nil, 0, fmt.Errorf("%w: %surl: an absolute http or https URL, got %q", ErrConfig, at, d.URL)
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return nil, 0, fmt.Errorf("%w: %surl: no credentials, query or fragment, got %q", ErrConfig, at, d.URL)
		}
		key := strings.TrimSuffix(d.URL, "/")
		if urls[key] {
			return nil, 0, fmt.Errorf("%w: %surl: %q appears twice", ErrConfig, at, d.URL)
		}
		urls[key] = true
		if d.TokenFile == "" || len(d.TokenFile) > 4096 {
			return nil, 0, fmt.Errorf("%w: %stoken-file: required (a file holding a viewer's token on that controller)", ErrConfig, at)
		}
		if d.CertSHA256 != "" {
			h, err := hex.DecodeString(strings.ReplaceAll(d.CertSHA256, ":", ""))
			if err != nil || len(h) != 32 {
				return nil, 0, fmt.Errorf("%w: %scert-sha256: 64 hex digits, got %q", ErrConfig, at, d.CertSHA256)
			}
			if u.Scheme != "https" {
				return nil, 0, fmt.Errorf("%w: %scert-sha256: only for an https url", ErrConfig, at)
			}
			d.certHash = h
		}
	}
	return &c, refresh, nil
}

// ValidDomainName reports whether s is a valid domain name for the broker: 1 to 32 of
// letters, digits, '-' and '_' (so "pid:<name>" is a valid ALTO PID name).
func ValidDomainName(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
