package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/spf13/pflag"

	"github.com/twinflow/twinflow/apps/auth"
)

// clientSecurity are the CLI's identity and TLS flags.
type clientSecurity struct {
	// As selects a user whose token file is in the token directory (--as).
	As string
	// TokenFile holds the token to send (--token-file).
	TokenFile string
	// TokenDir is the directory of per-user token files (--token-dir,
	// TWINFLOW_TOKEN_DIR; default: the demo's per-server directory, for loopback
	// servers).
	TokenDir string
	// CA verifies the server's certificate with this PEM bundle (--ca, TWINFLOW_CA);
	// without it, a certificate no system root vouches for is trusted on first use and
	// pinned.
	CA string
	// Stderr receives trust-on-first-use notices.
	Stderr io.Writer
}

func clientSecurityFlags(f *pflag.FlagSet, o *clientSecurity) {
	f.StringVar(&o.As, "as", os.Getenv("TWINFLOW_AS"), "act as this user: their token file in the token directory (env TWINFLOW_AS)")
	f.StringVar(&o.TokenFile, "token-file", "", "file holding the API token to send (else env TWINFLOW_TOKEN)")
	f.StringVar(&o.TokenDir, "token-dir", os.Getenv("TWINFLOW_TOKEN_DIR"), "directory of per-user token files (env TWINFLOW_TOKEN_DIR; default: a loopback demo server's own)")
	f.StringVar(&o.CA, "ca", os.Getenv("TWINFLOW_CA"), "PEM CA bundle verifying the server's certificate (env TWINFLOW_CA; default: system roots, else trust on first use)")
}

const maxTokenFile = 4096

func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("%s: larger than %d bytes, not a token file", path, maxTokenFile)
	}
	t := strings.TrimSpace(string(b))
	if t == "" || strings.ContainsAny(t, " \t\r\n") {
		return "", fmt.Errorf("%s: not a token file (one token on one line)", path)
	}
	return t, nil
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// token returns the credential to send to the server at u: --token-file, then --as (a
// file of the token directory), then TWINFLOW_TOKEN, then the token directory's
// default user (alice, or its only file). "" sends none.
func (o *clientSecurity) token(u *url.URL) (string, error) {
	if o.TokenFile != "" {
		return readTokenFile(o.TokenFile)
	}
	dir := o.TokenDir
	if dir == "" && loopbackURL(u) {
		dir = auth.DemoTokenDir(hostPort(u))
	}
	if o.As != "" {
		name := strings.ToLower(o.As)
		if name == "" || strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return "", usageErrorf("--as must be a user name, got %q", o.As)
		}
		if dir == "" {
			return "", usageErrorf("--as %s: no token directory for %s (give --token-dir, or --token-file)", o.As, u.Host)
		}
		t, err := readTokenFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return "", usageErrorf("--as %s: no token file %s (is %s a demo server? else use --token-file)", o.As, filepath.Join(dir, name), u.Host)
		}
		return t, err
	}
	if t := strings.TrimSpace(os.Getenv("TWINFLOW_TOKEN")); t != "" {
		return t, nil
	}
	if dir == "" {
		return "", nil
	}
	if t, err := readTokenFile(filepath.Join(dir, "alice")); err == nil {
		return t, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", nil
	}
	var files []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.Contains(e.Name(), ".tmp") {
			files = append(files, e.Name())
		}
	}
	if len(files) == 1 {
		return readTokenFile(filepath.Join(dir, files[0]))
	}
	return "", nil
}

// tlsConfig verifies the server: with --ca, against it; else against the system roots,
// falling back to the fingerprint pinned for this server on first use.
func (o *clientSecurity) tlsConfig(u *url.URL) (*tls.Config, error) {
	if o.CA != "" {
		pem, err := os.ReadFile(o.CA)
		if err != nil {
			return nil, usageErrorf("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErrorf("--ca: no PEM certificates in %s", o.CA)
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
	}
	server := hostPort(u)
	return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true, // verified below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			opts := x509.VerifyOptions{DNSName: u.Hostname(), Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err == nil {
				return nil
			}
			return o.pin(server, cs.PeerCertificates[0].Raw)
		}}, nil
}

var pinMu sync.Mutex

// knownServers is the file of pinned server fingerprints ("host:port sha256hex").
func knownServers() string { return filepath.Join(auth.StateDir(), "known_servers") }

// pin accepts der if it is the certificate pinned for server, or pins it if none is.
func (o *clientSecurity) pin(server string, der []byte) error {
	pinMu.Lock()
	defer pinMu.Unlock()
	sum := sha256.Sum256(der)
	fp := hex.EncodeToString(sum[:])
	path := knownServers()
	if b, err := os.ReadFile(path); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && f[0] == server {
				if f[1] == fp {
					return nil
				}
				return fmt.Errorf("the certificate of %s CHANGED: pinned SHA-256 %s, now %s.\n"+
					"  If the server's certificate was replaced on purpose, delete its line from %s (or use --ca)", server, f[1], fp, path)
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "%s %s\n", server, fp); err != nil {
		return err
	}
	if o.Stderr != nil {
		fmt.Fprintf(o.Stderr, "twinflow: trusting %s on first use: certificate SHA-256 %s (pinned in %s; compare with the fingerprint serve printed)\n", server, fp, path)
	}
	return nil
}
