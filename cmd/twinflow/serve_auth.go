package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/twinflow/twinflow/apps/auth"
	"github.com/twinflow/twinflow/repository"
)

// securityOptions are serve's security flags (issue #13, docs/security.md).
type securityOptions struct {
	// TokenDir is where --demo writes one token file per demo user (default: a
	// per-server directory under the user's state directory, see demoTokenDir).
	TokenDir string
	// TLSCert/TLSKey serve HTTPS with this certificate.
	TLSCert, TLSKey string
	// TLSDir keeps the self-signed certificate serve generates without --tls-cert
	// (default: <state dir>/tls).
	TLSDir string
	// PlainHTTP serves plain HTTP outside demo mode (loopback listen addresses only:
	// for a TLS-terminating proxy on the same host, and tests).
	PlainHTTP bool
	// MetricsPublic serves /metrics to non-loopback clients.
	MetricsPublic bool
	// RateLimit is the requests per second per token (negative: unlimited).
	RateLimit float64
}

func securityFlags(f *pflag.FlagSet, o *securityOptions) {
	f.StringVar(&o.TokenDir, "token-dir", "", "with --demo: directory for the demo users' token files (default: per-server under "+filepath.Join("$XDG_STATE_HOME", "twinflow", "tokens")+")")
	f.StringVar(&o.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain)")
	f.StringVar(&o.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&o.TLSDir, "tls-dir", "", "without --tls-cert (and not --demo): keep the generated self-signed certificate here (default: <state dir>/tls)")
	f.BoolVar(&o.PlainHTTP, "plain-http", false, "serve plain HTTP without --demo (loopback --listen only: behind a TLS-terminating proxy on this host)")
	f.BoolVar(&o.MetricsPublic, "metrics-public", false, "serve /metrics to non-loopback clients too (default: loopback only)")
	f.Float64Var(&o.RateLimit, "rate-limit", 500, "requests per second each API token may make (bursts of twice that; negative: unlimited)")
}

// demoUsers are the users `serve --demo` creates (issue #13): the README tour's
// identities.
var demoUsers = []struct {
	name  string
	roles []auth.Role
}{
	{"admin", []auth.Role{auth.Admin}},
	{"alice", []auth.Role{auth.Engineer, auth.Operator}},
	{"carla", []auth.Role{auth.Approver}},
}

// serveSecurity is what startSecurity prepared: the authenticator, the TLS
// configuration (nil: plain HTTP) and the demo tokens still to be written.
type serveSecurity struct {
	opts        securityOptions
	auth        *auth.Authenticator
	tls         *tls.Config
	fingerprint string
	demoTokens  map[string]string
}

func (o securityOptions) check(so *serveOptions) error {
	if (o.TLSCert == "") != (o.TLSKey == "") {
		return usageErrorf("--tls-cert and --tls-key go together")
	}
	if o.PlainHTTP && o.TLSCert != "" {
		return usageErrorf("--plain-http conflicts with --tls-cert")
	}
	if o.PlainHTTP && !so.Demo && !loopbackListen(so.Listen) {
		return usageErrorf("--plain-http needs a loopback --listen address (got %q): serve HTTPS beyond this host", so.Listen)
	}
	if o.TokenDir != "" && !so.Demo {
		return usageErrorf("--token-dir applies to --demo only (create tokens with `twinflow token create`)")
	}
	return nil
}

