package interdomain

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/twinflow/twinflow/apps/broker"
)

// Bounds of the coordinator's configuration.
const (
	MaxConfigBytes = 64 << 10
	maxTokenBytes  = 4 << 10
)

// ErrConfig marks an invalid coordinator configuration.
var ErrConfig = errors.New("invalid inter-domain configuration")

// Config is the coordinator's configuration file (JSON):
//
//	{"domain": "AS1", "state-dir": "interdomain-state",
//	 "peers": [{"name": "AS2", "url": "https://10.0.0.2:8443",
//	            "token-file": "as2.token", "cert-sha256": "9f86d0…"}]}
//
// domain is this controller's own domain; each peer is another domain's controller
// (`twinflow serve`), reached with the bearer token in token-file — a user with the
// peer role on that controller — and, for https, its certificate pinned by SHA-256
// (as the broker's file, docs/alto.md). state-dir holds the coordinator's records (a
// relative path, like token-file, is relative to the file).
type Config struct {
	Domain   string          `json:"domain"`
	StateDir string          `json:"state-dir"`
	Peers    json.RawMessage `json:"peers"`
}

// Settings is a loaded configuration.
type Settings struct {
	Domain   string
	StateDir string
	Peers    []broker.Domain
}

// LoadConfig reads the configuration at path and the token files it names.
func LoadConfig(path string) (*Settings, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	s, peers, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rel := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	s.StateDir = rel(s.StateDir)
	for i, d := range peers.Domains {
		tok, err := readToken(rel(d.TokenFile))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: peers/%d/token-file: %v", ErrConfig, path, i, err)
		}
		s.Peers[i].Token = tok
	}
	return s, nil
}

// ParseConfig decodes and checks a configuration document (without reading token
// files). The peers are checked as the broker checks its domains.
func ParseConfig(b []byte) (*Settings, *broker.Config, error) {
	if len(b) > MaxConfigBytes {
		return nil, nil, fmt.Errorf("%w: larger than %d bytes", ErrConfig, MaxConfigBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("%w: data after the configuration object", ErrConfig)
	}
	if !broker.ValidDomainName(c.Domain) {
		return nil, nil, fmt.Errorf("%w: domain: 1 to 32 of letters, digits, '-' and '_', got %q", ErrConfig, c.Domain)
	}
	if c.StateDir == "" || len(c.StateDir) > 4096 {
		return nil, nil, fmt.Errorf("%w: state-dir: required (the directory of the coordinator's records)", ErrConfig)
	}
	if len(c.Peers) == 0 {
		return nil, nil, fmt.Errorf("%w: peers: required", ErrConfig)
	}
	doc := append(append([]byte(`{"domains":`), c.Peers...), '}')
	bc, _, err := broker.ParseConfig(doc)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), broker.ErrConfig.Error()+": ")
		return nil, nil, fmt.Errorf("%w: %s", ErrConfig, strings.ReplaceAll(msg, "domains/", "peers/"))
	}
	s := &Settings{Domain: c.Domain, StateDir: c.StateDir}
	for i, d := range bc.Domains {
		if d.Name == c.Domain {
			return nil, nil, fmt.Errorf("%w: peers/%d/name: %q is this controller's own domain", ErrConfig, i, d.Name)
		}
		s.Peers = append(s.Peers, broker.Domain{Name: d.Name, URL: strings.TrimSuffix(d.URL, "/"), CertSHA256: pinOf(d.CertSHA256)})
	}
	return s, bc, nil
}

func pinOf(s string) []byte {
	if s == "" {
		return nil
	}
	h, _ := hex.DecodeString(strings.ReplaceAll(s, ":", "")) // checked by broker.ParseConfig
	return h
}

func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenBytes+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxTokenBytes {
		return "", fmt.Errorf("larger than %d bytes", maxTokenBytes)
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
