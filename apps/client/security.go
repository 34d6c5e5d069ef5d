package client

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

	"github.com/twinflow/twinflow/apps/auth"
)

// MaxTokenFile bounds a token file.
const MaxTokenFile = 4096

// ReadTokenFile reads a token file: one token on one line, at most MaxTokenFile bytes.
func ReadTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTokenFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > MaxTokenFile {
		return "", fmt.Errorf("%s: larger than %d bytes, not a token file", path, MaxTokenFile)
	}
	t := strings.TrimSpace(string(b))
	if t == "" || strings.ContainsAny(t, " \t\r\n") {
		return "", fmt.Errorf("%s: not a token file (one token on one line)", path)
	}
	return t, nil
}

// HostPort is a server URL's host:port, with the scheme's default port if it names
// none.
func HostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// Loopback reports whether a server URL names a loopback host.
func Loopback(u *url.URL) bool {
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// DemoTokenDir is the token directory a demo server at u writes its users' tokens
// to (whether or not one runs there).
func DemoTokenDir(u *url.URL) string { return auth.DemoTokenDir(HostPort(u)) }

// token returns the credential to send to the server at u: TokenFile, then As (a file
// of the token directory), then Token, then the token directory's default user
// (alice, or its only file). "" sends none.
func (o *Options) token(u *url.URL) (string, error) {
	if o.TokenFile != "" {
		return ReadTokenFile(o.TokenFile)
	}
	dir := o.TokenDir
	if dir == "" && Loopback(u) {
		dir = DemoTokenDir(u)
	}
	if o.As != "" {
		name := strings.ToLower(o.As)
		if strings.ContainsAny(name, `/\`) || name == "." || name == ".." {
			return "", optionErrorf("--as must be a user name, got %q", o.As)
		}
		if dir == "" {
			return "", optionErrorf("--as %s: no token directory for %s (give --token-dir, or --token-file)", o.As, u.Host)
		}
		t, err := ReadTokenFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			return "", optionErrorf("--as %s: no token file %s (is %s a demo server? else use --token-file)", o.As, filepath.Join(dir, name), u.Host)
		}
		return t, err
	}
	if t := strings.TrimSpace(o.Token); t != "" {
		return t, nil
	}
	if dir == "" {
		return "", nil
	}
	if t, err := ReadTokenFile(filepath.Join(dir, "alice")); err == nil {
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
		return ReadTokenFile(filepath.Join(dir, files[0]))
	}
	return "", nil
}

// tlsConfig verifies the server: with CAFile, against it; else against the system
// roots, falling back to the fingerprint pinned for this server on first use.
func (o *Options) tlsConfig(u *url.URL) (*tls.Config, error) {
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, optionErrorf("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, optionErrorf("--ca: no PEM certificates in %s", o.CAFile)
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
	}
	server := HostPort(u)
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

// pinMu serialises this process's reads and appends of known-servers files.
var pinMu sync.Mutex

// ErrCertificateChanged is wrapped by the error of a connection to a server whose
// certificate differs from the one pinned for it.
var ErrCertificateChanged = errors.New("server certificate changed")

type changedError struct{ msg string }

func (e *changedError) Error() string { return e.msg }
func (e *changedError) Unwrap() error { return ErrCertificateChanged }

// pin accepts der if it is the certificate pinned for server, or pins it if none is.
func (o *Options) pin(server string, der []byte) error {
	pinMu.Lock()
	defer pinMu.Unlock()
	sum := sha256.Sum256(der)
	fp := hex.EncodeToString(sum[:])
	path := o.KnownServers
	if b, err := os.ReadFile(path); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && f[0] == server {
				if f[1] == fp {
					return nil
				}
				return &changedError{msg: fmt.Sprintf("the certificate of %s CHANGED: pinned SHA-256 %s, now %s.\n"+
					"  If the server's certificate was replaced on purpose, delete its line from %s (or use --ca)", server, f[1], fp, path)}
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
	if o.Notices != nil {
		fmt.Fprintf(o.Notices, "twinflow: trusting %s on first use: certificate SHA-256 %s (pinned in %s; compare with the fingerprint serve printed)\n", server, fp, path)
	}
	return nil
}