// startSecurity builds the authenticator over the store, creates the demo users (with
// --demo) or checks that a user exists (without), and prepares TLS.
func startSecurity(ctx context.Context, env *serveEnv) (*serveSecurity, error) {
	so := env.Options
	o := so.Security
	if err := o.check(so); err != nil {
		return nil, err
	}
	s := &serveSecurity{opts: o, auth: auth.New(env.Store.Users(), env.Store.Tokens(), auth.Options{})}
	if so.Demo {
		s.demoTokens = map[string]string{}
		for _, du := range demoUsers {
			if _, err := s.auth.User(ctx, du.name); errors.Is(err, repository.ErrNotFound) {
				if _, err := s.auth.CreateUser(ctx, du.name, du.roles, ""); err != nil {
					return nil, fmt.Errorf("demo user %s: %w", du.name, err)
				}
			} else if err != nil {
				return nil, err
			}
			secret, _, err := s.auth.CreateToken(ctx, du.name, "demo", 0)
			if err != nil {
				return nil, fmt.Errorf("demo token of %s: %w", du.name, err)
			}
			s.demoTokens[du.name] = secret
		}
	} else {
		ok, err := s.auth.HasUsers(ctx)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("no user is configured, and serve does not start without one (outside --demo).\n"+
				"  Create an admin first, with the same --db, and keep the token it prints:\n"+
				"    twinflow user create admin --role admin --db %s", repository.RedactDSN(so.DB))
		}
	}
	switch {
	case o.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		s.fingerprint = certFingerprint(cert.Certificate[0])
	case (!so.Demo || !loopbackListen(so.Listen)) && !o.PlainHTTP:
		// the demo serves plain HTTP on loopback only
		dir := o.TLSDir
		if dir == "" {
			dir = filepath.Join(stateDir(), "tls")
		}
		cert, err := selfSignedCert(dir, so.Listen)
		if err != nil {
			return nil, fmt.Errorf("self-signed certificate: %w", err)
		}
		s.tls = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
		s.fingerprint = certFingerprint(cert.Certificate[0])
		env.Notes = append(env.Notes, fmt.Sprintf("TLS: self-signed certificate %s, SHA-256 fingerprint %s\n"+
			"  (the CLI trusts it on first use and pins it; or give it --ca %s)", filepath.Join(dir, "cert.pem"), s.fingerprint, filepath.Join(dir, "cert.pem")))
	}
	env.NBI.Auth = s.auth
	env.NBI.Audit = env.Store.Ledger()
	env.NBI.RateLimit = o.RateLimit
	env.NBI.MetricsPublic = o.MetricsPublic
	return s, nil
}

// loopbackListen reports whether a listen address is on loopback.
func loopbackListen(listen string) bool {
	host, _, _ := net.SplitHostPort(listen)
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// scheme is the API's URL scheme.
func (s *serveSecurity) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

// listening writes the demo's token files now that the address is known, and returns
// the banner notes.
func (s *serveSecurity) listening(addr string) ([]string, error) {
	if s.demoTokens == nil {
		return nil, nil
	}
	dir := s.opts.TokenDir
	if dir == "" {
		dir = demoTokenDir(addr)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("token dir: %w", err)
	}
	for name, secret := range s.demoTokens {
		if err := writeSecretFile(filepath.Join(dir, name), secret+"\n"); err != nil {
			return nil, fmt.Errorf("token file: %w", err)
		}
	}
	note := fmt.Sprintf("Demo users admin, alice (engineer, operator) and carla (approver): token files in %s\n"+
		"  (the CLI uses alice's by default; --as carla for another; for curl: TOKEN=$(cat %s))", dir, filepath.Join(dir, "alice"))
	if s.opts.TokenDir != "" {
		note += fmt.Sprintf("; point the CLI at them with --token-dir %s", dir)
	}
	return []string{note}, nil
}

// writeSecretFile writes data to path with mode 0600, replacing any file there.
func writeSecretFile(path, data string) error {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		_ = os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func certFingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// selfSignedCert loads dir/server.pem (certificate and key, mode 0600), generating it
// (ECDSA P-256, one year, for localhost, the loopback addresses, this host's name and
// the listen address) when absent or about to expire, so restarts keep the fingerprint
// clients pinned. dir/cert.pem gets the certificate alone (for clients' --ca).
func selfSignedCert(dir, listen string) (tls.Certificate, error) {
	pair, certPath := filepath.Join(dir, "server.pem"), filepath.Join(dir, "cert.pem")
	if c, err := tls.LoadX509KeyPair(pair, pair); err == nil {
		if leaf, err := x509.ParseCertificate(c.Certificate[0]); err == nil && time.Now().Add(24*time.Hour).Before(leaf.NotAfter) {
			return c, nil
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "twinflow " + host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}}
	if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	if h, _, err := net.SplitHostPort(listen); err == nil {
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if ip == nil && h != "" && !strings.EqualFold(h, "localhost") {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, err
	}
	// one file, renamed into place: concurrent first starts never pair one's key with
	// another's certificate
	if err := writeSecretFile(pair, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))+
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))); err != nil {
		return tls.Certificate{}, err
	}
	c, err := tls.LoadX509KeyPair(pair, pair)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := writeSecretFile(certPath, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}))); err != nil {
		return tls.Certificate{}, err
	}
	return c, nil
}
